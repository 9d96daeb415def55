//! Signing in to the dashboard. With `WFA_API_TOKEN` set the page asks for the token once and
//! answers with a session cookie (`HttpOnly`, `SameSite=Lax`): an expiry signed with the token
//! (HMAC-SHA256), never the token itself, so a copied cookie is worth a week at most and
//! rotating the token ends every session. A request the cookie signs in that changes something
//! must also carry the page's CSRF token (a header no other site can set, derived from the
//! session, so it differs per sign-in): the cookie alone does not authorise a change.

use crate::{ApiError, AppState};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;

pub const COOKIE: &str = "wfa_session";
/// The name behind HTTPS: browsers keep a `__Host-` cookie to this exact origin.
const SECURE_COOKIE: &str = "__Host-wfa_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A week: long enough not to nag an operator, short enough to expire a forgotten browser.
const LIFETIME_SECONDS: i64 = 7 * 24 * 3600;

/// Who the request is, as far as the dashboard's cookie tells.
pub enum Viewer {
    /// No token is configured: everyone on the (loopback) API may look.
    Open,
    /// A valid session; changes need this CSRF token.
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
        match valid_session(token, headers) {
            Some(session) => Viewer::SignedIn {
                csrf: csrf_token(token, &session),
            },
            None => Viewer::Anonymous,
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
/// CSRF header as well. `None` when there is no valid session.
pub fn cookie_authorises(token: &str, method: &Method, headers: &HeaderMap) -> Option<bool> {
    let session = valid_session(token, headers)?;
    let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let presented = headers
        .get(CSRF_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let expected = csrf_token(token, &session);
    Some(safe || crate::auth::constant_time_eq(presented, expected.as_bytes()))
}

/// `<expiry>.<signature>`: the expiry in Unix seconds, signed with the token.
fn new_session(token: &str, now: i64) -> String {
    let expires = now + LIFETIME_SECONDS;
    format!("{expires}.{}", sign(token, &format!("session.{expires}")))
}

/// The cookie's session if its signature is the token's and it has not expired.
fn valid_session(token: &str, headers: &HeaderMap) -> Option<String> {
    let now = chrono::Utc::now().timestamp();
    cookie_values(headers).find(|value| {
        let Some((expires, signature)) = value.split_once('.') else {
            return false;
        };
        let fresh = expires.parse::<i64>().is_ok_and(|e| e > now);
        let expected = sign(token, &format!("session.{expires}"));
        fresh && crate::auth::constant_time_eq(signature.as_bytes(), expected.as_bytes())
    })
}

/// Tied to the session, so another sign-in (another browser) has another token.
fn csrf_token(token: &str, session: &str) -> String {
    sign(token, &format!("csrf.{session}"))
}

fn sign(token: &str, message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(token.as_bytes()).expect("any key length");
    mac.update(message.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The values of the session cookie under either of its names.
fn cookie_values(headers: &HeaderMap) -> impl Iterator<Item = String> + '_ {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == COOKIE || *name == SECURE_COOKIE)
        .map(|(_, value)| value.to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    token: String,
}

/// `POST /ui/session`: the page's script sends `{"token": "…"}` (answered 204); without the
/// script the form posts `token=…` (answered with a redirect to the dashboard, or the form
/// again saying the token is wrong).
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let from_form = crate::guard::is_form(&headers);
    let Some(token) = &state.api_token else {
        return Ok(signed_in(from_form, None));
    };
    let given = if from_form {
        form_value(&body, "token").unwrap_or_default()
    } else {
        let request: Option<SignIn> = shared::domain::validation::decode_json(&body)?;
        request
            .ok_or_else(|| ApiError::Validation {
                field: "token".to_string(),
                message: "send {\"token\": \"…\"}".to_string(),
            })?
            .token
    };
    if !crate::auth::constant_time_eq(given.as_bytes(), token.as_bytes()) {
        return Ok(if from_form {
            super::sign_in_page(Some("That is not this API's token."))
        } else {
            ApiError::Unauthorized.into_response()
        });
    }
    let session = new_session(token, chrono::Utc::now().timestamp());
    let cookie = if forwarded_https(&headers) {
        format!("{SECURE_COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age={LIFETIME_SECONDS}")
    } else {
        format!("{COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax; Max-Age={LIFETIME_SECONDS}")
    };
    Ok(signed_in(from_form, Some(cookie)))
}

/// `DELETE /ui/session`: forgets the cookie in this browser.
pub async fn sign_out() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    for name in [COOKIE, SECURE_COOKIE] {
        let secure = if name == SECURE_COOKIE {
            "; Secure"
        } else {
            ""
        };
        let cookie = format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}");
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

fn signed_in(from_form: bool, cookie: Option<String>) -> Response {
    let mut response = if from_form {
        (StatusCode::SEE_OTHER, [(header::LOCATION, "/ui")]).into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    };
    if let Some(value) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
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

/// A field of an `application/x-www-form-urlencoded` body.
fn form_value(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .and_then(|(_, value)| percent_decode(value))
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookie(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(value).unwrap());
        headers
    }

    const TOKEN: &str = "0123456789abcdef";

    #[test]
    fn a_session_is_the_tokens_signature_until_it_expires() {
        let now = chrono::Utc::now().timestamp();
        let session = new_session(TOKEN, now);
        assert!(!session.contains(TOKEN));
        let headers = with_cookie(&format!("a=1; {COOKIE}={session}; b=2"));
        assert_eq!(valid_session(TOKEN, &headers), Some(session.clone()));
        assert_eq!(
            valid_session("another-token-000", &headers),
            None,
            "a rotated token ends it"
        );
        let expired = new_session(TOKEN, now - LIFETIME_SECONDS - 1);
        assert_eq!(
            valid_session(TOKEN, &with_cookie(&format!("{COOKIE}={expired}"))),
            None
        );
        // A later expiry under the old signature is refused.
        let (_, signature) = session.split_once('.').unwrap();
        let forged = format!("{COOKIE}={}.{signature}", now + 10 * LIFETIME_SECONDS);
        assert_eq!(valid_session(TOKEN, &with_cookie(&forged)), None);
    }

    #[test]
    fn a_change_needs_the_sessions_csrf_header_a_read_does_not() {
        let session = new_session(TOKEN, chrono::Utc::now().timestamp());
        let mut headers = with_cookie(&format!("{SECURE_COOKIE}={session}"));
        assert_eq!(cookie_authorises(TOKEN, &Method::GET, &headers), Some(true));
        assert_eq!(
            cookie_authorises(TOKEN, &Method::POST, &headers),
            Some(false)
        );
        let other_session = new_session(TOKEN, chrono::Utc::now().timestamp() + 1);
        let wrong = csrf_token(TOKEN, &other_session);
        headers.insert(CSRF_HEADER, HeaderValue::from_str(&wrong).unwrap());
        assert_eq!(
            cookie_authorises(TOKEN, &Method::POST, &headers),
            Some(false)
        );
        let right = csrf_token(TOKEN, &session);
        headers.insert(CSRF_HEADER, HeaderValue::from_str(&right).unwrap());
        assert_eq!(
            cookie_authorises(TOKEN, &Method::DELETE, &headers),
            Some(true)
        );
        assert_eq!(
            cookie_authorises("another-token-000", &Method::GET, &headers),
            None
        );
    }

    #[test]
    fn a_form_field_is_percent_decoded() {
        assert_eq!(
            form_value(b"a=1&token=s%3Dx+y%26z", "token").as_deref(),
            Some("s=x y&z")
        );
        assert_eq!(form_value(b"token=%zz", "token"), None);
        assert_eq!(form_value(b"other=1", "token"), None);
    }
}
