//! The scheduler: turns due periodic slots and due retries into execution requests, and repairs
//! what others left behind (stale `queued` executions, expired leases, trigger states a crash
//! left out of step). It sleeps until the earliest due instant, woken early by this process's
//! API and runner, and polls for changes made by other processes.

mod periodic;
mod repair;

use shared::time::{self, Timestamp};
use shared::{Backends, Config};
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Work handled per store round trip; a longer backlog takes several rounds.
const BATCH: usize = 500;
/// Rounds run at once, one after another, while something is still due after each.
const QUICK_ROUNDS: u32 = 3;

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

pub async fn run_with(
    backends: Backends,
    config: &Config,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    tracing::info!(transport = backends.transport.name(), "scheduler started");
    let repair_every = config.poll_interval.max(Duration::from_secs(1));
    // Beside the slots' loop, not in it: a repair pass that scans a large store takes tens of
    // milliseconds, which would otherwise make every slot due meanwhile that much later.
    let repairs = tokio::spawn(repair::run(
        backends.clone(),
        repair_every,
        config.requeue_after,
        config.retention,
        shutdown.clone(),
    ));
    // The earliest retry as last read: re-queueing is a write, so a round does it only when
    // one is due, and once every repair interval for retries another process recorded since.
    let mut next_retry = Some(time::now());
    let mut next_retry_sweep = time::now();
    let mut quick_rounds = 0;
    while !shutdown.is_cancelled() {
        let now = time::now();
        periodic::fire_due(&backends, now).await;
        let requeued = next_retry.is_some_and(|due| due <= now) || now >= next_retry_sweep;
        if requeued {
            repair::requeue_due_retries(&backends, now).await;
            next_retry_sweep = time::add(now, repair_every);
        }
        shared::workers::sweep(&backends, now, BATCH).await;
        let (mut wake, retry) = next_wake(&backends, config.poll_interval, next_retry_sweep).await;
        next_retry = retry;
        if !requeued && retry.is_some_and(|due| due <= now) {
            // A retry recorded since the last read is due already: this round did not look.
            continue;
        }
        if wake <= now {
            // A busy workflow that turned idle after this round read it may be due within its
            // lead already: another round at once takes it.
            if quick_rounds < QUICK_ROUNDS {
                quick_rounds += 1;
                continue;
            }
            // Still due after rounds that handled everything due: the store failed (logged
            // above). Back off instead of spinning on it.
            wake = time::add(now, config.poll_interval);
        }
        quick_rounds = 0;
        tokio::select! {
            _ = tokio::time::sleep(time::until(wake, time::now())) => {}
            _ = backends.wakeups.schedule.notified() => {}
            _ = shutdown.cancelled() => {}
        }
    }
    repairs.await?;
    tracing::info!("scheduler stopped");
    Ok(())
}

/// The earliest of: the next periodic slot (an idle workflow's less its lead), the next retry,
/// the next retry sweep, the next poll; and the next retry alone (now when it cannot be read,
/// so the next round tries).
async fn next_wake(
    backends: &Backends,
    poll: Duration,
    next_retry_sweep: Timestamp,
) -> (Timestamp, Option<Timestamp>) {
    let mut wake = time::add(time::now(), poll).min(next_retry_sweep);
    let mut next_retry = None;
    match backends
        .workflows
        .next_periodic_due(shared::domain::slots::LEAD)
        .await
    {
        Ok(Some(due)) => wake = wake.min(due),
        Ok(None) => {}
        Err(err) => tracing::warn!(%err, "cannot read the next periodic slot"),
    }
    match backends.executions.next_retry_due().await {
        Ok(Some(due)) => {
            wake = wake.min(due);
            next_retry = Some(due);
        }
        Ok(None) => {}
        Err(err) => {
            tracing::warn!(%err, "cannot read the next retry");
            next_retry = Some(time::now());
        }
    }
    (wake, next_retry)
}
