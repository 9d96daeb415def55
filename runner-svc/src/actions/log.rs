use super::{ActionContext, ActionResult};
use serde_json::json;
use shared::domain::{LogAction, LogLevel};

pub fn run(action: &LogAction, ctx: &ActionContext<'_>) -> ActionResult {
    let (workflow_id, execution_id, message) = (ctx.workflow_id, ctx.execution_id, &action.message);
    match action.level {
        LogLevel::Debug => {
            tracing::debug!(target: "workflow", workflow_id, %execution_id, "{message}")
        }
        LogLevel::Info => {
            tracing::info!(target: "workflow", workflow_id, %execution_id, "{message}")
        }
        LogLevel::Warn => {
            tracing::warn!(target: "workflow", workflow_id, %execution_id, "{message}")
        }
        LogLevel::Error => {
            tracing::error!(target: "workflow", workflow_id, %execution_id, "{message}")
        }
    }
    Ok(json!({ "message": message }))
}
