//! Issue 9, must show 1: `/openapi.json` is an OpenAPI 3.1 document of exactly the routes the
//! router serves. (scripts/api-fuzz runs schemathesis against it: no 5xx, no answer outside it.)

use crate::support::{TestApp, Transport};
use reqwest::Method;
use serde_json::Value;
use std::collections::BTreeSet;

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// The (method, path) pairs the document lists.
fn documented(document: &Value) -> BTreeSet<(String, String)> {
    let paths = document["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| (m.to_string(), path.clone()))
        })
        .collect()
}

/// Whether the router has a route for this request: anything but its fallbacks' answers.
async fn routed(app: &TestApp, method: &str, path: &str) -> bool {
    let url = format!("{}{}", app.base, path.replace("{id}", "no-such-id"));
    let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let request = app
        .http
        .request(method, url)
        .header("content-type", "application/json")
        .body("{}");
    let (status, body) = app.send(request).await;
    let fallback = status == 405
        || (status == 404
            && body["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("There is no route"));
    !fallback
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_lists_exactly_the_routes_served() {
    let app = TestApp::spawn(
        Transport::Embedded,
        "openapi_document_lists_exactly_the_routes_served",
    )
    .await
    .expect("embedded always runs");
    let (status, document) = app.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(document["openapi"], "3.1.0");
    let listed = documented(&document);
    assert!(listed.len() >= 14, "{listed:?}");

    let mut paths: BTreeSet<&str> = listed.iter().map(|(_, p)| p.as_str()).collect();
    paths.insert("/workflows/{id}/nothing-here");
    paths.insert("/");
    for path in paths {
        for method in METHODS {
            let is_listed = listed.contains(&(method.to_string(), path.to_string()));
            assert_eq!(
                routed(&app, method, path).await,
                is_listed,
                "{method} {path}: served and documented must agree"
            );
        }
    }

    // Every error answer documented is the API's error body, and the seed is the example.
    let create = &document["paths"]["/workflows"]["post"];
    let example = &create["requestBody"]["content"]["application/json"]["example"];
    assert_eq!(example["workflowId"], "recurrent-workflow", "{create}");
    for (status, response) in create["responses"].as_object().unwrap() {
        if status.starts_with('4') || status.starts_with('5') {
            let schema = &response["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(schema, "#/components/schemas/ErrorBody", "{status}");
        }
    }
}

/// The router's routes are registered only with their OpenAPI operation (`routes!`), so a
/// route cannot be served undocumented.
#[test]
fn routes_are_registered_only_with_their_operation() {
    let source = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows-svc/src/routes/mod.rs"),
    )
    .unwrap();
    assert!(
        !source.contains(".route("),
        "a route registered without its operation"
    );
    assert!(source.contains(".routes(routes!("));
}
