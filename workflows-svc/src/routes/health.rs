use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

/// Liveness: the process answers.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the store and the transport answer.
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
pub async fn metrics() -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        shared::telemetry::metrics().render(),
    )
}
