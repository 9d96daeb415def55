//! One pairing of the monotonic clock with the wall clock, taken once at start-up.
//!
//! The sink stamps hits with `Instant` (cheap, monotonic); the product reports slots in wall-clock
//! RFC 3339. Both run on this machine, so converting through a single pairing is exact enough
//! (sub-millisecond) and immune to NTP steps during the run.

use std::sync::OnceLock;
use std::time::Instant;

use chrono::{DateTime, Utc};

static BASE: OnceLock<(Instant, DateTime<Utc>)> = OnceLock::new();

fn base() -> (Instant, DateTime<Utc>) {
    *BASE.get_or_init(|| (Instant::now(), Utc::now()))
}

/// Takes the pairing now; call first thing so later calls are pure arithmetic.
pub fn init() {
    base();
}

/// The wall-clock time of a monotonic instant.
pub fn wall(at: Instant) -> DateTime<Utc> {
    let (i0, w0) = base();
    let delta = if at >= i0 {
        chrono::Duration::from_std(at - i0).unwrap_or_default()
    } else {
        -chrono::Duration::from_std(i0 - at).unwrap_or_default()
    };
    w0 + delta
}
