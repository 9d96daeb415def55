//! An action with its templates filled in from the execution so far: the trigger's input, the
//! outputs of the steps before it, the execution itself, and a fan-out's `item`.

use serde_json::{json, Map, Value};
use shared::domain::template::{self, is_template, render_text, render_value};
use shared::domain::validation::{strings_in, templated_fields};
use shared::domain::{Action, Execution, HttpAction, Workflow};
use shared::secrets::Secrets;
use std::borrow::Cow;
use std::sync::OnceLock;

/// What the templates of one step read, built the first time one needs it (a workflow
/// without templates never pays for it).
pub struct Templates<'a> {
    execution: &'a Execution,
    workflow: &'a Workflow,
    secrets: &'a Secrets,
    context: OnceLock<minijinja::Value>,
}

/// Which run of a step: its index, and the item's for a fan-out.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub step: usize,
    pub item: Option<usize>,
}

impl<'a> Templates<'a> {
    pub fn new(execution: &'a Execution, workflow: &'a Workflow, secrets: &'a Secrets) -> Self {
        Self {
            execution,
            workflow,
            secrets,
            context: OnceLock::new(),
        }
    }

    /// Reuses a context built for the same step before (a fan-out's, for each item).
    pub fn with_context(self, context: minijinja::Value) -> Self {
        let _ = self.context.set(context);
        self
    }

    /// The context, to reuse for the items of a fan-out.
    pub fn context_value(&self) -> minijinja::Value {
        self.context().clone()
    }

    /// `inputs`, `steps.ID.output` / `.status`, `execution`, `secrets`.
    fn context(&self) -> &minijinja::Value {
        self.context.get_or_init(|| {
            let mut steps = Map::new();
            for (action, result) in self
                .workflow
                .spec
                .actions
                .iter()
                .zip(&self.execution.actions)
            {
                if let Some(id) = action.id() {
                    steps.insert(
                        id.to_string(),
                        json!({"status": result.status, "output": result.output}),
                    );
                }
            }
            let e = self.execution;
            minijinja::Value::from_serialize(json!({
                "inputs": e.input.clone().unwrap_or_else(|| json!({})),
                "secrets": self.secrets.values(),
                "steps": steps,
                "execution": {
                    "id": e.execution_id,
                    "workflowId": e.workflow_id,
                    "attempt": e.attempt,
                    "reason": e.reason,
                    "scheduledFor": e.scheduled_for,
                },
            }))
        })
    }

    fn with_item(&self, item: Option<&Value>) -> minijinja::Value {
        match item {
            None => self.context().clone(),
            Some(item) => {
                minijinja::context! { item => minijinja::Value::from_serialize(item), ..self.context().clone() }
            }
        }
    }

    /// Evaluates a bare expression (`when`, `forEach.items`, a switch's `value`).
    pub fn evaluate(&self, field: &str, expression: &str) -> Result<Value, String> {
        self.refuse_truncated(std::iter::once(expression))
            .map_err(|e| format!("{field}: {e}"))?;
        template::eval_expression(expression, self.context()).map_err(|e| format!("{field}: {e}"))
    }

    /// The action as it runs: itself when it holds no template and needs no header of its own
    /// (no context is built then), otherwise a copy with every template rendered. The error
    /// names the field.
    pub fn rendered<'b>(
        &self,
        action: &'b Action,
        run: Run,
        item: Option<&Value>,
    ) -> Result<Cow<'b, Action>, String> {
        match action {
            Action::Log(log) if is_template(&log.message) => {
                self.refuse_truncated(std::iter::once(log.message.as_str()))?;
                let ctx = &self.with_item(item);
                let mut log = log.clone();
                let message =
                    render_text(&log.message, ctx).map_err(|e| format!("message: {e}"))?;
                // A log line is written and recorded: it never holds a secret's value.
                log.message = self.secrets.scrub(&message);
                Ok(Cow::Owned(Action::Log(log)))
            }
            Action::HttpRequest(http) if holds_templates(http) || http.idempotency_key => {
                self.refuse_truncated(templated_fields(action).into_iter().map(|(_, t)| t))?;
                let mut http = http.clone();
                if holds_templates(&http) {
                    self.render_http(&mut http, &self.with_item(item))?;
                }
                if http.idempotency_key {
                    http.headers.insert(
                        "Idempotency-Key".to_string(),
                        idempotency_key(self.execution, self.workflow, run),
                    );
                }
                Ok(Cow::Owned(Action::HttpRequest(http)))
            }
            Action::Service(call) if call.input.values().any(in_value) => {
                self.refuse_truncated(templated_fields(action).into_iter().map(|(_, t)| t))?;
                let ctx = &self.with_item(item);
                let mut call = call.clone();
                for (name, value) in call.input.iter_mut() {
                    *value = render_value(value, ctx).map_err(|e| format!("input.{name}: {e}"))?;
                }
                Ok(Cow::Owned(Action::Service(call)))
            }
            other => Ok(Cow::Borrowed(other)),
        }
    }

    /// The workflow's `outputs`, rendered once every step settled: the execution's result.
    /// `None` when it declares none.
    pub fn outputs(&self) -> Result<Option<Value>, String> {
        let outputs = &self.workflow.spec.outputs;
        if outputs.is_empty() {
            return Ok(None);
        }
        let mut rendered = Map::new();
        for (name, value) in outputs {
            let mut texts = Vec::new();
            strings_in(value, String::new(), &mut texts);
            self.refuse_truncated(texts.into_iter().map(|(_, t)| t))
                .map_err(|e| format!("outputs.{name}: {e}"))?;
            let value =
                render_value(value, self.context()).map_err(|e| format!("outputs.{name}: {e}"))?;
            rendered.insert(name.clone(), self.secrets.scrub_value(&value));
        }
        Ok(Some(Value::Object(rendered)))
    }

    fn render_http(&self, http: &mut HttpAction, ctx: &minijinja::Value) -> Result<(), String> {
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
        Ok(())
    }

    /// A reference into an output that was not kept (over the output limit) or kept cut short
    /// (a response body over the recorded size) would read something other than what the step
    /// returned: it fails, saying so, instead.
    fn refuse_truncated<'t>(&self, texts: impl Iterator<Item = &'t str>) -> Result<(), String> {
        let cut: Vec<(&str, bool)> = self
            .workflow
            .spec
            .actions
            .iter()
            .zip(&self.execution.actions)
            .filter_map(|(action, result)| {
                let body_cut = result
                    .output
                    .as_ref()
                    .is_some_and(|o| o["bodyTruncated"] == json!(true));
                (result.output_truncated || body_cut)
                    .then(|| action.id().map(|id| (id, result.output_truncated)))
                    .flatten()
            })
            .collect();
        if cut.is_empty() {
            return Ok(());
        }
        for text in texts {
            for name in template::references(text) {
                for (id, whole) in &cut {
                    let output = format!("steps.{id}.output");
                    let body = format!("{output}.body");
                    let reads =
                        |prefix: &str| name == prefix || name.starts_with(&format!("{prefix}."));
                    if *whole && reads(&output) {
                        return Err(format!(
                            "`{name}` reads the output of step `{id}`, which was over the recorded-output limit (STEP_OUTPUT_LIMIT) and was not kept"
                        ));
                    }
                    if !whole && (reads(&body) || name == output) {
                        return Err(format!(
                            "`{name}` reads the response body of step `{id}`, which was cut off at the recorded size (64 KiB)"
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// `<executionId>:<step>[:<item>]`: the same on every retry of that call, different for every
/// other call. The step is its id, or its position when it has none.
pub fn idempotency_key(execution: &Execution, workflow: &Workflow, run: Run) -> String {
    let step = match workflow.spec.actions[run.step].id() {
        Some(id) => id.to_string(),
        None => run.step.to_string(),
    };
    match run.item {
        Some(item) => format!("{}:{step}:{item}", execution.execution_id),
        None => format!("{}:{step}", execution.execution_id),
    }
}

fn in_value(v: &Value) -> bool {
    match v {
        Value::String(s) => is_template(s),
        Value::Array(items) => items.iter().any(in_value),
        Value::Object(map) => map.values().any(in_value),
        _ => false,
    }
}

fn holds_templates(http: &HttpAction) -> bool {
    is_template(&http.url)
        || http.headers.values().any(|v| is_template(v))
        || http.body.as_ref().is_some_and(in_value)
}
