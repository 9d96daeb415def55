//! The worker protocol over HTTP: `POST /workers/poll` long-polls for tasks of some queues
//! and leases them; `POST /tasks/{id}/heartbeat` extends a lease, `/complete` is the ack,
//! `/fail` the nack. A report about a task that is no longer the worker's is refused (409)
//! and changes nothing.

use super::path::PathId;
use crate::openapi::ErrorBody;
use crate::{ApiError, AppState};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use shared::domain::task::{TaskMessage, TaskStatus};
use shared::domain::validation::{decode_json, validate_service_name};
use shared::domain::HumanDuration;
use shared::workers::{Poll, Report, ReportError};
use std::time::Duration;
use uuid::Uuid;

const MAX_TASKS: usize = 100;
const MAX_WAIT: Duration = Duration::from_secs(60);
const MIN_LEASE: Duration = Duration::from_secs(1);
const MAX_LEASE: Duration = Duration::from_secs(3600);
const DEFAULT_LEASE: Duration = Duration::from_secs(30);

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PollRequest {
    /// Who asks: the name its results are checked against.
    worker_id: String,
    /// The queues it takes tasks from.
    queues: Vec<String>,
    /// At most this many tasks (1 to 100; 1 when absent).
    #[serde(default)]
    max: Option<usize>,
    /// How long to wait for a first task (at most 60s; none when absent).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "20s")]
    wait: Option<HumanDuration>,
    /// How long the worker has before a task goes back to its queue (1s to 1h; 30s).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "30s")]
    lease: Option<HumanDuration>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PollAnswer {
    tasks: Vec<TaskMessage>,
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::Validation {
        field: field.to_string(),
        message: message.into(),
    }
}

fn bounded(
    field: &str,
    value: Option<&HumanDuration>,
    default: Duration,
    range: std::ops::RangeInclusive<Duration>,
) -> Result<Duration, ApiError> {
    let value = value.map_or(default, HumanDuration::value);
    if !range.contains(&value) {
        return Err(invalid(
            field,
            format!(
                "must be between {} and {}",
                humantime::format_duration(*range.start()),
                humantime::format_duration(*range.end())
            ),
        ));
    }
    Ok(value)
}

#[utoipa::path(post, path = "/workers/poll", operation_id = "pollTasks", tag = "workers",
    request_body(content((PollRequest = "application/json"))),
    responses(
        (status = 200, description = "The tasks leased to this worker (none when `wait` ran out)", body = PollAnswer),
        (status = 400, description = "Malformed JSON, or an unknown, missing or mistyped field", body = ErrorBody),
        (status = 422, description = "A value breaks a rule (`validation_failed`, naming the field)", body = ErrorBody),
    ))]
pub async fn poll(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PollAnswer>, ApiError> {
    let request: PollRequest = decode_json(&body?)?;
    validate_service_name("workerId", &request.worker_id)?;
    if request.queues.is_empty() || request.queues.len() > 100 {
        return Err(invalid("queues", "name 1 to 100 queues"));
    }
    for (i, queue) in request.queues.iter().enumerate() {
        validate_service_name(&format!("queues[{i}]"), queue)?;
    }
    let max = request.max.unwrap_or(1);
    if !(1..=MAX_TASKS).contains(&max) {
        return Err(invalid("max", format!("must be between 1 and {MAX_TASKS}")));
    }
    let wait = bounded(
        "wait",
        request.wait.as_ref(),
        Duration::ZERO,
        Duration::ZERO..=MAX_WAIT,
    )?;
    let lease = bounded(
        "lease",
        request.lease.as_ref(),
        DEFAULT_LEASE,
        MIN_LEASE..=MAX_LEASE,
    )?;
    let poll = Poll {
        worker_id: &request.worker_id,
        queues: &request.queues,
        max,
        wait,
        lease,
    };
    let tasks = shared::workers::poll(&state.backends, &poll).await?;
    Ok(Json(PollAnswer {
        tasks: tasks.iter().map(TaskMessage::leased).collect(),
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HeartbeatRequest {
    worker_id: String,
    /// The new lease from now (30s when absent).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "30s")]
    lease: Option<HumanDuration>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CompleteRequest {
    worker_id: String,
    /// The service's outputs.
    #[schema(value_type = Object)]
    output: Map<String, Value>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FailRequest {
    worker_id: String,
    error: String,
    /// Whether another attempt may succeed (true when absent).
    #[serde(default = "yes")]
    retryable: bool,
}

fn yes() -> bool {
    true
}

/// A task's state after a report.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskState {
    task_id: Uuid,
    status: TaskStatus,
    attempt: u32,
    /// While leased.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    lease_expires_at: Option<shared::time::Timestamp>,
    /// When a nacked task is offered again.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    available_at: Option<shared::time::Timestamp>,
}

async fn report(
    state: &AppState,
    id: &str,
    worker_id: &str,
    report: Report,
) -> Result<Json<TaskState>, ApiError> {
    let not_found = || ApiError::NotFound(format!("There is no task `{id}`."));
    let task_id = Uuid::parse_str(id).map_err(|_| not_found())?;
    validate_service_name("workerId", worker_id)?;
    let task = shared::workers::report(&state.backends, task_id, worker_id, &report)
        .await
        .map_err(|e| match e {
            ReportError::NotFound => not_found(),
            ReportError::Conflict(conflict) => ApiError::TaskConflict(conflict.to_string()),
            ReportError::Store(e) => e.into(),
        })?;
    Ok(Json(TaskState {
        task_id: task.task_id,
        status: task.status,
        attempt: task.attempt,
        lease_expires_at: task.lease.as_ref().map(|l| l.expires_at),
        available_at: (task.status == TaskStatus::Queued).then_some(task.available_at),
    }))
}

#[utoipa::path(post, path = "/tasks/{id}/heartbeat", operation_id = "heartbeatTask", tag = "workers",
    params(("id" = String, Path)), request_body(content((HeartbeatRequest = "application/json"))),
    responses(
        (status = 200, description = "The lease, extended", body = TaskState),
        (status = 400, description = "Malformed JSON, or an unknown, missing or mistyped field", body = ErrorBody),
        (status = 404, description = "No such task", body = ErrorBody),
        (status = 409, description = "The task is not this worker's (`task_not_held`)", body = ErrorBody),
        (status = 422, description = "A value breaks a rule", body = ErrorBody),
    ))]
pub async fn heartbeat(
    State(state): State<AppState>,
    PathId(id): PathId,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<TaskState>, ApiError> {
    let request: HeartbeatRequest = decode_json(&body?)?;
    let lease = bounded(
        "lease",
        request.lease.as_ref(),
        DEFAULT_LEASE,
        MIN_LEASE..=MAX_LEASE,
    )?;
    report(&state, &id, &request.worker_id, Report::Heartbeat { lease }).await
}

#[utoipa::path(post, path = "/tasks/{id}/complete", operation_id = "completeTask", tag = "workers",
    params(("id" = String, Path)), request_body(content((CompleteRequest = "application/json"))),
    responses(
        (status = 200, description = "Done: the step takes the output", body = TaskState),
        (status = 400, description = "Malformed JSON, or an unknown, missing or mistyped field", body = ErrorBody),
        (status = 404, description = "No such task", body = ErrorBody),
        (status = 409, description = "The task is not this worker's, or ended already (`task_not_held`)", body = ErrorBody),
        (status = 413, description = "A body over 1 MiB", body = ErrorBody),
        (status = 422, description = "A value breaks a rule", body = ErrorBody),
    ))]
pub async fn complete(
    State(state): State<AppState>,
    PathId(id): PathId,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<TaskState>, ApiError> {
    let request: CompleteRequest = decode_json(&body?)?;
    let output = Value::Object(request.output);
    report(&state, &id, &request.worker_id, Report::Complete { output }).await
}

#[utoipa::path(post, path = "/tasks/{id}/fail", operation_id = "failTask", tag = "workers",
    params(("id" = String, Path)), request_body(content((FailRequest = "application/json"))),
    responses(
        (status = 200, description = "Recorded: queued again after the step's backoff, or failed", body = TaskState),
        (status = 400, description = "Malformed JSON, or an unknown, missing or mistyped field", body = ErrorBody),
        (status = 404, description = "No such task", body = ErrorBody),
        (status = 409, description = "The task is not this worker's, or ended already (`task_not_held`)", body = ErrorBody),
        (status = 422, description = "A value breaks a rule", body = ErrorBody),
    ))]
pub async fn fail(
    State(state): State<AppState>,
    PathId(id): PathId,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<TaskState>, ApiError> {
    let request: FailRequest = decode_json(&body?)?;
    if request.error.len() > 16 * 1024 {
        return Err(invalid("error", "may hold at most 16 KiB"));
    }
    let report_of = Report::Fail {
        error: request.error,
        retryable: request.retryable,
    };
    report(&state, &id, &request.worker_id, report_of).await
}
