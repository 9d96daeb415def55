//! Issue 9, must show 5: an every-second cron workflow fires on whole seconds, each once.
//! (Daylight saving is slot arithmetic: `shared::domain::schedule`'s tests, with fixed dates.)

use crate::periodic::{instant, sorted_slots, stop_schedule};
use crate::support::{Sink, TestApp, Transport, SOON};
use chrono::{DurationRound, TimeDelta};
use serde_json::json;

async fn cron_slots_fall_on_whole_seconds_once_each(transport: Transport) {
    let Some(app) = TestApp::spawn(transport, "cron_slots_fall_on_whole_seconds_once_each").await
    else {
        return;
    };
    let sink = Sink::start().await;
    let created = app
        .create(&json!({"workflowId": "every-second",
            "trigger": {"type": "cron", "expression": "*/1 * * * * *"},
            "actions": [{"type": "http-request", "url": sink.url("/cron")}]}))
        .await;
    assert_eq!(created["trigger"]["timezone"], "UTC", "{created}");
    let created_at = instant(&created["createdAt"]);
    let first = instant(&created["nextRunAt"]);
    assert_eq!(
        first,
        created_at.duration_trunc(TimeDelta::seconds(1)).unwrap() + TimeDelta::seconds(1),
        "the first slot is the next whole second"
    );

    sink.wait_for("/cron", 3, SOON).await;
    stop_schedule(&app, "every-second").await;
    let executions = app.settled_executions_of("every-second").await;
    let slots = sorted_slots(&executions);
    for (k, slot) in slots.iter().enumerate() {
        assert_eq!(
            *slot,
            first + TimeDelta::seconds(k as i64),
            "slot {k} of {slots:?}"
        );
    }
    for e in &executions {
        assert_eq!(e["status"], "succeeded", "{e}");
        assert!(
            instant(&e["startedAt"]) >= instant(&e["scheduledFor"]),
            "{e}"
        );
    }
    assert_eq!(
        sink.hits("/cron").len(),
        executions.len(),
        "one call per slot"
    );
}

crate::on_every_transport!(cron_slots_fall_on_whole_seconds_once_each);
