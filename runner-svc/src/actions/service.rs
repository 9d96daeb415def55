//! The `service` action: a call to a registered HTTP service. Its rendered input is checked
//! against the service's declared inputs before anything is sent, and the answer against its
//! declared outputs before it is recorded; a break of the declaration is not retryable (the
//! same call would break it again).

use super::{http, permanent, ActionContext, ActionFailure, ActionResult};
use serde_json::Value;
use shared::domain::{HttpAction, ServiceAction, ServiceSpec};
use std::collections::BTreeMap;

pub async fn run(call: &ServiceAction, ctx: &ActionContext<'_>) -> ActionResult {
    let name = &call.service;
    let Some(service) = ctx.services.get(name) else {
        return Err(permanent(format!(
            "service `{name}` is not registered (deleted after this workflow was saved?)"
        )));
    };
    service
        .check_input(&call.input)
        .map_err(|p| permanent(format!("service `{name}`: {p}")))?;
    let Some(request) = request(call, service, ctx) else {
        return Err(permanent(format!(
            "service `{name}` has no address to call"
        )));
    };
    let response = http::run(&request, ctx)
        .await
        .map_err(|failure| ActionFailure {
            error: format!("service `{name}`: {}", failure.error),
            ..failure
        })?;
    if response["bodyTruncated"] == Value::Bool(true) {
        return Err(permanent(format!(
            "service `{name}` answered more than the 64 KiB a response may hold"
        )));
    }
    let output = match &response["body"] {
        // An answer without a JSON content type is still read as JSON if it is.
        Value::String(text) => serde_json::from_str(text).unwrap_or(Value::String(text.clone())),
        other => other.clone(),
    };
    service.check_output(&output).map_err(|p| {
        permanent(format!(
            "service `{name}` answered outside its declaration: {p}"
        ))
    })?;
    Ok(output)
}

/// The HTTP request a call makes: its input as a JSON object, to the service's address.
fn request(
    call: &ServiceAction,
    service: &ServiceSpec,
    ctx: &ActionContext<'_>,
) -> Option<HttpAction> {
    let mut headers = BTreeMap::new();
    if let Some(key) = &ctx.idempotency_key {
        headers.insert("Idempotency-Key".to_string(), key.clone());
    }
    Some(HttpAction {
        id: None,
        depends: None,
        when: None,
        for_each: None,
        retry: None,
        continue_on_error: false,
        url: service.address.clone()?,
        method: service.method.clone().unwrap_or_else(|| "POST".to_string()),
        headers,
        body: Some(Value::Object(call.input.clone())),
        timeout: None,
        expect_status: None,
        forward_headers_on_redirect: false,
        idempotency_key: false,
    })
}
