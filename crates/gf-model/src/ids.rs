//! Job ids to the index of a job's record, for whoever keeps one per job
//! (the controller's job table). Every report
//! names its job, so this is looked up on every event; the ids the store and
//! the twin give are consecutive from 1, so they index a vector (one memory
//! access) rather than a hash table (two, in a table of millions of jobs a
//! year, which also grows by rehashing all of it); while they also come in
//! the order of the records, the index is the id less the first, and a
//! lookup reads no memory at all. Ids far from the dense
//! range (a caller's own numbering) go to a hash map, so any id works.

use std::collections::HashMap;

use crate::protocol::JobId;

/// No job at this id.
const NONE: u32 = u32::MAX;

/// How far past the dense range an id may land and still grow it: ids a
/// little out of order stay dense, a stray large id does not allocate.
const SLACK: u64 = 1 << 16;

/// Job ids to record indices.
#[derive(Debug, Clone, Default)]
pub struct JobIndex {
    /// While every id inserted so far is `base + its index`, inserted in
    /// that order (the controller's table, fed the store's or the twin's
    /// ids): `(base, count)`. A lookup is then a subtraction, with no
    /// memory read; the first insert out of that order writes the run into
    /// `dense` and `sparse` and turns it off for good.
    run: Option<(JobId, u32)>,
    dense: Vec<u32>,
    sparse: HashMap<JobId, u32>,
}

impl JobIndex {
    /// The record index of job `id`.
    pub fn get(&self, id: &JobId) -> Option<u32> {
        if let Some((base, n)) = self.run {
            return id
                .checked_sub(base)
                .filter(|&k| k < n as u64)
                .map(|k| k as u32);
        }
        match self.dense.get(*id as usize) {
            Some(&i) if i != NONE => Some(i),
            // An id the dense range grew past after it went to the map.
            _ if self.sparse.is_empty() => None,
            _ => self.sparse.get(id).copied(),
        }
    }

    /// Whether job `id` has a record.
    pub fn contains_key(&self, id: &JobId) -> bool {
        self.get(id).is_some()
    }

    /// Records job `id` at index `i` (below `u32::MAX`).
    pub fn insert(&mut self, id: JobId, i: u32) {
        let empty = self.dense.is_empty() && self.sparse.is_empty();
        match self.run {
            None if empty && i == 0 => {
                self.run = Some((id, 1));
                return;
            }
            Some((base, n)) if i == n && id.checked_sub(base) == Some(n as u64) => {
                self.run = Some((base, n + 1));
                return;
            }
            Some((base, n)) => {
                self.run = None;
                for k in 0..n {
                    self.insert_mapped(base + k as u64, k);
                }
            }
            None => {}
        }
        self.insert_mapped(id, i);
    }

    fn insert_mapped(&mut self, id: JobId, i: u32) {
        let len = self.dense.len() as u64;
        let dense = !self.sparse.contains_key(&id) && id < len + SLACK && id < NONE as u64;
        if !dense {
            self.sparse.insert(id, i);
            return;
        }
        if id >= len {
            self.dense.resize(id as usize + 1, NONE);
        }
        self.dense[id as usize] = i;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_and_sparse_ids_both_map() {
        let mut m = JobIndex::default();
        for id in [1, 2, 5, 3, 1 << 40, u64::MAX, 70_000, 4] {
            assert!(!m.contains_key(&id));
            m.insert(id, id as u32 ^ 7);
        }
        for id in [1, 2, 5, 3, 1 << 40, u64::MAX, 70_000, 4] {
            assert_eq!(m.get(&id), Some(id as u32 ^ 7), "{id}");
        }
        assert_eq!(m.get(&0), None);
        assert_eq!(m.get(&6), None);
        assert_eq!(m.get(&(1 << 41)), None);
        // 70,000 is past the slack of an empty index: it went to the map,
        // and a later dense id below it still lands in the vector.
        m.insert(60_000, 9);
        assert_eq!(m.get(&60_000), Some(9));
        assert_eq!(m.get(&70_000), Some(70_000u32 ^ 7));
        // The dense range grows past 70,000: it is still found, and moved
        // nowhere by a second insert.
        m.insert(80_000, 1);
        assert_eq!(m.get(&70_000), Some(70_000u32 ^ 7));
        m.insert(70_000, 2);
        assert_eq!(m.get(&70_000), Some(2));
    }

    #[test]
    fn ids_in_order_map_without_a_table_until_one_is_not() {
        let mut m = JobIndex::default();
        for i in 0..1000u32 {
            m.insert(1 + i as u64, i);
        }
        assert!(m.run.is_some() && m.dense.is_empty());
        assert_eq!(m.get(&0), None);
        assert_eq!(m.get(&1), Some(0));
        assert_eq!(m.get(&1000), Some(999));
        assert_eq!(m.get(&1001), None);
        assert_eq!(m.get(&u64::MAX), None);
        // An id again, with another index: every earlier id keeps its own.
        m.insert(500, 1000);
        assert!(m.run.is_none());
        assert_eq!(m.get(&500), Some(1000));
        assert_eq!(m.get(&499), Some(498));
        assert_eq!(m.get(&1000), Some(999));
        assert_eq!(m.get(&1001), None);
        // A run from a large base moves to the map as a whole.
        let mut m = JobIndex::default();
        for i in 0..3u32 {
            m.insert((1 << 40) + i as u64, i);
        }
        m.insert(7, 3);
        for i in 0..3u32 {
            assert_eq!(m.get(&((1 << 40) + i as u64)), Some(i));
        }
        assert_eq!(m.get(&7), Some(3));
        assert_eq!(m.get(&8), None);
    }
}
