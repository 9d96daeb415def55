mod executions;
mod health;
mod path;
mod trigger;
mod workflows;

use crate::{auth, guard, ApiError, AppState};
use axum::extract::DefaultBodyLimit;
use axum::Router;
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
