//! Manual triggers: record the execution (the outbox), then publish it.

use super::path::PathId;
use super::workflows::find_workflow;
use crate::openapi::{ErrorBody, TriggerAccepted};
use crate::{ApiError, AppState};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{Map, Value};
use shared::domain::ids::{idempotent_execution_id, new_execution_id};
use shared::domain::{Execution, Reason, Trigger};
use shared::repo::TriggerOutcome;
use shared::time;
use shared::transport::{hand_over, reserve_for};

const IDEMPOTENCY_KEY: &str = "idempotency-key";

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(key.to_string()))
        }
        _ => Err(ApiError::Validation {
            field: "Idempotency-Key".to_string(),
            message: "must be 1 to 255 visible ASCII characters".to_string(),
        }),
    }
}

/// The body of a trigger: nothing, `{}`, or `{"input": {...}}`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerRequest {
    /// Values for the workflow's declared inputs; defaults fill in the rest.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    input: Option<Map<String, Value>>,
}

fn trigger_request(body: &[u8]) -> Result<TriggerRequest, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(TriggerRequest::default());
    }
    let request: Option<TriggerRequest> = shared::domain::validation::decode_json(body)?;
    Ok(request.unwrap_or_default())
}

/// The input checked against the workflow's declared inputs, defaults filled in; `None` for
/// a workflow that declares none (and was given none).
pub fn checked_input(
    workflow: &shared::domain::Workflow,
    given: Option<&Map<String, Value>>,
) -> Result<Option<Value>, ApiError> {
    let declared = &workflow.spec.inputs;
    if declared.is_empty() && given.is_none_or(Map::is_empty) {
        return Ok(None);
    }
    shared::domain::inputs::resolve(declared, given)
        .map(|resolved| Some(Value::Object(resolved)))
        .map_err(|(field, message)| ApiError::Validation { field, message })
}

fn accepted(execution: &Execution) -> Response {
    let body = TriggerAccepted {
        execution_id: execution.execution_id,
        status: execution.status,
    };
    let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
    let location = format!("/executions/{}", execution.execution_id);
    response.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&location).expect("uuid"),
    );
    response
}

#[utoipa::path(post, path = "/workflows/{id}/trigger", operation_id = "triggerWorkflow", tag = "executions",
    request_body(content = Option<TriggerRequest>, description = "The input, when the workflow declares inputs"),
    params(("id" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters: a repeat gets the same execution")),
    responses(
        (status = 202, description = "Recorded: `queued`, or `running` when a runner of the same process took it at once, or `buffered` behind the current execution (under `overlap: bufferOne`); `Location` names the execution", body = TriggerAccepted,
            headers(("Location" = String))),
        (status = 404, description = "No such workflow", body = ErrorBody),
        (status = 409, description = "The workflow is busy or pending (`workflow_busy`, naming the current execution), or paused (`workflow_paused`)", body = ErrorBody),
        (status = 400, description = "A body that is not a trigger request (`invalid_body`)", body = ErrorBody),
        (status = 413, description = "A body over 1 MiB", body = ErrorBody),
        (status = 422, description = "A bad `Idempotency-Key`, or an input the workflow does not take (`validation_failed`, naming `input.NAME`)", body = ErrorBody),
        (status = 429, description = "Over the rate limit (`rate_limited`); `Retry-After` and `RateLimit-*` say when", body = ErrorBody,
            headers(("Retry-After" = u64), ("RateLimit-Limit" = u32), ("RateLimit-Remaining" = u32), ("RateLimit-Reset" = u64))),
    ))]
pub async fn trigger(
    State(state): State<AppState>,
    PathId(id): PathId,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let request = trigger_request(&body?)?;
    let workflow = find_workflow(&state, &id).await?;
    let input = checked_input(&workflow, request.input.as_ref())?;
    let execution_id = match &key {
        Some(key) => idempotent_execution_id(&id, workflow.created_at, key),
        None => new_execution_id(),
    };
    let now = time::now();
    let mut execution = Execution::queued(execution_id, &workflow, Reason::Manual, now, now);
    execution.input = input;
    let limit = match &workflow.spec.trigger {
        Trigger::Manual {
            rate_limit: Some(limit),
            ..
        } => Some(limit),
        _ => state.default_rate_limit.as_ref(),
    };
    // A runner in this process takes the execution as it is recorded: claimed for it already.
    let transport = &state.backends.transport;
    let reserved = reserve_for(transport, &workflow);
    let claim_for = reserved.as_ref().map(|r| r.lease());
    match state
        .backends
        .executions
        .accept_trigger(&execution, limit, claim_for)
        .await?
    {
        TriggerOutcome::Accepted(execution) => {
            shared::telemetry::measure::execution_accepted(Reason::Manual);
            // The execution is recorded: that is the promise behind the 202. Publishing is
            // not awaited, so a slow or absent broker never delays the answer; a publish that
            // fails is repaired by the scheduler's republishing of stale queued executions.
            hand_over(transport, reserved, &execution, &workflow).await;
            Ok(accepted(&execution))
        }
        // It waits behind the current execution, which queues it as it ends.
        TriggerOutcome::Buffered(execution) => {
            shared::telemetry::measure::execution_accepted(Reason::Manual);
            Ok(accepted(&execution))
        }
        TriggerOutcome::Existing(execution) if execution.workflow_id == id => {
            Ok(accepted(&execution))
        }
        TriggerOutcome::Existing(_) | TriggerOutcome::WorkflowNotFound => {
            Err(ApiError::NotFound(format!("There is no workflow `{id}`.")))
        }
        TriggerOutcome::Paused => Err(ApiError::Paused(id)),
        TriggerOutcome::RateLimited {
            max,
            retry_after,
            reset,
        } => Err(ApiError::RateLimited {
            workflow_id: id,
            max,
            retry_after,
            reset_in: time::until(reset, now),
        }),
        TriggerOutcome::Busy { status, current } => Err(ApiError::Busy {
            workflow_id: id,
            status,
            current,
        }),
    }
}
