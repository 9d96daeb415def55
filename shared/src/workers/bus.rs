//! Worker tasks on the bus (Kafka, when configured): the runners publish queued tasks on their
//! queue's topic as they become due and read workers' results, which settle a task as an HTTP
//! report does (the first result wins; a later one is ignored and counted). The rules are
//! `domain::task::bus`; the carrying is `transport::kafka::TaskBus`.

use super::{apply, ReportError, RECHECK_MOST};
use crate::domain::task::{BusOutcome, Task, TaskConflict, TaskMessage, TaskResult};
use crate::telemetry::measure;
use crate::time::{self, Timestamp};
use crate::transport::kafka::TaskBus;
use crate::Backends;
use futures_util::future::join_all;
use futures_util::FutureExt;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Tasks published per pass; a full pass is followed by another at once.
const BATCH: usize = 256;
/// A publish that failed is tried again this much later.
const RETRY_PUBLISH: Duration = Duration::from_secs(1);

/// Publishes due tasks and settles results until `shutdown`.
pub async fn run(backends: Backends, bus: Arc<TaskBus>, shutdown: CancellationToken) {
    let consumer = {
        let (backends, bus, shutdown) = (backends.clone(), bus.clone(), shutdown.clone());
        tokio::spawn(async move {
            let handle = move |payload: Vec<u8>| {
                let backends = backends.clone();
                async move { settle(&backends, &payload).await }.boxed()
            };
            if let Err(err) = bus.consume_results(handle, shutdown).await {
                tracing::error!(error = %format!("{err:#}"), "task results are not read");
            }
        })
    };
    loop {
        let woken = backends.wakeups.tasks.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if publish_due(&backends, &bus, time::now()).await == BATCH {
            continue;
        }
        // Tasks queued by another process (a sweep, a nack's backoff ending) are found here.
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = woken => {}
            _ = tokio::time::sleep(RECHECK_MOST) => {}
        }
    }
    let _ = consumer.await;
}

/// Publishes the tasks due at `now` (each recorded as published first, so that no other
/// runner publishes it too); how many were due.
pub async fn publish_due(backends: &Backends, bus: &TaskBus, now: Timestamp) -> usize {
    let due = match backends.tasks.to_publish(now, BATCH).await {
        Ok(due) => due,
        Err(err) => {
            tracing::warn!(%err, "cannot look for tasks to publish");
            return 0;
        }
    };
    let count = due.len();
    let mut sends = Vec::new();
    for (mut task, revision) in due {
        let again = task.published_at.is_some();
        let Some(message) = task.publish(bus.redelivery(), now) else {
            continue;
        };
        match backends.tasks.write(&task, revision).await {
            Ok(true) => {}
            Ok(false) => continue, // Another runner, or a worker of the poll, came first.
            Err(err) => {
                tracing::warn!(%err, task_id = %task.task_id, "cannot record a publication");
                continue;
            }
        }
        if again {
            measure::task_event(&task.queue, "redelivered");
        }
        sends.push(send(backends, bus, task, message));
    }
    join_all(sends).await;
    count
}

async fn send(backends: &Backends, bus: &TaskBus, task: Task, message: TaskMessage) {
    let payload = match serde_json::to_vec(&message) {
        Ok(payload) => payload,
        Err(err) => return tracing::error!(%err, "a task message does not encode"),
    };
    let key = task.task_id.to_string();
    match bus.publish(&task.queue, &key, &payload).await {
        Ok(()) => measure::task_event(&task.queue, "published"),
        Err(err) => {
            tracing::warn!(%err, task_id = %key, "task publish failed; trying again shortly");
            let sent_at = task.published_at;
            let retry_at = time::add(time::now(), RETRY_PUBLISH);
            let _ = apply(backends, task.task_id, None, |t, _| {
                t.unpublish(sent_at, retry_at);
                Ok(())
            })
            .await;
        }
    }
}

/// One message of the results topic.
pub async fn settle(backends: &Backends, payload: &[u8]) {
    let result: TaskResult = match serde_json::from_slice(payload) {
        Ok(result) => result,
        Err(err) => return ignored("invalid", &format!("not a task result: {err}")),
    };
    let outcome = match result.outcome() {
        Ok(outcome) => outcome,
        Err(why) => return ignored("invalid", &why),
    };
    let event = match outcome {
        BusOutcome::Complete(_) => "completed",
        BusOutcome::Fail { .. } => "failed",
    };
    let settled = apply(backends, result.task_id, Some(event), |task, now| {
        task.settle(&result, outcome.clone(), now)
    })
    .await;
    match settled {
        Ok(_) => {}
        // Another deployment's, on a shared topic, or a task long pruned: not worth a warning.
        Err(ReportError::NotFound) => {
            tracing::debug!(task_id = %result.task_id, "result for an unknown task ignored");
            measure::bus_result_ignored("unknown")
        }
        Err(ReportError::Conflict(TaskConflict::Ended(_))) => {
            measure::bus_result_ignored("duplicate")
        }
        Err(ReportError::Conflict(TaskConflict::NotHeld { .. })) => {
            measure::bus_result_ignored("stale")
        }
        Err(ReportError::Store(err)) => {
            // The task stays as it was: its publication lapses and goes out again.
            tracing::warn!(%err, task_id = %result.task_id, "cannot record a task result");
        }
    }
}

fn ignored(reason: &'static str, why: &str) {
    tracing::warn!(reason, why, "task result ignored");
    measure::bus_result_ignored(reason);
}
