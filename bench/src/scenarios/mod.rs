//! One file per row of the report. Each scenario talks to the product only through `Api`
//! and observes the product's outgoing calls only through the `Sink`.

pub mod accept;
pub mod burst;
pub mod confirm;
pub mod cpu_use;
pub mod create;
pub mod dashboard;
pub mod e2e;
pub mod kafka_limit;
pub mod latency;
pub mod lateness;
pub mod limit;
pub mod open_loop;
pub mod round_trips;
pub mod steps;
pub mod workers;
pub mod writer_load;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::api::Api;
use crate::args::Scale;
use crate::sink::Sink;

pub struct Ctx {
    pub api: Api,
    /// Same configuration as the API client; used bare against the sink for the limit row.
    pub http: reqwest::Client,
    pub sink: Sink,
    pub concurrency: usize,
    pub scale: Scale,
    /// The product's process, whose CPU time some rows read.
    pub product_pid: u32,
}

/// Id of the i-th manual workflow (created by `create`, reused by `accept` and `e2e`).
pub fn manual_id(i: usize) -> String {
    format!("m-{i}")
}

/// Sink path the i-th manual workflow calls.
pub fn manual_path(i: usize) -> String {
    format!("/hit/m/{i}")
}

/// Runs `workers` copies of `work(worker_index)` concurrently and collects their results.
pub async fn fan_out<T, F, Fut>(workers: usize, work: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let handles: Vec<_> = (0..workers).map(|w| tokio::spawn(work(w))).collect();
    let mut out = Vec::with_capacity(workers);
    for h in handles {
        out.push(h.await.expect("bench worker panicked"));
    }
    out
}

/// A shared work counter: each call hands out the next index below `n`, then `None`.
#[derive(Clone)]
pub struct Queue {
    next: Arc<AtomicUsize>,
    n: usize,
}

impl Queue {
    pub fn new(n: usize) -> Queue {
        Queue {
            next: Arc::new(AtomicUsize::new(0)),
            n,
        }
    }

    pub fn take(&self) -> Option<usize> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        (i < self.n).then_some(i)
    }
}
