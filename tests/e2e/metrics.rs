//! `GET /metrics`: Prometheus text. After a known run (three successes, one failure after two
//! retries, one periodic slot skipped because the previous one still ran) the counters say
//! exactly that, the store round trips are counted per repository operation, and the embedded
//! store's writer counts its commits and the writes they carried and times each write by
//! operation. (Each test runs in a process
//! of its own under cargo nextest, so the process-wide counters hold this test's run only.)

use crate::periodic::stop_schedule;
use crate::support::{Reply, Sink, TestApp, Transport, SOON};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Samples by name and sorted labels: `name{a="1",b="2"}` → value.
fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("a sample line");
        let key = match series.split_once('{') {
            Some((name, labels)) => {
                let mut labels: Vec<&str> = labels.trim_end_matches('}').split(',').collect();
                labels.sort();
                format!("{name}{{{}}}", labels.join(","))
            }
            None => series.to_string(),
        };
        samples.insert(key, value.parse().expect("a number"));
    }
    samples
}

async fn metrics_count_what_ran(transport: Transport) {
    let Some(app) = TestApp::spawn(transport, "metrics_count_what_ran").await else {
        return;
    };
    let sink = Sink::start().await;
    sink.script(
        "/bad",
        [Reply::from(500), Reply::from(500), Reply::from(500)],
    );
    app.create(&json!({"workflowId": "ok", "trigger": {"type": "manual"},
        "actions": [{"type": "http-request", "url": sink.url("/ok")}]}))
        .await;
    app.create(&json!({"workflowId": "bad", "trigger": {"type": "manual"},
        "actions": [{"type": "http-request", "url": sink.url("/bad")}],
        "retry": {"maxAttempts": 3, "initialDelay": "10ms", "jitter": 0.0}}))
        .await;
    for _ in 0..3 {
        let id = app.trigger("ok").await;
        assert_eq!(app.wait_terminal(&id).await["status"], "succeeded");
    }
    let id = app.trigger("bad").await;
    assert_eq!(app.wait_terminal(&id).await["status"], "failed");

    // One slot skipped: the first slot's call is held past the second slot, and the schedule
    // stops (the workflow turned manual) before a third.
    sink.script("/slow", [Reply::ok_after(Duration::from_secs(3))]);
    app.create(
        &json!({"workflowId": "slow", "trigger": {"type": "periodic", "interval": "2s"},
        "actions": [{"type": "http-request", "url": sink.url("/slow")}]}),
    )
    .await;
    // While the call is held, the slot after it is skipped, and the queue-depth gauge (set
    // by the scheduler's repair pass) shows the one running execution.
    let skipped = r#"wfa_slots_skipped_total{reason="busy"}"#;
    let running = r#"wfa_executions_live{status="running"}"#;
    let deadline = Instant::now() + SOON;
    loop {
        let samples = parse(&metrics_text(&app).await);
        if samples.contains_key(skipped) && samples.get(running) == Some(&1.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no slot skipped while running: {samples:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop_schedule(&app, "slow").await;
    let slow = app.settled_executions_of("slow").await;
    assert_eq!(slow.len(), 1, "{slow:?}");

    // The runner counts an attempt once its outcome is recorded, a moment after the API shows
    // it; read until the last one is in.
    let failed = r#"wfa_executions_finished_total{reason="manual",status="failed"}"#;
    let periodic = r#"wfa_executions_finished_total{reason="periodic",status="succeeded"}"#;
    let deadline = Instant::now() + SOON;
    let (text, samples) = loop {
        let text = metrics_text(&app).await;
        let samples = parse(&text);
        let done = samples.contains_key(failed) && samples.contains_key(periodic);
        if done || Instant::now() > deadline {
            break (text, samples);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let value = |key: &str| samples.get(key).copied().unwrap_or(0.0);
    let expected = [
        (r#"wfa_executions_accepted_total{reason="manual"}"#, 4.0),
        (r#"wfa_executions_started_total{reason="manual"}"#, 6.0),
        (
            r#"wfa_executions_finished_total{reason="manual",status="succeeded"}"#,
            3.0,
        ),
        (
            r#"wfa_executions_finished_total{reason="manual",status="retrying"}"#,
            2.0,
        ),
        (
            r#"wfa_executions_finished_total{reason="manual",status="failed"}"#,
            1.0,
        ),
        ("wfa_retries_total", 2.0),
        (r#"wfa_executions_accepted_total{reason="periodic"}"#, 1.0),
        (periodic, 1.0),
        (skipped, 1.0),
        (
            // Three manual runs and the periodic one.
            r#"wfa_action_duration_seconds_count{outcome="succeeded",type="http-request"}"#,
            4.0,
        ),
        (
            r#"wfa_action_duration_seconds_count{outcome="failed",type="http-request"}"#,
            3.0,
        ),
        (
            r#"wfa_http_requests_total{route="/workflows/{id}/trigger",status="202"}"#,
            4.0,
        ),
        (
            r#"wfa_http_requests_total{route="/workflows",status="201"}"#,
            3.0,
        ),
    ];
    for (key, want) in expected {
        assert_eq!(value(key), want, "{key} in:\n{text}");
    }
    let store = match transport {
        Transport::MongoKafka => "mongodb",
        _ => "sqlite",
    };
    // Seven attempts, each claimed, except on the embedded default the first attempt of each
    // execution: the API and the scheduler record it claimed already for the runner of the
    // same process. The two retries are left to claim there.
    let claims = value(&format!(
        r#"wfa_store_round_trips_total{{op="claim",store="{store}"}}"#
    ));
    match transport {
        Transport::Embedded => assert!((2.0..7.0).contains(&claims), "{claims} claims in:\n{text}"),
        Transport::Kafka | Transport::MongoKafka => {
            assert!(claims >= 7.0, "{claims} claims in:\n{text}")
        }
    }
    let mut writes = 0.0;
    for op in ["accept_trigger", "claim", "finish"] {
        let key = format!(r#"wfa_store_round_trips_total{{op="{op}",store="{store}"}}"#);
        assert!(op == "claim" || value(&key) >= 4.0, "{key} in:\n{text}");
        writes += value(&key);
        // On the embedded store each of them was timed on the writer, by operation.
        let timed = value(&format!(r#"wfa_sqlite_write_seconds_count{{op="{op}"}}"#));
        let took = value(&format!(r#"wfa_sqlite_write_seconds_sum{{op="{op}"}}"#));
        if store == "sqlite" {
            assert!(timed >= value(&key) && took > 0.0, "{op} in:\n{text}");
        } else {
            assert_eq!((timed, took), (0.0, 0.0), "{op} in:\n{text}");
        }
    }
    // The embedded store's writer says how busy it was: every write went through one of its
    // group commits (a commit carries one write or more).
    let (committed, commits) = (
        value("wfa_sqlite_writes_total"),
        value("wfa_sqlite_commit_seconds_count"),
    );
    if store == "sqlite" {
        assert!(
            committed >= writes,
            "{committed} writes < {writes} in:\n{text}"
        );
        assert!(commits >= 1.0 && commits <= committed, "{text}");
        assert!(value("wfa_sqlite_commit_seconds_sum") > 0.0, "{text}");
    } else {
        assert_eq!((committed, commits), (0.0, 0.0), "{text}");
    }
}

/// `GET /metrics`, checked to be Prometheus text.
pub(crate) async fn metrics_text(app: &TestApp) -> String {
    let response = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.unwrap()
}

crate::on_every_transport!(metrics_count_what_ran);
