//! The writer thread's CPU priority. Every write in the process waits for that one thread, and
//! on a busy machine it waited for a core as long as it ran: at 100,000 periodic workflows on
//! two cores it was runnable but not running a quarter of the time, behind the runtime's
//! threads whose work is mostly waiting for it. Raised, it runs when it has work. Raising a
//! priority needs CAP_SYS_NICE (root has it); without it the writer runs as before.

/// Nice value asked for: the scheduler then gives the writer about nine times the share of
/// a thread at the default 0 when both want a core.
pub const WRITER_NICE: i32 = -10;

/// Raises the calling thread's priority to `WRITER_NICE` where the process may; says whether
/// it did.
#[cfg(target_os = "linux")]
pub fn raise_this_thread() -> bool {
    // SAFETY: plain system call on the calling thread (Linux sets nice values per thread;
    // `who = 0` is the caller).
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, WRITER_NICE) };
    rc == 0
}

/// Elsewhere a nice value is the whole process's, which is not this thread's to change.
#[cfg(not(target_os = "linux"))]
pub fn raise_this_thread() -> bool {
    false
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::WRITER_NICE;
    use std::time::{Duration, Instant};

    /// A thread's nice value, as `ps -L` shows it (field 19 of its stat line).
    fn nice_of(stat: &str) -> Option<i32> {
        let after_name = &stat[stat.rfind(')')? + 2..];
        after_name.split(' ').nth(16)?.parse().ok()
    }

    fn writer_nice() -> Option<i32> {
        std::fs::read_dir("/proc/self/task")
            .ok()?
            .flatten()
            .find_map(|task| {
                let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
                (comm.trim() == "sqlite-writer").then_some(())?;
                nice_of(&std::fs::read_to_string(task.path().join("stat")).ok()?)
            })
    }

    #[test]
    fn the_writer_runs_at_a_raised_priority_where_the_process_may_raise_one() {
        let own = nice_of(&std::fs::read_to_string("/proc/thread-self/stat").unwrap()).unwrap();
        // SAFETY: reads the process's effective user id.
        let expected = match unsafe { libc::geteuid() } {
            0 => WRITER_NICE,
            _ => own, // may not: the writer keeps the nice value it started with
        };
        let dir = tempfile::tempdir().unwrap();
        let _store = crate::sqlite::SqliteStore::open(&dir.path().join("p.db")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut seen = writer_nice();
        while seen != Some(expected) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
            seen = writer_nice();
        }
        assert_eq!(seen, Some(expected), "the writer thread's nice value");
    }
}
