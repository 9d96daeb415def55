//! The action types. Each returns an output to record, or a failure that says whether a retry
//! can help.

mod egress;
mod http;
mod log;
mod service;

pub use http::http_client;

use shared::domain::{Action, ServiceSpec};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct ActionFailure {
    /// Safe to record and show: never contains credentials.
    pub error: String,
    pub retryable: bool,
    /// A server's `Retry-After`, which overrides the backoff (bounded by the policy).
    pub retry_after: Option<Duration>,
}

pub type ActionResult = Result<serde_json::Value, ActionFailure>;

/// Who is running an action, for logs.
pub struct ActionContext<'a> {
    pub http: &'a reqwest::Client,
    /// Checked again here: IP-literal URLs never reach the resolver.
    pub egress: &'a shared::egress::EgressPolicy,
    pub workflow_id: &'a str,
    pub execution_id: uuid::Uuid,
    /// The step's own timeout, or the workflow's default (`http-request`).
    pub timeout: Duration,
    /// The services the workflow's steps call, as registered when the attempt began.
    pub services: &'a BTreeMap<String, ServiceSpec>,
    /// `Idempotency-Key` of a service call that asks for one.
    pub idempotency_key: Option<String>,
}

pub async fn run(action: &Action, ctx: &ActionContext<'_>) -> ActionResult {
    match action {
        Action::Log(action) => log::run(action, ctx),
        Action::HttpRequest(action) => http::run(action, ctx).await,
        Action::Service(call) => service::run(call, ctx).await,
        // Routing needs no I/O: the attempt settles a switch itself, before anything runs.
        Action::Switch(_) => Err(permanent("a switch is not run as an action".to_string())),
    }
}

/// A failure another try cannot mend.
pub fn permanent(error: String) -> ActionFailure {
    ActionFailure {
        error,
        retryable: false,
        retry_after: None,
    }
}
