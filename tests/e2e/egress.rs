//! The egress policy: refused destinations fail at once, before any connection is made.

use crate::support::{Sink, TestApp, Transport};
use serde_json::json;

async fn run_one(app: &TestApp, id: &str, url: &str) -> serde_json::Value {
    let execution = app
        .run_to_end(&json!({"workflowId": id, "trigger": {"type": "manual"},
            "actions": [{"type": "http-request", "url": url}], "retry": {"maxAttempts": 3}}))
        .await;
    assert_eq!(execution["status"], "failed", "{execution}");
    assert_eq!(
        execution["attempt"], 1,
        "a refusal is not retried: {execution}"
    );
    execution
}

async fn cloud_metadata_is_always_refused(transport: Transport) {
    let Some(app) = TestApp::spawn(transport, "cloud_metadata_is_always_refused").await else {
        return;
    };
    for (id, url) in [
        ("aws", "http://169.254.169.254/latest/meta-data/"),
        (
            "mapped",
            "http://[::ffff:169.254.169.254]/latest/meta-data/",
        ),
    ] {
        let execution = run_one(&app, id, url).await;
        assert!(
            execution["error"]
                .as_str()
                .unwrap()
                .contains("always refused"),
            "{execution}"
        );
    }
}

async fn denied_ranges_are_refused_by_address_and_by_name(transport: Transport) {
    let settings = [("EGRESS_DENY", "127.0.0.0/8,::1")];
    let Some(app) = TestApp::spawn_with(transport, "denied_ranges_are_refused", &settings).await
    else {
        return;
    };
    let sink = Sink::start().await;
    let by_address = run_one(&app, "by-address", &sink.url("/denied")).await;
    assert!(
        by_address["error"]
            .as_str()
            .unwrap()
            .contains("EGRESS_DENY"),
        "{by_address}"
    );
    let by_name = run_one(
        &app,
        "by-name",
        &sink.url("/denied").replace("127.0.0.1", "localhost"),
    )
    .await;
    assert!(
        by_name["error"].as_str().unwrap().contains("egress policy"),
        "{by_name}"
    );
    assert!(
        sink.hits("/denied").is_empty(),
        "a refused request reached the sink"
    );
}

crate::on_every_transport!(
    cloud_metadata_is_always_refused,
    denied_ranges_are_refused_by_address_and_by_name
);
