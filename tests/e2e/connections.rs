//! Connection limits: a half-sent request head and an idle connection are cut off after
//! HTTP_HEAD_TIMEOUT, and a connection over HTTP_MAX_CONNECTIONS is answered 503 at once.

use crate::support::{TestApp, Transport, SOON};
use reqwest::StatusCode;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection; what it sent before closing.
async fn until_closed(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let read = tokio::time::timeout(SOON, stream.read_to_end(&mut seen)).await;
    assert!(read.is_ok(), "the server kept the connection open");
    String::from_utf8_lossy(&seen).into_owned()
}

async fn slow_and_idle_connections_are_cut_off(transport: Transport) {
    let settings = [("HTTP_HEAD_TIMEOUT", "300ms")];
    let Some(app) = TestApp::spawn_with(transport, "slow_and_idle_connections", &settings).await
    else {
        return;
    };
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut half_sent = TcpStream::connect(&addr).await.unwrap();
    half_sent
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    let started = Instant::now();
    let answer = until_closed(&mut half_sent).await;
    assert!(!answer.contains("200 OK"), "{answer}");
    until_closed(&mut idle).await;
    println!(
        "half-sent and idle connections closed after {:?}",
        started.elapsed()
    );
    // A prompt client is unaffected.
    assert_eq!(app.get("/healthz").await.0, StatusCode::OK);
}

async fn a_connection_over_the_cap_is_answered_503(transport: Transport) {
    let settings = [("HTTP_MAX_CONNECTIONS", "3")];
    let Some(app) = TestApp::spawn_with(transport, "a_connection_over_the_cap", &settings).await
    else {
        return;
    };
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(&addr).await.unwrap());
    }
    // The held connections are accepted in turn; one more client meets the cap.
    let fresh = reqwest::Client::new();
    let deadline = Instant::now() + SOON;
    let refused = loop {
        let (status, body) = app.send(fresh.get(format!("{}/healthz", app.base))).await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            break body;
        }
        assert!(Instant::now() < deadline, "never refused: {status} {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(refused["error"], "too_many_connections", "{refused}");
    drop(held);
    let deadline = Instant::now() + SOON;
    while app.send(fresh.get(format!("{}/healthz", app.base))).await.0 != StatusCode::OK {
        assert!(Instant::now() < deadline, "the cap was not released");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

crate::on_every_transport!(
    slow_and_idle_connections_are_cut_off,
    a_connection_over_the_cap_is_answered_503
);
