//! How busy the embedded store's single writer was over a stretch of a row, from the product's
//! own `/metrics` (`wfa_sqlite_commit_seconds`, `wfa_sqlite_writes_total`): the figure that says
//! whether a latency is the writer's queue; and what its time went to, by repository operation
//! (`wfa_sqlite_write_seconds{op}`) and for the commits themselves. Absent on MongoDB, which has
//! no such writer.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

use super::Ctx;
use crate::prometheus;

/// The writer's counters at one moment.
pub struct Sample {
    at: Instant,
    busy_seconds: f64,
    commits: f64,
    writes: f64,
    /// Per operation: seconds its writes took on the writer, and how many.
    ops: BTreeMap<String, (f64, f64)>,
}

/// The writer between two samples.
#[derive(Debug, Clone, Serialize)]
pub struct WriterLoad {
    /// Share of the wall time the writer spent in group commits (waiting for a core included).
    pub busy_share: f64,
    pub writes_per_sec: f64,
    pub commits_per_sec: f64,
    pub writes_per_commit: f64,
    /// Mean µs of one write on the writer, per repository operation that made at least 1% of
    /// the writes.
    pub us_per_write: BTreeMap<String, f64>,
    /// The commits' own cost beyond their writes (WAL frames, page cache), in µs per write.
    pub commit_us_per_write: f64,
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
    let counts = by_op(&text, "wfa_sqlite_write_seconds_count");
    let ops = by_op(&text, "wfa_sqlite_write_seconds_sum")
        .into_iter()
        .map(|(op, sum)| {
            let count = counts.get(&op).copied().unwrap_or(0.0);
            (op, (sum, count))
        })
        .collect();
    Some(Sample {
        at: Instant::now(),
        ops,
        busy_seconds: value("wfa_sqlite_commit_seconds_sum")?,
        commits: value("wfa_sqlite_commit_seconds_count")?,
        writes: value("wfa_sqlite_writes_total")?,
    })
}

/// The samples of `metric` by their `op` label.
fn by_op(text: &str, metric: &str) -> BTreeMap<String, f64> {
    prometheus::labelled(text, metric)
        .filter_map(|(labels, value)| Some((prometheus::label(labels, "op")?.to_string(), value)))
        .collect()
}

/// What the writer did from `from` to `to`; `None` if it committed nothing in between.
pub fn between(from: &Sample, to: &Sample) -> Option<WriterLoad> {
    let seconds = to.at.duration_since(from.at).as_secs_f64();
    let commits = to.commits - from.commits;
    if seconds <= 0.0 || commits <= 0.0 {
        return None;
    }
    let writes = to.writes - from.writes;
    let busy = to.busy_seconds - from.busy_seconds;
    let mut us_per_write = BTreeMap::new();
    let mut in_writes = 0.0;
    for (op, (sum, count)) in &to.ops {
        let (sum0, count0) = from.ops.get(op).copied().unwrap_or_default();
        let (took, n) = (sum - sum0, count - count0);
        in_writes += took;
        if n > 0.0 && n >= writes / 100.0 {
            us_per_write.insert(op.clone(), took / n * 1e6);
        }
    }
    Some(WriterLoad {
        busy_share: busy / seconds,
        writes_per_sec: writes / seconds,
        commits_per_sec: commits / seconds,
        writes_per_commit: writes / commits,
        us_per_write,
        commit_us_per_write: if writes > 0.0 {
            (busy - in_writes).max(0.0) / writes * 1e6
        } else {
            0.0
        },
    })
}
