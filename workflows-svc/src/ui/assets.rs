//! The dashboard's stylesheet and script, compiled into the binary: nothing is fetched from
//! elsewhere, at build time or at run time. Browsers revalidate them by ETag, so a new release
//! is picked up at once and an unchanged one costs a 304.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::LazyLock;

pub const CSS_PATH: &str = "/ui/assets/app.css";
pub const JS_PATH: &str = "/ui/assets/app.js";

const CSS: &str = include_str!("assets/app.css");
const JS: &str = include_str!("assets/app.js");

static CSS_TAG: LazyLock<String> = LazyLock::new(|| etag(CSS));
static JS_TAG: LazyLock<String> = LazyLock::new(|| etag(JS));

pub async fn css(headers: HeaderMap) -> Response {
    asset(&headers, CSS, &CSS_TAG, "text/css; charset=utf-8")
}

pub async fn js(headers: HeaderMap) -> Response {
    asset(&headers, JS, &JS_TAG, "text/javascript; charset=utf-8")
}

fn asset(
    headers: &HeaderMap,
    body: &'static str,
    tag: &str,
    content_type: &'static str,
) -> Response {
    let tag_value = HeaderValue::from_str(tag).expect("hex in quotes");
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == tag.as_bytes());
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type)], body).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, tag_value);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// FNV-1a of the content: changes whenever the file does.
fn etag(content: &str) -> String {
    let hash = content.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("\"{hash:016x}\"")
}
