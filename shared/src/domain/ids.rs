//! Deterministic execution ids, so that a repeated request maps to the same execution and the
//! store's unique key turns the duplicate into a no-op (DESIGN §4, deduplication). Ids that
//! need not be deterministic are time-ordered too ([`new_execution_id`]): a store's id index
//! then grows at its end, instead of at a random page for every execution (which, at 100,000
//! periodic workflows, made each slot re-read and rewrite a page of that index).

use crate::time::Timestamp;
use uuid::Uuid;

const NAMESPACE: Uuid = Uuid::from_u128(0x5f0e_8a51_c1b2_4d0e_9a7c_3e1f_2b6d_4a90);

/// The id of the execution of one periodic slot: the slot's time, then a name-based hash of
/// the workflow and the slot (RFC 9562 version 8, laid out like a version 7).
pub fn periodic_execution_id(workflow_id: &str, scheduled_for: Timestamp) -> Uuid {
    let millis = scheduled_for.timestamp_millis();
    let name = format!("periodic\n{workflow_id}\n{millis}");
    let mut bytes = *Uuid::new_v5(&NAMESPACE, name.as_bytes()).as_bytes();
    bytes[..6].copy_from_slice(&(millis as u64).to_be_bytes()[2..]);
    Uuid::new_v8(bytes)
}

/// The id of an execution that no request can repeat (a manual trigger without an
/// `Idempotency-Key`): random, after the current time.
pub fn new_execution_id() -> Uuid {
    Uuid::now_v7()
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

    #[test]
    fn periodic_ids_sort_by_slot_whatever_the_workflow() {
        let slots = [1_000, 2_000, 1_765_000_000_000, 1_765_000_000_001];
        let ids: Vec<String> = slots
            .iter()
            .zip(["z", "a", "m", "b"])
            .map(|(&ms, wf)| periodic_execution_id(wf, from_millis(ms)).to_string())
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert!(new_execution_id().to_string() > ids[3]);
    }
}
