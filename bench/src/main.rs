//! Benchmark harness for the Workflow Automation System.
//!
//! Starts the release `wfa` binary on a temporary SQLite store, or the store `--database-url`
//! names (optionally with Kafka),
//! drives it only through its public HTTP API, observes its outgoing calls at a local sink,
//! and prints one table (also written as JSON). See bench/README.md.

mod api;
mod args;
mod clock;
mod kafka;
mod machine;
mod product;
mod prometheus;
mod queue_model;
mod report;
mod scenarios;
mod sink;
mod stats;

use std::future::Future;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::args::{Args, Transport};
use crate::kafka::Broker;
use crate::machine::Machine;
use crate::product::Product;
use crate::report::{ManyPeriodic, Results};
use crate::scenarios::{
    accept, burst, create, dashboard, e2e, kafka_limit, latency, lateness, limit, open_loop,
    round_trips, steps, workers, Ctx,
};
use crate::sink::Sink;

fn main() -> ExitCode {
    match real_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<()> {
    let args = args::parse()?;
    clock::init();
    let workspace = args::bench_dir()
        .parent()
        .context("bench/ has a parent")?
        .to_path_buf();
    let machine = machine::describe(&workspace);
    let wfa = match &args.wfa {
        Some(p) => p.clone(),
        None => product::build(&workspace)?,
    };
    // Few threads on purpose: the bench shares the machine with the product it measures.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()?;
    let results = rt.block_on(run(&args, machine, &wfa))?;
    report::print(&results);
    report::write_json(&results, &args.out)?;
    println!("results written to {}", args.out.display());
    Ok(())
}

async fn run(args: &Args, machine: Machine, wfa: &Path) -> Result<Results> {
    let broker = match (args.transport, &args.kafka_brokers) {
        (Transport::Kafka, None) => {
            Some(Broker::start(std::env::temp_dir().join("tansu-bench.log")).await?)
        }
        _ => None,
    };
    let brokers = args
        .kafka_brokers
        .clone()
        .or_else(|| broker.as_ref().map(|b| b.addr.clone()));

    let sink = Sink::start().await?;
    let transport = match args.transport {
        Transport::Embedded => "embedded",
        Transport::Kafka => "kafka",
    };
    let log = std::env::temp_dir().join(format!("wfa-bench-{transport}.log"));
    let mut product =
        Product::start(wfa, brokers.as_deref(), args.database_url.as_deref(), &log).await?;
    eprintln!(
        "bench: wfa pid {} at {}, sink at {}, kafka {}",
        product.pid,
        product.base,
        sink.url(),
        brokers.as_deref().unwrap_or("off")
    );

    let http = api::http_client(args.concurrency);
    let ctx = Ctx {
        api: api::Api::new(http.clone(), product.base.clone()),
        http,
        sink,
        concurrency: args.concurrency,
        scale: args.scale.clone(),
        product_pid: product.pid,
    };
    let mut errors = Vec::new();
    let limit = step("limit", &mut errors, &mut product, limit::run(&ctx)).await;
    let open_seconds = ctx.scale.open_loop_duration.as_secs_f64();
    let kafka_limit = match &brokers {
        Some(brokers) => {
            let scenario = kafka_limit::run(
                brokers,
                ctx.scale.latency_samples,
                ctx.scale.in_flight(ctx.scale.workflows),
                open_seconds,
            );
            step("kafka limit", &mut errors, &mut product, scenario).await
        }
        None => None,
    };
    let (create, manual) = step("create", &mut errors, &mut product, create::run(&ctx))
        .await
        .map_or((None, Vec::new()), |(row, ids)| (Some(row), ids));
    let accept = step(
        "accept",
        &mut errors,
        &mut product,
        accept::run(&ctx, &manual),
    )
    .await;
    let latency = step("latency", &mut errors, &mut product, latency::run(&ctx)).await;
    let round_trips = step(
        "round trips",
        &mut errors,
        &mut product,
        round_trips::run(&ctx),
    )
    .await;
    let e2e = step("e2e", &mut errors, &mut product, e2e::run(&ctx, &manual)).await;
    // Open loop at half the rate the closed loop just sustained (unless --open-rate fixes
    // it), and at a fixed 1,000/s.
    let first_rate = match ctx.scale.open_loop_rate {
        Some(rate) => rate as f64,
        None => e2e.as_ref().map_or(1000.0, |e| (e.per_sec / 2.0).round()),
    };
    let mut open_loop = Vec::new();
    for rate in [first_rate, 1000.0] {
        let name = format!("open loop {rate}/s");
        let scenario = open_loop::run(&ctx, rate, open_seconds, manual.len());
        if let Some(row) = step(&name, &mut errors, &mut product, scenario).await {
            open_loop.push(row);
        }
    }
    let steps = step("steps", &mut errors, &mut product, steps::run(&ctx)).await;
    let workers = step("workers", &mut errors, &mut product, workers::run(&ctx)).await;
    let dashboard = step(
        "dashboard",
        &mut errors,
        &mut product,
        dashboard::run(&ctx, ctx.scale.dashboard_samples),
    )
    .await;
    let burst = step(
        "burst",
        &mut errors,
        &mut product,
        burst::run(&ctx, ctx.scale.burst_workflows),
    )
    .await;
    // Last: its thousands of periodic workflows keep ticking until the product stops.
    let periodic = ctx.scale.periodic_workflows;
    let lateness = step(
        "lateness",
        &mut errors,
        &mut product,
        lateness::run(&ctx, periodic),
    )
    .await;

    let peak_rss_kib = product.peak_rss_kib();
    let stop = product.stop().await;

    let many_log = std::env::temp_dir().join(format!("wfa-bench-{transport}-many.log"));
    let product_many = (wfa, brokers.as_deref(), many_log.as_path());
    let many_periodic = many_periodic(args, ctx, product_many, &mut errors).await;
    if let Some(b) = broker {
        b.stop().await;
    }
    let (problems, examples) = product::log_problems(&log);
    Ok(Results {
        machine,
        transport: args.transport,
        kafka_brokers: brokers,
        store: args
            .database_url
            .as_deref()
            .and_then(|u| u.split_once("://"))
            .map_or("sqlite".into(), |(scheme, _)| scheme.to_string()),
        quick: args.quick,
        concurrency: args.concurrency,
        bench_threads: args.threads,
        scale: args.scale.clone(),
        wfa: wfa.display().to_string(),
        limit,
        kafka_limit,
        create,
        accept,
        latency,
        e2e,
        open_loop,
        burst,
        lateness,
        many_periodic,
        round_trips,
        steps,
        workers,
        dashboard,
        peak_rss_kib,
        stop: Some(stop),
        product_log: log.display().to_string(),
        product_log_problems: problems,
        product_log_examples: examples,
        errors,
    })
}

/// The lateness row again with many periodic workflows, on a product and store of their own:
/// the first row's workflows would otherwise keep ticking under it.
/// `product`: the binary, the brokers and the log file it runs with.
async fn many_periodic(
    args: &Args,
    ctx: Ctx,
    (wfa, brokers, log): (&Path, Option<&str>, &Path),
    errors: &mut Vec<String>,
) -> Option<ManyPeriodic> {
    let many = ctx.scale.many_periodic_workflows;
    let name = format!("lateness {many}");
    if !args::selected(&name) {
        return None;
    }
    let mut fresh = match Product::start(wfa, brokers, args.database_url.as_deref(), log).await {
        Ok(fresh) => fresh,
        Err(e) => {
            errors.push(format!("{name}: {e:#}"));
            return None;
        }
    };
    let ctx = Ctx {
        api: api::Api::new(ctx.http.clone(), fresh.base.clone()),
        product_pid: fresh.pid,
        ..ctx
    };
    let row = step(&name, errors, &mut fresh, lateness::run(&ctx, many)).await;
    let (peak_rss_kib, store_bytes) = (fresh.peak_rss_kib(), fresh.store_bytes());
    fresh.stop().await;
    Some(ManyPeriodic {
        lateness: row?,
        peak_rss_kib,
        store_bytes,
    })
}

/// Runs one scenario, turning its failure into a line of the report instead of ending the
/// run; skips it when the product has died, since nothing it measured would mean anything.
async fn step<T>(
    name: &str,
    errors: &mut Vec<String>,
    product: &mut Product,
    scenario: impl Future<Output = Result<T>>,
) -> Option<T> {
    if !args::selected(name) {
        return None;
    }
    if !product.alive() {
        errors.push(format!("{name}: skipped, wfa is no longer running"));
        return None;
    }
    eprintln!("bench: {name} …");
    let t0 = std::time::Instant::now();
    let out = scenario.await;
    eprintln!("bench: {name} done in {:.1} s", t0.elapsed().as_secs_f64());
    out.map_err(|e| errors.push(format!("{name}: {e:#}"))).ok()
}
