//! Job ids to the index of a job's record, for whoever keeps one per job
//! (the controller's job table, the twin's truth of each job). Every report
//! names its job, so this is looked up on every event; the ids the store and
//! the twin give are consecutive from 1, so they index a vector (one memory
//! access) rather than a hash table (two, in a table of millions of jobs a
//! year, which also grows by rehashing all of it). Ids far from the dense
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
    dense: Vec<u32>,
    sparse: HashMap<JobId, u32>,
}

impl JobIndex {
    /// The record index of job `id`.
    pub fn get(&self, id: &JobId) -> Option<&u32> {
        match self.dense.get(*id as usize) {
            Some(i) if *i != NONE => Some(i),
            // An id the dense range grew past after it went to the map.
            _ if self.sparse.is_empty() => None,
            _ => self.sparse.get(id),
        }
    }

    /// Whether job `id` has a record.
    pub fn contains_key(&self, id: &JobId) -> bool {
        self.get(id).is_some()
    }

    /// Records job `id` at index `i` (below `u32::MAX`).
    pub fn insert(&mut self, id: JobId, i: u32) {
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
            assert_eq!(m.get(&id), Some(&(id as u32 ^ 7)), "{id}");
        }
        assert_eq!(m.get(&0), None);
        assert_eq!(m.get(&6), None);
        assert_eq!(m.get(&(1 << 41)), None);
        // 70,000 is past the slack of an empty index: it went to the map,
        // and a later dense id below it still lands in the vector.
        m.insert(60_000, 9);
        assert_eq!(m.get(&60_000), Some(&9));
        assert_eq!(m.get(&70_000), Some(&(70_000u32 ^ 7)));
        // The dense range grows past 70,000: it is still found, and moved
        // nowhere by a second insert.
        m.insert(80_000, 1);
        assert_eq!(m.get(&70_000), Some(&(70_000u32 ^ 7)));
        m.insert(70_000, 2);
        assert_eq!(m.get(&70_000), Some(&2));
    }
}
