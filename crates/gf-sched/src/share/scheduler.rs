//! Filter, score and select over the share index, one pod at a time.
//!
//! Scoring every node for every pod is the cost that made the reference
//! simulator take minutes per experiment. Here a node's score for a pod shape
//! is cached with the node's version: a placement changes one node, so the
//! next pod of a shape seen before rescores only the nodes that changed since.
//! FGD, whose score needs the fragmentation of a hypothetical node state, is
//! the policy that gains most.
//!
//! Ties go to the node of lowest rank in a seeded random ranking of the
//! nodes. That is what the reference simulator does (its kube-scheduler fork
//! picks the lexicographically smallest node name among equal scores, and the
//! names carry a seeded random prefix), and it matters: a fixed ranking keeps
//! filling the same nodes, which packs far better than a fresh coin per pod.
//! The Random policy alone picks uniformly among all feasible nodes.

use std::collections::HashMap;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::frag::TypicalPods;
use super::index::{Placement, ShareIndex, best_fit_gpu};
use super::policy::{Policy, score};
use super::spec::{PodSpec, ShareError};

/// A pod shape's dense ordinal within one [`ShareScheduler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShapeId(pub u32);

/// The random stream a scheduler draws tie-breaks from; the workload shuffle
/// of a replay uses stream 0 of the same seed, so the two never correlate.
pub const TIE_BREAK_STREAM: u64 = 1;

#[derive(Debug, Clone, Copy)]
struct Cached {
    version: u32,
    score: i32,
    gpu: u8,
}

const INFEASIBLE: i32 = i32::MIN;
const NEVER: Cached = Cached {
    version: 0,
    score: INFEASIBLE,
    gpu: 0,
};

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
    cache: Vec<Vec<Cached>>,
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
            cache: Vec::new(),
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
        self.cache.push(Vec::new());
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
        let nodes = self.index.nodes();
        let cache = &mut self.cache[shape.0 as usize];
        if cache.len() != nodes.len() {
            cache.clear();
            cache.resize(nodes.len(), NEVER);
        }
        self.ties.clear();
        let uniform = self.policy == Policy::Random;
        let mut best = INFEASIBLE;
        let mut best_rank = u32::MAX;
        let mut chosen = u32::MAX;
        for (n, (state, slot)) in nodes.iter().zip(cache.iter_mut()).enumerate() {
            if slot.version != state.version {
                *slot = if state.fits(&pod) {
                    let s = score(self.policy, state, &pod, &self.typical, self.node_frag[n]);
                    Cached {
                        version: state.version,
                        score: s.score,
                        gpu: s.gpu,
                    }
                } else {
                    Cached {
                        version: state.version,
                        ..NEVER
                    }
                };
            }
            if slot.score == INFEASIBLE || slot.score < best {
                continue;
            }
            if uniform {
                self.ties.push(n as u32);
                continue;
            }
            let rank = self.rank[n];
            if slot.score > best || rank < best_rank {
                best = slot.score;
                best_rank = rank;
                chosen = n as u32;
            }
        }
        let node = if uniform {
            match self.ties.len() {
                0 => return None,
                k => self.ties[self.rng.random_range(0..k)],
            }
        } else if chosen == u32::MAX {
            return None;
        } else {
            chosen
        };
        let share_gpu = if pod.is_fractional() {
            let state = &self.index.nodes()[node as usize];
            match self.policy {
                Policy::Fgd => Some(cache[node as usize].gpu),
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
        self.refresh_frag(node);
        Some(placement)
    }

    /// Give back a placement made by this scheduler.
    pub fn release(&mut self, placement: &Placement) -> Result<(), ShareError> {
        self.index.release(placement)?;
        self.refresh_frag(placement.node);
        Ok(())
    }

    fn refresh_frag(&mut self, node: u32) {
        let n = node as usize;
        let now = self.typical.node_frag(&self.index.nodes()[n]);
        self.cluster_frag += now - self.node_frag[n];
        self.node_frag[n] = now;
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
