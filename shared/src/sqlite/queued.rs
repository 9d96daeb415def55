//! The executions this process queued, as it wrote them, until a runner claims them. A claim
//! then needs no read and no decode of the stored document on the writer thread (which every
//! write waits for): it applies the claim to the copy here and writes the result only if the
//! stored document is still, byte for byte, the one copied. Anything else that wrote the row
//! in between (an API cancel, another process on the same file) makes that check fail, and the
//! claim reads the row as it is. So a copy here is a shortcut, never the truth, and losing one
//! costs nothing but the shortcut.

use crate::domain::Execution;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Copies kept per generation; two generations at most. A copy nobody claims here (another
/// process's runner took it) ages out with its generation.
const GENERATION: usize = 2048;

/// An execution and its document exactly as stored.
pub struct Queued {
    pub doc: Arc<str>,
    pub execution: Execution,
}

#[derive(Default)]
pub struct QueuedCopies {
    generations: Mutex<[HashMap<Uuid, Queued>; 2]>,
}

impl QueuedCopies {
    pub fn keep(&self, doc: Arc<str>, execution: Execution) {
        let mut generations = self.lock();
        if generations[0].len() >= GENERATION {
            generations[1] = std::mem::take(&mut generations[0]);
        }
        generations[0].insert(execution.execution_id, Queued { doc, execution });
    }

    pub fn take(&self, execution_id: Uuid) -> Option<Queued> {
        let mut generations = self.lock();
        let [newer, older] = &mut *generations;
        newer
            .remove(&execution_id)
            .or_else(|| older.remove(&execution_id))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, [HashMap<Uuid, Queued>; 2]> {
        self.generations.lock().unwrap_or_else(|p| p.into_inner())
    }
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
        copies.keep("first".into(), queued(0));
        let first = copies.take(Uuid::from_u128(0)).expect("kept");
        assert_eq!(&*first.doc, "first");
        assert!(copies.take(Uuid::from_u128(0)).is_none(), "taken once");

        for n in 1..=(2 * GENERATION as u128 + 1) {
            copies.keep("doc".into(), queued(n));
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
