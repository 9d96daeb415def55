//! One workflow: its state, its steps drawn as a graph, its definition and its executions;
//! buttons to trigger it (with a form built from its declared inputs), pause, resume or delete.

use super::layout::{
    badge, duration_ms, instant, json_block, list_table, scroll_region, workflow_state,
};
use super::workflows_page::trigger_summary;
use super::{fragment, url_encode, UiError};
use crate::AppState;
use maud::{html, Markup};
use serde::Deserialize;
use shared::domain::inputs::{InputSpec, InputType};
use shared::domain::{Execution, ExecutionStatus, Workflow};
use shared::repo::{ExecutionQuery, Page};

/// Executions on one page of the history.
const HISTORY_PAGE: usize = 25;

#[derive(Debug, Default, Clone, Deserialize)]
pub struct HistoryFilter {
    #[serde(default)]
    status: String,
    cursor: Option<String>,
}

impl HistoryFilter {
    pub fn query_string(&self, cursor: Option<&str>) -> String {
        let mut pairs = Vec::new();
        if !self.status.is_empty() {
            pairs.push(format!("status={}", url_encode(&self.status)));
        }
        if let Some(cursor) = cursor.or(self.cursor.as_deref()) {
            pairs.push(format!("cursor={}", url_encode(cursor)));
        }
        pairs.join("&")
    }
}

pub struct View {
    pub workflow: Workflow,
    pub history: Page<Execution>,
}

pub async fn load(state: &AppState, id: &str, filter: &HistoryFilter) -> Result<View, UiError> {
    let status = match filter.status.as_str() {
        "" => None,
        s => Some(ExecutionStatus::parse(s).ok_or_else(|| {
            UiError::bad_filter(format!(
                "The status filter is `{}`; use one of {}.",
                super::quoted(s),
                crate::routes::execution_statuses()
            ))
        })?),
    };
    let workflow = state
        .backends
        .workflows
        .get(id)
        .await?
        .ok_or_else(|| UiError::not_found(format!("There is no workflow `{id}`.")))?;
    let query = ExecutionQuery {
        status,
        cursor: filter.cursor.clone(),
        limit: HISTORY_PAGE,
    };
    let history = state
        .backends
        .executions
        .list_for_workflow(id, &query)
        .await?;
    Ok(View { workflow, history })
}

pub fn render(view: &View, filter: &HistoryFilter) -> Markup {
    let workflow = &view.workflow;
    let id = workflow.id();
    let api = format!("/workflows/{}", url_encode(id));
    let definition = serde_json::to_value(workflow).unwrap_or_default();
    html! {
        p.crumbs { a href="/ui" { "Workflows" } " / " }
        h1 { (id) }
        p.lead { "Trigger: " (trigger_summary(&workflow.spec.trigger)) " · "
            (workflow.spec.actions.len()) " steps · version " (workflow.version) }
        (fragment("summary", summary(workflow)))
        section.controls aria-label="Operate" {
            form.trigger data-trigger=(format!("{api}/trigger")) {
                @if !workflow.spec.inputs.is_empty() {
                    fieldset {
                        legend { "Inputs" }
                        @for (name, spec) in &workflow.spec.inputs { (input_field(name, spec)) }
                    }
                }
                button.primary type="submit" { "Trigger now" }
            }
            div.buttons {
                button type="button" data-call=(format!("{api}/pause")) data-pause hidden[workflow.paused] { "Pause" }
                button type="button" data-call=(format!("{api}/resume")) data-resume hidden[!workflow.paused] { "Resume" }
                button.danger type="button" data-call=(api) data-method="DELETE" data-then="/ui"
                    data-confirm={"Delete the workflow " (id) "? Its history stays readable through the API."} { "Delete" }
            }
        }
        section aria-labelledby="steps-h" {
            h2 #steps-h { "Steps" }
            (scroll_region("Step graph", super::graph::svg(&workflow.spec.actions, None)))
        }
        details.definition data-key="definition" {
            summary { "Definition" }
            (json_block(&definition, "Workflow definition"))
        }
        section aria-labelledby="history-h" {
            h2 #history-h { "Executions" }
            form.filters method="get" {
                div {
                    label for="history-status" { "Status" }
                    select #history-status name="status" {
                        option value="" selected[filter.status.is_empty()] { "any" }
                        @for status in ExecutionStatus::ALL {
                            option value=(status.as_str()) selected[filter.status == status.as_str()] { (status.as_str()) }
                        }
                    }
                }
                button type="submit" { "Apply" }
            }
            (fragment("history", history(&view.history, filter)))
        }
    }
}

/// The live state of the workflow; `data-paused` lets the script show Pause or Resume.
pub fn summary(workflow: &Workflow) -> Markup {
    let state = workflow_state(workflow);
    html! {
        dl.summary data-paused=(workflow.paused) {
            div { dt { "Status" } dd { (badge(state)) } }
            div { dt { "Next run" } dd { @if workflow.paused { "paused" } @else { (instant(workflow.next_run_at)) } } }
            div { dt { "Current execution" } dd {
                @match workflow.current_execution_id {
                    Some(current) => a href={"/ui/executions/" (current)} { (short(&current.to_string())) },
                    None => span.muted { "none" },
                }
            } }
            div { dt { "Updated" } dd { (instant(Some(workflow.updated_at))) } }
        }
    }
}

pub fn history(page: &Page<Execution>, filter: &HistoryFilter) -> Markup {
    html! {
        @if page.items.is_empty() {
            p.empty { "No execution yet." }
        } @else {
            (list_table(
                "Executions",
                &["Execution", "Status", "Reason", "Attempt", "Scheduled", "Duration"],
                false,
                html! {
                    @for e in &page.items {
                        tr data-execution=(e.execution_id) {
                            th scope="row" { a href={"/ui/executions/" (e.execution_id)} { (short(&e.execution_id.to_string())) } }
                            td { (badge(e.status.as_str())) }
                            td { (e.reason.as_str()) }
                            td { (e.attempt) " of " (e.max_attempts) }
                            td { (instant(Some(e.scheduled_for))) }
                            td { (duration_ms(run_time(e))) }
                        }
                    }
                },
            ))
        }
        @let first = HistoryFilter { cursor: None, ..filter.clone() };
        p.pages {
            @if filter.cursor.is_some() { a href={"?" (first.query_string(None))} { "Newest executions" } " " }
            @if let Some(cursor) = &page.next_cursor {
                a href={"?" (first.query_string(Some(cursor)))} rel="next" { "Older executions" }
            }
        }
    }
}

fn run_time(e: &Execution) -> Option<u64> {
    let (start, end) = (e.started_at?, e.finished_at?);
    u64::try_from((end - start).num_milliseconds()).ok()
}

/// An execution id as the dashboard labels it: its last 8 characters (ids begin with their
/// time, alike for a minute at a time).
pub fn short(id: &str) -> &str {
    id.get(id.len().saturating_sub(8)..).unwrap_or(id)
}

/// One declared input as a form field of its type; empty means "take the default".
fn input_field(name: &str, spec: &InputSpec) -> Markup {
    let field = format!("input-{name}");
    let kind = format!("{:?}", spec.kind).to_lowercase();
    let hint = match &spec.default {
        Some(default) => format!("{kind}, default {default}"),
        None if spec.required => format!("{kind}, required"),
        None => format!("{kind}, optional"),
    };
    html! {
        div.field {
            label for=(field) { (name) " " span.muted { "(" (hint) ")" } }
            @match (&spec.allowed, spec.kind) {
                (Some(allowed), _) => select #(field) name=(name) data-type="json" required[spec.required] {
                    option value="" { "—" }
                    @for value in allowed {
                        option value=(serde_json::to_string(value).unwrap_or_default()) { (plain(value)) }
                    }
                },
                (None, InputType::Boolean) => select #(field) name=(name) data-type=(kind) required[spec.required] {
                    option value="" { "—" }
                    option value="true" { "true" }
                    option value="false" { "false" }
                },
                (None, InputType::Integer | InputType::Number) => input #(field) name=(name) data-type=(kind)
                    type="number" step=(if spec.kind == InputType::Integer { "1" } else { "any" }) required[spec.required];
                (None, InputType::Object | InputType::Array) => textarea #(field) name=(name) data-type=(kind)
                    rows="3" required[spec.required] placeholder=(if spec.kind == InputType::Object { "{ }" } else { "[ ]" }) {},
                (None, InputType::String) => input #(field) name=(name) data-type=(kind) type="text"
                    required[spec.required];
            }
        }
    }
}

/// A JSON value as a person reads it: strings without their quotes.
fn plain(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::short;
    use shared::domain::ids::{new_execution_id, periodic_execution_id};

    #[test]
    fn ids_of_the_same_moment_get_different_labels() {
        let (a, b) = (
            new_execution_id().to_string(),
            new_execution_id().to_string(),
        );
        assert_ne!(short(&a), short(&b));
        let slot = shared::time::now();
        let (p, q) = (
            periodic_execution_id("a", slot).to_string(),
            periodic_execution_id("b", slot).to_string(),
        );
        assert_ne!(short(&p), short(&q));
        assert_eq!(short(&a).len(), 8);
    }
}
