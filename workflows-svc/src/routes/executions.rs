//! Executions history.

use super::page_limit;
use super::path::PathId;
use crate::openapi::{ErrorBody, ExecutionPage};
use crate::{ApiError, AppState};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use shared::domain::{Execution, ExecutionStatus};
use shared::repo::ExecutionQuery;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Items per page, 1 to 500 (50 when absent; a page also stops near 2 MiB).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
    /// Only executions in this status.
    #[param(value_type = Option<ExecutionStatus>)]
    status: Option<String>,
}

#[utoipa::path(get, path = "/workflows/{id}/executions", operation_id = "listExecutions", tag = "executions",
    params(("id" = String, Path), ListParams),
    responses(
        (status = 200, description = "A page of the workflow's executions, newest first (a deleted workflow's history too)", body = ExecutionPage),
        (status = 400, description = "A bad query parameter (`invalid_query`)", body = ErrorBody),
        (status = 404, description = "No workflow of this id, and no history", body = ErrorBody),
    ))]
pub async fn list_for_workflow(
    State(state): State<AppState>,
    PathId(id): PathId,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<ExecutionPage>, ApiError> {
    let Query(params) = params?;
    let status = match params.status.as_deref() {
        None => None,
        Some(s) => Some(ExecutionStatus::parse(s).ok_or_else(|| {
            ApiError::InvalidQuery(format!(
                "Query `status` is `{s}`; use one of {}.",
                super::execution_statuses()
            ))
        })?),
    };
    let first_page = params.cursor.is_none();
    let query = ExecutionQuery {
        status,
        cursor: params.cursor,
        limit: page_limit(params.limit)?,
    };
    let page = state
        .backends
        .executions
        .list_for_workflow(&id, &query)
        .await?;
    // History outlives a deleted workflow; only an id never seen at all is unknown.
    if first_page && page.items.is_empty() && state.backends.workflows.get(&id).await?.is_none() {
        return Err(ApiError::NotFound(format!("There is no workflow `{id}`.")));
    }
    Ok(Json(ExecutionPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/executions/{id}", operation_id = "getExecution", tag = "executions", params(("id" = String, Path)),
    responses(
        (status = 200, description = "The execution, with each action's result", body = Execution),
        (status = 404, description = "No such execution", body = ErrorBody),
    ))]
pub async fn get_one(
    State(state): State<AppState>,
    PathId(id): PathId,
) -> Result<Json<Execution>, ApiError> {
    let not_found = || ApiError::NotFound(format!("There is no execution `{id}`."));
    let execution_id = uuid::Uuid::parse_str(&id).map_err(|_| not_found())?;
    state
        .backends
        .executions
        .get(execution_id)
        .await?
        .map(Json)
        .ok_or_else(not_found)
}
