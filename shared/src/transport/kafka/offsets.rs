//! Which offset of a partition may be stored: only one past messages whose handlers all
//! returned, so a crash never skips a message that was still running (DESIGN §4).

use std::collections::BTreeSet;

/// The messages of one assigned partition handed to handlers and not yet finished.
#[derive(Debug, Default)]
pub(crate) struct PartitionOffsets {
    /// Offsets handed out and not yet finished; the smallest bounds what may be stored.
    in_flight: BTreeSet<i64>,
    /// One past the last offset handed out: what to store once nothing is in flight.
    next: Option<i64>,
    /// The offset stored last (at first, where this assignment began), so an offset is never
    /// stored twice nor moved back.
    stored: Option<i64>,
    /// Set when the partition is revoked: its offsets now belong to another consumer.
    revoked: bool,
}

impl PartitionOffsets {
    /// Records that the message at `offset` was handed to a handler.
    pub(crate) fn start(&mut self, offset: i64) {
        // The group resumes at the first message anyway: no need to store that position.
        self.stored.get_or_insert(offset);
        self.in_flight.insert(offset);
        self.next = Some(self.next.map_or(offset + 1, |next| next.max(offset + 1)));
    }

    /// Records that the handler of `offset` returned. Returns the offset to store now, if the
    /// contiguous finished prefix grew and the partition is still ours.
    pub(crate) fn finish(&mut self, offset: i64) -> Option<i64> {
        self.in_flight.remove(&offset);
        if self.revoked {
            return None;
        }
        // Everything below the oldest unfinished message is done (offsets may have gaps).
        let candidate = self.in_flight.first().copied().or(self.next)?;
        if self.stored.is_some_and(|stored| stored >= candidate) {
            return None;
        }
        self.stored = Some(candidate);
        Some(candidate)
    }

    /// Stops storing offsets of this partition: it was revoked in a rebalance.
    pub(crate) fn revoke(&mut self) {
        self.revoked = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_one_past_the_last_message_when_all_finished_in_order() {
        let mut p = PartitionOffsets::default();
        p.start(5);
        assert_eq!(p.finish(5), Some(6));
        p.start(6);
        assert_eq!(p.finish(6), Some(7));
    }

    #[test]
    fn a_slow_message_holds_the_stored_offset_back() {
        let mut p = PartitionOffsets::default();
        for offset in 10..13 {
            p.start(offset);
        }
        assert_eq!(p.finish(11), None, "10 still runs");
        assert_eq!(p.finish(12), None, "10 still runs");
        assert_eq!(p.finish(10), Some(13), "all of 10..=12 are done");
    }

    #[test]
    fn the_prefix_advances_up_to_the_oldest_unfinished() {
        let mut p = PartitionOffsets::default();
        for offset in 0..4 {
            p.start(offset);
        }
        assert_eq!(p.finish(0), Some(1));
        assert_eq!(p.finish(2), None);
        assert_eq!(
            p.finish(1),
            Some(3),
            "3 still runs, so 3 is the next to read"
        );
        assert_eq!(p.finish(3), Some(4));
    }

    #[test]
    fn gaps_in_offsets_do_not_stall_the_partition() {
        let mut p = PartitionOffsets::default();
        p.start(3);
        p.start(7); // 4..=6 were transaction markers or compacted away.
        assert_eq!(p.finish(7), None);
        assert_eq!(p.finish(3), Some(8));
    }

    #[test]
    fn a_revoked_partition_stores_nothing() {
        let mut p = PartitionOffsets::default();
        p.start(1);
        p.revoke();
        assert_eq!(p.finish(1), None);
    }
}
