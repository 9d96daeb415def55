//! Must show 6: SIGKILL the process mid-execution, start it again: the execution still ends.
//! Issue 10 must show 8: the same mid-graph, and no step that succeeded is called again.

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
    process
        .api
        .create(&json!({"workflowId": "crashy", "trigger": {"type": "manual"},
            "actions": [{"type": "log", "message": "before"}, {"type": "http-request", "url": sink.url("/slow")}]}))
        .await;
    let id = process.api.trigger("crashy").await;
    sink.wait_for("/slow", 1, SOON).await;

    process.kill().await;
    let second = settings(dir.path(), transport_settings);
    let restarted = Service::start("wfa", &second, dir.path(), true).await;

    let execution = restarted.api.wait_terminal(&id).await;
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
    let graceful = |mut settings: Vec<(String, String)>| {
        settings.push(("SHUTDOWN_GRACE".into(), "10s".into()));
        settings
    };
    let first = graceful(settings(dir.path(), transport_settings.clone()));
    let process = Service::start("wfa", &first, dir.path(), true).await;
    process
        .api
        .create(
            &json!({"workflowId": "graceful", "trigger": {"type": "manual"},
            "actions": [{"type": "http-request", "url": sink.url("/slow")}]}),
        )
        .await;
    let id = process.api.trigger("graceful").await;
    sink.wait_for("/slow", 1, SOON).await;

    let status = process.terminate_and_wait().await;
    assert_eq!(status.code(), Some(0), "exit after SIGTERM");
    // Read the record the process left: start it again and look.
    let second = graceful(settings(dir.path(), transport_settings));
    let again = Service::start("wfa", &second, dir.path(), true).await;
    let execution = again.api.wait_terminal(&id).await;
    assert_eq!(execution["status"], "succeeded", "{execution}");
    assert_eq!(
        execution["actions"][0]["attempts"], 1,
        "finished, not interrupted: {execution}"
    );
    assert_eq!(sink.hits("/slow").len(), 1);
}

/// Two roots, a fan-out after them, a step after that: killed while the fan-out runs.
async fn killed_mid_graph_no_succeeded_step_runs_again(transport: Transport) {
    let Some(transport_settings) =
        transport.settings("killed_mid_graph_no_succeeded_step_runs_again")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    sink.script(
        "/fan/2",
        [Reply {
            status: 200,
            delay: Duration::from_secs(60),
        }],
    );
    let first = settings(dir.path(), transport_settings.clone());
    let process = Service::start("wfa", &first, dir.path(), true).await;
    process
        .api
        .create(
            &json!({"workflowId": "graph", "trigger": {"type": "manual"},
            "actions": [
                {"id": "a", "type": "http-request", "depends": [], "url": sink.url("/a")},
                {"id": "b", "type": "http-request", "depends": [], "url": sink.url("/b")},
                {"id": "fan", "type": "http-request", "depends": ["a", "b"],
                 "url": format!("{}/fan/{{{{ item }}}}", sink.base_url),
                 "forEach": {"items": "[0, 1, 2]", "concurrency": 1}},
                {"id": "last", "type": "http-request", "url": sink.url("/last")}
            ]}),
        )
        .await;
    let id = process.api.trigger("graph").await;
    sink.wait_for("/fan/2", 1, SOON).await;

    process.kill().await;
    let second = settings(dir.path(), transport_settings);
    let restarted = Service::start("wfa", &second, dir.path(), true).await;

    let execution = restarted.api.wait_terminal(&id).await;
    assert_eq!(execution["status"], "succeeded", "{execution}");
    for path in ["/a", "/b", "/fan/0", "/fan/1", "/last"] {
        assert_eq!(sink.hits(path).len(), 1, "{path}: {execution}");
    }
    assert_eq!(
        sink.hits("/fan/2").len(),
        2,
        "the interrupted item ran again"
    );
    assert_eq!(execution["actions"][2]["items"][2]["attempts"], 2);
}

crate::on_every_transport!(
    killed_mid_graph_no_succeeded_step_runs_again,
    killed_mid_execution_the_work_still_finishes,
    sigterm_finishes_in_flight_work_then_exits_cleanly,
);
