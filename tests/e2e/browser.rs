//! A hostile web page cannot drive a default install: a cross-site form POST, a Blob POST with
//! no content type and a request under a rebound host name are each refused with nothing
//! recorded, while the README's curl walkthrough (no Origin, loopback Host) still works.

use crate::support::{TestApp, Transport};
use reqwest::header::{CONTENT_TYPE, HOST, ORIGIN};
use reqwest::StatusCode;
use serde_json::{json, Value};

const WORKFLOW: &str = r#"{"workflowId":"planted","trigger":{"type":"manual"},"actions":[{"type":"log","message":"pwned"}]}"#;

async fn a_web_page_cannot_create_trigger_or_read_workflows(transport: Transport) {
    let Some(app) = TestApp::spawn(transport, "a_web_page_cannot_drive_the_api").await else {
        return;
    };
    let url = |path: &str| format!("{}{path}", app.base);

    // A form on another site, posting as browsers do without a preflight.
    let form = app
        .http
        .post(url("/workflows"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(ORIGIN, "http://evil.example")
        .header("sec-fetch-site", "cross-site")
        .body(WORKFLOW);
    let (status, body) = app.send(form).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "cross_site_request");

    // fetch(url, {method: "POST", body: new Blob([json])}): no content type at all.
    let blob = app.http.post(url("/workflows")).body(WORKFLOW);
    let (status, body) = app.send(blob).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert_eq!(body["error"], "unsupported_media_type");

    // A page on another localhost port is same-site, not same-origin.
    let sibling = app
        .http
        .post(url("/workflows"))
        .header(CONTENT_TYPE, "application/json")
        .header(ORIGIN, "http://localhost:1")
        .body(WORKFLOW);
    assert_eq!(app.send(sibling).await.0, StatusCode::FORBIDDEN);

    // DNS rebinding: the page's own name now resolves to 127.0.0.1.
    let rebound = |req: reqwest::RequestBuilder| req.header(HOST, "evil.example:8080");
    let (status, body) = app.send(rebound(app.http.get(url("/workflows")))).await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST, "{body}");
    assert_eq!(body["error"], "host_not_allowed");
    let create = rebound(app.http.post(url("/workflows")))
        .header(CONTENT_TYPE, "application/json")
        .body(WORKFLOW);
    assert_eq!(app.send(create).await.0, StatusCode::MISDIRECTED_REQUEST);

    // Nothing was recorded.
    let (status, list) = app.get("/workflows").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"], json!([]));

    // The walkthrough's requests are untouched, including a trigger with no body.
    let create = app
        .http
        .post(url("/workflows"))
        .header(CONTENT_TYPE, "application/json")
        .body(WORKFLOW);
    assert_eq!(app.send(create).await.0, StatusCode::CREATED);
    let cross_trigger = app
        .http
        .post(url("/workflows/planted/trigger"))
        .header(ORIGIN, "http://evil.example");
    assert_eq!(app.send(cross_trigger).await.0, StatusCode::FORBIDDEN);
    assert!(app.executions_of("planted").await.is_empty());
    let localhost = app
        .http
        .post(url("/workflows/planted/trigger"))
        .header(HOST, app.base.replace("http://127.0.0.1", "localhost"));
    let (status, body) = app.send(localhost).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let same_origin = app
        .http
        .get(url("/workflows/planted"))
        .header(ORIGIN, app.base.clone());
    let (status, body): (StatusCode, Value) = app.send(same_origin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

crate::on_every_transport!(a_web_page_cannot_create_trigger_or_read_workflows);

/// A link to the dashboard followed from another site opens the page; the same request in a
/// frame, a script's read of a live stream, an API path or a posted sign-in form is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_from_another_site_opens_the_dashboard_and_nothing_more() {
    let app = TestApp::spawn(
        Transport::Embedded,
        "a_link_from_another_site_opens_the_dashboard_and_nothing_more",
    )
    .await
    .expect("embedded always runs");
    let from_elsewhere = |request: reqwest::RequestBuilder, mode: &str, dest: &str| {
        request
            .header("sec-fetch-site", "cross-site")
            .header("sec-fetch-mode", mode)
            .header("sec-fetch-dest", dest)
    };
    let link = from_elsewhere(
        app.http.get(format!("{}/ui", app.base)),
        "navigate",
        "document",
    );
    let page = link.send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("<h1>Workflows</h1>"));

    for (path, mode, dest) in [
        ("/ui", "navigate", "iframe"),
        ("/ui/live", "cors", "empty"),
        ("/workflows", "navigate", "document"),
    ] {
        let request = from_elsewhere(app.http.get(format!("{}{path}", app.base)), mode, dest);
        let (status, body) = app.send(request).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{path} as {mode}/{dest}: {body}"
        );
        assert_eq!(body["error"], "cross_site_request");
    }
    let form = from_elsewhere(
        app.http.post(format!("{}/ui/session", app.base)),
        "navigate",
        "document",
    )
    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
    .body("token=guess");
    assert_eq!(app.send(form).await.0, StatusCode::FORBIDDEN);
}
