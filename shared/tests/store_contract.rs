//! The repository contract (DESIGN §7): the guarantees every store must keep, written once
//! against the traits. Runs against SQLite here; another store joins by adding its constructor
//! to `stores()`.

use shared::domain::ids::periodic_execution_id;
use shared::domain::{
    decode_workflow_spec, Execution, ExecutionStatus, Lease, Reason, TriggerStatus, Workflow,
};
use shared::repo::{ExecutionRepo, SlotOutcome, TriggerOutcome, WorkflowRepo};
use shared::sqlite::SqliteStore;
use shared::time::{self, from_millis};
use std::sync::Arc;
use std::time::Duration;

struct Store {
    workflows: Arc<dyn WorkflowRepo>,
    executions: Arc<dyn ExecutionRepo>,
    _dir: tempfile::TempDir,
}

fn stores() -> Vec<(&'static str, Store)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(&dir.path().join("contract.db")).unwrap();
    vec![(
        "sqlite",
        Store {
            workflows: Arc::new(sqlite.clone()),
            executions: Arc::new(sqlite),
            _dir: dir,
        },
    )]
}

fn workflow(id: &str, interval: Option<&str>) -> Workflow {
    let trigger = match interval {
        Some(i) => format!(r#"{{"type":"periodic","interval":"{i}"}}"#),
        None => r#"{"type":"manual"}"#.to_string(),
    };
    let json = format!(
        r#"{{"workflowId":"{id}","trigger":{trigger},"actions":[{{"type":"log","message":"m"}}]}}"#
    );
    Workflow::created(
        decode_workflow_spec(json.as_bytes()).unwrap(),
        from_millis(1_000_000),
    )
}

fn manual(w: &Workflow) -> Execution {
    Execution::queued(
        uuid::Uuid::new_v4(),
        w,
        Reason::Manual,
        time::now(),
        time::now(),
    )
}

/// A manual workflow `id` with one accepted (queued) execution.
async fn accepted_manual(s: &Store, id: &str) -> Execution {
    let w = workflow(id, None);
    s.workflows.create(&w).await.unwrap();
    let e = manual(&w);
    s.executions.accept_trigger(&e).await.unwrap();
    e
}

fn lease(owner: &str, secs: i64) -> Lease {
    Lease {
        owner: owner.into(),
        expires_at: from_millis(time::now().timestamp_millis() + secs * 1000),
    }
}

#[tokio::test]
async fn one_live_execution_per_workflow() {
    for (name, s) in stores() {
        let w = workflow("w", None);
        s.workflows.create(&w).await.unwrap();
        let first = manual(&w);
        assert!(
            matches!(
                s.executions.accept_trigger(&first).await.unwrap(),
                TriggerOutcome::Accepted(_)
            ),
            "{name}"
        );
        match s.executions.accept_trigger(&manual(&w)).await.unwrap() {
            TriggerOutcome::Busy { status, current } => {
                assert_eq!(status, TriggerStatus::Busy, "{name}");
                assert_eq!(current, Some(first.execution_id), "{name}");
            }
            other => panic!("{name}: second trigger was {other:?}"),
        }
        // The same id again is the idempotent replay, not a conflict.
        assert!(
            matches!(
                s.executions.accept_trigger(&first).await.unwrap(),
                TriggerOutcome::Existing(_)
            ),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_slot_fires_once_even_with_two_schedulers() {
    for (name, s) in stores() {
        let w = workflow("p", Some("10s"));
        s.workflows.create(&w).await.unwrap();
        let due = w.next_run_at.unwrap();
        let next = time::add(due, Duration::from_secs(10));
        let e = Execution::queued(
            periodic_execution_id("p", due),
            &w,
            Reason::Periodic,
            due,
            due,
        );
        let a = s
            .executions
            .fire_slot("p", due, next, Some(&e))
            .await
            .unwrap();
        let b = s
            .executions
            .fire_slot("p", due, next, Some(&e))
            .await
            .unwrap();
        assert!(matches!(a, SlotOutcome::Fired(_)), "{name}: {a:?}");
        assert_eq!(b, SlotOutcome::Stale, "{name}");
        assert_eq!(
            s.workflows.get("p").await.unwrap().unwrap().next_run_at,
            Some(next),
            "{name}"
        );
        // The next slot comes while the first execution is still live: skipped, schedule moves on.
        let later = time::add(next, Duration::from_secs(10));
        let e2 = Execution::queued(
            periodic_execution_id("p", next),
            &w,
            Reason::Periodic,
            next,
            next,
        );
        assert_eq!(
            s.executions
                .fire_slot("p", next, later, Some(&e2))
                .await
                .unwrap(),
            SlotOutcome::SkippedBusy
        );
        assert!(
            s.executions.get(e2.execution_id).await.unwrap().is_none(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn claims_are_exclusive_and_writes_need_the_lease() {
    for (name, s) in stores() {
        let e = accepted_manual(&s, "c").await;
        let mine = s
            .executions
            .claim(e.execution_id, &lease("a", 30), time::now())
            .await
            .unwrap();
        assert!(
            s.executions
                .claim(e.execution_id, &lease("b", 30), time::now())
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );
        let mut done = mine.unwrap();
        done.status = ExecutionStatus::Succeeded;
        assert!(
            !s.executions.finish(&done, "b").await.unwrap(),
            "{name}: a non-holder finished it"
        );
        assert!(s.executions.finish(&done, "a").await.unwrap(), "{name}");
        let stored = s.workflows.get("c").await.unwrap().unwrap();
        assert_eq!(
            (stored.status, stored.current_execution_id),
            (TriggerStatus::Idle, None),
            "{name}"
        );
    }
}

#[tokio::test]
async fn expired_leases_and_due_retries_return_to_the_queue() {
    for (name, s) in stores() {
        let e = accepted_manual(&s, "r").await;
        s.executions
            .claim(e.execution_id, &lease("dead", -1), time::now())
            .await
            .unwrap()
            .unwrap();
        let rescued = s
            .executions
            .rescue_expired_leases(time::now(), 10)
            .await
            .unwrap();
        assert_eq!(rescued.len(), 1, "{name}");
        assert_eq!(
            rescued[0].actions[0].attempts, 1,
            "{name}: the interrupted start is counted"
        );
        assert_eq!(
            rescued[0].attempt, 2,
            "{name}: losing the runner ends the attempt"
        );

        let mut running = s
            .executions
            .claim(e.execution_id, &lease("b", 30), time::now())
            .await
            .unwrap()
            .unwrap();
        running.status = ExecutionStatus::Retrying;
        running.next_attempt_at = Some(time::now());
        assert!(s.executions.finish(&running, "b").await.unwrap());
        assert_eq!(
            s.workflows.get("r").await.unwrap().unwrap().status,
            TriggerStatus::Pending,
            "{name}"
        );
        assert!(
            s.executions.next_retry_due().await.unwrap().is_some(),
            "{name}"
        );
        let requeued = s
            .executions
            .requeue_due_retries(time::add(time::now(), Duration::from_millis(1)), 10)
            .await
            .unwrap();
        assert_eq!(requeued.len(), 1, "{name}");
        assert_eq!(
            (requeued[0].status, requeued[0].attempt),
            (ExecutionStatus::Queued, 3),
            "{name}"
        );
        assert_eq!(
            s.workflows.get("r").await.unwrap().unwrap().status,
            TriggerStatus::Busy,
            "{name}"
        );
    }
}

#[tokio::test]
async fn stale_queued_executions_are_republished_once_per_threshold() {
    for (name, s) in stores() {
        let w = workflow("q", None);
        s.workflows.create(&w).await.unwrap();
        s.executions.accept_trigger(&manual(&w)).await.unwrap();
        let later = time::add(time::now(), Duration::from_secs(60));
        assert_eq!(
            s.executions
                .stale_queued(later, later, 10)
                .await
                .unwrap()
                .len(),
            1,
            "{name}"
        );
        assert_eq!(
            s.executions
                .stale_queued(later, later, 10)
                .await
                .unwrap()
                .len(),
            0,
            "{name}: touched"
        );
    }
}

#[tokio::test]
async fn deleting_a_workflow_cancels_its_waiting_executions() {
    for (name, s) in stores() {
        let e = accepted_manual(&s, "d").await;
        assert!(
            s.workflows.delete("d", time::now()).await.unwrap(),
            "{name}"
        );
        let cancelled = s.executions.get(e.execution_id).await.unwrap().unwrap();
        assert_eq!(cancelled.status, ExecutionStatus::Cancelled, "{name}");
        assert!(s.executions.queued(10).await.unwrap().is_empty(), "{name}");
    }
}

#[tokio::test]
async fn an_execution_that_keeps_losing_its_runner_ends_failed() {
    for (name, s) in stores() {
        let mut w = workflow("poison", None);
        w.spec.retry.max_attempts = 2;
        s.workflows.create(&w).await.unwrap();
        let e = manual(&w);
        s.executions.accept_trigger(&e).await.unwrap();
        for _ in 0..2 {
            let claimed = s
                .executions
                .claim(e.execution_id, &lease("dies", -1), time::now())
                .await
                .unwrap();
            assert!(claimed.is_some(), "{name}");
            s.executions
                .rescue_expired_leases(time::now(), 10)
                .await
                .unwrap();
        }
        let ended = s.executions.get(e.execution_id).await.unwrap().unwrap();
        assert_eq!(ended.status, ExecutionStatus::Failed, "{name}");
        let freed = s.workflows.get("poison").await.unwrap().unwrap();
        assert_eq!(
            (freed.status, freed.current_execution_id),
            (TriggerStatus::Idle, None),
            "{name}"
        );
    }
}
