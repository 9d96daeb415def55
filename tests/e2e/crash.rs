//! Must show 6: SIGKILL the process mid-execution, start it again: the execution still ends.

use crate::support::app::wait_terminal;
use crate::support::process::{settings, Service};
use crate::support::{Reply, Sink, Transport, SOON};
use serde_json::json;
use std::time::Duration;

async fn killed_mid_execution_the_work_still_finishes(transport: Transport) {
    let Some(transport_settings) =
        transport.settings("killed_mid_execution_the_work_still_finishes")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    // The first call hangs past the kill; the retry after the restart answers at once.
    sink.script(
        "/slow",
        [Reply {
            status: 200,
            delay: Duration::from_secs(60),
        }],
    );
    let first = settings(dir.path(), transport_settings.clone());
    let process = Service::start("wfa", &first, dir.path(), true).await;
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{}/workflows", process.base))
        .json(&json!({"workflowId": "crashy", "trigger": {"type": "manual"},
            "actions": [{"type": "log", "message": "before"}, {"type": "http-request", "url": sink.url("/slow")}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let accepted: serde_json::Value = http
        .post(format!("{}/workflows/crashy/trigger", process.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = accepted["executionId"].as_str().unwrap().to_string();
    sink.wait_for("/slow", 1, SOON).await;

    process.kill().await;
    let second = settings(dir.path(), transport_settings);
    let restarted = Service::start("wfa", &second, dir.path(), true).await;

    let execution = wait_terminal(&http, &restarted.base, &id).await;
    assert_eq!(execution["status"], "succeeded", "{execution}");
    assert_eq!(
        execution["actions"][0]["attempts"], 1,
        "the log action finished before the kill"
    );
    assert_eq!(
        execution["actions"][1]["attempts"], 2,
        "the interrupted action ran again"
    );
    assert_eq!(sink.hits("/slow").len(), 2);
}

/// SIGTERM mid-action: the process finishes the action within the grace, records it, exits 0.
async fn sigterm_finishes_in_flight_work_then_exits_cleanly(transport: Transport) {
    let Some(transport_settings) = transport.settings("sigterm_finishes_in_flight_work") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    sink.script(
        "/slow",
        [Reply {
            status: 200,
            delay: Duration::from_millis(700),
        }],
    );
    let mut settings = settings(dir.path(), transport_settings);
    settings.push(("SHUTDOWN_GRACE".into(), "10s".into()));
    let process = Service::start("wfa", &settings, dir.path(), true).await;
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{}/workflows", process.base))
        .json(
            &json!({"workflowId": "graceful", "trigger": {"type": "manual"},
            "actions": [{"type": "http-request", "url": sink.url("/slow")}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let accepted: serde_json::Value = http
        .post(format!("{}/workflows/graceful/trigger", process.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = accepted["executionId"].as_str().unwrap().to_string();
    sink.wait_for("/slow", 1, SOON).await;

    let status = process.terminate_and_wait().await;
    assert_eq!(status.code(), Some(0), "exit after SIGTERM");
    // Read the record the process left: start it again and look.
    let again = Service::start("wfa", &settings_again(&settings), dir.path(), true).await;
    let execution = wait_terminal(&http, &again.base, &id).await;
    assert_eq!(execution["status"], "succeeded", "{execution}");
    assert_eq!(
        execution["actions"][0]["attempts"], 1,
        "finished, not interrupted: {execution}"
    );
    assert_eq!(sink.hits("/slow").len(), 1);
}

/// The same settings on a new port.
fn settings_again(previous: &[(String, String)]) -> Vec<(String, String)> {
    let mut next: Vec<(String, String)> = previous
        .iter()
        .filter(|(k, _)| k != "HTTP_ADDR")
        .cloned()
        .collect();
    next.push((
        "HTTP_ADDR".into(),
        format!("127.0.0.1:{}", crate::support::process::free_port()),
    ));
    next
}

crate::on_every_transport!(
    killed_mid_execution_the_work_still_finishes,
    sigterm_finishes_in_flight_work_then_exits_cleanly,
);
