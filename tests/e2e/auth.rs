//! With WFA_API_TOKEN set, every route but the health probes needs the bearer token.

use crate::support::{TestApp, Transport};
use reqwest::StatusCode;

async fn api_token_is_required_except_for_probes(transport: Transport) {
    let settings = [("WFA_API_TOKEN", "s3cret-s3cret-s3cret")];
    let Some(app) = TestApp::spawn_with(transport, "api_token_is_required", &settings).await else {
        return;
    };
    let (status, body) = app.get("/workflows").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "unauthorized");
    let wrong = app
        .http
        .get(format!("{}/workflows", app.base))
        .bearer_auth("guess");
    assert_eq!(app.send(wrong).await.0, StatusCode::UNAUTHORIZED);
    let right = app
        .http
        .get(format!("{}/workflows", app.base))
        .bearer_auth("s3cret-s3cret-s3cret");
    assert_eq!(app.send(right).await.0, StatusCode::OK);
    // The scheme is case-insensitive (RFC 9110).
    let lower = app
        .http
        .get(format!("{}/workflows", app.base))
        .header("authorization", "bearer s3cret-s3cret-s3cret");
    assert_eq!(app.send(lower).await.0, StatusCode::OK);
    assert_eq!(app.get("/healthz").await.0, StatusCode::OK);
}

crate::on_every_transport!(api_token_is_required_except_for_probes);
