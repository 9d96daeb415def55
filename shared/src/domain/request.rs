//! The message that asks a runner to run an execution (the Kafka event of DESIGN §4).

use super::{Execution, Reason};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionRequest {
    pub execution_id: Uuid,
    pub workflow_id: String,
    pub attempt: u32,
    pub reason: Reason,
    pub scheduled_for: Timestamp,
}

impl ExecutionRequest {
    pub fn for_execution(execution: &Execution) -> Self {
        let reason = if execution.attempt > 1 {
            Reason::Retry
        } else {
            execution.reason
        };
        Self {
            execution_id: execution.execution_id,
            workflow_id: execution.workflow_id.clone(),
            attempt: execution.attempt,
            reason,
            scheduled_for: execution.next_attempt_at.unwrap_or(execution.scheduled_for),
        }
    }
}
