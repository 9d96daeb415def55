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
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was installed already; /metrics shows none");
        }
        handle
    })
}

/// One request to the store (a SQLite statement group, a MongoDB command): the figure that
/// carries over from this machine to a production database.
/// `op` names the repository operation that made it.
pub fn count_store_round_trip(store: &'static str, op: &'static str) {
    metrics::counter!("wfa_store_round_trips_total", "store" => store, "op" => op).increment(1);
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
