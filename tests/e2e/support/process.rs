//! The product's binaries as separate processes, for crash and multi-process tests.

use super::app::{base_settings, Api};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::process::{Child, Command};

pub struct Service {
    child: Child,
    /// The API, for binaries that serve it.
    pub api: Api,
}

/// A built binary of this workspace: they sit beside the root package's `wfa`.
pub fn binary(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_wfa")).with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first (scripts/test does)",
        path.display()
    );
    path
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The settings of a test process on `dir`'s store and `transport` (already resolved).
pub fn settings(dir: &Path, transport: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut s = base_settings(dir, transport);
    s.retain(|(k, _)| k != "HTTP_ADDR");
    s.push(("HTTP_ADDR".into(), format!("127.0.0.1:{}", free_port())));
    s
}

impl Service {
    /// Starts `binary` with `settings`; its log goes to `<dir>/<name>.log`.
    pub async fn start(
        name: &str,
        settings: &[(String, String)],
        dir: &Path,
        serves_api: bool,
    ) -> Service {
        Self::start_logging_to(name, &dir.join(format!("{name}.log")), settings, serves_api).await
    }

    /// As [`Service::start`], with the log in a file of the caller's choice.
    pub async fn start_logging_to(
        name: &str,
        log: &Path,
        settings: &[(String, String)],
        serves_api: bool,
    ) -> Service {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new(binary(name))
            .envs(settings.iter().cloned())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let addr = settings
            .iter()
            .find(|(k, _)| k == "HTTP_ADDR")
            .map(|(_, v)| v.clone())
            .unwrap();
        let api = Api::new(format!("http://{addr}"));
        if serves_api {
            api.wait_ready().await;
        }
        Service { child, api }
    }

    /// SIGTERM, then the exit status.
    pub async fn terminate_and_wait(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("running") as i32;
        // SAFETY: sending a signal to our own child process.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        tokio::time::timeout(std::time::Duration::from_secs(30), self.child.wait())
            .await
            .unwrap()
            .unwrap()
    }

    /// The process's resident memory: now, and its peak so far (KiB, from /proc).
    pub fn memory_kib(&self) -> (u64, u64) {
        let pid = self.child.id().expect("running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// SIGKILL: no chance to release anything.
    pub async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }
}
