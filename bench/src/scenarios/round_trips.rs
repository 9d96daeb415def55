//! Store round trips: what one accepted trigger and one one-action execution cost the store,
//! counted by the store layer itself (`wfa_store_round_trips_total{store, op}` on `/metrics`),
//! not estimated. Unlike this machine's timings, the figure carries over to a production
//! database: multiply by its round-trip time.
//!
//! Triggers run one at a time, each waiting for the execution to end, so every operation the
//! window counts belongs to them; the scheduler's and queue's background polls are counted
//! under their own operations and left out.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use serde_json::json;

use super::Ctx;
use crate::prometheus::{self, label};

#[derive(Debug, Clone, Serialize)]
pub struct RoundTrips {
    pub store: String,
    pub executions: usize,
    /// The API's share: the workflow read and `accept_trigger`.
    pub per_accepted_trigger: f64,
    /// The runner's share: claim, progress, lease renewals, finish, and a workflow read where
    /// the claim does not return the workflow from the same step.
    pub per_execution: f64,
    /// Per execution, by repository operation (work operations only).
    pub by_operation: BTreeMap<String, f64>,
}

/// Operations a trigger and its execution make; everything else is background polling (or
/// the bench's own reads of the execution).
const WORK: [&str; 6] = [
    "get_workflow",
    "accept_trigger",
    "claim",
    "save_progress",
    "renew_lease",
    "finish",
];
const WORKFLOW: &str = "round-trips";

pub async fn run(ctx: &Ctx) -> Result<RoundTrips> {
    let n = ctx.scale.latency_samples;
    let body = json!({
        "workflowId": WORKFLOW,
        "trigger": { "type": "manual" },
        "actions": [{ "type": "http-request", "url": format!("{}/hit/round-trips", ctx.sink.url()) }]
    });
    ctx.api
        .create(&body)
        .await
        .map_err(|f| anyhow!("{}: {}", f.kind, f.detail))
        .context("creating the round-trips workflow")?;
    let (store, before) = counts(ctx).await?;
    for _ in 0..n {
        let accepted = ctx
            .api
            .trigger(WORKFLOW)
            .await
            .map_err(|f| anyhow!("trigger: {}: {}", f.kind, f.detail))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let e = ctx.api.execution(&accepted.execution_id).await;
            if matches!(&e, Ok(e) if e.is_terminal()) {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "execution {} did not end within 10 s",
                    accepted.execution_id
                );
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let (_, after) = counts(ctx).await?;
    let per = |op: &str| {
        (after.get(op).copied().unwrap_or(0.0) - before.get(op).copied().unwrap_or(0.0)) / n as f64
    };
    // The API reads the workflow once, to build the execution; a read beyond that is the
    // runner's (a store whose claim does not read it in the same step reads it separately).
    let api_read = per("get_workflow").min(1.0);
    let per_accepted_trigger = api_read + per("accept_trigger");
    let runner: f64 = ["claim", "save_progress", "renew_lease", "finish"]
        .iter()
        .map(|op| per(op))
        .sum();
    Ok(RoundTrips {
        store,
        executions: n,
        per_accepted_trigger,
        per_execution: per("get_workflow") - api_read + runner,
        by_operation: WORK
            .iter()
            .map(|op| (op.to_string(), per(op)))
            .filter(|(_, v)| *v > 0.0)
            .collect(),
    })
}

/// The store's name and its round trips by operation, as `/metrics` shows them now.
async fn counts(ctx: &Ctx) -> Result<(String, BTreeMap<String, f64>)> {
    let text = ctx
        .api
        .metrics()
        .await
        .map_err(|f| anyhow!("/metrics: {}: {}", f.kind, f.detail))?;
    let mut store = String::new();
    let mut by_op = BTreeMap::new();
    for (labels, value) in prometheus::labelled(&text, "wfa_store_round_trips_total") {
        if let (Some(s), Some(op)) = (label(labels, "store"), label(labels, "op")) {
            store = s.to_string();
            *by_op.entry(op.to_string()).or_insert(0.0) += value;
        }
    }
    Ok((store, by_op))
}
