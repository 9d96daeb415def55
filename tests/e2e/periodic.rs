//! Must show 2: a 1s periodic workflow hits the sink on anchored slots, once per slot.

use crate::support::app::Api;
use crate::support::{Sink, TestApp, Transport, SOON};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

pub fn instant(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

/// The `scheduledFor` of each execution, earliest first.
pub fn sorted_slots(executions: &[Value]) -> Vec<DateTime<Utc>> {
    let mut slots: Vec<DateTime<Utc>> = executions
        .iter()
        .map(|e| instant(&e["scheduledFor"]))
        .collect();
    slots.sort();
    slots
}

/// The slots recorded for a workflow: anchored at creation, one second apart, each run once.
pub fn assert_anchored_once_per_slot(
    created_at: DateTime<Utc>,
    executions: &[Value],
    sink_hits: usize,
) {
    let slots = sorted_slots(executions);
    for (k, slot) in slots.iter().enumerate() {
        // No drift: slot k is exactly createdAt + (k+1) intervals, however late each tick ran.
        assert_eq!(
            *slot,
            created_at + chrono::Duration::seconds(k as i64 + 1),
            "slot {k} of {slots:?}"
        );
    }
    for e in executions {
        assert_eq!(e["status"], "succeeded", "{e}");
        assert_eq!(e["reason"], "periodic");
        let started = instant(&e["startedAt"]);
        assert!(
            started >= instant(&e["scheduledFor"]),
            "ran before its slot: {e}"
        );
    }
    assert_eq!(sink_hits, executions.len(), "one sink call per slot");
}

/// Turns a periodic workflow manual, so that no slot follows; the last execution runs out.
pub async fn stop_schedule(api: &Api, workflow_id: &str) {
    let path = format!("/workflows/{workflow_id}");
    let (_, mut stopped) = api.get(&path).await;
    stopped["trigger"] = json!({"type": "manual"});
    for field in [
        "createdAt",
        "updatedAt",
        "version",
        "paused",
        "nextRunAt",
        "currentExecutionId",
    ] {
        stopped.as_object_mut().unwrap().remove(field);
    }
    let (status, body) = api.put(&path, &stopped).await;
    assert_eq!(status, 200, "{body}");
}

async fn periodic_slots_are_anchored_and_fire_once_each(transport: Transport) {
    let Some(app) =
        TestApp::spawn(transport, "periodic_slots_are_anchored_and_fire_once_each").await
    else {
        return;
    };
    let sink = Sink::start().await;
    let created = app
        .create(
            &json!({"workflowId": "tick", "trigger": {"type": "periodic", "interval": "1s"},
            "actions": [{"type": "http-request", "url": sink.url("/tick")}]}),
        )
        .await;
    let created_at = instant(&created["createdAt"]);
    assert_eq!(
        instant(&created["nextRunAt"]),
        created_at + chrono::Duration::seconds(1)
    );

    sink.wait_for("/tick", 3, SOON).await;
    stop_schedule(&app, "tick").await;
    let executions = app.settled_executions_of("tick").await;
    assert!(executions.len() >= 3);
    assert_anchored_once_per_slot(created_at, &executions, sink.hits("/tick").len());
    // An idle workflow's slot is recorded before its time, and its action waits for it.
    for e in &executions {
        let slot = instant(&e["scheduledFor"]);
        assert!(instant(&e["actions"][0]["startedAt"]) >= slot, "{e}");
    }
    assert!(
        executions
            .iter()
            .any(|e| instant(&e["createdAt"]) < instant(&e["scheduledFor"])),
        "no slot was taken early: {executions:?}"
    );
}

crate::on_every_transport!(periodic_slots_are_anchored_and_fire_once_each);
