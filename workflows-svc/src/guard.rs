//! What keeps a web page the operator visits from driving the API (DESIGN §6). A browser sends
//! some requests cross-site without asking first (a form POST, a `no-cors` fetch, a Blob with
//! no content type), and a page can rebind its own host name to 127.0.0.1. So, before anything
//! else: a request a browser marks as coming from another site is refused; a body must say it
//! is JSON or YAML; and while the API is the loopback-only default (no token, auth not disabled), `Host`
//! must name the loopback, which a rebound name never does.

use crate::{ApiError, AppState};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub async fn refuse_browser_attacks(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let checks = [
        if dashboard_navigation(&request) {
            None
        } else {
            cross_site(headers)
        },
        if state.loopback_only {
            foreign_host(headers)
        } else {
            None
        },
        if dashboard_sign_in_form(&request) {
            None
        } else {
            unlabelled_body(headers)
        },
    ];
    match checks.into_iter().flatten().next() {
        Some(refusal) => refusal.into_response(),
        None => next.run(request).await,
    }
}

/// Following a link to a dashboard page from elsewhere (a chat, a wiki) is a plain top-level
/// GET that changes nothing: the page opens, and nothing it shows reaches the linking site.
/// Not a frame, not a script's request.
fn dashboard_navigation(request: &Request) -> bool {
    let header_is = |name: &str, value: &str| {
        request
            .headers()
            .get(name)
            .is_some_and(|v| v.as_bytes() == value.as_bytes())
    };
    request.method() == axum::http::Method::GET
        && crate::ui::serves(request.uri().path())
        && header_is("sec-fetch-mode", "navigate")
        && header_is("sec-fetch-dest", "document")
}

/// The dashboard's sign-in form, posted without its script: a form body, on that one route.
/// Still refused from another site by the cross-site check.
fn dashboard_sign_in_form(request: &Request) -> bool {
    request.method() == axum::http::Method::POST
        && request.uri().path() == "/ui/session"
        && is_form(request.headers())
}

/// Whether the body is labelled an HTML form's (`application/x-www-form-urlencoded`).
pub fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

fn cross_site(headers: &HeaderMap) -> Option<ApiError> {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if let Some(site @ ("cross-site" | "same-site")) = fetch_site {
        return Some(ApiError::CrossSite(format!(
            "This request came from another site (Sec-Fetch-Site: {site}); the API answers only its own clients."
        )));
    }
    let origin = headers.get(header::ORIGIN)?;
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let same = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest);
    match (same, host) {
        (Some(origin_host), Some(host)) if origin_host.eq_ignore_ascii_case(host) => None,
        _ => Some(ApiError::CrossSite(format!(
            "Origin {} is not this API ({}); cross-site requests are refused.",
            origin.to_str().unwrap_or("?"),
            host.unwrap_or("no Host")
        ))),
    }
}

fn foreign_host(headers: &HeaderMap) -> Option<ApiError> {
    let host = headers.get(header::HOST)?.to_str().unwrap_or_default();
    if is_loopback_name(host) {
        return None;
    }
    Some(ApiError::MisdirectedHost(format!(
        "Host `{host}` is not this API: without WFA_API_TOKEN it answers only to localhost, 127.0.0.1 and [::1]."
    )))
}

/// `localhost`, `127.0.0.1` or `[::1]`, with or without a port.
fn is_loopback_name(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !name.is_empty() && port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    matches!(
        name.to_ascii_lowercase().as_str(),
        "localhost" | "127.0.0.1" | "[::1]"
    )
}

/// A body (declared by its length or by chunking) must be labelled JSON or YAML, on every
/// route: the label is what a browser cannot set cross-site without asking first.
fn unlabelled_body(headers: &HeaderMap) -> Option<ApiError> {
    let has_body = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|n| n.trim() != "0")
        || headers.contains_key(header::TRANSFER_ENCODING);
    (has_body && crate::body::body_format(headers).is_none())
        .then_some(ApiError::UnsupportedMediaType)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_names_pass_the_host_check() {
        for ok in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:1",
            "[::1]:8080",
            "LOCALHOST",
        ] {
            assert!(is_loopback_name(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8080",
            "127.0.0.1.nip.io",
            "localhost.evil:80",
            "[::1]x",
            "",
        ] {
            assert!(!is_loopback_name(bad), "{bad}");
        }
    }
}
