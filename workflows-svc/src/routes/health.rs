use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "operations",
    responses((status = 200, description = "The process answers", body = Object, example = json!({"status": "ok"}))))]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the store and the transport answer.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "operations",
    responses(
        (status = 200, description = "The store and the transport answer", body = Object),
        (status = 503, description = "The store or the transport does not answer; the body says which", body = Object),
    ))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let store = state
        .backends
        .workflows
        .ping()
        .await
        .err()
        .map(|e| e.to_string());
    let transport = state
        .backends
        .transport
        .ready()
        .await
        .err()
        .map(|e| e.to_string());
    let ready = store.is_none() && transport.is_none();
    let check = |problem: Option<String>| match problem {
        None => json!({ "status": "ok" }),
        Some(reason) => json!({ "status": "unavailable", "reason": reason }),
    };
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "store": check(store),
        "transport": check(transport),
    });
    (
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        Json(body),
    )
}

/// Prometheus text format: the counters of everything this process runs.
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String)))]
pub async fn metrics() -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        shared::telemetry::metrics().render(),
    )
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", operation_id = "openapi", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", body = Object)))]
pub async fn openapi() -> Json<&'static Value> {
    Json(crate::openapi::document())
}
