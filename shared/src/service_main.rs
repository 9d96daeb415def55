//! What every binary's `main` does: `--help`, configuration (one clear line and a non-zero exit
//! when a value is bad), logging, and shutdown on SIGTERM or Ctrl-C.

use crate::{telemetry, Config};
use std::future::Future;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

pub async fn run<F, Fut>(program: &str, service: F) -> ExitCode
where
    F: FnOnce(Config) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        print!("{}", Config::help(program));
        return ExitCode::SUCCESS;
    }
    let config = match Config::load() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{program}: {err}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&config.log_format);
    match service(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{program}: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// A token cancelled once `shutdown` completes: how a service hands one shutdown to its parts.
pub fn cancel_on(shutdown: impl Future<Output = ()> + Send + 'static) -> CancellationToken {
    let token = CancellationToken::new();
    let stop = token.clone();
    tokio::spawn(async move {
        shutdown.await;
        stop.cancel();
    });
    token
}

/// Completes on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler installs");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown requested");
}
