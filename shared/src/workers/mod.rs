//! The worker protocol's operations, over the task store: a poll that leases ready tasks
//! (waiting for one up to a bound), a worker's reports (heartbeat, complete, fail), the sweep
//! of lapsed leases and deadlines, and waking the execution whose task ended. The API and the
//! scheduler call these; the rules of a task itself are `domain::task`.

pub mod bus;

use crate::domain::task::{Task, TaskConflict, TaskStatus};
use crate::domain::ExecutionRequest;
use crate::repo::RepoError;
use crate::telemetry::measure;
use crate::time::{self, Timestamp};
use crate::transport::publish_in_background;
use crate::Backends;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How often a waiting poll looks at the store for tasks another process made ready (this
/// process's own wake it at once): first after 50 ms, then less often while nothing comes, up
/// to the interval other cross-process work is found at.
const RECHECK_FIRST: Duration = Duration::from_millis(50);
const RECHECK_MOST: Duration = Duration::from_millis(250);
/// Conditional writes retried when another writer changed the task first.
const TRIES: usize = 8;

/// What a worker asks for.
pub struct Poll<'a> {
    pub worker_id: &'a str,
    pub queues: &'a [String],
    pub max: usize,
    pub wait: Duration,
    pub lease: Duration,
}

/// Leases up to `max` ready tasks to the worker; waits up to `wait` for the first one.
pub async fn poll(backends: &Backends, poll: &Poll<'_>) -> Result<Vec<Task>, RepoError> {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + poll.wait;
    let mut recheck = RECHECK_FIRST;
    loop {
        let woken = backends.wakeups.tasks.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let leased = lease_ready(backends, poll, time::now()).await?;
        if !leased.is_empty() || tokio::time::Instant::now() >= deadline {
            measure::poll_waited(started.elapsed());
            return Ok(leased);
        }
        let at = (tokio::time::Instant::now() + recheck).min(deadline);
        tokio::select! {
            _ = woken => recheck = RECHECK_FIRST,
            _ = tokio::time::sleep_until(at) => recheck = (recheck * 2).min(RECHECK_MOST),
        }
    }
}

async fn lease_ready(
    backends: &Backends,
    poll: &Poll<'_>,
    now: Timestamp,
) -> Result<Vec<Task>, RepoError> {
    // More than asked: some may be taken by another worker between the read and the write.
    let ready = backends.tasks.ready(poll.queues, now, poll.max * 2).await?;
    let mut leased = Vec::new();
    for (task, revision) in ready {
        if leased.len() == poll.max {
            break;
        }
        if let Some(task) = lease_one(backends, poll, task, revision, now).await? {
            measure::task_event(&task.queue, "leased");
            leased.push(task);
        }
    }
    Ok(leased)
}

/// Leases one task to the worker, reading it again when a write that only recorded its
/// publication on the bus came first; `None` when another worker took it or it is not ready.
async fn lease_one(
    backends: &Backends,
    poll: &Poll<'_>,
    mut task: Task,
    mut revision: i64,
    now: Timestamp,
) -> Result<Option<Task>, RepoError> {
    for _ in 0..TRIES {
        if !task.lease_to(poll.worker_id, poll.lease, now) {
            return Ok(None);
        }
        if backends.tasks.write(&task, revision).await? {
            return Ok(Some(task));
        }
        match backends.tasks.get(task.task_id).await? {
            Some((again, at)) => (task, revision) = (again, at),
            None => return Ok(None),
        }
    }
    Ok(None)
}

/// What a worker reports about a task it holds.
pub enum Report {
    Heartbeat { lease: Duration },
    Complete { output: serde_json::Value },
    Fail { error: String, retryable: bool },
}

#[derive(Debug)]
pub enum ReportError {
    NotFound,
    Conflict(TaskConflict),
    Store(RepoError),
}

impl From<RepoError> for ReportError {
    fn from(e: RepoError) -> Self {
        ReportError::Store(e)
    }
}

/// Applies a worker's report; the task as it is now. A task that ended by it wakes its
/// execution.
pub async fn report(
    backends: &Backends,
    task_id: Uuid,
    worker_id: &str,
    report: &Report,
) -> Result<Task, ReportError> {
    let event = match report {
        Report::Heartbeat { .. } => None,
        Report::Complete { .. } => Some("completed"),
        Report::Fail { .. } => Some("failed"),
    };
    apply(backends, task_id, event, |task, now| match report {
        Report::Heartbeat { lease } => task.heartbeat(worker_id, *lease, now),
        Report::Complete { output } => task.complete(worker_id, output.clone(), now),
        Report::Fail { error, retryable } => task.fail(worker_id, error, *retryable, now),
    })
    .await
}

/// Changes a task by `change` under its revision (again if another writer came first), counts
/// `event`, and wakes its execution if it ended or the polls if it is queued again.
async fn apply(
    backends: &Backends,
    task_id: Uuid,
    event: Option<&'static str>,
    change: impl Fn(&mut Task, Timestamp) -> Result<(), TaskConflict>,
) -> Result<Task, ReportError> {
    for _ in 0..TRIES {
        let Some((mut task, revision)) = backends.tasks.get(task_id).await? else {
            return Err(ReportError::NotFound);
        };
        let was_queued = task.status == TaskStatus::Queued;
        if let Err(conflict) = change(&mut task, time::now()) {
            measure::task_event(&task.queue, "refused");
            return Err(ReportError::Conflict(conflict));
        }
        if !backends.tasks.write(&task, revision).await? {
            continue;
        }
        if let Some(event) = event {
            measure::task_event(&task.queue, event);
        }
        if task.status.is_ended() {
            wake(backends, task.execution_id).await;
        } else if task.status == TaskStatus::Queued && !was_queued {
            backends.wakeups.tasks.notify_waiters();
        }
        return Ok(task);
    }
    Err(ReportError::Store(RepoError::Unavailable(format!(
        "task {task_id} kept changing under concurrent writes; try again"
    ))))
}

/// Lapsed leases go back to their queue as the next attempt (or fail, their attempts spent);
/// tasks past their deadline fail. Returns how many changed.
pub async fn sweep(backends: &Backends, now: Timestamp, limit: usize) -> usize {
    let lapsed = match backends.tasks.lapsed(now, limit).await {
        Ok(lapsed) => lapsed,
        Err(err) => {
            tracing::warn!(%err, "cannot look for lapsed tasks");
            return 0;
        }
    };
    let mut changed = 0;
    for (mut task, revision) in lapsed {
        if !task.lapse(now) {
            continue;
        }
        match backends.tasks.write(&task, revision).await {
            Ok(true) => changed += 1,
            Ok(false) => continue, // A report came first.
            Err(err) => {
                tracing::warn!(%err, task_id = %task.task_id, "cannot record a lapsed task");
                continue;
            }
        }
        measure::task_event(&task.queue, "lapsed");
        tracing::info!(task_id = %task.task_id, execution_id = %task.execution_id, status = task.status.as_str(), "task lease lapsed or deadline passed");
        if task.status.is_ended() {
            wake(backends, task.execution_id).await;
        }
    }
    if changed > 0 {
        backends.wakeups.tasks.notify_waiters();
    }
    changed
}

/// The repair of a lost wake: a waiting execution, untouched since `older_than`, one of whose
/// tasks ended (the process that recorded the end died before it woke the execution).
pub async fn wake_forgotten(backends: &Backends, older_than: Timestamp, limit: usize) {
    let waiting = match backends.executions.waiting(older_than, limit).await {
        Ok(waiting) => waiting,
        Err(err) => return tracing::warn!(%err, "cannot look for forgotten waiting executions"),
    };
    for execution in waiting {
        use crate::domain::ActionStatus::Running;
        // Only the tasks it still waits for: those of running steps and items.
        let tasks: Vec<Uuid> = execution
            .actions
            .iter()
            .filter(|step| step.status == Running)
            .flat_map(|step| {
                let items = step.items.iter().filter(|i| i.status == Running);
                step.task_id
                    .filter(|_| step.items.is_empty())
                    .into_iter()
                    .chain(items.filter_map(|i| i.task_id))
            })
            .collect();
        match backends.tasks.any_ended(&tasks).await {
            Ok(true) => {
                tracing::info!(execution_id = %execution.execution_id, "a task it waits for ended: waking it");
                wake(backends, execution.execution_id).await
            }
            Ok(false) => {}
            Err(err) => tracing::warn!(%err, "cannot look at a waiting execution's tasks"),
        }
    }
}

/// Queues the execution again if it waits (for this task); publishes it.
pub async fn wake(backends: &Backends, execution_id: Uuid) {
    match backends.executions.wake(execution_id, time::now()).await {
        Ok(Some(execution)) => publish_in_background(
            &backends.transport,
            ExecutionRequest::for_execution(&execution),
        ),
        // Running still: its runner looks at its tasks before it parks.
        Ok(None) => {}
        Err(err) => {
            tracing::warn!(%err, %execution_id, "cannot wake the execution; the repair pass will")
        }
    }
}

/// Cancels the tasks an ended execution left open, so that no worker takes them.
pub async fn cancel_open(backends: &Backends, execution_id: Uuid) {
    let open = match backends.tasks.of_execution(execution_id).await {
        Ok(open) => open,
        Err(err) => {
            tracing::warn!(%err, %execution_id, "cannot cancel the execution's open tasks");
            return;
        }
    };
    for (mut task, revision) in open {
        if task.cancel(time::now()) {
            if let Err(err) = backends.tasks.write(&task, revision).await {
                tracing::warn!(%err, task_id = %task.task_id, "cannot cancel a task");
            }
        }
    }
}

/// Records a step's task (once: the same step and item always map to the same task) and
/// tells waiting polls; the task as stored. `known` holds the execution's tasks as read when
/// the attempt began: one found there costs no round trip.
pub async fn dispatch(
    backends: &Backends,
    task: &Task,
    known: &std::collections::BTreeMap<Uuid, Task>,
) -> Result<Task, RepoError> {
    if let Some(found) = known.get(&task.task_id) {
        return Ok(found.clone());
    }
    let stored = match backends.task_bus.is_some() {
        true => {
            let mut on_bus = task.clone();
            on_bus.publish_at = Some(task.available_at);
            backends.tasks.enqueue(&on_bus).await?
        }
        false => backends.tasks.enqueue(task).await?,
    };
    if stored.attempt == 0 && stored.status == TaskStatus::Queued {
        measure::task_event(&stored.queue, "queued");
        backends.wakeups.tasks.notify_waiters();
    }
    Ok(stored)
}
