//! The service registry: `POST/GET /services`, `GET/PUT/DELETE /services/{name}`. Versioned
//! like workflows (ETag, `If-Match`); a service that workflows call cannot be deleted.

use super::path::PathId;
use super::{check_version, expected_version, page_limit, same_name, versioned_response};
use crate::body::decode_service;
use crate::openapi::{ErrorBody, ServicePage};
use crate::{ApiError, AppState};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use shared::domain::{Service, ServiceSpec, WorkflowSpec};
use shared::repo::RepoError;
use shared::time;
use std::collections::BTreeMap;

fn service_response(status: StatusCode, service: &Service) -> Response {
    let location = format!("/services/{}", service.name());
    versioned_response(status, service, service.version, &location)
}

#[utoipa::path(post, path = "/services", operation_id = "createService", tag = "services",
    request_body(content(
        (ServiceSpec = "application/json", example = json!(crate::openapi::service_example())),
        (ServiceSpec = "application/yaml"),
    )),
    responses(
        (status = 201, description = "Registered; `ETag` is its version, `Location` its path", body = Service,
            headers(("ETag" = String), ("Location" = String))),
        (status = 400, description = "Malformed JSON, or an unknown, missing or mistyped field", body = ErrorBody),
        (status = 409, description = "A service with this name exists (`already_exists`)", body = ErrorBody),
        (status = 413, description = "A body over 1 MiB", body = ErrorBody),
        (status = 422, description = "A value breaks a rule (`validation_failed`, naming the field)", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let spec = decode_service(&headers, &body?)?;
    let service = Service::created(spec, time::now());
    state
        .backends
        .services
        .create(&service)
        .await
        .map_err(|e| match e {
            RepoError::AlreadyExists(name) => ApiError::ServiceExists(name),
            other => other.into(),
        })?;
    Ok(service_response(StatusCode::CREATED, &service))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Items per page, 1 to 500 (50 when absent).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/services", operation_id = "listServices", tag = "services", params(ListParams),
    responses(
        (status = 200, description = "A page of services, ordered by name", body = ServicePage),
        (status = 400, description = "A bad query parameter (`invalid_query`)", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<ServicePage>, ApiError> {
    let Query(params) = params?;
    let limit = page_limit(params.limit)?;
    let page = state
        .backends
        .services
        .list(params.cursor.as_deref(), limit)
        .await?;
    Ok(Json(ServicePage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/services/{name}", operation_id = "getService", tag = "services", params(("name" = String, Path)),
    responses(
        (status = 200, description = "The service; `ETag` is its version", body = Service, headers(("ETag" = String))),
        (status = 404, description = "No such service", body = ErrorBody),
    ))]
pub async fn get_one(
    State(state): State<AppState>,
    PathId(name): PathId,
) -> Result<Response, ApiError> {
    let service = find_service(&state, &name).await?;
    Ok(service_response(StatusCode::OK, &service))
}

async fn find_service(state: &AppState, name: &str) -> Result<Service, ApiError> {
    state
        .backends
        .services
        .get(name)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("There is no service `{name}`.")))
}

#[utoipa::path(put, path = "/services/{name}", operation_id = "updateService", tag = "services",
    params(("name" = String, Path),
        ("If-Match" = Option<String>, Header, description = "The ETag of the version this update is based on; `*` for any")),
    request_body(description = "The whole definition; `version` may stand in for `If-Match`",
        content((ServiceSpec = "application/json"), (ServiceSpec = "application/yaml"))),
    responses(
        (status = 200, description = "Updated; `ETag` is the new version", body = Service, headers(("ETag" = String))),
        (status = 400, description = "Malformed JSON, or an unknown, missing or mistyped field", body = ErrorBody),
        (status = 404, description = "No such service", body = ErrorBody),
        (status = 409, description = "The service is at another version (`version_conflict`)", body = ErrorBody),
        (status = 413, description = "A body over 1 MiB", body = ErrorBody),
        (status = 422, description = "A value breaks a rule, or `name` differs from the path", body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    PathId(name): PathId,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let mut spec = decode_service(&headers, &body?)?;
    same_name("name", &spec.name, &name, "service")?;
    let expected = expected_version(&headers, spec.version)?;
    spec.version = None;
    let old = find_service(&state, &name).await?;
    check_version(expected, old.version)?;
    let service = Service {
        spec,
        version: old.version + 1,
        updated_at: time::now(),
        ..old.clone()
    };
    state
        .backends
        .services
        .update(&service, old.version)
        .await?;
    Ok(service_response(StatusCode::OK, &service))
}

#[utoipa::path(delete, path = "/services/{name}", operation_id = "deleteService", tag = "services", params(("name" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such service", body = ErrorBody),
        (status = 409, description = "Workflows call it (`service_in_use`, naming them)", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    PathId(name): PathId,
) -> Result<StatusCode, ApiError> {
    match state.backends.services.delete(&name).await {
        Ok(true) => Ok(StatusCode::NO_CONTENT),
        Ok(false) => Err(ApiError::NotFound(format!("There is no service `{name}`."))),
        Err(RepoError::InUse(workflows)) => Err(ApiError::ServiceInUse {
            service: name,
            workflows,
        }),
        Err(other) => Err(other.into()),
    }
}

/// The service steps of a workflow being saved, against the registry (422 naming the step
/// and input).
pub async fn check_service_calls(state: &AppState, spec: &WorkflowSpec) -> Result<(), ApiError> {
    let mut registry = BTreeMap::new();
    for name in spec.services() {
        if let Some(service) = state.backends.services.get(name).await? {
            registry.insert(name.to_string(), service.spec);
        }
    }
    Ok(shared::domain::validation::validate_service_calls(
        spec, &registry,
    )?)
}
