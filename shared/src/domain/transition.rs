//! The execution state machine (DESIGN §2), written once. Every change a store persists to an
//! execution is a `Transition`: its precondition and its effect live here, so a store only
//! loads the execution, applies the transition, and writes the result if nobody changed the
//! execution meanwhile. The workflow's trigger state follows from the execution's status
//! ([`TriggerStatus::following`]); a store writes it whenever a transition changes it.

use super::{Execution, ExecutionStatus, Lease, TriggerStatus};
use crate::time::Timestamp;

#[derive(Debug, Clone)]
pub enum Transition {
    /// A runner takes a queued execution.
    Claim { lease: Lease, now: Timestamp },
    /// The holder extends its lease.
    Renew { lease: Lease },
    /// The holder records per-action progress; the stored lease stays, since renewals have
    /// moved it on since the holder's copy was taken.
    Progress { reported: Box<Execution> },
    /// The holder records the end of an attempt (`retrying`, or terminal).
    Finish {
        reported: Box<Execution>,
        owner: String,
    },
    /// The holder gives the execution back to the queue (shutdown before it finished).
    Release { owner: String, now: Timestamp },
    /// A retry whose time has come becomes the next attempt.
    StartRetry { now: Timestamp },
    /// A buffered execution is queued: its workflow's current execution has ended.
    Promote { now: Timestamp },
    /// A waiting execution is queued again: one of the tasks it waits for ended.
    Wake { now: Timestamp },
    /// A running execution whose lease expired: its runner died.
    Rescue { now: Timestamp },
    /// The outbox repair: a queued execution nobody took since `older_than` is republished,
    /// and marked so that it is republished once per threshold.
    Republish {
        older_than: Timestamp,
        now: Timestamp,
    },
    /// Its workflow was deleted while it waited or ran. A running one ends here too: its
    /// runner's next write (progress between actions, a lease renewal) fails, so no further
    /// action starts, and it never touches a workflow re-created under the same id.
    CancelForDeletedWorkflow { now: Timestamp },
}

impl Execution {
    /// Applies `transition` if its precondition holds; false, and unchanged, otherwise.
    pub fn apply(&mut self, transition: &Transition) -> bool {
        use ExecutionStatus::*;
        match transition {
            Transition::Claim { lease, now } => {
                if self.status != Queued {
                    return false;
                }
                self.status = Running;
                self.lease = Some(lease.clone());
                self.next_attempt_at = None;
                // A slot taken early starts at its time: its runner waits for it.
                let start = if self.is_early() {
                    (*now).max(self.scheduled_for)
                } else {
                    *now
                };
                self.started_at.get_or_insert(start);
                self.updated_at = *now;
            }
            Transition::Renew { lease } => {
                if !self.is_held_by(&lease.owner) {
                    return false;
                }
                self.lease = Some(lease.clone());
            }
            Transition::Progress { reported } => {
                let Some(owner) = reported.lease_owner() else {
                    return false;
                };
                if !self.is_held_by(owner) {
                    return false;
                }
                let lease = self.lease.take();
                *self = Execution {
                    lease,
                    ..(**reported).clone()
                };
            }
            Transition::Finish { reported, owner } => {
                if !self.is_held_by(owner) {
                    return false;
                }
                *self = Execution::finished_from(reported);
            }
            Transition::Release { owner, now } => {
                if !self.is_held_by(owner) {
                    return false;
                }
                self.requeue_interrupted("the runner shut down before the action finished", *now);
            }
            Transition::StartRetry { now } => {
                if self.status != Retrying || self.next_attempt_at.is_some_and(|at| at > *now) {
                    return false;
                }
                self.status = Queued;
                self.attempt += 1;
                self.woken = false;
                self.updated_at = *now;
            }
            Transition::Promote { now } => {
                if self.status != Buffered {
                    return false;
                }
                self.status = Queued;
                self.updated_at = *now;
            }
            Transition::Wake { now } => {
                if self.status != Waiting {
                    return false;
                }
                self.status = Queued;
                self.woken = true;
                self.updated_at = *now;
            }
            Transition::Rescue { now } => {
                let expired = self.lease.as_ref().is_some_and(|l| l.expires_at < *now);
                if self.status != Running || !expired {
                    return false;
                }
                self.rescue_from_lost_runner(*now);
            }
            Transition::Republish { older_than, now } => {
                if self.status != Queued || self.updated_at >= *older_than {
                    return false;
                }
                self.updated_at = *now;
            }
            Transition::CancelForDeletedWorkflow { now } => {
                if self.status.is_terminal() {
                    return false;
                }
                self.lease = None;
                self.cancel_for_deleted_workflow(*now);
            }
        }
        true
    }

    /// What a runner's report ending its attempt leaves stored: the report whole, whatever was
    /// stored before (the lease check aside), without the lease.
    pub fn finished_from(reported: &Execution) -> Execution {
        Execution {
            lease: None,
            ..reported.clone()
        }
    }

    /// Whether `owner` holds the lease of this running execution.
    pub fn is_held_by(&self, owner: &str) -> bool {
        self.status == ExecutionStatus::Running && self.lease_owner() == Some(owner)
    }

    /// The trigger state (and current execution) of the workflow while this is its current
    /// execution.
    pub fn trigger_state(&self) -> (TriggerStatus, Option<uuid::Uuid>) {
        match TriggerStatus::following(self.status) {
            TriggerStatus::Idle => (TriggerStatus::Idle, None),
            status => (status, Some(self.execution_id)),
        }
    }
}

impl TriggerStatus {
    /// A workflow is busy while its current execution waits or runs, pending while it waits
    /// for a retry, and idle once it ended.
    pub fn following(status: ExecutionStatus) -> TriggerStatus {
        match status {
            ExecutionStatus::Buffered
            | ExecutionStatus::Queued
            | ExecutionStatus::Running
            | ExecutionStatus::Waiting => TriggerStatus::Busy,
            ExecutionStatus::Retrying => TriggerStatus::Pending,
            ExecutionStatus::Succeeded | ExecutionStatus::Failed | ExecutionStatus::Cancelled => {
                TriggerStatus::Idle
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{decode_workflow_spec, Reason, Workflow};
    use crate::time::{add, from_millis};
    use std::time::Duration;

    fn queued() -> Execution {
        let spec = decode_workflow_spec(
            br#"{"workflowId":"w","trigger":{"type":"manual"},"actions":[{"type":"log","message":"m"}]}"#,
        )
        .unwrap();
        let w = Workflow::created(spec, from_millis(0));
        Execution::queued(
            uuid::Uuid::new_v4(),
            &w,
            Reason::Manual,
            from_millis(0),
            from_millis(0),
        )
    }

    fn lease(owner: &str, expires_ms: i64) -> Lease {
        Lease {
            owner: owner.into(),
            expires_at: from_millis(expires_ms),
        }
    }

    #[test]
    fn a_slot_taken_early_starts_at_its_time_and_nothing_else_waits() {
        let slot = from_millis(1_000);
        let claimed_at = from_millis(950);
        let claim = Transition::Claim {
            lease: lease("a", 5_000),
            now: claimed_at,
        };
        let mut early = queued();
        (early.reason, early.scheduled_for, early.created_at) =
            (Reason::Periodic, slot, claimed_at);
        assert!(early.is_early());
        assert!(early.apply(&claim));
        assert_eq!(early.started_at, Some(slot));
        // A manual trigger stamped by a clock ahead of this one starts when it is claimed.
        let mut manual = queued();
        manual.scheduled_for = slot;
        assert!(!manual.is_early());
        assert!(manual.apply(&claim));
        assert_eq!(manual.started_at, Some(claimed_at));
    }

    #[test]
    fn only_a_queued_execution_is_claimed_and_only_its_holder_writes() {
        let mut e = queued();
        let now = from_millis(10);
        assert!(e.apply(&Transition::Claim {
            lease: lease("a", 100),
            now
        }));
        assert_eq!(
            (e.status, e.started_at),
            (ExecutionStatus::Running, Some(now))
        );
        assert!(!e.apply(&Transition::Claim {
            lease: lease("b", 100),
            now
        }));
        assert!(!e.apply(&Transition::Renew {
            lease: lease("b", 200)
        }));
        assert!(e.apply(&Transition::Renew {
            lease: lease("a", 200)
        }));
        let mut reported = e.clone();
        reported.status = ExecutionStatus::Succeeded;
        assert!(!e.clone().apply(&Transition::Finish {
            reported: Box::new(reported.clone()),
            owner: "b".into()
        }));
        assert!(e.apply(&Transition::Finish {
            reported: Box::new(reported),
            owner: "a".into()
        }));
        assert_eq!(
            (e.status, e.lease.clone()),
            (ExecutionStatus::Succeeded, None)
        );
        assert_eq!(e.trigger_state(), (TriggerStatus::Idle, None));
    }

    #[test]
    fn progress_keeps_the_stored_lease() {
        let mut e = queued();
        e.apply(&Transition::Claim {
            lease: lease("a", 100),
            now: from_millis(1),
        });
        let mut reported = e.clone();
        e.apply(&Transition::Renew {
            lease: lease("a", 500),
        });
        reported.next_action_index = 1;
        assert!(e.apply(&Transition::Progress {
            reported: Box::new(reported)
        }));
        assert_eq!(
            (e.next_action_index, e.lease.unwrap().expires_at),
            (1, from_millis(500))
        );
    }

    #[test]
    fn a_retry_starts_only_when_due_and_a_rescue_only_when_the_lease_expired() {
        let mut e = queued();
        e.status = ExecutionStatus::Retrying;
        e.next_attempt_at = Some(from_millis(100));
        assert!(!e.apply(&Transition::StartRetry {
            now: from_millis(99)
        }));
        assert!(e.apply(&Transition::StartRetry {
            now: from_millis(100)
        }));
        assert_eq!((e.status, e.attempt), (ExecutionStatus::Queued, 2));
        e.apply(&Transition::Claim {
            lease: lease("a", 200),
            now: from_millis(100),
        });
        assert!(!e.apply(&Transition::Rescue {
            now: from_millis(200)
        }));
        assert!(e.apply(&Transition::Rescue {
            now: from_millis(201)
        }));
        assert_eq!((e.status, e.attempt), (ExecutionStatus::Queued, 3));
    }

    #[test]
    fn republish_touches_only_queued_executions_and_cancel_only_live_ones() {
        let mut e = queued();
        let later = add(from_millis(0), Duration::from_secs(60));
        assert!(!e.apply(&Transition::Republish {
            older_than: from_millis(0),
            now: later
        }));
        assert!(e.apply(&Transition::Republish {
            older_than: later,
            now: later
        }));
        assert!(e.apply(&Transition::CancelForDeletedWorkflow { now: later }));
        assert!(!e.apply(&Transition::CancelForDeletedWorkflow { now: later }));
        assert_eq!(e.trigger_state(), (TriggerStatus::Idle, None));
    }
}
