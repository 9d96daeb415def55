//! The repository contract (DESIGN §7): the guarantees every store must keep, written once
//! against the traits, one test per trait method, each on a fresh database. A store joins by
//! adding a constructor to `contract!` below. MongoDB runs on the server `MONGODB_URI` names
//! (`scripts/test` starts the nx-27017 stand-in; a real `mongod` when you set it).

use shared::domain::ids::periodic_execution_id;
use shared::domain::task::{task_id, Task, TaskStatus};
use shared::domain::{
    decode_workflow_spec, Execution, ExecutionStatus, Lease, Reason, Service, TriggerStatus,
    Workflow,
};
use shared::mongo::MongoStore;
use shared::repo::{
    crash_points, ExecutionQuery, ExecutionRepo, Failpoints, LiveCounts, Page, RepoError,
    ServiceRepo, SlotOutcome, TaskRepo, TriggerOutcome, WorkflowQuery, WorkflowRepo,
};
use shared::sqlite::SqliteStore;
use shared::time::{self, from_millis, Timestamp};
use std::sync::Arc;
use std::time::Duration;

pub struct Store {
    workflows: Arc<dyn WorkflowRepo>,
    executions: Arc<dyn ExecutionRepo>,
    services: Arc<dyn ServiceRepo>,
    tasks: Arc<dyn TaskRepo>,
    failpoints: Failpoints,
    /// Whether every operation is one transaction (a failpoint then rolls it back whole).
    atomic: bool,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite() -> Option<Store> {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("contract.db")).unwrap();
    Some(Store {
        failpoints: store.failpoints().clone(),
        workflows: Arc::new(store.clone()),
        executions: Arc::new(store.clone()),
        services: Arc::new(store.clone()),
        tasks: Arc::new(store),
        atomic: true,
        _dir: Some(dir),
    })
}

async fn mongodb() -> Option<Store> {
    let url = shared::mongo::test_database_url("store contract")?;
    let store = MongoStore::connect(&url).await.unwrap();
    Some(Store {
        failpoints: store.failpoints().clone(),
        workflows: Arc::new(store.clone()),
        executions: Arc::new(store.clone()),
        services: Arc::new(store.clone()),
        tasks: Arc::new(store),
        atomic: false,
        _dir: None,
    })
}

/// Runs each named `async fn(Store)` once per store, each on a database of its own.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::sqlite().await.unwrap()).await
                }
            )*
        }
        mod on_mongodb {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(store) = super::mongodb().await {
                        super::$name(store).await
                    }
                }
            )*
        }
    };
}

contract!(
    create_refuses_a_duplicate_id,
    get_answers_none_for_an_unknown_id,
    list_pages_by_cursor_and_filters,
    list_pages_by_bytes_as_well_as_by_count,
    list_finds_ids_containing_a_text_whatever_its_case,
    update_checks_the_version_and_keeps_the_trigger_state,
    delete_cancels_waiting_executions_and_keeps_history,
    due_periodic_returns_due_workflows_earliest_first,
    next_periodic_due_is_the_earliest_slot,
    an_idle_workflows_slot_is_due_its_lead_early_and_a_busy_ones_at_its_time,
    set_paused_stops_triggers_and_slots_until_resumed,
    accept_trigger_counts_only_admitted_triggers_against_the_rate_limit,
    ping_answers,
    accept_trigger_allows_one_live_execution_per_workflow,
    fire_slot_fires_once_even_with_two_schedulers,
    fire_slot_advances_without_an_execution,
    fire_slot_records_the_execution_claimed_for_a_runner_here,
    accept_trigger_records_the_execution_claimed_for_a_runner_here,
    get_returns_the_recorded_execution,
    list_for_workflow_pages_newest_first,
    claim_is_exclusive,
    save_progress_needs_the_lease_and_keeps_its_renewal,
    renew_lease_fails_once_the_lease_is_lost,
    finish_sets_the_workflow_pending_or_idle,
    release_gives_the_execution_back_to_the_queue,
    queued_lists_oldest_first,
    requeue_due_retries_starts_the_next_attempt,
    rescue_expired_leases_requeues_and_counts_the_attempt,
    an_execution_that_keeps_losing_its_runner_ends_failed,
    stale_queued_republishes_once_per_threshold,
    next_retry_due_is_the_earliest_retry,
    live_counts_count_waiting_running_and_retrying,
    prune_history_deletes_only_ended_executions_past_retention,
    prune_history_looks_past_crowded_workflows_with_nothing_to_delete,
    a_crash_between_the_workflow_and_a_new_execution_is_mended,
    a_crash_between_a_slot_and_its_execution_loses_no_slot,
    a_crash_before_the_trigger_state_follows_a_finish_is_mended,
    a_crash_before_the_trigger_state_follows_a_retry_is_mended,
    a_crash_before_the_trigger_state_follows_a_rescue_is_mended,
    a_crash_between_delete_and_cancel_is_mended,
    buffer_one_keeps_one_behind_and_queues_it_as_the_current_ends,
    a_crash_while_buffering_is_mended,
    a_crash_while_the_buffered_execution_takes_over_is_mended,
    service_create_refuses_a_duplicate_name_and_get_reads_it_back,
    service_list_pages_by_name,
    service_update_checks_the_version,
    service_delete_is_refused_while_a_workflow_calls_it,
    task_enqueue_keeps_the_first_and_writes_check_the_revision,
    task_ready_lists_a_queues_available_tasks_oldest_first,
    task_lapsed_and_ended_are_found,
    tasks_on_the_bus_are_due_for_publication_while_queued,
    wake_queues_only_a_waiting_execution,
);

// ---- fixtures -------------------------------------------------------------------------

/// Slots due at their time only, as the tests before the lead read them.
const NO_LEAD: Duration = Duration::ZERO;

fn workflow(id: &str, interval: Option<&str>) -> Workflow {
    let trigger = match interval {
        Some(i) => format!(r#"{{"type":"periodic","interval":"{i}"}}"#),
        None => r#"{"type":"manual"}"#.to_string(),
    };
    workflow_triggered(id, &trigger)
}

/// A workflow whose trigger keeps one execution buffered behind a busy one.
fn buffering(id: &str, interval: Option<&str>) -> Workflow {
    let trigger = match interval {
        Some(i) => format!(r#"{{"type":"periodic","interval":"{i}","overlap":"bufferOne"}}"#),
        None => r#"{"type":"manual","overlap":"bufferOne"}"#.to_string(),
    };
    workflow_triggered(id, &trigger)
}

fn workflow_triggered(id: &str, trigger: &str) -> Workflow {
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

fn slot_execution(w: &Workflow, due: Timestamp) -> Execution {
    Execution::queued(
        periodic_execution_id(w.id(), due),
        w,
        Reason::Periodic,
        due,
        due,
    )
}

/// A manual workflow `id` with one accepted (queued) execution.
async fn accepted_manual(s: &Store, id: &str) -> Execution {
    let w = workflow(id, None);
    s.workflows.create(&w).await.unwrap();
    let e = manual(&w);
    accept(s, &e).await;
    e
}

async fn accept(s: &Store, e: &Execution) {
    let outcome = s.executions.accept_trigger(e, None, None).await.unwrap();
    assert!(
        matches!(outcome, TriggerOutcome::Accepted(_)),
        "{outcome:?}"
    );
}

/// A trigger of a busy workflow that waits as its buffered execution.
async fn accept_buffered(s: &Store, e: &Execution) {
    let outcome = s.executions.accept_trigger(e, None, None).await.unwrap();
    assert!(
        matches!(outcome, TriggerOutcome::Buffered(_)),
        "{outcome:?}"
    );
}

fn lease(owner: &str, secs: i64) -> Lease {
    Lease {
        owner: owner.into(),
        expires_at: from_millis(time::now().timestamp_millis() + secs * 1000),
    }
}

async fn claimed(s: &Store, e: &Execution, owner: &str, secs: i64) -> Execution {
    s.executions
        .claim(e.execution_id, &lease(owner, secs), time::now())
        .await
        .unwrap()
        .expect("claimable")
        .execution
}

async fn trigger_of(s: &Store, id: &str) -> (TriggerStatus, Option<uuid::Uuid>) {
    let w = s.workflows.get(id).await.unwrap().unwrap();
    (w.status, w.current_execution_id)
}

async fn status_of(s: &Store, e: &Execution) -> ExecutionStatus {
    s.executions
        .get(e.execution_id)
        .await
        .unwrap()
        .unwrap()
        .status
}

fn later(secs: u64) -> Timestamp {
    time::add(time::now(), Duration::from_secs(secs))
}

// ---- WorkflowRepo ---------------------------------------------------------------------

async fn create_refuses_a_duplicate_id(s: Store) {
    let w = workflow("dup", None);
    s.workflows.create(&w).await.unwrap();
    assert_eq!(
        s.workflows.create(&w).await,
        Err(RepoError::AlreadyExists("dup".into()))
    );
}

async fn get_answers_none_for_an_unknown_id(s: Store) {
    let w = workflow("known", Some("10s"));
    s.workflows.create(&w).await.unwrap();
    assert_eq!(s.workflows.get("known").await.unwrap(), Some(w));
    assert_eq!(s.workflows.get("unknown").await.unwrap(), None);
}

async fn list_pages_by_cursor_and_filters(s: Store) {
    for id in ["a", "b", "c", "d", "e"] {
        let interval = (id != "c").then_some("1m");
        s.workflows.create(&workflow(id, interval)).await.unwrap();
    }
    accept(&s, &manual(&workflow("c", None))).await;
    let mut query = WorkflowQuery {
        limit: 2,
        ..Default::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = s.workflows.list(&query).await.unwrap();
        seen.extend(page.items.iter().map(|w| w.id().to_string()));
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    assert_eq!(seen, ["a", "b", "c", "d", "e"]);
    let manual_only = s
        .workflows
        .list(&WorkflowQuery {
            trigger_type: Some("manual".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(manual_only.items.len(), 1);
    assert_eq!(manual_only.items[0].id(), "c");
    let busy = s
        .workflows
        .list(&WorkflowQuery {
            status: Some(TriggerStatus::Busy),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(busy.items.iter().map(|w| w.id()).collect::<Vec<_>>(), ["c"]);
}

async fn list_finds_ids_containing_a_text_whatever_its_case(s: Store) {
    for id in [
        "Billing.sync",
        "nightly-billing",
        "orders",
        "bill",
        "a.b",
        "axb",
    ] {
        s.workflows.create(&workflow(id, None)).await.unwrap();
    }
    let ids = |page: Page<Workflow>| {
        page.items
            .iter()
            .map(|w| w.id().to_string())
            .collect::<Vec<_>>()
    };
    let mut query = WorkflowQuery {
        id_contains: Some("BILLING".into()),
        limit: 1,
        ..Default::default()
    };
    let first = s.workflows.list(&query).await.unwrap();
    query.cursor = first.next_cursor.clone();
    assert_eq!(ids(first), ["Billing.sync"]);
    assert_eq!(
        ids(s.workflows.list(&query).await.unwrap()),
        ["nightly-billing"]
    );
    // The text is matched as it is: a dot is no pattern.
    let literal = WorkflowQuery {
        id_contains: Some(".B".into()),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(ids(s.workflows.list(&literal).await.unwrap()), ["a.b"]);
}

async fn list_pages_by_bytes_as_well_as_by_count(s: Store) {
    // Four definitions of 0.9 MB: two fit in a page's bytes, three do not.
    let body = "x".repeat(900_000);
    for id in ["l1", "l2", "l3", "l4"] {
        let json = format!(
            r#"{{"workflowId":"{id}","trigger":{{"type":"manual"}},"actions":[{{"type":"http-request","url":"http://127.0.0.1:9/","body":"{body}"}}]}}"#
        );
        let w = Workflow::created(decode_workflow_spec(json.as_bytes()).unwrap(), time::now());
        s.workflows.create(&w).await.unwrap();
    }
    let mut query = WorkflowQuery {
        limit: 500,
        ..Default::default()
    };
    let mut pages = Vec::new();
    loop {
        let page = s.workflows.list(&query).await.unwrap();
        pages.push(
            page.items
                .iter()
                .map(|w| w.id().to_string())
                .collect::<Vec<_>>(),
        );
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    assert_eq!(pages, [["l1", "l2"], ["l3", "l4"]]);
}

async fn update_checks_the_version_and_keeps_the_trigger_state(s: Store) {
    let e = accepted_manual(&s, "u").await;
    let mut w = s.workflows.get("u").await.unwrap().unwrap();
    w.version = 2;
    w.spec.retry.max_attempts = 7;
    assert_eq!(
        s.workflows.update(&w, 5).await,
        Err(RepoError::VersionConflict { current: 1 })
    );
    s.workflows.update(&w, 1).await.unwrap();
    let stored = s.workflows.get("u").await.unwrap().unwrap();
    assert_eq!((stored.version, stored.spec.retry.max_attempts), (2, 7));
    assert_eq!(
        (stored.status, stored.current_execution_id),
        (TriggerStatus::Busy, Some(e.execution_id)),
        "the runner's state is not the editor's"
    );
    let mut missing = workflow("missing", None);
    missing.version = 2;
    assert_eq!(
        s.workflows.update(&missing, 1).await,
        Err(RepoError::NotFound)
    );
}

async fn delete_cancels_waiting_executions_and_keeps_history(s: Store) {
    // A claim first, as in a runner's process: a store may then keep what it queues at hand.
    let first = lease("a", 30);
    let nothing = s
        .executions
        .claim(uuid::Uuid::new_v4(), &first, time::now());
    assert_eq!(nothing.await.unwrap(), None);
    let e = accepted_manual(&s, "d").await;
    assert!(s.workflows.delete("d", time::now()).await.unwrap());
    assert!(!s.workflows.delete("d", time::now()).await.unwrap());
    assert_eq!(s.workflows.get("d").await.unwrap(), None);
    let cancelled = s.executions.get(e.execution_id).await.unwrap().unwrap();
    assert_eq!(cancelled.status, ExecutionStatus::Cancelled);
    assert!(s.executions.queued(10).await.unwrap().is_empty());
    // Its claim finds it cancelled, however the store came to know it as queued.
    let claim = s
        .executions
        .claim(e.execution_id, &lease("a", 30), time::now())
        .await
        .unwrap();
    assert_eq!(claim, None);
    assert_eq!(status_of(&s, &e).await, ExecutionStatus::Cancelled);

    // A running one ends too, and its runner's next write is refused.
    let running = accepted_manual(&s, "r").await;
    let mut mine = claimed(&s, &running, "a", 30).await;
    assert!(s.workflows.delete("r", time::now()).await.unwrap());
    assert_eq!(status_of(&s, &running).await, ExecutionStatus::Cancelled);
    assert!(!s.executions.save_progress(&mine).await.unwrap());
    mine.status = ExecutionStatus::Succeeded;
    assert!(!s.executions.finish(&mine, "a").await.unwrap());
    assert_eq!(status_of(&s, &running).await, ExecutionStatus::Cancelled);
}

async fn due_periodic_returns_due_workflows_earliest_first(s: Store) {
    let soon = workflow("soon", Some("1s"));
    let later_one = workflow("later", Some("5s"));
    let far = workflow("far", Some("1h"));
    for w in [&far, &later_one, &soon] {
        s.workflows.create(w).await.unwrap();
    }
    s.workflows.create(&workflow("manual", None)).await.unwrap();
    let at = time::add(later_one.next_run_at.unwrap(), Duration::from_millis(1));
    let due = s.workflows.due_periodic(at, NO_LEAD, 10).await.unwrap();
    assert_eq!(
        due.iter().map(|w| w.id()).collect::<Vec<_>>(),
        ["soon", "later"]
    );
    assert_eq!(
        s.workflows
            .due_periodic(at, NO_LEAD, 1)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn next_periodic_due_is_the_earliest_slot(s: Store) {
    assert_eq!(s.workflows.next_periodic_due(NO_LEAD).await.unwrap(), None);
    let soon = workflow("soon", Some("2s"));
    s.workflows
        .create(&workflow("far", Some("1h")))
        .await
        .unwrap();
    s.workflows.create(&soon).await.unwrap();
    assert_eq!(
        s.workflows.next_periodic_due(NO_LEAD).await.unwrap(),
        soon.next_run_at
    );
}

async fn an_idle_workflows_slot_is_due_its_lead_early_and_a_busy_ones_at_its_time(s: Store) {
    let lead = Duration::from_millis(100);
    let idle = workflow("idle", Some("2s"));
    let busy = workflow("busy", Some("2s"));
    for w in [&idle, &busy] {
        s.workflows.create(w).await.unwrap();
    }
    accept(&s, &manual(&busy)).await;
    let due = idle.next_run_at.unwrap();
    assert_eq!(busy.next_run_at, Some(due));
    let due_at = |at: Timestamp| {
        let workflows = s.workflows.clone();
        async move {
            let mut ids: Vec<String> = (workflows.due_periodic(at, lead, 10).await.unwrap())
                .iter()
                .map(|w| w.id().to_string())
                .collect();
            ids.sort();
            ids
        }
    };
    let ms = Duration::from_millis;
    assert!(due_at(time::sub(due, ms(101))).await.is_empty());
    assert_eq!(due_at(time::sub(due, lead)).await, ["idle"]);
    assert_eq!(due_at(time::sub(due, ms(1))).await, ["idle"]);
    assert_eq!(due_at(due).await, ["busy", "idle"]);
    assert_eq!(
        s.workflows.next_periodic_due(lead).await.unwrap(),
        Some(time::sub(due, lead))
    );
    // A slot taken early from a workflow found busy when it is written waits for its time.
    let early = Execution::queued(
        periodic_execution_id("busy", due),
        &busy,
        Reason::Periodic,
        due,
        time::sub(due, ms(50)),
    );
    let next = time::add(due, Duration::from_secs(2));
    assert_eq!(
        s.executions
            .fire_slot("busy", due, next, Some(&early), None)
            .await
            .unwrap(),
        SlotOutcome::Stale
    );
    assert_eq!(due_at(due).await, ["busy", "idle"]);
    // With the idle one paused, the busy one's slot is the first moment there is work.
    s.workflows.set_paused("idle", true).await.unwrap();
    assert_eq!(
        s.workflows.next_periodic_due(lead).await.unwrap(),
        Some(due)
    );
    assert!(due_at(time::sub(due, ms(1))).await.is_empty());
}

async fn set_paused_stops_triggers_and_slots_until_resumed(s: Store) {
    let m = workflow("m", None);
    let p = workflow("p", Some("1s"));
    s.workflows.create(&m).await.unwrap();
    s.workflows.create(&p).await.unwrap();
    assert!(
        s.workflows
            .set_paused("m", true)
            .await
            .unwrap()
            .unwrap()
            .paused
    );
    assert!(s.workflows.set_paused("p", true).await.unwrap().is_some());
    assert_eq!(s.workflows.set_paused("nobody", true).await.unwrap(), None);
    assert_eq!(
        s.executions
            .accept_trigger(&manual(&m), None, None)
            .await
            .unwrap(),
        TriggerOutcome::Paused
    );
    let due = p.next_run_at.unwrap();
    let later_on = time::add(due, Duration::from_secs(10));
    assert!(s
        .workflows
        .due_periodic(later_on, NO_LEAD, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(s.workflows.next_periodic_due(NO_LEAD).await.unwrap(), None);
    let next = time::add(due, Duration::from_secs(1));
    assert_eq!(
        s.executions
            .fire_slot("p", due, next, Some(&slot_execution(&p, due)), None)
            .await
            .unwrap(),
        SlotOutcome::Stale
    );
    let paused = s
        .workflows
        .list(&WorkflowQuery {
            paused: Some(true),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(paused.items.len(), 2);

    s.workflows.set_paused("m", false).await.unwrap();
    s.workflows.set_paused("p", false).await.unwrap();
    accept(&s, &manual(&m)).await;
    let due_again = s
        .workflows
        .due_periodic(later_on, NO_LEAD, 10)
        .await
        .unwrap();
    assert_eq!(due_again.len(), 1);
    assert_eq!(
        due_again[0].next_run_at,
        Some(due),
        "the missed slot waits for catch-up"
    );
}

async fn ping_answers(s: Store) {
    s.workflows.ping().await.unwrap();
}

// ---- ExecutionRepo --------------------------------------------------------------------

async fn accept_trigger_allows_one_live_execution_per_workflow(s: Store) {
    let w = workflow("w", None);
    s.workflows.create(&w).await.unwrap();
    let first = manual(&w);
    accept(&s, &first).await;
    assert_eq!(
        trigger_of(&s, "w").await,
        (TriggerStatus::Busy, Some(first.execution_id))
    );
    match s
        .executions
        .accept_trigger(&manual(&w), None, None)
        .await
        .unwrap()
    {
        TriggerOutcome::Busy { status, current } => {
            assert_eq!(status, TriggerStatus::Busy);
            assert_eq!(current, Some(first.execution_id));
        }
        other => panic!("second trigger was {other:?}"),
    }
    // The same id again is the idempotent replay, not a conflict.
    assert!(matches!(
        s.executions
            .accept_trigger(&first, None, None)
            .await
            .unwrap(),
        TriggerOutcome::Existing(_)
    ));
    assert_eq!(
        s.executions
            .accept_trigger(&manual(&workflow("nobody", None)), None, None)
            .await
            .unwrap(),
        TriggerOutcome::WorkflowNotFound
    );
}

async fn accept_trigger_counts_only_admitted_triggers_against_the_rate_limit(s: Store) {
    let limit = shared::domain::RateLimit::parse("2/1h").unwrap();
    let w = workflow("limited", None);
    s.workflows.create(&w).await.unwrap();
    for _ in 0..2 {
        let e = manual(&w);
        let outcome = s
            .executions
            .accept_trigger(&e, Some(&limit), None)
            .await
            .unwrap();
        assert!(
            matches!(outcome, TriggerOutcome::Accepted(_)),
            "{outcome:?}"
        );
        // A trigger refused as busy is not counted.
        let busy = s
            .executions
            .accept_trigger(&manual(&w), Some(&limit), None)
            .await
            .unwrap();
        assert!(matches!(busy, TriggerOutcome::Busy { .. }), "{busy:?}");
        let mut done = claimed(&s, &e, "r", 30).await;
        done.status = ExecutionStatus::Succeeded;
        assert!(s.executions.finish(&done, "r").await.unwrap());
    }
    let third = manual(&w);
    match s
        .executions
        .accept_trigger(&third, Some(&limit), None)
        .await
        .unwrap()
    {
        TriggerOutcome::RateLimited {
            max, retry_after, ..
        } => {
            assert_eq!(max, 2);
            assert!(retry_after > Duration::from_secs(3500), "{retry_after:?}");
        }
        other => panic!("third trigger was {other:?}"),
    }
    assert!(s
        .executions
        .get(third.execution_id)
        .await
        .unwrap()
        .is_none());
    assert_eq!(trigger_of(&s, "limited").await, (TriggerStatus::Idle, None));
    // Another workflow has a window of its own.
    let other = workflow("other", None);
    s.workflows.create(&other).await.unwrap();
    let outcome = s
        .executions
        .accept_trigger(&manual(&other), Some(&limit), None)
        .await
        .unwrap();
    assert!(
        matches!(outcome, TriggerOutcome::Accepted(_)),
        "{outcome:?}"
    );
}

async fn fire_slot_fires_once_even_with_two_schedulers(s: Store) {
    let w = workflow("p", Some("10s"));
    s.workflows.create(&w).await.unwrap();
    let due = w.next_run_at.unwrap();
    let next = time::add(due, Duration::from_secs(10));
    let e = slot_execution(&w, due);
    let a = s
        .executions
        .fire_slot("p", due, next, Some(&e), None)
        .await
        .unwrap();
    let b = s
        .executions
        .fire_slot("p", due, next, Some(&e), None)
        .await
        .unwrap();
    assert!(matches!(a, SlotOutcome::Fired(_)), "{a:?}");
    assert_eq!(b, SlotOutcome::Stale);
    assert_eq!(
        s.workflows.get("p").await.unwrap().unwrap().next_run_at,
        Some(next)
    );
    // The next slot comes while the first execution is still live: skipped, schedule moves on.
    let after = time::add(next, Duration::from_secs(10));
    let e2 = slot_execution(&w, next);
    assert_eq!(
        s.executions
            .fire_slot("p", next, after, Some(&e2), None)
            .await
            .unwrap(),
        SlotOutcome::SkippedBusy
    );
    assert!(s.executions.get(e2.execution_id).await.unwrap().is_none());
    assert_eq!(
        s.workflows.get("p").await.unwrap().unwrap().next_run_at,
        Some(after)
    );
}

async fn fire_slot_advances_without_an_execution(s: Store) {
    let w = workflow("p", Some("10s"));
    s.workflows.create(&w).await.unwrap();
    let due = w.next_run_at.unwrap();
    let next = time::add(due, Duration::from_secs(10));
    assert_eq!(
        s.executions
            .fire_slot("p", due, next, None, None)
            .await
            .unwrap(),
        SlotOutcome::Advanced
    );
    assert_eq!(
        s.executions
            .fire_slot("p", due, next, None, None)
            .await
            .unwrap(),
        SlotOutcome::Stale
    );
    assert_eq!(trigger_of(&s, "p").await, (TriggerStatus::Idle, None));
    assert_eq!(
        s.executions
            .fire_slot("gone", due, next, None, None)
            .await
            .unwrap(),
        SlotOutcome::Stale
    );
}

async fn fire_slot_records_the_execution_claimed_for_a_runner_here(s: Store) {
    let w = workflow("p", Some("10s"));
    s.workflows.create(&w).await.unwrap();
    let due = w.next_run_at.unwrap();
    let next = time::add(due, Duration::from_secs(10));
    let held = lease("runner-here", 30);
    let e = slot_execution(&w, due);
    let fired = s
        .executions
        .fire_slot("p", due, next, Some(&e), Some(&held))
        .await
        .unwrap();
    let SlotOutcome::Fired(fired) = fired else {
        panic!("{fired:?}")
    };
    runs_claimed_by_its_runner(&s, &fired, &held).await;

    // Edited after the scheduler read it: the claim would run the old definition, so the slot
    // is recorded queued, for a claim that reads the new one.
    edit_once(&s, "p").await;
    let after = time::add(next, Duration::from_secs(10));
    let e = slot_execution(&w, next);
    let fired = s
        .executions
        .fire_slot("p", next, after, Some(&e), Some(&held))
        .await
        .unwrap();
    assert_eq!(fired, SlotOutcome::Fired(Box::new(e.clone())));
    assert_eq!(s.executions.get(e.execution_id).await.unwrap(), Some(e));
}

async fn accept_trigger_records_the_execution_claimed_for_a_runner_here(s: Store) {
    let w = workflow("m", None);
    s.workflows.create(&w).await.unwrap();
    let held = lease("runner-here", 30);
    let outcome = s
        .executions
        .accept_trigger(&manual(&w), None, Some(&held))
        .await
        .unwrap();
    let TriggerOutcome::Accepted(accepted) = outcome else {
        panic!("{outcome:?}")
    };
    runs_claimed_by_its_runner(&s, &accepted, &held).await;

    edit_once(&s, "m").await;
    let e = manual(&w);
    assert_eq!(
        s.executions
            .accept_trigger(&e, None, Some(&held))
            .await
            .unwrap(),
        TriggerOutcome::Accepted(e.clone()),
        "recorded queued: the claim would run the definition before the edit"
    );
}

/// Edits workflow `id` once, to version 2, as `PUT /workflows/{id}` would.
async fn edit_once(s: &Store, id: &str) {
    let mut edited = s.workflows.get(id).await.unwrap().unwrap();
    edited.version = 2;
    edited.spec.retry.max_attempts = 7;
    s.workflows.update(&edited, 1).await.unwrap();
}

/// `e`, just recorded claimed under `held`, is running, held, and its workflow busy with it;
/// no other runner can take it, nothing waits in the queue, and its runner ends it as it would
/// one it claimed.
async fn runs_claimed_by_its_runner(s: &Store, e: &Execution, held: &Lease) {
    assert_eq!(e.status, ExecutionStatus::Running);
    assert_eq!(e.lease.as_ref(), Some(held));
    assert_eq!(
        s.executions.get(e.execution_id).await.unwrap().as_ref(),
        Some(e)
    );
    let id = &e.workflow_id;
    assert_eq!(
        trigger_of(s, id).await,
        (TriggerStatus::Busy, Some(e.execution_id))
    );
    assert!(s
        .executions
        .claim(e.execution_id, &lease("runner-elsewhere", 30), time::now())
        .await
        .unwrap()
        .is_none());
    assert!(s.executions.queued(10).await.unwrap().is_empty());
    let mut done = e.clone();
    done.status = ExecutionStatus::Succeeded;
    done.finished_at = Some(time::now());
    assert!(s.executions.finish(&done, &held.owner).await.unwrap());
    assert_eq!(trigger_of(s, id).await, (TriggerStatus::Idle, None));
}

async fn get_returns_the_recorded_execution(s: Store) {
    let e = accepted_manual(&s, "g").await;
    assert_eq!(s.executions.get(e.execution_id).await.unwrap(), Some(e));
    assert_eq!(s.executions.get(uuid::Uuid::new_v4()).await.unwrap(), None);
}

async fn list_for_workflow_pages_newest_first(s: Store) {
    let w = workflow("h", None);
    s.workflows.create(&w).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut e = manual(&w);
        e.created_at = from_millis(2_000_000 + i / 2); // two pairs share a millisecond
        accept(&s, &e).await;
        let mut done = claimed(&s, &e, "a", 30).await;
        done.status = if i % 2 == 0 {
            ExecutionStatus::Succeeded
        } else {
            ExecutionStatus::Failed
        };
        assert!(s.executions.finish(&done, "a").await.unwrap());
        ids.push(e.execution_id);
    }
    let mut query = ExecutionQuery {
        limit: 2,
        ..Default::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = s.executions.list_for_workflow("h", &query).await.unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(page.items.iter().map(|e| (e.created_at, e.execution_id)));
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    let mut expected = seen.clone();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, expected, "newest first, ties by id");
    assert_eq!(seen.len(), 5);
    let failed = s
        .executions
        .list_for_workflow(
            "h",
            &ExecutionQuery {
                status: Some(ExecutionStatus::Failed),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(failed.items.len(), 2);
    let bad = ExecutionQuery {
        cursor: Some("not-a-cursor".into()),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        s.executions.list_for_workflow("h", &bad).await.err(),
        Some(RepoError::InvalidCursor)
    );
}

async fn claim_is_exclusive(s: Store) {
    let e = accepted_manual(&s, "c").await;
    let (lease_a, lease_b) = (lease("a", 30), lease("b", 30));
    let (a, b) = tokio::join!(
        s.executions.claim(e.execution_id, &lease_a, time::now()),
        s.executions.claim(e.execution_id, &lease_b, time::now()),
    );
    let granted = [a.unwrap(), b.unwrap()];
    assert_eq!(granted.iter().filter(|c| c.is_some()).count(), 1);
    let claimed = granted.into_iter().flatten().next().unwrap();
    // With the workflow to run, as stored.
    assert_eq!(claimed.workflow, s.workflows.get("c").await.unwrap());
    let running = claimed.execution;
    assert_eq!(running.status, ExecutionStatus::Running);
    assert!(running.started_at.is_some());
    assert_eq!(status_of(&s, &e).await, ExecutionStatus::Running);
    assert!(s
        .executions
        .claim(uuid::Uuid::new_v4(), &lease("a", 30), time::now())
        .await
        .unwrap()
        .is_none());
}

async fn save_progress_needs_the_lease_and_keeps_its_renewal(s: Store) {
    let e = accepted_manual(&s, "sp").await;
    let mut mine = claimed(&s, &e, "a", 30).await;
    let renewed = lease("a", 60);
    assert!(s
        .executions
        .renew_lease(e.execution_id, &renewed)
        .await
        .unwrap());
    mine.actions[0].attempts = 1;
    assert!(s.executions.save_progress(&mine).await.unwrap());
    let stored = s.executions.get(e.execution_id).await.unwrap().unwrap();
    assert_eq!(stored.actions[0].attempts, 1);
    assert_eq!(stored.lease, Some(renewed), "the renewal is not undone");
    let mut stranger = mine.clone();
    stranger.lease = Some(lease("b", 30));
    assert!(!s.executions.save_progress(&stranger).await.unwrap());
}

async fn renew_lease_fails_once_the_lease_is_lost(s: Store) {
    let e = accepted_manual(&s, "rl").await;
    claimed(&s, &e, "a", -1).await;
    assert!(!s
        .executions
        .renew_lease(e.execution_id, &lease("b", 30))
        .await
        .unwrap());
    s.executions
        .rescue_expired_leases(time::now(), 10)
        .await
        .unwrap();
    assert!(!s
        .executions
        .renew_lease(e.execution_id, &lease("a", 30))
        .await
        .unwrap());
}

async fn finish_sets_the_workflow_pending_or_idle(s: Store) {
    let e = accepted_manual(&s, "f").await;
    let mut attempt = claimed(&s, &e, "a", 30).await;
    attempt.status = ExecutionStatus::Retrying;
    attempt.next_attempt_at = Some(later(60));
    assert!(!s.executions.finish(&attempt, "b").await.unwrap());
    assert!(s.executions.finish(&attempt, "a").await.unwrap());
    assert_eq!(
        trigger_of(&s, "f").await,
        (TriggerStatus::Pending, Some(e.execution_id))
    );
    let stored = s.executions.get(e.execution_id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.lease),
        (ExecutionStatus::Retrying, None)
    );

    let e = accepted_manual(&s, "g").await;
    let mut done = claimed(&s, &e, "a", 30).await;
    done.status = ExecutionStatus::Succeeded;
    assert!(s.executions.finish(&done, "a").await.unwrap());
    assert_eq!(trigger_of(&s, "g").await, (TriggerStatus::Idle, None));
    assert!(
        !s.executions.finish(&done, "a").await.unwrap(),
        "a finished execution is not finished twice"
    );
}

async fn release_gives_the_execution_back_to_the_queue(s: Store) {
    let e = accepted_manual(&s, "rel").await;
    claimed(&s, &e, "a", 30).await;
    assert!(!s
        .executions
        .release(e.execution_id, "b", time::now())
        .await
        .unwrap());
    assert!(s
        .executions
        .release(e.execution_id, "a", time::now())
        .await
        .unwrap());
    let stored = s.executions.get(e.execution_id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.lease, stored.actions[0].attempts),
        (ExecutionStatus::Queued, None, 1)
    );
    assert_eq!(
        trigger_of(&s, "rel").await,
        (TriggerStatus::Busy, Some(e.execution_id))
    );
    claimed(&s, &e, "b", 30).await;
}

async fn queued_lists_oldest_first(s: Store) {
    let first = accepted_manual(&s, "q1").await;
    let second = accepted_manual(&s, "q2").await;
    let taken = accepted_manual(&s, "q3").await;
    claimed(&s, &taken, "a", 30).await;
    let queued: Vec<_> = s
        .executions
        .queued(10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.execution_id)
        .collect();
    assert_eq!(queued, [first.execution_id, second.execution_id]);
    assert_eq!(s.executions.queued(1).await.unwrap().len(), 1);
}

async fn requeue_due_retries_starts_the_next_attempt(s: Store) {
    let e = accepted_manual(&s, "r").await;
    let mut attempt = claimed(&s, &e, "a", 30).await;
    attempt.status = ExecutionStatus::Retrying;
    attempt.next_attempt_at = Some(later(30));
    assert!(s.executions.finish(&attempt, "a").await.unwrap());
    assert!(s
        .executions
        .requeue_due_retries(time::now(), 10)
        .await
        .unwrap()
        .is_empty());
    let requeued = s
        .executions
        .requeue_due_retries(later(31), 10)
        .await
        .unwrap();
    assert_eq!(requeued.len(), 1);
    assert_eq!(
        (requeued[0].status, requeued[0].attempt),
        (ExecutionStatus::Queued, 2)
    );
    assert_eq!(
        trigger_of(&s, "r").await,
        (TriggerStatus::Busy, Some(e.execution_id))
    );
}

async fn rescue_expired_leases_requeues_and_counts_the_attempt(s: Store) {
    let e = accepted_manual(&s, "x").await;
    claimed(&s, &e, "dead", -1).await;
    let alive = accepted_manual(&s, "y").await;
    claimed(&s, &alive, "alive", 30).await;
    let rescued = s
        .executions
        .rescue_expired_leases(time::now(), 10)
        .await
        .unwrap();
    assert_eq!(rescued.len(), 1);
    assert_eq!(rescued[0].execution_id, e.execution_id);
    assert_eq!(
        rescued[0].actions[0].attempts, 1,
        "the interrupted start is counted"
    );
    assert_eq!(rescued[0].attempt, 2, "losing the runner ends the attempt");
    assert_eq!(status_of(&s, &e).await, ExecutionStatus::Queued);
    assert_eq!(status_of(&s, &alive).await, ExecutionStatus::Running);
}

async fn an_execution_that_keeps_losing_its_runner_ends_failed(s: Store) {
    let mut w = workflow("poison", None);
    w.spec.retry.max_attempts = 2;
    s.workflows.create(&w).await.unwrap();
    let e = manual(&w);
    accept(&s, &e).await;
    for _ in 0..2 {
        claimed(&s, &e, "dies", -1).await;
        s.executions
            .rescue_expired_leases(time::now(), 10)
            .await
            .unwrap();
    }
    assert_eq!(status_of(&s, &e).await, ExecutionStatus::Failed);
    assert_eq!(trigger_of(&s, "poison").await, (TriggerStatus::Idle, None));
}

async fn stale_queued_republishes_once_per_threshold(s: Store) {
    let e = accepted_manual(&s, "q").await;
    assert!(s
        .executions
        .stale_queued(e.updated_at, time::now(), 10)
        .await
        .unwrap()
        .is_empty());
    let threshold = later(60);
    let stale = s
        .executions
        .stale_queued(threshold, threshold, 10)
        .await
        .unwrap();
    assert_eq!(stale.len(), 1);
    assert!(
        s.executions
            .stale_queued(threshold, threshold, 10)
            .await
            .unwrap()
            .is_empty(),
        "touched"
    );
}

async fn next_retry_due_is_the_earliest_retry(s: Store) {
    assert_eq!(s.executions.next_retry_due().await.unwrap(), None);
    let mut dues = Vec::new();
    for (id, secs) in [("a", 90), ("b", 30)] {
        let e = accepted_manual(&s, id).await;
        let mut attempt = claimed(&s, &e, "r", 30).await;
        attempt.status = ExecutionStatus::Retrying;
        attempt.next_attempt_at = Some(later(secs));
        dues.push(attempt.next_attempt_at.unwrap());
        assert!(s.executions.finish(&attempt, "r").await.unwrap());
    }
    assert_eq!(s.executions.next_retry_due().await.unwrap(), Some(dues[1]));
}

async fn live_counts_count_waiting_running_and_retrying(s: Store) {
    assert_eq!(
        s.executions.live_counts().await.unwrap(),
        LiveCounts::default()
    );
    for id in ["q1", "q2"] {
        accepted_manual(&s, id).await;
    }
    let run = accepted_manual(&s, "run").await;
    claimed(&s, &run, "r", 30).await;
    for (id, status) in [
        ("retry", ExecutionStatus::Retrying),
        ("done", ExecutionStatus::Succeeded),
    ] {
        let e = accepted_manual(&s, id).await;
        let mut attempt = claimed(&s, &e, "r", 30).await;
        attempt.status = status;
        attempt.next_attempt_at = (status == ExecutionStatus::Retrying).then(|| later(60));
        assert!(s.executions.finish(&attempt, "r").await.unwrap());
    }
    assert_eq!(
        s.executions.live_counts().await.unwrap(),
        LiveCounts {
            queued: 2,
            running: 1,
            retrying: 1
        }
    );
}

async fn prune_history_deletes_only_ended_executions_past_retention(s: Store) {
    let w = workflow("h", None);
    s.workflows.create(&w).await.unwrap();
    let start = time::now().timestamp_millis() - 60_000;
    let mut ended = Vec::new();
    for i in 0..4 {
        let mut e = manual(&w);
        e.created_at = from_millis(start + i * 1000);
        accept(&s, &e).await;
        let mut done = claimed(&s, &e, "r", 30).await;
        done.status = ExecutionStatus::Succeeded;
        assert!(s.executions.finish(&done, "r").await.unwrap());
        ended.push(e.execution_id);
    }
    let live = manual(&w);
    accept(&s, &live).await;
    let ids = |page: shared::repo::Page<Execution>| {
        page.items
            .iter()
            .map(|e| e.execution_id)
            .collect::<Vec<_>>()
    };
    let all = ExecutionQuery {
        limit: 100,
        ..Default::default()
    };

    // The newest two of the workflow stay (the live one counts); older ended ones go.
    assert_eq!(s.executions.prune_history(None, 2, 100).await.unwrap(), 3);
    let kept = ids(s.executions.list_for_workflow("h", &all).await.unwrap());
    assert_eq!(kept, [live.execution_id, ended[3]]);
    // By age: everything ended goes, the live one stays whatever its age.
    assert_eq!(
        s.executions
            .prune_history(Some(later(60)), 0, 100)
            .await
            .unwrap(),
        1
    );
    let kept = ids(s.executions.list_for_workflow("h", &all).await.unwrap());
    assert_eq!(kept, [live.execution_id]);
    assert_eq!(
        s.executions
            .prune_history(Some(later(60)), 1, 100)
            .await
            .unwrap(),
        0
    );
}

async fn prune_history_looks_past_crowded_workflows_with_nothing_to_delete(s: Store) {
    // Over the count of one, but both live: nothing of it may go.
    let busy = buffering("a-busy", None);
    s.workflows.create(&busy).await.unwrap();
    accept(&s, &manual(&busy)).await;
    accept_buffered(&s, &manual(&busy)).await;
    // Over the count with ended executions, listed after it.
    let done = workflow("z-done", None);
    s.workflows.create(&done).await.unwrap();
    for _ in 0..3 {
        let e = manual(&done);
        accept(&s, &e).await;
        let mut ended = claimed(&s, &e, "r", 30).await;
        ended.status = ExecutionStatus::Succeeded;
        assert!(s.executions.finish(&ended, "r").await.unwrap());
    }

    assert_eq!(s.executions.prune_history(None, 1, 1).await.unwrap(), 1);
    assert_eq!(s.executions.prune_history(None, 1, 10).await.unwrap(), 1);
    assert_eq!(s.executions.prune_history(None, 1, 10).await.unwrap(), 0);
    let all = ExecutionQuery {
        limit: 100,
        ..Default::default()
    };
    let a_busy = s
        .executions
        .list_for_workflow("a-busy", &all)
        .await
        .unwrap();
    assert_eq!(a_busy.items.len(), 2, "live executions stay");
    let z_done = s
        .executions
        .list_for_workflow("z-done", &all)
        .await
        .unwrap();
    assert_eq!(z_done.items.len(), 1);
}

// ---- crashes between two writes, and repair_trigger_states ----------------------------

/// What the scheduler and a runner do afterwards, until nothing is left waiting: repair, due
/// retries, expired leases, then run every queued execution (cancelling those whose workflow
/// is gone, as a runner does). Everything counts as old: the crash was "long ago".
async fn settle(s: &Store) -> Vec<Execution> {
    let long_after = later(3600);
    let mut published = Vec::new();
    for _ in 0..10 {
        published.extend(
            s.executions
                .repair_trigger_states(long_after, 100)
                .await
                .unwrap(),
        );
        s.executions
            .requeue_due_retries(long_after, 100)
            .await
            .unwrap();
        s.executions
            .rescue_expired_leases(long_after, 100)
            .await
            .unwrap();
        let queued = s.executions.queued(100).await.unwrap();
        if queued.is_empty() {
            break;
        }
        for e in queued {
            let mut running = claimed(s, &e, "runner", 30).await;
            match s.workflows.get(&e.workflow_id).await.unwrap() {
                Some(_) => running.status = ExecutionStatus::Succeeded,
                None => running.cancel_for_deleted_workflow(time::now()),
            }
            assert!(s.executions.finish(&running, "runner").await.unwrap());
        }
    }
    published
}

/// Afterwards every execution of `workflow_id` has ended and the workflow (if it exists) is
/// idle and takes a new trigger.
async fn assert_settled(s: &Store, workflow_id: &str) -> Vec<Execution> {
    let page = s
        .executions
        .list_for_workflow(
            workflow_id,
            &ExecutionQuery {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    for e in &page.items {
        assert!(e.status.is_terminal(), "{e:?}");
    }
    if let Some(w) = s.workflows.get(workflow_id).await.unwrap() {
        assert_eq!(
            (w.status, w.current_execution_id),
            (TriggerStatus::Idle, None)
        );
        accept(s, &manual(&w)).await;
    }
    page.items
}

async fn a_crash_between_the_workflow_and_a_new_execution_is_mended(s: Store) {
    let w = workflow("m", None);
    s.workflows.create(&w).await.unwrap();
    let e = manual(&w);
    s.failpoints.arm(crash_points::BEFORE_EXECUTION_INSERT);
    assert!(s.executions.accept_trigger(&e, None, None).await.is_err());
    let published = settle(&s).await;
    let ended = assert_settled(&s, "m").await;
    if s.atomic {
        assert!(ended.is_empty(), "rolled back whole: {ended:?}");
    } else {
        // The workflow was marked for it: the execution is written after all, and published.
        assert_eq!(published.len(), 1);
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].execution_id, e.execution_id);
    }
}

async fn a_crash_between_a_slot_and_its_execution_loses_no_slot(s: Store) {
    let w = workflow("p", Some("1s"));
    s.workflows.create(&w).await.unwrap();
    let due = w.next_run_at.unwrap();
    let next = time::add(due, Duration::from_secs(1));
    let e = slot_execution(&w, due);
    s.failpoints.arm(crash_points::BEFORE_EXECUTION_INSERT);
    assert!(s
        .executions
        .fire_slot("p", due, next, Some(&e), None)
        .await
        .is_err());
    // The scheduler tries the slot again: where the crash undid it, it fires now.
    let again = s
        .executions
        .fire_slot("p", due, next, Some(&e), None)
        .await
        .unwrap();
    assert_eq!(
        matches!(again, SlotOutcome::Fired(_)),
        s.atomic,
        "{again:?}"
    );
    settle(&s).await;
    let ended = assert_settled(&s, "p").await;
    let slot: Vec<_> = ended
        .iter()
        .filter(|x| x.execution_id == e.execution_id)
        .collect();
    assert_eq!(slot.len(), 1, "the slot ran exactly once");
    assert_eq!(slot[0].status, ExecutionStatus::Succeeded);
}

async fn a_crash_before_the_trigger_state_follows_a_finish_is_mended(s: Store) {
    let e = accepted_manual(&s, "f").await;
    let mut done = claimed(&s, &e, "a", 30).await;
    done.status = ExecutionStatus::Succeeded;
    s.failpoints.arm(crash_points::BEFORE_TRIGGER_FOLLOWS);
    assert!(s.executions.finish(&done, "a").await.is_err());
    settle(&s).await;
    assert_settled(&s, "f").await;
}

async fn a_crash_before_the_trigger_state_follows_a_retry_is_mended(s: Store) {
    let e = accepted_manual(&s, "r").await;
    let mut attempt = claimed(&s, &e, "a", 30).await;
    attempt.status = ExecutionStatus::Retrying;
    attempt.next_attempt_at = Some(time::now());
    assert!(s.executions.finish(&attempt, "a").await.unwrap());
    s.failpoints.arm(crash_points::BEFORE_TRIGGER_FOLLOWS);
    assert!(s
        .executions
        .requeue_due_retries(later(1), 10)
        .await
        .is_err());
    settle(&s).await;
    let ended = assert_settled(&s, "r").await;
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].status, ExecutionStatus::Succeeded);
}

async fn a_crash_before_the_trigger_state_follows_a_rescue_is_mended(s: Store) {
    let mut w = workflow("once", None);
    w.spec.retry.max_attempts = 1;
    s.workflows.create(&w).await.unwrap();
    let e = manual(&w);
    accept(&s, &e).await;
    claimed(&s, &e, "dies", -1).await;
    s.failpoints.arm(crash_points::BEFORE_TRIGGER_FOLLOWS);
    assert!(s
        .executions
        .rescue_expired_leases(time::now(), 10)
        .await
        .is_err());
    settle(&s).await;
    let ended = assert_settled(&s, "once").await;
    assert_eq!(ended[0].status, ExecutionStatus::Failed);
}

async fn a_crash_between_delete_and_cancel_is_mended(s: Store) {
    let e = accepted_manual(&s, "d").await;
    s.failpoints.arm(crash_points::BEFORE_CANCEL_WAITING);
    assert!(s.workflows.delete("d", time::now()).await.is_err());
    assert_eq!(
        s.workflows.get("d").await.unwrap().is_some(),
        s.atomic,
        "the delete is undone only where it was one transaction"
    );
    settle(&s).await;
    let ended = assert_settled(&s, "d").await;
    let expected = if s.atomic {
        ExecutionStatus::Succeeded
    } else {
        ExecutionStatus::Cancelled
    };
    assert_eq!(
        ended
            .iter()
            .find(|x| x.execution_id == e.execution_id)
            .unwrap()
            .status,
        expected
    );
}

// ---- overlap: bufferOne ----------------------------------------------------------------

/// A `bufferOne` workflow with one execution accepted and a second buffered behind it.
async fn one_buffered_behind(s: &Store, id: &str) -> (Workflow, Execution, Execution) {
    let w = buffering(id, None);
    s.workflows.create(&w).await.unwrap();
    let first = manual(&w);
    accept(s, &first).await;
    let second = manual(&w);
    let outcome = s
        .executions
        .accept_trigger(&second, None, None)
        .await
        .unwrap();
    assert!(
        matches!(&outcome, TriggerOutcome::Buffered(e) if e.status == ExecutionStatus::Buffered),
        "{outcome:?}"
    );
    (w, first, second)
}

async fn buffer_one_keeps_one_behind_and_queues_it_as_the_current_ends(s: Store) {
    let (w, first, second) = one_buffered_behind(&s, "b").await;
    assert_eq!(status_of(&s, &second).await, ExecutionStatus::Buffered);
    let third = s
        .executions
        .accept_trigger(&manual(&w), None, None)
        .await
        .unwrap();
    assert!(matches!(third, TriggerOutcome::Busy { .. }), "{third:?}");
    assert!(s
        .executions
        .queued(10)
        .await
        .unwrap()
        .iter()
        .all(|e| e.execution_id != second.execution_id));

    let mut done = claimed(&s, &first, "a", 30).await;
    done.status = ExecutionStatus::Succeeded;
    assert!(s.executions.finish(&done, "a").await.unwrap());
    assert_eq!(status_of(&s, &second).await, ExecutionStatus::Queued);
    assert_eq!(
        trigger_of(&s, "b").await,
        (TriggerStatus::Busy, Some(second.execution_id))
    );
    // The buffer is free again behind the new current execution.
    accept_buffered(&s, &manual(&w)).await;

    // A slot that comes while a periodic workflow is busy is buffered the same way.
    let p = buffering("bp", Some("10s"));
    s.workflows.create(&p).await.unwrap();
    let due = p.next_run_at.unwrap();
    let step = Duration::from_secs(10);
    let fired = s
        .executions
        .fire_slot(
            "bp",
            due,
            time::add(due, step),
            Some(&slot_execution(&p, due)),
            None,
        )
        .await
        .unwrap();
    assert!(matches!(fired, SlotOutcome::Fired(_)), "{fired:?}");
    let (next, after) = (time::add(due, step), time::add(due, step * 2));
    let buffered = s
        .executions
        .fire_slot("bp", next, after, Some(&slot_execution(&p, next)), None)
        .await
        .unwrap();
    assert!(matches!(buffered, SlotOutcome::Buffered(_)), "{buffered:?}");
    let last = time::add(after, step);
    let skipped = s
        .executions
        .fire_slot("bp", after, last, Some(&slot_execution(&p, after)), None)
        .await
        .unwrap();
    assert_eq!(skipped, SlotOutcome::SkippedBusy);
}

async fn a_crash_while_buffering_is_mended(s: Store) {
    let w = buffering("cb", None);
    s.workflows.create(&w).await.unwrap();
    let first = manual(&w);
    accept(&s, &first).await;
    claimed(&s, &first, "a", 30).await;
    s.failpoints.arm(crash_points::BEFORE_EXECUTION_INSERT);
    assert!(s
        .executions
        .accept_trigger(&manual(&w), None, None)
        .await
        .is_err());
    settle(&s).await;
    let ended = assert_settled(&s, "cb").await;
    assert!(ended.iter().any(|e| e.execution_id == first.execution_id));
}

async fn a_crash_while_the_buffered_execution_takes_over_is_mended(s: Store) {
    for (id, point) in [
        ("ct1", crash_points::BEFORE_TRIGGER_FOLLOWS),
        ("ct2", crash_points::BEFORE_EXECUTION_INSERT),
    ] {
        let (_, first, second) = one_buffered_behind(&s, id).await;
        let mut done = claimed(&s, &first, "a", 30).await;
        done.status = ExecutionStatus::Succeeded;
        s.failpoints.arm(point);
        assert!(s.executions.finish(&done, "a").await.is_err(), "{point}");
        settle(&s).await;
        let ended = assert_settled(&s, id).await;
        assert!(
            ended.iter().any(|e| e.execution_id == second.execution_id),
            "{point}: the buffered execution ran: {ended:?}"
        );
    }
}

// ---- the service registry ------------------------------------------------------------------

fn service(name: &str) -> Service {
    let spec = shared::domain::service::decode_service_spec(
        format!(
            r#"{{"name": "{name}", "address": "http://{name}.local:5000/", "description": "$weird.key",
                "inputs": [{{"name": "message", "type": "string", "description": "The text"}}],
                "outputs": [{{"name": "count", "type": "int", "required": false}}]}}"#
        )
        .as_bytes(),
    )
    .unwrap();
    Service::created(spec, from_millis(1_700_000_000_123))
}

async fn service_create_refuses_a_duplicate_name_and_get_reads_it_back(s: Store) {
    let upper = service("upper");
    s.services.create(&upper).await.unwrap();
    assert_eq!(
        s.services.create(&upper).await,
        Err(RepoError::AlreadyExists("upper".into()))
    );
    assert_eq!(s.services.get("upper").await.unwrap(), Some(upper));
    assert_eq!(s.services.get("lower").await.unwrap(), None);
}

async fn service_list_pages_by_name(s: Store) {
    for name in ["c", "a", "e", "b", "d"] {
        s.services.create(&service(name)).await.unwrap();
    }
    let first = s.services.list(None, 2).await.unwrap();
    let names = |page: &shared::repo::Page<Service>| -> Vec<String> {
        page.items.iter().map(|x| x.name().to_string()).collect()
    };
    assert_eq!(names(&first), ["a", "b"]);
    let second = s
        .services
        .list(first.next_cursor.as_deref(), 2)
        .await
        .unwrap();
    assert_eq!(names(&second), ["c", "d"]);
    let last = s
        .services
        .list(second.next_cursor.as_deref(), 2)
        .await
        .unwrap();
    assert_eq!(names(&last), ["e"]);
    assert_eq!(last.next_cursor, None);
}

async fn service_update_checks_the_version(s: Store) {
    let v1 = service("upper");
    s.services.create(&v1).await.unwrap();
    let mut v2 = v1.clone();
    v2.version = 2;
    v2.spec.address = Some("http://elsewhere:5000/".into());
    v2.updated_at = later(5);
    assert_eq!(
        s.services.update(&v2, 7).await,
        Err(RepoError::VersionConflict { current: 1 })
    );
    s.services.update(&v2, 1).await.unwrap();
    assert_eq!(s.services.get("upper").await.unwrap(), Some(v2.clone()));
    assert_eq!(
        s.services.update(&v2, 1).await,
        Err(RepoError::VersionConflict { current: 2 })
    );
    assert_eq!(
        s.services.update(&service("ghost"), 1).await,
        Err(RepoError::NotFound)
    );
}

async fn service_delete_is_refused_while_a_workflow_calls_it(s: Store) {
    s.services.create(&service("upper")).await.unwrap();
    s.services.create(&service("unused")).await.unwrap();
    let caller = |id: &str| {
        let spec = decode_workflow_spec(
            format!(
                r#"{{"workflowId": "{id}", "trigger": {{"type": "manual"}},
                    "actions": [{{"type": "log", "message": "first"}},
                                {{"id": "up", "type": "service", "service": "upper", "input": {{"message": "hi"}}}}],
                    "outputs": {{"message": "{{{{ steps.up.output.message }}}}"}}}}"#
            )
            .as_bytes(),
        )
        .unwrap();
        Workflow::created(spec, time::now())
    };
    let (a, b) = (caller("calls-a"), caller("calls-b"));
    s.workflows.create(&b).await.unwrap();
    s.workflows.create(&a).await.unwrap();
    assert_eq!(s.workflows.get("calls-a").await.unwrap(), Some(a));
    assert_eq!(
        s.services.delete("upper").await,
        Err(RepoError::InUse(vec!["calls-a".into(), "calls-b".into()]))
    );
    assert!(s.services.get("upper").await.unwrap().is_some());
    assert!(s.services.delete("unused").await.unwrap());
    assert!(!s.services.delete("unused").await.unwrap());
    for id in ["calls-a", "calls-b"] {
        s.workflows.delete(id, time::now()).await.unwrap();
    }
    assert!(s.services.delete("upper").await.unwrap());
    assert_eq!(s.services.get("upper").await.unwrap(), None);
}

// ---- worker tasks ---------------------------------------------------------------------------

fn task(execution: uuid::Uuid, step: usize, queue: &str, available_ms: i64) -> Task {
    Task {
        task_id: task_id(execution, 1, step, None),
        execution_id: execution,
        workflow_id: "w".into(),
        step_id: step.to_string(),
        step,
        item: None,
        queue: queue.into(),
        input: serde_json::json!({"image": "a.png"}),
        status: TaskStatus::Queued,
        attempt: 0,
        max_attempts: 3,
        retry: Default::default(),
        available_at: from_millis(available_ms),
        lease: None,
        deadline: from_millis(available_ms + 60_000),
        output: None,
        error: None,
        attempts: Vec::new(),
        publish_at: None,
        published_at: None,
        created_at: from_millis(available_ms),
        updated_at: from_millis(available_ms),
    }
}

async fn task_enqueue_keeps_the_first_and_writes_check_the_revision(s: Store) {
    let e = uuid::Uuid::new_v4();
    let first = task(e, 0, "q", 1_000);
    assert_eq!(s.tasks.enqueue(&first).await.unwrap(), first);
    let mut again = first.clone();
    again.input = serde_json::json!({"other": true});
    assert_eq!(
        s.tasks.enqueue(&again).await.unwrap(),
        first,
        "the first one stays"
    );
    let (mut stored, revision) = s.tasks.get(first.task_id).await.unwrap().unwrap();
    assert!(stored.lease_to("w1", Duration::from_secs(5), from_millis(2_000)));
    assert!(s.tasks.write(&stored, revision).await.unwrap());
    assert!(
        !s.tasks.write(&stored, revision).await.unwrap(),
        "a stale revision"
    );
    let (read, _) = s.tasks.get(first.task_id).await.unwrap().unwrap();
    assert_eq!(read, stored);
    assert_eq!(s.tasks.get(uuid::Uuid::new_v4()).await.unwrap(), None);
}

async fn task_ready_lists_a_queues_available_tasks_oldest_first(s: Store) {
    let e = uuid::Uuid::new_v4();
    for (step, queue, at) in [
        (0, "q", 3_000),
        (1, "q", 1_000),
        (2, "other", 500),
        (3, "q", 9_000),
    ] {
        s.tasks.enqueue(&task(e, step, queue, at)).await.unwrap();
    }
    let ready = s
        .tasks
        .ready(&["q".to_string()], from_millis(5_000), 10)
        .await
        .unwrap();
    let steps: Vec<usize> = ready.iter().map(|(t, _)| t.step).collect();
    assert_eq!(steps, [1, 0], "q only, available by now, oldest first");
    let both = ["q".to_string(), "other".to_string()];
    assert_eq!(
        s.tasks
            .ready(&both, from_millis(5_000), 2)
            .await
            .unwrap()
            .len(),
        2
    );
    let (mut leased, revision) = ready[0].clone();
    leased.lease_to("w", Duration::from_secs(1), from_millis(5_000));
    s.tasks.write(&leased, revision).await.unwrap();
    let after = s
        .tasks
        .ready(&["q".to_string()], from_millis(5_000), 10)
        .await
        .unwrap();
    assert_eq!(after.len(), 1, "a leased task is not ready");
    assert_eq!(s.tasks.of_execution(e).await.unwrap().len(), 4);
}

async fn task_lapsed_and_ended_are_found(s: Store) {
    let e = uuid::Uuid::new_v4();
    let (a, b) = (task(e, 0, "q", 0), task(e, 1, "q", 0));
    for t in [&a, &b] {
        s.tasks.enqueue(t).await.unwrap();
    }
    let (mut held, revision) = s.tasks.get(a.task_id).await.unwrap().unwrap();
    held.lease_to("w", Duration::from_secs(1), from_millis(0));
    s.tasks.write(&held, revision).await.unwrap();
    assert!(s
        .tasks
        .lapsed(from_millis(500), 10)
        .await
        .unwrap()
        .is_empty());
    let lapsed = s.tasks.lapsed(from_millis(1_000), 10).await.unwrap();
    assert_eq!(
        lapsed.iter().map(|(t, _)| t.task_id).collect::<Vec<_>>(),
        [a.task_id]
    );
    let past_deadline = s.tasks.lapsed(from_millis(60_000), 10).await.unwrap();
    assert_eq!(
        past_deadline.len(),
        2,
        "the deadline bounds queued tasks too"
    );
    let ids = [a.task_id, b.task_id];
    assert!(!s.tasks.any_ended(&ids).await.unwrap());
    let (mut done, revision) = s.tasks.get(b.task_id).await.unwrap().unwrap();
    done.lease_to("w", Duration::from_secs(1), from_millis(10));
    done.complete("w", serde_json::json!({}), from_millis(20))
        .unwrap();
    s.tasks.write(&done, revision).await.unwrap();
    assert!(s.tasks.any_ended(&ids).await.unwrap());
    assert!(!s.tasks.any_ended(&[a.task_id]).await.unwrap());
}

async fn tasks_on_the_bus_are_due_for_publication_while_queued(s: Store) {
    let e = uuid::Uuid::new_v4();
    let on_bus = |step, at| {
        let mut t = task(e, step, "q", at);
        t.publish_at = Some(from_millis(at));
        t
    };
    for t in [
        on_bus(0, 2_000),
        on_bus(1, 1_000),
        on_bus(2, 9_000),
        task(e, 3, "q", 0),
    ] {
        s.tasks.enqueue(&t).await.unwrap();
    }
    let due = s.tasks.to_publish(from_millis(5_000), 10).await.unwrap();
    let steps: Vec<usize> = due.iter().map(|(t, _)| t.step).collect();
    assert_eq!(steps, [1, 0], "on the bus, due by now, most overdue first");
    let (mut sent, revision) = due[0].clone();
    sent.publish(Duration::from_secs(60), from_millis(5_000))
        .unwrap();
    s.tasks.write(&sent, revision).await.unwrap();
    let (mut held, revision) = due[1].clone();
    held.lease_to("w", Duration::from_secs(1), from_millis(5_000));
    s.tasks.write(&held, revision).await.unwrap();
    assert!(
        s.tasks
            .to_publish(from_millis(5_000), 10)
            .await
            .unwrap()
            .is_empty(),
        "published (not due again before its redelivery) or leased"
    );
    let again = s.tasks.to_publish(from_millis(65_000), 10).await.unwrap();
    assert_eq!(
        again.iter().map(|(t, _)| t.step).collect::<Vec<_>>(),
        [2, 1]
    );
}

async fn wake_queues_only_a_waiting_execution(s: Store) {
    let e = accepted_manual(&s, "parks").await;
    assert_eq!(
        s.executions
            .wake(e.execution_id, time::now())
            .await
            .unwrap(),
        None,
        "queued, not waiting"
    );
    let mut running = claimed(&s, &e, "r", 30).await;
    running.status = ExecutionStatus::Waiting;
    assert!(s.executions.finish(&running, "r").await.unwrap());
    assert_eq!(
        trigger_of(&s, "parks").await.0,
        TriggerStatus::Busy,
        "a waiting execution keeps its workflow busy"
    );
    assert_eq!(s.executions.waiting(later(60), 10).await.unwrap().len(), 1);
    let woken = s
        .executions
        .wake(e.execution_id, time::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(woken.status, ExecutionStatus::Queued);
    assert_eq!(
        s.executions
            .wake(e.execution_id, time::now())
            .await
            .unwrap(),
        None,
        "once"
    );
    assert!(s
        .executions
        .waiting(later(60), 10)
        .await
        .unwrap()
        .is_empty());
}
