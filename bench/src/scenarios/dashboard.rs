//! The dashboard row: the workflows page with 1,000 workflows (each run once, so every row has
//! its strip) and the page of one execution with a 200-item fan-out. Server time is the whole
//! answer over loopback; browser time is navigation start → load event in Debian's chromium
//! (bench/ui-load.mjs, with tests/ui's playwright-core), when it is installed here.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use serde::Serialize;
use serde_json::{json, Value};

use super::Ctx;
use crate::stats::{summarize, summarize_ms, Summary};

const WORKFLOWS: usize = 1000;
const ITEMS: usize = 200;
const PREFIX: &str = "ui-bench-";

#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    pub workflows: usize,
    /// GET /ui listing them all, whole answer.
    pub list_server: Summary,
    pub list_bytes: usize,
    pub items: usize,
    /// GET /ui/executions/{id} of the fan-out's execution.
    pub execution_server: Summary,
    pub execution_bytes: usize,
    /// Navigation start → load event, in chromium; `None` with the reason when not measured.
    pub list_browser: Option<Summary>,
    pub execution_browser: Option<Summary>,
    pub browser_note: Option<String>,
}

fn failure(f: crate::api::Failure) -> anyhow::Error {
    anyhow!("{}: {}", f.kind, f.detail)
}

pub async fn run(ctx: &Ctx, samples: usize) -> Result<Dashboard> {
    let api = &ctx.api;
    let mut last = None;
    for i in 0..WORKFLOWS {
        let id = format!("{PREFIX}{i:04}");
        let body = json!({"workflowId": id, "trigger": {"type": "manual"},
                          "actions": [{"type": "log", "message": "dashboard bench"}]});
        api.create(&body).await.map_err(failure)?;
        last = Some(api.trigger(&id).await.map_err(failure)?.execution_id);
    }
    let fan_out = json!({"workflowId": format!("{PREFIX}fan-out"), "trigger": {"type": "manual"},
        "actions": [{"id": "each", "type": "log", "message": "item {{ item }}",
                     "forEach": {"items": format!("{{{{ range({ITEMS}) | list }}}}"), "concurrency": 20, "maxItems": ITEMS}}]});
    api.create(&fan_out).await.map_err(failure)?;
    let fan_out_id = api
        .trigger(&format!("{PREFIX}fan-out"))
        .await
        .map_err(failure)?
        .execution_id;
    for id in last.iter().chain([&fan_out_id]) {
        wait_terminal(ctx, id).await?;
    }

    let list = format!("{}/ui?q={PREFIX}", ctx.api.base());
    let execution = format!("{}/ui/executions/{fan_out_id}", ctx.api.base());
    let (list_server, list_bytes) = time_gets(ctx, &list, samples).await?;
    let (execution_server, execution_bytes) = time_gets(ctx, &execution, samples).await?;
    let (list_browser, execution_browser, browser_note) =
        match browser_load(&list, &execution).await {
            Ok((l, e)) => (Some(l), Some(e), None),
            Err(e) => (None, None, Some(format!("{e:#}"))),
        };
    Ok(Dashboard {
        workflows: WORKFLOWS,
        list_server,
        list_bytes,
        items: ITEMS,
        execution_server,
        execution_bytes,
        list_browser,
        execution_browser,
        browser_note,
    })
}

async fn wait_terminal(ctx: &Ctx, execution_id: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if ctx
            .api
            .execution(execution_id)
            .await
            .is_ok_and(|e| e.is_terminal())
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(anyhow!("execution {execution_id} did not end within 120 s"))
}

/// `samples` GETs of a page, each timed to the last byte; and the page's size.
async fn time_gets(ctx: &Ctx, url: &str, samples: usize) -> Result<(Summary, usize)> {
    let mut times = Vec::with_capacity(samples);
    let mut bytes = 0;
    for _ in 0..samples {
        let t0 = Instant::now();
        let resp = ctx.http.get(url).send().await.context("GET page")?;
        let status = resp.status();
        let body = resp.bytes().await.context("reading page")?;
        times.push(t0.elapsed());
        if status != 200 {
            return Err(anyhow!("GET {url}: {status}"));
        }
        bytes = body.len();
    }
    Ok((summarize(&times), bytes))
}

/// Runs bench/ui-load.mjs on both pages.
async fn browser_load(list: &str, execution: &str) -> Result<(Summary, Summary)> {
    let script = crate::args::bench_dir().join("ui-load.mjs");
    let out = tokio::process::Command::new("node")
        .arg(&script)
        .args([list, execution])
        .output()
        .await
        .context("running node (is Node.js installed?)")?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(anyhow!(
            "{} failed (install with scripts/ui-test): {}",
            script.display(),
            err.lines().next().unwrap_or_default()
        ));
    }
    let times: Value = serde_json::from_slice(&out.stdout).context("ui-load.mjs output")?;
    let of = |url: &str| {
        summarize_ms(
            times[url]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_f64)
                .collect(),
        )
    };
    Ok((of(list), of(execution)))
}
