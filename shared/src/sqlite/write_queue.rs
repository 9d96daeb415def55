//! The order the writer takes writes in. A finish (a runner recording how an execution ended,
//! its call already made) may wait while writes that someone's work is due on wait with it:
//! at 100,000 periodic workflows the scheduler's slot writes queued behind as many finishes,
//! and its passes fell behind the waves of slots. First in, first out otherwise.

use std::collections::VecDeque;

/// The writes that may wait, by the operation name `SqliteStore::write` is given.
pub const MAY_WAIT: [&str; 1] = ["finish"];

/// Writes that may wait taken into a commit that also carries others: enough that they never
/// stall, few enough that the commit stays short.
const MAY_WAIT_PER_BUSY_GROUP: usize = 32;

pub struct WriteQueue<T> {
    due: VecDeque<T>,
    may_wait: VecDeque<T>,
}

impl<T> WriteQueue<T> {
    pub fn new() -> Self {
        Self {
            due: VecDeque::new(),
            may_wait: VecDeque::new(),
        }
    }

    /// Queues `write`, behind the others that may wait when `may_wait`.
    pub fn push(&mut self, write: T, may_wait: bool) {
        match may_wait {
            true => self.may_wait.push_back(write),
            false => self.due.push_back(write),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.due.is_empty() && self.may_wait.is_empty()
    }

    /// The next commit's writes, at most `max`: those that may not wait first, in arrival
    /// order, then those that may: all of them when no other write is waiting, else a few.
    pub fn next_group(&mut self, max: usize) -> Vec<T> {
        let due = self.due.len().min(max);
        let mut group: Vec<T> = self.due.drain(..due).collect();
        let room = match group.is_empty() {
            true => max,
            false => MAY_WAIT_PER_BUSY_GROUP.min(max - group.len()),
        };
        let waited = room.min(self.may_wait.len());
        group.extend(self.may_wait.drain(..waited));
        group
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum W {
        Due(usize),
        Finish(usize),
    }

    fn queue(writes: impl IntoIterator<Item = W>) -> WriteQueue<W> {
        let mut q = WriteQueue::new();
        for w in writes {
            let may_wait = matches!(w, W::Finish(_));
            q.push(w, may_wait);
        }
        q
    }

    #[test]
    fn writes_due_go_first_and_take_a_few_finishes_with_them() {
        let mut q = queue((0..40).map(W::Finish).chain([W::Due(0), W::Due(1)]));
        let first = q.next_group(512);
        assert_eq!(first[..2], [W::Due(0), W::Due(1)]);
        assert_eq!(first[2..], (0..32).map(W::Finish).collect::<Vec<_>>()[..]);
        assert_eq!(
            q.next_group(512),
            (32..40).map(W::Finish).collect::<Vec<_>>()
        );
        assert!(q.is_empty());
    }

    #[test]
    fn finishes_alone_fill_a_group_up_to_its_bound() {
        let mut q = queue((0..600).map(W::Finish));
        assert_eq!(q.next_group(512).len(), 512);
        assert_eq!(
            q.next_group(512),
            (512..600).map(W::Finish).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_full_group_of_writes_due_leaves_the_finishes_for_the_next() {
        let mut q = queue((0..5).map(W::Finish).chain((0..600).map(W::Due)));
        let first = q.next_group(512);
        assert_eq!(first, (0..512).map(W::Due).collect::<Vec<_>>());
        let second = q.next_group(512);
        assert_eq!(second.len(), 88 + 5);
        assert_eq!(second[88..], (0..5).map(W::Finish).collect::<Vec<_>>()[..]);
    }
}
