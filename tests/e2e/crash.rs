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

crate::on_every_transport!(killed_mid_execution_the_work_still_finishes);
