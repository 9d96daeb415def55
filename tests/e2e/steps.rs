//! Issue 10: steps as a graph. A switch routes to one branch and skips the others with their
//! dependants; `when` skips a step; roots run at once and a join waits for all of them; a
//! fan-out keeps to its concurrency and item order and a retry re-runs only its failed items;
//! `continueOnError` and per-step retry; outputs over the limit; definition errors.

use crate::support::{Reply, Sink, TestApp, Transport, SOON};
use serde_json::{json, Value};
use std::time::Duration;

/// The step record with this id.
fn step<'a>(execution: &'a Value, id: &str) -> &'a Value {
    execution["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id} in {execution}"))
}

fn at(step: &Value, field: &str) -> chrono::DateTime<chrono::Utc> {
    step[field].as_str().unwrap().parse().unwrap()
}

async fn trigger_with(app: &TestApp, workflow_id: &str, input: Value) -> Value {
    let (status, accepted) = app
        .post(
            &format!("/workflows/{workflow_id}/trigger"),
            &json!({"input": input}),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    app.wait_terminal(accepted["executionId"].as_str().unwrap())
        .await
}

/// Must show 4: the lookup says gold, so only the gold branch calls the sink; the other
/// branches and their dependants are skipped, a join after them runs; `when` skips too.
async fn a_switch_runs_only_the_chosen_branch(transport: Transport) {
    let Some(app) = TestApp::spawn(transport, "a_switch_runs_only_the_chosen_branch").await else {
        return;
    };
    let sink = Sink::start().await;
    sink.reply_json("/lookup", &json!({"profile": "gold"}));
    app.create(&json!({
        "workflowId": "route", "trigger": {"type": "manual"},
        "inputs": {"notify": {"type": "boolean", "default": false}},
        "actions": [
            {"id": "lookup", "type": "http-request", "url": sink.url("/lookup")},
            {"id": "route", "type": "switch", "value": "steps.lookup.output.body.profile",
             "cases": {"gold": ["gold"], "silver": ["silver"]}, "default": ["other"]},
            {"id": "gold", "type": "http-request", "url": sink.url("/gold")},
            {"id": "silver", "type": "http-request", "url": sink.url("/silver")},
            {"id": "silverNext", "type": "http-request", "url": sink.url("/silver-next")},
            {"id": "other", "type": "http-request", "url": sink.url("/other")},
            {"id": "join", "type": "log", "depends": ["gold", "silverNext", "other"],
             "message": "routed {{ steps.route.output.case }}"},
            {"id": "notify", "type": "log", "when": "inputs.notify", "message": "notified"},
            {"id": "afterNotify", "type": "log", "message": "after"}
        ]
    }))
    .await;
    let done = trigger_with(&app, "route", json!({})).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(sink.hits("/gold").len(), 1);
    for path in ["/silver", "/silver-next", "/other"] {
        assert!(sink.hits(path).is_empty(), "{path} was called: {done}");
    }
    for (id, status) in [
        ("route", "succeeded"),
        ("gold", "succeeded"),
        ("silver", "skipped"),
        ("silverNext", "skipped"),
        ("other", "skipped"),
        ("join", "succeeded"),
        ("notify", "skipped"),
        ("afterNotify", "skipped"),
    ] {
        assert_eq!(step(&done, id)["status"], status, "{id}: {done}");
    }
    assert_eq!(step(&done, "route")["output"]["case"], "gold");
    assert_eq!(step(&done, "join")["output"]["message"], "routed gold");

    let notified = trigger_with(&app, "route", json!({"notify": true})).await;
    assert_eq!(
        step(&notified, "notify")["status"],
        "succeeded",
        "{notified}"
    );
    assert_eq!(step(&notified, "afterNotify")["status"], "succeeded");
}

/// Must show 5: three roots each taking 300 ms are at the sink at the same time; the join runs
/// once, after all three ended.
async fn roots_run_at_once_and_a_join_waits_for_all(transport: Transport) {
    let Some(app) = TestApp::spawn(transport, "roots_run_at_once_and_a_join_waits_for_all").await
    else {
        return;
    };
    let sink = Sink::start().await;
    for root in ["a", "b", "c"] {
        sink.script(
            &format!("/slow/{root}"),
            [Reply::ok_after(Duration::from_millis(300))],
        );
    }
    let root = |id: &str| json!({"id": id, "type": "http-request", "depends": [], "url": sink.url(&format!("/slow/{id}"))});
    let done = app
        .run_to_end(&json!({
            "workflowId": "parallel", "trigger": {"type": "manual"},
            "actions": [root("a"), root("b"), root("c"),
                {"id": "join", "type": "http-request", "depends": ["a", "b", "c"], "url": sink.url("/join")}]
        }))
        .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(
        sink.most_at_once("/slow"),
        3,
        "the roots ran at once: {done}"
    );
    assert_eq!(sink.hits("/join").len(), 1);
    let join_started = at(step(&done, "join"), "startedAt");
    for id in ["a", "b", "c"] {
        assert!(
            join_started >= at(step(&done, id), "finishedAt"),
            "join started before {id} ended: {done}"
        );
    }
}

/// Must show 6: 50 items at concurrency 5 → 50 calls, never more than 5 at once, the output in
/// item order; with `failFast: false` two failing items leave the other 48 running, the step
/// and the attempt fail, and the retry calls only those two, with the same Idempotency-Key.
async fn a_fan_out_keeps_its_concurrency_and_retries_only_failed_items(transport: Transport) {
    let Some(app) = TestApp::spawn(
        transport,
        "a_fan_out_keeps_its_concurrency_and_retries_only_failed_items",
    )
    .await
    else {
        return;
    };
    let sink = Sink::start().await;
    let items: Vec<u32> = (0..50).collect();
    sink.reply_json("/list", &json!({"items": items}));
    for k in &items {
        let path = format!("/fan/{k}");
        sink.reply_json(&path, &json!({"k": k}));
        let status = if *k == 7 || *k == 13 { 500 } else { 200 };
        sink.script(
            &path,
            [Reply {
                status,
                delay: Duration::from_millis(30),
            }],
        );
    }
    app.create(&json!({
        "workflowId": "fan", "trigger": {"type": "manual"},
        "actions": [
            {"id": "list", "type": "http-request", "url": sink.url("/list")},
            {"id": "fan", "type": "http-request", "method": "POST", "idempotencyKey": true,
             "url": format!("{}/fan/{{{{ item }}}}", sink.base_url), "body": {"n": "{{ item }}"},
             "forEach": {"items": "steps.list.output.body.items", "concurrency": 5, "failFast": false},
             "retry": {"maxAttempts": 2, "initialDelay": "1s"}},
            {"id": "count", "type": "log", "message": "{{ steps.fan.output | length }} results"}
        ]
    }))
    .await;
    let id = app.trigger("fan").await;
    let deadline = std::time::Instant::now() + SOON;
    let first = loop {
        let (_, execution) = app.get(&format!("/executions/{id}")).await;
        if execution["status"] == "retrying" {
            break execution;
        }
        assert!(std::time::Instant::now() < deadline, "{execution}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let fan = step(&first, "fan");
    assert_eq!(fan["status"], "failed", "{first}");
    let failed: Vec<usize> = (0..50)
        .filter(|&k| fan["items"][k]["status"] == "failed")
        .collect();
    assert_eq!(failed, vec![7, 13], "{fan}");
    assert!(fan["error"]
        .as_str()
        .unwrap()
        .contains("2 of 50 items failed"));
    for k in &items {
        assert_eq!(
            sink.hits(&format!("/fan/{k}")).len(),
            1,
            "every item ran once"
        );
    }
    assert_eq!(
        sink.most_at_once("/fan"),
        5,
        "at most 5 at once, and 5 used"
    );

    let done = app.wait_terminal(&id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    for k in &items {
        let hits = sink.hits(&format!("/fan/{k}"));
        let expected = if *k == 7 || *k == 13 { 2 } else { 1 };
        assert_eq!(
            hits.len(),
            expected,
            "item {k}: only failed items ran again"
        );
        for hit in &hits {
            assert_eq!(
                hit.headers["idempotency-key"],
                format!("{id}:fan:{k}").as_str()
            );
            assert_eq!(hit.body, format!("{{\"n\":{k}}}"));
        }
    }
    let output = step(&done, "fan")["output"].as_array().unwrap().clone();
    let order: Vec<Value> = output.iter().map(|o| o["body"]["k"].clone()).collect();
    assert_eq!(order, items.iter().map(|k| json!(k)).collect::<Vec<_>>());
    assert_eq!(step(&done, "count")["output"]["message"], "50 results");

    // failFast (the default): the first failure stops further items; those running finish.
    sink.reply_json("/few", &json!({"items": [0, 1, 2, 3]}));
    sink.script("/ff/1", [404]);
    let failed = app
        .run_to_end(&json!({
            "workflowId": "fast", "trigger": {"type": "manual"},
            "actions": [
                {"id": "few", "type": "http-request", "url": sink.url("/few")},
                {"id": "each", "type": "http-request", "url": format!("{}/ff/{{{{ item }}}}", sink.base_url),
                 "forEach": {"items": "steps.few.output.body.items", "concurrency": 1}}
            ]
        }))
        .await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(sink.hits("/ff/2").is_empty() && sink.hits("/ff/3").is_empty());
    let error = step(&failed, "each")["error"].as_str().unwrap();
    assert!(
        error.contains("item 1") && error.contains("2 not started"),
        "{error}"
    );
}

/// A failing step with `continueOnError` lets its dependants run and the execution succeed;
/// a step's own retry policy decides its attempts over the workflow's.
async fn continue_on_error_and_a_steps_own_retry(transport: Transport) {
    let Some(app) = TestApp::spawn(transport, "continue_on_error_and_a_steps_own_retry").await
    else {
        return;
    };
    let sink = Sink::start().await;
    sink.script("/broken", [500, 500, 500]);
    let done = app
        .run_to_end(&json!({
            "workflowId": "tolerant", "trigger": {"type": "manual"},
            "retry": {"maxAttempts": 3, "initialDelay": "10ms"},
            "actions": [
                {"id": "flaky", "type": "http-request", "url": sink.url("/broken"),
                 "retry": {"maxAttempts": 1}, "continueOnError": true},
                {"id": "after", "type": "log", "message": "flaky {{ steps.flaky.status }}"}
            ]
        }))
        .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let flaky = step(&done, "flaky");
    assert_eq!(
        (&flaky["status"], &flaky["attempts"], &flaky["continued"]),
        (&json!("failed"), &json!(1), &json!(true)),
        "{done}"
    );
    assert_eq!(sink.hits("/broken").len(), 1, "its own maxAttempts of 1");
    assert_eq!(step(&done, "after")["output"]["message"], "flaky failed");

    sink.script("/broken-twice", [500, 500, 500]);
    let failed = app
        .run_to_end(&json!({
            "workflowId": "strict", "trigger": {"type": "manual"},
            "defaults": {"retry": {"maxAttempts": 2, "initialDelay": "10ms"}, "timeout": "2s"},
            "actions": [{"id": "call", "type": "http-request", "url": sink.url("/broken-twice")}]
        }))
        .await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(
        sink.hits("/broken-twice").len(),
        2,
        "the defaults' maxAttempts"
    );
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("retries exhausted") && error.contains("step `call`"),
        "{error}"
    );
}

/// An output over STEP_OUTPUT_LIMIT is not kept but marked, and a step reading into it fails
/// saying why.
async fn an_output_over_the_limit_is_marked_and_reading_it_fails(transport: Transport) {
    let Some(app) = TestApp::spawn_with(
        transport,
        "an_output_over_the_limit_is_marked_and_reading_it_fails",
        &[("STEP_OUTPUT_LIMIT", "1024")],
    )
    .await
    else {
        return;
    };
    let sink = Sink::start().await;
    sink.reply_json("/big", &json!({"x": "y".repeat(4000)}));
    let failed = app
        .run_to_end(&json!({
            "workflowId": "big", "trigger": {"type": "manual"},
            "actions": [
                {"id": "big", "type": "http-request", "url": sink.url("/big")},
                {"id": "state", "type": "log", "message": "{{ steps.big.status }}"},
                {"id": "read", "type": "log", "message": "{{ steps.big.output.body.x }}"}
            ]
        }))
        .await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let big = step(&failed, "big");
    assert_eq!(
        (
            &big["status"],
            &big["outputTruncated"],
            &big["output"]["truncated"]
        ),
        (&json!("succeeded"), &json!(true), &json!(true)),
        "{big}"
    );
    assert_eq!(step(&failed, "state")["output"]["message"], "succeeded");
    let error = step(&failed, "read")["error"].as_str().unwrap();
    assert!(error.contains("STEP_OUTPUT_LIMIT"), "{error}");
}

/// Must show 7: each definition error is a 422 naming the step's field, and nothing is saved.
async fn graph_errors_are_refused_naming_the_field(transport: Transport) {
    let Some(app) = TestApp::spawn(transport, "graph_errors_are_refused_naming_the_field").await
    else {
        return;
    };
    let log = |id: &str, extra: Value| {
        let mut step = json!({"id": id, "type": "log", "message": "m"});
        step.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        step
    };
    let refused = [
        (
            json!([log("a", json!({})), log("a", json!({}))]),
            "actions[1].id",
        ),
        (
            json!([log("a", json!({"depends": ["ghost"]}))]),
            "actions[0].depends[0]",
        ),
        (
            json!([{"id": "s", "type": "switch", "value": "1", "cases": {"x": ["ghost"]}}]),
            "actions[0].cases.x",
        ),
        (
            json!([
                log("a", json!({"depends": ["b"]})),
                log("b", json!({"depends": ["a"]}))
            ]),
            "actions[0].depends",
        ),
        (
            json!([log("a", json!({"message": "{% if %}"}))]),
            "actions[0].message",
        ),
        (
            json!([
                log("a", json!({"depends": []})),
                log(
                    "b",
                    json!({"depends": [], "message": "{{ steps.a.output }}"})
                )
            ]),
            "actions[1].message",
        ),
        (
            json!([log("a", json!({"message": "{{ item }}"}))]),
            "actions[0].message",
        ),
        (
            json!([log("a", json!({"message": "{{ inputs.nope }}"}))]),
            "actions[0].message",
        ),
        (
            json!([log(
                "a",
                json!({"forEach": {"items": "[1]", "maxItems": 1000000}})
            )]),
            "actions[0].forEach.maxItems",
        ),
        (
            json!([log("a", json!({"forEach": {"items": "item"}}))]),
            "actions[0].forEach.items",
        ),
        (
            json!([log("a", json!({"when": "steps.a.output"}))]),
            "actions[0].when",
        ),
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
            "{actions}: {body}"
        );
        assert!(body["message"].as_str().is_some_and(|m| m.len() > 20));
    }
    let (status, _) = app.get("/workflows/bad").await;
    assert_eq!(status, 404, "nothing was saved");
}

crate::on_every_transport!(
    a_switch_runs_only_the_chosen_branch,
    roots_run_at_once_and_a_join_waits_for_all,
    a_fan_out_keeps_its_concurrency_and_retries_only_failed_items,
    continue_on_error_and_a_steps_own_retry,
    an_output_over_the_limit_is_marked_and_reading_it_fails,
    graph_errors_are_refused_naming_the_field
);
