//! `GET /metrics` (and `GET /healthz`) for the services without an API (scheduler, runner), on
//! `METRICS_ADDR`. The API serves the same from its own router; in the all-in-one process that
//! covers all three services.

use crate::telemetry;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Binds `addr` (failing start-up with the variable's name if it cannot) and serves until
/// `shutdown`.
pub async fn serve(addr: SocketAddr, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("METRICS_ADDR: cannot listen on {addr}: {e}"))?;
    tracing::info!(%addr, "metrics listening");
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(_) => continue,
                },
                _ = shutdown.cancelled() => return,
            };
            tokio::spawn(async move {
                let mut http = hyper::server::conn::http1::Builder::new();
                http.timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10));
                let service = hyper::service::service_fn(answer);
                let _ = http.serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    Ok(())
}

async fn answer(request: Request<Incoming>) -> Result<Response<String>, Infallible> {
    let (status, content_type, body) = match request.uri().path() {
        "/metrics" => (
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            telemetry::metrics().render(),
        ),
        "/healthz" => (
            StatusCode::OK,
            "application/json",
            r#"{"status":"ok"}"#.into(),
        ),
        path => (
            StatusCode::NOT_FOUND,
            "application/json",
            format!(
                r#"{{"error":"not_found","message":"There is no route {path}; try /metrics."}}"#
            ),
        ),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    Ok(response)
}
