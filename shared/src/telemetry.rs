//! Logging set-up: `RUST_LOG` picks levels, `LOG_FORMAT` picks JSON or human-readable lines.

use crate::config::LogFormat;
use tracing_subscriber::EnvFilter;

pub fn init(format: &LogFormat) {
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
