//! The dashboard at `/ui`: HTML rendered here (maud, checked at compile time), a stylesheet and
//! a small script compiled into the binary, so it works offline with nothing to install. Pages
//! read the store through the same traits as the API; their live regions are re-sent over
//! Server-Sent Events when they change; the buttons call the JSON API itself.

mod assets;
mod execution_page;
mod gantt;
mod graph;
mod layout;
mod live;
pub mod session;
mod workflow_page;
mod workflows_page;

use crate::{ApiError, AppState};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use layout::Frame;
use maud::{html, Markup};
use session::Viewer;
use std::time::Duration;

/// How often a live region is looked at again: the list is costlier than one execution.
const LIST_REFRESH: Duration = Duration::from_secs(2);
const DETAIL_REFRESH: Duration = Duration::from_millis(500);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui", get(workflows))
        .route("/ui/live", get(workflows_live))
        .route("/ui/workflows/{id}", get(workflow))
        .route("/ui/workflows/{id}/live", get(workflow_live))
        .route("/ui/executions/{id}", get(execution))
        .route("/ui/executions/{id}/live", get(execution_live))
        .route(
            "/ui/session",
            post(session::sign_in).delete(session::sign_out),
        )
        .route(assets::CSS_PATH, get(assets::css))
        .route(assets::JS_PATH, get(assets::js))
}

/// Whether the dashboard answers this path (it checks its visitors itself).
pub fn serves(path: &str) -> bool {
    path == "/ui" || path.starts_with("/ui/")
}

/// What a page cannot show, as a page.
#[derive(Debug)]
pub struct UiError {
    status: StatusCode,
    heading: &'static str,
    sentence: String,
}

impl UiError {
    fn bad_filter(sentence: String) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            heading: "That filter cannot be used",
            sentence,
        }
    }

    fn not_found(sentence: String) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            heading: "Not found",
            sentence,
        }
    }
}

impl From<shared::repo::RepoError> for UiError {
    fn from(err: shared::repo::RepoError) -> Self {
        if let shared::repo::RepoError::Unavailable(cause) = &err {
            tracing::error!(%cause, "dashboard page failed: store unavailable");
        }
        let (status, _, sentence, _) = ApiError::from(err).parts();
        Self {
            status,
            heading: if status == StatusCode::SERVICE_UNAVAILABLE {
                "The store cannot be reached"
            } else {
                "That page cannot be shown"
            },
            sentence,
        }
    }
}

impl From<QueryRejection> for UiError {
    fn from(err: QueryRejection) -> Self {
        Self::bad_filter(format!("The query cannot be read: {}.", err.body_text()))
    }
}

async fn workflows(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<workflows_page::Filter>, QueryRejection>,
) -> Response {
    let viewer = Viewer::of(&state, &headers);
    guarded(&viewer, async {
        let Query(filter) = query?;
        let rows = workflows_page::load(&state, &filter).await?;
        let live = format!("/ui/live?{}", filter.query_string(None));
        Ok(framed(
            &viewer,
            "Workflows",
            Some(&live),
            workflows_page::render(&filter, &rows),
        ))
    })
    .await
}

async fn workflows_live(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<workflows_page::Filter>, QueryRejection>,
) -> Result<Response, ApiError> {
    let closing = may_stream(&state, &headers)?;
    let Query(filter) = query?;
    Ok(live::stream(closing, LIST_REFRESH, move || {
        let (state, filter) = (state.clone(), filter.clone());
        async move {
            let rows = workflows_page::load(&state, &filter).await?;
            Ok(vec![("workflows", workflows_page::table(&rows))])
        }
    }))
}

async fn workflow(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<workflow_page::HistoryFilter>, QueryRejection>,
) -> Response {
    let viewer = Viewer::of(&state, &headers);
    guarded(&viewer, async {
        let Query(filter) = query?;
        let view = workflow_page::load(&state, &id, &filter).await?;
        let live = format!(
            "/ui/workflows/{}/live?{}",
            url_encode(&id),
            filter.query_string(None)
        );
        Ok(framed(
            &viewer,
            &id,
            Some(&live),
            workflow_page::render(&view, &filter),
        ))
    })
    .await
}

async fn workflow_live(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<workflow_page::HistoryFilter>, QueryRejection>,
) -> Result<Response, ApiError> {
    let closing = may_stream(&state, &headers)?;
    let Query(filter) = query?;
    Ok(live::stream(closing, DETAIL_REFRESH, move || {
        let (state, id, filter) = (state.clone(), id.clone(), filter.clone());
        async move {
            let view = workflow_page::load(&state, &id, &filter).await?;
            Ok(vec![
                ("summary", workflow_page::summary(&view.workflow)),
                ("history", workflow_page::history(&view.history, &filter)),
            ])
        }
    }))
}

async fn execution(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let viewer = Viewer::of(&state, &headers);
    guarded(&viewer, async {
        let view = execution_page::load(&state, &id).await?;
        let title = format!("Execution {}", workflow_page::short(&id));
        let live = format!("/ui/executions/{}/live", url_encode(&id));
        let body = execution_page::render(&view, shared::time::now());
        Ok(framed(&viewer, &title, Some(&live), body))
    })
    .await
}

async fn execution_live(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let closing = may_stream(&state, &headers)?;
    Ok(live::stream(closing, DETAIL_REFRESH, move || {
        let (state, id) = (state.clone(), id.clone());
        async move {
            let view = execution_page::load(&state, &id).await?;
            Ok(vec![(
                "execution",
                execution_page::body(&view, shared::time::now()),
            )])
        }
    }))
}

/// A live stream goes only to a visitor who may look (refused as JSON: a script asked); it
/// ends when the server shuts down.
fn may_stream(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<tokio_util::sync::CancellationToken, ApiError> {
    if !Viewer::of(state, headers).may_look() {
        return Err(ApiError::Unauthorized);
    }
    Ok(state.closing.clone())
}

/// The page, or the sign-in page (and nothing of the store) for a visitor without the cookie.
async fn guarded(
    viewer: &Viewer,
    page: impl std::future::Future<Output = Result<Response, UiError>>,
) -> Response {
    if !viewer.may_look() {
        return sign_in_page(None);
    }
    match page.await {
        Ok(response) => response,
        Err(err) => {
            let mut response = framed(
                viewer,
                err.heading,
                None,
                layout::notice(err.heading, &err.sentence),
            );
            *response.status_mut() = err.status;
            response
        }
    }
}

/// The token prompt (401), and nothing else: what a visitor without a session sees.
fn sign_in_page(error: Option<&str>) -> Response {
    let body = html! {
        h1 { "Sign in" }
        p { "This API asks for its token (" code { "WFA_API_TOKEN" } "). The dashboard keeps a session signed with it in a cookie scripts cannot read." }
        form.sign-in method="post" action="/ui/session" data-sign-in {
            label for="token" { "API token" }
            input #token type="password" name="token" autocomplete="current-password" required;
            button.primary type="submit" { "Sign in" }
            p.error role="alert" data-sign-in-error { @if let Some(error) = error { (error) } }
        }
    };
    let mut response = framed(&Viewer::Anonymous, "Sign in", None, body);
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    response
}

/// A whole page, with the headers that keep it to itself: no framing, no other origin's
/// scripts, not cached (it shows live state and may be private).
fn framed(viewer: &Viewer, title: &str, live: Option<&str>, body: Markup) -> Response {
    let frame = Frame {
        title,
        csrf: viewer.csrf(),
        live,
    };
    let mut response = (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        layout::page(&frame, body).into_string(),
    )
        .into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A live region: the script swaps its content for what the stream sends under its id.
fn fragment(id: &str, content: Markup) -> Markup {
    html! { div id={"live-" (id)} data-fragment=(id) { (content) } }
}

/// A value from the query, as a message repeats it: short, so that a link cannot make the
/// page say a sentence of its own.
fn quoted(value: &str) -> String {
    layout::clip(value, 20)
}

/// Percent-encodes all but the unreserved characters, for a path segment or a query value.
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unreserved_characters_pass_unencoded() {
        assert_eq!(url_encode("a.b-c_d~e"), "a.b-c_d~e");
        assert_eq!(url_encode("a b/c?d&é"), "a%20b%2Fc%3Fd%26%C3%A9");
        assert!(serves("/ui") && serves("/ui/executions/x"));
        assert!(!serves("/uix") && !serves("/workflows"));
    }
}
