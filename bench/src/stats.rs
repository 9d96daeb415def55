//! Percentiles and rates. Samples are few enough (at most ~100k) to sort a Vec.

use std::time::Duration;

use serde::Serialize;

/// Milliseconds summary of a set of durations.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub count: usize,
    pub min_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

/// Nearest-rank percentiles of signed millisecond samples (lateness can be negative).
pub fn summarize_ms(mut samples: Vec<f64>) -> Summary {
    if samples.is_empty() {
        return Summary::default();
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let rank = |p: f64| samples[nearest_rank(samples.len(), p)];
    Summary {
        count: samples.len(),
        min_ms: samples[0],
        p50_ms: rank(50.0),
        p99_ms: rank(99.0),
        max_ms: samples[samples.len() - 1],
        mean_ms: samples.iter().sum::<f64>() / samples.len() as f64,
    }
}

/// The index of the `p`th percentile (nearest rank) among `len` sorted samples, `len` > 0.
pub fn nearest_rank(len: usize, p: f64) -> usize {
    let rank = ((p / 100.0) * len as f64).ceil() as usize;
    rank.clamp(1, len) - 1
}

pub fn summarize(samples: &[Duration]) -> Summary {
    summarize_ms(samples.iter().map(|d| d.as_secs_f64() * 1e3).collect())
}

/// Events per second; zero when nothing was timed.
pub fn rate(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}
