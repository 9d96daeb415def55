//! One attempt of an execution: its steps from where the last attempt stopped, as a graph
//! (see `dag`), progress recorded as steps end, and then what the attempt leads to (done, a
//! retry, or failed).

use crate::dag::{Calls, StepFailure, Steps, Tools};
use crate::output::capped;
use crate::render::Templates;
use futures_util::{FutureExt, StreamExt};
use shared::domain::backoff::{retry_after_delay, retry_delay, sample_noise};
use shared::domain::graph::StepGraph;
use shared::domain::{ActionResult, Execution, ExecutionStatus, Workflow};
use shared::time::{self, Timestamp};

pub enum AttemptOutcome {
    Succeeded,
    /// Steps failed; the attempt ended once the steps still running finished.
    Failed(Vec<StepFailure>),
    /// Every step settled, but the workflow's `outputs` cannot be rendered from them.
    OutputsFailed(String),
    /// Nothing runs but steps whose tasks workers have: the execution waits for these tasks
    /// without a runner.
    Waiting(Vec<uuid::Uuid>),
    /// Another runner holds the execution now; this one must stop writing.
    LeaseLost,
}

/// Runs the steps not yet settled, saving progress each time a step or an item ends while
/// others remain (the steps it made ready recorded as running), so that a crash later repeats
/// only what was running then.
pub async fn run(
    execution: &mut Execution,
    workflow: &Workflow,
    tools: &Tools<'_>,
) -> AttemptOutcome {
    let graph = match StepGraph::of(&workflow.spec.actions) {
        Ok(graph) => graph,
        // Checked when saved; a definition stored by an older version may still differ.
        Err(err) => {
            return AttemptOutcome::Failed(vec![StepFailure {
                step: 0,
                failure: crate::actions::ActionFailure {
                    error: format!("{}: {}", err.field, err.message),
                    retryable: false,
                    retry_after: None,
                },
            }])
        }
    };
    let mut steps = Steps::new(execution, workflow, tools, graph);
    let mut calls = Calls::new();
    steps.start_ready(&mut calls);
    while let Some(ended) = calls.next().await {
        steps.record(ended);
        // Calls that ended meanwhile are recorded with it, in one save.
        while let Some(Some(ended)) = calls.next().now_or_never() {
            steps.record(ended);
        }
        steps.start_ready(&mut calls);
        if calls.is_empty() {
            break;
        }
        if !save(&mut steps).await {
            return AttemptOutcome::LeaseLost;
        }
    }
    let waiting = steps.waiting().to_vec();
    let failures = steps.outcome();
    if !failures.is_empty() {
        return AttemptOutcome::Failed(failures);
    }
    if !waiting.is_empty() {
        return AttemptOutcome::Waiting(waiting);
    }
    let outputs = Templates::new(execution, workflow, tools.secrets).outputs();
    match outputs {
        Ok(output) => {
            execution.output = output.map(|o| capped(o, tools.output_limit).0);
            AttemptOutcome::Succeeded
        }
        Err(error) => AttemptOutcome::OutputsFailed(error),
    }
}

/// False when the lease was lost. A store that cannot take the save now only costs a repeat
/// of what ended since, if the runner dies before the next one.
async fn save(steps: &mut Steps<'_, '_>) -> bool {
    match steps.save().await {
        Ok(saved) => saved,
        Err(err) => {
            tracing::warn!(%err, "cannot save progress; continuing");
            true
        }
    }
}

/// Sets the execution's status after an attempt: succeeded; retrying, with the backoff of
/// DESIGN §3 under the failed steps' policies (or a server's `Retry-After`), when every failed
/// step may run again; failed when one's retries are spent or useless.
pub fn conclude(
    execution: &mut Execution,
    workflow: &Workflow,
    outcome: &AttemptOutcome,
    now: Timestamp,
) {
    execution.updated_at = now;
    let failures = match outcome {
        AttemptOutcome::Succeeded => {
            execution.status = ExecutionStatus::Succeeded;
            execution.error = None;
            execution.finished_at = Some(now);
            return;
        }
        AttemptOutcome::LeaseLost => return,
        AttemptOutcome::Waiting(_) => {
            execution.status = ExecutionStatus::Waiting;
            execution.error = None;
            return;
        }
        // The steps' outputs are settled: another attempt would render the same.
        AttemptOutcome::OutputsFailed(error) => {
            execution.status = ExecutionStatus::Failed;
            execution.finished_at = Some(now);
            execution.error = Some(format!(
                "attempt {} failed (not retryable): {error}",
                execution.attempt
            ));
            return;
        }
        AttemptOutcome::Failed(failures) => failures,
    };
    let spec = &workflow.spec;
    let retry_left = |f: &StepFailure| {
        let action = &spec.actions[f.step];
        f.failure.retryable
            && execution.actions[f.step].attempts < spec.retry_of(action).max_attempts
    };
    let first = &failures[0];
    let mut what = match spec.actions[first.step].id() {
        Some(id) => format!("step `{id}`: {}", first.failure.error),
        None => first.failure.error.clone(),
    };
    if failures.len() > 1 {
        what.push_str(&format!(" (and {} more failed steps)", failures.len() - 1));
    }
    if failures.iter().all(retry_left) {
        let delay = failures
            .iter()
            .map(|f| {
                let policy = spec.retry_of(&spec.actions[f.step]);
                match f.failure.retry_after {
                    Some(asked) => retry_after_delay(policy, asked),
                    None => retry_delay(policy, execution.actions[f.step].attempts, sample_noise()),
                }
            })
            .max()
            .unwrap_or_default();
        execution.status = ExecutionStatus::Retrying;
        execution.next_attempt_at = Some(time::add(now, delay));
        execution.error = Some(format!("attempt {} failed: {what}", execution.attempt));
        return;
    }
    execution.status = ExecutionStatus::Failed;
    execution.finished_at = Some(now);
    let why = match failures.iter().all(|f| f.failure.retryable) {
        true => "retries exhausted",
        false => "not retryable",
    };
    execution.error = Some(format!(
        "attempt {} failed ({why}): {what}",
        execution.attempt
    ));
}

/// Fresh per-step results, when the definition changed since the execution was recorded.
pub fn restart_on(execution: &mut Execution, workflow: &Workflow) {
    execution.workflow_version = workflow.version;
    execution.next_action_index = 0;
    execution.actions = workflow
        .spec
        .actions
        .iter()
        .map(ActionResult::pending)
        .collect();
}
