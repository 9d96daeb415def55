//! Failpoints: named places inside a store operation where a test makes the process "crash"
//! (the operation stops there with an error, leaving what it wrote so far). Only tests arm
//! them; an unarmed failpoint costs one uncontended lock.

use super::{RepoError, RepoResult};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct Failpoints {
    armed: Arc<Mutex<HashSet<&'static str>>>,
}

impl Failpoints {
    /// Makes the next pass through `name` fail; it disarms itself when hit.
    pub fn arm(&self, name: &'static str) {
        self.lock().insert(name);
    }

    /// Where a store passes a failpoint: an error if a test armed it.
    pub fn pass(&self, name: &'static str) -> RepoResult<()> {
        match self.lock().remove(name) {
            true => Err(RepoError::Unavailable(format!(
                "failpoint {name}: simulated crash"
            ))),
            false => Ok(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<&'static str>> {
        self.armed.lock().unwrap_or_else(|p| p.into_inner())
    }
}
