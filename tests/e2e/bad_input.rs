//! Must show 8: every bad input gets a clear JSON error naming the problem, and changes nothing.

use crate::support::process::{binary, free_port};
use crate::support::{TestApp, Transport};
use reqwest::StatusCode;
use serde_json::{json, Value};

const SEED: &str = r#"{"workflowId":"recurrent-workflow","trigger":{"type":"periodic","interval":"10s"},"actions":[{"type":"http-request","url":"https://example.com","method":"GET"}]}"#;

/// A workflow that exists before the bad request, so "changes nothing" has something to keep.
const EXISTING: &str = r#"{"workflowId":"existing","trigger":{"type":"manual"},"actions":[{"type":"log","message":"hi"}]}"#;

/// Posts `body` raw to `/workflows` on a fresh app; checks status, code and that the message
/// mentions `mention`; then checks that the stored workflows did not change.
async fn expect_rejected(
    transport: Transport,
    test: &str,
    body: Vec<u8>,
    status: StatusCode,
    code: &str,
    mention: &str,
) {
    let Some(app) = TestApp::spawn(transport, test).await else {
        return;
    };
    app.create(&serde_json::from_str(EXISTING).unwrap()).await;
    let (_, before) = app.get("/workflows").await;
    let request = app
        .http
        .post(format!("{}/workflows", app.base))
        .header("content-type", "application/json")
        .body(body);
    let (got_status, error) = app.send(request).await;
    assert_eq!(got_status, status, "{error}");
    assert_eq!(error["error"], code, "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains(mention),
        "message {message:?} should mention {mention:?}"
    );
    assert_eq!(
        app.get("/workflows").await.1,
        before,
        "a rejected request changed the stored workflows"
    );
}

fn seed_with(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut seed: Value = serde_json::from_str(SEED).unwrap();
    edit(&mut seed);
    serde_json::to_vec(&seed).unwrap()
}

async fn malformed_json(t: Transport) {
    expect_rejected(
        t,
        "malformed_json",
        b"{\"workflowId\":".to_vec(),
        StatusCode::BAD_REQUEST,
        "malformed_json",
        "not valid JSON",
    )
    .await
}

async fn unknown_field(t: Transport) {
    let body = seed_with(|s| s["colour"] = json!("red"));
    expect_rejected(
        t,
        "unknown_field",
        body,
        StatusCode::BAD_REQUEST,
        "invalid_body",
        "unknown field `colour`",
    )
    .await
}

async fn missing_workflow_id(t: Transport) {
    let body = seed_with(|s| {
        s.as_object_mut().unwrap().remove("workflowId");
    });
    expect_rejected(
        t,
        "missing_workflow_id",
        body,
        StatusCode::BAD_REQUEST,
        "invalid_body",
        "missing field `workflowId`",
    )
    .await
}

async fn bad_id_characters(t: Transport) {
    let body = seed_with(|s| s["workflowId"] = json!("no spaces/or slashes"));
    expect_rejected(
        t,
        "bad_id_characters",
        body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "`workflowId`",
    )
    .await
}

async fn unknown_action_type(t: Transport) {
    let body = seed_with(|s| s["actions"][0]["type"] = json!("shell"));
    expect_rejected(
        t,
        "unknown_action_type",
        body,
        StatusCode::BAD_REQUEST,
        "invalid_body",
        "unknown variant `shell`",
    )
    .await
}

async fn interval_with_unknown_unit(t: Transport) {
    let body = seed_with(|s| s["trigger"]["interval"] = json!("10x"));
    expect_rejected(
        t,
        "interval_with_unknown_unit",
        body,
        StatusCode::BAD_REQUEST,
        "invalid_body",
        "`10x` is not a duration",
    )
    .await
}

async fn interval_of_zero(t: Transport) {
    let body = seed_with(|s| s["trigger"]["interval"] = json!("0s"));
    expect_rejected(
        t,
        "interval_of_zero",
        body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "`trigger.interval`",
    )
    .await
}

async fn periodic_without_interval(t: Transport) {
    let body = seed_with(|s| {
        s["trigger"].as_object_mut().unwrap().remove("interval");
    });
    expect_rejected(
        t,
        "periodic_without_interval",
        body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "needs an interval",
    )
    .await
}

async fn url_without_http_scheme(t: Transport) {
    let body = seed_with(|s| s["actions"][0]["url"] = json!("ftp://example.com/file"));
    expect_rejected(
        t,
        "url_without_http_scheme",
        body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "http or https",
    )
    .await;
    let body = seed_with(|s| s["actions"][0]["url"] = json!("example.com"));
    expect_rejected(
        t,
        "url_without_scheme",
        body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "`actions[0].url`",
    )
    .await
}

async fn duplicate_workflow_id(t: Transport) {
    let body = seed_with(|s| s["workflowId"] = json!("existing"));
    expect_rejected(
        t,
        "duplicate_workflow_id",
        body,
        StatusCode::CONFLICT,
        "already_exists",
        "`existing` already exists",
    )
    .await
}

async fn body_over_one_mebibyte(t: Transport) {
    let body = seed_with(|s| s["actions"][0]["body"] = json!("x".repeat(1 << 20)));
    expect_rejected(
        t,
        "body_over_one_mebibyte",
        body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "1 MiB",
    )
    .await
}

async fn unknown_workflow_is_404_everywhere(t: Transport) {
    let Some(app) = TestApp::spawn(t, "unknown_workflow_is_404_everywhere").await else {
        return;
    };
    let seed: Value = serde_json::from_str(&SEED.replace("recurrent-workflow", "nope")).unwrap();
    let answers = [
        app.get("/workflows/nope").await,
        app.put("/workflows/nope", &seed).await,
        app.post("/workflows/nope/trigger", &Value::Null).await,
        app.get("/workflows/nope/executions").await,
        app.get("/executions/00000000-0000-0000-0000-000000000000")
            .await,
        app.get("/executions/not-a-uuid").await,
        app.get("/workflows/%FF").await,
    ];
    for (status, body) in answers {
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["error"], "not_found");
        assert!(
            body["message"].as_str().unwrap().contains("nope")
                || body["message"].as_str().unwrap().contains("execution")
                || body["message"]
                    .as_str()
                    .unwrap()
                    .contains("no such resource")
        );
    }
    assert_eq!(app.delete("/workflows/nope").await, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/workflows").await.1["items"], json!([]));
}

crate::on_every_transport!(
    malformed_json,
    unknown_field,
    missing_workflow_id,
    bad_id_characters,
    unknown_action_type,
    interval_with_unknown_unit,
    interval_of_zero,
    periodic_without_interval,
    url_without_http_scheme,
    duplicate_workflow_id,
    body_over_one_mebibyte,
    unknown_workflow_is_404_everywhere,
);

/// Start-up refuses a bad setting with one line that names the variable, and exits non-zero.
#[tokio::test]
async fn bad_configuration_value_stops_start_up_naming_the_variable() {
    for (var, value) in [
        ("LEASE_DURATION", "soon"),
        ("HTTP_ADDR", "not-an-address"),
        ("DATABASE_URL", "postgres://x"),
    ] {
        for program in ["wfa", "workflows-svc", "scheduler-svc", "runner-svc"] {
            let output = tokio::process::Command::new(binary(program))
                .env(var, value)
                .env(
                    "HTTP_ADDR",
                    if var == "HTTP_ADDR" {
                        value.to_string()
                    } else {
                        format!("127.0.0.1:{}", free_port())
                    },
                )
                .output()
                .await
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(
                output.status.code(),
                Some(2),
                "{program} with {var}={value}: {stderr}"
            );
            assert_eq!(
                stderr.lines().count(),
                1,
                "{program}: expected one line, got {stderr:?}"
            );
            assert!(
                stderr.contains(var),
                "{program}: {stderr:?} should name {var}"
            );
        }
    }
}
