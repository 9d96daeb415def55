//! An action with its templates filled in from the execution so far: the trigger's input, the
//! outputs of the steps before it, and the execution itself.

use serde_json::{json, Map, Value};
use shared::domain::template::{is_template, render_text, render_value};
use shared::domain::{Action, Execution, HttpAction, Workflow};
use shared::secrets::Secrets;
use std::borrow::Cow;

/// What templates read: `inputs`, `steps.ID.output` / `.status`, `execution`, `secrets`.
fn context(execution: &Execution, workflow: &Workflow, secrets: &Secrets) -> minijinja::Value {
    let mut steps = Map::new();
    for (action, result) in workflow.spec.actions.iter().zip(&execution.actions) {
        if let Some(id) = action.id() {
            steps.insert(
                id.to_string(),
                json!({"status": result.status, "output": result.output}),
            );
        }
    }
    minijinja::Value::from_serialize(json!({
        "inputs": execution.input.clone().unwrap_or_else(|| json!({})),
        "secrets": secrets.values(),
        "steps": steps,
        "execution": {
            "id": execution.execution_id,
            "workflowId": execution.workflow_id,
            "attempt": execution.attempt,
            "reason": execution.reason,
            "scheduledFor": execution.scheduled_for,
        },
    }))
}

/// The action as it runs: itself when it holds no template (no context is built then),
/// otherwise a copy with every template rendered. The error names the field.
pub fn rendered<'a>(
    action: &'a Action,
    execution: &Execution,
    workflow: &Workflow,
    secrets: &Secrets,
) -> Result<Cow<'a, Action>, String> {
    match action {
        Action::Log(log) if is_template(&log.message) => {
            let ctx = &context(execution, workflow, secrets);
            let mut log = log.clone();
            let message = render_text(&log.message, ctx).map_err(|e| format!("message: {e}"))?;
            // A log line is written and recorded: it never holds a secret's value.
            log.message = secrets.scrub(&message);
            Ok(Cow::Owned(Action::Log(log)))
        }
        Action::HttpRequest(http) if holds_templates(http) => {
            let ctx = &context(execution, workflow, secrets);
            let mut http = http.clone();
            http.url = render_text(&http.url, ctx).map_err(|e| format!("url: {e}"))?;
            for (name, value) in http.headers.iter_mut() {
                *value = render_text(value, ctx).map_err(|e| format!("headers.{name}: {e}"))?;
                // As when the workflow is saved: a value may not smuggle a second header.
                if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                    return Err(format!(
                        "headers.{name}: the rendered value holds a line break"
                    ));
                }
            }
            if let Some(body) = &http.body {
                http.body = Some(render_value(body, ctx).map_err(|e| format!("body: {e}"))?);
            }
            Ok(Cow::Owned(Action::HttpRequest(http)))
        }
        other => Ok(Cow::Borrowed(other)),
    }
}

fn holds_templates(http: &HttpAction) -> bool {
    fn in_value(v: &Value) -> bool {
        match v {
            Value::String(s) => is_template(s),
            Value::Array(items) => items.iter().any(in_value),
            Value::Object(map) => map.values().any(in_value),
            _ => false,
        }
    }
    is_template(&http.url)
        || http.headers.values().any(|v| is_template(v))
        || http.body.as_ref().is_some_and(in_value)
}
