//! The world's runs, one per job (or replica set) at a time, in a table of
//! slots found from the job id through a dense index. A run stays in its
//! slot from its start to its end, so the domains list it by slot and reach
//! it in one load; ending a run frees the slot for the next start rather
//! than moving a record of 200 bytes in and out of a hash table (a year of
//! a 20M-GPU fleet starts 6.4 million training runs; the hash table of them
//! was 2% of its run).

use rustc_hash::FxHashMap;

use gf_model::protocol::{JobId, RunId};

use super::SimRun;

/// A run's place in the table, which the domains it holds list it by.
pub(crate) type Slot = u32;

/// No run at this index entry.
const NONE: u32 = u32::MAX;

/// How far past the dense range a job id may land and still grow it: the
/// ids the store and the twin give are consecutive from 1; a replica set's
/// (`1 << 62` and up) and a caller's own numbering go to a hash map.
const SLACK: u64 = 1 << 16;

/// Job ids to the slots of their runs.
#[derive(Debug, Clone)]
struct Index {
    dense: Vec<u32>,
    sparse: FxHashMap<JobId, u32>,
    /// No id below this was ever put in `sparse`: a training job's id,
    /// new or not, is not looked up in the map of replica sets'.
    sparse_min: JobId,
}

impl Default for Index {
    fn default() -> Index {
        Index {
            dense: Vec::new(),
            sparse: FxHashMap::default(),
            sparse_min: JobId::MAX,
        }
    }
}

impl Index {
    fn get(&self, job: JobId) -> Option<Slot> {
        match self.dense.get(job as usize) {
            Some(&s) if s != NONE => Some(s),
            _ if job < self.sparse_min => None,
            _ => self.sparse.get(&job).copied(),
        }
    }

    fn insert(&mut self, job: JobId, s: Slot) {
        let len = self.dense.len() as u64;
        if (job >= self.sparse_min && self.sparse.contains_key(&job))
            || job >= len + SLACK
            || job >= NONE as u64
        {
            self.sparse.insert(job, s);
            self.sparse_min = self.sparse_min.min(job);
            return;
        }
        if job >= len {
            self.dense.resize(job as usize + 1, NONE);
        }
        self.dense[job as usize] = s;
    }

    fn remove(&mut self, job: JobId) {
        match self.dense.get_mut(job as usize) {
            Some(s) if *s != NONE => *s = NONE,
            _ if job < self.sparse_min => {}
            _ => {
                self.sparse.remove(&job);
            }
        }
    }
}

/// The runs on the world (live ones and ghosts), by slot.
#[derive(Debug, Clone, Default)]
pub(crate) struct Runs {
    slots: Vec<Option<SimRun>>,
    free: Vec<Slot>,
    ix: Index,
}

impl Runs {
    /// The slot of job `job`'s run, live or ghost.
    pub(crate) fn slot(&self, job: JobId) -> Option<Slot> {
        self.ix.get(job)
    }

    /// Job `job`'s run, live or ghost.
    pub(crate) fn get(&self, job: JobId) -> Option<&SimRun> {
        self.slots[self.slot(job)? as usize].as_ref()
    }

    /// Job `job`'s run, live or ghost, to change.
    pub(crate) fn get_mut(&mut self, job: JobId) -> Option<&mut SimRun> {
        let s = self.slot(job)?;
        self.slots[s as usize].as_mut()
    }

    /// The run in slot `s`.
    pub(crate) fn at(&self, s: Slot) -> Option<&SimRun> {
        self.slots.get(s as usize)?.as_ref()
    }

    /// The live run `run` when it is the one in slot `s` (a slot freed
    /// since may hold another job's run, or the job's next attempt).
    pub(crate) fn live_at(&self, s: Slot, run: RunId) -> Option<&SimRun> {
        self.at(s)
            .filter(|r| r.job == run.job && r.attempt == run.attempt && !r.ghost)
    }

    /// The run in slot `s`, to change.
    pub(crate) fn at_mut(&mut self, s: Slot) -> Option<&mut SimRun> {
        self.slots.get_mut(s as usize)?.as_mut()
    }

    /// A free slot for a run about to start, [`Self::put`] in next.
    pub(crate) fn vacant(&mut self) -> Slot {
        self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            (self.slots.len() - 1) as Slot
        })
    }

    /// Puts run `r` in slot `s`: a [`Self::vacant`] one, or its ghost's
    /// (a restart taking the ghost's place; its buffers are kept).
    pub(crate) fn put(&mut self, s: Slot, r: SimRun) {
        self.ix.insert(r.job, s);
        self.slots[s as usize] = Some(r);
    }

    /// Takes the run out of slot `s` for a moment: the slot stays its
    /// job's, to [`Self::restore`] it in or [`Self::release`] it.
    pub(crate) fn take(&mut self, s: Slot) -> Option<SimRun> {
        self.slots.get_mut(s as usize)?.take()
    }

    /// Puts run `r` back in its slot `s`.
    pub(crate) fn restore(&mut self, s: Slot, r: SimRun) {
        self.slots[s as usize] = Some(r);
    }

    /// Frees slot `s` of job `job` for another run.
    pub(crate) fn release(&mut self, s: Slot, job: JobId) {
        self.slots[s as usize] = None;
        self.ix.remove(job);
        self.free.push(s);
    }

    /// Takes run `s` off the table.
    pub(crate) fn remove(&mut self, s: Slot) -> Option<SimRun> {
        let r = self.take(s)?;
        self.release(s, r.job);
        Some(r)
    }

    /// Every run, live or ghost, in no particular order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &SimRun> + '_ {
        self.slots.iter().flatten()
    }

    /// No run, live or ghost.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.slots.len() == self.free.len()
    }
}
