//! Periodic tick lateness with many periodic workflows.
//!
//! Workflows get intervals drawn from 5–30 s and are created at random moments in the first
//! 5 s. Slots are anchored at creation: the first is `nextRunAt` as returned by the create
//! call (which must equal createdAt + interval), then every interval exactly. Each workflow's
//! action calls `/hit/p/<index>`, so the sink knows the workflow; a call belongs to the slot
//! at or before its arrival (a call more than one interval late would be counted as a miss
//! plus a duplicate, which the API cross-check below tells apart).
//!
//! Lateness = sink receive time − slot time, for every slot due inside the window. Afterwards
//! every workflow's executions are listed through the API and compared with the same slots.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::json;
use tokio::sync::Semaphore;

use super::cpu_use::{self, CpuUse};
use super::writer_load::{self, WriterLoad};
use super::{fan_out, Ctx, Queue};
use crate::api::{self, Api, Tally};
use crate::clock;
use crate::queue_model;
use crate::stats::{summarize_ms, Summary};

/// A call this much before its slot still counts for that slot (ms rounding of slot times).
const EARLY_TOLERANCE: TimeDelta = TimeDelta::milliseconds(250);
const PREFIX: &str = "/hit/p/";

#[derive(Debug, Clone, Serialize)]
pub struct Lateness {
    pub workflows: usize,
    pub created: usize,
    pub create_errors: Tally,
    /// When the last create returned, counted from the start of the row (planned: < 5 s).
    pub creation_seconds: f64,
    pub window_seconds: f64,
    /// Slots due inside the window, over all workflows.
    pub slots: u64,
    pub ticks_per_sec: f64,
    /// Slots due in the window's busiest whole second. The intervals' multiples coincide
    /// unevenly, so the load comes in waves well above its mean.
    pub busiest_second_slots: u64,
    /// The rate at which a FIFO server would start 99% of these slots within 20 ms
    /// (`queue_model`), against their mean `ticks_per_sec`.
    pub rate_needed_for_20ms: f64,
    /// Sink receive − slot time, first call of each slot.
    pub lateness: Summary,
    /// p99 lateness of the slots due in each 10 s of the window, in order: a backlog left by
    /// the creation phase shows in the first ones, a steady-state one in all.
    pub p99_by_10s_ms: Vec<f64>,
    pub missed: u64,
    pub duplicated: u64,
    /// Calls more than `EARLY_TOLERANCE` before the workflow's first slot.
    pub early: u64,
    /// Workflows whose `nextRunAt` was not createdAt + interval.
    pub anchor_mismatches: u64,
    /// The embedded store's writer from the end of creation to the window's end.
    pub writer: Option<WriterLoad>,
    /// The CPU spent over the same stretch as `writer`.
    pub cpu: Option<CpuUse>,
    pub api: ApiCheck,
}

/// The same slots, as the executions API records them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApiCheck {
    /// Periodic executions with scheduledFor inside the window.
    pub executions: u64,
    pub missing: u64,
    pub duplicated: u64,
    /// scheduledFor not on the workflow's anchored grid.
    pub off_grid: u64,
    pub statuses: BTreeMap<String, u64>,
    /// Executions of these workflows whose reason was not `periodic`.
    pub other_reasons: u64,
    pub fetch_errors: Tally,
    /// Where the lateness went, from the timestamps each execution records.
    pub stages: Stages,
}

/// A slot's way from due to its action: when the scheduler took it, and two steps that add up
/// to the lateness at the action's start (the sink's receive time adds the call itself).
/// Timestamps are the API's (millisecond precision).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stages {
    /// Slot → the scheduler pass that fired it began (`createdAt − scheduledFor`): negative
    /// when the slot was taken early (the product's lead).
    pub to_scheduler_pass: Summary,
    /// Slot → a runner claimed it (`startedAt − scheduledFor`): 0 when it was recorded and
    /// handed over before its time (the runner then waited for it), else how late the slot's
    /// store write, the hand-over and the claim ended.
    pub to_start: Summary,
    /// Started → its first action began (`actions[0].startedAt − startedAt`).
    pub to_action: Summary,
}

/// Samples behind [`Stages`], gathered per worker and merged.
#[derive(Default)]
struct StageSamples([Vec<f64>; 3]);

impl StageSamples {
    fn add(&mut self, e: &api::Execution, scheduled_for: DateTime<Utc>) {
        let action = e.actions.first().and_then(|a| a.started_at);
        let (Some(created), Some(started), Some(action)) = (e.created_at, e.started_at, action)
        else {
            return;
        };
        let ms = |from: DateTime<Utc>, to: DateTime<Utc>| (to - from).num_milliseconds() as f64;
        self.0[0].push(ms(scheduled_for, created));
        self.0[1].push(ms(scheduled_for, started));
        self.0[2].push(ms(started, action));
    }

    fn merge(&mut self, other: StageSamples) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            mine.extend(theirs);
        }
    }

    fn summarize(self) -> Stages {
        let [pass, start, action] = self.0;
        Stages {
            to_scheduler_pass: summarize_ms(pass),
            to_start: summarize_ms(start),
            to_action: summarize_ms(action),
        }
    }
}

/// One workflow's slot grid.
#[derive(Debug, Clone, Copy)]
struct Grid {
    first: DateTime<Utc>,
    interval: TimeDelta,
}

impl Grid {
    fn slot(&self, k: i64) -> DateTime<Utc> {
        self.first + self.interval * k as i32
    }

    /// Slots 0..n that are due at or before `end`.
    fn slots_until(&self, end: DateTime<Utc>) -> usize {
        if self.first > end {
            return 0;
        }
        ((end - self.first).num_milliseconds() / self.interval.num_milliseconds()) as usize + 1
    }

    /// The slot a call received at `at` belongs to (None: before the first slot).
    fn slot_of(&self, at: DateTime<Utc>) -> Option<usize> {
        let since = (at + EARLY_TOLERANCE - self.first).num_microseconds()?;
        (since >= 0).then(|| (since / self.interval.num_microseconds().unwrap_or(1)) as usize)
    }
}

/// `n` periodic workflows, observed over the scale's window.
pub async fn run(ctx: &Ctx, n: usize) -> Result<Lateness> {
    let window = ctx.scale.lateness_window;
    let mut rng = StdRng::seed_from_u64(20_26);
    let plan: Vec<(u64, Duration)> = (0..n)
        .map(|_| {
            (
                rng.gen_range(5..=30),
                Duration::from_millis(rng.gen_range(0..5_000)),
            )
        })
        .collect();

    let t0 = Instant::now();
    let calls_before = ctx.sink.total();
    let window_end = clock::wall(t0 + window);
    let (grids, create_errors, creation) = create_all(ctx, &plan, t0).await;
    let created = grids.iter().flatten().count();
    if created == 0 {
        bail!("no periodic workflow could be created: {:?}", create_errors);
    }
    let anchor_mismatches = grids
        .iter()
        .flatten()
        .filter(|(g, created_at)| {
            (g.first - (*created_at + g.interval)).abs() > TimeDelta::milliseconds(1)
        })
        .count() as u64;

    // Let the window pass (plus grace for late calls), reporting progress meanwhile; the
    // store's writer and the CPU are read from here to the window's end.
    let writer_from = writer_load::sample(ctx).await;
    let cpu_from = cpu_use::sample(ctx.product_pid, ctx.sink.total());
    wait_reporting(ctx, t0, t0 + window, calls_before).await;
    let writer_to = writer_load::sample(ctx).await;
    let cpu_to = cpu_use::sample(ctx.product_pid, ctx.sink.total());
    wait_reporting(
        ctx,
        t0,
        t0 + window + ctx.scale.lateness_grace,
        calls_before,
    )
    .await;
    let writer = writer_from
        .zip(writer_to)
        .and_then(|(from, to)| writer_load::between(&from, &to));
    let cpu = cpu_from
        .zip(cpu_to)
        .and_then(|(from, to)| cpu_use::between(&from, &to));

    // Sink side: calls per slot.
    let mut per_workflow: Vec<Vec<DateTime<Utc>>> = vec![Vec::new(); n];
    // Only this row's calls: an earlier lateness row used the same paths on the same sink.
    for hit in ctx
        .sink
        .hits_with_prefix(PREFIX)
        .into_iter()
        .filter(|h| h.at >= t0)
    {
        if let Some(i) = hit.path[PREFIX.len()..]
            .parse::<usize>()
            .ok()
            .filter(|i| *i < n)
        {
            per_workflow[i].push(clock::wall(hit.at));
        }
    }
    let (mut slots, mut missed, mut duplicated, mut early) = (0u64, 0u64, 0u64, 0u64);
    let mut late_ms = Vec::new();
    let mut late_by_10s: Vec<Vec<f64>> = Vec::new();
    let start = clock::wall(t0);
    let mut due_by_second = vec![0u64; window.as_secs() as usize + 1];
    let mut due_secs = Vec::new();
    for (i, (grid, _)) in grids
        .iter()
        .enumerate()
        .filter_map(|(i, g)| Some((i, (*g)?)))
    {
        let due = grid.slots_until(window_end);
        for k in 0..due {
            let since_start = grid.slot(k as i64) - start;
            due_secs.push(since_start.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6);
            let second = since_start.num_seconds().max(0) as usize;
            if let Some(count) = due_by_second.get_mut(second) {
                *count += 1;
            }
        }
        let mut calls = vec![0u32; due];
        for &at in &per_workflow[i] {
            match grid.slot_of(at) {
                None => early += 1,
                Some(k) if k < due => {
                    calls[k] += 1;
                    if calls[k] == 1 {
                        let slot = grid.slot(k as i64);
                        let late = (at - slot).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e3;
                        late_ms.push(late);
                        let tenth = ((slot - start).num_seconds().max(0) / 10) as usize;
                        if late_by_10s.len() <= tenth {
                            late_by_10s.resize_with(tenth + 1, Vec::new);
                        }
                        late_by_10s[tenth].push(late);
                    }
                }
                Some(_) => {} // a slot after the window
            }
        }
        slots += due as u64;
        missed += calls.iter().filter(|c| **c == 0).count() as u64;
        duplicated += calls
            .iter()
            .map(|c| c.saturating_sub(1) as u64)
            .sum::<u64>();
    }

    let api = check_api(ctx, &grids, window_end).await;
    Ok(Lateness {
        workflows: n,
        created,
        create_errors,
        creation_seconds: creation.as_secs_f64(),
        window_seconds: window.as_secs_f64(),
        slots,
        ticks_per_sec: slots as f64 / window.as_secs_f64(),
        busiest_second_slots: due_by_second.into_iter().max().unwrap_or(0),
        rate_needed_for_20ms: queue_model::rate_needed(due_secs, queue_model::P99_BOUND_SECS),
        lateness: summarize_ms(late_ms),
        p99_by_10s_ms: late_by_10s
            .into_iter()
            .map(|late| summarize_ms(late).p99_ms)
            .collect(),
        missed,
        duplicated,
        early,
        anchor_mismatches,
        writer,
        cpu,
        api,
    })
}

/// Sleeps until `until`, printing the row's progress every 10 s. The count is the sink's
/// counter, not its list: copying the list (400,000 calls at 100,000 workflows) held the
/// sink's lock long enough to delay the calls arriving meanwhile, and so their measured
/// lateness, more at every report.
async fn wait_reporting(ctx: &Ctx, t0: Instant, until: Instant, calls_before: u64) {
    while Instant::now() < until {
        let left = until - Instant::now();
        tokio::time::sleep(left.min(Duration::from_secs(10))).await;
        eprintln!(
            "bench: lateness {:>3.0} s, sink calls {}",
            t0.elapsed().as_secs_f64(),
            ctx.sink.total() - calls_before
        );
    }
}

pub fn periodic_id(i: usize) -> String {
    format!("p-{i}")
}

type Created = Option<(Grid, DateTime<Utc>)>;

/// Creates each planned workflow at its moment; at most `concurrency` creates in flight.
async fn create_all(
    ctx: &Ctx,
    plan: &[(u64, Duration)],
    t0: Instant,
) -> (Vec<Created>, Tally, Duration) {
    let permits = Arc::new(Semaphore::new(ctx.concurrency));
    let sink = ctx.sink.url();
    let tasks: Vec<_> = plan
        .iter()
        .enumerate()
        .map(|(i, &(interval_s, at))| {
            let (api, permits) = (ctx.api.clone(), permits.clone());
            let body = json!({
                "workflowId": periodic_id(i),
                "trigger": { "type": "periodic", "interval": format!("{interval_s}s") },
                "actions": [{ "type": "http-request", "url": format!("{sink}{PREFIX}{i}"), "method": "GET" }]
            });
            tokio::spawn(async move {
                tokio::time::sleep_until((t0 + at).into()).await;
                let _permit = permits.acquire().await.expect("semaphore never closed");
                let res = api.create(&body).await;
                (res, interval_s, Instant::now())
            })
        })
        .collect();

    let (mut grids, mut errors, mut last) = (Vec::with_capacity(plan.len()), Tally::default(), t0);
    for t in tasks {
        let (res, interval_s, done) = t.await.expect("create task panicked");
        last = last.max(done);
        grids.push(match res {
            Ok(wf) => {
                let interval = TimeDelta::seconds(interval_s as i64);
                let first = wf.next_run_at.unwrap_or(wf.created_at + interval);
                Some((Grid { first, interval }, wf.created_at))
            }
            Err(f) => {
                errors.add(&f);
                None
            }
        });
    }
    (grids, errors, last - t0)
}

/// Lists every workflow's executions and matches their scheduledFor against the grid.
async fn check_api(ctx: &Ctx, grids: &[Created], window_end: DateTime<Utc>) -> ApiCheck {
    let grids: Arc<[Created]> = grids.into();
    let queue = Queue::new(grids.len());
    let per_worker = fan_out(16, |_| {
        let (api, grids, queue): (Api, _, _) = (ctx.api.clone(), grids.clone(), queue.clone());
        async move {
            let (mut check, mut stages) = (ApiCheck::default(), StageSamples::default());
            while let Some(i) = queue.take() {
                let Some((grid, _)) = grids[i] else { continue };
                let executions = match api.executions_of(&periodic_id(i)).await {
                    Ok(e) => e,
                    Err(f) => {
                        check.fetch_errors.add(&f);
                        continue;
                    }
                };
                let due = grid.slots_until(window_end);
                let mut per_slot = vec![0u32; due];
                for e in executions {
                    if e.reason != "periodic" {
                        check.other_reasons += 1;
                        continue;
                    }
                    let Some(at) = e.scheduled_for else {
                        check.off_grid += 1;
                        continue;
                    };
                    if at > window_end {
                        continue;
                    }
                    check.executions += 1;
                    stages.add(&e, at);
                    *check.statuses.entry(e.status).or_default() += 1;
                    let offset = (at - grid.first).num_milliseconds();
                    let step = grid.interval.num_milliseconds();
                    let k = (offset as f64 / step as f64).round() as i64;
                    if k < 0 || (offset - k * step).abs() > 1 || k as usize >= due {
                        check.off_grid += 1;
                    } else {
                        per_slot[k as usize] += 1;
                    }
                }
                check.missing += per_slot.iter().filter(|c| **c == 0).count() as u64;
                check.duplicated += per_slot
                    .iter()
                    .map(|c| c.saturating_sub(1) as u64)
                    .sum::<u64>();
            }
            (check, stages)
        }
    })
    .await;
    let (mut all, mut stages) = (ApiCheck::default(), StageSamples::default());
    for (c, s) in per_worker {
        stages.merge(s);
        all.executions += c.executions;
        all.missing += c.missing;
        all.duplicated += c.duplicated;
        all.off_grid += c.off_grid;
        all.other_reasons += c.other_reasons;
        for (s, n) in c.statuses {
            *all.statuses.entry(s).or_default() += n;
        }
        all.fetch_errors.merge(c.fetch_errors);
    }
    all.stages = stages.summarize();
    all
}
