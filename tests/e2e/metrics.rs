//! `GET /metrics`: Prometheus text, with the store round trips each repository operation made.

use crate::support::{TestApp, Transport};
use serde_json::json;

async fn metrics_count_the_store_round_trips_of_each_operation(transport: Transport) {
    let Some(app) = TestApp::spawn(transport, "metrics_count_the_store_round_trips").await else {
        return;
    };
    app.create(
        &json!({"workflowId": "counted", "trigger": {"type": "manual"},
        "actions": [{"type": "log", "message": "m"}]}),
    )
    .await;
    let id = app.trigger("counted").await;
    app.wait_terminal(&id).await;
    let response = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = response.text().await.unwrap();
    let store = match transport {
        Transport::MongoKafka => "mongodb",
        _ => "sqlite",
    };
    for op in ["accept_trigger", "claim", "finish"] {
        let counted = text.lines().any(|l| {
            l.starts_with("wfa_store_round_trips_total{")
                && l.contains(&format!("store=\"{store}\""))
                && l.contains(&format!("op=\"{op}\""))
        });
        assert!(counted, "no round trips of {op} on {store} in:\n{text}");
    }
}

crate::on_every_transport!(metrics_count_the_store_round_trips_of_each_operation);
