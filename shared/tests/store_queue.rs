//! The store-as-queue transport handing a runner of the same process executions that the
//! scheduler recorded already claimed for it (`Transport::reserve_run`), on a real SQLite file.

use async_trait::async_trait;
use shared::domain::ids::periodic_execution_id;
use shared::domain::{
    decode_workflow_spec, Execution, ExecutionRequest, ExecutionStatus, Lease, Reason,
    TriggerStatus, Workflow,
};
use shared::repo::{Claimed, ExecutionRepo, SlotOutcome, WorkflowRepo};
use shared::sqlite::SqliteStore;
use shared::time;
use shared::transport::store_queue::{Reservation, StoreQueue};
use shared::transport::{RequestHandler, Transport};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

const OWNER: &str = "runner-here";

/// Records what it is handed and holds its place until `release` is notified.
struct Holder {
    handed: mpsc::UnboundedSender<Claimed>,
    release: Arc<Notify>,
}

#[async_trait]
impl RequestHandler for Holder {
    async fn handle(&self, _request: ExecutionRequest) {}

    fn lease(&self) -> Option<Lease> {
        Some(Lease {
            owner: OWNER.into(),
            expires_at: time::add(time::now(), Duration::from_secs(30)),
        })
    }

    async fn handle_claimed(&self, claimed: Claimed, lease: Lease) {
        assert_eq!(claimed.execution.lease.as_ref(), Some(&lease));
        self.handed.send(claimed).unwrap();
        self.release.notified().await;
    }
}

struct Setup {
    workflows: Arc<dyn WorkflowRepo>,
    executions: Arc<dyn ExecutionRepo>,
    queue: Arc<StoreQueue>,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("queue.db")).unwrap();
    let executions: Arc<dyn ExecutionRepo> = Arc::new(store.clone());
    // Polls only once in the test: what it is handed comes by reservation.
    let queue = Arc::new(StoreQueue::new(executions.clone(), Duration::from_secs(60)));
    Setup {
        workflows: Arc::new(store),
        executions,
        queue,
        _dir: dir,
    }
}

fn periodic(id: &str) -> Workflow {
    let spec = decode_workflow_spec(&format!(
        r#"{{"workflowId":"{id}","trigger":{{"type":"periodic","interval":"10s"}},"actions":[{{"type":"log","message":"m"}}]}}"#
    ).into_bytes())
    .unwrap();
    let now = time::now();
    Workflow {
        spec,
        status: TriggerStatus::Idle,
        current_execution_id: None,
        next_run_at: Some(time::add(now, Duration::from_secs(10))),
        paused: false,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

/// Fires the workflow's first slot claimed under `reserved`'s lease; the execution recorded.
async fn fire_claimed(s: &Setup, id: &str, reserved: &Reservation) -> Execution {
    let w = periodic(id);
    s.workflows.create(&w).await.unwrap();
    let due = w.next_run_at.unwrap();
    let e = Execution::queued(
        periodic_execution_id(id, due),
        &w,
        Reason::Periodic,
        due,
        time::now(),
    );
    let next = time::add(due, Duration::from_secs(10));
    match s
        .executions
        .fire_slot(id, due, next, Some(&e), Some(reserved.lease()))
        .await
        .unwrap()
    {
        SlotOutcome::Fired(e) => *e,
        other => panic!("{other:?}"),
    }
}

/// A `Holder` consuming the test's queue with `places` places, until stopped.
struct Runner {
    handed: mpsc::UnboundedReceiver<Claimed>,
    release: Arc<Notify>,
    shutdown: CancellationToken,
    consuming: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Runner {
    fn start(s: &Setup, places: usize) -> Self {
        let (handed, received) = mpsc::unbounded_channel();
        let release = Arc::new(Notify::new());
        let holder = Arc::new(Holder {
            handed,
            release: release.clone(),
        });
        let shutdown = CancellationToken::new();
        let queue = s.queue.clone();
        let stop = shutdown.clone();
        let consuming = tokio::spawn(async move { queue.consume(holder, places, stop).await });
        Self {
            handed: received,
            release,
            shutdown,
            consuming,
        }
    }

    async fn stop(&mut self) {
        self.shutdown.cancel();
        (&mut self.consuming).await.unwrap().unwrap();
    }
}

/// Waits until the consumer started by the test takes reservations.
async fn reserve_when_consuming(queue: &StoreQueue) -> Reservation {
    for _ in 0..500 {
        if let Some(reserved) = queue.reserve_run() {
            return reserved;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("the consumer never took a reservation")
}

#[tokio::test]
async fn a_reserved_place_gets_the_execution_recorded_claimed_for_it() {
    let s = setup().await;
    assert!(s.queue.reserve_run().is_none(), "no runner consumes yet");
    let mut runner = Runner::start(&s, 1);

    let reserved = reserve_when_consuming(&s.queue).await;
    assert!(s.queue.reserve_run().is_none(), "its one place is reserved");
    let fired = fire_claimed(&s, "w", &reserved).await;
    assert_eq!(fired.status, ExecutionStatus::Running);
    reserved.deliver(fired_claimed(&fired)).await;
    let claimed = runner.handed.recv().await.unwrap();
    assert_eq!(claimed.execution, fired);
    assert_eq!(claimed.workflow.unwrap().id(), "w");
    assert!(s.queue.reserve_run().is_none(), "its one place runs it");

    runner.release.notify_one();
    let again = reserve_when_consuming(&s.queue).await;
    drop(again);
    runner.stop().await;
    assert!(s.queue.reserve_run().is_none(), "stopped");
}

#[tokio::test]
async fn an_execution_claimed_for_a_runner_that_stopped_goes_back_to_the_queue() {
    let s = setup().await;
    let mut runner = Runner::start(&s, 4);
    let reserved = reserve_when_consuming(&s.queue).await;
    runner.stop().await;

    let fired = fire_claimed(&s, "w", &reserved).await;
    reserved.deliver(fired_claimed(&fired)).await;
    assert!(
        runner.handed.try_recv().is_err(),
        "the stopped runner got nothing"
    );
    let stored = s.executions.get(fired.execution_id).await.unwrap().unwrap();
    assert_eq!(stored.status, ExecutionStatus::Queued, "{stored:?}");
    assert_eq!(stored.lease, None);
    let queued = s.executions.queued(10).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].execution_id, fired.execution_id);
}

fn fired_claimed(e: &Execution) -> Claimed {
    Claimed {
        execution: e.clone(),
        workflow: Some(periodic(&e.workflow_id)),
    }
}
