//! A task as a worker gets it: in the answer to a poll, or as a message on its queue's topic.

use super::Task;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskMessage {
    pub task_id: Uuid,
    pub execution_id: Uuid,
    pub workflow_id: String,
    pub step_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    pub queue: String,
    #[schema(value_type = Object)]
    pub input: Value,
    /// Which delivery this is (1 for the first).
    pub attempt: u32,
    /// Past this the task goes to a worker again: the end of the lease, or on the bus the
    /// redelivery of a publication that had no result.
    #[schema(value_type = String, format = DateTime)]
    pub lease_expires_at: Timestamp,
}

impl TaskMessage {
    /// The task as its current holder (a worker of the poll) has it.
    pub fn leased(task: &Task) -> Self {
        let expires = task.lease.as_ref().map_or(task.deadline, |l| l.expires_at);
        Self::of(task, task.attempt, expires)
    }

    pub(super) fn of(task: &Task, attempt: u32, expires: Timestamp) -> Self {
        Self {
            task_id: task.task_id,
            execution_id: task.execution_id,
            workflow_id: task.workflow_id.clone(),
            step_id: task.step_id.clone(),
            item: task.item,
            queue: task.queue.clone(),
            input: task.input.clone(),
            attempt,
            lease_expires_at: expires,
        }
    }
}
