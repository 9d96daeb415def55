//! Open-loop latency: triggers sent on a fixed schedule, whatever the product answers, at half
//! the throughput the `e2e` row measured in the same run and at a fixed 1,000/s. The closed
//! loop's latency under load is queueing by construction; this row says what a trigger costs
//! at a rate the product sustains. Each trigger goes to the next of the `create` row's manual
//! workflows in turn (so one is never triggered while its last execution runs), and is timed
//! from the moment it is sent to the sink's call, and, for every tenth, to the moment the API
//! first shows it terminal (polled every millisecond; the others are not polled, so the polling
//! adds little load).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde::Serialize;
use tokio::sync::Mutex;

use super::{manual_id, manual_path, Ctx};
use crate::api::Tally;
use crate::stats::{summarize, Summary};

/// Every n-th trigger is also followed to its terminal status in the API.
pub const TERMINAL_SAMPLE: usize = 10;

#[derive(Debug, Clone, Serialize)]
pub struct OpenLoop {
    /// Triggers per second asked for, and what the schedule achieved.
    pub rate: f64,
    pub achieved_rate: f64,
    pub seconds: f64,
    pub sent: usize,
    /// Trigger sent → sink received.
    pub to_sink: Summary,
    /// Trigger sent → API shows it terminal (every tenth trigger).
    pub to_terminal: Summary,
    /// Triggers refused because the workflow was still busy (an execution slower than a
    /// round of all the workflows).
    pub refused_busy: u64,
    pub errors: Tally,
}

/// Sends `rate` triggers a second for `seconds` over `workflows` manual workflows.
pub async fn run(ctx: &Ctx, rate: f64, seconds: f64, workflows: usize) -> Result<OpenLoop> {
    if workflows == 0 || rate <= 0.0 {
        bail!("no workflows to trigger (the create row failed?)");
    }
    let total = (rate * seconds).round() as usize;
    let to_sink = Arc::new(Mutex::new(Vec::with_capacity(total)));
    let to_terminal = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(Mutex::new(Tally::default()));
    let busy = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for k in 0..total {
        // The schedule, not the answers, decides when each trigger goes.
        let due = start + Duration::from_secs_f64(k as f64 / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        let i = k % workflows;
        let (api, sink) = (ctx.api.clone(), ctx.sink.clone());
        let (to_sink, to_terminal, errors, busy) = (
            to_sink.clone(),
            to_terminal.clone(),
            errors.clone(),
            busy.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let path = manual_path(i);
            let heard = sink.expect(&path);
            let sent = Instant::now();
            let accepted = match api.trigger(&manual_id(i)).await {
                Ok(a) => a,
                Err(f) => {
                    sink.forget(&path);
                    if f.is_status(409) {
                        busy.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    } else {
                        errors.lock().await.add(&f);
                    }
                    return;
                }
            };
            match tokio::time::timeout(Duration::from_secs(10), heard).await {
                Ok(Ok(at)) => to_sink.lock().await.push(at - sent),
                _ => {
                    sink.forget(&path);
                    errors.lock().await.add(&crate::api::Failure {
                        kind: "no-sink-call".into(),
                        detail: format!(
                            "execution {} not heard within 10 s",
                            accepted.execution_id
                        ),
                    });
                    return;
                }
            }
            if k % TERMINAL_SAMPLE != 0 {
                return;
            }
            let deadline = sent + Duration::from_secs(10);
            while Instant::now() < deadline {
                match api.execution(&accepted.execution_id).await {
                    Ok(e) if e.is_terminal() => {
                        to_terminal.lock().await.push(sent.elapsed());
                        return;
                    }
                    Ok(_) => tokio::time::sleep(Duration::from_millis(1)).await,
                    Err(f) => {
                        errors.lock().await.add(&f);
                        return;
                    }
                }
            }
        }));
    }
    let sending = start.elapsed();
    for task in tasks {
        let _ = task.await;
    }
    let to_sink = to_sink.lock().await;
    if to_sink.is_empty() {
        bail!("no trigger reached the sink");
    }
    let errors = errors.lock().await.clone();
    let to_terminal = to_terminal.lock().await;
    Ok(OpenLoop {
        rate,
        achieved_rate: total as f64 / sending.as_secs_f64().max(1e-9),
        seconds,
        sent: total,
        to_sink: summarize(&to_sink),
        to_terminal: summarize(&to_terminal),
        refused_busy: busy.load(std::sync::atomic::Ordering::Relaxed),
        errors,
    })
}
