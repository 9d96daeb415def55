//! Trigger-to-sink latency at low load: one manual workflow, one trigger at a time; the next
//! trigger is sent only once the API reports the previous execution terminal.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::json;

use super::confirm::Verdicts;
use super::Ctx;
use crate::api::Tally;
use crate::stats::{summarize, Summary};

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Trigger sent → sink received.
    pub to_sink: Summary,
    /// Trigger sent → API first shows a terminal status (polled every 2 ms).
    pub to_terminal: Summary,
    pub errors: Tally,
    pub api: Verdicts,
}

const WORKFLOW: &str = "latency";
const PATH: &str = "/hit/latency";

pub async fn run(ctx: &Ctx) -> Result<Latency> {
    let body = json!({
        "workflowId": WORKFLOW,
        "trigger": { "type": "manual" },
        "actions": [{ "type": "http-request", "url": format!("{}{PATH}", ctx.sink.url()), "method": "GET" }]
    });
    ctx.api
        .create(&body)
        .await
        .map_err(|f| anyhow::anyhow!("{}: {}", f.kind, f.detail))
        .context("creating the latency workflow")?;

    let (mut to_sink, mut to_terminal) = (Vec::new(), Vec::new());
    let (mut errors, mut api) = (Tally::default(), Verdicts::default());
    for _ in 0..ctx.scale.latency_samples {
        let heard = ctx.sink.expect(PATH);
        let sent = Instant::now();
        let accepted = match ctx.api.trigger(WORKFLOW).await {
            Ok(a) => a,
            Err(f) => {
                ctx.sink.forget(PATH);
                errors.add(&f);
                continue;
            }
        };
        match tokio::time::timeout(Duration::from_secs(10), heard).await {
            Ok(Ok(at)) => to_sink.push(at - sent),
            _ => {
                ctx.sink.forget(PATH);
                errors.add(&crate::api::Failure {
                    kind: "no-sink-call".into(),
                    detail: format!("execution {} not heard within 10 s", accepted.execution_id),
                });
            }
        }
        // Wait for the end, so the next trigger does not meet a busy workflow.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match ctx.api.execution(&accepted.execution_id).await {
                Ok(e) if e.is_terminal() || Instant::now() > deadline => {
                    if e.is_terminal() {
                        to_terminal.push(sent.elapsed());
                    }
                    *api.statuses.entry(e.status).or_default() += 1;
                    break;
                }
                Ok(_) => tokio::time::sleep(Duration::from_millis(2)).await,
                Err(f) => {
                    api.fetch_errors.add(&f);
                    break;
                }
            }
        }
    }
    if to_sink.is_empty() {
        bail!("no trigger reached the sink: {:?}", errors);
    }
    Ok(Latency {
        to_sink: summarize(&to_sink),
        to_terminal: summarize(&to_terminal),
        errors,
        api,
    })
}
