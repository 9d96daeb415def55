//! Issue 9, must show 6: `overlap: bufferOne` keeps one trigger that comes during a slow
//! execution and runs it once that execution ends; the others are refused as busy.

use crate::periodic::instant;
use crate::support::{Reply, Sink, TestApp, Transport, SOON};
use serde_json::json;
use std::time::Duration;

async fn buffer_one_runs_exactly_one_more_after_a_slow_execution(transport: Transport) {
    let Some(app) = TestApp::spawn(
        transport,
        "buffer_one_runs_exactly_one_more_after_a_slow_execution",
    )
    .await
    else {
        return;
    };
    let sink = Sink::start().await;
    sink.script("/slow", [Reply::ok_after(Duration::from_millis(1500))]);
    app.create(&json!({"workflowId": "buffered",
        "trigger": {"type": "manual", "overlap": "bufferOne"},
        "actions": [{"type": "http-request", "url": sink.url("/slow")}]}))
        .await;
    let first = app.trigger("buffered").await;
    sink.wait_for("/slow", 1, SOON).await;

    let mut answers = Vec::new();
    for _ in 0..3 {
        let (status, body) = app.post("/workflows/buffered/trigger", &json!(null)).await;
        answers.push((status.as_u16(), body));
    }
    assert_eq!(answers[0].0, 202, "{:?}", answers[0]);
    assert_eq!(answers[0].1["status"], "buffered");
    for (status, body) in &answers[1..] {
        assert_eq!(
            (*status, body["error"].as_str()),
            (409, Some("workflow_busy")),
            "{body}"
        );
    }
    let second = answers[0].1["executionId"].as_str().unwrap().to_string();
    let (_, waiting) = app.get(&format!("/executions/{second}")).await;
    assert_eq!(waiting["status"], "buffered", "{waiting}");

    let first = app.wait_terminal(&first).await;
    let second = app.wait_terminal(&second).await;
    assert_eq!(
        (first["status"].as_str(), second["status"].as_str()),
        (Some("succeeded"), Some("succeeded"))
    );
    assert!(
        instant(&second["startedAt"]) >= instant(&first["finishedAt"]),
        "the buffered one ran after the first ended: {first} {second}"
    );
    let executions = app.settled_executions_of("buffered").await;
    assert_eq!(executions.len(), 2, "exactly one more: {executions:?}");
    assert_eq!(sink.hits("/slow").len(), 2);
    app.wait_trigger_status("buffered", "idle").await;
}

crate::on_every_transport!(buffer_one_runs_exactly_one_more_after_a_slow_execution);
