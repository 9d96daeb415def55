//! The read connections and the threads that run reads on them. A read of one row by key may
//! run on the calling task when a connection is free (`SqliteStore::lookup`); every other read
//! is queued to one of a fixed set of threads, one per connection.
//!
//! A fixed set rather than tokio's blocking pool: a read handed to the pool while every
//! connection is busy parks a new pool thread on a connection's lock, so a burst of API reads
//! (a client paging through 400,000 executions) grew the process to 432 threads, and the
//! memory each of them had touched stayed with it.

use crate::repo::{RepoError, RepoResult};
use rusqlite::Connection;
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce(&Connection) + Send>;

pub struct Readers {
    connections: Vec<Arc<Mutex<Connection>>>,
    queue: mpsc::Sender<Job>,
}

impl Readers {
    /// Starts one thread per connection; they stop when this is dropped.
    pub fn start(connections: Vec<Connection>) -> RepoResult<Self> {
        let connections: Vec<_> = connections
            .into_iter()
            .map(|c| Arc::new(Mutex::new(c)))
            .collect();
        let (queue, jobs) = mpsc::channel::<Job>();
        let jobs = Arc::new(Mutex::new(jobs));
        for (i, connection) in connections.iter().enumerate() {
            let (connection, jobs) = (connection.clone(), jobs.clone());
            std::thread::Builder::new()
                .name(format!("sqlite-reader-{i}"))
                .spawn(move || serve(&connection, &jobs))
                .map_err(|e| {
                    RepoError::Unavailable(format!("cannot start a reader thread: {e}"))
                })?;
        }
        Ok(Self { connections, queue })
    }

    /// A connection no one is using right now, if there is one.
    pub fn free(&self) -> Option<MutexGuard<'_, Connection>> {
        self.connections.iter().find_map(|c| c.try_lock().ok())
    }

    /// Runs `f` on the next reader thread free.
    pub async fn run<T, F>(&self, f: F) -> RepoResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> RepoResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            // A bug in one read must not take its thread (and the reads queued behind) down.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)))
                .unwrap_or_else(|_| Err(RepoError::Unavailable("a read panicked".into())));
            let _ = reply.send(result);
        });
        let stopped = || RepoError::Unavailable("the reader threads have stopped".into());
        self.queue.send(job).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn serve(connection: &Mutex<Connection>, jobs: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        let next = jobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .recv();
        let Ok(job) = next else { return };
        let conn = connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        job(&conn);
    }
}
