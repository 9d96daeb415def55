//! Must show 7: the three service binaries as separate processes on one SQLite file.

use crate::periodic::{assert_anchored_once_per_slot, instant, stop_schedule};
use crate::support::process::{settings, Service};
use crate::support::{Sink, Transport, SOON};
use serde_json::{json, Value};

async fn three_services_as_separate_processes_run_a_periodic_workflow(transport: Transport) {
    let Some(transport_settings) = transport.settings("three_services_as_separate_processes")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    let shared = settings(dir.path(), transport_settings);
    let api = Service::start("workflows-svc", &shared, dir.path(), true).await;
    let _scheduler = Service::start("scheduler-svc", &shared, dir.path(), false).await;
    let _runner = Service::start("runner-svc", &shared, dir.path(), false).await;

    let created = api
        .api
        .create(
            &json!({"workflowId": "split", "trigger": {"type": "periodic", "interval": "1s"},
            "actions": [{"type": "http-request", "url": sink.url("/split")}]}),
        )
        .await;
    sink.wait_for("/split", 3, SOON).await;
    stop_schedule(&api.api, "split").await;
    let executions = api.api.settled_executions_of("split").await;
    let ran: Vec<Value> = executions
        .into_iter()
        .filter(|e| e["status"] == "succeeded")
        .collect();
    assert!(ran.len() >= 3, "{ran:?}");
    assert_anchored_once_per_slot(
        instant(&created["createdAt"]),
        &ran,
        sink.hits("/split").len(),
    );
    assert_eq!(api.api.delete("/workflows/split").await, 204);
}

crate::on_every_transport!(three_services_as_separate_processes_run_a_periodic_workflow);
