//! The machine's limit: the same reqwest client configuration and concurrency as the other
//! rows, against the same sink, with no product in between. Every other throughput figure
//! is reported as a fraction of this one.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde::Serialize;

use super::{fan_out, Ctx};
use crate::api::{Failure, Tally};
use crate::stats::{rate, summarize, Summary};

#[derive(Debug, Clone, Serialize)]
pub struct Limit {
    pub requests_per_sec: f64,
    pub requests: u64,
    pub seconds: f64,
    pub concurrency: usize,
    /// One request at a time: the floor under the latency row.
    pub sequential: Summary,
    pub errors: Tally,
}

pub async fn run(ctx: &Ctx) -> Result<Limit> {
    let url = format!("{}/limit", ctx.sink.url());

    let mut sequential = Vec::with_capacity(ctx.scale.limit_sequential);
    let mut errors = Tally::default();
    for _ in 0..ctx.scale.limit_sequential {
        let t0 = Instant::now();
        match get(&ctx.http, &url).await {
            Ok(()) => sequential.push(t0.elapsed()),
            Err(f) => errors.add(&f),
        }
    }

    let duration = ctx.scale.limit_duration;
    let t0 = Instant::now();
    let deadline = t0 + duration;
    let per_worker = fan_out(ctx.concurrency, |_| {
        let (http, url) = (ctx.http.clone(), url.clone());
        async move {
            let (mut ok, mut errors) = (0u64, Tally::default());
            while Instant::now() < deadline {
                match get(&http, &url).await {
                    Ok(()) => ok += 1,
                    Err(f) => errors.add(&f),
                }
            }
            (ok, errors)
        }
    })
    .await;
    let elapsed = t0.elapsed();
    let mut requests = 0;
    for (ok, e) in per_worker {
        requests += ok;
        errors.merge(e);
    }
    if requests == 0 {
        bail!(
            "the bare loop got no answer from the sink: {}",
            errors.brief()
        );
    }
    Ok(Limit {
        requests_per_sec: rate(requests, elapsed),
        requests,
        seconds: elapsed.as_secs_f64(),
        concurrency: ctx.concurrency,
        sequential: summarize(&sequential),
        errors,
    })
}

async fn get(http: &reqwest::Client, url: &str) -> Result<(), Failure> {
    let transport = |e: reqwest::Error| Failure {
        kind: "transport".into(),
        detail: format!("{e:#}"),
    };
    let resp = http
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(transport)?;
    let status = resp.status();
    // Read the body so the connection goes back to the pool, as for every API call.
    resp.bytes().await.map_err(transport)?;
    if status != 200 {
        return Err(Failure {
            kind: status.as_u16().to_string(),
            detail: String::new(),
        });
    }
    Ok(())
}
