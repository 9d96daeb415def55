//! The repository traits (DESIGN §2). Operations are whole domain steps, each atomic in the
//! store, so that every backend keeps the same guarantees (one live execution per workflow,
//! a lease checked on every write, a unique execution id).

use crate::domain::task::Task;
use crate::domain::{
    Execution, ExecutionStatus, Lease, RateLimit, Service, Transition, TriggerStatus, Workflow,
};
use crate::time::Timestamp;
use async_trait::async_trait;
use std::time::Duration;
use uuid::Uuid;

pub mod cursor;
pub mod failpoint;

pub use failpoint::Failpoints;

/// The places where a store without multi-document transactions writes a second document,
/// each a failpoint: a crash there must leave a state the scheduler's repair pass mends.
pub mod crash_points {
    /// The workflow is marked busy for a new execution, which is not written yet.
    pub const BEFORE_EXECUTION_INSERT: &str = "before-execution-insert";
    /// An execution changed status; its workflow's trigger state does not follow yet.
    pub const BEFORE_TRIGGER_FOLLOWS: &str = "before-trigger-follows";
    /// A workflow is deleted; its waiting executions are not cancelled yet.
    pub const BEFORE_CANCEL_WAITING: &str = "before-cancel-waiting";
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RepoError {
    #[error("workflow `{0}` already exists")]
    AlreadyExists(String),
    #[error("not found")]
    NotFound,
    #[error("the workflow changed meanwhile: its version is now {current}")]
    VersionConflict { current: u64 },
    #[error("the cursor is not one this server issued")]
    InvalidCursor,
    /// A service cannot be deleted while workflows call it; they are named.
    #[error("in use by {}", .0.join(", "))]
    InUse(Vec<String>),
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
}

pub type RepoResult<T> = Result<T, RepoError>;

impl From<serde_json::Error> for RepoError {
    fn from(e: serde_json::Error) -> Self {
        RepoError::Unavailable(format!("a stored document does not decode: {e}"))
    }
}

/// One page of a listing; `next_cursor` is opaque to clients.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct WorkflowQuery {
    pub trigger_type: Option<String>,
    pub status: Option<TriggerStatus>,
    pub paused: Option<bool>,
    /// Workflows whose id contains this text, whatever its case.
    pub id_contains: Option<String>,
    /// Workflows whose id sorts after this cursor.
    pub cursor: Option<String>,
    pub limit: usize,
}

#[derive(Debug, Clone, Default)]
pub struct ExecutionQuery {
    pub status: Option<ExecutionStatus>,
    /// Newest first; executions older than this cursor.
    pub cursor: Option<String>,
    pub limit: usize,
}

#[async_trait]
pub trait WorkflowRepo: Send + Sync {
    async fn create(&self, workflow: &Workflow) -> RepoResult<()>;
    async fn get(&self, workflow_id: &str) -> RepoResult<Option<Workflow>>;
    async fn list(&self, query: &WorkflowQuery) -> RepoResult<Page<Workflow>>;
    /// Replaces definition, version, `nextRunAt` and `updatedAt` if the stored version is still
    /// `expected_version`; trigger state is left as the runner set it.
    async fn update(&self, workflow: &Workflow, expected_version: u64) -> RepoResult<()>;
    /// Deletes the workflow and cancels its executions that have not ended (a running one's
    /// runner stops at its next write). Executions stay readable. Returns false when there was
    /// no such workflow.
    async fn delete(&self, workflow_id: &str, now: Timestamp) -> RepoResult<bool>;
    /// Pauses or resumes a workflow: a paused one fires no slot and takes no trigger; its
    /// `nextRunAt` stays, so that resuming applies the catch-up policy to what was missed.
    /// `None` when there is no such workflow.
    async fn set_paused(&self, workflow_id: &str, paused: bool) -> RepoResult<Option<Workflow>>;
    /// Periodic workflows whose next slot is at or before `now`, and idle ones whose next slot
    /// is at or before `now + lead`, earliest first. A slot taken early is recorded and handed
    /// to a runner before its time, and the runner starts it at its time; a busy workflow's
    /// slot waits for its time, so that its overlap policy judges what runs then.
    async fn due_periodic(
        &self,
        now: Timestamp,
        lead: Duration,
        limit: usize,
    ) -> RepoResult<Vec<Workflow>>;
    /// The earliest moment at which `due_periodic` with this `lead` returns a workflow: an
    /// idle workflow's next slot less `lead`, a busy one's next slot.
    async fn next_periodic_due(&self, lead: Duration) -> RepoResult<Option<Timestamp>>;
    async fn ping(&self) -> RepoResult<()>;
}

/// The registry of services (`/services`). A service is versioned like a workflow; one that a
/// workflow's step calls cannot be deleted.
#[async_trait]
pub trait ServiceRepo: Send + Sync {
    async fn create(&self, service: &Service) -> RepoResult<()>;
    async fn get(&self, name: &str) -> RepoResult<Option<Service>>;
    /// Ordered by name; services whose name sorts after `cursor`.
    async fn list(&self, cursor: Option<&str>, limit: usize) -> RepoResult<Page<Service>>;
    /// Replaces the definition if the stored version is still `expected_version`.
    async fn update(&self, service: &Service, expected_version: u64) -> RepoResult<()>;
    /// Deletes the service unless a workflow calls it (`InUse`, naming at most 20 of them).
    /// False when there was no such service.
    async fn delete(&self, name: &str) -> RepoResult<bool>;
}

/// The tasks of worker steps (see `domain::task`). A store persists a task whole at a
/// revision; what changes it is decided by the domain.
#[async_trait]
pub trait TaskRepo: Send + Sync {
    /// Records the task unless one with its id exists; answers the stored one either way.
    async fn enqueue(&self, task: &Task) -> RepoResult<Task>;
    /// The task and the revision it was read at.
    async fn get(&self, task_id: Uuid) -> RepoResult<Option<(Task, i64)>>;
    /// Writes `task` if it is still at `revision`; false if another writer was first.
    async fn write(&self, task: &Task, revision: i64) -> RepoResult<bool>;
    /// `queued` tasks of these queues available at `now`, longest available first.
    async fn ready(
        &self,
        queues: &[String],
        now: Timestamp,
        limit: usize,
    ) -> RepoResult<Vec<(Task, i64)>>;
    /// `queued` tasks on the bus whose publication is due at `now`, most overdue first.
    async fn to_publish(&self, now: Timestamp, limit: usize) -> RepoResult<Vec<(Task, i64)>>;
    /// Tasks whose lease lapsed or whose deadline passed, not ended.
    async fn lapsed(&self, now: Timestamp, limit: usize) -> RepoResult<Vec<(Task, i64)>>;
    /// Whether one of these tasks has ended.
    async fn any_ended(&self, task_ids: &[Uuid]) -> RepoResult<bool>;
    /// Every task of an execution, ended or not.
    async fn of_execution(&self, execution_id: Uuid) -> RepoResult<Vec<(Task, i64)>>;
}

/// How many workflows an `InUse` error names.
pub const IN_USE_NAMED: usize = 20;

#[derive(Debug, Clone, PartialEq)]
pub enum TriggerOutcome {
    /// Recorded as `queued`; the workflow is now busy.
    Accepted(Execution),
    /// Recorded as `buffered` behind the busy workflow's current execution (`bufferOne`).
    Buffered(Execution),
    /// An execution with this id exists already (an `Idempotency-Key` repeated).
    Existing(Execution),
    /// The workflow is paused.
    Paused,
    /// Over the workflow's rate limit until `reset`; nothing recorded.
    RateLimited {
        max: u32,
        retry_after: std::time::Duration,
        reset: Timestamp,
    },
    /// The workflow is not idle (and has its one buffered execution, under `bufferOne`).
    Busy {
        status: TriggerStatus,
        current: Option<Uuid>,
    },
    WorkflowNotFound,
}

/// An execution a runner took, with its workflow as stored at that moment (`None`: deleted
/// since it was queued), which the runner is about to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub execution: Execution,
    pub workflow: Option<Workflow>,
}

impl Claimed {
    /// A store's answer to a claim once it read the workflow after claiming: both, or, when
    /// that read failed, the execution given back and the error.
    pub async fn after_read<S: ExecutionRepo + ?Sized>(
        store: &S,
        execution: Execution,
        workflow: RepoResult<Option<Workflow>>,
        lease: &Lease,
        now: Timestamp,
    ) -> RepoResult<Option<Claimed>> {
        match workflow {
            Ok(workflow) => Ok(Some(Claimed {
                execution,
                workflow,
            })),
            Err(err) => {
                give_back(store, execution.execution_id, &lease.owner, now).await;
                Err(err)
            }
        }
    }
}

/// A new execution as recorded when it runs at once: claimed under `claim_for` when given
/// (see [`ExecutionRepo::fire_slot`]), else as it is.
pub fn launched_as(e: &Execution, claim_for: Option<&Lease>) -> Execution {
    let mut launched = e.clone();
    if let Some(lease) = claim_for {
        launched.apply(&Transition::Claim {
            lease: lease.clone(),
            now: crate::time::now(),
        });
    }
    launched
}

/// Whether a new execution recorded for a workflow now at `stored_version` may keep the claim
/// it was built with: only while the workflow is still at the version `e` was built from, since
/// its runner is handed that definition with it. After an edit it is recorded queued instead,
/// and claimed as usual (the claim reads the workflow as it is then).
pub fn keeps_claim(e: &Execution, stored_version: u64) -> bool {
    stored_version == e.workflow_version
}

/// Gives a claimed execution back to the queue, for a claimant that cannot run it after all;
/// if even that fails, the execution waits for its lease to lapse and is rescued then.
pub async fn give_back<S: ExecutionRepo + ?Sized>(
    store: &S,
    execution_id: Uuid,
    owner: &str,
    now: Timestamp,
) {
    if let Err(err) = store.release(execution_id, owner, now).await {
        tracing::warn!(%err, %execution_id, "cannot give a claimed execution back; its lease will lapse");
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum SlotOutcome {
    Fired(Box<Execution>),
    /// The workflow was busy: the slot's execution is recorded as `buffered` (`bufferOne`).
    Buffered(Box<Execution>),
    /// The slot came while the workflow was busy or pending: skipped, `nextRunAt` advanced.
    SkippedBusy,
    /// Nothing to fire (catch-up policy); `nextRunAt` advanced.
    Advanced,
    /// Another scheduler handled this slot first, or the workflow changed, was paused or went
    /// away.
    Stale,
}

/// How many executions wait or run: the queue depths an operator watches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveCounts {
    pub queued: u64,
    pub running: u64,
    pub retrying: u64,
}

#[async_trait]
pub trait ExecutionRepo: Send + Sync {
    /// Records a new `queued` execution and moves its workflow from idle to busy, atomically;
    /// with a `limit`, only if it admits one more trigger, counting it in the same step. A
    /// busy workflow whose `trigger.overlap` is `bufferOne` and that has no buffered execution
    /// takes it as `buffered` instead. Whenever a workflow's current execution ends, its
    /// buffered one is queued and becomes current in the same step.
    /// With `claim_for`, an execution that runs at once is recorded already claimed under that
    /// lease (see `fire_slot`).
    async fn accept_trigger(
        &self,
        execution: &Execution,
        limit: Option<&RateLimit>,
        claim_for: Option<&Lease>,
    ) -> RepoResult<TriggerOutcome>;
    /// Handles one periodic slot if the workflow's `nextRunAt` is still `due`: records
    /// `execution` (when given and the workflow is idle) and moves `nextRunAt` to `next_run_at`.
    /// With `claim_for`, an execution that runs at once is recorded already claimed under that
    /// lease, for a runner of this process that then needs no claim of its own (one write
    /// instead of two), provided the workflow is still at the execution's version (the runner
    /// gets that definition with it); after an edit it is recorded queued, as without. The
    /// returned execution's status says which.
    async fn fire_slot(
        &self,
        workflow_id: &str,
        due: Timestamp,
        next_run_at: Timestamp,
        execution: Option<&Execution>,
        claim_for: Option<&Lease>,
    ) -> RepoResult<SlotOutcome>;
    async fn get(&self, execution_id: Uuid) -> RepoResult<Option<Execution>>;
    async fn list_for_workflow(
        &self,
        workflow_id: &str,
        query: &ExecutionQuery,
    ) -> RepoResult<Page<Execution>>;
    /// Takes a `queued` execution: `running`, leased to `lease.owner`, returned with its
    /// workflow. `None` if it is not queued (already taken, finished or cancelled). A store
    /// that cannot read the workflow after claiming gives the execution back (`release`)
    /// before it answers with the error.
    async fn claim(
        &self,
        execution_id: Uuid,
        lease: &Lease,
        now: Timestamp,
    ) -> RepoResult<Option<Claimed>>;
    /// Saves per-action progress while the caller still holds the lease. False if it lost it.
    async fn save_progress(&self, execution: &Execution) -> RepoResult<bool>;
    async fn renew_lease(&self, execution_id: Uuid, lease: &Lease) -> RepoResult<bool>;
    /// Records the end of an attempt (`retrying`, or terminal) while `owner` holds the lease, and
    /// sets the workflow pending or idle to match. False if the lease was lost.
    async fn finish(&self, execution: &Execution, owner: &str) -> RepoResult<bool>;
    /// Queues a `waiting` execution again (a task it waits for ended). `None` when it is not
    /// waiting (running still, woken already, or ended).
    async fn wake(&self, execution_id: Uuid, now: Timestamp) -> RepoResult<Option<Execution>>;
    /// `waiting` executions untouched since `older_than`: the repair pass looks at their tasks
    /// in case the wake that should have followed one's end was lost.
    async fn waiting(&self, older_than: Timestamp, limit: usize) -> RepoResult<Vec<Execution>>;
    /// Gives a running execution back to the queue (shutdown before it finished).
    async fn release(&self, execution_id: Uuid, owner: &str, now: Timestamp) -> RepoResult<bool>;
    /// Oldest `queued` executions first: the queue of the store-as-queue transport.
    async fn queued(&self, limit: usize) -> RepoResult<Vec<Execution>>;
    /// Moves `retrying` executions whose `nextAttemptAt` has come back to `queued` as their next
    /// attempt, setting their workflows busy.
    async fn requeue_due_retries(&self, now: Timestamp, limit: usize)
        -> RepoResult<Vec<Execution>>;
    /// Moves `running` executions whose lease expired (their runner died) back to `queued`.
    async fn rescue_expired_leases(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> RepoResult<Vec<Execution>>;
    /// `queued` executions untouched since `older_than`, marked touched at `now` so each is
    /// republished once per threshold (the outbox repair).
    async fn stale_queued(
        &self,
        older_than: Timestamp,
        now: Timestamp,
        limit: usize,
    ) -> RepoResult<Vec<Execution>>;
    /// The earliest `nextAttemptAt` of any retrying execution.
    async fn next_retry_due(&self) -> RepoResult<Option<Timestamp>>;
    /// Executions now `queued`, `running` and `retrying`, across all workflows.
    async fn live_counts(&self) -> RepoResult<LiveCounts>;
    /// Deletes ended executions (succeeded, failed, cancelled) that ended before
    /// `ended_before`, and those beyond the newest `keep_per_workflow` of their workflow (0:
    /// no count limit); at most `limit` in one call. Live executions are never touched.
    /// Returns how many were deleted.
    async fn prune_history(
        &self,
        ended_before: Option<Timestamp>,
        keep_per_workflow: usize,
        limit: usize,
    ) -> RepoResult<usize>;
    /// Mends workflows whose trigger state disagrees with their current execution, as a crash
    /// between two writes leaves them (see [`crash_points`]): a missing execution the
    /// workflow was marked busy for is written after all, and otherwise the workflow takes the
    /// state its execution implies. Only workflows whose state is older than `older_than` are
    /// looked at, so that an operation still between its writes is left alone. Returns the
    /// executions written, to be published.
    async fn repair_trigger_states(
        &self,
        older_than: Timestamp,
        limit: usize,
    ) -> RepoResult<Vec<Execution>>;
}
