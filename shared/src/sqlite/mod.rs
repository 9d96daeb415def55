//! The embedded store: one SQLite file in WAL mode. Writes go to one writer thread that commits
//! them in groups (see `writer`); reads use a few more connections, each with its thread
//! (see `readers`).
//! Other processes may open the same file: immediate transactions and a busy timeout make them
//! take turns.

mod checkpoint;
mod executions;
mod launching;
mod page_cache;
mod priority;
mod prune;
mod queued;
mod readers;
mod rows;
mod schema;
mod services;
mod tasks;
mod workflows;
mod write_queue;
mod writer;

use crate::repo::{Failpoints, RepoError, RepoResult};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const READERS: usize = 4;
/// The writer's page cache. SQLite's default (2 MiB) holds a sliver of the indexes a slot or a
/// claim touches at random once there are 100,000 workflows: every write then re-read pages
/// from the OS. The writer's cache stays valid between its own commits; the readers' is
/// dropped whenever another connection wrote, so they keep the default.
const WRITER_CACHE_KIB: i64 = 64 * 1024;

#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    writer: writer::Writer,
    readers: readers::Readers,
    /// Armed only by tests, to crash an operation halfway (here: roll it back whole).
    failpoints: Failpoints,
    /// What this process queued, so that claiming it needs no read on the writer.
    queued: queued::QueuedCopies,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and its schema.
    pub fn open(path: &Path) -> RepoResult<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                RepoError::Unavailable(format!("cannot create directory {}: {e}", dir.display()))
            })?;
        }
        let cache_wrapped = page_cache::install();
        tracing::debug!(cache_wrapped, "SQLite page cache");
        let writer = connect(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )?;
        schema::migrate(&writer)?;
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        writer.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
        // When the WAL starts over, its file is cut back to this if it grew past it. Twice
        // the restart threshold: a WAL restarted on time is reused as it is, since cutting
        // ~100 MiB off a file stalled the write after each restart for 10-20 ms.
        writer.pragma_update(
            None,
            "journal_size_limit",
            2 * checkpoint::RESET_ABOVE_PAGES * 4096,
        )?;
        let readers = (0..READERS)
            .map(|_| connect(path, OpenFlags::SQLITE_OPEN_READ_ONLY))
            .collect::<RepoResult<Vec<_>>>()?;
        let inner = Arc::new(Inner {
            writer: writer::Writer::start(writer)?,
            readers: readers::Readers::start(readers)?,
            failpoints: Failpoints::default(),
            queued: queued::QueuedCopies::default(),
        });
        let checkpointer = connect(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        checkpoint::start(checkpointer, Arc::downgrade(&inner)).map_err(|e| {
            RepoError::Unavailable(format!("cannot start the checkpoint thread: {e}"))
        })?;
        Ok(Self { inner })
    }

    /// Where tests make an operation crash halfway (see `repo::crash_points`).
    pub fn failpoints(&self) -> &Failpoints {
        &self.inner.failpoints
    }

    /// Applies `transition` to one execution; false if its precondition did not hold.
    async fn transition(
        &self,
        op: &'static str,
        execution_id: uuid::Uuid,
        transition: crate::domain::Transition,
    ) -> RepoResult<bool> {
        let failpoints = self.failpoints().clone();
        self.write(op, move |conn| {
            executions::transition_one(conn, &failpoints, execution_id, &transition)
                .map(|e| e.is_some())
        })
        .await
    }

    /// Runs `f` as one atomic step of the writer's next group commit; `op` names the
    /// repository operation in the round-trip count.
    async fn write<T, F>(&self, op: &'static str, f: F) -> RepoResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> RepoResult<T> + Send + 'static,
    {
        crate::telemetry::count_store_round_trip("sqlite", op);
        self.inner.writer.submit(op, f).await
    }

    /// A read of one row by its key: a few cached pages, tens of microseconds, less than the
    /// hand-off to a reader thread and back costs (two thread wake-ups, which under load
    /// were a tenth of the product's CPU). It runs on the calling task when a reader
    /// connection is free, and on a reader thread otherwise. Readers of a WAL database do
    /// not wait for the writer, so this does not stall the task behind a commit (only another
    /// process's recovery of the file would, briefly).
    async fn lookup<T, F>(&self, op: &'static str, f: F) -> RepoResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> RepoResult<T> + Send + 'static,
    {
        if let Some(conn) = self.inner.readers.free() {
            crate::telemetry::count_store_round_trip("sqlite", op);
            return f(&conn);
        }
        self.read(op, f).await
    }

    async fn read<T, F>(&self, op: &'static str, f: F) -> RepoResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> RepoResult<T> + Send + 'static,
    {
        crate::telemetry::count_store_round_trip("sqlite", op);
        self.inner.readers.run(f).await
    }
}

fn connect(path: &Path, flags: OpenFlags) -> RepoResult<Connection> {
    let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| RepoError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_handler(Some(retry_soon))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

/// Retries a busy lock every 100 µs for the first 10 ms, then every millisecond, for about
/// 10 s in all. SQLite's own handler (`busy_timeout`) sleeps in steps of up to 100 ms: behind
/// a checkpoint that held the lock for 3 ms the writer then slept for a tenth of a second.
fn retry_soon(attempt: i32) -> bool {
    let pause = if attempt < 100 {
        Duration::from_micros(100)
    } else {
        Duration::from_millis(1)
    };
    std::thread::sleep(pause);
    attempt < 100 + 10_000
}

impl From<rusqlite::Error> for RepoError {
    fn from(e: rusqlite::Error) -> Self {
        RepoError::Unavailable(e.to_string())
    }
}
