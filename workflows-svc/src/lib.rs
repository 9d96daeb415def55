//! The REST API (DESIGN §5): workflow CRUD, manual triggers, executions history, health.

mod auth;
mod body;
mod error;
mod guard;
pub mod openapi;
mod routes;
mod server;
mod state;
mod ui;

pub use error::ApiError;
pub use state::AppState;

use shared::{Backends, Config};
use std::future::Future;
use tokio::net::TcpListener;

/// Runs the API on its own backends until `shutdown` completes.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    config.check_auth_exposure()?;
    let backends = Backends::connect(&config).await?;
    let listener = TcpListener::bind(config.http_addr)
        .await
        .map_err(|e| anyhow::anyhow!("HTTP_ADDR: cannot listen on {}: {e}", config.http_addr))?;
    serve(listener, backends, &config, shutdown).await
}

/// Serves the API on `listener` until `shutdown` completes, then finishes requests in progress.
pub async fn serve(
    listener: TcpListener,
    backends: Backends,
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = AppState::new(backends, config);
    tracing::info!(addr = %listener.local_addr()?, "workflows API listening");
    let limits = server::Limits {
        head_timeout: config.http_head_timeout,
        max_connections: config.http_max_connections,
    };
    let closing = state.closing.clone();
    let shutdown = async move {
        shutdown.await;
        closing.cancel();
    };
    server::serve(listener, routes::router(state), limits, shutdown).await?;
    Ok(())
}
