//! How busy the embedded store's single writer was over a stretch of a row, from the product's
//! own `/metrics` (`wfa_sqlite_commit_seconds`, `wfa_sqlite_writes_total`): the figure that says
//! whether a latency is the writer's queue. Absent on MongoDB, which has no such writer.

use std::time::Instant;

use serde::Serialize;

use super::Ctx;

/// The writer's counters at one moment.
pub struct Sample {
    at: Instant,
    busy_seconds: f64,
    commits: f64,
    writes: f64,
}

/// The writer between two samples.
#[derive(Debug, Clone, Serialize)]
pub struct WriterLoad {
    /// Share of the wall time the writer spent in group commits (waiting for a core included).
    pub busy_share: f64,
    pub writes_per_sec: f64,
    pub commits_per_sec: f64,
    pub writes_per_commit: f64,
}

/// The writer's counters now; `None` when the product shows none (not the embedded store) or
/// `/metrics` cannot be read.
pub async fn sample(ctx: &Ctx) -> Option<Sample> {
    let text = ctx.api.metrics().await.ok()?;
    let value = |name: &str| {
        text.lines().find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
    };
    Some(Sample {
        at: Instant::now(),
        busy_seconds: value("wfa_sqlite_commit_seconds_sum")?,
        commits: value("wfa_sqlite_commit_seconds_count")?,
        writes: value("wfa_sqlite_writes_total")?,
    })
}

/// What the writer did from `from` to `to`; `None` if it committed nothing in between.
pub fn between(from: &Sample, to: &Sample) -> Option<WriterLoad> {
    let seconds = to.at.duration_since(from.at).as_secs_f64();
    let commits = to.commits - from.commits;
    if seconds <= 0.0 || commits <= 0.0 {
        return None;
    }
    let writes = to.writes - from.writes;
    Some(WriterLoad {
        busy_share: (to.busy_seconds - from.busy_seconds) / seconds,
        writes_per_sec: writes / seconds,
        commits_per_sec: commits / seconds,
        writes_per_commit: writes / commits,
    })
}
