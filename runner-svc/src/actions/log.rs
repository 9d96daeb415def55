use super::{ActionContext, ActionResult};
use serde_json::json;
use shared::domain::{LogAction, LogLevel};

pub fn run(action: &LogAction, ctx: &ActionContext<'_>) -> ActionResult {
    // Control characters escaped: a newline in a message must not forge a log line of its own.
    let escaped = action.message.escape_debug().to_string();
    let (workflow_id, execution_id, message) = (ctx.workflow_id, ctx.execution_id, &escaped);
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
    Ok(json!({ "message": action.message }))
}
