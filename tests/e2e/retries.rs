//! Must show 4: retries resume at the failed action with the configured backoff; 4xx fails at
//! once; exhausted retries end `failed` and the workflow goes back to idle.

use crate::support::{Sink, TestApp, Transport, SOON};
use serde_json::{json, Value};

fn two_step_workflow(id: &str, sink: &Sink, max_attempts: u32) -> Value {
    json!({
        "workflowId": id,
        "trigger": {"type": "manual"},
        "actions": [
            {"type": "http-request", "url": sink.url("/first")},
            {"type": "http-request", "url": sink.url("/flaky")}
        ],
        "retry": {"maxAttempts": max_attempts, "initialDelay": "200ms", "multiplier": 2.0, "jitter": 0.1}
    })
}

async fn server_errors_are_retried_with_backoff_resuming_at_the_failed_action(
    transport: Transport,
) {
    let Some(app) = TestApp::spawn(transport, "server_errors_are_retried_with_backoff").await
    else {
        return;
    };
    let sink = Sink::start().await;
    sink.script("/flaky", [500, 500, 200]);
    app.create(&two_step_workflow("flaky", &sink, 3)).await;
    let id = app.trigger("flaky").await;

    let execution = app.wait_terminal(&id).await;
    assert_eq!(execution["status"], "succeeded", "{execution}");
    assert_eq!(execution["attempt"], 3);
    assert_eq!(
        execution["actions"][0]["attempts"], 1,
        "the action that succeeded is not repeated"
    );
    assert_eq!(execution["actions"][1]["attempts"], 3);
    assert_eq!(sink.hits("/first").len(), 1);
    let hits = sink.hits("/flaky");
    assert_eq!(hits.len(), 3);
    // Delay before attempt n+1 is 200ms × 2^(n−1) ± 10%. Upper bounds allow for scheduling.
    for (gap, base_ms) in [
        (hits[1].at - hits[0].at, 200.0),
        (hits[2].at - hits[1].at, 400.0),
    ] {
        let ms = gap.as_secs_f64() * 1000.0;
        assert!(
            ms >= base_ms * 0.9 - 1.0,
            "retried after {ms:.0}ms, before {base_ms}ms - 10%"
        );
        assert!(
            ms <= base_ms * 1.1 + 400.0,
            "retried after {ms:.0}ms, long after {base_ms}ms + 10%"
        );
    }
    app.wait_trigger_status("flaky", "idle").await;
}

async fn client_errors_fail_at_once(transport: Transport) {
    let Some(app) = TestApp::spawn(transport, "client_errors_fail_at_once").await else {
        return;
    };
    let sink = Sink::start().await;
    sink.script("/flaky", [404]);
    app.create(&two_step_workflow("gone", &sink, 5)).await;
    let id = app.trigger("gone").await;
    let execution = app.wait_terminal(&id).await;
    assert_eq!(execution["status"], "failed", "{execution}");
    assert_eq!(execution["attempt"], 1);
    assert!(
        execution["error"].as_str().unwrap().contains("got 404"),
        "{execution}"
    );
    assert_eq!(sink.hits("/flaky").len(), 1);
    app.wait_trigger_status("gone", "idle").await;
}

async fn exhausted_retries_fail_and_free_the_workflow(transport: Transport) {
    let Some(app) = TestApp::spawn(transport, "exhausted_retries_fail_and_free_the_workflow").await
    else {
        return;
    };
    let sink = Sink::start().await;
    sink.script("/flaky", [503, 500, 502]);
    app.create(&two_step_workflow("doomed", &sink, 3)).await;
    let id = app.trigger("doomed").await;
    let execution = app.wait_terminal(&id).await;
    assert_eq!(execution["status"], "failed", "{execution}");
    assert_eq!(execution["attempt"], 3);
    assert!(
        execution["error"]
            .as_str()
            .unwrap()
            .contains("retries exhausted"),
        "{execution}"
    );
    assert_eq!(sink.hits("/flaky").len(), 3);
    assert_eq!(sink.hits("/first").len(), 1);
    app.wait_trigger_status("doomed", "idle").await;
    // Idle again: the next trigger is accepted and runs.
    let next = app.trigger("doomed").await;
    assert_eq!(app.wait_terminal(&next).await["status"], "succeeded");
    sink.wait_for("/flaky", 4, SOON).await;
}

crate::on_every_transport!(
    server_errors_are_retried_with_backoff_resuming_at_the_failed_action,
    client_errors_fail_at_once,
    exhausted_retries_fail_and_free_the_workflow,
);
