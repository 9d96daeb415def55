//! `POST /workflows` throughput: manual workflows with one `http-request` to the sink,
//! created by `concurrency` clients. They are reused by the accept and e2e rows.

use std::time::Instant;

use anyhow::{bail, Result};
use serde::Serialize;
use serde_json::{json, Value};

use super::{fan_out, manual_id, manual_path, Ctx, Queue};
use crate::api::Tally;
use crate::stats::{rate, summarize, Summary};

#[derive(Debug, Clone, Serialize)]
pub struct Create {
    pub per_sec: f64,
    pub created: usize,
    pub seconds: f64,
    pub concurrency: usize,
    /// Response time of one POST.
    pub latency: Summary,
    pub errors: Tally,
}

pub fn manual_body(i: usize, sink_url: &str) -> Value {
    json!({
        "workflowId": manual_id(i),
        "trigger": { "type": "manual" },
        "actions": [{
            "type": "http-request",
            "url": format!("{sink_url}{}", manual_path(i)),
            "method": "GET"
        }]
    })
}

/// Returns the row and the indices of the workflows that exist.
pub async fn run(ctx: &Ctx) -> Result<(Create, Vec<usize>)> {
    let queue = Queue::new(ctx.scale.workflows);
    let sink_url = ctx.sink.url();
    let t0 = Instant::now();
    let per_worker = fan_out(ctx.concurrency, |_| {
        let (api, queue, sink_url) = (ctx.api.clone(), queue.clone(), sink_url.clone());
        async move {
            let (mut ok, mut lat, mut errors) = (Vec::new(), Vec::new(), Tally::default());
            while let Some(i) = queue.take() {
                let body = manual_body(i, &sink_url);
                let t = Instant::now();
                match api.create(&body).await {
                    Ok(_) => {
                        lat.push(t.elapsed());
                        ok.push(i);
                    }
                    Err(f) => errors.add(&f),
                }
            }
            (ok, lat, errors)
        }
    })
    .await;
    let elapsed = t0.elapsed();

    let (mut created, mut latencies, mut errors) = (Vec::new(), Vec::new(), Tally::default());
    for (ok, lat, e) in per_worker {
        created.extend(ok);
        latencies.extend(lat);
        errors.merge(e);
    }
    if created.is_empty() {
        bail!("no workflow could be created: {:?}", errors);
    }
    created.sort_unstable();
    let row = Create {
        per_sec: rate(created.len() as u64, elapsed),
        created: created.len(),
        seconds: elapsed.as_secs_f64(),
        concurrency: ctx.concurrency,
        latency: summarize(&latencies),
        errors,
    };
    Ok((row, created))
}
