//! Must show 7: the three service binaries as separate processes on one SQLite file.

use crate::periodic::{assert_anchored_once_per_slot, instant, stop_schedule};
use crate::support::app::Api;
use crate::support::process::{free_port, settings, Service};
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

/// The scheduler and the runner serve `/metrics` and `/healthz` on METRICS_ADDR.
async fn the_scheduler_and_the_runner_serve_their_metrics(transport: Transport) {
    let Some(transport_settings) = transport.settings("the_scheduler_and_the_runner_serve_metrics")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let shared = settings(dir.path(), transport_settings);
    let api = Service::start("workflows-svc", &shared, dir.path(), true).await;
    let mut probes = Vec::new();
    let mut services = Vec::new();
    for name in ["scheduler-svc", "runner-svc"] {
        let addr = format!("127.0.0.1:{}", free_port());
        let mut own = shared.clone();
        own.push(("METRICS_ADDR".into(), addr.clone()));
        services.push(Service::start(name, &own, dir.path(), false).await);
        let probe = Api::new(format!("http://{addr}"));
        probe.wait_ready_at("/healthz").await;
        probes.push(probe);
    }
    api.api
        .create(
            &json!({"workflowId": "counted", "trigger": {"type": "manual"},
            "actions": [{"type": "log", "message": "m"}]}),
        )
        .await;
    let id = api.api.trigger("counted").await;
    assert_eq!(api.api.wait_terminal(&id).await["status"], "succeeded");
    let (status, scheduler) = probes[0].get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        scheduler
            .as_str()
            .unwrap()
            .contains("wfa_store_round_trips_total"),
        "{scheduler}"
    );
    let (_, runner) = probes[1].get("/metrics").await;
    let runner = runner.as_str().unwrap();
    assert!(
        runner.contains(r#"wfa_executions_started_total{reason="manual"} 1"#),
        "{runner}"
    );
    assert_eq!(probes[1].get("/nope").await.0, 404);
}

crate::on_every_transport!(
    three_services_as_separate_processes_run_a_periodic_workflow,
    the_scheduler_and_the_runner_serve_their_metrics
);
