//! Anchored periodic slots: `nextRunAt = previous scheduledFor + interval`, never `now + interval`,
//! so that a late tick does not shift every later one (DESIGN §4).

use super::CatchUp;
use crate::time::{from_millis, to_millis, Timestamp};
use std::time::Duration;

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

/// What to do with a workflow whose slot `due` has come (`due <= now`).
pub fn plan(due: Timestamp, interval: Duration, catch_up: CatchUp, now: Timestamp) -> SlotPlan {
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

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(10);

    fn t(ms: i64) -> Timestamp {
        from_millis(ms)
    }

    #[test]
    fn on_time_slot_fires_and_next_is_anchored_not_now_based() {
        let p = plan(t(10_000), S, CatchUp::Last, t(10_037));
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
    fn after_downtime_last_fires_the_latest_slot_once() {
        let p = plan(t(10_000), S, CatchUp::Last, t(45_000));
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
        let p = plan(t(10_000), S, CatchUp::None, t(45_000));
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
        let p = plan(t(10_000), S, CatchUp::All, t(45_000));
        assert_eq!(
            p,
            SlotPlan {
                fire: Some(t(10_000)),
                next_run_at: t(20_000),
                missed: 0
            }
        );
        let far = plan(t(0), S, CatchUp::All, t(10_000 * 1_000));
        assert_eq!(far.missed, 901);
        assert_eq!(far.fire, Some(t(901 * 10_000)));
    }
}
