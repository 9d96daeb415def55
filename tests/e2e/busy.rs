//! Must show 5: a trigger while the workflow is busy or pending gets 409 naming the execution.

use crate::support::{Reply, Sink, TestApp, Transport, SOON};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

async fn trigger_conflict(app: &TestApp, workflow_id: &str) -> Value {
    let (status, body) = app
        .post(&format!("/workflows/{workflow_id}/trigger"), &Value::Null)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "workflow_busy");
    body
}

async fn trigger_is_refused_while_busy_or_pending(transport: Transport) {
    let Some(app) = TestApp::spawn(transport, "trigger_is_refused_while_busy_or_pending").await
    else {
        return;
    };
    let sink = Sink::start().await;
    sink.script(
        "/slow",
        [Reply {
            status: 200,
            delay: Duration::from_millis(800),
        }],
    );
    sink.script("/fails-once", [500]);
    app.create(&json!({"workflowId": "slow", "trigger": {"type": "manual"},
        "actions": [{"type": "http-request", "url": sink.url("/slow")}]}))
        .await;
    app.create(
        &json!({"workflowId": "pending", "trigger": {"type": "manual"},
        "actions": [{"type": "http-request", "url": sink.url("/fails-once")}],
        "retry": {"initialDelay": "1s", "jitter": 0.0}}),
    )
    .await;

    // Busy: accepted, and refused until it ends.
    let running = app.trigger("slow").await;
    let refused = trigger_conflict(&app, "slow").await;
    assert_eq!(refused["details"]["currentExecutionId"], running.as_str());
    assert!(
        refused["message"].as_str().unwrap().contains(&running),
        "{refused}"
    );
    app.wait_terminal(&running).await;
    let after = app.trigger("slow").await;
    app.wait_terminal(&after).await;

    // Pending: the first attempt failed and its retry waits.
    let retrying = app.trigger("pending").await;
    sink.wait_for("/fails-once", 1, SOON).await;
    let deadline = std::time::Instant::now() + SOON;
    while app.get("/workflows/pending").await.1["trigger"]["status"] != "pending" {
        assert!(
            std::time::Instant::now() < deadline,
            "workflow never became pending"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let refused = trigger_conflict(&app, "pending").await;
    assert_eq!(refused["details"]["status"], "pending");
    assert_eq!(refused["details"]["currentExecutionId"], retrying.as_str());
    assert_eq!(app.wait_terminal(&retrying).await["status"], "succeeded");
    assert_eq!(
        app.executions_of("pending").await.len(),
        1,
        "the refused trigger recorded nothing"
    );
}

async fn concurrent_triggers_accept_exactly_one(transport: Transport) {
    let Some(app) = TestApp::spawn(transport, "concurrent_triggers_accept_exactly_one").await
    else {
        return;
    };
    let sink = Sink::start().await;
    app.create(&json!({"workflowId": "race", "trigger": {"type": "manual"},
        "actions": [{"type": "http-request", "url": sink.url("/race")}]}))
        .await;
    sink.script(
        "/race",
        [Reply {
            status: 200,
            delay: Duration::from_millis(500),
        }],
    );
    let mut triggers = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (http, url) = (
            app.http.clone(),
            format!("{}/workflows/race/trigger", app.base),
        );
        triggers.spawn(async move { http.post(url).send().await.unwrap().status() });
    }
    let statuses = triggers.join_all().await;
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::ACCEPTED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        19,
        "{statuses:?}"
    );
}

crate::on_every_transport!(
    trigger_is_refused_while_busy_or_pending,
    concurrent_triggers_accept_exactly_one
);
