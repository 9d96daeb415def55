//! A private tansu broker for tests that take the broker down (the shared one stays up).

use super::freezable::Freezable;
use std::process::Command;

pub struct OwnBroker {
    pub process: Freezable,
    pub address: String,
}

impl OwnBroker {
    /// Starts `tansu` from PATH (scripts/test installs it) with memory storage.
    pub fn start() -> OwnBroker {
        let port = super::process::free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let mut tansu = Command::new("tansu");
        tansu
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"]);
        let address = format!("127.0.0.1:{port}");
        OwnBroker {
            process: Freezable::start(tansu, &address, "tansu"),
            address,
        }
    }
}
