//! Anchored slots: `nextRunAt = previous scheduledFor + interval` (or the cron's next instant
//! after it), never counted from `now`, so that a late tick does not shift every later one
//! (DESIGN §4).

use super::schedule::{CronSchedule, Schedule};
use super::CatchUp;
use crate::time::{from_millis, to_millis, Timestamp};
use std::time::Duration;

/// How long before its time an idle workflow's slot is recorded and handed to a runner, which
/// starts it at its time: the store's write and the hand-over (through Kafka where it is the
/// transport) then happen before the slot instead of making it late. Longer than both take at
/// their p99 under load in most runs (about 30 ms embedded at 100,000 workflows, 40 ms through
/// Kafka; a 200 ms lead did not cover the rarer stalls), and short, since a pause, edit or
/// delete in the last `LEAD` before a slot no longer stops it (a delete still stops its later
/// steps).
pub const LEAD: Duration = Duration::from_millis(100);

/// `catchUp: all` fires at most this many missed slots; older ones are dropped.
pub const MAX_CATCH_UP_SLOTS: i64 = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotPlan {
    /// The slot to fire now (its `scheduledFor`), if any.
    pub fire: Option<Timestamp>,
    /// The workflow's next slot after this one.
    pub next_run_at: Timestamp,
    /// Slots passed over without firing.
    pub missed: u64,
}

/// Missed cron slots are counted one by one up to this many (an every-second cron down for a
/// day would otherwise cost 86,400 steps); beyond it the count says "at least".
const MAX_COUNTED_CRON_SLOTS: usize = 10_000;

/// What to do with a workflow whose slot `due` has come (`due <= now`).
pub fn plan(due: Timestamp, schedule: &Schedule, catch_up: CatchUp, now: Timestamp) -> SlotPlan {
    match schedule {
        Schedule::Every(interval) => plan_interval(due, *interval, catch_up, now),
        Schedule::Cron(cron) => plan_cron(due, cron, catch_up, now),
    }
}

fn plan_interval(
    due: Timestamp,
    interval: Duration,
    catch_up: CatchUp,
    now: Timestamp,
) -> SlotPlan {
    let step = i64::try_from(interval.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    let due_ms = to_millis(due);
    let behind = ((to_millis(now) - due_ms) / step).max(0);
    let latest = due_ms + behind * step;
    match catch_up {
        CatchUp::Last => SlotPlan {
            fire: Some(from_millis(latest)),
            next_run_at: from_millis(latest + step),
            missed: behind as u64,
        },
        CatchUp::None if behind == 0 => SlotPlan {
            fire: Some(due),
            next_run_at: from_millis(due_ms + step),
            missed: 0,
        },
        CatchUp::None => SlotPlan {
            fire: None,
            next_run_at: from_millis(latest + step),
            missed: behind as u64 + 1,
        },
        CatchUp::All => {
            let dropped = (behind - (MAX_CATCH_UP_SLOTS - 1)).max(0);
            let first = due_ms + dropped * step;
            SlotPlan {
                fire: Some(from_millis(first)),
                next_run_at: from_millis(first + step),
                missed: dropped as u64,
            }
        }
    }
}

fn plan_cron(due: Timestamp, cron: &CronSchedule, catch_up: CatchUp, now: Timestamp) -> SlotPlan {
    // A cron always names a next instant (validation saw one); a year on is the bound if not.
    let after = |t: Timestamp| {
        cron.next_after(t)
            .unwrap_or_else(|| crate::time::add(now, Duration::from_secs(366 * 24 * 3600)))
    };
    let behind = cron.between(due, now, MAX_COUNTED_CRON_SLOTS);
    let Some(&latest_counted) = behind.last() else {
        return SlotPlan {
            fire: Some(due),
            next_run_at: after(due),
            missed: 0,
        };
    };
    let latest = if behind.len() == MAX_COUNTED_CRON_SLOTS {
        cron.latest_at_or_before(now).unwrap_or(latest_counted)
    } else {
        latest_counted
    };
    let missed = behind.len() as u64;
    match catch_up {
        CatchUp::Last => SlotPlan {
            fire: Some(latest),
            next_run_at: after(latest),
            missed,
        },
        CatchUp::None => SlotPlan {
            fire: None,
            next_run_at: after(latest),
            missed: missed + 1,
        },
        CatchUp::All => {
            // The due slot and the ones behind it, the newest MAX_CATCH_UP_SLOTS of them.
            let dropped = (missed + 1).saturating_sub(MAX_CATCH_UP_SLOTS as u64);
            let first = match dropped {
                0 => due,
                n => behind[(n - 1) as usize],
            };
            SlotPlan {
                fire: Some(first),
                next_run_at: after(first),
                missed: dropped,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Schedule = Schedule::Every(Duration::from_secs(10));

    fn t(ms: i64) -> Timestamp {
        from_millis(ms)
    }

    #[test]
    fn on_time_slot_fires_and_next_is_anchored_not_now_based() {
        let p = plan(t(10_000), &S, CatchUp::Last, t(10_037));
        assert_eq!(
            p,
            SlotPlan {
                fire: Some(t(10_000)),
                next_run_at: t(20_000),
                missed: 0
            }
        );
    }

    #[test]
    fn a_slot_taken_early_fires_itself_under_every_policy() {
        let cases = [
            (S, t(10_000), t(20_000)),
            (every_minute(), t(60_000), t(120_000)),
        ];
        for (schedule, due, next) in cases {
            let early = crate::time::sub(due, LEAD);
            for catch_up in [CatchUp::Last, CatchUp::None, CatchUp::All] {
                assert_eq!(
                    plan(due, &schedule, catch_up, early),
                    SlotPlan {
                        fire: Some(due),
                        next_run_at: next,
                        missed: 0
                    },
                    "{catch_up:?}"
                );
            }
        }
    }

    #[test]
    fn after_downtime_last_fires_the_latest_slot_once() {
        let p = plan(t(10_000), &S, CatchUp::Last, t(45_000));
        assert_eq!(
            p,
            SlotPlan {
                fire: Some(t(40_000)),
                next_run_at: t(50_000),
                missed: 3
            }
        );
    }

    #[test]
    fn after_downtime_none_fires_nothing() {
        let p = plan(t(10_000), &S, CatchUp::None, t(45_000));
        assert_eq!(
            p,
            SlotPlan {
                fire: None,
                next_run_at: t(50_000),
                missed: 4
            }
        );
    }

    #[test]
    fn after_downtime_all_fires_each_slot_in_turn_bounded() {
        let p = plan(t(10_000), &S, CatchUp::All, t(45_000));
        assert_eq!(
            p,
            SlotPlan {
                fire: Some(t(10_000)),
                next_run_at: t(20_000),
                missed: 0
            }
        );
        let far = plan(t(0), &S, CatchUp::All, t(10_000 * 1_000));
        assert_eq!(far.missed, 901);
        assert_eq!(far.fire, Some(t(901 * 10_000)));
    }

    fn every_minute() -> Schedule {
        Schedule::cron("0 * * * * *", "UTC").expect("valid cron")
    }

    #[test]
    fn cron_on_time_slot_fires_and_next_is_the_following_instant() {
        let p = plan(t(60_000), &every_minute(), CatchUp::Last, t(60_012));
        assert_eq!(
            p,
            SlotPlan {
                fire: Some(t(60_000)),
                next_run_at: t(120_000),
                missed: 0
            }
        );
    }

    #[test]
    fn cron_after_downtime_applies_each_catch_up_policy() {
        let now = t(5 * 60_000 + 30_000);
        let last = plan(t(60_000), &every_minute(), CatchUp::Last, now);
        assert_eq!(
            (last.fire, last.next_run_at, last.missed),
            (Some(t(300_000)), t(360_000), 4)
        );
        let none = plan(t(60_000), &every_minute(), CatchUp::None, now);
        assert_eq!(
            (none.fire, none.next_run_at, none.missed),
            (None, t(360_000), 5)
        );
        let all = plan(t(60_000), &every_minute(), CatchUp::All, now);
        assert_eq!(
            (all.fire, all.next_run_at, all.missed),
            (Some(t(60_000)), t(120_000), 0)
        );
        let far = plan(t(0), &every_minute(), CatchUp::All, t(1_000 * 60_000));
        assert_eq!(far.missed, 901);
        assert_eq!(far.fire, Some(t(901 * 60_000)));
    }
}
