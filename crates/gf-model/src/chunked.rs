//! A vector of per-job records that grows without moving them. A year of a
//! 20M-GPU fleet submits millions of jobs, and the controller and the twin
//! keep a record of each; a `Vec` of them doubles by copying every record
//! into fresh memory, which the kernel must then zero page by page. Measured
//! over that year (perf, dwarf call graphs), the doublings of the
//! controller's job table alone were 7% of the run. Here the records live
//! in fixed chunks: growing adds a chunk and copies nothing, and an index is
//! two array reads, the first of them into a table small enough to stay in
//! cache. No crate we know of keeps a plain indexable vector this way
//! without `unsafe` (forbidden in this workspace), and it is a few dozen
//! lines.

use std::fmt;
use std::ops::{Index, IndexMut};

/// Records per chunk, as a power of two so that an index splits with a
/// shift and a mask. 4,096 records of a few hundred bytes is a chunk of
/// about a megabyte: few enough chunks that their table stays in cache, and
/// small enough that the last chunk's unused room is no matter.
const SHIFT: u32 = 12;
const CHUNK: usize = 1 << SHIFT;
const MASK: usize = CHUNK - 1;

/// Records indexed from 0 in the order pushed; a record never moves.
#[derive(PartialEq)]
pub struct ChunkedVec<T> {
    /// Each chunk is allocated with room for `CHUNK` records, so pushing
    /// into it never reallocates.
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for ChunkedVec<T> {
    fn default() -> Self {
        ChunkedVec {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> ChunkedVec<T> {
    /// An empty vector (allocates nothing until the first push).
    pub fn new() -> Self {
        Self::default()
    }

    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `v`; its index is the length before the push.
    pub fn push(&mut self, v: T) {
        if self.len & MASK == 0 {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        if let Some(last) = self.chunks.last_mut() {
            last.push(v);
        }
        self.len += 1;
    }

    /// The record at `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<&T> {
        self.chunks.get(i >> SHIFT)?.get(i & MASK)
    }

    /// The record at `i` to change, if there is one.
    pub fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.chunks.get_mut(i >> SHIFT)?.get_mut(i & MASK)
    }

    /// The records in index order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + '_ {
        self.chunks.iter().flatten()
    }

    /// The records in index order, to change.
    pub fn iter_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut T> + '_ {
        self.chunks.iter_mut().flatten()
    }
}

/// A copy pushed record by record: a derived clone would give the last
/// chunk only the room it uses, and the copy's next push would move it.
impl<T: Clone> Clone for ChunkedVec<T> {
    fn clone(&self) -> Self {
        self.iter().cloned().collect()
    }
}

impl<T> Index<usize> for ChunkedVec<T> {
    type Output = T;
    fn index(&self, i: usize) -> &T {
        &self.chunks[i >> SHIFT][i & MASK]
    }
}

impl<T> IndexMut<usize> for ChunkedVec<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.chunks[i >> SHIFT][i & MASK]
    }
}

impl<'a, T> IntoIterator for &'a ChunkedVec<T> {
    type Item = &'a T;
    type IntoIter = std::iter::Flatten<std::slice::Iter<'a, Vec<T>>>;
    fn into_iter(self) -> Self::IntoIter {
        self.chunks.iter().flatten()
    }
}

impl<T> FromIterator<T> for ChunkedVec<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut v = ChunkedVec::new();
        for x in iter {
            v.push(x);
        }
        v
    }
}

/// Shown as the list of its records, as a `Vec` is.
impl<T: fmt::Debug> fmt::Debug for ChunkedVec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_like_a_vec_across_chunk_boundaries() {
        let n = 3 * CHUNK + 5;
        let mut v = ChunkedVec::new();
        assert!(v.is_empty());
        for i in 0..n {
            v.push(i * 7);
        }
        assert_eq!(v.len(), n);
        for i in [0, 1, CHUNK - 1, CHUNK, 2 * CHUNK + 3, n - 1] {
            assert_eq!(v[i], i * 7);
            assert_eq!(v.get(i), Some(&(i * 7)));
        }
        assert_eq!(v.get(n), None);
        v[CHUNK] = 1;
        *v.get_mut(n - 1).unwrap() = 2;
        let want: Vec<usize> = (0..n)
            .map(|i| match i {
                _ if i == CHUNK => 1,
                _ if i == n - 1 => 2,
                _ => i * 7,
            })
            .collect();
        assert_eq!(v.iter().copied().collect::<Vec<_>>(), want);
        assert_eq!((&v).into_iter().count(), n);
        assert_eq!(format!("{v:?}"), format!("{want:?}"));
        for x in v.iter_mut() {
            *x += 1;
        }
        assert_eq!(v[0], 1);
        let w: ChunkedVec<usize> = want.iter().copied().collect();
        assert_eq!(w.len(), n);
        assert_eq!(w[n - 1], 2);
    }

    #[test]
    fn a_record_does_not_move_when_the_vector_grows() {
        let mut v = ChunkedVec::new();
        v.push(0u64);
        let at: *const u64 = &v[0];
        for i in 0..2 * CHUNK as u64 {
            v.push(i);
        }
        // A `Vec` would have reallocated a dozen times by now, moving it.
        assert!(std::ptr::eq(&v[0], at));
        assert_eq!(v.chunks[0].capacity(), CHUNK);
        // A copy's last chunk has the whole chunk's room too.
        let w = v.clone();
        assert_eq!(w, v);
        assert!(w.chunks.iter().all(|c| c.capacity() == CHUNK));
    }
}
