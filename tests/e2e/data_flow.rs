//! Issue 10 (first part): a later action reads an earlier one's output and the trigger's typed
//! input through templates; bad references and bad inputs are refused when saved or triggered.

use crate::support::{Sink, TestApp, Transport};
use serde_json::{json, Value};

async fn a_step_posts_what_an_earlier_step_and_the_input_gave(transport: Transport) {
    let Some(app) = TestApp::spawn(
        transport,
        "a_step_posts_what_an_earlier_step_and_the_input_gave",
    )
    .await
    else {
        return;
    };
    let sink = Sink::start().await;
    sink.reply_json(
        "/lookup",
        &json!({"id": 7, "profile": {"tier": "gold", "tags": ["a", "b"]}}),
    );
    app.create(&json!({
        "workflowId": "flow",
        "trigger": {"type": "manual"},
        "inputs": {
            "customer": {"type": "string", "required": true, "pattern": "^[a-z]+$"},
            "notify": {"type": "boolean", "default": true}
        },
        "actions": [
            {"id": "lookup", "type": "http-request", "url": sink.url("/lookup")},
            {"type": "http-request", "method": "POST", "url": format!("{}/process/{{{{ inputs.customer }}}}", sink.base_url),
             "headers": {"X-Execution": "{{ execution.id }}"},
             "body": {"id": "{{ steps.lookup.output.body.id }}", "profile": "{{ steps.lookup.output.body.profile }}",
                      "notify": "{{ inputs.notify }}", "note": "customer {{ inputs.customer }}"}}
        ]
    }))
    .await;
    let (status, accepted) = app
        .post(
            "/workflows/flow/trigger",
            &json!({"input": {"customer": "acme"}}),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["executionId"].as_str().unwrap().to_string();
    let execution = app.wait_terminal(&id).await;
    assert_eq!(execution["status"], "succeeded", "{execution}");
    assert_eq!(
        execution["input"],
        json!({"customer": "acme", "notify": true})
    );

    let hits = sink.hits("/process/acme");
    assert_eq!(hits.len(), 1, "the URL was rendered from the input");
    let posted: Value = serde_json::from_str(&hits[0].body).unwrap();
    assert_eq!(
        posted,
        json!({"id": 7, "profile": {"tier": "gold", "tags": ["a", "b"]}, "notify": true, "note": "customer acme"}),
        "a field that is one expression keeps its JSON type"
    );
    assert_eq!(hits[0].headers["x-execution"], id.as_str());
    assert_eq!(
        execution["actions"][0]["output"]["body"]["profile"]["tier"],
        "gold"
    );

    // A rendered header value cannot smuggle a second header: the step fails, nothing is sent.
    app.create(&json!({
        "workflowId": "smuggle", "trigger": {"type": "manual"},
        "inputs": {"who": {"type": "string"}},
        "actions": [{"type": "http-request", "url": sink.url("/smuggled"), "headers": {"X-Who": "{{ inputs.who }}"}}]
    }))
    .await;
    let (_, accepted) = app
        .post(
            "/workflows/smuggle/trigger",
            &json!({"input": {"who": "a\r\nX-Evil: 1"}}),
        )
        .await;
    let failed = app
        .wait_terminal(accepted["executionId"].as_str().unwrap())
        .await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let error = failed["actions"][0]["error"].as_str().unwrap();
    assert!(error.contains("line break"), "{failed}");
    assert!(sink.hits("/smuggled").is_empty());
}

async fn bad_inputs_and_references_are_refused_naming_the_field(transport: Transport) {
    let Some(app) = TestApp::spawn(
        transport,
        "bad_inputs_and_references_are_refused_naming_the_field",
    )
    .await
    else {
        return;
    };
    app.create(&json!({
        "workflowId": "typed", "trigger": {"type": "manual"},
        "inputs": {"tier": {"type": "string", "required": true, "enum": ["gold", "silver"]},
                   "count": {"type": "integer", "default": 1}},
        "actions": [{"type": "log", "message": "{{ inputs.tier }} x{{ inputs.count }}"}]
    }))
    .await;
    for (input, field) in [
        (json!({}), "input.tier"),
        (json!({"tier": 3}), "input.tier"),
        (json!({"tier": "bronze"}), "input.tier"),
        (json!({"tier": "gold", "count": "two"}), "input.count"),
        (json!({"tier": "gold", "color": "red"}), "input.color"),
    ] {
        let (status, body) = app
            .post("/workflows/typed/trigger", &json!({"input": input}))
            .await;
        assert_eq!(status, 422, "{input}: {body}");
        assert_eq!(body["details"]["field"], field, "{body}");
    }
    assert!(
        app.executions_of("typed").await.is_empty(),
        "nothing recorded"
    );
    let (status, body) = app
        .post("/workflows/typed/trigger", &json!({"imput": {}}))
        .await;
    assert_eq!(status, 400, "{body}");

    let (status, accepted) = app
        .post(
            "/workflows/typed/trigger",
            &json!({"input": {"tier": "gold"}}),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    let done = app
        .wait_terminal(accepted["executionId"].as_str().unwrap())
        .await;
    assert_eq!(done["actions"][0]["output"]["message"], "gold x1", "{done}");

    let log = |message: &str| json!({"type": "log", "message": message});
    let refused = [
        (
            json!([{"id": "a", "type": "log", "message": "m"}, {"id": "a", "type": "log", "message": "m"}]),
            "actions[1].id",
        ),
        (
            json!([log("{{ steps.later.output }}"), {"id": "later", "type": "log", "message": "m"}]),
            "actions[0].message",
        ),
        (
            json!([log("{{ inputs.undeclared }}")]),
            "actions[0].message",
        ),
        (json!([log("{{ item }}")]), "actions[0].message"),
        (json!([log("{{ unclosed")]), "actions[0].message"),
    ];
    for (actions, field) in refused {
        let (status, body) = app
            .post(
                "/workflows",
                &json!({"workflowId": "bad", "trigger": {"type": "manual"}, "actions": actions}),
            )
            .await;
        assert_eq!(
            (status.as_u16(), body["details"]["field"].as_str()),
            (422, Some(field)),
            "{body}"
        );
    }
    let (status, body) = app
        .post(
            "/workflows",
            &json!({"workflowId": "bad", "trigger": {"type": "periodic", "interval": "10s"},
            "inputs": {"who": {"type": "string", "required": true}}, "actions": [log("m")]}),
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["details"]["field"].as_str()),
        (422, Some("inputs.who")),
        "{body}"
    );
}

/// Must show 10: a runaway template fails its step with a clear error, and the runner goes on.
async fn a_runaway_template_fails_its_step_and_the_runner_goes_on(transport: Transport) {
    let Some(app) = TestApp::spawn(
        transport,
        "a_runaway_template_fails_its_step_and_the_runner_goes_on",
    )
    .await
    else {
        return;
    };
    let runaway = "{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}";
    let failed = app
        .run_to_end(
            &json!({"workflowId": "runaway", "trigger": {"type": "manual"},
            "actions": [{"type": "log", "message": runaway}]}),
        )
        .await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let error = failed["actions"][0]["error"].as_str().unwrap();
    assert!(error.contains("fuel"), "{error}");
    let fine = app
        .run_to_end(&json!({"workflowId": "fine", "trigger": {"type": "manual"},
            "actions": [{"type": "log", "message": "still here"}]}))
        .await;
    assert_eq!(fine["status"], "succeeded", "{fine}");
}

crate::on_every_transport!(
    a_runaway_template_fails_its_step_and_the_runner_goes_on,
    a_step_posts_what_an_earlier_step_and_the_input_gave,
    bad_inputs_and_references_are_refused_naming_the_field
);
