//! WAL checkpoints off the write path. By default SQLite checkpoints inside whichever commit
//! crosses 1000 WAL pages, which stalls that commit (and every write queued behind it) while
//! pages are copied and synced. Here the writer never checkpoints; a thread of its own does,
//! passively (it never waits for or blocks the writer).
//!
//! It checkpoints often, so that each one copies and syncs little. Every 500 ms, under a few
//! thousand executions a second, each copied 11,000–27,000 pages (30–47 ms) and then synced
//! them: requests in the next 50–150 ms took over 5 ms (the disk's write-back, not CPU: on
//! tmpfs the same load had p99 4 ms; a checkpoint thread at low CPU priority changed nothing),
//! and the restart below held writes 7–13 ms. Every 50 ms, the open loop at 2,600 triggers/s
//! went from p99 7.7–22 ms to 4.4–7.2 ms, and a restart holds writes 1.6–5.3 ms.
//!
//! A passive checkpoint never lets the WAL start over while readers keep coming: starting
//! over needs a moment when no reader uses the WAL, which a busy store never has, and the file
//! grew by gigabytes within a minute under a steady few thousand executions per second. So
//! once the WAL passes `RESET_ABOVE_PAGES`, a restarting checkpoint follows the passive one: it
//! waits for the readers of the moment, holding the writer meanwhile (see above for how long;
//! the passive one leaves it little to copy), and the next write starts the WAL
//! over from its beginning, reusing the file.

use rusqlite::Connection;
use std::sync::Weak;
use std::time::Duration;

const EVERY: Duration = Duration::from_millis(50);
/// 64 MiB of 4 KiB pages: large enough that writes are held rarely (about once a second at
/// 2,600 executions a second), small enough to be nothing on disk. Not larger: a WAL four
/// times as long was slower to write back, p99 44–64 ms against 3.6–4.5 at that load.
pub const RESET_ABOVE_PAGES: i64 = 16_384;

/// Checkpoints `conn`'s database until `alive` can no longer be upgraded (the store is gone).
pub fn start<T: Send + Sync + 'static>(conn: Connection, alive: Weak<T>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            while alive.upgrade().is_some() {
                std::thread::sleep(EVERY);
                match checkpoint(&conn, "PASSIVE") {
                    Ok(wal) if wal > RESET_ABOVE_PAGES => {
                        if let Err(err) = checkpoint(&conn, "RESTART") {
                            tracing::warn!(%err, "WAL restart failed; will retry");
                        }
                    }
                    Ok(_) => {}
                    Err(err) => tracing::warn!(%err, "WAL checkpoint failed; will retry"),
                }
            }
        })?;
    Ok(())
}

/// A checkpoint of `mode`; answers how many pages the WAL holds.
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<i64> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
        row.get(1)
    })
}
