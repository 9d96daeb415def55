//! The local HTTP sink the product's `http-request` actions call.
//!
//! It records every request's path (with query) and receive instant in one Vec behind a
//! mutex held for a push only, and answers 200 "ok". A scenario that must know when one
//! particular call arrives registers a one-shot waiter for its path first, which avoids
//! waking every waiter on every hit.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Result;
use axum::extract::State;
use axum::http::Uri;
use axum::Router;
use tokio::sync::oneshot;

#[derive(Debug, Clone)]
pub struct Hit {
    pub path: String,
    pub at: Instant,
}

#[derive(Default)]
struct Inner {
    hits: Mutex<Vec<Hit>>,
    total: AtomicU64,
    waiters: Mutex<HashMap<String, oneshot::Sender<Instant>>>,
}

#[derive(Clone)]
pub struct Sink {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

impl Sink {
    /// Binds 127.0.0.1 on a free port and serves on the current runtime.
    pub async fn start() -> Result<Sink> {
        let inner = Arc::new(Inner::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = Router::new().fallback(record).with_state(inner.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("sink stopped: {e}");
            }
        });
        Ok(Sink { addr, inner })
    }

    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Resolves with the receive instant of the next request for exactly `path`.
    pub fn expect(&self, path: &str) -> oneshot::Receiver<Instant> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .waiters
            .lock()
            .unwrap()
            .insert(path.to_owned(), tx);
        rx
    }

    /// Drops a waiter whose request will not come (e.g. the trigger was refused).
    pub fn forget(&self, path: &str) {
        self.inner.waiters.lock().unwrap().remove(path);
    }

    /// Requests received so far, all paths.
    pub fn total(&self) -> u64 {
        self.inner.total.load(Ordering::Relaxed)
    }

    /// Copies of the hits whose path starts with `prefix`.
    pub fn hits_with_prefix(&self, prefix: &str) -> Vec<Hit> {
        let hits = self.inner.hits.lock().unwrap();
        hits.iter()
            .filter(|h| h.path.starts_with(prefix))
            .cloned()
            .collect()
    }
}

async fn record(State(inner): State<Arc<Inner>>, uri: Uri) -> &'static str {
    let at = Instant::now();
    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let waiter = inner.waiters.lock().unwrap().remove(&path);
    if let Some(tx) = waiter {
        let _ = tx.send(at);
    }
    inner.hits.lock().unwrap().push(Hit { path, at });
    inner.total.fetch_add(1, Ordering::Relaxed);
    "ok"
}
