//! One attempt of an execution: its actions from `nextActionIndex` on, each result recorded,
//! and then what the attempt leads to (done, a retry, or failed).

use crate::actions::{self, ActionContext, ActionFailure};
use shared::domain::backoff::{retry_after_delay, retry_delay, sample_noise};
use shared::domain::{ActionResult, ActionStatus, Execution, ExecutionStatus, Workflow};
use shared::repo::ExecutionRepo;
use shared::time::{self, Timestamp};

pub enum AttemptOutcome {
    Succeeded,
    Failed(ActionFailure),
    /// Another runner holds the execution now; this one must stop writing.
    LeaseLost,
}

/// Runs the remaining actions, saving progress after each one that succeeds while more remain,
/// so that a crash later does not repeat it.
pub async fn run(
    execution: &mut Execution,
    workflow: &Workflow,
    http: &reqwest::Client,
    egress: &shared::egress::EgressPolicy,
    secrets: &shared::secrets::Secrets,
    executions: &dyn ExecutionRepo,
) -> AttemptOutcome {
    let total = workflow.spec.actions.len();
    for index in execution.next_action_index..total {
        let action = &workflow.spec.actions[index];
        let started = time::now();
        let clock = std::time::Instant::now();
        let ctx = ActionContext {
            http,
            egress,
            workflow_id: &execution.workflow_id,
            execution_id: execution.execution_id,
        };
        let result = match crate::render::rendered(action, execution, workflow, secrets) {
            Ok(action) => actions::run(&action, &ctx).await,
            Err(error) => Err(ActionFailure {
                error: format!("a template cannot be rendered: {error}"),
                retryable: false,
                retry_after: None,
            }),
        };
        // What is recorded (and shown, and logged) never holds a secret's value: a response
        // or an error may echo what was sent.
        let result = match secrets.is_empty() {
            true => result,
            false => result
                .map(|output| secrets.scrub_value(&output))
                .map_err(|failure| ActionFailure {
                    error: secrets.scrub(&failure.error),
                    ..failure
                }),
        };
        shared::telemetry::measure::action_ran(action.kind(), result.is_ok(), clock.elapsed());
        let finished = time::now();
        let record = &mut execution.actions[index];
        record.attempts += 1;
        record.started_at = Some(started);
        record.finished_at = Some(finished);
        record.duration_ms = Some(clock.elapsed().as_millis() as u64);
        match result {
            Ok(output) => {
                record.status = ActionStatus::Succeeded;
                record.output = Some(output);
                record.error = None;
                execution.next_action_index = index + 1;
            }
            Err(failure) => {
                record.status = ActionStatus::Failed;
                record.output = None;
                record.error = Some(failure.error.clone());
                return AttemptOutcome::Failed(failure);
            }
        }
        if index + 1 < total {
            execution.updated_at = finished;
            match executions.save_progress(execution).await {
                Ok(true) => {}
                Ok(false) => return AttemptOutcome::LeaseLost,
                Err(err) => {
                    tracing::warn!(%err, execution_id = %execution.execution_id, "cannot save progress; continuing")
                }
            }
        }
    }
    AttemptOutcome::Succeeded
}

/// Sets the execution's status after an attempt: succeeded, retrying with the backoff of
/// DESIGN §3 (or the server's `Retry-After`), or failed when retries are spent or useless.
pub fn conclude(
    execution: &mut Execution,
    workflow: &Workflow,
    outcome: &AttemptOutcome,
    now: Timestamp,
) {
    execution.updated_at = now;
    match outcome {
        AttemptOutcome::Succeeded => {
            execution.status = ExecutionStatus::Succeeded;
            execution.error = None;
            execution.finished_at = Some(now);
        }
        AttemptOutcome::Failed(failure)
            if failure.retryable && execution.attempt < execution.max_attempts =>
        {
            let policy = &workflow.spec.retry;
            let delay = match failure.retry_after {
                Some(asked) => retry_after_delay(policy, asked),
                None => retry_delay(policy, execution.attempt, sample_noise()),
            };
            execution.status = ExecutionStatus::Retrying;
            execution.next_attempt_at = Some(time::add(now, delay));
            execution.error = Some(format!(
                "attempt {} failed: {}",
                execution.attempt, failure.error
            ));
        }
        AttemptOutcome::Failed(failure) => {
            execution.status = ExecutionStatus::Failed;
            execution.finished_at = Some(now);
            let why = if failure.retryable {
                "retries exhausted"
            } else {
                "not retryable"
            };
            execution.error = Some(format!(
                "attempt {} failed ({why}): {}",
                execution.attempt, failure.error
            ));
        }
        AttemptOutcome::LeaseLost => {}
    }
}

/// Fresh per-action results, when the definition changed since the execution was recorded.
pub fn restart_on(execution: &mut Execution, workflow: &Workflow) {
    execution.workflow_version = workflow.version;
    execution.next_action_index = 0;
    execution.actions = workflow
        .spec
        .actions
        .iter()
        .map(|a| ActionResult::pending(a.kind()))
        .collect();
}
