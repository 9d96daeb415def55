//! The worker rows. `worker`: a worker long-polls its queue (in the bench, over the public
//! protocol) while one trigger at a time makes a task ready: trigger sent → the poll answers
//! with the task (dispatch latency), and → terminal after its ack. `waiting`: executions left
//! waiting on a queue nobody polls, a plain workflow's trigger → sink latency meanwhile, then
//! the time a worker takes to drain them all.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::{fan_out, Ctx};
use crate::api::{Api, Tally};
use crate::stats::{summarize, Summary};

#[derive(Debug, Clone, Serialize)]
pub struct Workers {
    /// Trigger sent → the waiting poll answered with its task.
    pub dispatch: Summary,
    /// Trigger sent → API shows the execution terminal (after the ack).
    pub to_terminal: Summary,
    /// Executions left waiting for a worker.
    pub waiting: usize,
    /// Trigger → sink of a plain workflow while they wait.
    pub plain_while_waiting: Summary,
    /// From the first poll of the late workers to the last waiting execution terminal.
    pub drain_secs: f64,
    pub errors: Tally,
}

const QUEUE: &str = "bench";
const IDLE_QUEUE: &str = "bench-idle";
const PLAIN_PATH: &str = "/hit/plain-while-waiting";

fn service(name: &str, queue: &str) -> Value {
    json!({"name": name, "queue": queue,
           "inputs": [{"name": "n", "type": "int"}], "outputs": [{"name": "n", "type": "int"}]})
}

fn worker_workflow(id: &str, service: &str) -> Value {
    json!({"workflowId": id, "trigger": {"type": "manual"},
           "actions": [{"type": "service", "service": service, "input": {"n": 1}}]})
}

fn failure(f: crate::api::Failure) -> anyhow::Error {
    anyhow!("{}: {}", f.kind, f.detail)
}

/// Polls `queue` until the run ends, acking every task; tells `seen` when each arrives.
async fn poller(
    api: Api,
    worker: String,
    queue: &'static str,
    seen: Option<mpsc::UnboundedSender<Instant>>,
) {
    let poll =
        json!({"workerId": worker, "queues": [queue], "max": 100, "wait": "20s", "lease": "30s"});
    loop {
        let Ok(answer) = api.post::<Value>("/workers/poll", &poll, 200).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let at = Instant::now();
        for task in answer["tasks"].as_array().into_iter().flatten() {
            if let Some(seen) = &seen {
                let _ = seen.send(at);
            }
            let id = task["taskId"].as_str().unwrap_or_default();
            let done = json!({"workerId": worker, "output": {"n": task["input"]["n"]}});
            let _ = api
                .post::<Value>(&format!("/tasks/{id}/complete"), &done, 200)
                .await;
        }
    }
}

async fn wait_terminal(api: &Api, execution_id: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        match api.execution(execution_id).await {
            Ok(e) if e.is_terminal() => return true,
            _ => tokio::time::sleep(Duration::from_millis(2)).await,
        }
    }
    false
}

pub async fn run(ctx: &Ctx) -> Result<Workers> {
    let api = &ctx.api;
    let mut errors = Tally::default();
    for (name, queue) in [("bench-worker", QUEUE), ("bench-idle", IDLE_QUEUE)] {
        api.post::<Value>("/services", &service(name, queue), 201)
            .await
            .map_err(failure)
            .context("registering a worker service")?;
    }

    // Dispatch latency: one worker already polling, one trigger at a time.
    api.create(&worker_workflow("worker-latency", "bench-worker"))
        .await
        .map_err(failure)?;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let polling = tokio::spawn(poller(api.clone(), "bench-w".into(), QUEUE, Some(seen_tx)));
    tokio::time::sleep(Duration::from_millis(100)).await; // The poll is waiting.
    let (mut dispatch, mut to_terminal) = (Vec::new(), Vec::new());
    for _ in 0..ctx.scale.latency_samples {
        let sent = Instant::now();
        let accepted = match api.trigger("worker-latency").await {
            Ok(a) => a,
            Err(f) => {
                errors.add(&f);
                continue;
            }
        };
        match tokio::time::timeout(Duration::from_secs(10), seen.recv()).await {
            Ok(Some(at)) => dispatch.push(at - sent),
            _ => errors.add(&crate::api::Failure {
                kind: "no-task".into(),
                detail: format!(
                    "execution {} reached no worker within 10 s",
                    accepted.execution_id
                ),
            }),
        }
        if wait_terminal(api, &accepted.execution_id, Duration::from_secs(10)).await {
            to_terminal.push(sent.elapsed());
        }
    }
    polling.abort();

    // Executions waiting with no worker: they must not slow a plain workflow.
    let waiting = ctx.scale.waiting_executions;
    let ids = fan_out(ctx.concurrency.min(16), |w| {
        let api = api.clone();
        let workers = ctx.concurrency.min(16);
        async move {
            let mut ids = Vec::new();
            for i in (w..waiting).step_by(workers) {
                let id = format!("waits-{i}");
                if api
                    .create(&worker_workflow(&id, "bench-idle"))
                    .await
                    .is_ok()
                {
                    if let Ok(a) = api.trigger(&id).await {
                        ids.push(a.execution_id);
                    }
                }
            }
            ids
        }
    })
    .await
    .concat();
    api.create(&json!({"workflowId": "plain-while-waiting", "trigger": {"type": "manual"},
                       "actions": [{"type": "http-request", "url": format!("{}{PLAIN_PATH}", ctx.sink.url())}]}))
        .await
        .map_err(failure)?;
    let mut plain = Vec::new();
    for _ in 0..ctx.scale.latency_samples {
        let heard = ctx.sink.expect(PLAIN_PATH);
        let sent = Instant::now();
        let Ok(accepted) = api.trigger("plain-while-waiting").await else {
            ctx.sink.forget(PLAIN_PATH);
            continue;
        };
        if let Ok(Ok(at)) = tokio::time::timeout(Duration::from_secs(10), heard).await {
            plain.push(at - sent);
        }
        wait_terminal(api, &accepted.execution_id, Duration::from_secs(10)).await;
    }

    // A worker appears: every waiting execution completes.
    let started = Instant::now();
    let late: Vec<_> = (0..4)
        .map(|w| tokio::spawn(poller(api.clone(), format!("late-{w}"), IDLE_QUEUE, None)))
        .collect();
    for id in &ids {
        if !wait_terminal(api, id, Duration::from_secs(120)).await {
            errors.add(&crate::api::Failure {
                kind: "not-drained".into(),
                detail: format!("waiting execution {id} did not end within 120 s"),
            });
        }
    }
    let drain_secs = started.elapsed().as_secs_f64();
    late.iter().for_each(|h| h.abort());
    Ok(Workers {
        dispatch: summarize(&dispatch),
        to_terminal: summarize(&to_terminal),
        waiting: ids.len(),
        plain_while_waiting: summarize(&plain),
        drain_secs,
        errors,
    })
}
