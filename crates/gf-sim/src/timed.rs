//! The twin's event heaps: earliest time first and, at equal times, the
//! order things were scheduled in, so a run is deterministic. The order is
//! one integer key (time, then a sequence number) compared as a `u128`: a
//! heap of a year's events compares keys tens of millions of times, and a
//! `(time, seq, event)` tuple compared field by field, the event's derived
//! order included, was 6% of a 20M-GPU run.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A min-heap of events by time, ties by scheduling order.
#[derive(Debug, Clone)]
pub(crate) struct Timed<E> {
    heap: BinaryHeap<Entry<E>>,
    seq: u64,
}

#[derive(Debug, Clone)]
struct Entry<E> {
    key: u128,
    ev: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl<E> Eq for Entry<E> {}

impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Entry<E> {
    /// Reversed: the standard heap pops its greatest, this one the earliest.
    fn cmp(&self, other: &Self) -> Ordering {
        other.key.cmp(&self.key)
    }
}

/// Time as an unsigned number in the same order (the sign bit flipped).
fn biased(t: i64) -> u64 {
    (t as u64) ^ (1 << 63)
}

/// The time a key was made from.
fn time_of(key: u128) -> i64 {
    ((key >> 64) as u64 ^ (1 << 63)) as i64
}

impl<E> Timed<E> {
    /// No events.
    pub(crate) fn new() -> Self {
        Timed {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }

    /// Schedules `ev` at `t`, after everything already scheduled at `t`.
    pub(crate) fn push(&mut self, t: i64, ev: E) {
        self.seq += 1;
        let key = (biased(t) as u128) << 64 | self.seq as u128;
        self.heap.push(Entry { key, ev });
    }

    /// When the next event is due.
    pub(crate) fn next_at(&self) -> Option<i64> {
        self.heap.peek().map(|e| time_of(e.key))
    }

    /// Events scheduled.
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Keeps only the events `keep(time, event)` says: how stale events are
    /// swept out. The order of those kept is unchanged.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(i64, &E) -> bool) {
        self.heap.retain(|e| keep(time_of(e.key), &e.ev));
    }

    /// The next event and its time.
    pub(crate) fn pop(&mut self) -> Option<(i64, E)> {
        self.heap.pop().map(|e| (time_of(e.key), e.ev))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_then_in_scheduling_order() {
        let mut h = Timed::new();
        for (t, e) in [
            (5, 'a'),
            (-3, 'b'),
            (5, 'c'),
            (0, 'd'),
            (i64::MAX, 'e'),
            (-3, 'f'),
        ] {
            h.push(t, e);
        }
        assert_eq!(h.next_at(), Some(-3));
        let order: Vec<(i64, char)> = std::iter::from_fn(|| h.pop()).collect();
        assert_eq!(
            order,
            vec![
                (-3, 'b'),
                (-3, 'f'),
                (0, 'd'),
                (5, 'a'),
                (5, 'c'),
                (i64::MAX, 'e')
            ]
        );
    }
}
