//! Workflow CRUD.

use super::path::PathId;
use super::services::check_service_calls;
use super::{
    check_version, expected_version, id_search, page_limit, same_name, versioned_response,
};
use crate::body::decode_spec;
use crate::openapi::{ErrorBody, WorkflowPage};
use crate::{ApiError, AppState};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use shared::domain::{TriggerStatus, Workflow, WorkflowSpec};
use shared::repo::WorkflowQuery;
use shared::time::{self, Timestamp};

/// A workflow with its version as the ETag, so `If-Match` can guard the next update.
fn workflow_response(status: StatusCode, workflow: &Workflow) -> Response {
    let location = format!("/workflows/{}", workflow.id());
    versioned_response(status, workflow, workflow.version, &location)
}

#[utoipa::path(post, path = "/workflows", operation_id = "createWorkflow", tag = "workflows",
    request_body(content(
        (WorkflowSpec = "application/json", example = json!(crate::openapi::seed_example())),
        (WorkflowSpec = "application/yaml"),
    )),
    responses(
        (status = 201, description = "Created; `ETag` is its version, `Location` its path", body = Workflow,
            headers(("ETag" = String), ("Location" = String))),
        (status = 400, description = "Malformed JSON, or an unknown, missing or mistyped field", body = ErrorBody),
        (status = 409, description = "A workflow with this id exists (`already_exists`)", body = ErrorBody),
        (status = 413, description = "A body over 1 MiB", body = ErrorBody),
        (status = 422, description = "A value breaks a rule (`validation_failed`, naming the field)", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let spec = decode_spec(&headers, &body?)?;
    check_service_calls(&state, &spec).await?;
    let workflow = Workflow::created(spec, time::now());
    state.backends.workflows.create(&workflow).await?;
    if workflow.next_run_at.is_some() {
        state.backends.wakeups.schedule.notify_one();
    }
    Ok(workflow_response(StatusCode::CREATED, &workflow))
}

#[utoipa::path(get, path = "/workflows/{id}", operation_id = "getWorkflow", tag = "workflows", params(("id" = String, Path)),
    responses(
        (status = 200, description = "The workflow; `ETag` is its version", body = Workflow, headers(("ETag" = String))),
        (status = 404, description = "No such workflow", body = ErrorBody),
    ))]
pub async fn get_one(
    State(state): State<AppState>,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let workflow = find_workflow(&state, &id).await?;
    Ok(workflow_response(StatusCode::OK, &workflow))
}

pub async fn find_workflow(state: &AppState, id: &str) -> Result<Workflow, ApiError> {
    state
        .backends
        .workflows
        .get(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("There is no workflow `{id}`.")))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Items per page, 1 to 500 (50 when absent; a page also stops near 2 MiB).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
    /// `periodic`, `cron` or `manual`.
    #[param(pattern = "^(periodic|cron|manual)$")]
    trigger_type: Option<String>,
    /// `idle`, `busy` or `pending`.
    #[param(pattern = "^(idle|busy|pending)$")]
    status: Option<String>,
    paused: Option<bool>,
    /// Only workflows whose id contains this text, whatever its case.
    #[param(max_length = 128)]
    q: Option<String>,
}

#[utoipa::path(get, path = "/workflows", operation_id = "listWorkflows", tag = "workflows", params(ListParams),
    responses(
        (status = 200, description = "A page of workflows, ordered by id", body = WorkflowPage),
        (status = 400, description = "A bad query parameter (`invalid_query`)", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<WorkflowPage>, ApiError> {
    let Query(params) = params?;
    let trigger_type = match params.trigger_type.as_deref() {
        None => None,
        Some(kind) => Some(super::trigger_type(kind).ok_or_else(|| {
            ApiError::InvalidQuery(format!(
                "Query `triggerType` is `{kind}`; use {}.",
                super::TRIGGER_TYPES
            ))
        })?),
    };
    let status = match params.status.as_deref() {
        None => None,
        Some(s) => Some(TriggerStatus::parse(s).ok_or_else(|| {
            ApiError::InvalidQuery(format!(
                "Query `status` is `{s}`; use idle, busy or pending."
            ))
        })?),
    };
    let query = WorkflowQuery {
        trigger_type,
        status,
        paused: params.paused,
        id_contains: id_search(params.q)?,
        cursor: params.cursor,
        limit: page_limit(params.limit)?,
    };
    let page = state.backends.workflows.list(&query).await?;
    Ok(Json(WorkflowPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// An unchanged schedule keeps its anchor; a new one starts counting now.
fn next_run_after_update(old: &Workflow, spec: &WorkflowSpec, now: Timestamp) -> Option<Timestamp> {
    let schedule = spec.trigger.schedule()?;
    match old.next_run_at {
        Some(next) if old.spec.trigger.same_schedule(&spec.trigger) => Some(next),
        _ => schedule.first_after(now),
    }
}

#[utoipa::path(put, path = "/workflows/{id}", operation_id = "updateWorkflow", tag = "workflows",
    params(("id" = String, Path),
        ("If-Match" = Option<String>, Header, description = "The ETag of the version this update is based on; `*` for any")),
    request_body(description = "The whole definition; `version` may stand in for `If-Match`",
        content((WorkflowSpec = "application/json"), (WorkflowSpec = "application/yaml"))),
    responses(
        (status = 200, description = "Updated; `ETag` is the new version", body = Workflow, headers(("ETag" = String))),
        (status = 400, description = "Malformed JSON, or an unknown, missing or mistyped field", body = ErrorBody),
        (status = 404, description = "No such workflow", body = ErrorBody),
        (status = 409, description = "The workflow is at another version (`version_conflict`)", body = ErrorBody),
        (status = 413, description = "A body over 1 MiB", body = ErrorBody),
        (status = 422, description = "A value breaks a rule, or `workflowId` differs from the path", body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    PathId(id): PathId,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let mut spec = decode_spec(&headers, &body?)?;
    same_name("workflowId", &spec.workflow_id, &id, "workflow")?;
    check_service_calls(&state, &spec).await?;
    let expected = expected_version(&headers, spec.version)?;
    spec.version = None;
    let old = find_workflow(&state, &id).await?;
    check_version(expected, old.version)?;
    let now = time::now();
    let workflow = Workflow {
        next_run_at: next_run_after_update(&old, &spec, now),
        spec,
        version: old.version + 1,
        updated_at: now,
        ..old.clone()
    };
    state
        .backends
        .workflows
        .update(&workflow, old.version)
        .await?;
    state.backends.wakeups.schedule.notify_one();
    Ok(workflow_response(StatusCode::OK, &workflow))
}

/// `POST /workflows/{id}/pause`: no slot fires and no trigger is taken until resumed.
#[utoipa::path(post, path = "/workflows/{id}/pause", operation_id = "pauseWorkflow", tag = "workflows", params(("id" = String, Path)),
    responses(
        (status = 200, description = "Paused: no slot fires, a trigger gets 409 `workflow_paused`", body = Workflow),
        (status = 404, description = "No such workflow", body = ErrorBody),
    ))]
pub async fn pause(
    State(state): State<AppState>,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    set_paused(&state, id, true).await
}

/// `POST /workflows/{id}/resume`: slots missed meanwhile are handled by the catch-up policy.
#[utoipa::path(post, path = "/workflows/{id}/resume", operation_id = "resumeWorkflow", tag = "workflows", params(("id" = String, Path)),
    responses(
        (status = 200, description = "Resumed; `catchUp` decides what the missed slots do", body = Workflow),
        (status = 404, description = "No such workflow", body = ErrorBody),
    ))]
pub async fn resume(
    State(state): State<AppState>,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let response = set_paused(&state, id, false).await?;
    state.backends.wakeups.schedule.notify_one();
    Ok(response)
}

async fn set_paused(state: &AppState, id: String, paused: bool) -> Result<Response, ApiError> {
    match state.backends.workflows.set_paused(&id, paused).await? {
        Some(workflow) => Ok(workflow_response(StatusCode::OK, &workflow)),
        None => Err(ApiError::NotFound(format!("There is no workflow `{id}`."))),
    }
}

#[utoipa::path(delete, path = "/workflows/{id}", operation_id = "deleteWorkflow", tag = "workflows", params(("id" = String, Path)),
    responses(
        (status = 204, description = "Deleted; its executions that had not ended are cancelled, its history stays"),
        (status = 404, description = "No such workflow", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    if state.backends.workflows.delete(&id, time::now()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("There is no workflow `{id}`.")))
    }
}
