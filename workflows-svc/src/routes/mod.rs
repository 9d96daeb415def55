mod executions;
mod health;
mod path;
mod services;
mod trigger;
mod workers;
mod workflows;

use crate::{auth, guard, ApiError, AppState};
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Bodies above this are refused with 413 before they are read whole.
const MAX_BODY_BYTES: usize = 1 << 20;

/// Every route, each registered with its OpenAPI operation: what is served is what is
/// documented.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(workflows::create, workflows::list))
        .routes(routes!(
            workflows::get_one,
            workflows::update,
            workflows::delete
        ))
        .routes(routes!(services::create, services::list))
        .routes(routes!(
            services::get_one,
            services::update,
            services::delete
        ))
        .routes(routes!(workers::poll))
        .routes(routes!(workers::heartbeat))
        .routes(routes!(workers::complete))
        .routes(routes!(workers::fail))
        .routes(routes!(trigger::trigger))
        .routes(routes!(workflows::pause))
        .routes(routes!(workflows::resume))
        .routes(routes!(executions::list_for_workflow))
        .routes(routes!(executions::get_one))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .routes(routes!(health::openapi))
}

pub fn router(state: AppState) -> Router {
    let (routes, _document) = api_router().split_for_parts();
    routes
        .merge(crate::ui::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .layer(axum::middleware::from_fn(count_requests))
        // Outermost: a cross-site or rebound request is refused before anything else runs.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::refuse_browser_attacks,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Counts every answered request by its route pattern (not its path: ids would explode the
/// label set) and status.
async fn count_requests(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    shared::telemetry::measure::http_request(route, response.status().as_u16());
    response
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("There is no route {}.", uri.path()))
}

async fn method_not_allowed(
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = serde_json::json!({
        "error": "method_not_allowed",
        "message": format!("{method} is not allowed on {}.", uri.path()),
    });
    (axum::http::StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}

pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 500;

/// A listing's `limit`, checked.
pub fn page_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit.unwrap_or(DEFAULT_PAGE) {
        n @ 1..=MAX_PAGE => Ok(n),
        n => Err(ApiError::InvalidQuery(format!(
            "Query `limit` is {n}; use 1 to {MAX_PAGE}."
        ))),
    }
}

/// The trigger types a workflow listing filters on, as a refusal names them.
pub const TRIGGER_TYPES: &str = "periodic, cron or manual";

/// A trigger-type filter's value, when it is one of [`TRIGGER_TYPES`].
pub fn trigger_type(kind: &str) -> Option<String> {
    matches!(kind, "periodic" | "cron" | "manual").then(|| kind.to_string())
}

/// The statuses an execution listing filters on, as a refusal names them.
pub fn execution_statuses() -> String {
    let known: Vec<&str> = shared::domain::ExecutionStatus::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    known.join(", ")
}

/// What the `q` of a listing may hold.
pub const ID_SEARCH_RULE: &str = "only what an id holds: up to 128 of A-Z a-z 0-9 . _ -";

/// The `q` of a listing: `None` when empty; refused when it could be no part of an id (any
/// part of an id is itself a valid id).
pub fn id_search(q: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(text) = q.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    shared::domain::validation::validate_workflow_id(&text)
        .map_err(|_| ApiError::InvalidQuery(format!("Query `q` may hold {ID_SEARCH_RULE}")))?;
    Ok(Some(text))
}

/// A versioned resource (a workflow, a service) with its version as the ETag, so that
/// `If-Match` can guard the next update; a created one also gets its `Location`.
pub fn versioned_response(
    status: StatusCode,
    body: &impl serde::Serialize,
    version: u64,
    location: &str,
) -> Response {
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(&format!("\"{version}\"")).expect("digits"),
    );
    if status == StatusCode::CREATED {
        headers.insert(
            header::LOCATION,
            HeaderValue::from_str(location).expect("a validated name"),
        );
    }
    response
}

/// The version a client says it is updating: `If-Match: "3"`, or `"version": 3` in the body.
/// `None`: any version (`If-Match: *`, or neither given).
pub fn expected_version(
    headers: &HeaderMap,
    in_body: Option<u64>,
) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(in_body);
    };
    if value.as_bytes() == b"*" {
        return Ok(None);
    }
    let text = value
        .to_str()
        .unwrap_or_default()
        .trim()
        .trim_start_matches("W/")
        .trim_matches('"');
    text.parse().map(Some).map_err(|_| ApiError::Validation {
        field: "If-Match".to_string(),
        message: format!("`{text}` is not a version; send the ETag of the last GET"),
    })
}

/// An update names the resource it replaces: `field` in the body must be the path's.
pub fn same_name(field: &str, in_body: &str, in_path: &str, what: &str) -> Result<(), ApiError> {
    if in_body == in_path {
        return Ok(());
    }
    Err(ApiError::Validation {
        field: field.to_string(),
        message: format!(
            "`{in_body}` differs from `{in_path}` in the path; a {what} cannot be renamed"
        ),
    })
}

/// The version the client based its update on, if it gave one, must be the stored one.
pub fn check_version(expected: Option<u64>, current: u64) -> Result<(), ApiError> {
    match expected {
        Some(v) if v != current => Err(ApiError::VersionConflict { current }),
        _ => Ok(()),
    }
}
