//! The transport seam (DESIGN §2): how execution requests travel from the API and the scheduler
//! to runners. Requests are always recorded in the store first (the outbox), so a publish that
//! fails loses nothing: the scheduler republishes stale `queued` executions.

pub mod kafka;
pub mod store_queue;

pub use store_queue::Reservation;

use crate::domain::{Execution, ExecutionRequest, ExecutionStatus, Lease, TriggerStatus, Workflow};
use crate::repo::Claimed;
use async_trait::async_trait;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(pub String);

/// What a runner does with one request. Returning means the request is fully handled (run,
/// or found already done or taken), so the transport may acknowledge it.
#[async_trait]
pub trait RequestHandler: Send + Sync {
    async fn handle(&self, request: ExecutionRequest);

    /// The lease this handler would claim an execution with now, for executions recorded
    /// already claimed for it ([`Transport::reserve_run`]); `None` if it claims each itself.
    fn lease(&self) -> Option<Lease> {
        None
    }

    /// Runs an execution recorded already claimed under `lease`, one from [`Self::lease`]
    /// (only a handler that gives leases is handed any).
    async fn handle_claimed(&self, claimed: Claimed, lease: Lease) {
        // Not reached: a transport reserves places only with a lease from `lease`.
        tracing::error!(execution_id = %claimed.execution.execution_id, owner = %lease.owner,
            "handed an execution claimed already, but this handler takes none; its lease will lapse and the scheduler will queue it again");
    }
}

#[async_trait]
pub trait Transport: Send + Sync {
    /// Hands a request to the runners. An error is not fatal: the outbox repairs it.
    async fn publish(&self, request: &ExecutionRequest) -> Result<(), TransportError>;

    /// Delivers requests to `handler`, at most `concurrency` at a time, until `shutdown`;
    /// then waits for the handlers in flight and acknowledges what they finished.
    async fn consume(
        &self,
        handler: Arc<dyn RequestHandler>,
        concurrency: usize,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()>;

    /// Whether the transport can take requests now (for `/readyz`).
    async fn ready(&self) -> Result<(), TransportError>;

    fn name(&self) -> &'static str;

    /// A place in a runner of this process, taken before a new execution is recorded, so that
    /// it can be recorded already claimed and handed over without a claim of its own. `None`
    /// when no runner here takes them or all its places are taken: the execution is then
    /// recorded `queued` and published as usual.
    fn reserve_run(&self) -> Option<Reservation> {
        None
    }

    /// Whether consumers read the store's queue themselves (then nothing queued can be missed
    /// by the transport, and runners need no sweep for stragglers).
    fn delivers_from_store(&self) -> bool {
        false
    }
}

/// Publishes without making the caller wait for the broker. Callers have recorded the execution
/// already (the outbox), so a failed publish only delays it until the scheduler republishes.
pub fn publish_in_background(transport: &Arc<dyn Transport>, request: ExecutionRequest) {
    let transport = transport.clone();
    tokio::spawn(async move {
        if let Err(err) = transport.publish(&request).await {
            tracing::warn!(%err, execution_id = %request.execution_id, "publish failed; the outbox will retry");
        }
    });
}

/// A place in this process's runner for an execution about to be recorded for `workflow`,
/// if one is free; none for a workflow read busy (its execution would not run at once).
pub fn reserve_for(transport: &Arc<dyn Transport>, workflow: &Workflow) -> Option<Reservation> {
    if workflow.status != TriggerStatus::Idle {
        return None;
    }
    transport.reserve_run()
}

/// Hands a just recorded execution of `workflow` (as read before) to the runners: to the place
/// `reserved` for it when it was recorded claimed for that place, else by publishing it.
pub async fn hand_over(
    transport: &Arc<dyn Transport>,
    reserved: Option<Reservation>,
    execution: &Execution,
    workflow: &Workflow,
) {
    match reserved {
        Some(reserved) if execution.status == ExecutionStatus::Running => {
            // The workflow as the store left it: at the version it checked, busy with this.
            let mut workflow = workflow.clone();
            (workflow.status, workflow.current_execution_id) = execution.trigger_state();
            let claimed = Claimed {
                execution: execution.clone(),
                workflow: Some(workflow),
            };
            reserved.deliver(claimed).await
        }
        _ => publish_in_background(transport, ExecutionRequest::for_execution(execution)),
    }
}

/// Publishes the execution a workflow queued from its buffer (`overlap: bufferOne`) when the
/// one before it ended: the store queued it in the same step as that end, so only the publish
/// is left (and, as for every publish, the outbox repair backs it up).
pub async fn publish_promoted(
    executions: &dyn crate::repo::ExecutionRepo,
    transport: &Arc<dyn Transport>,
    workflow_id: &str,
) {
    let queued = crate::repo::ExecutionQuery {
        status: Some(crate::domain::ExecutionStatus::Queued),
        cursor: None,
        limit: 1,
    };
    match executions.list_for_workflow(workflow_id, &queued).await {
        Ok(page) => {
            for e in page.items {
                publish_in_background(transport, ExecutionRequest::for_execution(&e));
            }
        }
        Err(err) => {
            tracing::warn!(%err, workflow_id, "cannot look for a buffered execution to publish; the outbox will")
        }
    }
}
