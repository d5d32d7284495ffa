//! Filter, score and select over the share index, one pod at a time.
//!
//! Scoring every node for every pod is the cost that made the reference
//! simulator take minutes per experiment. Here each pod shape keeps its nodes'
//! scores in a max-heap, tagged with the node version they were computed for.
//! A placement changes one node and appends it to a change log; the next pod
//! of a shape rescores only the nodes logged since that shape was last seen,
//! pushes their fresh entries and drops stale ones from the top. Selecting a
//! node is then a heap peek, not a scan of the cluster; FGD, whose score needs
//! the fragmentation of a hypothetical node state, gains most.
//!
//! Ties go to the node of lowest rank in a seeded random ranking of the
//! nodes. That is what the reference simulator does (its kube-scheduler fork
//! picks the lexicographically smallest node name among equal scores, and the
//! names carry a seeded random prefix), and it matters: a fixed ranking keeps
//! filling the same nodes, which packs far better than a fresh coin per pod.
//! The Random policy alone picks uniformly among all feasible nodes.

use std::collections::{BinaryHeap, HashMap};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::frag::TypicalPods;
use super::index::{NodeState, Placement, ShareIndex, best_fit_gpu};
use super::policy::{Policy, score};
use super::spec::{PodSpec, ShareError};

/// A pod shape's dense ordinal within one [`ShareScheduler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShapeId(pub u32);

/// The random stream a scheduler draws tie-breaks from; the workload shuffle
/// of a replay uses stream 0 of the same seed, so the two never correlate.
pub const TIE_BREAK_STREAM: u64 = 1;

/// A node's heap entry: the ordering key packs (score + 1) above the
/// inverted tie-break rank, so the maximum is the best score, then the lowest
/// rank, and keys of different nodes never tie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    key: u64,
    node: u32,
    version: u32,
}

/// Per pod shape: the score cache and the heap over feasible nodes.
#[derive(Debug, Clone, Default)]
struct ShapeState {
    /// The node version each cached score was computed for; 0 = never.
    version: Vec<u32>,
    /// Heap key of each node's cached score; 0 = infeasible.
    key: Vec<u64>,
    /// For a fractional pod under FGD, the GPU the score was computed for.
    gpu: Vec<u8>,
    heap: BinaryHeap<Entry>,
    /// How much of the change log this shape has absorbed.
    seen: usize,
    /// The release count at which this shape last fitted nowhere. Fitting
    /// only gets harder as pods are allocated, so until something is
    /// released the shape cannot fit anywhere and needs no search.
    nowhere_since: Option<u64>,
}

/// How many random draws the Random policy makes before it falls back to
/// listing every feasible node (a nearly full cluster has few).
const RANDOM_DRAWS: usize = 32;

/// A policy bound to a share index, with the fragmentation bookkeeping FGD
/// and the replay reports need.
#[derive(Debug, Clone)]
pub struct ShareScheduler {
    policy: Policy,
    index: ShareIndex,
    typical: TypicalPods,
    node_frag: Vec<f64>,
    cluster_frag: f64,
    shapes: Vec<PodSpec>,
    shape_ids: HashMap<PodSpec, ShapeId>,
    state: Vec<ShapeState>,
    /// Nodes changed by each allocation and release, in order.
    changes: Vec<u32>,
    /// Releases so far.
    releases: u64,
    ties: Vec<u32>,
    rank: Vec<u32>,
    rng: ChaCha8Rng,
}

impl ShareScheduler {
    /// A scheduler for `policy` over `index`, measuring fragmentation against
    /// `typical`, breaking ties with a generator seeded from `seed`.
    pub fn new(policy: Policy, index: ShareIndex, typical: TypicalPods, seed: u64) -> Self {
        let node_frag: Vec<f64> = index.nodes().iter().map(|n| typical.node_frag(n)).collect();
        let cluster_frag = node_frag.iter().sum();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(TIE_BREAK_STREAM);
        let mut rank: Vec<u32> = (0..index.len() as u32).collect();
        rank.shuffle(&mut rng);
        Self {
            policy,
            index,
            typical,
            node_frag,
            cluster_frag,
            shapes: Vec::new(),
            shape_ids: HashMap::new(),
            state: Vec::new(),
            changes: Vec::new(),
            releases: 0,
            ties: Vec::new(),
            rank,
            rng,
        }
    }

    /// The policy.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// The index as it stands.
    pub fn index(&self) -> &ShareIndex {
        &self.index
    }

    /// The typical pods fragmentation is measured against.
    pub fn typical(&self) -> &TypicalPods {
        &self.typical
    }

    /// Expected fragmented milli-GPU of the whole cluster.
    pub fn cluster_frag(&self) -> f64 {
        self.cluster_frag
    }

    /// Expected fragmented milli-GPU of each node.
    pub fn node_frag(&self) -> &[f64] {
        &self.node_frag
    }

    /// The ordinal of a pod shape, registering it on first sight.
    pub fn shape(&mut self, pod: &PodSpec) -> ShapeId {
        if let Some(&id) = self.shape_ids.get(pod) {
            return id;
        }
        let id = ShapeId(self.shapes.len() as u32);
        self.shapes.push(*pod);
        self.shape_ids.insert(*pod, id);
        self.state.push(ShapeState::default());
        id
    }

    /// Place one pod: filter, score, pick the best node (lowest rank on ties)
    /// and allocate. `None` when no node fits; the index is then unchanged.
    pub fn place(&mut self, pod: &PodSpec) -> Option<Placement> {
        let shape = self.shape(pod);
        self.place_shape(shape)
    }

    /// [`ShareScheduler::place`] for a shape already registered.
    pub fn place_shape(&mut self, shape: ShapeId) -> Option<Placement> {
        let pod = *self.shapes.get(shape.0 as usize)?;
        if self.state[shape.0 as usize].nowhere_since == Some(self.releases) {
            return None;
        }
        let picked = if self.policy == Policy::Random {
            self.pick_uniform(&pod)
        } else {
            self.pick_best(shape, &pod)
        };
        let Some(node) = picked else {
            self.state[shape.0 as usize].nowhere_since = Some(self.releases);
            return None;
        };
        let share_gpu = if pod.is_fractional() {
            let state = &self.index.nodes()[node as usize];
            match self.policy {
                Policy::Fgd => Some(self.state[shape.0 as usize].gpu[node as usize]),
                Policy::Random => {
                    let room: Vec<u8> = (0..state.gpus)
                        .filter(|&g| state.gpu_left[usize::from(g)] >= pod.gpu_milli)
                        .collect();
                    room.get(self.rng.random_range(0..room.len().max(1)))
                        .copied()
                }
                _ => best_fit_gpu(state, pod.gpu_milli),
            }
        } else {
            None
        };
        let placement = self.index.allocate(node, &pod, share_gpu).ok()?;
        self.changed(node);
        Some(placement)
    }

    /// The feasible node with the best score, lowest rank on ties.
    fn pick_best(&mut self, shape: ShapeId, pod: &PodSpec) -> Option<u32> {
        let nodes = self.index.nodes();
        let versions = self.index.versions();
        let st = &mut self.state[shape.0 as usize];
        let n = nodes.len();
        let pending = self.changes.len() - st.seen;
        if st.version.len() != n || pending >= 4 * n || st.heap.len() > 4 * n + 64 {
            // First sight, or so much changed (or so many stale entries piled
            // up) that rebuilding from scratch is cheaper.
            st.version.resize(n, 0);
            st.key.resize(n, 0);
            st.gpu.resize(n, 0);
            let mut entries = Vec::with_capacity(n);
            for node in 0..n {
                if st.version[node] != versions[node] {
                    refresh(
                        st,
                        node,
                        self.policy,
                        &nodes[node],
                        pod,
                        &self.typical,
                        self.node_frag[node],
                        self.rank[node],
                    );
                }
                if st.key[node] != 0 {
                    entries.push(Entry {
                        key: st.key[node],
                        node: node as u32,
                        version: versions[node],
                    });
                }
            }
            st.heap = BinaryHeap::from(entries);
        } else {
            for &node in &self.changes[st.seen..] {
                let node = node as usize;
                if st.version[node] == versions[node] {
                    continue;
                }
                refresh(
                    st,
                    node,
                    self.policy,
                    &nodes[node],
                    pod,
                    &self.typical,
                    self.node_frag[node],
                    self.rank[node],
                );
                if st.key[node] != 0 {
                    st.heap.push(Entry {
                        key: st.key[node],
                        node: node as u32,
                        version: versions[node],
                    });
                }
            }
        }
        st.seen = self.changes.len();
        // Entries computed for an older version of their node are stale: the
        // node's current entry (if it is feasible) was pushed when it changed.
        while let Some(top) = st.heap.peek() {
            if top.version == versions[top.node as usize] {
                return Some(top.node);
            }
            st.heap.pop();
        }
        None
    }

    /// A feasible node drawn uniformly: random draws first (each is uniform
    /// over all nodes, so an accepted one is uniform over the feasible), then
    /// a full listing when the feasible are too rare to hit.
    fn pick_uniform(&mut self, pod: &PodSpec) -> Option<u32> {
        let nodes = self.index.nodes();
        if nodes.is_empty() {
            return None;
        }
        for _ in 0..RANDOM_DRAWS {
            let n = self.rng.random_range(0..nodes.len());
            if nodes[n].fits(pod) {
                return Some(n as u32);
            }
        }
        self.ties.clear();
        self.ties
            .extend((0..nodes.len() as u32).filter(|&n| nodes[n as usize].fits(pod)));
        match self.ties.len() {
            0 => None,
            k => Some(self.ties[self.rng.random_range(0..k)]),
        }
    }

    /// Give back a placement made by this scheduler.
    pub fn release(&mut self, placement: &Placement) -> Result<(), ShareError> {
        self.index.release(placement)?;
        self.releases += 1;
        self.changed(placement.node);
        Ok(())
    }

    fn changed(&mut self, node: u32) {
        self.changes.push(node);
        let n = node as usize;
        let now = self.typical.node_frag(&self.index.nodes()[n]);
        self.cluster_frag += now - self.node_frag[n];
        self.node_frag[n] = now;
    }
}

/// Filter and score one node for one pod shape, into the shape's cache.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn refresh(
    st: &mut ShapeState,
    node: usize,
    policy: Policy,
    state: &NodeState,
    pod: &PodSpec,
    typical: &TypicalPods,
    frag_now: f64,
    rank: u32,
) {
    st.version[node] = state.version;
    if state.fits(pod) {
        let s = score(policy, state, pod, typical, frag_now);
        // Scores are 0..=100; +1 keeps every feasible key above 0.
        let score = u64::from((s.score.max(0) as u32) + 1);
        st.key[node] = (score << 32) | u64::from(u32::MAX - rank);
        st.gpu[node] = s.gpu;
    } else {
        st.key[node] = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::share::spec::{ModelSet, ModelTable, NodeSpec};

    fn scheduler(policy: Policy) -> ShareScheduler {
        let mut t = ModelTable::new();
        let m = t.intern("G2").unwrap();
        let nodes = (0..4)
            .map(|i| {
                NodeSpec::new(16_000, 64_000, if i % 2 == 0 { 8 } else { 2 }, Some(m)).unwrap()
            })
            .collect();
        let workload = vec![
            PodSpec::new(1000, 1000, 1, 500, ModelSet::Any).unwrap(),
            PodSpec::new(1000, 1000, 1, 1000, ModelSet::Any).unwrap(),
        ];
        ShareScheduler::new(
            policy,
            ShareIndex::new(nodes),
            TypicalPods::from_workload(&workload, 95),
            7,
        )
    }

    #[test]
    fn every_policy_fills_then_fails_cleanly() {
        for policy in Policy::ALL {
            let mut s = scheduler(policy);
            let pod = PodSpec::new(1000, 1000, 1, 500, ModelSet::Any).unwrap();
            let mut placed = 0;
            while s.place(&pod).is_some() {
                placed += 1;
            }
            // 20 GPUs, two halves each; CPU (64 cores) is not the limit.
            assert_eq!(placed, 40, "{policy}");
            assert_eq!(s.index().allocated_gpu_milli(), 20_000);
            assert!(s.cluster_frag().abs() < 1e-9);
        }
    }

    #[test]
    fn cached_scores_follow_releases() {
        let mut s = scheduler(Policy::Fgd);
        let pod = PodSpec::new(1000, 1000, 1, 1000, ModelSet::Any).unwrap();
        let all: Vec<Placement> = std::iter::from_fn(|| s.place(&pod)).collect();
        assert_eq!(all.len(), 20);
        for p in &all {
            s.release(p).unwrap();
        }
        assert_eq!(s.index().allocated_gpu_milli(), 0);
        assert_eq!(std::iter::from_fn(|| s.place(&pod)).count(), 20);
    }
}
