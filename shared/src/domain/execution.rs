//! Executions: one run of a workflow, across its attempts.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    Periodic,
    Manual,
    Retry,
}

impl Reason {
    /// As the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Periodic => "periodic",
            Self::Manual => "manual",
            Self::Retry => "retry",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionStatus {
    /// Came while the workflow was busy (`overlap: bufferOne`); queued when the current
    /// execution ends.
    Buffered,
    Queued,
    Running,
    /// Failed an attempt; `nextAttemptAt` says when the scheduler re-queues it.
    Retrying,
    /// Its running steps wait for workers (tasks in a queue): it holds no runner and no lease,
    /// and is queued again when a task ends.
    Waiting,
    Succeeded,
    Failed,
    Cancelled,
}

impl ExecutionStatus {
    pub const ALL: [ExecutionStatus; 8] = [
        Self::Buffered,
        Self::Queued,
        Self::Running,
        Self::Retrying,
        Self::Waiting,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buffered => "buffered",
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Retrying => "retrying",
            Self::Waiting => "waiting",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ActionStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    /// Its `when` was false, its switch chose another case, or every step it depends on was
    /// skipped.
    Skipped,
}

impl ActionStatus {
    /// As the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

/// The outcome of one action of an execution, as of its latest attempt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionResult {
    /// The step's id, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: ActionStatus,
    /// How many times this action was started.
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The output was over the recorded-output limit and is not kept: a step reading it fails.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub output_truncated: bool,
    /// It failed for good and `continueOnError` let its dependants run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub continued: bool,
    /// A fan-out's items, in item order; their outputs move to the step's `output` once all
    /// succeeded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<ItemResult>,
    /// A worker step's task, and its deliveries: who had it, and how each ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workers: Vec<super::task::TaskAttempt>,
    /// The attempts before the latest that failed, oldest first (the last ten), so the
    /// timeline shows every try and not only the last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_attempts: Vec<EarlierAttempt>,
}

/// A failed attempt of a step that was tried again.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EarlierAttempt {
    /// Which start of the step it was (1 for the first).
    pub attempt: u32,
    #[schema(value_type = String, format = DateTime)]
    pub started_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub finished_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Earlier attempts kept per step: enough to draw, bounded for a step retried for days.
const EARLIER_ATTEMPTS_KEPT: usize = 10;

impl ActionResult {
    /// Running from `now`; an end left by an earlier attempt would read as this one's.
    pub fn start(&mut self, now: Timestamp) {
        self.status = ActionStatus::Running;
        self.started_at = Some(now);
        self.finished_at = None;
        self.duration_ms = None;
    }

    pub fn pending(action: &super::Action) -> Self {
        Self {
            id: action.id().map(str::to_string),
            kind: action.kind().to_string(),
            status: ActionStatus::Pending,
            attempts: 0,
            started_at: None,
            finished_at: None,
            duration_ms: None,
            output: None,
            error: None,
            output_truncated: false,
            continued: false,
            items: Vec::new(),
            task_id: None,
            workers: Vec::new(),
            earlier_attempts: Vec::new(),
        }
    }

    /// Before the step is tried again: its failed attempt joins the earlier ones, and its
    /// times are cleared for the next (so it is kept once, however often this is called).
    pub fn keep_failed_attempt(&mut self) {
        let (ActionStatus::Failed, Some(started_at), Some(finished_at)) =
            (self.status, self.started_at, self.finished_at)
        else {
            return;
        };
        if self.earlier_attempts.len() == EARLIER_ATTEMPTS_KEPT {
            self.earlier_attempts.remove(0);
        }
        self.earlier_attempts.push(EarlierAttempt {
            attempt: self.attempts,
            started_at,
            finished_at: finished_at.max(started_at),
            error: self.error.clone(),
        });
        self.started_at = None;
        self.finished_at = None;
        self.duration_ms = None;
    }

    /// Whether its dependants may go on: it succeeded, was skipped, or failed and continues.
    pub fn is_settled(&self) -> bool {
        match self.status {
            ActionStatus::Succeeded | ActionStatus::Skipped => true,
            ActionStatus::Failed => self.continued,
            ActionStatus::Pending | ActionStatus::Running => false,
        }
    }

    /// Marks a step that was running when its runner stopped as started and interrupted, at
    /// `now`. A step not seen running (its runner stopped before saving any progress) may
    /// still hold the failed attempt before: that one is kept first.
    fn interrupt(&mut self, why: &str, now: Timestamp) {
        if self.status != ActionStatus::Running {
            self.keep_failed_attempt();
        }
        let started = *self.started_at.get_or_insert(now);
        self.attempts += 1;
        self.status = ActionStatus::Failed;
        self.error = Some(format!("interrupted: {why}"));
        self.finished_at = Some(now);
        self.duration_ms = u64::try_from((now - started).num_milliseconds()).ok();
        for item in self
            .items
            .iter_mut()
            .filter(|i| i.status == ActionStatus::Running)
        {
            item.attempts += 1;
            item.status = ActionStatus::Failed;
            item.error = Some(format!("interrupted: {why}"));
            item.finished_at = Some(now);
        }
    }
}

/// One item of a fan-out.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemResult {
    pub status: ActionStatus,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Until the whole step succeeds; then in the step's `output`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A worker item's task, and its deliveries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workers: Vec<super::task::TaskAttempt>,
}

impl ItemResult {
    /// Running from `now`; an end left by an earlier attempt would read as this one's.
    pub fn start(&mut self, now: Timestamp) {
        self.status = ActionStatus::Running;
        self.started_at = Some(now);
        self.finished_at = None;
        self.duration_ms = None;
    }

    pub fn pending() -> Self {
        Self {
            status: ActionStatus::Pending,
            attempts: 0,
            started_at: None,
            finished_at: None,
            duration_ms: None,
            output: None,
            error: None,
            task_id: None,
            workers: Vec::new(),
        }
    }
}

/// Who holds an execution (and so its workflow) and until when.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    pub owner: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    pub execution_id: Uuid,
    pub workflow_id: String,
    /// The workflow version the latest attempt ran (the version at trigger time until then).
    pub workflow_version: u64,
    pub reason: Reason,
    /// The trigger's input, checked and completed with the declared defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<serde_json::Value>,
    #[schema(value_type = String, format = DateTime)]
    pub scheduled_for: Timestamp,
    pub status: ExecutionStatus,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub max_attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<Timestamp>,
    /// The first action not yet done: every one before it succeeded or was skipped.
    pub next_action_index: usize,
    pub actions: Vec<ActionResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Queued again by a task's end, within the same attempt: what failed in it stays failed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub woken: bool,
    /// A succeeded execution's result: the workflow's `outputs`, rendered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<serde_json::Value>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<Timestamp>,
}

impl Execution {
    /// A new `queued` execution for a workflow, recorded before it is published (the outbox).
    pub fn queued(
        execution_id: Uuid,
        workflow: &super::Workflow,
        reason: Reason,
        scheduled_for: Timestamp,
        now: Timestamp,
    ) -> Self {
        Self {
            execution_id,
            workflow_id: workflow.id().to_string(),
            workflow_version: workflow.version,
            reason,
            input: None,
            scheduled_for,
            status: ExecutionStatus::Queued,
            attempt: 1,
            max_attempts: workflow.spec.max_attempts(),
            next_attempt_at: None,
            next_action_index: 0,
            actions: workflow
                .spec
                .actions
                .iter()
                .map(ActionResult::pending)
                .collect(),
            lease: None,
            error: None,
            woken: false,
            output: None,
            created_at: now,
            updated_at: now,
            started_at: None,
            finished_at: None,
        }
    }

    /// A periodic slot recorded before its time (`slots::LEAD`): its runner waits for it.
    pub fn is_early(&self) -> bool {
        self.reason == Reason::Periodic && self.created_at < self.scheduled_for
    }

    /// Puts a running execution back in the queue after its runner stopped mid-attempt. The
    /// steps it was on count as started and interrupted, so `attempts` tells the truth: those
    /// recorded `running`, or else the first one not done (a runner records the steps it starts
    /// with the progress it saves, so only the very first ones may be missing).
    pub fn requeue_interrupted(&mut self, why: &str, now: Timestamp) {
        let mut running = self
            .actions
            .iter_mut()
            .filter(|a| a.status == ActionStatus::Running)
            .peekable();
        if running.peek().is_none() {
            if let Some(first) = self.actions.get_mut(self.next_action_index) {
                first.interrupt(why, now);
            }
        } else {
            running.for_each(|action| action.interrupt(why, now));
        }
        self.status = ExecutionStatus::Queued;
        self.lease = None;
        self.updated_at = now;
    }

    /// Its runner lost the lease mid-attempt (crashed, hung or cut off). That ends the attempt
    /// like a failure would: the next attempt is queued, unless attempts are spent, which ends
    /// the execution `failed` (an execution that kills its runner cannot loop forever).
    pub fn rescue_from_lost_runner(&mut self, now: Timestamp) {
        self.requeue_interrupted(
            "the runner stopped renewing its lease (crashed or cut off)",
            now,
        );
        // The next attempt runs every unfinished item again.
        self.woken = false;
        if self.attempt < self.max_attempts {
            self.attempt += 1;
            return;
        }
        self.status = ExecutionStatus::Failed;
        self.finished_at = Some(now);
        self.error = Some(format!(
            "attempt {} failed (retries exhausted): the runner stopped renewing its lease",
            self.attempt
        ));
    }

    /// Ends an execution whose workflow was deleted before it could run.
    pub fn cancel_for_deleted_workflow(&mut self, now: Timestamp) {
        self.status = ExecutionStatus::Cancelled;
        self.error = Some("the workflow was deleted".to_string());
        self.next_attempt_at = None;
        self.finished_at = Some(now);
        self.updated_at = now;
    }

    /// Whether its per-step results line up with `workflow`'s steps, so that a new attempt
    /// can resume from them (an edit may have changed the steps since).
    pub fn matches(&self, workflow: &super::Workflow) -> bool {
        self.actions.len() == workflow.spec.actions.len()
            && self
                .actions
                .iter()
                .zip(&workflow.spec.actions)
                .all(|(done, a)| done.kind == a.kind() && done.id.as_deref() == a.id())
    }

    pub fn lease_owner(&self) -> Option<&str> {
        self.lease.as_ref().map(|l| l.owner.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::from_millis;

    #[test]
    fn a_failed_attempt_is_kept_before_the_step_is_tried_again_and_only_the_last_ten() {
        let action: super::super::Action =
            serde_json::from_str(r#"{"type":"log","message":"m"}"#).unwrap();
        let mut step = ActionResult::pending(&action);
        step.keep_failed_attempt();
        assert!(step.earlier_attempts.is_empty(), "nothing ran yet");
        for n in 0..12 {
            step.status = ActionStatus::Failed;
            step.started_at = Some(from_millis(n * 1000));
            step.finished_at = Some(from_millis(n * 1000 + 5));
            step.error = Some(format!("try {n}"));
            step.keep_failed_attempt();
        }
        assert_eq!(step.earlier_attempts.len(), 10);
        assert_eq!(step.earlier_attempts[0].error.as_deref(), Some("try 2"));
        assert_eq!(step.earlier_attempts[9].finished_at, from_millis(11_005));
        assert_eq!(step.started_at, None, "cleared for the next attempt");
        step.keep_failed_attempt();
        assert_eq!(step.earlier_attempts.len(), 10, "kept once");
        step.status = ActionStatus::Succeeded;
        step.started_at = Some(from_millis(20_000));
        step.finished_at = Some(from_millis(20_001));
        step.keep_failed_attempt();
        assert_eq!(
            step.earlier_attempts[9].finished_at,
            from_millis(11_005),
            "a success is not kept"
        );
    }

    #[test]
    fn an_interrupted_step_ends_at_the_interruption_and_keeps_the_failure_before() {
        let action: super::super::Action =
            serde_json::from_str(r#"{"type":"log","message":"m"}"#).unwrap();
        let mut step = ActionResult::pending(&action);
        step.status = ActionStatus::Failed;
        step.attempts = 1;
        step.started_at = Some(from_millis(1_000));
        step.finished_at = Some(from_millis(1_010));
        step.error = Some("HTTP 500".into());
        // The next attempt's runner died before saving any progress.
        step.interrupt("gone", from_millis(5_000));
        assert_eq!(step.earlier_attempts.len(), 1);
        assert_eq!(step.earlier_attempts[0].error.as_deref(), Some("HTTP 500"));
        assert_eq!(
            (step.started_at, step.finished_at),
            (Some(from_millis(5_000)), Some(from_millis(5_000)))
        );
        assert_eq!(step.attempts, 2);
    }
}
