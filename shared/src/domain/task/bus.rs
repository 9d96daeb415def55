//! The rules of a task on a message bus (Kafka): it is published on its queue's topic while it
//! stays queued for the poll too, and whichever result comes first settles it. A worker on the
//! bus holds no lease: a publication without a result within the redelivery interval goes out
//! again. Nacks follow the step's retry policy; the step's timeout bounds the whole task.

use super::{message::TaskMessage, Task, TaskAttempt, TaskConflict, TaskStatus};
use crate::time::{self, Timestamp};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::time::Duration;
use uuid::Uuid;

/// A worker's result on the bus: the body of `complete` or `fail`, with `taskId` (and, if the
/// worker echoes it, the `attempt` it worked on, which keeps a repeated nack from counting
/// against a later delivery).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TaskResult {
    pub task_id: Uuid,
    pub worker_id: String,
    #[serde(default)]
    pub attempt: Option<u32>,
    #[serde(default)]
    pub output: Option<Map<String, Value>>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub retryable: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BusOutcome {
    Complete(Value),
    Fail { error: String, retryable: bool },
}

impl TaskResult {
    /// The ack or nack it carries; why it is neither otherwise.
    pub fn outcome(&self) -> Result<BusOutcome, String> {
        if self.worker_id.is_empty() || self.worker_id.len() > 128 {
            return Err("`workerId` must hold 1 to 128 characters".into());
        }
        match (&self.output, &self.error) {
            (Some(output), None) => Ok(BusOutcome::Complete(Value::Object(output.clone()))),
            (None, Some(error)) if error.len() <= 16 * 1024 => Ok(BusOutcome::Fail {
                error: error.clone(),
                retryable: self.retryable.unwrap_or(true),
            }),
            (None, Some(_)) => Err("`error` may hold at most 16 KiB".into()),
            _ => Err("a result holds either `output` (an object) or `error`".into()),
        }
    }
}

impl Task {
    /// Publishes the task if it is queued and due: the message to send. A publication that
    /// had no result goes out again as the same attempt: the bus cannot tell a worker that
    /// died from no worker at all, so it costs no attempt (the step's timeout bounds it).
    pub fn publish(&mut self, redelivery: Duration, now: Timestamp) -> Option<TaskMessage> {
        let due = self.publish_at.is_some_and(|at| at <= now);
        if self.status != TaskStatus::Queued || !due || self.available_at > now {
            return None;
        }
        let expires = time::add(now, redelivery).min(self.deadline);
        self.published_at = Some(now);
        self.publish_at = Some(expires);
        self.updated_at = now;
        Some(TaskMessage::of(self, self.attempt + 1, expires))
    }

    /// A result from the bus. An ack settles any task not ended (the first result wins, even
    /// over a worker of the poll that holds it); a nack counts only against the publication
    /// still awaiting a result.
    pub fn settle(
        &mut self,
        result: &TaskResult,
        outcome: BusOutcome,
        now: Timestamp,
    ) -> Result<(), TaskConflict> {
        if self.status.is_ended() {
            return Err(TaskConflict::Ended(self.status));
        }
        let worker = result.worker_id.as_str();
        match outcome {
            BusOutcome::Complete(output) => {
                if self.status == TaskStatus::Leased {
                    let why = format!("worker `{worker}` answered first on the bus");
                    self.end_attempt("superseded", Some(why), now);
                }
                self.record_bus_attempt(worker, "completed", None, now);
                self.status = TaskStatus::Completed;
                self.output = Some(output);
                self.error = None;
                Ok(())
            }
            BusOutcome::Fail { error, retryable } => {
                let current = self.status == TaskStatus::Queued
                    && self.published_at.is_some()
                    && result.attempt.is_none_or(|a| a == self.attempt + 1);
                if !current {
                    let holder = self.lease.as_ref().map(|l| l.worker_id.clone());
                    return Err(TaskConflict::NotHeld { holder });
                }
                self.record_bus_attempt(worker, "failed", Some(error.clone()), now);
                self.nacked(&error, retryable, now);
                Ok(())
            }
        }
    }

    /// The publication sent at `sent_at` did not reach the bus: it goes out again at
    /// `retry_at`, costing no attempt.
    pub fn unpublish(&mut self, sent_at: Option<Timestamp>, retry_at: Timestamp) {
        if self.status == TaskStatus::Queued && sent_at.is_some() && self.published_at == sent_at {
            self.published_at = None;
            self.publish_at = Some(retry_at);
        }
    }

    /// The attempt a bus worker made, ended now.
    fn record_bus_attempt(
        &mut self,
        worker: &str,
        outcome: &str,
        error: Option<String>,
        now: Timestamp,
    ) {
        self.attempt += 1;
        self.attempts.push(TaskAttempt {
            attempt: self.attempt,
            worker_id: worker.to_string(),
            leased_at: self.published_at.unwrap_or(now),
            ended_at: Some(now),
            outcome: Some(outcome.to_string()),
            error,
        });
        self.published_at = None;
        self.lease = None;
        self.updated_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::task;
    use super::*;
    use crate::time::from_millis;
    use serde_json::json;

    const REDELIVERY: Duration = Duration::from_secs(1);

    fn on_bus(max_attempts: u32) -> Task {
        let mut t = task(max_attempts);
        t.publish_at = Some(t.available_at);
        t
    }

    fn result(json: Value) -> (TaskResult, BusOutcome) {
        let r: TaskResult = serde_json::from_value(json).unwrap();
        let outcome = r.outcome().unwrap();
        (r, outcome)
    }

    #[test]
    fn the_first_result_wins_and_a_repeat_is_refused() {
        let mut t = on_bus(3);
        let message = t.publish(REDELIVERY, from_millis(0)).unwrap();
        assert_eq!(
            (message.attempt, message.lease_expires_at),
            (1, from_millis(1000))
        );
        assert_eq!(t.publish(REDELIVERY, from_millis(500)), None, "not due");
        let (r, ok) = result(json!({"taskId": t.task_id, "workerId": "k1", "output": {"a": 1}}));
        t.settle(&r, ok, from_millis(600)).unwrap();
        assert_eq!((t.status, t.attempt), (TaskStatus::Completed, 1));
        assert_eq!(t.attempts[0].worker_id, "k1");
        let (r, again) = result(json!({"taskId": t.task_id, "workerId": "k2", "output": {"a": 2}}));
        assert_eq!(
            t.settle(&r, again, from_millis(700)),
            Err(TaskConflict::Ended(TaskStatus::Completed))
        );
        assert_eq!(t.output, Some(json!({"a": 1})));
    }

    #[test]
    fn an_unanswered_publication_goes_out_again_as_the_same_attempt() {
        let mut t = on_bus(1);
        t.publish(REDELIVERY, from_millis(0)).unwrap();
        let again = t.publish(REDELIVERY, from_millis(1000)).unwrap();
        assert_eq!((again.attempt, t.attempt), (1, 0));
        assert!(
            t.attempts.is_empty(),
            "no attempt recorded without a result"
        );
    }

    #[test]
    fn an_ack_settles_a_task_a_worker_of_the_poll_holds() {
        let mut t = on_bus(3);
        t.publish(REDELIVERY, from_millis(0)).unwrap();
        assert!(t.lease_to("w1", REDELIVERY, from_millis(10)));
        let (r, ok) = result(json!({"taskId": t.task_id, "workerId": "k1", "output": {}}));
        t.settle(&r, ok, from_millis(20)).unwrap();
        assert_eq!(t.status, TaskStatus::Completed);
        assert_eq!(t.attempts[0].outcome.as_deref(), Some("superseded"));
        assert_eq!(
            (t.attempts[1].attempt, t.attempts[1].worker_id.as_str()),
            (2, "k1")
        );
        assert!(
            t.complete("w1", json!({}), from_millis(30)).is_err(),
            "the holder is refused"
        );
    }

    #[test]
    fn a_nack_waits_the_backoff_and_its_repeat_does_not_count_again() {
        let mut t = on_bus(3);
        t.publish(REDELIVERY, from_millis(0)).unwrap();
        let nack = json!({"taskId": t.task_id, "workerId": "k1", "attempt": 1, "error": "busy"});
        let (r, fail) = result(nack.clone());
        t.settle(&r, fail, from_millis(100)).unwrap();
        assert_eq!(
            (t.status, t.available_at),
            (TaskStatus::Queued, from_millis(1100))
        );
        assert_eq!(
            t.publish_at,
            Some(from_millis(1100)),
            "published again after the backoff"
        );
        let (r, fail) = result(nack.clone());
        assert!(
            t.settle(&r, fail, from_millis(200)).is_err(),
            "no publication awaits a result"
        );
        let second = t.publish(REDELIVERY, from_millis(1100)).unwrap();
        assert_eq!(second.attempt, 2);
        let (r, fail) = result(nack);
        assert!(
            t.settle(&r, fail, from_millis(1200)).is_err(),
            "a nack of attempt 1"
        );
        assert_eq!(t.attempt, 1);
    }

    #[test]
    fn a_result_is_an_ack_or_a_nack() {
        let bad = |v: Value| {
            serde_json::from_value::<TaskResult>(v)
                .unwrap()
                .outcome()
                .is_err()
        };
        let id = Uuid::new_v4();
        assert!(bad(json!({"taskId": id, "workerId": "k"})));
        assert!(bad(
            json!({"taskId": id, "workerId": "k", "output": {}, "error": "x"})
        ));
        assert!(bad(json!({"taskId": id, "workerId": "", "output": {}})));
        let not_an_object = json!({"taskId": id, "workerId": "k", "output": 3});
        assert!(serde_json::from_value::<TaskResult>(not_an_object).is_err());
    }
}
