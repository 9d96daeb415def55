//! The runner: takes execution requests from the transport, claims each execution under a
//! lease (which also locks its workflow: a workflow has one live execution at a time), runs the
//! actions from where the last attempt stopped, and records the outcome or the next retry.

mod actions;
mod attempt;
mod dag;
mod lease;
mod output;
mod render;
mod runner;
mod stragglers;

pub use runner::Runner;

use shared::{Backends, Config};
use std::future::Future;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let backends = Backends::connect(&config).await?;
    let shutdown = shared::service_main::cancel_on(shutdown);
    if let Some(addr) = config.metrics_addr {
        shared::metrics_endpoint::serve(addr, shutdown.clone()).await?;
    }
    run_with(backends, &config, shutdown).await
}

/// Consumes until `shutdown`; in-flight executions then get `SHUTDOWN_GRACE` to finish before
/// they are released back to the queue for another runner.
pub async fn run_with(
    backends: Backends,
    config: &Config,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let runner = Arc::new(Runner::new(backends.clone(), config)?);
    let grace = config.shutdown_grace;
    let release = runner.release_token();
    let deadline = shutdown.clone();
    tokio::spawn(async move {
        deadline.cancelled().await;
        tokio::time::sleep(grace).await;
        release.cancel();
    });
    if !backends.transport.delivers_from_store() {
        tokio::spawn(stragglers::sweep(
            backends.executions.clone(),
            runner.clone(),
            config.requeue_after,
            config.requeue_after * 3,
            shutdown.clone(),
        ));
    }
    if let Some(bus) = backends.task_bus.clone() {
        tokio::spawn(shared::workers::bus::run(
            backends.clone(),
            bus,
            shutdown.clone(),
        ));
    }
    tracing::info!(transport = backends.transport.name(), owner = %config.instance_id, "runner started");
    backends
        .transport
        .consume(runner, config.runner_concurrency, shutdown)
        .await?;
    tracing::info!("runner stopped");
    Ok(())
}
