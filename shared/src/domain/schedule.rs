//! When a scheduled trigger's slots fall: every fixed interval, or at the instants a cron
//! expression names in a time zone.
//!
//! Daylight saving: an expression names wall-clock times, and each fires at most once. In the
//! hour the clocks go back, a time fires at its first occurrence and not again when the hour
//! repeats; a fixed time in the hour the clocks skip fires at the first instant after the gap
//! (it is not lost), and a stepped one resumes at its first time after the gap.

use crate::time::{from_millis, to_millis, Timestamp};
use chrono::TimeZone;
use chrono_tz::Tz;
use std::time::Duration;

#[derive(Debug, Clone)]
pub enum Schedule {
    Every(Duration),
    Cron(Box<CronSchedule>),
}

#[derive(Debug, Clone)]
pub struct CronSchedule {
    cron: croner::Cron,
    zone: Tz,
}

impl Schedule {
    /// Parses a cron expression (five fields, or six with seconds first) in an IANA time zone.
    /// The error says which of the two is wrong, and why.
    pub fn cron(expression: &str, timezone: &str) -> Result<Schedule, CronProblem> {
        let zone: Tz = timezone.parse().map_err(|_| {
            CronProblem::Timezone(format!(
                "`{timezone}` is not an IANA time zone, e.g. \"Europe/Berlin\" or \"UTC\""
            ))
        })?;
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .year(croner::parser::Year::Disallowed)
            .build()
            .parse(expression)
            .map_err(|err| {
                CronProblem::Expression(format!("`{expression}` is not a cron expression: {err}"))
            })?;
        Ok(Schedule::Cron(Box::new(CronSchedule { cron, zone })))
    }

    /// The first slot of a schedule that starts at `now`: one interval later, or the cron's
    /// first instant after `now`. `None` when a cron names no instant to come.
    pub fn first_after(&self, now: Timestamp) -> Option<Timestamp> {
        match self {
            Schedule::Every(interval) => Some(crate::time::add(now, *interval)),
            Schedule::Cron(cron) => cron.next_after(now),
        }
    }
}

impl CronSchedule {
    /// `t` in the expression's zone, cut to the whole second: croner keeps a start's fraction
    /// of a second in what it finds, and cron instants are whole seconds.
    fn local(&self, t: Timestamp) -> chrono::DateTime<Tz> {
        let whole = from_millis(to_millis(t).div_euclid(1000) * 1000);
        self.zone.from_utc_datetime(&whole.naive_utc())
    }

    /// The first instant strictly after `t`.
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        let local = self.local(t);
        let next = self.cron.find_next_occurrence(&local, false).ok()?;
        Some(from_millis(next.timestamp_millis()))
    }

    /// The latest instant at or before `t`.
    pub fn latest_at_or_before(&self, t: Timestamp) -> Option<Timestamp> {
        let local = self.local(t);
        let previous = self.cron.find_previous_occurrence(&local, true).ok()?;
        Some(from_millis(previous.timestamp_millis()))
    }

    /// The instants in `(after, up_to]`, oldest first, at most `cap` of them.
    pub fn between(&self, after: Timestamp, up_to: Timestamp, cap: usize) -> Vec<Timestamp> {
        let mut found = Vec::new();
        let mut at = after;
        while found.len() < cap {
            match self.next_after(at) {
                Some(next) if to_millis(next) <= to_millis(up_to) => {
                    found.push(next);
                    at = next;
                }
                _ => break,
            }
        }
        found
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CronProblem {
    Expression(String),
    Timezone(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, Utc};

    fn cron(expression: &str, zone: &str) -> CronSchedule {
        match Schedule::cron(expression, zone).expect("valid cron") {
            Schedule::Cron(c) => *c,
            Schedule::Every(_) => unreachable!(),
        }
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Timestamp {
        let naive = NaiveDate::from_ymd_opt(y, mo, d)
            .and_then(|d| d.and_hms_opt(h, mi, 0))
            .expect("valid date");
        Utc.from_utc_datetime(&naive)
    }

    /// The slots in `(from, to]`, as UTC instants.
    fn slots(c: &CronSchedule, from: Timestamp, to: Timestamp) -> Vec<Timestamp> {
        c.between(from, to, 1_000)
    }

    #[test]
    fn seconds_field_is_optional() {
        let every_second = cron("*/1 * * * * *", "UTC");
        let t = utc(2026, 1, 1, 0, 0);
        let one = Duration::from_secs(1);
        assert_eq!(every_second.next_after(t), Some(crate::time::add(t, one)));
        let mid_second = crate::time::add(t, Duration::from_millis(968));
        assert_eq!(
            every_second.next_after(mid_second),
            Some(crate::time::add(t, one))
        );
        let every_five_minutes = cron("*/5 * * * *", "UTC");
        assert_eq!(
            every_five_minutes.next_after(t),
            Some(utc(2026, 1, 1, 0, 5))
        );
    }

    #[test]
    fn bad_expression_and_bad_zone_are_told_apart() {
        assert!(matches!(
            Schedule::cron("61 * * * *", "UTC"),
            Err(CronProblem::Expression(_))
        ));
        assert!(matches!(
            Schedule::cron("* * * * *", "Mars/Olympus"),
            Err(CronProblem::Timezone(_))
        ));
    }

    #[test]
    fn berlin_fixed_time_in_the_skipped_hour_fires_right_after_the_gap() {
        // 2025-03-30: 02:00 CET becomes 03:00 CEST (01:00 UTC); 02:30 does not exist.
        let c = cron("30 2 * * *", "Europe/Berlin");
        let fired = slots(&c, utc(2025, 3, 29, 12, 0), utc(2025, 3, 31, 12, 0));
        assert_eq!(
            fired,
            vec![utc(2025, 3, 30, 1, 0), utc(2025, 3, 31, 0, 30)],
            "the 30th's slot is not lost: it fires at 03:00 CEST"
        );
    }

    #[test]
    fn berlin_fixed_time_in_the_repeated_hour_fires_once() {
        // 2025-10-26: 03:00 CEST becomes 02:00 CET (01:00 UTC); 02:30 happens twice.
        let c = cron("30 2 * * *", "Europe/Berlin");
        let fired = slots(&c, utc(2025, 10, 25, 12, 0), utc(2025, 10, 27, 12, 0));
        assert_eq!(
            fired,
            vec![utc(2025, 10, 26, 0, 30), utc(2025, 10, 27, 1, 30)],
            "02:30 CEST only, not again at 02:30 CET"
        );
    }

    #[test]
    fn berlin_stepped_minutes_fire_each_wall_time_once_through_the_repeated_hour() {
        let c = cron("*/30 * * * *", "Europe/Berlin");
        // From 00:00 CEST (22:00 UTC the day before) to 04:00 CET (03:00 UTC).
        let fired = slots(&c, utc(2025, 10, 25, 22, 0), utc(2025, 10, 26, 3, 0));
        let wall: Vec<String> = fired
            .iter()
            .map(|t| {
                t.with_timezone(&chrono_tz::Europe::Berlin)
                    .format("%H:%M")
                    .to_string()
            })
            .collect();
        assert_eq!(
            wall,
            ["00:30", "01:00", "01:30", "02:00", "02:30", "03:00", "03:30", "04:00"],
            "{fired:?}"
        );
    }

    #[test]
    fn new_york_spring_forward_and_fall_back() {
        // 2025-03-09: 02:00 EST becomes 03:00 EDT (07:00 UTC).
        let at_two_thirty = cron("30 2 * * *", "America/New_York");
        assert_eq!(
            slots(
                &at_two_thirty,
                utc(2025, 3, 8, 12, 0),
                utc(2025, 3, 10, 12, 0)
            ),
            vec![utc(2025, 3, 9, 7, 0), utc(2025, 3, 10, 6, 30)]
        );
        // 2025-11-02: 02:00 EDT becomes 01:00 EST (06:00 UTC); 01:30 happens twice.
        let at_one_thirty = cron("30 1 * * *", "America/New_York");
        assert_eq!(
            slots(
                &at_one_thirty,
                utc(2025, 11, 1, 12, 0),
                utc(2025, 11, 3, 12, 0)
            ),
            vec![utc(2025, 11, 2, 5, 30), utc(2025, 11, 3, 6, 30)]
        );
    }

    #[test]
    fn latest_at_or_before_includes_the_instant_itself() {
        let c = cron("0 * * * *", "UTC");
        assert_eq!(
            c.latest_at_or_before(utc(2026, 1, 1, 5, 0)),
            Some(utc(2026, 1, 1, 5, 0))
        );
        assert_eq!(
            c.latest_at_or_before(utc(2026, 1, 1, 5, 59)),
            Some(utc(2026, 1, 1, 5, 0))
        );
    }
}
