//! Manual trigger acceptance: each manual workflow triggered exactly once (a workflow refuses
//! a second trigger with 409 while busy), by `concurrency` clients; 202s per second.
//! Then waits for all accepted executions to reach the sink, which also gives the rate of a
//! burst drained end to end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde::Serialize;

use super::{fan_out, manual_id, Ctx, Queue};
use crate::api::Tally;
use crate::stats::{rate, summarize, Summary};

#[derive(Debug, Clone, Serialize)]
pub struct Accept {
    pub per_sec: f64,
    pub accepted: usize,
    pub seconds: f64,
    pub concurrency: usize,
    /// Response time of one trigger (until the 202).
    pub latency: Summary,
    pub errors: Tally,
    /// Accepted executions that reached the sink before it went quiet.
    pub drained: u64,
    /// From the first trigger to the last sink call of the burst.
    pub drain_seconds: f64,
    pub drained_per_sec: f64,
}

/// Stop waiting for the burst when the sink has been quiet this long.
const QUIET: Duration = Duration::from_secs(10);

pub async fn run(ctx: &Ctx, workflows: &[usize]) -> Result<Accept> {
    let base_hits = ctx.sink.total();
    let queue = Queue::new(workflows.len());
    let workflows: Arc<[usize]> = workflows.into();
    let t0 = Instant::now();
    let per_worker = fan_out(ctx.concurrency, |_| {
        let (api, queue, workflows) = (ctx.api.clone(), queue.clone(), workflows.clone());
        async move {
            let (mut ok, mut lat, mut errors) = (0usize, Vec::new(), Tally::default());
            while let Some(n) = queue.take() {
                let t = Instant::now();
                match api.trigger(&manual_id(workflows[n])).await {
                    Ok(_) => {
                        lat.push(t.elapsed());
                        ok += 1;
                    }
                    Err(f) => errors.add(&f),
                }
            }
            (ok, lat, errors)
        }
    })
    .await;
    let elapsed = t0.elapsed();
    let (mut accepted, mut latencies, mut errors) = (0, Vec::new(), Tally::default());
    for (ok, lat, e) in per_worker {
        accepted += ok;
        latencies.extend(lat);
        errors.merge(e);
    }
    if accepted == 0 {
        bail!("no trigger was accepted: {:?}", errors);
    }

    // Nothing else calls the sink now, so its total counts this burst.
    let (mut seen, mut last_change) = (base_hits, Instant::now());
    while seen - base_hits < accepted as u64 && last_change.elapsed() < QUIET {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = ctx.sink.total();
        if now != seen {
            seen = now;
            last_change = Instant::now();
        }
    }
    let drained = seen - base_hits;
    let drain = ctx
        .sink
        .hits_with_prefix("/hit/m/")
        .iter()
        .map(|h| h.at)
        .max()
        .map_or(Duration::ZERO, |last| last.saturating_duration_since(t0));

    Ok(Accept {
        per_sec: rate(accepted as u64, elapsed),
        accepted,
        seconds: elapsed.as_secs_f64(),
        concurrency: ctx.concurrency,
        latency: summarize(&latencies),
        errors,
        drained,
        drain_seconds: drain.as_secs_f64(),
        drained_per_sec: rate(drained, drain),
    })
}
