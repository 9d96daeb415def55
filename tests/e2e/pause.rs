//! Pause and resume: a paused periodic workflow fires no slot, a paused manual one refuses its
//! trigger with 409 `workflow_paused`, and resuming applies `catchUp: last` (one run for the
//! slots missed).

use crate::periodic::{instant, stop_schedule};
use crate::support::{Sink, TestApp, Transport, SOON};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

async fn paused_workflows_fire_nothing_and_resume_catches_up_once(transport: Transport) {
    let Some(app) = TestApp::spawn(transport, "paused_workflows_fire_nothing").await else {
        return;
    };
    let sink = Sink::start().await;
    let created = app
        .create(
            &json!({"workflowId": "p", "trigger": {"type": "periodic", "interval": "1s"},
            "actions": [{"type": "http-request", "url": sink.url("/p")}]}),
        )
        .await;
    app.create(&json!({"workflowId": "m", "trigger": {"type": "manual"},
        "actions": [{"type": "log", "message": "m"}]}))
        .await;
    sink.wait_for("/p", 1, SOON).await;

    let (status, paused) = app.post("/workflows/p/pause", &Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    assert_eq!(paused["paused"], true);
    let ran_before = app.settled_executions_of("p").await.len();
    let calls_before = sink.hits("/p").len();
    // Three intervals paused: nothing fires.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    assert_eq!(
        app.executions_of("p").await.len(),
        ran_before,
        "a paused workflow fired"
    );
    assert_eq!(sink.hits("/p").len(), calls_before);

    assert_eq!(
        app.post("/workflows/m/pause", &Value::Null).await.0,
        StatusCode::OK
    );
    let (status, refused) = app.post("/workflows/m/trigger", &Value::Null).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"], "workflow_paused");
    assert!(app.executions_of("m").await.is_empty());
    let (_, listed) = app.get("/workflows?paused=true").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2, "{listed}");

    let resumed_at = chrono::Utc::now();
    let (status, resumed) = app.post("/workflows/p/resume", &Value::Null).await;
    assert_eq!(
        (status, &resumed["paused"]),
        (StatusCode::OK, &json!(false)),
        "{resumed}"
    );
    sink.wait_for("/p", calls_before + 1, SOON).await;
    stop_schedule(&app, "p").await;
    let executions = app.settled_executions_of("p").await;
    // Slots due while paused (between the last run and the resume) ran once, as one catch-up.
    let last_before_pause = executions
        .iter()
        .map(|e| instant(&e["scheduledFor"]))
        .filter(|t| *t < resumed_at - chrono::Duration::seconds(3))
        .max()
        .unwrap();
    let caught_up: Vec<_> = executions
        .iter()
        .filter(|e| {
            let t = instant(&e["scheduledFor"]);
            t > last_before_pause + chrono::Duration::seconds(1) && t <= resumed_at
        })
        .collect();
    assert_eq!(
        caught_up.len(),
        1,
        "catchUp last fires one of the missed slots: {executions:?}"
    );
    assert!(instant(&created["createdAt"]) < last_before_pause);

    assert_eq!(
        app.post("/workflows/m/resume", &Value::Null).await.0,
        StatusCode::OK
    );
    let id = app.trigger("m").await;
    assert_eq!(app.wait_terminal(&id).await["status"], "succeeded");
    assert_eq!(
        app.post("/workflows/nobody/pause", &Value::Null).await.0,
        StatusCode::NOT_FOUND
    );
}

crate::on_every_transport!(paused_workflows_fire_nothing_and_resume_catches_up_once);
