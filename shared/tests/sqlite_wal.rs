//! The embedded store's WAL file starts over under writes that never pause. Passive
//! checkpoints alone copy pages but never let the file restart while the writer keeps
//! appending: it grew by gigabytes within a minute under steady load.

use shared::domain::{decode_workflow_spec, Workflow};
use shared::repo::{WorkflowQuery, WorkflowRepo};
use shared::sqlite::SqliteStore;
use shared::time;

/// Writes of a 64 KiB definition each: at least 200 MiB go through the WAL.
const WRITES: usize = 3_200;
const AT_ONCE: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_stays_bounded_under_writes_that_never_pause() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("wal.db")).unwrap();
    let wal = dir.path().join("wal.db-wal");
    // A reader that always holds a recent snapshot, as the API and the scheduler do.
    let reading = {
        let store = store.clone();
        tokio::spawn(async move {
            let query = WorkflowQuery {
                limit: 20,
                ..Default::default()
            };
            loop {
                let _ = store.list(&query).await;
            }
        })
    };
    let filler = "x".repeat(64 * 1024);
    let mut largest = 0u64;
    for batch in 0..WRITES / AT_ONCE {
        let writes = (0..AT_ONCE).map(|k| {
            let json = format!(
                r#"{{"workflowId":"w{batch}-{k}","trigger":{{"type":"manual"}},"actions":[{{"type":"http-request","url":"http://127.0.0.1:9/","body":"{filler}"}}]}}"#
            );
            let workflow = Workflow::created(decode_workflow_spec(json.as_bytes()).unwrap(), time::now());
            let store = store.clone();
            async move { store.create(&workflow).await.unwrap() }
        });
        futures_util::future::join_all(writes).await;
        largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
    }
    reading.abort();
    assert!(
        largest < 128 << 20,
        "the WAL reached {} MiB over {WRITES} writes of 64 KiB",
        largest >> 20
    );
}
