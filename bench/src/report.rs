//! The printed table and the JSON file. Figures only: the bench never judges them.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::args::{Scale, Transport};
use crate::machine::Machine;
use crate::product::StopReport;
use crate::scenarios::{
    accept::Accept,
    burst::Burst,
    cpu_use::CpuUse,
    create::Create,
    dashboard::Dashboard,
    e2e::E2e,
    kafka_limit::KafkaLimit,
    latency::Latency,
    lateness::{Lateness, Stages},
    limit::Limit,
    open_loop::OpenLoop,
    round_trips::RoundTrips,
    steps::Steps,
    workers::Workers,
    writer_load::WriterLoad,
};
use crate::stats::Summary;

#[derive(Debug, Serialize)]
pub struct Results {
    pub machine: Machine,
    pub transport: Transport,
    pub kafka_brokers: Option<String>,
    /// The store the product ran on (`sqlite` on a temp file unless `--database-url`).
    pub store: String,
    pub quick: bool,
    pub concurrency: usize,
    pub bench_threads: usize,
    pub scale: Scale,
    pub wfa: String,
    pub limit: Option<Limit>,
    /// A bare produce → consume round trip on the same broker (Kafka transport only).
    pub kafka_limit: Option<KafkaLimit>,
    pub create: Option<Create>,
    pub accept: Option<Accept>,
    pub latency: Option<Latency>,
    pub e2e: Option<E2e>,
    /// At half the `e2e` rate, then at 1,000/s.
    pub open_loop: Vec<OpenLoop>,
    /// Cron workflows all due in one second: the periodic path's own capacity.
    pub burst: Option<Burst>,
    pub lateness: Option<Lateness>,
    /// The lateness row again at `many_periodic_workflows`, on a fresh product.
    pub many_periodic: Option<ManyPeriodic>,
    pub round_trips: Option<RoundTrips>,
    pub steps: Option<Steps>,
    pub workers: Option<Workers>,
    pub dashboard: Option<Dashboard>,
    pub peak_rss_kib: u64,
    pub stop: Option<StopReport>,
    pub product_log: String,
    /// WARN/ERROR/panic lines in the product's log, and the first few of them.
    pub product_log_problems: usize,
    pub product_log_examples: Vec<String>,
    /// Scenarios that could not produce their row, and why.
    pub errors: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ManyPeriodic {
    pub lateness: Lateness,
    /// VmHWM of that product.
    pub peak_rss_kib: u64,
    /// Its SQLite files on disk at the end (0 on a store elsewhere).
    pub store_bytes: u64,
}

pub fn write_json(results: &Results, out: &Path) -> Result<()> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let json = serde_json::to_string_pretty(results)?;
    std::fs::write(out, json + "\n").with_context(|| format!("writing {}", out.display()))
}

pub fn print(r: &Results) {
    let m = &r.machine;
    println!();
    println!(
        "Workflow Automation System bench — store {}, transport {}, {} run",
        r.store,
        match r.transport {
            Transport::Embedded => "store-as-queue",
            Transport::Kafka => "kafka",
        },
        if r.quick { "quick" } else { "full" }
    );
    println!(
        "{} · {} × {} · {} RAM · Linux {} · load {} at start · rev {}",
        m.date, m.nproc, m.cpu_model, m.mem_total, m.kernel, m.loadavg, m.revision
    );
    println!(
        "client concurrency {}, bench runtime threads {}",
        r.concurrency, r.bench_threads
    );
    println!();
    println!("{:<9} {:<36} {:<9} detail", "row", "result", "vs limit");
    let limit = r.limit.as_ref().map(|l| l.requests_per_sec);
    let ratio = |x: f64| limit.map_or("-".into(), |l| format!("{:.3}", x / l));

    match &r.limit {
        Some(l) => row(
            "limit",
            format!("{} req/s", int(l.requests_per_sec)),
            "1".into(),
            format!(
                "bare reqwest GET loop → sink, c={}, {} requests in {:.1} s; one at a time {}; errors {}",
                l.concurrency,
                l.requests,
                l.seconds,
                pcts(&l.sequential),
                l.errors.brief()
            ),
        ),
        None => missing("limit"),
    }
    if let Some(k) = &r.kafka_limit {
        // The product's one-at-a-time latency over this floor.
        let over_floor = r.latency.as_ref().map_or("-".into(), |l| {
            format!("latency ×{:.1}", l.to_sink.p50_ms / k.one_at_a_time.p50_ms)
        });
        row(
            "kafka limit",
            pcts(&k.one_at_a_time),
            over_floor,
            format!(
                "bare produce (acks=all) → consume on the same broker with the product's client settings, one at a time; with {} in flight {} at {} messages/s",
                k.in_flight,
                pcts(&k.loaded),
                int(k.per_sec)
            ),
        );
    }
    match &r.create {
        Some(c) => row(
            "create",
            format!("{} workflows/s", int(c.per_sec)),
            ratio(c.per_sec),
            format!(
                "{} × POST /workflows in {:.1} s, c={}; response {}; errors {}",
                c.created,
                c.seconds,
                c.concurrency,
                pcts(&c.latency),
                c.errors.brief()
            ),
        ),
        None => missing("create"),
    }
    match &r.accept {
        Some(a) => row(
            "accept",
            format!("{} triggers/s (202)", int(a.per_sec)),
            ratio(a.per_sec),
            format!(
                "{} triggers in {:.1} s, c={}; response {}; errors {}; burst reached sink {} in {:.1} s = {}/s",
                a.accepted,
                a.seconds,
                a.concurrency,
                pcts(&a.latency),
                a.errors.brief(),
                a.drained,
                a.drain_seconds,
                int(a.drained_per_sec)
            ),
        ),
        None => missing("accept"),
    }
    match &r.e2e {
        Some(e) => row(
            "e2e",
            format!("{} executions/s", int(e.per_sec)),
            ratio(e.per_sec),
            format!(
                "{} executions in {:.1} s, {} in flight (closed loop), c={}; trigger→sink under load {}; \
                 API: {}; 409 busy {}, lost {}, errors {}, sink calls {}",
                e.completed,
                e.seconds,
                e.inflight,
                e.concurrency,
                pcts(&e.latency),
                e.api.brief(),
                e.refused_busy,
                e.lost,
                e.errors.brief(),
                e.sink_hits
            ),
        ),
        None => missing("e2e"),
    }
    let floor = r.limit.as_ref().map(|l| l.sequential.p50_ms);
    for o in &r.open_loop {
        row(
            &format!("open {}/s", int(o.rate)),
            pcts(&o.to_sink),
            floor.map_or("-".into(), |f| format!("×{:.0} p50", o.to_sink.p50_ms / f)),
            format!(
                "open loop: {} triggers on a fixed schedule over {:.0} s (achieved {}/s), trigger sent → sink received; → terminal in API {} (every {}th); 409 busy {}, errors {}",
                o.sent,
                o.seconds,
                int(o.achieved_rate),
                pcts(&o.to_terminal),
                crate::scenarios::open_loop::TERMINAL_SAMPLE,
                o.refused_busy,
                o.errors.brief()
            ),
        );
    }
    match &r.latency {
        Some(l) => {
            let floor = r.limit.as_ref().map(|l| l.sequential.p50_ms);
            row(
                "latency",
                pcts(&l.to_sink),
                floor.map_or("-".into(), |f| format!("×{:.0} p50", l.to_sink.p50_ms / f)),
                format!(
                    "{} triggers one at a time, trigger sent → sink received; → terminal in API {}; API: {}; errors {}",
                    l.to_sink.count,
                    pcts(&l.to_terminal),
                    l.api.brief(),
                    l.errors.brief()
                ),
            )
        }
        None => missing("latency"),
    }
    let e2e_per_sec = r.e2e.as_ref().map(|e| e.per_sec).filter(|&x| x > 0.0);
    match &r.burst {
        Some(b) => row(
            "burst",
            format!("{} executions/s", int(b.per_sec)),
            e2e_per_sec.map_or("-".into(), |l| format!("{:.2} e2e", b.per_sec / l)),
            format!(
                "{}/{} cron workflows all due in one second, the last called {:.2} s after it; \
                 slot → sink {}; MISSED {}, DUPLICATED {}, create errors {}",
                b.created,
                b.workflows,
                b.drain_seconds,
                pcts(&b.lateness),
                b.missed,
                b.duplicated,
                b.create_errors.brief()
            ),
        ),
        None => missing("burst"),
    }
    match &r.lateness {
        Some(t) => lateness_row("lateness", t, e2e_per_sec, String::new()),
        None => missing("lateness"),
    }
    match &r.many_periodic {
        Some(m) => lateness_row(
            &format!("lateness {}k", m.lateness.workflows / 1000),
            &m.lateness,
            e2e_per_sec,
            format!(
                "; fresh product: peak RSS {:.1} MiB, store {:.1} MiB on disk",
                m.peak_rss_kib as f64 / 1024.0,
                m.store_bytes as f64 / (1024.0 * 1024.0)
            ),
        ),
        None => missing("lateness (many)"),
    }
    match &r.round_trips {
        Some(t) => row(
            "store",
            format!(
                "{:.1} round trips/trigger, {:.1}/execution",
                t.per_accepted_trigger, t.per_execution
            ),
            "-".into(),
            format!(
                "{} one-action executions one at a time, counted by the {} store layer; by operation per execution: {}",
                t.executions,
                t.store,
                t.by_operation
                    .iter()
                    .map(|(op, n)| format!("{op} {n:.1}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        None => missing("store"),
    }
    match &r.steps {
        Some(s) => {
            let shapes = [
                ("steps 1", "one action", &s.one_action),
                (
                    "steps 5",
                    "5-step DAG (root, 2 parallel, join, last)",
                    &s.dag,
                ),
                (
                    "fan 100",
                    "100-item fan-out (concurrency 10) + 1 step",
                    &s.fan_out,
                ),
            ];
            for (name, what, shape) in shapes {
                row(
                    name,
                    format!("{} executions/s", int(shape.per_sec)),
                    ratio(shape.calls_per_sec),
                    format!(
                        "{what}: {} executions, {} workflows in a closed loop, {} calls/s to the sink (the ratio); trigger→last call {}; errors {}",
                        shape.executions,
                        r.scale.steps_workers,
                        int(shape.calls_per_sec),
                        pcts(&shape.latency),
                        shape.errors.brief()
                    ),
                );
            }
            row(
                "per step",
                format!(
                    "{} DAG step, {} item",
                    ms(s.overhead_per_dag_step_ms),
                    ms(s.overhead_per_item_ms)
                ),
                "-".into(),
                "p50 beyond the one-action execution, per extra DAG step and per fan-out item (10 at once)".into(),
            );
        }
        None => missing("steps"),
    }
    match &r.workers {
        Some(w) => {
            let plain = r.latency.as_ref().map(|l| l.to_sink.p50_ms);
            row(
                "worker",
                pcts(&w.dispatch),
                "-".into(),
                format!(
                    "{} triggers one at a time of a worker step, a worker long-polling: trigger sent → its poll answered with the task; → terminal after the ack {}; errors {}",
                    w.dispatch.count,
                    pcts(&w.to_terminal),
                    w.errors.brief()
                ),
            );
            row(
                "waiting",
                pcts(&w.plain_while_waiting),
                plain.map_or("-".into(), |p| format!("×{:.1} p50", w.plain_while_waiting.p50_ms / p)),
                format!(
                    "a plain workflow's trigger → sink while {} executions wait on a queue no worker polls (ratio: to the latency row's p50); then 4 workers drain them in {:.1} s ({} executions/s)",
                    w.waiting,
                    w.drain_secs,
                    int(w.waiting as f64 / w.drain_secs.max(1e-3))
                ),
            );
        }
        None => missing("worker"),
    }
    match &r.dashboard {
        Some(d) => {
            let browser = |s: &Option<Summary>| {
                s.as_ref().map_or("not measured".to_string(), |s| {
                    format!("p50 {}", ms(s.p50_ms))
                })
            };
            row(
                "ui list",
                pcts(&d.list_server),
                "-".into(),
                format!(
                    "GET /ui listing {} workflows with their recent results ({} KiB), whole answer; in chromium, navigation → load {}",
                    d.workflows,
                    d.list_bytes / 1024,
                    browser(&d.list_browser)
                ),
            );
            row(
                "ui fan-out",
                pcts(&d.execution_server),
                "-".into(),
                format!(
                    "GET /ui/executions/ID of a {}-item fan-out ({} KiB); in chromium {}{}",
                    d.items,
                    d.execution_bytes / 1024,
                    browser(&d.execution_browser),
                    d.browser_note
                        .as_ref()
                        .map_or(String::new(), |n| format!(" ({n})"))
                ),
            );
        }
        None => missing("dashboard"),
    }
    row(
        "rss",
        format!("{:.1} MiB peak", r.peak_rss_kib as f64 / 1024.0),
        "-".into(),
        "VmHWM of the wfa process over the whole run".into(),
    );
    if let Some(s) = &r.stop {
        row(
            "shutdown",
            format!("{:.0} ms", s.shutdown_ms),
            "-".into(),
            format!(
                "SIGTERM → {}{}",
                s.exit,
                if s.died_early {
                    " (had already exited before the end of the run)"
                } else {
                    ""
                }
            ),
        );
    }
    println!();
    println!(
        "product log: {} ({} WARN/ERROR/panic lines)",
        r.product_log, r.product_log_problems
    );
    for l in &r.product_log_examples {
        println!("  {l}");
    }
    for e in &r.errors {
        println!("error: {e}");
    }
}

/// `e2e_per_sec`: the executions a second the same run's `e2e` row sustained, the machine's
/// limit for executions; the row's slots a second are shown against it.
fn lateness_row(name: &str, t: &Lateness, e2e_per_sec: Option<f64>, extra: String) {
    row(
        name,
        pcts(&t.lateness),
        e2e_per_sec.map_or("-".into(), |l| format!("{:.2} e2e", t.ticks_per_sec / l)),
        format!(
            "{}/{} periodic workflows (5–30 s, created within {:.1} s), {} slots in {:.0} s ({:.0}/s; \
             busiest second {}{}; a FIFO queue needs {:.0}/s for p99 ≤ 20 ms{}); p99 by 10 s of slots {}; {}; MISSED {}, DUPLICATED {}, early {}, anchor mismatches {}, \
             create errors {}; API: {} executions, missing {}, duplicated {}, off-grid {}, other reasons {}, statuses {:?}, fetch errors {}{extra}",
            t.created,
            t.workflows,
            t.creation_seconds,
            t.slots,
            t.window_seconds,
            t.ticks_per_sec,
            t.busiest_second_slots,
            against_e2e(t.busiest_second_slots as f64, e2e_per_sec),
            t.rate_needed_for_20ms,
            against_e2e(t.rate_needed_for_20ms, e2e_per_sec),
            t.p99_by_10s_ms
                .iter()
                .map(|ms| format!("{ms:.0}"))
                .collect::<Vec<_>>()
                .join("/"),
            stages(&t.api.stages, t.writer.as_ref(), t.cpu.as_ref()),
            t.missed,
            t.duplicated,
            t.early,
            t.anchor_mismatches,
            t.create_errors.brief(),
            t.api.executions,
            t.api.missing,
            t.api.duplicated,
            t.api.off_grid,
            t.api.other_reasons,
            t.api.statuses,
            t.api.fetch_errors.brief()
        ),
    );
}

/// `, 1.23 e2e`: a rate against the same run's `e2e` figure, or nothing without one.
fn against_e2e(per_sec: f64, e2e_per_sec: Option<f64>) -> String {
    e2e_per_sec.map_or(String::new(), |l| format!(", {:.2} e2e", per_sec / l))
}

/// Where a lateness row's time went, p50/p99 of each step, and how busy the embedded store's
/// writer, the product and the machine were meanwhile.
fn stages(s: &Stages, writer: Option<&WriterLoad>, cpu: Option<&CpuUse>) -> String {
    let step = |x: &Summary| format!("{:.0}/{:.0}", x.p50_ms, x.p99_ms);
    let writer = writer.map_or(String::new(), |w| {
        let ops: Vec<String> = w
            .us_per_write
            .iter()
            .map(|(op, us)| format!("{op} {us:.1}"))
            .collect();
        format!(
            "; SQLite writer busy {:.0}% of the time after creation ({:.0} writes/s in {:.0} commits/s; \
             µs per write on it: {}, commit {:.1})",
            w.busy_share * 100.0,
            w.writes_per_sec,
            w.commits_per_sec,
            ops.join(", "),
            w.commit_us_per_write
        )
    });
    let cpu = cpu.map_or(String::new(), |c| {
        format!(
            "; product CPU {:.2} cores ({:.0} µs per call), machine busy {:.0}%",
            c.product_cores,
            c.product_us_per_call,
            c.machine_busy_share * 100.0
        )
    });
    format!(
        "p50/p99 ms from slot to scheduler pass {}, to start {}, start to action {}{writer}{cpu}",
        step(&s.to_scheduler_pass),
        step(&s.to_start),
        step(&s.to_action)
    )
}

fn row(name: &str, result: String, ratio: String, detail: String) {
    println!("{name:<9} {result:<36} {ratio:<9} {detail}");
}

fn missing(name: &str) {
    let why = if crate::args::filtered() {
        "left out by --only, or see errors below"
    } else {
        "see errors below"
    };
    row(name, "(not measured)".into(), "-".into(), why.into());
}

fn pcts(s: &Summary) -> String {
    format!(
        "p50 {} p99 {} max {}",
        ms(s.p50_ms),
        ms(s.p99_ms),
        ms(s.max_ms)
    )
}

fn ms(v: f64) -> String {
    if v.abs() < 10.0 {
        format!("{v:.2} ms")
    } else {
        format!("{v:.0} ms")
    }
}

/// 12345.6 → "12,346".
fn int(v: f64) -> String {
    let s = format!("{:.0}", v);
    let (sign, digits) = s.split_at(if s.starts_with('-') { 1 } else { 0 });
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    format!("{sign}{out}")
}
