//! Executions history.

use super::path::PathId;
use super::workflows::page_limit;
use crate::{ApiError, AppState};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use shared::domain::{Execution, ExecutionStatus};
use shared::repo::ExecutionQuery;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListParams {
    limit: Option<usize>,
    cursor: Option<String>,
    status: Option<String>,
}

pub async fn list_for_workflow(
    State(state): State<AppState>,
    PathId(id): PathId,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params?;
    let status = match params.status.as_deref() {
        None => None,
        Some(s) => Some(ExecutionStatus::parse(s).ok_or_else(|| {
            let known: Vec<&str> = ExecutionStatus::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::InvalidQuery(format!(
                "Query `status` is `{s}`; use one of {}.",
                known.join(", ")
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
    Ok(Json(
        json!({ "items": page.items, "nextCursor": page.next_cursor }),
    ))
}

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
