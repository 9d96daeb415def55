//! Builds, starts and stops the product (`target/release/wfa`) and samples its memory.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use tempfile::TempDir;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// Runs `cargo build --release --bin wfa` in the workspace and returns the binary cargo built.
/// Cargo decides whether anything is stale; asking it for JSON finds the binary even when the
/// target directory is shared or relocated.
pub fn build(workspace: &Path) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("bench: cargo build --release --bin wfa");
    let out = std::process::Command::new(cargo)
        .current_dir(workspace)
        .args(["build", "--release", "--bin", "wfa"])
        .arg("--message-format=json-render-diagnostics")
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo build --release --bin wfa")?;
    if !out.status.success() {
        bail!("cargo build --release --bin wfa failed ({})", out.status);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "wfa")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| anyhow!("cargo built no `wfa` executable"))
}

/// A free loopback port: bind port 0, read it, release it.
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub struct Product {
    child: Child,
    pub pid: u32,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// Keeps the SQLite store alive for the run; removed on drop.
    _store: TempDir,
    peak_rss_kib: Arc<AtomicU64>,
    sampler: JoinHandle<()>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StopReport {
    /// How the process ended, e.g. "exit status: 0".
    pub exit: String,
    pub shutdown_ms: f64,
    /// True when it had already exited before we asked it to stop.
    pub died_early: bool,
}

impl Product {
    /// Starts the binary on a fresh SQLite store (or `database_url`) and a free port, and waits
    /// for `/readyz`.
    pub async fn start(
        bin: &Path,
        kafka_brokers: Option<&str>,
        database_url: Option<&str>,
        log: &Path,
    ) -> Result<Product> {
        let store = tempfile::Builder::new().prefix("wfa-bench-").tempdir()?;
        let addr = format!("127.0.0.1:{}", free_port()?);
        let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut cmd = Command::new(bin);
        let sqlite = format!("sqlite://{}", store.path().join("wfa.db").display());
        cmd.env("DATABASE_URL", database_url.unwrap_or(&sqlite))
            .env("HTTP_ADDR", &addr)
            .env("RUST_LOG", "warn")
            // The bench talks without a token on loopback; a token in the caller's env would 401.
            .env_remove("WFA_API_TOKEN")
            .env_remove("KAFKA_BROKERS")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true);
        if let Some(brokers) = kafka_brokers {
            cmd.env("KAFKA_BROKERS", brokers);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let pid = child.id().ok_or_else(|| anyhow!("wfa exited at once"))?;
        let base = format!("http://{addr}");

        let client = reqwest::Client::builder().no_proxy().build()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "wfa exited during start-up ({status}); last log lines:\n{}",
                    tail(log, 20)
                );
            }
            let ready = client
                .get(format!("{base}/readyz"))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if matches!(&ready, Ok(r) if r.status() == 200) {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "wfa not ready after 60 s (last /readyz: {ready:?}); log:\n{}",
                    tail(log, 20)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        let peak_rss_kib = Arc::new(AtomicU64::new(0));
        let sampler = tokio::spawn(sample_rss(pid, peak_rss_kib.clone()));
        Ok(Product {
            child,
            pid,
            base,
            _store: store,
            peak_rss_kib,
            sampler,
        })
    }

    /// Highest resident set seen so far, in KiB (VmHWM is the kernel's own high-water mark).
    pub fn peak_rss_kib(&self) -> u64 {
        let now = read_rss_kib(self.pid).map_or(0, |(_, hwm)| hwm);
        self.peak_rss_kib.fetch_max(now, Ordering::Relaxed).max(now)
    }

    /// Bytes of the SQLite store's files (database, WAL, shared memory) on disk; 0 on a store
    /// given by `--database-url`, which lives elsewhere.
    pub fn store_bytes(&self) -> u64 {
        std::fs::read_dir(self._store.path())
            .into_iter()
            .flatten()
            .filter_map(|entry| entry.ok()?.metadata().ok())
            .map(|meta| meta.len())
            .sum()
    }

    /// SIGTERM, then up to 30 s for a graceful exit before SIGKILL.
    pub async fn stop(mut self) -> StopReport {
        self.sampler.abort();
        if let Ok(Some(status)) = self.child.try_wait() {
            return StopReport {
                exit: status.to_string(),
                shutdown_ms: 0.0,
                died_early: true,
            };
        }
        let t0 = Instant::now();
        // SAFETY: plain kill(2) on the pid of a child we spawned and have not reaped.
        unsafe { libc::kill(self.pid as i32, libc::SIGTERM) };
        let exit = match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(Ok(status)) => status.to_string(),
            Ok(Err(e)) => format!("wait failed: {e}"),
            Err(_) => {
                let _ = self.child.kill().await;
                "did not exit within 30 s of SIGTERM; killed".to_owned()
            }
        };
        StopReport {
            exit,
            shutdown_ms: t0.elapsed().as_secs_f64() * 1e3,
            died_early: false,
        }
    }

    /// Still running? A product that died mid-run makes every later row meaningless.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

async fn sample_rss(pid: u32, peak: Arc<AtomicU64>) {
    loop {
        if let Some((rss, hwm)) = read_rss_kib(pid) {
            peak.fetch_max(rss.max(hwm), Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// (VmRSS, VmHWM) in KiB from /proc/PID/status.
fn read_rss_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// The last `n` lines of a log file, for error messages.
pub fn tail(path: &Path, n: usize) -> String {
    let Ok(f) = File::open(path) else {
        return String::new();
    };
    let lines: Vec<String> = BufReader::new(f).lines().map_while(Result::ok).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Lines of the product log at WARN or ERROR level, to surface product trouble in the report.
pub fn log_problems(path: &Path) -> (usize, Vec<String>) {
    let Ok(f) = File::open(path) else {
        return (0, Vec::new());
    };
    let bad: Vec<String> = BufReader::new(f)
        .lines()
        .map_while(Result::ok)
        .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("panicked"))
        .collect();
    let sample = bad.iter().take(5).cloned().collect();
    (bad.len(), sample)
}
