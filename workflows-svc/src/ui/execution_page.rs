//! One execution: its state and retry countdown, the graph coloured by each step's status, the
//! timeline of its steps and their items, and for each step what it sent, how it answered and
//! its output or error.

use super::graph::step_name;
use super::layout::{
    badge, clip, countdown, duration_ms, instant, json_block, list_table, scroll_region,
};
use super::workflow_page::short;
use super::{fragment, url_encode, UiError};
use crate::AppState;
use maud::{html, Markup};
use shared::domain::{Action, ActionResult, Execution, ExecutionStatus, Workflow};
use shared::time::Timestamp;

/// Output shown inline per fan-out item before it is cut (the API has it whole).
const ITEM_TEXT: usize = 160;
/// Items listed per fan-out (up to 10,000 may run): the page stays light; the API has all.
const ITEMS_LISTED: usize = 500;

pub struct View {
    pub execution: Execution,
    /// The workflow as it is now: its steps are the execution's when the versions match.
    pub workflow: Option<Workflow>,
}

pub async fn load(state: &AppState, id: &str) -> Result<View, UiError> {
    let not_found = || UiError::not_found(format!("There is no execution `{id}`."));
    let execution_id = uuid::Uuid::parse_str(id).map_err(|_| not_found())?;
    let execution = state
        .backends
        .executions
        .get(execution_id)
        .await?
        .ok_or_else(not_found)?;
    let workflow = state.backends.workflows.get(&execution.workflow_id).await?;
    Ok(View {
        execution,
        workflow,
    })
}

pub fn render(view: &View, now: Timestamp) -> Markup {
    let e = &view.execution;
    html! {
        p.crumbs {
            a href="/ui" { "Workflows" } " / "
            a href={"/ui/workflows/" (url_encode(&e.workflow_id))} { (e.workflow_id) } " / "
        }
        h1 { "Execution " code { (short(&e.execution_id.to_string())) } }
        (fragment("execution", body(view, now)))
    }
}

/// The live region: everything below the heading.
pub fn body(view: &View, now: Timestamp) -> Markup {
    let e = &view.execution;
    let steps = same_steps(view);
    let names: Vec<String> = e
        .actions
        .iter()
        .enumerate()
        .map(|(i, a)| step_name(a.id.as_deref(), i))
        .collect();
    let statuses: Vec<&str> = e.actions.iter().map(|a| a.status.as_str()).collect();
    html! {
        dl.summary data-status=(e.status.as_str()) {
            div { dt { "Status" } dd { (badge(e.status.as_str())) } }
            div { dt { "Attempt" } dd { (e.attempt) " of " (e.max_attempts) } }
            div { dt { "Reason" } dd { (e.reason.as_str()) } }
            div { dt { "Scheduled" } dd { (instant(Some(e.scheduled_for))) } }
            div { dt { "Started" } dd { (instant(e.started_at)) } }
            div { dt { "Finished" } dd { (instant(e.finished_at)) } }
            @if e.status == ExecutionStatus::Retrying {
                @if let Some(next) = e.next_attempt_at {
                    div.retry { dt { "Next attempt" } dd { (countdown("retry", next)) } }
                }
            }
        }
        @if let Some(error) = &e.error {
            p.error role="alert" { strong { "Error: " } (error) }
        }
        @if let Some(steps) = steps {
            section aria-labelledby="graph-h" {
                h2 #graph-h { "Steps" }
                (scroll_region("Step graph with statuses", super::graph::svg(steps, Some(&statuses))))
            }
        }
        section aria-labelledby="timeline-h" {
            h2 #timeline-h { "Timeline" }
            (scroll_region("Timeline", super::gantt::svg(e, &names, now)))
        }
        section aria-labelledby="results-h" {
            h2 #results-h { "Step results" }
            @for (i, result) in e.actions.iter().enumerate() {
                (step(&names[i], result, steps.and_then(|s| s.get(i))))
            }
        }
        @if let Some(input) = &e.input {
            section { h2 { "Input" } (json_block(input, "Execution input")) }
        }
        @if let Some(output) = &e.output {
            section { h2 { "Output" } (json_block(output, "Execution output")) }
        }
    }
}

/// The workflow's steps, when they are still the ones this execution ran.
fn same_steps(view: &View) -> Option<&[Action]> {
    let workflow = view.workflow.as_ref()?;
    (workflow.version == view.execution.workflow_version
        && workflow.spec.actions.len() == view.execution.actions.len())
    .then_some(workflow.spec.actions.as_slice())
}

fn step(name: &str, result: &ActionResult, action: Option<&Action>) -> Markup {
    let status = result.status.as_str();
    let response_status = result
        .output
        .as_ref()
        .and_then(|o| o.get("status"))
        .and_then(serde_json::Value::as_u64);
    html! {
        article.step data-step=(name) data-status=(status) {
            h3 { (name) " " span.muted { (result.kind) } " " (badge(status)) }
            dl.facts {
                @if let Some(action) = action { div { dt { "Request" } dd { code { (request_summary(action)) } } } }
                div { dt { "Attempts" } dd { (result.attempts) } }
                div { dt { "Started" } dd { (instant(result.started_at)) } }
                div { dt { "Duration" } dd { (duration_ms(result.duration_ms)) } }
                @if let Some(code) = response_status { div { dt { "Response" } dd { "HTTP " (code) } } }
            }
            @if let Some(error) = &result.error {
                p.error { strong { "Error: " } (error) }
            }
            @if result.output_truncated {
                p.muted { "The output was over the recorded-output limit and is not kept." }
            }
            @if let Some(output) = &result.output {
                details data-key={"output-" (name)} { summary { "Output" } (json_block(output, &format!("Output of {name}"))) }
            }
            @if !result.items.is_empty() { (items(name, result)) }
        }
    }
}

fn items(name: &str, result: &ActionResult) -> Markup {
    let done = result
        .items
        .iter()
        .filter(|i| i.status != shared::domain::ActionStatus::Pending)
        .count();
    html! {
        details.items data-key={"items-" (name)} open[result.items.len() <= 20] {
            summary { (result.items.len()) " items, " (done) " started or done" }
            (list_table(
                &format!("Items of {name}"),
                &["Item", "Status", "Attempts", "Duration", "Output or error"],
                true,
                html! {
                    @for (n, item) in result.items.iter().enumerate().take(ITEMS_LISTED) {
                        tr data-item=(n) {
                            th scope="row" { (n) }
                            td { (badge(item.status.as_str())) }
                            td { (item.attempts) }
                            td { (duration_ms(item.duration_ms)) }
                            td.clip {
                                @if let Some(error) = &item.error { span.error-text { (clip(error, ITEM_TEXT)) } }
                                @else if let Some(output) = &item.output { code { (clip(&output.to_string(), ITEM_TEXT)) } }
                            }
                        }
                    }
                },
            ))
            @if result.items.len() > ITEMS_LISTED {
                p.muted { "The first " (ITEMS_LISTED) " items are listed; " code { "GET /executions/ID" } " has every one." }
            }
        }
    }
}

/// What the step does, as written in the workflow (templates unrendered).
fn request_summary(action: &Action) -> String {
    match action {
        Action::HttpRequest(http) => format!("{} {}", http.method, http.url),
        Action::Service(service) => format!("service {}", service.service),
        Action::Log(log) => format!("log {}", log.message),
        Action::Switch(switch) => format!("switch on {}", switch.value),
    }
}
