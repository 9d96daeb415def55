//! Two processes on one SQLite file (here: two stores in one test). A store claims what it
//! queued from its own copy (no read of the stored document); when the other store ran the
//! execution meanwhile, that copy is stale and the claim must see the row as it is.

use shared::domain::{decode_workflow_spec, Execution, ExecutionStatus, Lease, Reason, Workflow};
use shared::repo::{ExecutionRepo, TriggerOutcome, WorkflowRepo};
use shared::sqlite::SqliteStore;
use shared::time;

fn lease(owner: &str) -> Lease {
    Lease {
        owner: owner.into(),
        expires_at: time::from_millis(time::now().timestamp_millis() + 30_000),
    }
}

#[tokio::test]
async fn a_claim_from_a_stale_copy_finds_what_the_other_process_did() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let (a, b) = (
        SqliteStore::open(&path).unwrap(),
        SqliteStore::open(&path).unwrap(),
    );
    let spec = br#"{"workflowId":"w","trigger":{"type":"manual"},"actions":[{"type":"log","message":"m"}]}"#;
    let workflow = Workflow::created(decode_workflow_spec(spec).unwrap(), time::now());
    a.create(&workflow).await.unwrap();
    // A claim makes `a` a claiming process, which keeps copies of what it queues.
    let a_lease = lease("a");
    let nothing = a.claim(uuid::Uuid::new_v4(), &a_lease, time::now());
    assert_eq!(nothing.await.unwrap(), None);

    let e = Execution::queued(
        uuid::Uuid::new_v4(),
        &workflow,
        Reason::Manual,
        time::now(),
        time::now(),
    );
    let accepted = a.accept_trigger(&e, None, None).await.unwrap();
    assert!(
        matches!(accepted, TriggerOutcome::Accepted(_)),
        "{accepted:?}"
    );

    // The other process runs it to the end.
    let mut ran = b
        .claim(e.execution_id, &lease("b"), time::now())
        .await
        .unwrap()
        .expect("queued, so claimable")
        .execution;
    ran.status = ExecutionStatus::Succeeded;
    assert!(b.finish(&ran, "b").await.unwrap());

    // `a` still holds its copy of the queued execution; its claim must not run it again.
    let again = a.claim(e.execution_id, &a_lease, time::now());
    assert_eq!(again.await.unwrap(), None);
    let stored = ExecutionRepo::get(&a, e.execution_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, ExecutionStatus::Succeeded);
    assert_eq!(stored.lease_owner(), None);
}
