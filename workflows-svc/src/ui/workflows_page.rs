//! The dashboard's first page: every workflow with its trigger and state, when it runs next,
//! how it last ended and a strip of its recent results; filtered by state and trigger, searched
//! by id.

use super::layout::{badge, instant, list_table, workflow_state};
use super::{fragment, UiError};
use crate::{routes, AppState};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use maud::{html, Markup};
use serde::Deserialize;
use shared::domain::{Execution, Trigger, TriggerStatus, Workflow};
use shared::repo::{ExecutionQuery, WorkflowQuery};

/// Workflows on one page: a thousand rows still render well under a second.
const PAGE: usize = 1000;
/// Results in each workflow's strip.
const STRIP: usize = 10;
/// Histories read at once while a page is drawn.
const READS_AT_ONCE: usize = 16;

#[derive(Debug, Default, Clone, Deserialize)]
pub struct Filter {
    /// `idle`, `busy`, `pending` or `paused`.
    #[serde(default)]
    status: String,
    /// `periodic`, `cron` or `manual`.
    #[serde(default)]
    trigger: String,
    /// Text the id contains.
    #[serde(default)]
    q: String,
    cursor: Option<String>,
}

impl Filter {
    fn query(&self) -> Result<WorkflowQuery, UiError> {
        let (status, paused) = match self.status.as_str() {
            "" => (None, None),
            "paused" => (None, Some(true)),
            s => match TriggerStatus::parse(s) {
                Some(status) => (Some(status), None),
                None => {
                    return Err(UiError::bad_filter(format!(
                        "The status filter is `{}`; use idle, busy, pending or paused.",
                        super::quoted(s)
                    )))
                }
            },
        };
        let trigger_type = match self.trigger.as_str() {
            "" => None,
            kind => Some(routes::trigger_type(kind).ok_or_else(|| {
                UiError::bad_filter(format!(
                    "The trigger filter is `{}`; use {}.",
                    super::quoted(kind),
                    routes::TRIGGER_TYPES
                ))
            })?),
        };
        let id_contains = routes::id_search(Some(self.q.clone())).map_err(|_| {
            UiError::bad_filter(format!("The search may hold {}.", routes::ID_SEARCH_RULE))
        })?;
        Ok(WorkflowQuery {
            trigger_type,
            status,
            paused,
            id_contains,
            cursor: self.cursor.clone(),
            limit: PAGE,
        })
    }

    /// The same filter as a query string, for the live stream and the next page.
    pub fn query_string(&self, cursor: Option<&str>) -> String {
        let mut pairs = vec![
            ("status", self.status.as_str()),
            ("trigger", self.trigger.as_str()),
            ("q", self.q.as_str()),
        ];
        if let Some(cursor) = cursor {
            pairs.push(("cursor", cursor));
        }
        pairs
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", super::url_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// A page's rows: each workflow with its newest executions.
pub struct Rows {
    items: Vec<(Workflow, Vec<Execution>)>,
    next_cursor: Option<String>,
}

pub async fn load(state: &AppState, filter: &Filter) -> Result<Rows, UiError> {
    let page = state.backends.workflows.list(&filter.query()?).await?;
    let recent = ExecutionQuery {
        status: None,
        cursor: None,
        limit: STRIP,
    };
    let items = stream::iter(page.items)
        .map(|workflow| {
            let recent = &recent;
            async move {
                let history = state
                    .backends
                    .executions
                    .list_for_workflow(workflow.id(), recent)
                    .await?;
                Ok::<_, UiError>((workflow, history.items))
            }
        })
        .buffered(READS_AT_ONCE)
        .try_collect()
        .await?;
    Ok(Rows {
        items,
        next_cursor: page.next_cursor,
    })
}

pub fn render(filter: &Filter, rows: &Rows) -> Markup {
    html! {
        h1 { "Workflows" }
        form.filters method="get" action="/ui" role="search" {
            div {
                label for="q" { "Search by id" }
                input #q type="search" name="q" value=(filter.q) maxlength="128" placeholder="e.g. billing";
            }
            div {
                label for="status" { "Status" }
                select #status name="status" {
                    @for (value, text) in [("", "any"), ("idle", "idle"), ("busy", "busy"), ("pending", "pending"), ("paused", "paused")] {
                        option value=(value) selected[filter.status == value] { (text) }
                    }
                }
            }
            div {
                label for="trigger" { "Trigger" }
                select #trigger name="trigger" {
                    @for (value, text) in [("", "any"), ("periodic", "periodic"), ("cron", "cron"), ("manual", "manual")] {
                        option value=(value) selected[filter.trigger == value] { (text) }
                    }
                }
            }
            button type="submit" { "Apply" }
        }
        (fragment("workflows", table(rows)))
        p.pages {
            @if filter.cursor.is_some() { a href={"/ui?" (filter.query_string(None))} { "First page" } " " }
            @if let Some(cursor) = &rows.next_cursor {
                a href={"/ui?" (filter.query_string(Some(cursor)))} rel="next" { "Next page" }
            }
        }
    }
}

/// The live region: re-sent whenever it changes.
pub fn table(rows: &Rows) -> Markup {
    html! {
        p.count { (rows.items.len()) @if rows.items.len() == 1 { " workflow" } @else { " workflows" }
            @if rows.next_cursor.is_some() { " on this page" } }
        @if rows.items.is_empty() {
            p.empty { "No workflow matches. Create one with " code { "POST /workflows" } "." }
        } @else {
            (list_table(
                "Workflows",
                &["Workflow", "Trigger", "Status", "Next run", "Last outcome", "Recent"],
                false,
                html! { @for (workflow, history) in &rows.items { (row(workflow, history)) } },
            ))
        }
    }
}

fn row(workflow: &Workflow, history: &[Execution]) -> Markup {
    let state = workflow_state(workflow);
    let last = history.iter().find(|e| e.status.is_terminal());
    html! {
        tr data-workflow=(workflow.id()) {
            th scope="row" { a href={"/ui/workflows/" (super::url_encode(workflow.id()))} { (workflow.id()) } }
            td { (trigger_summary(&workflow.spec.trigger)) }
            td { (badge(state)) }
            td { @if workflow.paused { span.muted { "paused" } } @else { (instant(workflow.next_run_at)) } }
            td {
                @if let Some(last) = last {
                    a href={"/ui/executions/" (last.execution_id)} { (badge(last.status.as_str())) }
                    " " (instant(last.finished_at.or(Some(last.updated_at))))
                } @else { span.muted { "never ran" } }
            }
            td { (strip(history)) }
        }
    }
}

/// The newest results, oldest on the left, each a link to its execution.
fn strip(history: &[Execution]) -> Markup {
    html! {
        ul.strip aria-label="Recent executions, oldest first" {
            @for execution in history.iter().rev() {
                @let status = execution.status.as_str();
                li { a class={"cell s-" (status)} href={"/ui/executions/" (execution.execution_id)}
                    aria-label={(status) " at " (execution.scheduled_for.format("%Y-%m-%d %H:%M:%S UTC"))}
                    title=(status) {} }
            }
        }
    }
}

pub fn trigger_summary(trigger: &Trigger) -> String {
    match trigger {
        Trigger::Periodic { interval, .. } => match interval {
            Some(every) => format!("every {}", every.as_str()),
            None => "periodic".to_string(),
        },
        Trigger::Cron {
            expression,
            timezone,
            ..
        } => format!("cron {} ({timezone})", expression.as_deref().unwrap_or("?")),
        Trigger::Manual { .. } => "manual".to_string(),
    }
}
