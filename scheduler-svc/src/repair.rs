//! Due retries and the repairs that keep "never lost" true: executions whose runner died
//! (expired lease), executions whose publish was lost (stale `queued`), and workflows a crash
//! between two writes left in a state their execution does not imply.

use shared::config::Retention;
use shared::domain::{Execution, ExecutionRequest};
use shared::time::{self, Timestamp};
use shared::transport::publish_in_background;
use shared::Backends;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The repair passes, every `every` until `shutdown`; history is pruned as often as
/// `retention` says.
pub async fn run(
    backends: Backends,
    every: Duration,
    requeue_after: Duration,
    retention: Retention,
    shutdown: CancellationToken,
) {
    let mut next_prune = time::now();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        let now = time::now();
        rescue_expired_leases(&backends, now).await;
        mend_trigger_states(&backends, now, requeue_after).await;
        republish_stale(&backends, now, requeue_after).await;
        wake_forgotten(&backends, now, requeue_after).await;
        measure_queue_depth(&backends).await;
        if now >= next_prune {
            prune_history(&backends, now, &retention).await;
            next_prune = time::add(now, retention.interval);
        }
    }
}

async fn publish_all(backends: &Backends, executions: &[Execution], what: &str) {
    for execution in executions {
        if execution.status.is_terminal() {
            // A worker step's tasks are of no use any more.
            shared::workers::cancel_open(backends, execution.execution_id).await;
            tracing::warn!(execution_id = %execution.execution_id, workflow_id = %execution.workflow_id, error = execution.error.as_deref().unwrap_or_default(), "execution failed");
            // Its end may have queued the workflow's buffered execution.
            shared::transport::publish_promoted(
                backends.executions.as_ref(),
                &backends.transport,
                &execution.workflow_id,
            )
            .await;
            continue;
        }
        tracing::info!(execution_id = %execution.execution_id, workflow_id = %execution.workflow_id, attempt = execution.attempt, "{what}");
        publish_in_background(
            &backends.transport,
            ExecutionRequest::for_execution(execution),
        );
    }
}

pub async fn requeue_due_retries(backends: &Backends, now: Timestamp) {
    match backends
        .executions
        .requeue_due_retries(now, super::BATCH)
        .await
    {
        Ok(requeued) => {
            shared::telemetry::measure::retries_started(requeued.len());
            publish_all(backends, &requeued, "retry due: re-queued").await
        }
        Err(err) => tracing::warn!(%err, "cannot re-queue due retries"),
    }
}

async fn rescue_expired_leases(backends: &Backends, now: Timestamp) {
    match backends
        .executions
        .rescue_expired_leases(now, super::BATCH)
        .await
    {
        Ok(rescued) => {
            shared::telemetry::measure::leases_rescued(rescued.len());
            publish_all(backends, &rescued, "lease expired (runner gone): re-queued").await
        }
        Err(err) => tracing::warn!(%err, "cannot rescue expired leases"),
    }
}

async fn mend_trigger_states(backends: &Backends, now: Timestamp, older_than: Duration) {
    match backends
        .executions
        .repair_trigger_states(before(now, older_than), super::BATCH)
        .await
    {
        Ok(written) => {
            publish_all(
                backends,
                &written,
                "execution a crash left unwritten (or buffered behind an ended one): queued",
            )
            .await
        }
        Err(err) => tracing::warn!(%err, "cannot repair trigger states"),
    }
}

fn before(now: Timestamp, d: Duration) -> Timestamp {
    time::from_millis(time::to_millis(now) - d.as_millis() as i64)
}

/// Waiting executions whose wake was lost (see `shared::workers::wake_forgotten`).
async fn wake_forgotten(backends: &Backends, now: Timestamp, older_than: Duration) {
    shared::workers::wake_forgotten(backends, before(now, older_than), super::BATCH).await
}

async fn republish_stale(backends: &Backends, now: Timestamp, older_than: Duration) {
    let threshold = before(now, older_than);
    match backends
        .executions
        .stale_queued(threshold, now, super::BATCH)
        .await
    {
        Ok(stale) => publish_all(backends, &stale, "queued execution not taken: republished").await,
        Err(err) => tracing::warn!(%err, "cannot republish stale queued executions"),
    }
}

/// Sets the queue-depth gauges from the store, so they hold whichever process put the work in.
async fn measure_queue_depth(backends: &Backends) {
    match backends.executions.live_counts().await {
        Ok(counts) => shared::telemetry::measure::live_executions(counts),
        Err(err) => tracing::warn!(%err, "cannot count live executions"),
    }
}

/// Deletes execution history past the retention settings, a batch at a time.
async fn prune_history(backends: &Backends, now: Timestamp, retention: &Retention) {
    let ended_before = retention.max_age.map(|age| before(now, age));
    match backends
        .executions
        .prune_history(ended_before, retention.per_workflow, super::BATCH)
        .await
    {
        Ok(0) => {}
        Ok(deleted) => tracing::info!(deleted, "execution history pruned"),
        Err(err) => tracing::warn!(%err, "cannot prune execution history"),
    }
}
