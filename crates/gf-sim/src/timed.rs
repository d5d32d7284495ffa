//! The twin's event heaps: earliest time first and, at equal times, the
//! order things were scheduled in, so a run is deterministic. The order is
//! one integer key (time, then a sequence number) compared as a `u128`: a
//! heap of a year's events compares keys tens of millions of times, and a
//! `(time, seq, event)` tuple compared field by field, the event's derived
//! order included, was 6% of a 20M-GPU run.
//!
//! The queue is a radix heap rather than a binary heap: the twin never
//! schedules an event before the one it last took out (the world and the
//! engine schedule at their clock or later, and neither clock is behind
//! what its heap gave last), and a queue that may assume so keeps its events
//! in 128 buckets by the highest bit in which their key differs from the
//! least key. Taking the least out then touches the few events of one
//! bucket rather than sifting down a binary heap of hundreds of thousands
//! of entries, a cache miss a level (that sift was 4% of a 20M-GPU year).
//! The least key stays out of the buckets so that the next time is known
//! without a search, and an event keyed below it (one due sooner than the
//! next, or, should a scenario's negative durations ever schedule one,
//! earlier than the last taken out) waits in a small binary heap of its
//! own that always comes first: the order is exactly that of one heap of
//! all the keys.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Buckets of a radix heap over `u128` keys: one per bit.
const BITS: usize = 128;

/// A min-heap of events by time, ties by scheduling order.
#[derive(Debug, Clone)]
pub(crate) struct Timed<E> {
    /// The least key at or above `last`, taken out next unless `early` has
    /// one; `None` only when the buckets are empty too.
    top: Option<Entry<E>>,
    /// `buckets[b]` holds the keys above `last` whose highest bit differing
    /// from it is bit `b`: every key of a lower bucket is less than every
    /// key of a higher one, so the least is in the lowest non-empty bucket.
    buckets: Vec<Vec<Entry<E>>>,
    /// Bit `b` is set when `buckets[b]` is not empty.
    full: u128,
    /// The key `top` had when it was filled: every key in `top` and the
    /// buckets is at or above it, every key in `early` below it.
    last: u128,
    /// Events keyed below `last`, in an ordinary heap.
    early: BinaryHeap<Entry<E>>,
    len: usize,
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

/// The bucket of `key` (above `last`): its highest bit differing from it.
fn bucket_of(key: u128, last: u128) -> usize {
    debug_assert!(key > last);
    BITS - 1 - (key ^ last).leading_zeros() as usize
}

impl<E> Timed<E> {
    /// No events.
    pub(crate) fn new() -> Self {
        Timed {
            top: None,
            buckets: (0..BITS).map(|_| Vec::new()).collect(),
            full: 0,
            last: 0,
            early: BinaryHeap::new(),
            len: 0,
            seq: 0,
        }
    }

    /// Schedules `ev` at `t`, after everything already scheduled at `t`.
    pub(crate) fn push(&mut self, t: i64, ev: E) {
        self.seq += 1;
        let key = (biased(t) as u128) << 64 | self.seq as u128;
        let e = Entry { key, ev };
        self.len += 1;
        if key < self.last {
            self.early.push(e);
        } else if self.top.is_none() {
            // Nothing at or above `last`: this key is the new least, and
            // still above everything in `early`.
            self.last = key;
            self.top = Some(e);
        } else {
            // Keys are unique (the sequence number), so this one is above
            // `top`'s, which is `last`.
            self.put(e);
        }
    }

    fn put(&mut self, e: Entry<E>) {
        let b = bucket_of(e.key, self.last);
        self.buckets[b].push(e);
        self.full |= 1 << b;
    }

    /// When the next event is due.
    pub(crate) fn next_at(&self) -> Option<i64> {
        match self.early.peek() {
            Some(e) => Some(time_of(e.key)),
            None => self.top.as_ref().map(|e| time_of(e.key)),
        }
    }

    /// Events scheduled.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Keeps only the events `keep(time, event)` says: how stale events are
    /// swept out. The order of those kept is unchanged.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(i64, &E) -> bool) {
        self.early.retain(|e| keep(time_of(e.key), &e.ev));
        if self
            .top
            .as_ref()
            .is_some_and(|e| !keep(time_of(e.key), &e.ev))
        {
            self.top = None;
        }
        self.full = 0;
        let mut len = self.early.len() + usize::from(self.top.is_some());
        for (b, bucket) in self.buckets.iter_mut().enumerate() {
            bucket.retain(|e| keep(time_of(e.key), &e.ev));
            if !bucket.is_empty() {
                self.full |= 1 << b;
                len += bucket.len();
            }
        }
        self.len = len;
        if self.top.is_none() {
            self.refill();
        }
    }

    /// The next event and its time.
    pub(crate) fn pop(&mut self) -> Option<(i64, E)> {
        let e = match self.early.pop() {
            Some(e) => e,
            None => {
                let e = self.top.take()?;
                self.refill();
                e
            }
        };
        self.len -= 1;
        Some((time_of(e.key), e.ev))
    }

    /// Fills an empty `top` with the least key of the buckets: that of the
    /// lowest non-empty one, whose other keys then spread over the buckets
    /// below it (they differ from the new least in lower bits only). The
    /// keys of the buckets above keep their place, as the new least agrees
    /// with the old in every bit above its bucket.
    fn refill(&mut self) {
        if self.full == 0 {
            return;
        }
        let b = self.full.trailing_zeros() as usize;
        self.full &= !(1 << b);
        let mut bucket = std::mem::take(&mut self.buckets[b]);
        let least = bucket.iter().map(|e| e.key).min().unwrap_or(self.last);
        self.last = least;
        for e in bucket.drain(..) {
            if e.key == least {
                self.top = Some(e);
            } else {
                self.put(e);
            }
        }
        // The emptied bucket keeps its allocation for the next time.
        self.buckets[b] = bucket;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cmp::Reverse;

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
            (i64::MIN, 'g'),
        ] {
            h.push(t, e);
        }
        assert_eq!(h.next_at(), Some(i64::MIN));
        assert_eq!(h.len(), 7);
        let order: Vec<(i64, char)> = std::iter::from_fn(|| h.pop()).collect();
        assert_eq!(
            order,
            vec![
                (i64::MIN, 'g'),
                (-3, 'b'),
                (-3, 'f'),
                (0, 'd'),
                (5, 'a'),
                (5, 'c'),
                (i64::MAX, 'e')
            ]
        );
        assert_eq!(h.len(), 0);
        assert_eq!(h.next_at(), None);
    }

    #[test]
    fn an_event_before_the_last_taken_out_still_comes_first() {
        let mut h = Timed::new();
        h.push(10, 'a');
        h.push(20, 'b');
        h.push(30, 'c');
        assert_eq!(h.pop(), Some((10, 'a')));
        // Before the next (20) and before the last taken out (10).
        h.push(15, 'd');
        h.push(5, 'e');
        h.push(15, 'f');
        assert_eq!(h.next_at(), Some(5));
        let order: Vec<(i64, char)> = std::iter::from_fn(|| h.pop()).collect();
        assert_eq!(
            order,
            vec![(5, 'e'), (15, 'd'), (15, 'f'), (20, 'b'), (30, 'c')]
        );
        // Emptied, then refilled below everything it held.
        h.push(1, 'g');
        h.push(0, 'h');
        assert_eq!(h.pop(), Some((0, 'h')));
        assert_eq!(h.pop(), Some((1, 'g')));
        assert_eq!(h.pop(), None);
    }

    #[test]
    fn retain_drops_the_next_event_too() {
        let mut h = Timed::new();
        for (t, e) in [(1, 1), (2, 2), (2, 3), (9, 4), (1 << 40, 5)] {
            h.push(t, e);
        }
        h.retain(|_, &e| e % 2 == 0 || e == 5);
        assert_eq!(h.len(), 3);
        assert_eq!(h.next_at(), Some(2));
        assert_eq!(h.pop(), Some((2, 2)));
        h.retain(|_, &e| e != 4);
        assert_eq!(h.len(), 1);
        assert_eq!(h.pop(), Some((1 << 40, 5)));
        assert_eq!(h.pop(), None);
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Schedules an event this many seconds after the last taken out
        /// (before it when negative: the twin does not, but the heap must
        /// still order it).
        Push(i64),
        Pop,
        /// Keeps the events whose number is not `r` modulo `m`.
        Retain(u32, u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0i64..4).prop_map(Op::Push),
            3 => (0i64..100_000).prop_map(Op::Push),
            1 => (0i64..(1 << 40)).prop_map(Op::Push),
            1 => (-50i64..0).prop_map(Op::Push),
            5 => Just(Op::Pop),
            1 => (2u32..5, 0u32..5).prop_map(|(m, r)| Op::Retain(m, r)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The same events, pops and sweeps give the same order as a binary
        /// heap of (time, scheduling order).
        #[test]
        fn pops_as_a_binary_heap_does(
            start in prop_oneof![Just(i64::MIN / 2), -1_000i64..1_000, Just(1_780_000_000i64)],
            monotone in any::<bool>(),
            ops in prop::collection::vec(op(), 1..400),
        ) {
            let mut h = Timed::new();
            let mut reference: BinaryHeap<Reverse<(i64, u64, u32)>> = BinaryHeap::new();
            let (mut now, mut seq, mut n) = (start, 0u64, 0u32);
            for o in ops {
                match o {
                    Op::Push(dt) => {
                        let dt = if monotone { dt.max(0) } else { dt };
                        seq += 1;
                        n += 1;
                        h.push(now + dt, n);
                        reference.push(Reverse((now + dt, seq, n)));
                    }
                    Op::Pop => {
                        let want = reference.pop().map(|Reverse((t, _, e))| (t, e));
                        prop_assert_eq!(h.pop(), want);
                        if let Some((t, _)) = want {
                            now = t;
                        }
                    }
                    Op::Retain(m, r) => {
                        h.retain(|_, &e| e % m != r);
                        reference.retain(|Reverse((_, _, e))| e % m != r);
                    }
                }
                prop_assert_eq!(h.len(), reference.len());
                prop_assert_eq!(h.next_at(), reference.peek().map(|Reverse((t, _, _))| *t));
            }
            let rest: Vec<(i64, u32)> = std::iter::from_fn(|| h.pop()).collect();
            let want: Vec<(i64, u32)> = std::iter::from_fn(|| reference.pop())
                .map(|Reverse((t, _, e))| (t, e))
                .collect();
            prop_assert_eq!(rest, want);
        }
    }
}
