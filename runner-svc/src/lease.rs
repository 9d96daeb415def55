//! Keeping a claim alive while actions run, and noticing when it was lost.

use shared::domain::Lease;
use shared::repo::ExecutionRepo;
use shared::time;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub fn lease_for(owner: &str, duration: Duration) -> Lease {
    Lease {
        owner: owner.to_string(),
        expires_at: time::add(time::now(), duration),
    }
}

/// Renews the lease every third of its duration until dropped. Cancels `lost` if the store says
/// another runner holds it now (ours expired and was rescued).
pub struct Renewal {
    task: tokio::task::JoinHandle<()>,
}

impl Renewal {
    pub fn start(
        executions: Arc<dyn ExecutionRepo>,
        execution_id: Uuid,
        owner: String,
        duration: Duration,
        lost: CancellationToken,
    ) -> Self {
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(duration / 3);
            tick.tick().await;
            loop {
                tick.tick().await;
                match executions
                    .renew_lease(execution_id, &lease_for(&owner, duration))
                    .await
                {
                    Ok(true) => {}
                    // Also what an attempt that ended between two ticks sees (the execution is no
                    // longer running): not a loss, and the guard is being dropped anyway.
                    Ok(false) => {
                        tracing::debug!(%execution_id, "lease no longer held; abandoning this attempt if it still runs");
                        lost.cancel();
                        return;
                    }
                    Err(err) => {
                        tracing::warn!(%err, %execution_id, "cannot renew lease; will try again")
                    }
                }
            }
        });
        Self { task }
    }
}

impl Drop for Renewal {
    fn drop(&mut self) {
        self.task.abort();
    }
}
