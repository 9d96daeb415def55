use shared::{Backends, Config};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub backends: Backends,
    /// The bearer token clients must present; `None` when auth is off (loopback, or disabled).
    pub api_token: Option<Arc<str>>,
    /// No token and auth not disabled: the API answers only to loopback host names.
    pub loopback_only: bool,
    /// The manual-trigger rate limit of workflows that set none (`TRIGGER_RATE_LIMIT`).
    pub default_rate_limit: Option<shared::domain::RateLimit>,
    /// Cancelled when the server begins to shut down: the dashboard's live streams end then
    /// instead of holding the drain open.
    pub closing: CancellationToken,
}

impl AppState {
    pub fn new(backends: Backends, config: &Config) -> Self {
        Self {
            backends,
            api_token: config.api_token.as_deref().map(Arc::from),
            loopback_only: config.api_token.is_none() && !config.auth_disabled,
            default_rate_limit: config.default_rate_limit.clone(),
            closing: CancellationToken::new(),
        }
    }
}
