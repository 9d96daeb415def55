//! A dependency the test started itself (a broker, a store), listening on a port, that the test
//! can freeze and thaw to simulate an outage; killed when dropped.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Freezable {
    child: Child,
}

impl Freezable {
    /// Starts `command` and waits until it accepts connections on `address`.
    pub fn start(mut command: Command, address: &str, what: &str) -> Freezable {
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what} (scripts/test installs it): {e}"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(address).is_err() {
            assert!(
                Instant::now() < deadline,
                "{what} did not listen on {address}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Freezable { child }
    }

    /// Freezes it: connections hang, nothing is answered, nothing is forgotten.
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

impl Drop for Freezable {
    fn drop(&mut self) {
        self.resume();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
