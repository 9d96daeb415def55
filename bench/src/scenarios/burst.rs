//! Periodic capacity: many cron workflows all due in the same second. How fast the product
//! fires and runs a crowd of slots, without the API request each `e2e` execution carries;
//! the lateness rows' busiest seconds are set against it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use chrono::{DateTime, DurationRound, TimeDelta, Timelike, Utc};
use serde::Serialize;
use serde_json::json;

use super::{fan_out, Ctx, Queue};
use crate::api::{Failure, Tally};
use crate::clock;
use crate::stats::{summarize_ms, Summary};

const PREFIX: &str = "/hit/b/";
/// From the row's start to the shared slot: creating 20,000 workflows takes about a second.
const LEAD: TimeDelta = TimeDelta::seconds(10);
/// How long after the slot the row waits for the last call.
const PATIENCE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Serialize)]
pub struct Burst {
    pub workflows: usize,
    pub created: usize,
    pub create_errors: Tally,
    /// Sink receive − the shared slot, first call of each workflow.
    pub lateness: Summary,
    /// From the slot to the last workflow's first call.
    pub drain_seconds: f64,
    /// Workflows called ÷ `drain_seconds`.
    pub per_sec: f64,
    /// Created workflows with no call within `PATIENCE`.
    pub missed: u64,
    /// Calls beyond each workflow's first (its slot fires once).
    pub duplicated: u64,
}

/// `n` cron workflows due at one second some `LEAD` from now.
pub async fn run(ctx: &Ctx, n: usize) -> Result<Burst> {
    let t0 = Instant::now();
    let calls_before = ctx.sink.total();
    let slot = (clock::wall(t0) + LEAD).duration_trunc(TimeDelta::seconds(1))?;
    let expression = format!("{} {} {} * * *", slot.second(), slot.minute(), slot.hour());
    let (created, create_errors) = create_all(ctx, n, &expression, slot).await;
    if created == 0 {
        bail!("no cron workflow could be created: {:?}", create_errors);
    }
    if clock::wall(Instant::now()) >= slot {
        bail!("creating {n} workflows took longer than the {LEAD} before their slot");
    }
    let deadline = t0 + (slot - clock::wall(t0)).to_std()? + PATIENCE;
    // Waits on the sink's counter: copying its list meanwhile would hold the lock every
    // arriving call takes.
    while ctx.sink.total() - calls_before < created as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let hits: Vec<_> = (ctx.sink.hits_with_prefix(PREFIX).into_iter())
        .filter(|h| h.at >= t0)
        .collect();
    let calls = hits.len();
    let mut first: HashMap<String, DateTime<Utc>> = HashMap::new();
    for hit in hits {
        let at = clock::wall(hit.at);
        first
            .entry(hit.path)
            .and_modify(|t| *t = (*t).min(at))
            .or_insert(at);
    }
    let late_ms: Vec<f64> = first
        .values()
        .map(|at| (*at - slot).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e3)
        .collect();
    let drain_seconds = late_ms.iter().copied().fold(0.0, f64::max) / 1e3;
    Ok(Burst {
        workflows: n,
        created,
        create_errors,
        per_sec: first.len() as f64 / drain_seconds.max(1e-3),
        drain_seconds,
        missed: created.saturating_sub(first.len()) as u64,
        duplicated: (calls - first.len()) as u64,
        lateness: summarize_ms(late_ms),
    })
}

/// Creates the workflows, `concurrency` at a time; answers how many were created with their
/// slot at `slot`.
async fn create_all(ctx: &Ctx, n: usize, expression: &str, slot: DateTime<Utc>) -> (usize, Tally) {
    let queue = Queue::new(n);
    let sink = ctx.sink.url();
    let per_worker = fan_out(ctx.concurrency, |_| {
        let (api, queue, sink) = (ctx.api.clone(), queue.clone(), sink.clone());
        let expression = expression.to_owned();
        async move {
            let (mut created, mut errors) = (0, Tally::default());
            while let Some(i) = queue.take() {
                let body = json!({
                    "workflowId": format!("b-{i}"),
                    "trigger": { "type": "cron", "expression": expression },
                    "actions": [{ "type": "http-request", "url": format!("{sink}{PREFIX}{i}"), "method": "GET" }]
                });
                match api.create(&body).await {
                    Ok(wf) if wf.next_run_at == Some(slot) => created += 1,
                    Ok(wf) => errors.add(&Failure {
                        kind: "off-slot".into(),
                        detail: format!("nextRunAt {:?}, not {slot}", wf.next_run_at),
                    }),
                    Err(f) => errors.add(&f),
                }
            }
            (created, errors)
        }
    })
    .await;
    let (mut created, mut errors) = (0, Tally::default());
    for (n, e) in per_worker {
        created += n;
        errors.merge(e);
    }
    (created, errors)
}
