//! Every failure a request can meet, and the JSON answer it gets:
//! `{"error": "<code>", "message": "<sentence>", "details"?: {...}}`.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use shared::domain::{SpecError, TriggerStatus};
use shared::repo::RepoError;

#[derive(Debug)]
pub enum ApiError {
    /// The body is not JSON.
    MalformedJson(String),
    /// The body is labelled YAML and is not YAML a JSON value can be read from.
    MalformedYaml(String),
    /// JSON of the wrong shape: unknown or missing field, wrong type.
    InvalidBody {
        field: String,
        message: String,
    },
    /// Right shape, a value breaks a rule.
    Validation {
        field: String,
        message: String,
    },
    InvalidQuery(String),
    NotFound(String),
    AlreadyExists(String),
    ServiceExists(String),
    /// A worker's report about a task that is no longer its own.
    TaskConflict(String),
    /// A service that workflows still call.
    ServiceInUse {
        service: String,
        workflows: Vec<String>,
    },
    VersionConflict {
        current: u64,
    },
    Busy {
        workflow_id: String,
        status: TriggerStatus,
        current: Option<uuid::Uuid>,
    },
    Paused(String),
    /// Over the workflow's manual-trigger rate limit.
    RateLimited {
        workflow_id: String,
        max: u32,
        retry_after: std::time::Duration,
        reset_in: std::time::Duration,
    },
    PayloadTooLarge,
    UnsupportedMediaType,
    Unauthorized,
    /// Signed in by the dashboard's cookie, a change came without the page's CSRF token.
    CsrfTokenMissing,
    /// A browser sent it from another site (`Origin`, `Sec-Fetch-Site`): CSRF.
    CrossSite(String),
    /// `Host` names something other than this loopback API: DNS rebinding.
    MisdirectedHost(String),
    /// The store or the transport cannot be reached; the details go to the log, not the client.
    Unavailable(String),
}

impl ApiError {
    pub(crate) fn parts(&self) -> (StatusCode, &'static str, String, Option<Value>) {
        use ApiError::*;
        match self {
            MalformedJson(m) => (StatusCode::BAD_REQUEST, "malformed_json", format!("The body is not valid JSON: {m}."), None),
            MalformedYaml(m) => (StatusCode::BAD_REQUEST, "malformed_yaml", format!("The YAML body cannot be read: {m}."), None),
            InvalidBody { field, message } => (
                StatusCode::BAD_REQUEST,
                "invalid_body",
                format!("Field `{field}`: {message}."),
                Some(json!({ "field": field })),
            ),
            Validation { field, message } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                format!("Field `{field}`: {message}."),
                Some(json!({ "field": field })),
            ),
            InvalidQuery(m) => (StatusCode::BAD_REQUEST, "invalid_query", m.clone(), None),
            NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m.clone(), None),
            AlreadyExists(id) => (
                StatusCode::CONFLICT,
                "already_exists",
                format!("A workflow with workflowId `{id}` already exists."),
                Some(json!({ "field": "workflowId" })),
            ),
            TaskConflict(why) => (
                StatusCode::CONFLICT,
                "task_not_held",
                format!("The report is refused and changes nothing: {why}."),
                None,
            ),
            ServiceExists(name) => (
                StatusCode::CONFLICT,
                "already_exists",
                format!("A service named `{name}` already exists."),
                Some(json!({ "field": "name" })),
            ),
            ServiceInUse { service, workflows } => (
                StatusCode::CONFLICT,
                "service_in_use",
                format!(
                    "{} is called by workflow{} {}; change or delete {} first.",
                    match service.as_str() {
                        "" => "The service".to_string(),
                        name => format!("Service `{name}`"),
                    },
                    if workflows.len() == 1 { "" } else { "s" },
                    workflows.iter().map(|w| format!("`{w}`")).collect::<Vec<_>>().join(", "),
                    if workflows.len() == 1 { "it" } else { "them" },
                ),
                Some(json!({ "workflows": workflows })),
            ),
            VersionConflict { current } => (
                StatusCode::CONFLICT,
                "version_conflict",
                format!("It changed meanwhile: it is at version {current}; fetch it again and retry."),
                Some(json!({ "currentVersion": current })),
            ),
            Busy { workflow_id, status, current } => (
                StatusCode::CONFLICT,
                "workflow_busy",
                match current {
                    Some(id) => format!(
                        "Workflow `{workflow_id}` is {} with execution {id}; trigger it again once that execution ends.",
                        status.as_str()
                    ),
                    None => format!("Workflow `{workflow_id}` is {}; try again shortly.", status.as_str()),
                },
                Some(json!({ "status": status, "currentExecutionId": current })),
            ),
            Paused(workflow_id) => (
                StatusCode::CONFLICT,
                "workflow_paused",
                format!("Workflow `{workflow_id}` is paused; resume it (POST /workflows/{workflow_id}/resume) to trigger it."),
                None,
            ),
            RateLimited { workflow_id, max, retry_after, .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "Workflow `{workflow_id}` took its {max} triggers for this period; retry in {}s.",
                    retry_after.as_secs()
                ),
                Some(json!({ "limit": max, "retryAfterSeconds": retry_after.as_secs() })),
            ),
            PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "The body is larger than the 1 MiB limit.".to_string(),
                None,
            ),
            UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Send the body as JSON (Content-Type: application/json) or YAML (application/yaml).".to_string(),
                None,
            ),
            Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Send the API token as `Authorization: Bearer <token>`.".to_string(),
                None,
            ),
            CsrfTokenMissing => (
                StatusCode::FORBIDDEN,
                "csrf_token_missing",
                "A change signed in by the dashboard's cookie must carry the page's X-CSRF-Token header.".to_string(),
                None,
            ),
            CrossSite(m) => (StatusCode::FORBIDDEN, "cross_site_request", m.clone(), None),
            MisdirectedHost(m) => (
                StatusCode::MISDIRECTED_REQUEST,
                "host_not_allowed",
                m.clone(),
                None,
            ),
            Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "The store is unavailable right now; retry shortly.".to_string(),
                None,
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message, details) = self.parts();
        if let ApiError::Unavailable(cause) = &self {
            tracing::error!(%cause, "request failed: backend unavailable");
        }
        let mut body = json!({ "error": code, "message": message });
        if let Some(details) = details {
            body["details"] = details;
        }
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        if let ApiError::RateLimited {
            max,
            retry_after,
            reset_in,
            ..
        } = &self
        {
            let headers = response.headers_mut();
            let seconds = |d: &std::time::Duration| {
                header::HeaderValue::from(d.as_millis().div_ceil(1000) as u64)
            };
            headers.insert(header::RETRY_AFTER, seconds(retry_after));
            headers.insert("ratelimit-limit", header::HeaderValue::from(*max));
            headers.insert("ratelimit-remaining", header::HeaderValue::from(0u32));
            headers.insert("ratelimit-reset", seconds(reset_in));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<SpecError> for ApiError {
    fn from(e: SpecError) -> Self {
        match e {
            SpecError::Malformed(m) => ApiError::MalformedJson(m),
            SpecError::Shape { field, message } => ApiError::InvalidBody { field, message },
            SpecError::Invalid { field, message } => ApiError::Validation { field, message },
        }
    }
}

impl From<RepoError> for ApiError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::AlreadyExists(id) => ApiError::AlreadyExists(id),
            RepoError::NotFound => ApiError::NotFound("Not found.".to_string()),
            RepoError::VersionConflict { current } => ApiError::VersionConflict { current },
            RepoError::InUse(by) => ApiError::ServiceInUse {
                service: String::new(),
                workflows: by,
            },
            RepoError::InvalidCursor => {
                ApiError::InvalidQuery("Query `cursor` is not one this server issued.".to_string())
            }
            RepoError::Unavailable(cause) => ApiError::Unavailable(cause),
        }
    }
}

impl From<axum::extract::rejection::BytesRejection> for ApiError {
    fn from(r: axum::extract::rejection::BytesRejection) -> Self {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::MalformedJson(r.body_text())
        }
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(r: axum::extract::rejection::QueryRejection) -> Self {
        ApiError::InvalidQuery(format!("{}.", r.body_text().trim_end_matches('.')))
    }
}
