//! Sustained end-to-end throughput. Up to `inflight` executions are kept in flight at once
//! (a closed loop: a new trigger goes out when a sink call comes in), the trigger requests
//! themselves limited to `concurrency` at a time. Each trigger takes the manual workflow idle
//! longest, so a workflow is reused only after many others (a 409 from one still finishing
//! just moves on to the next). Completions are counted at the sink, then every execution is
//! confirmed through the API.
//!
//! In flight is separate from client concurrency because a transport with a long delivery
//! latency (e.g. a Kafka consumer's fetch wait) would otherwise cap the figure at
//! concurrency / latency instead of measuring what the product can complete.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde::Serialize;
use tokio::sync::Semaphore;

use super::confirm::{confirm, Verdicts};
use super::{manual_id, manual_path, Ctx};
use crate::api::{Api, Tally};
use crate::sink::Sink;
use crate::stats::{rate, summarize, Summary};

#[derive(Debug, Clone, Serialize)]
pub struct E2e {
    pub per_sec: f64,
    /// Executions whose call reached the sink.
    pub completed: usize,
    pub seconds: f64,
    pub inflight: usize,
    pub concurrency: usize,
    /// Trigger sent → sink received, under this load.
    pub latency: Summary,
    /// Triggers refused because the workflow was still busy (retried on another workflow).
    pub refused_busy: u64,
    /// Accepted, but the sink never heard of it within `LOST_AFTER`.
    pub lost: u64,
    pub errors: Tally,
    /// Sink calls for these workflows during the row; more than `completed` means repeats.
    pub sink_hits: u64,
    pub api: Verdicts,
}

const LOST_AFTER: Duration = Duration::from_secs(30);

/// What one execution attempt came to.
enum Outcome {
    Done {
        latency: Duration,
        at: Instant,
        execution: String,
    },
    Lost,
    Failed(crate::api::Failure),
}

struct Shared {
    api: Api,
    sink: Sink,
    /// Manual workflows, longest idle first.
    idle: Mutex<VecDeque<usize>>,
    /// Trigger requests in flight, at most `concurrency`.
    clients: Semaphore,
    refused: std::sync::atomic::AtomicU64,
}

pub async fn run(ctx: &Ctx, workflows: &[usize]) -> Result<E2e> {
    let inflight = ctx.scale.in_flight(workflows.len());
    if workflows.is_empty() {
        bail!("no manual workflows to trigger");
    }
    let shared = Arc::new(Shared {
        api: ctx.api.clone(),
        sink: ctx.sink.clone(),
        idle: Mutex::new(workflows.iter().copied().collect()),
        clients: Semaphore::new(ctx.concurrency),
        refused: Default::default(),
    });
    let slots = Arc::new(Semaphore::new(inflight));
    let base_hits = ctx.sink.total();
    let t0 = Instant::now();
    let mut tasks = Vec::with_capacity(ctx.scale.e2e_executions);
    for _ in 0..ctx.scale.e2e_executions {
        let slot = slots.clone().acquire_owned().await?;
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let outcome = one(&shared).await;
            drop(slot);
            outcome
        }));
    }

    let (mut latencies, mut executions, mut last) = (Vec::new(), Vec::new(), None);
    let (mut lost, mut errors) = (0, Tally::default());
    for t in tasks {
        match t.await? {
            Outcome::Done {
                latency,
                at,
                execution,
            } => {
                latencies.push(latency);
                executions.push(execution);
                last = last.max(Some(at));
            }
            Outcome::Lost => lost += 1,
            Outcome::Failed(f) => errors.add(&f),
        }
    }
    let completed = executions.len();
    let elapsed = last.map_or(t0.elapsed(), |last| last - t0);
    let api = confirm(&ctx.api, executions, 16, Duration::from_secs(15)).await;
    Ok(E2e {
        per_sec: rate(completed as u64, elapsed),
        completed,
        seconds: elapsed.as_secs_f64(),
        inflight,
        concurrency: ctx.concurrency,
        latency: summarize(&latencies),
        refused_busy: shared.refused.load(std::sync::atomic::Ordering::Relaxed),
        lost,
        errors,
        sink_hits: ctx.sink.total() - base_hits,
        api,
    })
}

/// Triggers the longest-idle workflow that accepts, and waits for its sink call.
async fn one(s: &Shared) -> Outcome {
    let mut refused_in_a_row = 0;
    loop {
        let i = s
            .idle
            .lock()
            .unwrap()
            .pop_front()
            .expect("more workflows than executions in flight");
        let path = manual_path(i);
        let heard = s.sink.expect(&path);
        let sent = Instant::now();
        let answer = {
            let _client = s.clients.acquire().await.expect("never closed");
            s.api.trigger(&manual_id(i)).await
        };
        match answer {
            Ok(accepted) => {
                let outcome = match tokio::time::timeout(LOST_AFTER, heard).await {
                    Ok(Ok(at)) => Outcome::Done {
                        latency: at - sent,
                        at,
                        execution: accepted.execution_id,
                    },
                    _ => {
                        s.sink.forget(&path);
                        Outcome::Lost
                    }
                };
                s.idle.lock().unwrap().push_back(i);
                return outcome;
            }
            Err(f) => {
                s.sink.forget(&path);
                s.idle.lock().unwrap().push_back(i);
                if !f.is_status(409) {
                    return Outcome::Failed(f);
                }
                s.refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                refused_in_a_row += 1;
                if refused_in_a_row >= 8 {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        }
    }
}
