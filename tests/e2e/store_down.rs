//! MongoDB unreachable (the stand-in frozen with SIGSTOP for 5s): the API answers 503
//! `store_unavailable` in JSON within its timeout and `/readyz` fails; once the store is back,
//! work resumes and nothing accepted before the outage is lost.

use crate::support::mongo::OwnMongo;
use crate::support::{Sink, TestApp, Transport};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The store's own bound on one operation (5s), plus slack for a loaded machine.
const ANSWER_WITHIN: Duration = Duration::from_secs(12);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_store_frozen_the_api_answers_503_and_resumes_after() {
    let test = "with_the_store_frozen_the_api_answers_503";
    if Transport::Kafka.settings(test).is_none() {
        return;
    }
    let mongo = OwnMongo::start();
    let settings = [("DATABASE_URL", mongo.url.as_str())];
    let app = TestApp::spawn_with(Transport::Kafka, test, &settings)
        .await
        .unwrap();
    let sink = Sink::start().await;
    app.create(
        &json!({"workflowId": "before", "trigger": {"type": "manual"},
        "actions": [{"type": "http-request", "url": sink.url("/before")}]}),
    )
    .await;
    app.create(
        &json!({"workflowId": "after", "trigger": {"type": "manual"},
        "actions": [{"type": "http-request", "url": sink.url("/after")}]}),
    )
    .await;
    let before = app.trigger("before").await;

    mongo.process.pause();
    let frozen_at = Instant::now();
    let (list, ready, trigger) = tokio::join!(
        app.get("/workflows"),
        app.get("/readyz"),
        app.post("/workflows/after/trigger", &Value::Null),
    );
    let answered_in = frozen_at.elapsed();
    assert!(answered_in < ANSWER_WITHIN, "answers took {answered_in:?}");
    for (status, body) in [list, trigger] {
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["error"], "store_unavailable", "{body}");
        assert!(body["message"].is_string(), "{body}");
    }
    assert_eq!(ready.0, StatusCode::SERVICE_UNAVAILABLE, "{}", ready.1);
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(frozen_at.elapsed())).await;
    mongo.process.resume();

    let execution = app
        .wait_terminal_within(&before, Duration::from_secs(30))
        .await;
    assert_eq!(execution["status"], "succeeded", "{execution}");
    assert_eq!(sink.hits("/before").len(), 1);
    // A trigger refused during the outage left nothing behind: the workflow takes one now.
    let deadline = Instant::now() + Duration::from_secs(30);
    let after = loop {
        let (status, body) = app.post("/workflows/after/trigger", &Value::Null).await;
        match status {
            StatusCode::ACCEPTED => break body["executionId"].as_str().unwrap().to_string(),
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(200)).await,
            _ => panic!("no trigger accepted after the outage: {status} {body}"),
        }
    };
    let execution = app
        .wait_terminal_within(&after, Duration::from_secs(30))
        .await;
    assert_eq!(execution["status"], "succeeded", "{execution}");
    assert_eq!(app.get("/readyz").await.0, StatusCode::OK);
}
