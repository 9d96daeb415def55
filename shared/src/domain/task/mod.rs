//! Tasks: the work of a step that calls a worker service (`"queue"` instead of `"address"`),
//! handed to worker processes that poll for it. A task is leased to one worker at a time; a
//! lease that lapses sends it back to its queue as the next attempt; a retryable nack waits
//! the step's backoff first. The rules are here, once; stores persist a task at a revision.

mod bus;
mod message;

pub use bus::{BusOutcome, TaskResult};
pub use message::TaskMessage;

use super::backoff::{retry_delay, sample_noise};
use super::RetryPolicy;
use crate::time::{self, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    /// Waiting in its queue for a worker (from `availableAt`).
    Queued,
    /// A worker holds it until `lease.expiresAt`.
    Leased,
    Completed,
    Failed,
    /// Its execution ended without it.
    Cancelled,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Leased => "leased",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn is_ended(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskLease {
    pub worker_id: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

/// One delivery of a task to a worker, as the execution record shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskAttempt {
    pub attempt: u32,
    pub worker_id: String,
    #[schema(value_type = String, format = DateTime)]
    pub leased_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<Timestamp>,
    /// `completed`, `failed` (a nack) or `lapsed` (the lease ran out); absent while leased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub task_id: Uuid,
    pub execution_id: Uuid,
    pub workflow_id: String,
    /// The step's id, or its index when it has none.
    pub step_id: String,
    pub step: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    pub queue: String,
    pub input: Value,
    pub status: TaskStatus,
    /// The number of the current (or last) delivery; 0 before the first.
    pub attempt: u32,
    pub max_attempts: u32,
    /// The step's retry policy: the backoff after a retryable nack.
    pub retry: RetryPolicy,
    pub available_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<TaskLease>,
    /// The step's timeout bounds the whole task, whatever its deliveries.
    pub deadline: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<TaskAttempt>,
    /// With a message bus (Kafka): when the task is next published on its queue's topic
    /// while queued. Absent without a bus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_at: Option<Timestamp>,
    /// When the publication still awaiting a result went out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Why a worker's report about a task is refused (409): it changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskConflict {
    /// Another worker holds it, or nobody does (its lease lapsed).
    NotHeld { holder: Option<String> },
    /// It ended already (a result came first, or it was cancelled or timed out).
    Ended(TaskStatus),
}

impl std::fmt::Display for TaskConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotHeld { holder: Some(h) } => write!(f, "the task is leased to worker `{h}`"),
            Self::NotHeld { holder: None } => {
                write!(
                    f,
                    "the task is not leased to this worker (its lease lapsed)"
                )
            }
            Self::Ended(status) => write!(f, "the task is {} already", status.as_str()),
        }
    }
}

/// The deterministic id of the task of a step (and item) of an execution run on a version of
/// its workflow: a runner that asks again (after a crash, on the next attempt) finds the same
/// task; an edit of the steps (a restart) makes new ones.
pub fn task_id(execution_id: Uuid, version: u64, step: usize, item: Option<usize>) -> Uuid {
    const NAMESPACE: Uuid = Uuid::from_u128(0x7a3c_19e4_52d8_4b61_8f0a_c4d2_9e17_b305);
    let name = match item {
        Some(item) => format!("{execution_id}\n{version}\n{step}\n{item}"),
        None => format!("{execution_id}\n{version}\n{step}"),
    };
    Uuid::new_v5(&NAMESPACE, name.as_bytes())
}

impl Task {
    /// Hands the task to `worker` until `now + lease`, as its next attempt. False when it is
    /// not waiting in its queue now.
    pub fn lease_to(&mut self, worker: &str, lease: Duration, now: Timestamp) -> bool {
        if self.status != TaskStatus::Queued || self.available_at > now || now >= self.deadline {
            return false;
        }
        self.attempt += 1;
        self.status = TaskStatus::Leased;
        // A worker of the poll took it: a bus result may still come first, but no nack of
        // that publication counts any more.
        self.published_at = None;
        self.lease = Some(TaskLease {
            worker_id: worker.to_string(),
            expires_at: time::add(now, lease).min(self.deadline),
        });
        self.attempts.push(TaskAttempt {
            attempt: self.attempt,
            worker_id: worker.to_string(),
            leased_at: now,
            ended_at: None,
            outcome: None,
            error: None,
        });
        self.updated_at = now;
        true
    }

    fn held_by(&self, worker: &str, now: Timestamp) -> Result<(), TaskConflict> {
        if self.status.is_ended() {
            return Err(TaskConflict::Ended(self.status));
        }
        match &self.lease {
            Some(l) if self.status == TaskStatus::Leased && l.worker_id == worker => {
                match l.expires_at > now {
                    true => Ok(()),
                    false => Err(TaskConflict::NotHeld { holder: None }),
                }
            }
            Some(l) if self.status == TaskStatus::Leased => Err(TaskConflict::NotHeld {
                holder: Some(l.worker_id.clone()),
            }),
            _ => Err(TaskConflict::NotHeld { holder: None }),
        }
    }

    /// The holder extends its lease (never past the task's deadline).
    pub fn heartbeat(
        &mut self,
        worker: &str,
        lease: Duration,
        now: Timestamp,
    ) -> Result<(), TaskConflict> {
        self.held_by(worker, now)?;
        if let Some(l) = &mut self.lease {
            l.expires_at = time::add(now, lease).min(self.deadline);
        }
        self.updated_at = now;
        Ok(())
    }

    /// The holder's ack: the task is done with `output`.
    pub fn complete(
        &mut self,
        worker: &str,
        output: Value,
        now: Timestamp,
    ) -> Result<(), TaskConflict> {
        self.held_by(worker, now)?;
        self.end_attempt("completed", None, now);
        self.status = TaskStatus::Completed;
        self.output = Some(output);
        self.error = None;
        Ok(())
    }

    /// The holder's nack. A retryable one with attempts left goes back to the queue after the
    /// step's backoff; otherwise the task fails.
    pub fn fail(
        &mut self,
        worker: &str,
        error: &str,
        retryable: bool,
        now: Timestamp,
    ) -> Result<(), TaskConflict> {
        self.held_by(worker, now)?;
        self.end_attempt("failed", Some(error.to_string()), now);
        self.nacked(error, retryable, now);
        Ok(())
    }

    /// After a nack of the current attempt: back to the queue after the step's backoff, or
    /// failed.
    fn nacked(&mut self, error: &str, retryable: bool, now: Timestamp) {
        self.error = Some(error.to_string());
        match retryable && self.attempt < self.max_attempts {
            true => {
                let delay = retry_delay(&self.retry, self.attempt, sample_noise());
                self.requeue(time::add(now, delay));
            }
            false => {
                self.status = TaskStatus::Failed;
                let why = match retryable {
                    true => "retries exhausted",
                    false => "not retryable",
                };
                self.error = Some(format!("attempt {} failed ({why}): {error}", self.attempt));
            }
        }
    }

    /// Back in its queue from `at`; on a bus, published again then.
    fn requeue(&mut self, at: Timestamp) {
        self.status = TaskStatus::Queued;
        self.available_at = at;
        self.published_at = None;
        if self.publish_at.is_some() {
            self.publish_at = Some(at);
        }
    }

    /// Past its deadline, or leased past its lease: the task fails (deadline, or lapses with
    /// no attempt left) or goes back to its queue as the next attempt. False when neither.
    pub fn lapse(&mut self, now: Timestamp) -> bool {
        if self.status.is_ended() {
            return false;
        }
        if now >= self.deadline {
            if self.status == TaskStatus::Leased {
                self.end_attempt("lapsed", Some("the task's timeout ran out".into()), now);
            }
            self.status = TaskStatus::Failed;
            self.error = Some("no worker finished it within the step's timeout".to_string());
            return true;
        }
        let lapsed = self.status == TaskStatus::Leased
            && self.lease.as_ref().is_some_and(|l| l.expires_at <= now);
        if !lapsed {
            return false;
        }
        let worker = self.lease.as_ref().map(|l| l.worker_id.clone());
        let why = format!(
            "the lease of worker `{}` lapsed",
            worker.unwrap_or_default()
        );
        self.end_attempt("lapsed", Some(why.clone()), now);
        match self.attempt < self.max_attempts {
            true => self.requeue(now),
            false => {
                self.status = TaskStatus::Failed;
                self.error = Some(format!(
                    "attempt {} failed (retries exhausted): {why}",
                    self.attempt
                ));
            }
        }
        true
    }

    /// Its execution ended without it.
    pub fn cancel(&mut self, now: Timestamp) -> bool {
        if self.status.is_ended() {
            return false;
        }
        self.status = TaskStatus::Cancelled;
        self.lease = None;
        self.updated_at = now;
        true
    }

    fn end_attempt(&mut self, outcome: &str, error: Option<String>, now: Timestamp) {
        self.lease = None;
        self.updated_at = now;
        if let Some(last) = self.attempts.last_mut().filter(|a| a.ended_at.is_none()) {
            last.ended_at = Some(now);
            last.outcome = Some(outcome.to_string());
            last.error = error;
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::time::from_millis;
    use serde_json::json;

    pub(super) fn task(max_attempts: u32) -> Task {
        Task {
            task_id: Uuid::new_v4(),
            execution_id: Uuid::new_v4(),
            workflow_id: "w".into(),
            step_id: "thumb".into(),
            step: 0,
            item: None,
            queue: "thumbnails".into(),
            input: json!({}),
            status: TaskStatus::Queued,
            attempt: 0,
            max_attempts,
            retry: RetryPolicy {
                jitter: 0.0,
                ..RetryPolicy::default()
            },
            available_at: from_millis(0),
            lease: None,
            deadline: from_millis(100_000),
            output: None,
            error: None,
            attempts: Vec::new(),
            publish_at: None,
            published_at: None,
            created_at: from_millis(0),
            updated_at: from_millis(0),
        }
    }

    const LEASE: Duration = Duration::from_secs(1);

    #[test]
    fn only_the_holder_reports_and_the_first_result_wins() {
        let mut t = task(3);
        assert!(t.lease_to("w1", LEASE, from_millis(10)));
        assert!(!t.lease_to("w2", LEASE, from_millis(20)), "leased already");
        assert_eq!(
            t.complete("w2", json!({}), from_millis(30)),
            Err(TaskConflict::NotHeld {
                holder: Some("w1".into())
            })
        );
        t.complete("w1", json!({"ok": true}), from_millis(40))
            .unwrap();
        assert_eq!(
            t.complete("w1", json!({}), from_millis(50)),
            Err(TaskConflict::Ended(TaskStatus::Completed))
        );
        assert_eq!(t.output, Some(json!({"ok": true})));
        assert_eq!(t.attempts[0].outcome.as_deref(), Some("completed"));
    }

    #[test]
    fn a_lapsed_lease_is_the_next_attempt_and_the_late_holder_is_refused() {
        let mut t = task(2);
        assert!(t.lease_to("w1", LEASE, from_millis(0)));
        assert!(!t.lapse(from_millis(500)), "still leased");
        assert!(t.lapse(from_millis(1000)));
        assert_eq!((t.status, t.attempt), (TaskStatus::Queued, 1));
        assert!(t.lease_to("w2", LEASE, from_millis(1100)));
        assert_eq!(t.attempt, 2);
        assert!(t.complete("w1", json!({}), from_millis(1200)).is_err());
        assert!(t.lapse(from_millis(2100)));
        assert_eq!(t.status, TaskStatus::Failed, "no attempt left");
    }

    #[test]
    fn a_retryable_nack_waits_the_backoff_and_a_permanent_one_fails() {
        let mut t = task(3);
        t.lease_to("w1", LEASE, from_millis(0));
        t.fail("w1", "busy", true, from_millis(100)).unwrap();
        assert_eq!(t.status, TaskStatus::Queued);
        assert_eq!(t.available_at, from_millis(1100), "initialDelay 1s");
        assert!(
            !t.lease_to("w1", LEASE, from_millis(500)),
            "not before the backoff"
        );
        assert!(t.lease_to("w1", LEASE, from_millis(1100)));
        t.fail("w1", "bad input", false, from_millis(1200)).unwrap();
        assert_eq!(t.status, TaskStatus::Failed);
        assert!(t.error.as_deref().unwrap().contains("not retryable"));
    }

    #[test]
    fn the_deadline_bounds_the_whole_task() {
        let mut t = task(3);
        assert!(t.lapse(from_millis(100_000)));
        assert_eq!(t.status, TaskStatus::Failed);
    }
}
