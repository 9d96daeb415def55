//! Issue 10, must show 9: a secret reaches the call that asks for it and nothing else — not
//! the API's answers, not the execution record, not the process's log (at debug level).

use crate::support::process::{settings, Service};
use crate::support::{Sink, Transport};
use serde_json::json;

const SECRET: &str = "s3cr3t-Value-9f2c";

async fn a_secret_reaches_the_call_and_appears_nowhere_else(transport: Transport) {
    let Some(transport_settings) = transport.settings("a_secret_reaches_the_call") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    // A receiver that echoes what it was sent: the recorded output must not hold it either.
    sink.reply_json("/echo", &json!({"received": format!("Bearer {SECRET}")}));
    let mut all = settings(dir.path(), transport_settings);
    all.push(("WFA_SECRET_API_KEY".into(), SECRET.into()));
    all.push(("RUST_LOG".into(), "debug".into()));
    let wfa = Service::start("wfa", &all, dir.path(), true).await;
    let api = &wfa.api;
    api.create(&json!({
        "workflowId": "secretive", "trigger": {"type": "manual"},
        "actions": [
            {"type": "http-request", "method": "POST", "url": format!("{}?key={{{{ secrets.API_KEY }}}}", sink.url("/echo")),
             "headers": {"Authorization": "Bearer {{ secrets.API_KEY }}"},
             "body": {"key": "{{ secrets.API_KEY }}"}},
            {"type": "log", "message": "the key is {{ secrets.API_KEY }}"},
            {"type": "log", "message": "{{ secrets.MISSING }}"}
        ]
    }))
    .await;
    let id = api.trigger("secretive").await;
    let execution = api.wait_terminal(&id).await;
    // The third action reads a secret this runner lacks: it fails, naming nothing secret.
    assert_eq!(execution["status"], "failed", "{execution}");
    assert_eq!(
        execution["actions"][1]["output"]["message"],
        "the key is [secret API_KEY]"
    );

    let hit = &sink.hits("/echo")[0];
    assert_eq!(
        hit.headers["authorization"],
        format!("Bearer {SECRET}").as_str()
    );
    assert!(
        hit.body.contains(SECRET),
        "the body carried it: {}",
        hit.body
    );

    let mut seen = Vec::new();
    for path in [
        "/workflows/secretive".to_string(),
        "/workflows".to_string(),
        format!("/executions/{id}"),
        "/workflows/secretive/executions".to_string(),
        "/metrics".to_string(),
    ] {
        seen.push((path.clone(), api.get(&path).await.1.to_string()));
    }
    drop(wfa);
    seen.push((
        "the log".into(),
        std::fs::read_to_string(dir.path().join("wfa.log")).unwrap(),
    ));
    for (place, text) in seen {
        assert!(!text.contains(SECRET), "the secret leaked into {place}");
    }
}

crate::on_every_transport!(a_secret_reaches_the_call_and_appears_nowhere_else);
