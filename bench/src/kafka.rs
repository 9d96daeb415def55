//! Starts a throw-away in-memory `tansu` broker for `--transport kafka`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::process::{Child, Command};

use crate::product::{free_port, tail};

pub struct Broker {
    child: Child,
    /// `127.0.0.1:PORT`, the value for KAFKA_BROKERS.
    pub addr: String,
}

impl Broker {
    pub async fn start(log: PathBuf) -> Result<Broker> {
        let port = free_port()?;
        let addr = format!("127.0.0.1:{port}");
        let url = format!("tcp://{addr}");
        let out = std::fs::File::create(&log)?;
        let mut child = Command::new(tansu_bin())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .context("starting tansu (cargo install tansu, or pass --kafka-brokers)")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(&addr).await.is_err() {
            if let Some(status) = child.try_wait()? {
                bail!("tansu exited ({status}):\n{}", tail(&log, 20));
            }
            if Instant::now() > deadline {
                bail!(
                    "tansu not listening on {addr} after 30 s:\n{}",
                    tail(&log, 20)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Broker { child, addr })
    }

    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) on our own, not yet reaped child.
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        }
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// `tansu` on PATH, else where `cargo install` puts it.
fn tansu_bin() -> PathBuf {
    let installed = std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cargo/bin/tansu"))
        .filter(|p| p.exists());
    installed.unwrap_or_else(|| PathBuf::from("tansu"))
}
