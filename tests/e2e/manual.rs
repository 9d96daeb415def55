//! Must show 3: a manual trigger answers 202, the sink is hit, the execution records it.

use crate::support::{Sink, TestApp, Transport, SOON};
use reqwest::StatusCode;
use serde_json::json;

async fn manual_trigger_runs_actions_and_records_results(transport: Transport) {
    let Some(app) =
        TestApp::spawn(transport, "manual_trigger_runs_actions_and_records_results").await
    else {
        return;
    };
    let sink = Sink::start().await;
    app.create(&json!({
        "workflowId": "on-demand",
        "trigger": {"type": "manual"},
        "actions": [
            {"type": "log", "message": "starting"},
            {"type": "http-request", "url": sink.url("/hook"), "method": "POST",
             "headers": {"X-Token": "abc"}, "body": {"hello": "world"}, "expectStatus": 201}
        ]
    }))
    .await;
    sink.script("/hook", [201]);

    let response = app
        .http
        .post(format!("{}/workflows/on-demand/trigger", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let body: serde_json::Value = response.json().await.unwrap();
    let id = body["executionId"].as_str().unwrap();
    assert_eq!(location, format!("/executions/{id}"));
    // The store is the queue: the runner of the same process got it recorded claimed already.
    // A broker's runners claim it themselves.
    let recorded = match transport {
        Transport::Embedded => "running",
        Transport::Kafka | Transport::MongoKafka => "queued",
    };
    assert_eq!(body["status"], recorded);

    let hits = sink.wait_for("/hook", 1, SOON).await;
    assert_eq!(hits[0].method, "POST");
    assert_eq!(hits[0].headers["x-token"], "abc");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&hits[0].body).unwrap(),
        json!({"hello": "world"})
    );

    let execution = app.wait_terminal(id).await;
    assert_eq!(execution["status"], "succeeded", "{execution}");
    assert_eq!(execution["reason"], "manual");
    assert_eq!(execution["attempt"], 1);
    let http = &execution["actions"][1];
    assert_eq!(http["status"], "succeeded");
    assert_eq!(http["output"]["status"], 201);
    assert!(http["durationMs"].is_u64(), "{http}");
    assert!(http["startedAt"].is_string() && http["finishedAt"].is_string());
    assert_eq!(execution["actions"][0]["output"]["message"], "starting");

    app.wait_trigger_status("on-demand", "idle").await;
    assert_eq!(app.executions_of("on-demand").await.len(), 1);
    assert_eq!(sink.hits("/hook").len(), 1);
}

async fn idempotency_key_returns_the_same_execution(transport: Transport) {
    let Some(app) = TestApp::spawn(transport, "idempotency_key_returns_the_same_execution").await
    else {
        return;
    };
    let sink = Sink::start().await;
    app.create(&json!({"workflowId": "once", "trigger": {"type": "manual"},
        "actions": [{"type": "http-request", "url": sink.url("/once")}]}))
        .await;
    let trigger = || {
        app.http
            .post(format!("{}/workflows/once/trigger", app.base))
            .header("Idempotency-Key", "order-42")
    };
    let (status, first) = app.send(trigger()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let id = first["executionId"].as_str().unwrap();
    app.wait_terminal(id).await;
    let (status, again) = app.send(trigger()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(again["executionId"], id);
    assert_eq!(again["status"], "succeeded");
    assert_eq!(sink.hits("/once").len(), 1);
    assert_eq!(app.executions_of("once").await.len(), 1);

    // A workflow deleted and created again under the same id is a new workflow: the old key
    // does not replay the old (deleted workflow's) execution.
    let definition = json!({"workflowId": "once", "trigger": {"type": "manual"},
        "actions": [{"type": "http-request", "url": sink.url("/once")}]});
    assert_eq!(app.delete("/workflows/once").await, StatusCode::NO_CONTENT);
    tokio::time::sleep(std::time::Duration::from_millis(2)).await; // a later createdAt
    app.create(&definition).await;
    let (status, fresh) = app.send(trigger()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{fresh}");
    assert_ne!(fresh["executionId"], id);
    app.wait_terminal(fresh["executionId"].as_str().unwrap())
        .await;
    assert_eq!(sink.hits("/once").len(), 2);
}

crate::on_every_transport!(
    manual_trigger_runs_actions_and_records_results,
    idempotency_key_returns_the_same_execution
);
