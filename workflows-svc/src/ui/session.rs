//! Signing in to the dashboard. With `WFA_API_TOKEN` set the page asks for the token once and
//! keeps it in an `HttpOnly`, `SameSite=Lax` cookie that scripts cannot read. A request the
//! cookie signs in that changes something must also carry the page's CSRF token (a header no
//! other site can set or read): the cookie alone does not authorise a change.

use crate::{ApiError, AppState};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

pub const COOKIE: &str = "wfa_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A week: long enough not to nag an operator, short enough to expire a forgotten browser.
const MAX_AGE_SECONDS: u32 = 7 * 24 * 3600;

/// Who the request is, as far as the dashboard's cookie tells.
pub enum Viewer {
    /// No token is configured: everyone on the (loopback) API may look.
    Open,
    /// The cookie holds the configured token; changes need this CSRF token.
    SignedIn {
        csrf: String,
    },
    Anonymous,
}

impl Viewer {
    pub fn of(state: &AppState, headers: &HeaderMap) -> Self {
        let Some(token) = &state.api_token else {
            return Viewer::Open;
        };
        match cookie_token(headers) {
            Some(presented) if crate::auth::constant_time_eq(&presented, token.as_bytes()) => {
                Viewer::SignedIn {
                    csrf: csrf_token(token),
                }
            }
            _ => Viewer::Anonymous,
        }
    }

    pub fn may_look(&self) -> bool {
        !matches!(self, Viewer::Anonymous)
    }

    pub fn csrf(&self) -> Option<&str> {
        match self {
            Viewer::SignedIn { csrf } => Some(csrf),
            _ => None,
        }
    }
}

/// The API's own check for a request the cookie signs in: reads are allowed; a change needs the
/// CSRF header as well. `None` when the cookie does not hold the token.
pub fn cookie_authorises(token: &str, method: &Method, headers: &HeaderMap) -> Option<bool> {
    let presented = cookie_token(headers)?;
    if !crate::auth::constant_time_eq(&presented, token.as_bytes()) {
        return None;
    }
    let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let csrf = headers
        .get(CSRF_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    Some(safe || crate::auth::constant_time_eq(csrf, csrf_token(token).as_bytes()))
}

/// Derived from the token, so every replica of the API agrees on it without sharing state, and
/// a page of another site, which cannot read ours, cannot know it.
pub fn csrf_token(token: &str) -> String {
    const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x7c1f_52d4_0b8e_4a5b_9d06_e3f1_2a7c_c0de);
    uuid::Uuid::new_v5(&NAMESPACE, token.as_bytes())
        .simple()
        .to_string()
}

/// The token the cookie carries (hex, since a token may hold characters a cookie may not).
fn cookie_token(headers: &HeaderMap) -> Option<Vec<u8>> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .and_then(|(_, value)| decode_hex(value))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    token: String,
}

/// `POST /ui/session {"token": "…"}`: sets the cookie when the token is the API's.
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Some(token) = &state.api_token else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let request: Option<SignIn> = shared::domain::validation::decode_json(&body?)?;
    let Some(request) = request else {
        return Err(ApiError::Validation {
            field: "token".to_string(),
            message: "send {\"token\": \"…\"}".to_string(),
        });
    };
    if !crate::auth::constant_time_eq(request.token.as_bytes(), token.as_bytes()) {
        return Err(ApiError::Unauthorized);
    }
    let secure = if forwarded_https(&headers) {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={MAX_AGE_SECONDS}{secure}",
        encode_hex(token.as_bytes())
    );
    Ok(with_cookie(cookie))
}

/// `DELETE /ui/session`: forgets the cookie.
pub async fn sign_out() -> Response {
    with_cookie(format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"
    ))
}

fn with_cookie(cookie: String) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Behind a TLS-terminating proxy the cookie is marked `Secure`.
fn forwarded_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookie_header(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn the_cookie_carries_any_token_and_is_found_among_others() {
        let token = "s3cret; with=odd \"chars\"";
        let cookie = format!("a=1; {COOKIE}={}; b=2", encode_hex(token.as_bytes()));
        let headers = with_cookie_header(&cookie);
        assert_eq!(cookie_token(&headers).as_deref(), Some(token.as_bytes()));
        assert_eq!(
            cookie_token(&with_cookie_header(&format!("{COOKIE}=zz"))),
            None
        );
    }

    #[test]
    fn a_change_needs_the_csrf_header_a_read_does_not() {
        let token = "0123456789abcdef";
        let mut headers = with_cookie_header(&format!("{COOKIE}={}", encode_hex(token.as_bytes())));
        assert_eq!(cookie_authorises(token, &Method::GET, &headers), Some(true));
        assert_eq!(
            cookie_authorises(token, &Method::POST, &headers),
            Some(false)
        );
        headers.insert(
            CSRF_HEADER,
            HeaderValue::from_str(&csrf_token(token)).unwrap(),
        );
        assert_eq!(
            cookie_authorises(token, &Method::POST, &headers),
            Some(true)
        );
        assert_eq!(
            cookie_authorises("another-token-000", &Method::GET, &headers),
            None
        );
        assert_ne!(csrf_token(token), csrf_token("another-token-000"));
    }
}
