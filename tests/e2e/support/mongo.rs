//! A private MongoDB stand-in (nx-27017) for tests that take the store down (the shared one
//! stays up).

use super::freezable::Freezable;
use std::process::Command;

pub struct OwnMongo {
    pub process: Freezable,
    pub url: String,
}

impl OwnMongo {
    /// Starts nx-27017 (scripts/test installs it) in memory on a free port.
    pub fn start() -> OwnMongo {
        let port = super::process::free_port();
        let dir = std::env::temp_dir();
        let mut nx = Command::new("python3");
        nx.args([
            "-c",
            "import sys; from nx_27017.nx_27017 import main; sys.exit(main())",
            "--data-dir",
            "memory",
            "-p",
            &port.to_string(),
        ])
        .arg("--log-file")
        .arg(dir.join(format!("nx-27017-{port}.log")))
        .arg("--pid-file")
        .arg(dir.join(format!("nx-27017-{port}.pid")));
        let address = format!("127.0.0.1:{port}");
        OwnMongo {
            process: Freezable::start(nx, &address, "nx-27017"),
            url: format!("mongodb://{address}/wfa"),
        }
    }
}
