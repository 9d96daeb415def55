//! Two scheduler and two runner processes on one MongoDB (and Kafka): over a minute of 1s
//! periodic workflows and 200 accepted manual triggers, every due slot and every accepted
//! trigger has exactly one execution, and each ends once (one sink call each).

use crate::periodic::{instant, stop_schedule};
use crate::support::process::{settings, Service};
use crate::support::{Sink, Transport, SOON};
use serde_json::json;
use std::collections::HashSet;
use std::time::{Duration, Instant};

const RUN_FOR: Duration = Duration::from_secs(60);
const PERIODIC: usize = 5;
const MANUAL: usize = 20;
const TRIGGERS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedulers_and_two_runners_run_each_slot_and_trigger_once() {
    let test = "two_schedulers_and_two_runners_run_each_slot_and_trigger_once";
    let Some(stack) = Transport::MongoKafka.settings(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    let shared = settings(dir.path(), stack);
    let api = Service::start("workflows-svc", &shared, dir.path(), true).await;
    let mut others = Vec::new();
    for (name, n) in [("scheduler-svc", 2), ("runner-svc", 2)] {
        for i in 0..n {
            let log = dir.path().join(format!("{name}-{i}.log"));
            others.push(Service::start_logging_to(name, &log, &shared, false).await);
        }
    }
    let api = &api.api;

    let mut created_at = Vec::new();
    for p in 0..PERIODIC {
        let w = api
            .create(&json!({"workflowId": format!("tick-{p}"),
                "trigger": {"type": "periodic", "interval": "1s"},
                "actions": [{"type": "http-request", "url": sink.url(&format!("/tick-{p}"))}]}))
            .await;
        created_at.push(instant(&w["createdAt"]));
    }
    for m in 0..MANUAL {
        api.create(
            &json!({"workflowId": format!("manual-{m}"), "trigger": {"type": "manual"},
            "actions": [{"type": "http-request", "url": sink.url("/manual")}]}),
        )
        .await;
    }

    // Triggers round-robin over the manual workflows; a busy one answers 409 and is skipped.
    let started = Instant::now();
    let mut accepted = Vec::new();
    let mut m = 0;
    while accepted.len() < TRIGGERS || started.elapsed() < RUN_FOR {
        if accepted.len() < TRIGGERS {
            let path = format!("/workflows/manual-{}/trigger", m % MANUAL);
            let (status, body) = api.post(&path, &json!(null)).await;
            match status.as_u16() {
                202 => accepted.push(body["executionId"].as_str().unwrap().to_string()),
                409 => assert_eq!(body["error"], "workflow_busy", "{body}"),
                other => panic!("trigger answered {other}: {body}"),
            }
            m += 1;
        }
        tokio::time::sleep(Duration::from_millis(if accepted.len() < TRIGGERS {
            20
        } else {
            200
        }))
        .await;
    }
    for p in 0..PERIODIC {
        stop_schedule(api, &format!("tick-{p}")).await;
    }

    for id in &accepted {
        let e = api.wait_terminal_within(id, SOON).await;
        assert_eq!(e["status"], "succeeded", "{e}");
    }
    assert_eq!(
        accepted.iter().collect::<HashSet<_>>().len(),
        TRIGGERS,
        "each accepted trigger is its own execution"
    );
    assert_eq!(
        sink.hits("/manual").len(),
        TRIGGERS,
        "one call per accepted trigger"
    );

    let minimum_slots = (RUN_FOR.as_secs() as usize) * 8 / 10;
    for (p, created) in created_at.iter().enumerate() {
        let id = format!("tick-{p}");
        let executions = api.settled_executions_of(&id).await;
        let ran: Vec<_> = executions
            .iter()
            .filter(|e| e["status"] == "succeeded")
            .collect();
        let mut slots: Vec<i64> = ran
            .iter()
            .map(|e| (instant(&e["scheduledFor"]) - *created).num_milliseconds())
            .collect();
        slots.sort();
        // Slot k is createdAt + k seconds, each run at most once. A slot that comes while the
        // previous one still runs is skipped by design (overlap policy `skip`): on the slow
        // stand-in the trigger burst makes that happen, so gaps are bounded, not forbidden.
        let mut distinct = slots.clone();
        distinct.dedup();
        assert_eq!(distinct, slots, "{id}: a slot ran twice");
        assert!(
            slots.iter().all(|ms| ms % 1000 == 0 && *ms >= 1000),
            "{id}: slots not anchored at createdAt: {slots:?}"
        );
        assert_eq!(
            sink.hits(&format!("/tick-{p}")).len(),
            ran.len(),
            "{id}: one call per slot"
        );
        assert!(
            ran.len() >= minimum_slots,
            "{id}: only {} of about {} slots ran",
            ran.len(),
            RUN_FOR.as_secs()
        );
    }
    drop(others);
}
