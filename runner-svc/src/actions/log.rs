use super::{ActionContext, ActionResult};
use serde_json::json;
use shared::domain::{LogAction, LogLevel};

pub fn run(action: &LogAction, ctx: &ActionContext<'_>) -> ActionResult {
    let escaped = loggable(&action.message);
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

/// The message as it may appear in a log line: control characters escaped, so that a newline
/// in a message cannot forge a line of its own.
fn loggable(message: &str) -> String {
    message.escape_debug().to_string()
}

#[cfg(test)]
mod tests {
    use super::loggable;

    #[test]
    fn a_newline_cannot_forge_a_log_line() {
        let forged = "done\n2026-12-02T00:00:00Z  INFO admin logged in";
        let line = loggable(forged);
        assert!(!line.contains('\n'), "{line}");
        assert!(line.starts_with("done\\n2026"), "{line}");
        assert_eq!(loggable("plain ünïcode"), "plain ünïcode");
    }
}
