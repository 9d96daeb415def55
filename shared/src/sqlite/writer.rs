//! Group commit. Every write is a closure run by one thread that owns the write connection: it
//! takes the writes waiting (a finish after those due now: see `write_queue`), runs each inside
//! its own savepoint (a failing one rolls back alone), and commits them in one transaction.
//! Callers hear back only after that commit, so nobody acts on a write that could still be
//! lost. Under load one commit carries many writes; alone, a write commits at once.

use super::write_queue::{WriteQueue, MAY_WAIT};
use crate::repo::{RepoError, RepoResult};
use rusqlite::Connection;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Most writes in one commit, so that other processes sharing the file get their turn.
const MAX_GROUP: usize = 512;

trait WriteOp: Send {
    /// Runs the write; false when it failed and its savepoint must be rolled back.
    fn apply(&mut self, conn: &Connection) -> bool;
    /// Whether the write may wait behind others (see `write_queue`).
    fn may_wait(&self) -> bool;
    /// Reports the outcome once the group's commit is known.
    fn complete(self: Box<Self>, commit: Result<(), RepoError>);
}

/// A write's outcome, and the time its statements took on the writer (its share of the commit
/// not included) if they ran.
type Reply<T> = (RepoResult<T>, Option<Duration>);

struct Op<T, F> {
    may_wait: bool,
    work: Option<F>,
    result: Option<RepoResult<T>>,
    took: Option<Duration>,
    reply: oneshot::Sender<Reply<T>>,
}

impl<T, F> WriteOp for Op<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> RepoResult<T> + Send,
{
    fn apply(&mut self, conn: &Connection) -> bool {
        let work = self.work.take().expect("applied once");
        let started = Instant::now();
        // A bug in one write must not take the writer thread (and every later write) down.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(conn)))
            .unwrap_or_else(|_| Err(RepoError::Unavailable("a write panicked".into())));
        self.took = Some(started.elapsed());
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn may_wait(&self) -> bool {
        self.may_wait
    }

    fn complete(self: Box<Self>, commit: Result<(), RepoError>) {
        let outcome = match (commit, self.result) {
            (Ok(()), Some(result)) => result,
            (Err(e), _) => Err(e),
            (Ok(()), None) => Err(RepoError::Unavailable("write was not applied".into())),
        };
        let _ = self.reply.send((outcome, self.took));
    }
}

pub struct Writer {
    queue: mpsc::Sender<Box<dyn WriteOp>>,
}

impl Writer {
    pub fn start(conn: Connection) -> RepoResult<Self> {
        let (queue, jobs) = mpsc::channel::<Box<dyn WriteOp>>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                let raised = super::priority::raise_this_thread();
                tracing::debug!(raised, "SQLite writer thread started");
                run(conn, jobs)
            })
            .map_err(|e| RepoError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(Self { queue })
    }

    /// Runs `work` in the next group commit; `name` is the repository operation it does.
    pub async fn submit<T, F>(&self, name: &'static str, work: F) -> RepoResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> RepoResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let op = Box::new(Op {
            may_wait: MAY_WAIT.contains(&name),
            work: Some(work),
            result: None,
            took: None,
            reply,
        });
        self.queue
            .send(op)
            .map_err(|_| RepoError::Unavailable("the writer thread has stopped".into()))?;
        let (outcome, took) = answer
            .await
            .map_err(|_| RepoError::Unavailable("the writer thread has stopped".into()))?;
        // Recorded here rather than on the writer thread, which every write waits for.
        if let Some(took) = took {
            crate::telemetry::measure::store_write(name, took);
        }
        outcome
    }
}

fn run(conn: Connection, jobs: mpsc::Receiver<Box<dyn WriteOp>>) {
    let mut queue = WriteQueue::new();
    loop {
        if queue.is_empty() {
            match jobs.recv() {
                Ok(op) => push(&mut queue, op),
                Err(_) => return,
            }
        }
        while let Ok(op) = jobs.try_recv() {
            push(&mut queue, op);
        }
        let mut group = queue.next_group(MAX_GROUP);
        let started = Instant::now();
        let commit = commit_group(&conn, &mut group);
        crate::telemetry::measure::store_commit(group.len(), started.elapsed());
        for op in group {
            op.complete(commit.clone());
        }
    }
}

fn push(queue: &mut WriteQueue<Box<dyn WriteOp>>, op: Box<dyn WriteOp>) {
    let may_wait = op.may_wait();
    queue.push(op, may_wait);
}

/// Runs a statement without results through the statement cache (no re-parsing per write).
fn run_cached(conn: &Connection, sql: &str) -> Result<(), RepoError> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

fn commit_group(conn: &Connection, group: &mut [Box<dyn WriteOp>]) -> Result<(), RepoError> {
    run_cached(conn, "BEGIN IMMEDIATE")?;
    for op in group.iter_mut() {
        let step = run_cached(conn, "SAVEPOINT op").and_then(|()| {
            if !op.apply(conn) {
                run_cached(conn, "ROLLBACK TO op")?;
            }
            run_cached(conn, "RELEASE op")
        });
        if let Err(e) = step {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    if let Err(e) = run_cached(conn, "COMMIT") {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(e);
    }
    Ok(())
}
