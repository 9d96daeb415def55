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
//!
//! A passive checkpoint writes pages into the database file but syncs that file only when it
//! copied the WAL to its very end, which it never does while the writer keeps appending. The
//! restart then synced everything written since the previous restart, holding the writer: at
//! 100,000 periodic workflows that was ~64 MiB of scattered pages every 0.6 s, 30–42 ms of
//! `fsync` inside a restart held for 35 ms at the median. So this thread syncs the database
//! file itself after each passive checkpoint that copied pages, and once more right before a
//! restart, which is then left a few milliseconds of frames to copy and sync (5–8 ms held at
//! the median).

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
            let mut checkpointer = Checkpointer { conn, synced: 0 };
            while alive.upgrade().is_some() {
                std::thread::sleep(EVERY);
                match checkpointer.copy_and_sync() {
                    Ok(wal) if wal > RESET_ABOVE_PAGES => {
                        // Once more first, so that the restart, which holds the writer,
                        // copies and syncs only what came in meanwhile.
                        if let Err(err) = checkpointer
                            .copy_and_sync()
                            .and_then(|_| checkpointer.restart())
                        {
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

/// The checkpoint thread's state.
struct Checkpointer {
    /// A connection of its own: a checkpoint's waits hold up no reader or writer of the store.
    conn: Connection,
    /// WAL pages copied into the database file as of its last sync: an idle store's file is
    /// not synced again (a sync of an unchanged file can still cost the disk a cache flush).
    synced: i64,
}

impl Checkpointer {
    /// A passive checkpoint, then the database file synced if it copied pages since the last
    /// sync; answers how many pages the WAL holds.
    fn copy_and_sync(&mut self) -> rusqlite::Result<i64> {
        let (wal, copied) = self.checkpoint("PASSIVE")?;
        if copied != self.synced {
            sync_database_file(&self.conn)?;
            self.synced = copied;
        }
        Ok(wal)
    }

    /// Copies what is left and has the next write start the WAL over (SQLite syncs both
    /// files itself).
    fn restart(&mut self) -> rusqlite::Result<()> {
        let (_, copied) = self.checkpoint("RESTART")?;
        self.synced = copied;
        Ok(())
    }

    /// A checkpoint of `mode`; answers how many pages the WAL holds and how many of them are
    /// copied into the database file.
    fn checkpoint(&self, mode: &str) -> rusqlite::Result<(i64, i64)> {
        self.conn
            .query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
                Ok((row.get(1)?, row.get(2)?))
            })
    }
}

/// Syncs `conn`'s database file to disk through SQLite's own handle on it. (Opening the file
/// anew would not do: closing that descriptor would drop every POSIX lock this process holds
/// on the file, including SQLite's.)
fn sync_database_file(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::ffi;
    let failed = |rc| Err(rusqlite::Error::SqliteFailure(ffi::Error::new(rc), None));
    let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
    // SAFETY: `conn` is open and used by this thread only; SQLITE_FCNTL_FILE_POINTER writes
    // one pointer, to the file object of the connection's main database, which lives as long
    // as the connection.
    let rc = unsafe {
        ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_FILE_POINTER,
            (&mut file as *mut *mut ffi::sqlite3_file).cast(),
        )
    };
    if rc != ffi::SQLITE_OK {
        return failed(rc);
    }
    // SAFETY: the pointer is null or that open file object, whose methods are set while open.
    let sync = unsafe { file.as_ref() }
        .and_then(|f| unsafe { f.pMethods.as_ref() })
        .and_then(|methods| methods.xSync);
    let Some(sync) = sync else {
        return Ok(()); // no file open: nothing written to sync
    };
    // SAFETY: `xSync` is the VFS's own sync of the file object it was given.
    let rc = unsafe { sync(file, ffi::SQLITE_SYNC_NORMAL) };
    if rc != ffi::SQLITE_OK {
        return failed(rc);
    }
    Ok(())
}
