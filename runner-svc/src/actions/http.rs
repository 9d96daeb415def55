//! The `http-request` action.

use super::egress::{check_url, EgressRefused, PolicyResolver};
use super::{permanent, ActionContext, ActionFailure, ActionResult};
use reqwest::header::{HeaderMap, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use serde_json::{json, Map, Value};
use shared::domain::{ExpectStatus, HttpAction};
use shared::egress::EgressPolicy;
use std::sync::Arc;
use std::time::Duration;

/// Response bodies are recorded up to this size (DESIGN §3).
const MAX_RECORDED_BODY: usize = 64 * 1024;
/// Response headers worth recording; others may carry session tokens.
const RECORDED_HEADERS: [reqwest::header::HeaderName; 4] =
    [CONTENT_TYPE, CONTENT_LENGTH, LOCATION, RETRY_AFTER];

/// Redirects followed before the action fails.
const MAX_REDIRECTS: usize = 5;

/// The client of all `http-request` actions, with the egress policy built in. It follows no
/// redirect and sends no `Referer` itself: `send` follows them, so that each hop is checked
/// and a hop to another origin does not carry the workflow's headers. Proxy variables of the
/// environment are ignored; only `EGRESS_PROXY` sets a proxy.
pub fn http_client(policy: Arc<EgressPolicy>) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .dns_resolver(Arc::new(PolicyResolver(policy.clone())))
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .no_proxy()
        // Under the 5 s after which Node's and Apache's servers close an idle connection by
        // default: a call reusing one just as the server closed it failed its step with
        // "connection closed before message completed" (a retry 6 s after a call, seen in
        // the dashboard's browser test), which is no fault of the workflow.
        .pool_idle_timeout(Duration::from_secs(4))
        .user_agent(concat!("wfa-runner/", env!("CARGO_PKG_VERSION")));
    if let Some(proxy) = &policy.proxy {
        builder = builder.proxy(reqwest::Proxy::all(proxy.as_str())?);
    }
    Ok(builder.build()?)
}

pub async fn run(action: &HttpAction, ctx: &ActionContext<'_>) -> ActionResult {
    let method = reqwest::Method::from_bytes(action.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| permanent(format!("`{}` is not an HTTP method", action.method)))?;
    let url = reqwest::Url::parse(&action.url)
        .map_err(|e| permanent(format!("`{}` is not a URL: {e}", action.url)))?;
    let deadline = tokio::time::Instant::now() + ctx.timeout;
    let mut response = send(action, ctx, method, url, deadline).await?;
    let status = response.status().as_u16();
    let headers = recorded_headers(response.headers());
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            let mime = t.split(';').next().unwrap_or_default().trim();
            mime.eq_ignore_ascii_case("application/json") || mime.ends_with("+json")
        });
    let (text, truncated) = read_body(&mut response, ctx.timeout).await?;
    // A whole JSON body is recorded as JSON, so later steps can read into it.
    let body = match is_json && !truncated {
        true => serde_json::from_str(&text).unwrap_or(Value::String(text)),
        false => Value::String(text),
    };
    let output =
        json!({ "status": status, "headers": headers, "body": body, "bodyTruncated": truncated });
    if ExpectStatus::accepts(action.expect_status.as_ref(), status) {
        return Ok(output);
    }
    let expected = match &action.expect_status {
        Some(e) => e
            .codes()
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(" or "),
        None => "2xx".to_string(),
    };
    Err(ActionFailure {
        error: format!("expected status {expected}, got {status}"),
        retryable: status >= 500 || status == 408 || status == 429,
        retry_after: retry_after.filter(|_| status == 429 || status == 503),
    })
}

/// Sends the request and follows up to [`MAX_REDIRECTS`] redirects, each hop checked by the
/// egress policy like the first. The workflow's headers go to the first origin only, unless
/// the action sets `forwardHeadersOnRedirect`.
async fn send(
    action: &HttpAction,
    ctx: &ActionContext<'_>,
    mut method: reqwest::Method,
    mut url: reqwest::Url,
    deadline: tokio::time::Instant,
) -> Result<reqwest::Response, ActionFailure> {
    let origin = url.origin();
    let mut body = action.body.as_ref();
    for redirects in 0..=MAX_REDIRECTS {
        check_target(ctx.egress, &url).await?;
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        let mut request = ctx
            .http
            .request(method.clone(), url.clone())
            .timeout(remaining);
        if url.origin() == origin || action.forward_headers_on_redirect {
            for (name, value) in &action.headers {
                request = request.header(name, value);
            }
        }
        request = match body {
            None => request,
            Some(Value::String(text)) => request.body(text.clone()),
            Some(json_body) => request.json(json_body),
        };
        let response = request
            .send()
            .await
            .map_err(|e| transport_failure(e, ctx.timeout))?;
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| url.join(l).ok());
        let Some(next) = location.filter(|_| matches!(status, 301 | 302 | 303 | 307 | 308)) else {
            return Ok(response);
        };
        if redirects == MAX_REDIRECTS {
            break;
        }
        // As browsers do: 303, and 301/302 after a POST, continue as a GET without the body.
        if status == 303 && method != reqwest::Method::HEAD
            || matches!(status, 301 | 302) && method == reqwest::Method::POST
        {
            method = reqwest::Method::GET;
            body = None;
        }
        url = next;
    }
    Err(permanent(format!("more than {MAX_REDIRECTS} redirects")))
}

/// The egress check before a request leaves: IP literals here; names where they resolve, or
/// here as well when a proxy resolves them instead of us.
async fn check_target(policy: &EgressPolicy, url: &reqwest::Url) -> Result<(), ActionFailure> {
    check_url(policy, url).map_err(|refused| permanent(refused.to_string()))?;
    if policy.proxy.is_some() {
        super::egress::check_resolved(policy, url)
            .await
            .map_err(|refused| permanent(refused.to_string()))?;
    }
    Ok(())
}

/// `Retry-After` as seconds or as an HTTP date (RFC 9110 §10.2.3); a past date means now.
fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (at.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// Network-level failures are retryable. The URL is left out: it may carry a token.
fn transport_failure(err: reqwest::Error, timeout: Duration) -> ActionFailure {
    let err = err.without_url();
    if let Some(refused) = find_cause::<EgressRefused>(&err) {
        return permanent(refused.to_string());
    }
    let error = if err.is_timeout() {
        format!(
            "no response within the {} timeout",
            humantime::format_duration(timeout)
        )
    } else if err.is_connect() {
        format!("cannot connect: {}", root_cause(&err))
    } else if err.is_builder() {
        return permanent(format!("the request cannot be built: {}", root_cause(&err)));
    } else {
        format!("request failed: {}", root_cause(&err))
    };
    ActionFailure {
        error,
        retryable: true,
        retry_after: None,
    }
}

fn find_cause<'a, E: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a E> {
    let mut cause = Some(err);
    while let Some(current) = cause {
        if let Some(found) = current.downcast_ref::<E>() {
            return Some(found);
        }
        cause = current.source();
    }
    None
}

fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

fn recorded_headers(headers: &HeaderMap) -> Value {
    let mut map = Map::new();
    for name in &RECORDED_HEADERS {
        if let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) {
            map.insert(name.as_str().to_string(), Value::String(value.to_string()));
        }
    }
    Value::Object(map)
}

/// Reads at most [`MAX_RECORDED_BODY`] bytes; the rest is not downloaded. A body cut off by
/// the timeout or the connection is a failed attempt, not a short success.
async fn read_body(
    response: &mut reqwest::Response,
    timeout: Duration,
) -> Result<(String, bool), ActionFailure> {
    let mut body = Vec::new();
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return Ok((String::from_utf8_lossy(&body).into_owned(), false)),
            Err(e) => {
                let why = match e.is_timeout() {
                    true => format!(
                        "the {} timeout ran out",
                        humantime::format_duration(timeout)
                    ),
                    false => root_cause(&e.without_url()),
                };
                return Err(ActionFailure {
                    error: format!(
                        "the response body was cut off after {} bytes: {why}",
                        body.len()
                    ),
                    retryable: true,
                    retry_after: None,
                });
            }
        };
        let room = MAX_RECORDED_BODY - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((String::from_utf8_lossy(&body).into_owned(), true));
        }
        body.extend_from_slice(&chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = chrono::DateTime::parse_from_rfc2822("Tue, 24 Nov 2026 05:00:00 GMT")
            .unwrap()
            .to_utc();
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Tue, 24 Nov 2026 05:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Tue, 24 Nov 2026 04:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
