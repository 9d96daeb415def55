//! Manual-trigger rate limits hold across API processes: two `workflows-svc` on one store,
//! a workflow limited to 10 per minute, 15 triggers in a row spread over both → 10 accepted,
//! 5 × 429 with `Retry-After` and `RateLimit-*`, nothing recorded for the refused ones.

use crate::support::process::{settings, Service};
use crate::support::Transport;
use reqwest::StatusCode;
use serde_json::json;

async fn the_rate_limit_holds_across_two_api_processes(transport: Transport) {
    let Some(stack) = transport.settings("the_rate_limit_holds_across_two_api_processes") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let first = Service::start(
        "workflows-svc",
        &settings(dir.path(), stack.clone()),
        dir.path(),
        true,
    )
    .await;
    let log = dir.path().join("workflows-svc-2.log");
    let second = Service::start_logging_to(
        "workflows-svc",
        &log,
        &settings(dir.path(), stack.clone()),
        true,
    )
    .await;
    let _scheduler = Service::start(
        "scheduler-svc",
        &settings(dir.path(), stack.clone()),
        dir.path(),
        false,
    )
    .await;
    let _runner = Service::start(
        "runner-svc",
        &settings(dir.path(), stack),
        dir.path(),
        false,
    )
    .await;

    first
        .api
        .create(&json!({"workflowId": "limited",
            "trigger": {"type": "manual", "rateLimit": {"max": 10, "per": "1m"}},
            "actions": [{"type": "log", "message": "m"}]}))
        .await;
    let (mut accepted, mut refused) = (0, 0);
    for i in 0..15 {
        let api = if i % 2 == 0 { &first.api } else { &second.api };
        let response = api
            .http
            .post(format!("{}/workflows/limited/trigger", api.base))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body: serde_json::Value = response.json().await.unwrap();
        match status {
            StatusCode::ACCEPTED => {
                accepted += 1;
                api.wait_terminal(body["executionId"].as_str().unwrap())
                    .await;
            }
            StatusCode::TOO_MANY_REQUESTS => {
                refused += 1;
                assert_eq!(body["error"], "rate_limited", "{body}");
                let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
                assert!((1..=60).contains(&retry_after), "{retry_after}");
                assert_eq!(headers["ratelimit-limit"], "10");
                assert_eq!(headers["ratelimit-remaining"], "0");
            }
            other => panic!("trigger {i}: {other} {body}"),
        }
    }
    assert_eq!((accepted, refused), (10, 5));
    assert_eq!(
        first.api.executions_of("limited").await.len(),
        10,
        "refusals recorded nothing"
    );
}

crate::on_every_transport!(the_rate_limit_holds_across_two_api_processes);
