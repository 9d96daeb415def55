//! Deterministic execution ids, so that a repeated request maps to the same execution and the
//! store's unique key turns the duplicate into a no-op (DESIGN §4, deduplication).

use crate::time::Timestamp;
use uuid::Uuid;

const NAMESPACE: Uuid = Uuid::from_u128(0x5f0e_8a51_c1b2_4d0e_9a7c_3e1f_2b6d_4a90);

/// The id of the execution of one periodic slot.
pub fn periodic_execution_id(workflow_id: &str, scheduled_for: Timestamp) -> Uuid {
    let name = format!(
        "periodic\n{workflow_id}\n{}",
        scheduled_for.timestamp_millis()
    );
    Uuid::new_v5(&NAMESPACE, name.as_bytes())
}

/// The id of a manual trigger carrying an `Idempotency-Key`. The workflow's creation time is
/// part of it, so a workflow deleted and created again under the same id starts afresh.
pub fn idempotent_execution_id(workflow_id: &str, created_at: Timestamp, key: &str) -> Uuid {
    let name = format!(
        "manual\n{workflow_id}\n{}\n{key}",
        created_at.timestamp_millis()
    );
    Uuid::new_v5(&NAMESPACE, name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::from_millis;

    #[test]
    fn same_slot_same_id_other_slot_other_id() {
        let a = periodic_execution_id("wf", from_millis(1_000));
        assert_eq!(a, periodic_execution_id("wf", from_millis(1_000)));
        assert_ne!(a, periodic_execution_id("wf", from_millis(2_000)));
        assert_ne!(a, periodic_execution_id("wf2", from_millis(1_000)));
    }
}
