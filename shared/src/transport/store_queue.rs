//! Store-as-queue: the `queued` executions in the store are the queue. Publishing wakes this
//! process's consumer at once; consumers in other processes find the work at their next poll.
//! Runners claim each execution atomically in the store, so two consumers never both run it.

use super::{RequestHandler, Transport, TransportError};
use crate::domain::ExecutionRequest;
use crate::repo::ExecutionRepo;
use async_trait::async_trait;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub struct StoreQueue {
    executions: Arc<dyn ExecutionRepo>,
    /// Set by `publish`, so the consumer of this process does not wait for its next poll.
    wake: Arc<Notify>,
    /// How often to look for work queued by other processes.
    poll_interval: Duration,
}

impl StoreQueue {
    pub fn new(executions: Arc<dyn ExecutionRepo>, poll_interval: Duration) -> Self {
        Self { executions, wake: Arc::new(Notify::new()), poll_interval }
    }
}

#[async_trait]
impl Transport for StoreQueue {
    async fn publish(&self, _request: &ExecutionRequest) -> Result<(), TransportError> {
        self.wake.notify_one();
        Ok(())
    }

    async fn consume(
        &self,
        handler: Arc<dyn RequestHandler>,
        concurrency: usize,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let permits = Arc::new(Semaphore::new(concurrency));
        // Executions handed to a handler and not yet returned: a later poll must not hand them again.
        let in_flight: Arc<Mutex<HashSet<Uuid>>> = Arc::default();
        let mut tasks = tokio::task::JoinSet::new();
        while !shutdown.is_cancelled() {
            let batch = match self.executions.queued(concurrency.max(1) * 2).await {
                Ok(batch) => batch,
                Err(err) => {
                    tracing::warn!(%err, "cannot read the queue; retrying");
                    Vec::new()
                }
            };
            let mut handed = 0;
            for execution in batch {
                if !in_flight.lock().expect("in-flight set").insert(execution.execution_id) {
                    continue;
                }
                let permit = tokio::select! {
                    permit = permits.clone().acquire_owned() => permit?,
                    _ = shutdown.cancelled() => break,
                };
                handed += 1;
                let (handler, in_flight) = (handler.clone(), in_flight.clone());
                tasks.spawn(async move {
                    let id = execution.execution_id;
                    handler.handle(ExecutionRequest::for_execution(&execution)).await;
                    in_flight.lock().expect("in-flight set").remove(&id);
                    drop(permit);
                });
            }
            while tasks.try_join_next().is_some() {}
            if handed > 0 {
                continue; // More may be waiting behind this batch.
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.poll_interval) => {}
                _ = shutdown.cancelled() => {}
            }
        }
        while tasks.join_next().await.is_some() {}
        Ok(())
    }

    async fn ready(&self) -> Result<(), TransportError> {
        Ok(())
    }

    fn name(&self) -> &'static str {
        "store-queue"
    }
}
