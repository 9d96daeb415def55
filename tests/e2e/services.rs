//! Issue 13 (registry part): services with typed inputs and outputs, registered over the API,
//! called by name from steps, checked when a workflow is saved and when a call runs; a
//! workflow's `outputs` as the execution's result.

use crate::support::{Sink, TestApp, Transport};
use axum::routing::post;
use axum::Json;
use serde_json::{json, Value};

/// Three real HTTP services of the text example, plus one that breaks its declaration.
async fn text_services() -> String {
    let message = |body: &Value| body["message"].as_str().unwrap_or_default().to_string();
    let app = axum::Router::new()
        .route(
            "/upper",
            post(move |Json(b): Json<Value>| async move {
                Json(json!({"message": message(&b).to_uppercase()}))
            }),
        )
        .route(
            "/reverse",
            post(move |Json(b): Json<Value>| async move {
                Json(json!({"message": message(&b).chars().rev().collect::<String>()}))
            }),
        )
        .route(
            "/space-counter",
            post(move |Json(b): Json<Value>| async move {
                Json(json!({"space_count": message(&b).matches(' ').count()}))
            }),
        )
        .route(
            "/counts-in-words",
            post(|| async { Json(json!({"space_count": "seven"})) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

/// A service of the shape: `message` in; `outputs` as given.
fn text_service(name: &str, address: String, outputs: Value) -> Value {
    json!({"name": name, "address": address,
           "inputs": [{"name": "message", "type": "string", "description": "The text to transform"}],
           "outputs": outputs})
}

async fn register(app: &TestApp, service: &Value) {
    let (status, body) = app.post("/services", service).await;
    assert_eq!(status, 201, "{body}");
}

async fn register_text_services(app: &TestApp, base: &str) {
    let text_out =
        json!([{"name": "message", "type": "string", "description": "The transformed text"}]);
    register(
        app,
        &text_service("upper", format!("{base}/upper"), text_out.clone()),
    )
    .await;
    register(
        app,
        &text_service("reverse", format!("{base}/reverse"), text_out),
    )
    .await;
    let count_out =
        json!([{"name": "space_count", "type": "int", "description": "How many spaces"}]);
    register(
        app,
        &text_service(
            "space-counter",
            format!("{base}/space-counter"),
            count_out.clone(),
        ),
    )
    .await;
    register(
        app,
        &text_service("words", format!("{base}/counts-in-words"), count_out),
    )
    .await;
}

fn call(id: &str, service: &str, message: &str) -> Value {
    json!({"id": id, "type": "service", "service": service, "input": {"message": message}})
}

async fn the_text_example_chains_three_services(transport: Transport) {
    let Some(app) = TestApp::spawn(transport, "the_text_example_chains_three_services").await
    else {
        return;
    };
    register_text_services(&app, &text_services().await).await;
    // The example's own file, as a user would send it.
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/text-services/workflow.json");
    let workflow: Value = serde_json::from_str(&std::fs::read_to_string(example).unwrap()).unwrap();
    app.create(&workflow).await;
    let (status, accepted) = app
        .post(
            "/workflows/text/trigger",
            &json!({"input": {"message": "The Sun will rise in the morning !"}}),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["executionId"].as_str().unwrap();
    let execution = app.wait_terminal(id).await;
    assert_eq!(execution["status"], "succeeded", "{execution}");
    assert_eq!(
        execution["output"],
        json!({"message": "! GNINROM EHT NI ESIR LLIW NUS EHT", "spaceCount": 7})
    );
    assert_eq!(
        execution["actions"][0]["output"],
        json!({"message": "THE SUN WILL RISE IN THE MORNING !"}),
        "a service step's output is the object the service answered"
    );
}

async fn service_calls_are_checked_when_saved_and_when_run(transport: Transport) {
    let Some(app) = TestApp::spawn(
        transport,
        "service_calls_are_checked_when_saved_and_when_run",
    )
    .await
    else {
        return;
    };
    register_text_services(&app, &text_services().await).await;
    let workflow = |actions: Value| {
        json!({"workflowId": "checked", "trigger": {"type": "manual"},
               "inputs": {"n": {"type": "integer", "default": 3}}, "actions": actions})
    };
    let refused = [
        (
            json!([call("a", "lower", "x")]),
            "actions[0].service",
            "no service `lower`",
        ),
        (
            json!([{"type": "service", "service": "upper"}]),
            "actions[0].input.message",
            "is required by service `upper`",
        ),
        (
            json!([{"type": "service", "service": "upper", "input": {"message": 5}}]),
            "actions[0].input.message",
            "takes a string",
        ),
        (
            json!([{"type": "log", "message": "x"},
                   {"type": "service", "service": "upper", "input": {"message": "x", "loud": true}}]),
            "actions[1].input.loud",
            "not an input of service `upper`",
        ),
    ];
    for (actions, field, says) in refused {
        let (status, body) = app.post("/workflows", &workflow(actions.clone())).await;
        assert_eq!(
            (status.as_u16(), body["details"]["field"].as_str()),
            (422, Some(field)),
            "{actions}: {body}"
        );
        assert!(body["message"].as_str().unwrap().contains(says), "{body}");
    }
    let (status, _) = app.get("/workflows/checked").await;
    assert_eq!(status, 404, "nothing was saved");

    // A service that workflows call cannot be deleted; the answer names them.
    for id in ["uses-upper-1", "uses-upper-2"] {
        app.create(&json!({"workflowId": id, "trigger": {"type": "manual"},
                           "actions": [call("up", "upper", "hi")]}))
            .await;
    }
    let (status, body) = app
        .send(app.http.delete(format!("{}/services/upper", app.base)))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "service_in_use");
    assert_eq!(
        body["details"]["workflows"],
        json!(["uses-upper-1", "uses-upper-2"])
    );
    let (status, _) = app.get("/services/upper").await;
    assert_eq!(status, 200, "still registered");
    for id in ["uses-upper-1", "uses-upper-2"] {
        assert_eq!(app.delete(&format!("/workflows/{id}")).await, 204);
    }
    assert_eq!(app.delete("/services/upper").await, 204);

    // When it runs: an answer outside the declaration fails the step, not retried; an input
    // rendered to the wrong type fails it before any call.
    let sink = Sink::start().await;
    let sink_service = text_service("to-sink", sink.url("/svc"), json!([]));
    register(&app, &sink_service).await;
    for (id, actions, says) in [
        (
            "answers-wrong",
            json!([call("count", "words", "a b")]),
            "output.space_count: \"seven\" is not an integer",
        ),
        (
            "renders-wrong",
            json!([call("send", "to-sink", "{{ inputs.n }}")]),
            "input.message: 3 is not a string",
        ),
    ] {
        let mut w = workflow(actions);
        w["workflowId"] = json!(id);
        let execution = app.run_to_end(&w).await;
        assert_eq!(execution["status"], "failed", "{execution}");
        assert_eq!(execution["attempt"], 1, "not retryable: {execution}");
        let error = execution["actions"][0]["error"].as_str().unwrap();
        assert!(error.contains(says), "{error}");
    }
    assert!(sink.hits("/svc").is_empty(), "a bad input is never sent");
}

async fn the_registry_is_versioned_like_workflows(transport: Transport) {
    let Some(app) = TestApp::spawn(transport, "the_registry_is_versioned_like_workflows").await
    else {
        return;
    };
    let upper = text_service(
        "upper",
        "http://upper.local:5000/".to_string(),
        json!([{"name": "message", "type": "string", "description": "The transformed text, in uppercase"}]),
    );
    let response = app
        .http
        .post(format!("{}/services", app.base))
        .json(&upper)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["etag"], "\"1\"");
    assert_eq!(response.headers()["location"], "/services/upper");
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["inputs"], upper["inputs"], "accepted verbatim");
    assert_eq!(created["version"], 1);

    let (status, body) = app.post("/services", &upper).await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (409, Some("already_exists"))
    );
    let (status, got) = app.get("/services/upper").await;
    assert_eq!((status.as_u16(), &got), (200, &created));

    let mut changed = upper.clone();
    changed["address"] = json!("http://upper.internal:5000/");
    changed["version"] = json!(7);
    let (status, body) = app.put("/services/upper", &changed).await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (409, Some("version_conflict"))
    );
    changed["version"] = json!(1);
    let (status, updated) = app.put("/services/upper", &changed).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["address"], "http://upper.internal:5000/");

    let mut renamed = changed.clone();
    renamed["name"] = json!("lower");
    let (status, body) = app.put("/services/upper", &renamed).await;
    assert_eq!(
        (status.as_u16(), body["details"]["field"].as_str()),
        (422, Some("name"))
    );

    for (bad, field) in [
        (json!({"name": "q", "queue": "no spaces"}), "queue"),
        (
            json!({"name": "both", "address": "http://b/", "queue": "b"}),
            "queue",
        ),
        (json!({"name": "nowhere"}), "address"),
        (
            json!({"name": "m", "address": "http://m/", "method": "FETCH"}),
            "method",
        ),
        (
            json!({"name": "t", "address": "http://t/", "inputs": [{"name": "a", "type": "int"}, {"name": "a", "type": "string"}]}),
            "inputs[1].name",
        ),
    ] {
        let (status, body) = app.post("/services", &bad).await;
        assert_eq!(
            (status.as_u16(), body["details"]["field"].as_str()),
            (422, Some(field)),
            "{bad}: {body}"
        );
    }
    let (status, body) = app
        .post("/services", &json!({"name": "x", "address": "http://x/", "inputs": [{"name": "a", "type": "float"}]}))
        .await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (400, Some("invalid_body")),
        "{body}"
    );

    let (status, list) = app.get("/services?limit=1").await;
    assert_eq!(status, 200);
    assert_eq!(list["items"], json!([updated]));
    assert_eq!(list["nextCursor"], json!(null));
    assert_eq!(app.delete("/services/ghost").await, 404);
}

crate::on_every_transport!(
    the_text_example_chains_three_services,
    service_calls_are_checked_when_saved_and_when_run,
    the_registry_is_versioned_like_workflows
);
