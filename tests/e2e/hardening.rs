//! What a hostile target or a careless workflow could do, each now refused or contained:
//! secrets following a redirect, a body cut off recorded as success, framing headers, an
//! interval shown as something other than what runs, a loose Idempotency-Key, and the
//! unspecified address slipping past a deny of loopback.

use crate::support::{Reply, Sink, TestApp, Transport};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

async fn a_redirect_to_another_origin_carries_no_secrets(transport: Transport) {
    let Some(app) =
        TestApp::spawn(transport, "a_redirect_to_another_origin_carries_no_secrets").await
    else {
        return;
    };
    let (first, other) = (Sink::start().await, Sink::start().await);
    first.redirect("/away", 302, &other.url("/landed"));
    first.redirect("/near", 307, &first.url("/kept"));
    first.redirect("/opted", 302, &other.url("/opted-in"));
    let headers = json!({"X-Api-Key": "k-123", "Authorization": "Bearer secret"});
    for (id, path, opt_in) in [
        ("away", "/away?token=abc", false),
        ("near", "/near", false),
        ("opted", "/opted", true),
    ] {
        let e = app
            .run_to_end(&json!({"workflowId": id, "trigger": {"type": "manual"},
            "actions": [{"type": "http-request", "url": first.url(path), "headers": headers,
                         "forwardHeadersOnRedirect": opt_in}]}))
            .await;
        assert_eq!(e["status"], "succeeded", "{e}");
    }
    let landed = &other.hits("/landed")[0];
    assert!(
        landed.headers.get("x-api-key").is_none(),
        "{:?}",
        landed.headers
    );
    assert!(landed.headers.get("authorization").is_none());
    assert!(
        landed.headers.get("referer").is_none(),
        "the original URL leaked in Referer"
    );
    let kept = &first.hits("/kept")[0];
    assert_eq!(
        kept.headers["x-api-key"], "k-123",
        "same origin keeps the headers"
    );
    assert_eq!(other.hits("/opted-in")[0].headers["x-api-key"], "k-123");
}

async fn five_redirects_are_followed_and_a_sixth_fails(transport: Transport) {
    let Some(app) = TestApp::spawn(transport, "five_redirects_are_followed").await else {
        return;
    };
    let sink = Sink::start().await;
    for hop in 1..=6 {
        sink.redirect(
            &format!("/r{hop}"),
            302,
            &sink.url(&format!("/r{}", hop + 1)),
        );
    }
    // /r2 → … → /r7 is five redirects; /r1 → … → /r7 is six.
    let five = app
        .run_to_end(&json!({"workflowId": "five", "trigger": {"type": "manual"},
        "actions": [{"type": "http-request", "url": sink.url("/r2")}]}))
        .await;
    assert_eq!(five["status"], "succeeded", "{five}");
    let six = app.run_to_end(&json!({"workflowId": "six", "trigger": {"type": "manual"},
        "actions": [{"type": "http-request", "url": sink.url("/r1")}], "retry": {"maxAttempts": 1}}))
    .await;
    assert_eq!(six["status"], "failed", "{six}");
    assert!(
        six["actions"][0]["error"]
            .as_str()
            .unwrap()
            .contains("more than 5 redirects"),
        "{six}"
    );
}

async fn a_body_cut_off_by_the_timeout_fails_the_attempt(transport: Transport) {
    let Some(app) = TestApp::spawn(transport, "a_body_cut_off_by_the_timeout_fails").await else {
        return;
    };
    let sink = Sink::start().await;
    sink.trickle("/slow-body", 6, Duration::from_millis(400));
    let e = app
        .run_to_end(
            &json!({"workflowId": "trickle", "trigger": {"type": "manual"},
        "actions": [{"type": "http-request", "url": sink.url("/slow-body"), "timeout": "1s"}],
        "retry": {"maxAttempts": 2, "initialDelay": "10ms"}}),
        )
        .await;
    assert_eq!(e["status"], "failed", "{e}");
    assert_eq!(e["attempt"], 2, "a cut-off body is retried: {e}");
    let error = e["actions"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("cut off") && error.contains("timeout"),
        "{e}"
    );
}

async fn framing_headers_and_loose_keys_are_refused_and_intervals_normalised(transport: Transport) {
    let Some(app) = TestApp::spawn(transport, "framing_headers_are_refused").await else {
        return;
    };
    for header in ["Content-Length", "transfer-encoding", "Host", "Connection"] {
        let (status, body) = app
            .post(
                "/workflows",
                &json!({"workflowId": "smuggle", "trigger": {"type": "manual"},
                "actions": [{"type": "http-request", "url": "http://127.0.0.1:9/",
                             "headers": {header: "5"}}]}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{header}: {body}");
        assert_eq!(
            body["details"]["field"],
            format!("actions[0].headers.{header}"),
            "{body}"
        );
    }
    assert_eq!(app.get("/workflows/smuggle").await.0, StatusCode::NOT_FOUND);

    let created = app
        .create(
            &json!({"workflowId": "twice", "trigger": {"type": "periodic", "interval": "1s 1s"},
            "actions": [{"type": "log", "message": "m"}]}),
        )
        .await;
    assert_eq!(created["trigger"]["interval"], "2s");
    let (created_at, next): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) = (
        created["createdAt"].as_str().unwrap().parse().unwrap(),
        created["nextRunAt"].as_str().unwrap().parse().unwrap(),
    );
    assert_eq!(next - created_at, chrono::Duration::seconds(2));

    app.create(
        &json!({"workflowId": "keyed", "trigger": {"type": "manual"},
        "actions": [{"type": "log", "message": "m"}]}),
    )
    .await;
    let tabbed = app
        .http
        .post(format!("{}/workflows/keyed/trigger", app.base))
        .header("idempotency-key", "a\tb");
    let (status, body) = app.send(tabbed).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(app.executions_of("keyed").await.is_empty());
}

async fn the_unspecified_address_does_not_slip_past_a_loopback_deny(transport: Transport) {
    let settings = [("EGRESS_DENY", "127.0.0.0/8,::1")];
    let Some(app) =
        TestApp::spawn_with(transport, "the_unspecified_address_is_refused", &settings).await
    else {
        return;
    };
    let sink = Sink::start().await;
    let port = sink.base_url.rsplit(':').next().unwrap().to_string();
    for (id, host) in [
        ("zeros", "0.0.0.0"),
        ("v6-zeros", "[::]"),
        ("compat", "[::127.0.0.1]"),
    ] {
        let e = app
            .run_to_end(&json!({"workflowId": id, "trigger": {"type": "manual"},
            "actions": [{"type": "http-request", "url": format!("http://{host}:{port}/reached")}]}))
            .await;
        assert_eq!(e["status"], "failed", "{e}");
        assert_eq!(e["attempt"], 1, "a refusal is not retried: {e}");
    }
    assert!(
        sink.hits("/reached").is_empty(),
        "a refused request reached the local host"
    );
}

async fn deleting_a_workflow_stops_its_running_execution(transport: Transport) {
    let Some(app) =
        TestApp::spawn(transport, "deleting_a_workflow_stops_its_running_execution").await
    else {
        return;
    };
    let sink = Sink::start().await;
    sink.script(
        "/first",
        [Reply {
            status: 200,
            delay: Duration::from_secs(1),
        }],
    );
    let two_steps = json!({"workflowId": "doomed", "trigger": {"type": "manual"},
        "actions": [{"type": "http-request", "url": sink.url("/first")},
                    {"type": "http-request", "url": sink.url("/second")}]});
    app.create(&two_steps).await;
    let old = app.trigger("doomed").await;
    sink.wait_for("/first", 1, crate::support::SOON).await;
    assert_eq!(app.delete("/workflows/doomed").await, 204);
    let cancelled = app.wait_terminal(&old).await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");

    // Re-created under the same id while the old call may still be in flight.
    app.create(
        &json!({"workflowId": "doomed", "trigger": {"type": "manual"},
        "actions": [{"type": "log", "message": "new"}]}),
    )
    .await;
    let new = app.wait_terminal(&app.trigger("doomed").await).await;
    assert_eq!(new["status"], "succeeded", "{new}");
    // Longer than the first call took: the old execution would have started its second
    // action by now.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        sink.hits("/second").is_empty(),
        "a deleted workflow's next action started"
    );
    let (_, old_now) = app.get(&format!("/executions/{old}")).await;
    assert_eq!(old_now["status"], "cancelled", "{old_now}");
    app.wait_trigger_status("doomed", "idle").await;
}

async fn history_is_pruned_and_log_messages_are_capped(transport: Transport) {
    let settings = [
        ("RETENTION_PER_WORKFLOW", "2"),
        ("RETENTION_INTERVAL", "100ms"),
    ];
    let Some(app) = TestApp::spawn_with(transport, "history_is_pruned", &settings).await else {
        return;
    };
    let (status, body) = app
        .post(
            "/workflows",
            &json!({"workflowId": "loud", "trigger": {"type": "manual"},
            "actions": [{"type": "log", "message": "x".repeat(17 * 1024)}]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["details"]["field"], "actions[0].message");

    app.create(&json!({"workflowId": "kept", "trigger": {"type": "manual"},
        "actions": [{"type": "log", "message": "m"}]}))
        .await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        let id = app.trigger("kept").await;
        app.wait_terminal(&id).await;
        ids.push(id);
    }
    let deadline = std::time::Instant::now() + crate::support::SOON;
    loop {
        let history: Vec<String> = app
            .executions_of("kept")
            .await
            .iter()
            .map(|e| e["executionId"].as_str().unwrap().to_string())
            .collect();
        if history == [ids[3].clone(), ids[2].clone()] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "history not pruned to the newest two: {history:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.get(&format!("/executions/{}", ids[0])).await.0,
        StatusCode::NOT_FOUND
    );
}

/// `HTTP_PROXY` in the environment no longer routes actions around the egress checks; a proxy
/// set on purpose (`EGRESS_PROXY`) still has the target checked before anything is sent.
async fn proxy_variables_do_not_turn_the_egress_policy_off(transport: Transport) {
    let proxy = Sink::start().await;
    // Each test runs in a process of its own (cargo nextest), so this reaches only this app.
    std::env::set_var("HTTP_PROXY", &proxy.base_url);
    std::env::set_var("http_proxy", &proxy.base_url);
    let settings = [("EGRESS_DENY", "127.0.0.0/8,::1")];
    let Some(app) = TestApp::spawn_with(transport, "proxy_variables_are_ignored", &settings).await
    else {
        return;
    };
    let e = app
        .run_to_end(
            &json!({"workflowId": "via-env", "trigger": {"type": "manual"},
        "actions": [{"type": "http-request", "url": "http://denied.invalid/secret"}],
        "retry": {"maxAttempts": 1}}),
        )
        .await;
    assert_eq!(e["status"], "failed", "{e}");
    assert!(
        proxy.hits("/secret").is_empty(),
        "the request went to HTTP_PROXY"
    );
    std::env::remove_var("HTTP_PROXY");
    std::env::remove_var("http_proxy");

    let proxied = [
        ("EGRESS_DENY", "127.0.0.0/8,::1"),
        ("EGRESS_PROXY", proxy.base_url.as_str()),
    ];
    let Some(app) =
        TestApp::spawn_with(transport, "egress_proxy_checks_the_target", &proxied).await
    else {
        return;
    };
    let target = proxy.url("/denied").replace("127.0.0.1", "localhost");
    let e = app
        .run_to_end(
            &json!({"workflowId": "via-setting", "trigger": {"type": "manual"},
        "actions": [{"type": "http-request", "url": target}]}),
        )
        .await;
    assert_eq!(e["status"], "failed", "{e}");
    assert_eq!(e["attempt"], 1, "a refusal is not retried: {e}");
    assert!(
        e["error"].as_str().unwrap().contains("egress policy"),
        "{e}"
    );
    assert!(
        proxy.hits("/denied").is_empty(),
        "a denied target was sent to the proxy"
    );
}

crate::on_every_transport!(
    proxy_variables_do_not_turn_the_egress_policy_off,
    history_is_pruned_and_log_messages_are_capped,
    deleting_a_workflow_stops_its_running_execution,
    a_redirect_to_another_origin_carries_no_secrets,
    five_redirects_are_followed_and_a_sixth_fails,
    a_body_cut_off_by_the_timeout_fails_the_attempt,
    framing_headers_and_loose_keys_are_refused_and_intervals_normalised,
    the_unspecified_address_does_not_slip_past_a_loopback_deny,
);
