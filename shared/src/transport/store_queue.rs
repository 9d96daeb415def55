//! Store-as-queue: the `queued` executions in the store are the queue. Within one process a
//! publish hands the request straight to the consumer (no store read, no poll delay); consumers
//! find work queued by other processes, and anything a hand-off missed, by polling the store.
//! Runners claim each execution atomically in the store, so two consumers never both run it.
//! A scheduler in the same process can skip the claim: it reserves a place in the runner,
//! records the execution already claimed for it, and hands it over ([`Reservation`]).

use super::{RequestHandler, Transport, TransportError};
use crate::domain::{ExecutionRequest, Lease};
use crate::repo::{give_back, Claimed, ExecutionRepo};
use async_trait::async_trait;
use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub struct StoreQueue {
    executions: Arc<dyn ExecutionRepo>,
    /// The running consumer of this process, if any; without one, publishing is a no-op and
    /// the request waits in the store for another process's poll.
    consumer: Mutex<Option<Consumer>>,
    /// How often to look in the store for work this process was not handed.
    poll_interval: Duration,
}

impl StoreQueue {
    pub fn new(executions: Arc<dyn ExecutionRepo>, poll_interval: Duration) -> Self {
        Self {
            executions,
            consumer: Mutex::new(None),
            poll_interval,
        }
    }

    fn consumer(&self) -> std::sync::MutexGuard<'_, Option<Consumer>> {
        self.consumer.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What publishers and reservations reach of the running consumer.
#[derive(Clone)]
struct Consumer {
    inbox: mpsc::UnboundedSender<Delivery>,
    permits: Arc<Semaphore>,
    /// Asked for the lease of each reservation.
    handler: Arc<dyn RequestHandler>,
}

enum Delivery {
    Request(ExecutionRequest),
    /// Recorded already claimed under `lease`, with the place reserved for it.
    Claimed {
        claimed: Box<Claimed>,
        lease: Lease,
        permit: OwnedSemaphorePermit,
    },
}

/// A place in this process's runner, held from before an execution is recorded (claimed
/// under [`Reservation::lease`]) until the runner is done with it. Dropped unused, the place
/// is free again.
pub struct Reservation {
    lease: Lease,
    permit: OwnedSemaphorePermit,
    inbox: mpsc::UnboundedSender<Delivery>,
    executions: Arc<dyn ExecutionRepo>,
}

impl Reservation {
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// Hands over `claimed`, recorded under this reservation's lease. If the runner stopped
    /// meanwhile, the execution is given back to the queue for another runner.
    pub async fn deliver(self, claimed: Claimed) {
        let delivery = Delivery::Claimed {
            claimed: Box::new(claimed),
            lease: self.lease,
            permit: self.permit,
        };
        if let Err(mpsc::error::SendError(undelivered)) = self.inbox.send(delivery) {
            give_back_undelivered(self.executions.as_ref(), undelivered).await;
        }
    }
}

/// Gives back an execution recorded claimed for a runner that stopped before it got it.
async fn give_back_undelivered(executions: &dyn ExecutionRepo, delivery: Delivery) {
    if let Delivery::Claimed { claimed, lease, .. } = delivery {
        let id = claimed.execution.execution_id;
        give_back(executions, id, &lease.owner, crate::time::now()).await;
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
        if !self.mark_in_flight(id) {
            return;
        }
        let permit = tokio::select! {
            permit = self.permits.clone().acquire_owned() => permit.expect("semaphore is never closed"),
            _ = shutdown.cancelled() => return,
        };
        let handler = self.handler.clone();
        let done = InFlight {
            id: Some(id),
            set: self.in_flight.clone(),
            _permit: permit,
        };
        self.spawn(done, async move { handler.handle(request).await });
    }

    /// Runs an execution recorded already claimed, in the place reserved for it.
    fn run_claimed(&mut self, claimed: Claimed, lease: Lease, permit: OwnedSemaphorePermit) {
        let id = claimed.execution.execution_id;
        // Not queued, so no poll carries it; marked so that none does after a give-back.
        let marked = self.mark_in_flight(id);
        let handler = self.handler.clone();
        let done = InFlight {
            id: marked.then_some(id),
            set: self.in_flight.clone(),
            _permit: permit,
        };
        self.spawn(
            done,
            async move { handler.handle_claimed(claimed, lease).await },
        );
    }

    fn mark_in_flight(&self, id: Uuid) -> bool {
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id)
    }

    /// Runs `work`, then frees its id and place (`done`) however it ends, a panic included.
    fn spawn(&mut self, done: InFlight, work: impl Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(async move {
            work.await;
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
    /// `None` when another delivery of the same execution marked it first.
    id: Option<Uuid>,
    set: Arc<Mutex<HashSet<Uuid>>>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.set
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
        }
    }
}

#[async_trait]
impl Transport for StoreQueue {
    async fn publish(&self, request: &ExecutionRequest) -> Result<(), TransportError> {
        if let Some(consumer) = self.consumer().as_ref() {
            let _ = consumer.inbox.send(Delivery::Request(request.clone()));
        }
        Ok(())
    }

    async fn consume(
        &self,
        handler: Arc<dyn RequestHandler>,
        concurrency: usize,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let (inbox, mut handed) = mpsc::unbounded_channel();
        let permits = Arc::new(Semaphore::new(concurrency));
        *self.consumer() = Some(Consumer {
            inbox,
            permits: permits.clone(),
            handler: handler.clone(),
        });
        let mut dispatcher = Dispatcher {
            handler,
            permits,
            in_flight: Arc::default(),
            tasks: tokio::task::JoinSet::new(),
        };
        let mut poll = tokio::time::interval(self.poll_interval);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                Some(delivery) = handed.recv() => match delivery {
                    Delivery::Request(request) => dispatcher.dispatch(request, &shutdown).await,
                    Delivery::Claimed { claimed, lease, permit } => {
                        dispatcher.run_claimed(*claimed, lease, permit)
                    }
                },
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
        *self.consumer() = None;
        // What was handed over claimed but not started goes back to the queue; a request
        // left here is in the store, queued, for the next runner's poll.
        handed.close();
        while let Some(delivery) = handed.recv().await {
            give_back_undelivered(self.executions.as_ref(), delivery).await;
        }
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

    fn reserve_run(&self) -> Option<Reservation> {
        let consumer = self.consumer().clone()?;
        let lease = consumer.handler.lease()?;
        let permit = consumer.permits.try_acquire_owned().ok()?;
        Some(Reservation {
            lease,
            permit,
            inbox: consumer.inbox,
            executions: self.executions.clone(),
        })
    }
}
