//! A private MongoDB stand-in (nx-27017) for tests that take the store down (the shared one
//! stays up).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct OwnMongo {
    child: Child,
    pub url: String,
}

impl OwnMongo {
    /// Starts nx-27017 (scripts/test installs it) in memory on a free port.
    pub fn start() -> OwnMongo {
        let port = super::process::free_port();
        let dir = std::env::temp_dir();
        let child = Command::new("python3")
            .args([
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
            .arg(dir.join(format!("nx-27017-{port}.pid")))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with nx-27017 (scripts/test installs it)");
        let address = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&address).is_err() {
            assert!(
                Instant::now() < deadline,
                "nx-27017 did not listen on {address}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        OwnMongo {
            child,
            url: format!("mongodb://{address}/wfa"),
        }
    }

    /// Freezes the server: connections hang, nothing is answered, nothing is forgotten.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, signal: i32) {
        // SAFETY: signalling our own child process.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, signal) }, 0);
    }
}

impl Drop for OwnMongo {
    fn drop(&mut self) {
        self.resume();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
