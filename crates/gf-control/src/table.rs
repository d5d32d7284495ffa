//! The controller's table of job records, indexed in submission order, from
//! which an ended job's record can be handed out and its room reused.
//!
//! A shell that keeps the history elsewhere (the twin folds each ended job
//! into its summary as it ends; a live shell's store has every record) need
//! not have the controller hold a record for each of a year's millions of
//! jobs: at 20M GPUs those records were a gigabyte, nearly all of it the
//! kernel zeroing fresh pages for records nobody read again. Here the
//! records are packed in a slab (the `slab` crate), found through a table
//! of four bytes per index: a record handed out leaves its room to the
//! next job's, while a job's index stays the same for its whole life
//! (queue keys, owners and deadlines hold indices), and an ended job's
//! index stays to say that its id is known.

use std::fmt;
use std::ops::{Index, IndexMut};

use gf_model::chunked::ChunkedVec;
use slab::Slab;

use crate::job::JobInfo;

/// No record at this index: it was handed out.
const OUT: u32 = u32::MAX;

/// Job records by index, in submission order; a handed-out record leaves
/// its index empty and its room to the next job.
#[derive(Default, Clone)]
pub struct JobTable {
    /// Each index's key in `store`, or [`OUT`].
    at: ChunkedVec<u32>,
    /// The records held, packed: a record handed out frees its entry for
    /// the next one, so those of the jobs that may still run stay close
    /// together (and in cache) however many jobs ended.
    store: Slab<JobInfo>,
}

impl JobTable {
    /// Jobs ever added (the next job's index), handed out or not.
    pub fn len(&self) -> usize {
        self.at.len()
    }

    /// Whether no job was ever added.
    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    /// Records held now (those not handed out).
    pub fn held(&self) -> usize {
        self.store.len()
    }

    /// Adds a record at index [`Self::len`].
    pub(crate) fn push(&mut self, j: JobInfo) {
        let k = self.store.insert(j);
        self.at.push(k as u32);
    }

    /// The record at `i`, unless it was handed out (or there is none).
    pub fn get(&self, i: usize) -> Option<&JobInfo> {
        match *self.at.get(i)? {
            OUT => None,
            k => self.store.get(k as usize),
        }
    }

    /// Hands out the record at `i`, leaving its index empty.
    pub(crate) fn take(&mut self, i: usize) -> Option<JobInfo> {
        let k = std::mem::replace(self.at.get_mut(i)?, OUT);
        self.store.try_remove(k as usize)
    }

    /// The records held, in submission order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &JobInfo> + '_ {
        self.at.iter().filter_map(|&k| self.store.get(k as usize))
    }

    /// The records held with their indices, in submission order.
    pub fn iter_indexed(&self) -> impl Iterator<Item = (usize, &JobInfo)> + '_ {
        self.at
            .iter()
            .enumerate()
            .filter_map(|(i, &k)| Some((i, self.store.get(k as usize)?)))
    }
}

/// The record at `i`. Reading one that was handed out is a bug of the
/// controller (it hands out only records nothing refers to any more), as
/// an index past the end of a `Vec` is.
impl Index<usize> for JobTable {
    type Output = JobInfo;
    fn index(&self, i: usize) -> &JobInfo {
        &self.store[self.at[i] as usize]
    }
}

impl IndexMut<usize> for JobTable {
    fn index_mut(&mut self, i: usize) -> &mut JobInfo {
        &mut self.store[self.at[i] as usize]
    }
}

impl<'a> IntoIterator for &'a JobTable {
    type Item = &'a JobInfo;
    type IntoIter = Box<dyn Iterator<Item = &'a JobInfo> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

/// Shown as the list of the records held.
impl fmt::Debug for JobTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}
