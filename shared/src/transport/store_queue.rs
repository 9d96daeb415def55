//! Store-as-queue: the `queued` executions in the store are the queue. Within one process a
//! publish hands the request straight to the consumer (no store read, no poll delay); consumers
//! find work queued by other processes, and anything a hand-off missed, by polling the store.
//! Runners claim each execution atomically in the store, so two consumers never both run it.

use super::{RequestHandler, Transport, TransportError};
use crate::domain::ExecutionRequest;
use crate::repo::ExecutionRepo;
use async_trait::async_trait;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub struct StoreQueue {
    executions: Arc<dyn ExecutionRepo>,
    /// The running consumer of this process, if any; without one, publishing is a no-op and
    /// the request waits in the store for another process's poll.
    handoff: Mutex<Option<mpsc::UnboundedSender<ExecutionRequest>>>,
    /// How often to look in the store for work this process was not handed.
    poll_interval: Duration,
}

impl StoreQueue {
    pub fn new(executions: Arc<dyn ExecutionRepo>, poll_interval: Duration) -> Self {
        Self {
            executions,
            handoff: Mutex::new(None),
            poll_interval,
        }
    }
}

/// Hands requests to handler tasks: at most `concurrency` at once, never one execution twice
/// at the same time (a hand-off and a poll may both carry it).
struct Dispatcher {
    handler: Arc<dyn RequestHandler>,
    permits: Arc<Semaphore>,
    in_flight: Arc<Mutex<HashSet<Uuid>>>,
    tasks: tokio::task::JoinSet<()>,
}

impl Dispatcher {
    async fn dispatch(&mut self, request: ExecutionRequest, shutdown: &CancellationToken) {
        let id = request.execution_id;
        if !self
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id)
        {
            return;
        }
        let permit = tokio::select! {
            permit = self.permits.clone().acquire_owned() => permit.expect("semaphore is never closed"),
            _ = shutdown.cancelled() => return,
        };
        let handler = self.handler.clone();
        // Frees the id and the permit however the handler ends, a panic included.
        let done = InFlight {
            id,
            set: self.in_flight.clone(),
            _permit: permit,
        };
        self.tasks.spawn(async move {
            handler.handle(request).await;
            drop(done);
        });
        while let Some(ended) = self.tasks.try_join_next() {
            if let Err(err) = ended {
                tracing::error!(%err, "execution handler failed; its lease will expire and it will be rescued");
            }
        }
    }
}

/// One execution handed to a handler; dropping it makes the id deliverable again.
struct InFlight {
    id: Uuid,
    set: Arc<Mutex<HashSet<Uuid>>>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

#[async_trait]
impl Transport for StoreQueue {
    async fn publish(&self, request: &ExecutionRequest) -> Result<(), TransportError> {
        if let Some(handoff) = self.handoff.lock().expect("handoff").as_ref() {
            let _ = handoff.send(request.clone());
        }
        Ok(())
    }

    async fn consume(
        &self,
        handler: Arc<dyn RequestHandler>,
        concurrency: usize,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let (sender, mut handed) = mpsc::unbounded_channel();
        *self.handoff.lock().expect("handoff") = Some(sender);
        let mut dispatcher = Dispatcher {
            handler,
            permits: Arc::new(Semaphore::new(concurrency)),
            in_flight: Arc::default(),
            tasks: tokio::task::JoinSet::new(),
        };
        let mut poll = tokio::time::interval(self.poll_interval);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                Some(request) = handed.recv() => dispatcher.dispatch(request, &shutdown).await,
                _ = poll.tick() => {
                    match self.executions.queued(concurrency.max(1) * 2).await {
                        Ok(queued) => {
                            for execution in queued {
                                dispatcher.dispatch(ExecutionRequest::for_execution(&execution), &shutdown).await;
                            }
                        }
                        Err(err) => tracing::warn!(%err, "cannot read the queue; will poll again"),
                    }
                }
            }
        }
        *self.handoff.lock().expect("handoff") = None;
        while dispatcher.tasks.join_next().await.is_some() {}
        Ok(())
    }

    async fn ready(&self) -> Result<(), TransportError> {
        Ok(())
    }

    fn name(&self) -> &'static str {
        "store-queue"
    }

    fn delivers_from_store(&self) -> bool {
        true
    }
}
