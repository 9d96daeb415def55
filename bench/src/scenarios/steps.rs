//! The cost of steps. Three shapes, each driven the same way in the same run: a one-action
//! workflow, a 5-step DAG (a root, two parallel branches, a join, a last step) and a 100-item
//! fan-out (concurrency 10) followed by one step. `workers` workflows of each shape are
//! triggered in a closed loop (a workflow again once its last call reached the sink). Every
//! step and item calls the sink, so the calls per second compare with the bare loop's limit,
//! and the time a DAG's execution takes beyond the one-action one, divided by its extra steps,
//! is the scheduling overhead per step.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use serde::Serialize;
use serde_json::{json, Value};

use super::{fan_out, Ctx, Queue};
use crate::api::{Failure, Tally};
use crate::stats::{rate, summarize, Summary};

#[derive(Debug, Clone, Serialize)]
pub struct Steps {
    pub one_action: Shape,
    pub dag: Shape,
    pub fan_out: Shape,
    /// (DAG p50 − one-action p50) / its 4 extra steps.
    pub overhead_per_dag_step_ms: f64,
    /// (fan-out p50 − one-action p50) / its 100 items, at concurrency 10.
    pub overhead_per_item_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Shape {
    pub executions: usize,
    pub per_sec: f64,
    /// Sink calls per execution.
    pub calls_each: usize,
    pub calls_per_sec: f64,
    /// Trigger sent → last call received.
    pub latency: Summary,
    pub seconds: f64,
    pub errors: Tally,
}

const LOST_AFTER: Duration = Duration::from_secs(30);
const FAN_ITEMS: usize = 100;

pub async fn run(ctx: &Ctx) -> Result<Steps> {
    let workers = ctx.scale.steps_workers;
    let executions = ctx.scale.steps_executions;
    let one_action = shape(ctx, "one", workers, executions, 1).await?;
    let dag = shape(ctx, "dag", workers, executions, 5).await?;
    let fan = shape(ctx, "fan", workers, executions / 5, FAN_ITEMS + 1).await?;
    Ok(Steps {
        overhead_per_dag_step_ms: (dag.latency.p50_ms - one_action.latency.p50_ms) / 4.0,
        overhead_per_item_ms: (fan.latency.p50_ms - one_action.latency.p50_ms) / FAN_ITEMS as f64,
        one_action,
        dag,
        fan_out: fan,
    })
}

/// The definition of worker `i`'s workflow of `kind`; its last call goes to `done_path`.
fn definition(ctx: &Ctx, kind: &str, i: usize) -> Value {
    let base = format!("{}/hit/steps/{kind}/{i}", ctx.sink.url());
    let call = |id: &str, depends: Value| json!({"id": id, "type": "http-request", "url": format!("{base}/{id}"), "depends": depends});
    let actions = match kind {
        "one" => json!([{"type": "http-request", "url": format!("{base}/done")}]),
        "dag" => json!([
            call("a", json!([])),
            call("b", json!(["a"])),
            call("c", json!(["a"])),
            call("d", json!(["b", "c"])),
            call("done", json!(["d"]))
        ]),
        _ => json!([
            {"id": "items", "type": "http-request", "url": format!("{base}/item/{{{{ item }}}}"),
             "forEach": {"items": format!("range({FAN_ITEMS})"), "concurrency": 10}},
            {"id": "done", "type": "http-request", "url": format!("{base}/done")}
        ]),
    };
    json!({"workflowId": format!("steps-{kind}-{i}"), "trigger": {"type": "manual"}, "actions": actions})
}

async fn shape(
    ctx: &Ctx,
    kind: &'static str,
    workers: usize,
    executions: usize,
    calls_each: usize,
) -> Result<Shape> {
    for i in 0..workers {
        ctx.api
            .create(&definition(ctx, kind, i))
            .await
            .map_err(|f| anyhow!("{}: {}", f.kind, f.detail))
            .with_context(|| format!("creating the {kind} workflows"))?;
    }
    let queue = Queue::new(executions);
    let t0 = Instant::now();
    let results = fan_out(workers, |i| {
        let (api, sink, queue) = (ctx.api.clone(), ctx.sink.clone(), queue.clone());
        async move {
            let (id, done) = (
                format!("steps-{kind}-{i}"),
                format!("/hit/steps/{kind}/{i}/done"),
            );
            let (mut latencies, mut errors) = (Vec::new(), Tally::default());
            while queue.take().is_some() {
                loop {
                    let heard = sink.expect(&done);
                    let sent = Instant::now();
                    match api.trigger(&id).await {
                        Ok(_) => {
                            match tokio::time::timeout(LOST_AFTER, heard).await {
                                Ok(Ok(at)) => latencies.push(at - sent),
                                _ => errors.add(&Failure {
                                    kind: "lost".into(),
                                    detail: format!("{id}: last call not heard"),
                                }),
                            }
                            break;
                        }
                        // The previous execution is still recording its end.
                        Err(f) if f.is_status(409) => {
                            sink.forget(&done);
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                        Err(f) => {
                            sink.forget(&done);
                            errors.add(&f);
                            break;
                        }
                    }
                }
            }
            (latencies, errors)
        }
    })
    .await;
    let seconds = t0.elapsed();
    let (mut latencies, mut errors) = (Vec::new(), Tally::default());
    for (l, e) in results {
        latencies.extend(l);
        errors.merge(e);
    }
    let done = latencies.len();
    Ok(Shape {
        executions: done,
        per_sec: rate(done as u64, seconds),
        calls_each,
        calls_per_sec: rate((done * calls_each) as u64, seconds),
        latency: summarize(&latencies),
        seconds: seconds.as_secs_f64(),
        errors,
    })
}
