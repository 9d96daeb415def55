//! WAL checkpoints off the write path. By default SQLite checkpoints inside whichever commit
//! crosses 1000 WAL pages, which stalls that commit (and every write queued behind it) while
//! pages are copied and synced. Here the writer never checkpoints; a thread of its own does,
//! passively (it never waits for or blocks the writer).

use rusqlite::Connection;
use std::sync::Weak;
use std::time::Duration;

const EVERY: Duration = Duration::from_millis(500);

/// Checkpoints `conn`'s database until `alive` can no longer be upgraded (the store is gone).
pub fn start<T: Send + Sync + 'static>(conn: Connection, alive: Weak<T>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            while alive.upgrade().is_some() {
                std::thread::sleep(EVERY);
                if let Err(err) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(%err, "WAL checkpoint failed; will retry");
                }
            }
        })?;
    Ok(())
}
