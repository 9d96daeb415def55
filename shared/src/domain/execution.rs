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
    Succeeded,
    Failed,
    Cancelled,
}

impl ExecutionStatus {
    pub const ALL: [ExecutionStatus; 7] = [
        Self::Buffered,
        Self::Queued,
        Self::Running,
        Self::Retrying,
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
}

/// The outcome of one action of an execution, as of its latest attempt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionResult {
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
}

impl ActionResult {
    pub fn pending(kind: &str) -> Self {
        Self {
            kind: kind.to_string(),
            status: ActionStatus::Pending,
            attempts: 0,
            started_at: None,
            finished_at: None,
            duration_ms: None,
            output: None,
            error: None,
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
    /// Where the next attempt resumes: actions before it have succeeded.
    pub next_action_index: usize,
    pub actions: Vec<ActionResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
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
            max_attempts: workflow.spec.retry.max_attempts,
            next_attempt_at: None,
            next_action_index: 0,
            actions: workflow
                .spec
                .actions
                .iter()
                .map(|a| ActionResult::pending(a.kind()))
                .collect(),
            lease: None,
            error: None,
            created_at: now,
            updated_at: now,
            started_at: None,
            finished_at: None,
        }
    }

    /// Puts a running execution back in the queue after its runner stopped mid-attempt. The
    /// action it was on counts as started and interrupted, so `attempts` tells the truth.
    pub fn requeue_interrupted(&mut self, why: &str, now: Timestamp) {
        if let Some(action) = self.actions.get_mut(self.next_action_index) {
            action.attempts += 1;
            action.status = ActionStatus::Failed;
            action.error = Some(format!("interrupted: {why}"));
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

    pub fn lease_owner(&self) -> Option<&str> {
        self.lease.as_ref().map(|l| l.owner.as_str())
    }
}
