//! The outbox (Kafka transport): with the broker down the API still accepts triggers; once the
//! broker is back, every accepted trigger runs exactly once.

use crate::support::broker::OwnBroker;
use crate::support::{Sink, TestApp, Transport};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triggers_accepted_while_the_broker_is_down_all_run_once_it_is_back() {
    let test = "triggers_accepted_while_the_broker_is_down";
    if Transport::Kafka.settings(test).is_none() {
        return;
    }
    let broker = OwnBroker::start();
    // The outage outlasts a publish (5s) but not the consumer's group session: a session that
    // expires while the broker is frozen has tansu 0.6 hold the rejoin (seen: >15s).
    let settings = [
        ("KAFKA_BROKERS", broker.address.as_str()),
        ("KAFKA_SESSION_TIMEOUT", "30s"),
    ];
    let app = TestApp::spawn_with(Transport::Kafka, test, &settings)
        .await
        .unwrap();
    let sink = Sink::start().await;
    const N: usize = 20;
    for i in 0..N {
        app.create(
            &json!({"workflowId": format!("d{i}"), "trigger": {"type": "manual"},
            "actions": [{"type": "http-request", "url": sink.url(&format!("/d{i}"))}]}),
        )
        .await;
    }

    broker.process.pause();
    let mut ids = Vec::new();
    for i in 0..N {
        let (status, body) = app
            .post(&format!("/workflows/d{i}/trigger"), &Value::Null)
            .await;
        assert_eq!(
            status,
            StatusCode::ACCEPTED,
            "trigger {i} while the broker is down: {body}"
        );
        ids.push(body["executionId"].as_str().unwrap().to_string());
    }
    // Longer than a publish may take (5s): the publishes fail, and only the outbox (the
    // scheduler republishing stale queued executions) can deliver these triggers.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        (0..N)
            .map(|i| sink.hits(&format!("/d{i}")).len())
            .sum::<usize>(),
        0,
        "ran without a broker?"
    );
    broker.process.resume();

    // A consumer whose group session lapsed during the outage may take tansu a while to let
    // back in; be patient.
    for (i, id) in ids.iter().enumerate() {
        let execution = app.wait_terminal_within(id, Duration::from_secs(60)).await;
        assert_eq!(execution["status"], "succeeded", "{execution}");
        assert_eq!(
            sink.hits(&format!("/d{i}")).len(),
            1,
            "d{i} must run exactly once"
        );
    }
}
