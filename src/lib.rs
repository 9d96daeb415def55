//! The all-in-one process: the API, the scheduler and the runner sharing one store and one
//! transport, so that work passes between them without waiting for a poll.

pub mod cli;

use shared::{Backends, Config};
use std::future::Future;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Binds the API's address; split from [`run_all`] so tests can bind port 0 and learn the port.
pub async fn bind(config: &Config) -> anyhow::Result<TcpListener> {
    config.check_auth_exposure()?;
    TcpListener::bind(config.http_addr)
        .await
        .map_err(|e| anyhow::anyhow!("HTTP_ADDR: cannot listen on {}: {e}", config.http_addr))
}

/// Runs all three services until `shutdown` completes, then stops them in order: the API stops
/// accepting, the scheduler stops firing, the runner finishes or releases its work.
pub async fn run_all(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let backends = Backends::connect(&config).await?;
    let token = CancellationToken::new();
    let api = tokio::spawn({
        let (backends, config, token) = (backends.clone(), config.clone(), token.clone());
        async move { workflows_svc::serve(listener, backends, &config, token.cancelled_owned()).await }
    });
    let scheduler = tokio::spawn({
        let (backends, config, token) = (backends.clone(), config.clone(), token.clone());
        async move { scheduler_svc::run_with(backends, &config, token).await }
    });
    let runner = tokio::spawn({
        let (backends, config, token) = (backends.clone(), config.clone(), token.clone());
        async move { runner_svc::run_with(backends, &config, token).await }
    });
    let mut tasks = tokio::task::JoinSet::new();
    for (name, task) in [("api", api), ("scheduler", scheduler), ("runner", runner)] {
        tasks.spawn(async move { (name, task.await) });
    }
    // A service that stops on its own stops the others too, rather than leaving half a system.
    let mut first = tokio::select! {
        _ = shutdown => None,
        ended = tasks.join_next() => ended,
    };
    token.cancel();
    let mut result = Ok(());
    while let Some(ended) = match first.take() {
        Some(ended) => Some(ended),
        None => tasks.join_next().await,
    } {
        let (name, outcome) = ended?;
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(err)) if result.is_ok() => {
                result = Err(anyhow::anyhow!("{name} failed: {err:#}"))
            }
            Err(err) if result.is_ok() => result = Err(anyhow::anyhow!("{name} panicked: {err}")),
            _ => {}
        }
    }
    result
}
