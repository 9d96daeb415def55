//! The store is the source of truth and the transport the fast path. An execution left `queued`
//! far longer than the outbox's republishing should take (its messages lost, or stuck on a
//! Kafka partition no live consumer owns) is run from the store directly. The atomic claim
//! keeps this harmless when a message turns up after all.

use shared::domain::ExecutionRequest;
use shared::repo::ExecutionRepo;
use shared::time;
use shared::transport::RequestHandler;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Most stragglers taken per sweep.
const BATCH: usize = 500;

pub async fn sweep(
    executions: Arc<dyn ExecutionRepo>,
    handler: Arc<dyn RequestHandler>,
    every: Duration,
    older_than: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        let now = time::now();
        let cutoff = time::from_millis(time::to_millis(now) - older_than.as_millis() as i64);
        let queued = match executions.queued(BATCH).await {
            Ok(queued) => queued,
            Err(err) => {
                tracing::warn!(%err, "cannot look for stragglers");
                continue;
            }
        };
        let mut running = tokio::task::JoinSet::new();
        // Waiting since its slot, trigger or retry time: republishing did not deliver it.
        for execution in queued
            .into_iter()
            .filter(|e| e.next_attempt_at.unwrap_or(e.created_at) < cutoff)
        {
            tracing::warn!(execution_id = %execution.execution_id, workflow_id = %execution.workflow_id, "queued execution never delivered by the transport; running it from the store");
            let handler = handler.clone();
            running.spawn(async move {
                handler
                    .handle(ExecutionRequest::for_execution(&execution))
                    .await
            });
        }
        while running.join_next().await.is_some() {}
    }
}
