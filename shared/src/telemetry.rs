//! Logging set-up: `RUST_LOG` picks levels, `LOG_FORMAT` picks JSON or human-readable lines.
//! Metrics: one Prometheus recorder per process, rendered by `GET /metrics`.

use crate::config::LogFormat;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use tracing_subscriber::EnvFilter;

/// The process's metrics, installed on first use (tests start several services in one process:
/// they share it).
pub fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        // Histograms as buckets (Prometheus can aggregate them across processes), from 1 ms.
        let buckets = [
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            60.0,
        ];
        let recorder = PrometheusBuilder::new()
            .set_buckets(&buckets)
            .expect("constant buckets")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was installed already; /metrics shows none");
        }
        start_upkeep(handle.clone());
        handle
    })
}

/// A histogram keeps every value recorded until it is folded into its buckets, which only a
/// scrape or this upkeep does: without it, a process nobody scrapes grows by each value (the
/// embedded store's writer alone records some 20,000 a second at 100,000 workflows).
fn start_upkeep(handle: PrometheusHandle) {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(5);
    let started = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(EVERY);
            handle.run_upkeep();
        });
    if let Err(err) = started {
        tracing::warn!(%err, "cannot start the metrics upkeep thread; histograms grow until scraped");
    }
}

/// One request to the store (a SQLite statement group, a MongoDB command): the figure that
/// carries over from this machine to a production database.
/// `op` names the repository operation that made it.
pub fn count_store_round_trip(store: &'static str, op: &'static str) {
    metrics::counter!("wfa_store_round_trips_total", "store" => store, "op" => op).increment(1);
}

/// What the services count, named once (Prometheus conventions: `_total`, `_seconds`).
pub mod measure {
    use crate::domain::{ExecutionStatus, Reason};
    use std::time::Duration;

    /// A trigger or a slot recorded an execution.
    pub fn execution_accepted(r: Reason) {
        metrics::counter!("wfa_executions_accepted_total", "reason" => r.as_str()).increment(1);
    }

    /// A runner claimed an execution for an attempt.
    pub fn execution_started(r: Reason) {
        metrics::counter!("wfa_executions_started_total", "reason" => r.as_str()).increment(1);
    }

    /// An attempt ended: `retrying`, or the execution's end.
    pub fn attempt_ended(status: ExecutionStatus, r: Reason) {
        metrics::counter!("wfa_executions_finished_total", "status" => status.as_str(), "reason" => r.as_str())
            .increment(1);
    }

    pub fn action_ran(kind: &'static str, succeeded: bool, took: Duration) {
        let outcome = if succeeded { "succeeded" } else { "failed" };
        metrics::histogram!("wfa_action_duration_seconds", "type" => kind, "outcome" => outcome)
            .record(took.as_secs_f64());
    }

    /// A periodic slot's first attempt started this late: a runner began it (taken early, it
    /// waited for its time).
    pub fn slot_started(lateness: Duration) {
        metrics::histogram!("wfa_slot_lateness_seconds").record(lateness.as_secs_f64());
    }

    /// The queue depths: executions waiting to run, running, and waiting for a retry.
    pub fn live_executions(counts: crate::repo::LiveCounts) {
        for (status, n) in [
            ("queued", counts.queued),
            ("running", counts.running),
            ("retrying", counts.retrying),
        ] {
            metrics::gauge!("wfa_executions_live", "status" => status).set(n as f64);
        }
    }

    /// Slots passed over: `busy` (the previous run had not ended) or `missed` (catch-up).
    pub fn slots_skipped(why: &'static str, n: u64) {
        metrics::counter!("wfa_slots_skipped_total", "reason" => why).increment(n);
    }

    /// Retries whose time came, re-queued as their next attempt.
    pub fn retries_started(n: usize) {
        metrics::counter!("wfa_retries_total").increment(n as u64);
    }

    /// Executions whose runner stopped renewing its lease, rescued.
    pub fn leases_rescued(n: usize) {
        metrics::counter!("wfa_lease_rescues_total").increment(n as u64);
    }

    /// A worker task changed: `queued`, `leased`, `published` (on the bus), `redelivered`
    /// (published again, no result having come), `completed`,
    /// `failed`, `lapsed`, `refused` (a result that changed nothing: the task is no longer the
    /// worker's, or a result came first).
    pub fn task_event(queue: &str, event: &'static str) {
        metrics::counter!("wfa_tasks_total", "queue" => queue.to_string(), "event" => event)
            .increment(1);
    }

    /// A result on the bus that changed nothing: `duplicate` (its task ended already, the
    /// first result won), `stale` (a nack of a delivery no longer current), `unknown` (no
    /// such task), `invalid` (not a result).
    pub fn bus_result_ignored(reason: &'static str) {
        metrics::counter!("wfa_task_results_ignored_total", "reason" => reason).increment(1);
    }

    /// How long a worker's poll waited before it answered.
    pub fn poll_waited(took: Duration) {
        metrics::histogram!("wfa_worker_poll_wait_seconds").record(took.as_secs_f64());
    }

    /// One group commit of the embedded store's single writer: how long it kept the writer
    /// busy and how many writes it carried. The histogram's sum over time is the writer's
    /// utilization, the figure that says whether the embedded store is the bottleneck.
    pub fn store_commit(writes: usize, took: Duration) {
        metrics::histogram!("wfa_sqlite_commit_seconds").record(took.as_secs_f64());
        metrics::counter!("wfa_sqlite_writes_total").increment(writes as u64);
    }

    /// One write of the embedded store's writer, by repository operation: the time its
    /// statements took there. What a commit took beyond its writes is the commit's own cost
    /// (WAL frames, page cache), so the two histograms together are the writer's profile.
    pub fn store_write(op: &'static str, took: Duration) {
        metrics::histogram!("wfa_sqlite_write_seconds", "op" => op).record(took.as_secs_f64());
    }

    pub fn http_request(route: String, status: u16) {
        metrics::counter!("wfa_http_requests_total", "route" => route, "status" => status.to_string())
            .increment(1);
    }
}

pub fn init(format: &LogFormat) {
    metrics();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests starting several services in one process) keeps the first.
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}
