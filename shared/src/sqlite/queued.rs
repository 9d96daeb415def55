//! The executions this process queued, as it wrote them, until a runner claims them. A claim
//! then needs no read and no decode of the stored document on the writer thread (which every
//! write waits for): it applies the claim to the copy here and writes the result only if the
//! stored document is still, byte for byte, the one copied. Anything else that wrote the row
//! in between (an API cancel, another process on the same file) makes that check fail, and the
//! claim reads the row as it is. So a copy here is a shortcut, never the truth, and losing one
//! costs nothing but the shortcut.

use crate::domain::{Execution, Transition, TriggerStatus};
use crate::repo::RepoResult;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Copies kept per generation, and their documents' bytes; two generations at most. A copy
/// nobody claims here (another process's runner took it) ages out with its generation.
const GENERATION: usize = 2048;
const GENERATION_BYTES: usize = 4 << 20;
/// A larger document (a big trigger input) is not copied: its claim reads it as before.
const LARGEST_DOC: usize = 64 << 10;

/// An execution and its document exactly as stored.
pub struct Queued {
    /// The stored text, compared byte for byte before the claim writes.
    pub doc: Arc<str>,
    pub execution: Execution,
}

#[derive(Default)]
struct Generation {
    copies: HashMap<Uuid, Queued>,
    bytes: usize,
}

#[derive(Default)]
pub struct QueuedCopies {
    /// Newer first.
    generations: Mutex<[Generation; 2]>,
    /// Set by the first claim: a process that only queues (an API or scheduler process of
    /// its own) keeps no copies.
    claims_here: AtomicBool,
}

impl QueuedCopies {
    /// Keeps a copy of `execution`, just queued and stored as `doc`.
    pub fn keep(&self, doc: Arc<str>, execution: &Execution) {
        if !self.claims_here.load(Ordering::Relaxed) || doc.len() > LARGEST_DOC {
            return;
        }
        let execution = execution.clone();
        let mut generations = self.lock();
        let full =
            generations[0].copies.len() >= GENERATION || generations[0].bytes >= GENERATION_BYTES;
        let aged = full.then(|| {
            let [newer, older] = &mut *generations;
            std::mem::replace(older, std::mem::take(newer))
        });
        generations[0].bytes += doc.len();
        generations[0]
            .copies
            .insert(execution.execution_id, Queued { doc, execution });
        drop(generations);
        // Freed outside the lock.
        drop(aged);
    }

    /// The claim of `execution_id` applied to this process's copy, if it has one in which the
    /// claim holds; the copy is gone either way.
    pub fn prepare_claim(
        &self,
        execution_id: Uuid,
        claim: &Transition,
    ) -> RepoResult<Option<PreparedClaim>> {
        self.claims_here.store(true, Ordering::Relaxed);
        let Some(copy) = self.take(execution_id) else {
            return Ok(None);
        };
        let before = copy.execution.trigger_state();
        let mut claimed = copy.execution;
        if !claimed.apply(claim) {
            return Ok(None);
        }
        Ok(Some(PreparedClaim {
            stored: copy.doc,
            doc: serde_json::to_string(&claimed)?,
            claimed,
            before,
        }))
    }

    fn take(&self, execution_id: Uuid) -> Option<Queued> {
        let mut generations = self.lock();
        let [newer, older] = &mut *generations;
        newer
            .copies
            .remove(&execution_id)
            .or_else(|| older.copies.remove(&execution_id))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, [Generation; 2]> {
        self.generations.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A claim worked out from a copy, for the writer to check and write.
pub struct PreparedClaim {
    /// The document the claim was worked out from: written over only if still stored.
    pub stored: Arc<str>,
    /// `claimed`, encoded.
    pub doc: String,
    pub claimed: Execution,
    /// The workflow's trigger state before the claim, to tell whether it must follow.
    pub before: (TriggerStatus, Option<Uuid>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Reason, TriggerStatus, Workflow, WorkflowSpec};

    fn queued(n: u128) -> Execution {
        let spec: WorkflowSpec = serde_json::from_value(serde_json::json!({
            "workflowId": "w", "trigger": {"type": "manual"}, "actions": [{"type": "log", "message": "m"}]
        }))
        .unwrap();
        let now = crate::time::now();
        let workflow = Workflow {
            spec,
            status: TriggerStatus::Idle,
            current_execution_id: None,
            next_run_at: None,
            paused: false,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        Execution::queued(Uuid::from_u128(n), &workflow, Reason::Manual, now, now)
    }

    #[test]
    fn a_copy_is_taken_once_and_old_generations_age_out() {
        let copies = QueuedCopies::default();
        copies.keep("before any claim".into(), &queued(0));
        assert!(
            copies.take(Uuid::from_u128(0)).is_none(),
            "no claims here yet"
        );
        copies.claims_here.store(true, Ordering::Relaxed);
        copies.keep("first".into(), &queued(0));
        let first = copies.take(Uuid::from_u128(0)).expect("kept");
        assert_eq!(&*first.doc, "first");
        assert!(copies.take(Uuid::from_u128(0)).is_none(), "taken once");
        copies.keep("x".repeat(LARGEST_DOC + 1).into(), &queued(0));
        assert!(
            copies.take(Uuid::from_u128(0)).is_none(),
            "too large to copy"
        );

        for n in 1..=(2 * GENERATION as u128 + 1) {
            copies.keep("doc".into(), &queued(n));
        }
        assert!(
            copies.take(Uuid::from_u128(1)).is_none(),
            "two generations ago"
        );
        assert!(copies
            .take(Uuid::from_u128(2 * GENERATION as u128))
            .is_some());
    }
}
