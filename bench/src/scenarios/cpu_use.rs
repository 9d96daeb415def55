//! The CPU spent over a stretch of a row: the product process's own, and the share of every
//! core's time that was busy. Near capacity a lateness p99 follows this shared machine's speed
//! in that minute (the same binary took a fifth more CPU for the same work from one run to the
//! next); these figures say how close to the machine's limit the row ran.

use serde::Serialize;
use std::time::Instant;

/// The counters at one moment.
pub struct Sample {
    at: Instant,
    /// The product's user and system time, in clock ticks.
    product_ticks: u64,
    /// Every core's busy and total time since boot, in clock ticks.
    machine: (u64, u64),
    /// Calls the sink had received.
    calls: u64,
}

/// The CPU between two samples.
#[derive(Debug, Clone, Serialize)]
pub struct CpuUse {
    /// Cores the product used on average.
    pub product_cores: f64,
    /// The product's CPU time per call the sink received, µs.
    pub product_us_per_call: f64,
    /// Share of all cores' time that was busy: every process, the kernel, and time the host
    /// took from this VM (steal).
    pub machine_busy_share: f64,
}

/// The counters now, for the product process `pid` and a sink that has received `calls`;
/// `None` where /proc cannot be read.
pub fn sample(pid: u32, calls: u64) -> Option<Sample> {
    Some(Sample {
        at: Instant::now(),
        product_ticks: process_ticks(pid)?,
        machine: machine_ticks()?,
        calls,
    })
}

/// What was spent from `from` to `to`; `None` if no time or no call passed.
pub fn between(from: &Sample, to: &Sample) -> Option<CpuUse> {
    let seconds = to.at.duration_since(from.at).as_secs_f64();
    let calls = to.calls.checked_sub(from.calls).filter(|c| *c > 0)?;
    let total = to
        .machine
        .1
        .checked_sub(from.machine.1)
        .filter(|t| *t > 0)?;
    let busy = to.machine.0.saturating_sub(from.machine.0);
    // SAFETY: sysconf only reads a configuration value.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let product_seconds =
        to.product_ticks.saturating_sub(from.product_ticks) as f64 / ticks_per_second;
    (seconds > 0.0).then(|| CpuUse {
        product_cores: product_seconds / seconds,
        product_us_per_call: product_seconds * 1e6 / calls as f64,
        machine_busy_share: busy as f64 / total as f64,
    })
}

/// utime + stime of a process (fields 14 and 15 of /proc/PID/stat, counted after the command
/// name, which may itself hold spaces and parentheses).
fn process_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some(field(11)? + field(12)?)
}

/// (busy, total) over every core from the first line of /proc/stat: user, nice, system,
/// idle, iowait, irq, softirq, steal (guest time is already within user).
fn machine_ticks() -> Option<(u64, u64)> {
    parse_machine_ticks(&std::fs::read_to_string("/proc/stat").ok()?)
}

fn parse_machine_ticks(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let values: Vec<u64> = line
        .split_whitespace()
        .take(8)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    let [user, nice, system, idle, iowait, irq, softirq, steal] = values[..] else {
        return None;
    };
    let busy = user + nice + system + irq + softirq + steal;
    Some((busy, busy + idle + iowait))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_counts_everything_but_idle_and_iowait() {
        let stat = "cpu  100 5 20 800 30 2 3 40 7 0\ncpu0 50 2 10 400 15 1 1 20 3 0\n";
        assert_eq!(parse_machine_ticks(stat), Some((170, 1000)));
        assert_eq!(parse_machine_ticks("cpu0 1 2 3\n"), None);
    }

    /// This process's user and system time by getrusage, in seconds.
    fn rusage_seconds() -> f64 {
        // SAFETY: getrusage fills the struct it is given.
        let usage = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut usage), 0);
            usage
        };
        let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    #[test]
    fn the_process_time_read_is_what_the_kernel_reports_for_it() {
        // Spin on CPU time, not wall time: on a shared machine 100 ms of wall time may hold
        // far less CPU.
        while rusage_seconds() < 0.2 {
            std::hint::black_box(0u64);
        }
        let rusage = rusage_seconds();
        // SAFETY: sysconf only reads a configuration value.
        let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        let read = process_ticks(std::process::id()).unwrap() as f64 / ticks_per_second;
        // Ticks round down, and both moments differ by a little work.
        assert!(
            (read - rusage).abs() < 0.05 && read >= 0.15,
            "/proc says {read} s, getrusage {rusage} s"
        );
    }
}
