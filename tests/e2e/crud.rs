//! Must show 1: the seed payload verbatim; get, list, update (version checked), delete.

use crate::support::{TestApp, Transport};
use reqwest::StatusCode;
use serde_json::json;

const SEED: &str = r#"{"workflowId":"recurrent-workflow","trigger":{"type":"periodic","interval":"10s"},"actions":[{"type":"http-request","url":"https://example.com","method":"GET"}]}"#;

async fn seed_payload_round_trips_through_crud(transport: Transport) {
    let Some(app) = TestApp::spawn(transport, "seed_payload_round_trips_through_crud").await else {
        return;
    };
    let seed: serde_json::Value = serde_json::from_str(SEED).unwrap();

    let created = app.create(&seed).await;
    assert_eq!(created["workflowId"], "recurrent-workflow");
    assert_eq!(
        created["trigger"],
        json!({"type": "periodic", "interval": "10s", "catchUp": "last", "overlap": "skip", "status": "idle"})
    );
    assert_eq!(created["actions"][0]["url"], "https://example.com");
    assert_eq!(created["version"], 1);
    assert!(created["nextRunAt"].is_string());

    let (status, got) = app.get("/workflows/recurrent-workflow").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, created);

    let (status, list) = app.get("/workflows").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"], json!([created]));
    assert_eq!(list["nextCursor"], json!(null));

    let mut changed = seed.clone();
    changed["trigger"]["interval"] = json!("1h");
    changed["version"] = json!(1);
    let (status, updated) = app.put("/workflows/recurrent-workflow", &changed).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["trigger"]["interval"], "1h");

    // The same stale version again: refused, nothing changed.
    let (status, conflict) = app.put("/workflows/recurrent-workflow", &changed).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(conflict["error"], "version_conflict");
    assert_eq!(app.get("/workflows/recurrent-workflow").await.1, updated);

    // `If-Match: *` means "whatever the version": accepted over the stale body version.
    let anyway = app
        .http
        .put(format!("{}/workflows/recurrent-workflow", app.base))
        .header("If-Match", "*")
        .json(&changed);
    let (status, forced) = app.send(anyway).await;
    assert_eq!(status, StatusCode::OK, "{forced}");
    assert_eq!(forced["version"], 3);

    assert_eq!(
        app.delete("/workflows/recurrent-workflow").await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get("/workflows/recurrent-workflow").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete("/workflows/recurrent-workflow").await,
        StatusCode::NOT_FOUND
    );
}

async fn list_pages_with_a_cursor_and_filters(transport: Transport) {
    let Some(app) = TestApp::spawn(transport, "list_pages_with_a_cursor_and_filters").await else {
        return;
    };
    for i in 0..5 {
        let trigger = if i % 2 == 0 {
            json!({"type": "manual"})
        } else {
            json!({"type": "periodic", "interval": "1h"})
        };
        app.create(&json!({"workflowId": format!("wf-{i}"), "trigger": trigger,
            "actions": [{"type": "log", "message": "hi"}]}))
            .await;
    }
    let (_, first) = app.get("/workflows?limit=2").await;
    let ids = |page: &serde_json::Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["workflowId"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&first), ["wf-0", "wf-1"]);
    let cursor = first["nextCursor"].as_str().unwrap();
    let (_, second) = app
        .get(&format!("/workflows?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(ids(&second), ["wf-2", "wf-3"]);
    let (_, manual) = app.get("/workflows?triggerType=manual").await;
    assert_eq!(ids(&manual), ["wf-0", "wf-2", "wf-4"]);
    let (status, bad) = app.get("/workflows?limit=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(bad["error"], "invalid_query");
}

crate::on_every_transport!(
    seed_payload_round_trips_through_crud,
    list_pages_with_a_cursor_and_filters
);
