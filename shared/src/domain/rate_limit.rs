//! Manual-trigger rate limits: at most `max` accepted triggers per `per`, per workflow. The
//! window opens at the first trigger it admits (not on a clock boundary), so "10 per minute"
//! never admits 20 across a boundary. The window is kept in the store beside the workflow and
//! changes in the same step that accepts the trigger, so several API processes share it.

use super::HumanDuration;
use crate::time::{self, Timestamp};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimit {
    pub max: u32,
    pub per: HumanDuration,
}

/// The triggers admitted in a workflow's current window.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RateWindow {
    pub start: Timestamp,
    pub count: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Counted in `window`, which the store saves with the accepted trigger.
    Admitted { window: RateWindow },
    /// Over the limit until `reset`; nothing changes.
    Refused {
        retry_after: Duration,
        reset: Timestamp,
    },
}

impl RateLimit {
    /// `"10/1m"`: `max` triggers per duration.
    pub fn parse(text: &str) -> Result<RateLimit, String> {
        let bad = || format!("`{text}` is not a rate such as 10/1m");
        let (max, per) = text.trim().split_once('/').ok_or_else(bad)?;
        let limit = RateLimit {
            max: max.trim().parse().map_err(|_| bad())?,
            per: HumanDuration::parse(per)?,
        };
        limit.validate().map(|()| limit)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.max == 0 {
            return Err("max must be at least 1".into());
        }
        if self.per.value() < Duration::from_secs(1)
            || self.per.value() > Duration::from_secs(366 * 86_400)
        {
            return Err(format!("per is `{}`; use 1s to a year", self.per.as_str()));
        }
        Ok(())
    }

    /// Whether one more trigger at `now` fits, given the workflow's current `window`.
    pub fn admit(&self, window: Option<RateWindow>, now: Timestamp) -> Admission {
        let current = window
            .filter(|w| now < time::add(w.start, self.per.value()))
            .unwrap_or(RateWindow {
                start: now,
                count: 0,
            });
        let reset = time::add(current.start, self.per.value());
        if current.count >= self.max {
            // Whole seconds, rounded up: Retry-After cannot say less.
            let wait = time::until(reset, now);
            let retry_after = Duration::from_secs(wait.as_millis().div_ceil(1000) as u64);
            return Admission::Refused { retry_after, reset };
        }
        Admission::Admitted {
            window: RateWindow {
                count: current.count + 1,
                ..current
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::from_millis;

    #[test]
    fn a_window_admits_max_then_refuses_until_it_resets() {
        let limit = RateLimit::parse("3/10s").unwrap();
        let mut window = None;
        for i in 0..3 {
            match limit.admit(window, from_millis(1_000 + i)) {
                Admission::Admitted { window: w } => window = Some(w),
                refused => panic!("trigger {i}: {refused:?}"),
            }
        }
        assert_eq!(window.unwrap().count, 3);
        assert_eq!(
            limit.admit(window, from_millis(4_500)),
            Admission::Refused {
                retry_after: Duration::from_secs(7),
                reset: from_millis(11_000)
            }
        );
        // The window opened at the first trigger: it resets 10 s later, not on a boundary.
        assert!(matches!(
            limit.admit(window, from_millis(11_000)),
            Admission::Admitted {
                window: RateWindow { count: 1, .. }
            }
        ));
    }

    #[test]
    fn bad_rates_are_named() {
        for bad in ["10", "x/1m", "0/1m", "10/0s", "10/soon"] {
            assert!(RateLimit::parse(bad).is_err(), "{bad}");
        }
    }
}
