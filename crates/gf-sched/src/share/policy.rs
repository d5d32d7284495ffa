//! The six placement policies compared by the FGD paper, as node scores.
//!
//! Each policy scores every node that passes the filter; the scheduler takes
//! the highest score and breaks ties uniformly at random, as kube-scheduler's
//! `selectHost` does. Scores are integers in 0..=100, truncated exactly where
//! the reference plugins truncate them: the truncation decides how many nodes
//! tie, and ties decide how much the random tie-break spreads the load, so
//! it matters for the published numbers.
//!
//! | policy | idea (paper section 6.1) |
//! |---|---|
//! | `random` | any feasible node, uniformly |
//! | `dotprod` | Tetris-style alignment of free and requested (CPU, GPU) vectors |
//! | `gpuclustering` | keep tasks with the same GPU count together |
//! | `gpupacking` | fill partly used GPUs, then partly used nodes, then free nodes |
//! | `bestfit` | least free (CPU, GPU) left after placement |
//! | `fgd` | least growth of expected fragmentation (fragmentation gradient descent) |

use std::fmt;
use std::str::FromStr;

use super::frag::TypicalPods;
use super::index::{NodeState, affinity_class};
use super::spec::{MAX_GPUS_PER_NODE, MILLI_PER_GPU, PodSpec};

/// The largest CPU of a node, millicores; the reference normalises by it.
pub const MAX_SPEC_CPU: f64 = 128_000.0;
/// The largest GPU of a node, milli-GPU; the reference normalises by it.
pub const MAX_SPEC_GPU: i64 = 8_000;
/// The best node score.
pub const MAX_NODE_SCORE: i64 = 100;

/// A placement policy for GPU-sharing workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Policy {
    /// Uniformly random among feasible nodes.
    Random,
    /// Tetris's dot product of free and requested resources.
    DotProd,
    /// Keep pods with the same GPU count on the same nodes.
    GpuClustering,
    /// Pack onto partly used GPUs first, then partly used nodes.
    GpuPacking,
    /// Least resources left after placement.
    BestFit,
    /// Fragmentation gradient descent.
    Fgd,
}

/// A policy name that is not one of [`Policy::ALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownPolicy(pub String);

impl fmt::Display for UnknownPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown policy '{}'; use one of ", self.0)?;
        for (i, p) in Policy::ALL.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(p.name())?;
        }
        Ok(())
    }
}

impl std::error::Error for UnknownPolicy {}

impl Policy {
    /// Every policy, in the paper's order.
    pub const ALL: [Policy; 6] = [
        Policy::Random,
        Policy::DotProd,
        Policy::GpuClustering,
        Policy::GpuPacking,
        Policy::BestFit,
        Policy::Fgd,
    ];

    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Random => "random",
            Policy::DotProd => "dotprod",
            Policy::GpuClustering => "gpuclustering",
            Policy::GpuPacking => "gpupacking",
            Policy::BestFit => "bestfit",
            Policy::Fgd => "fgd",
        }
    }

    /// The label of the published result files (`sc_policy` column).
    pub fn published_label(self) -> &'static str {
        match self {
            Policy::Random => "01-Random",
            Policy::DotProd => "02-DotProd",
            Policy::GpuClustering => "03-GpuClustering",
            Policy::GpuPacking => "04-GpuPacking",
            Policy::BestFit => "05-BestFit",
            Policy::Fgd => "06-FGD",
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Policy {
    type Err = UnknownPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        Policy::ALL
            .into_iter()
            .find(|p| p.name() == lower)
            .ok_or_else(|| UnknownPolicy(s.to_owned()))
    }
}

/// A node's score for a pod and, for fractional pods under FGD, the GPU the
/// score was computed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeScore {
    /// Higher is better.
    pub score: i32,
    /// The GPU a fractional pod should take; meaningful only under FGD.
    pub gpu: u8,
}

/// Score a node that already passed the filter. `frag_now` is the node's
/// current fragmentation (only FGD reads it).
pub fn score(
    policy: Policy,
    node: &NodeState,
    pod: &PodSpec,
    typical: &TypicalPods,
    frag_now: f64,
) -> NodeScore {
    let plain = |s: i64| NodeScore {
        score: s as i32,
        gpu: 0,
    };
    match policy {
        Policy::Random => plain(0),
        Policy::DotProd => plain(dot_product(node, pod)),
        Policy::GpuClustering => plain(gpu_clustering(node, pod)),
        Policy::GpuPacking => plain(gpu_packing(node, pod)),
        Policy::BestFit => plain(best_fit(node, pod)),
        Policy::Fgd => fgd(node, pod, typical, frag_now),
    }
}

/// Tetris: the dot product of the free vector and the request, both over
/// (CPU, GPU) normalised by the largest node; a smaller product scores higher
/// (the reference's "merge" dimension and "max" normalisation).
fn dot_product(node: &NodeState, pod: &PodSpec) -> i64 {
    let free = [
        node.cpu_left as f64 / MAX_SPEC_CPU,
        node.total_gpu_left() as f64 / MAX_SPEC_GPU as f64,
    ];
    let req = [
        pod.cpu_milli as f64 / MAX_SPEC_CPU,
        pod.total_gpu_milli() as f64 / MAX_SPEC_GPU as f64,
    ];
    let dot = free[0] * req[0] + free[1] * req[1];
    let score = 1.0 - dot / 2.0;
    (MAX_NODE_SCORE as f64 * score) as i64
}

/// GPU clustering: a GPU pod prefers nodes that host only its own GPU-count
/// class, then nodes that host its class among others, then empty nodes, then
/// nodes of other classes; within each band, fuller nodes first.
fn gpu_clustering(node: &NodeState, pod: &PodSpec) -> i64 {
    let Some(class) = affinity_class(pod) else {
        return 0;
    };
    let used = MAX_SPEC_GPU - node.total_gpu_left() as i64;
    let fullness = MAX_NODE_SCORE / 4 * used / MAX_SPEC_GPU;
    let band = if node.affinity[class] > 0 {
        if node.affinity_classes() == 1 { 3 } else { 2 }
    } else if node.affinity_classes() == 0 {
        1
    } else {
        0
    };
    fullness + MAX_NODE_SCORE * band / 4
}

/// GPU packing: share a partly used GPU (fuller is better), else take free
/// GPUs on a partly used node (fewer is better), else open a free node
/// (smaller is better).
fn gpu_packing(node: &NodeState, pod: &PodSpec) -> i64 {
    if !pod.wants_gpu() {
        return 0;
    }
    let fully_free = i64::from(node.fully_free_gpus());
    if fully_free == i64::from(node.gpus) {
        return (MAX_NODE_SCORE / 3 - fully_free).max(fully_free);
    }
    let order = ascending_gpus(node);
    let mut need = pod.num_gpu;
    let mut free_taken = 0i64;
    let mut used_free_pct = 0i64;
    for &g in &order[..usize::from(node.gpus)] {
        if need == 0 {
            break;
        }
        let left = node.gpu_left[usize::from(g)];
        if pod.gpu_milli <= left {
            need -= 1;
            used_free_pct += i64::from(left) * 100 / i64::from(MILLI_PER_GPU);
            if left == MILLI_PER_GPU {
                free_taken += 1;
            }
        }
    }
    if free_taken > 0 {
        return (MAX_NODE_SCORE / 2 - free_taken).max(MAX_NODE_SCORE / 3);
    }
    (MAX_NODE_SCORE - used_free_pct / 10).max(MAX_NODE_SCORE / 2)
}

/// Best fit: the weighted free (CPU, GPU) left after placement, normalised by
/// the largest node, lower is better; reported reversed on 0..=100.
fn best_fit(node: &NodeState, pod: &PodSpec) -> i64 {
    let free = [node.cpu_left as f64, node.total_gpu_left() as f64];
    let req = [pod.cpu_milli as f64, pod.total_gpu_milli() as f64];
    let max = [MAX_SPEC_CPU, MAX_SPEC_GPU as f64];
    let mut left = 0.0;
    for i in 0..2 {
        left += (free[i] - req[i]) / max[i] * 0.5;
    }
    ((1.0 - left) * MAX_NODE_SCORE as f64) as i64
}

/// FGD: the sigmoid of the fragmentation decrease (in GPUs) the placement
/// causes. A fractional pod is tried on every GPU with room and keeps the
/// best; a whole-GPU or CPU-only pod is packed onto the tightest GPUs.
fn fgd(node: &NodeState, pod: &PodSpec, typical: &TypicalPods, frag_now: f64) -> NodeScore {
    let cpu_after = node.cpu_left - pod.cpu_milli;
    let to_score = |frag_after: f64| -> i32 {
        (sigmoid((frag_now - frag_after) / 1000.0) * MAX_NODE_SCORE as f64) as i32
    };
    let gpus = node.gpus_left();
    if pod.is_fractional() {
        let mut best: Option<NodeScore> = None;
        let mut after = node.gpu_left;
        for (g, &left) in gpus.iter().enumerate() {
            if left < pod.gpu_milli {
                continue;
            }
            // GPUs with the same free share lead to the same state; the first
            // of them already stands for all (ties keep the first GPU).
            if gpus[..g].contains(&left) {
                continue;
            }
            after[g] = left - pod.gpu_milli;
            let s = to_score(typical.frag_of(cpu_after, &after[..gpus.len()], node.model));
            after[g] = left;
            if best.is_none_or(|b| s > b.score) {
                best = Some(NodeScore {
                    score: s,
                    gpu: g as u8,
                });
            }
        }
        return best.unwrap_or(NodeScore { score: 0, gpu: 0 });
    }
    let mut after = node.gpu_left;
    let mut need = pod.num_gpu;
    let order = ascending_gpus(node);
    for &g in &order[..gpus.len()] {
        if need == 0 {
            break;
        }
        let g = usize::from(g);
        if after[g] >= pod.gpu_milli {
            after[g] -= pod.gpu_milli;
            need -= 1;
        }
    }
    NodeScore {
        score: to_score(typical.frag_of(cpu_after, &after[..gpus.len()], node.model)),
        gpu: 0,
    }
}

/// The node's GPU ordinals sorted by free share, ascending, stable.
#[inline]
fn ascending_gpus(node: &NodeState) -> [u8; MAX_GPUS_PER_NODE] {
    let mut order = [0u8, 1, 2, 3, 4, 5, 6, 7];
    let n = usize::from(node.gpus);
    // Insertion sort: at most eight elements, and stable.
    for i in 1..n {
        let mut j = i;
        while j > 0
            && node.gpu_left[usize::from(order[j - 1])] > node.gpu_left[usize::from(order[j])]
        {
            order.swap(j - 1, j);
            j -= 1;
        }
    }
    order
}

#[inline]
fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::share::index::ShareIndex;
    use crate::share::spec::{ModelSet, ModelTable, NodeSpec};

    fn node_with(left: &[u16]) -> NodeState {
        let mut t = ModelTable::new();
        let m = t.intern("G2").unwrap();
        let ix = ShareIndex::new(vec![
            NodeSpec::new(96_000, 1 << 20, left.len() as u32, Some(m)).unwrap(),
        ]);
        let mut n = ix.node(0).unwrap().clone();
        n.gpu_left[..left.len()].copy_from_slice(left);
        n
    }

    #[test]
    fn names_round_trip() {
        for p in Policy::ALL {
            assert_eq!(p.name().parse::<Policy>().unwrap(), p);
        }
        assert_eq!("FGD".parse::<Policy>().unwrap(), Policy::Fgd);
        assert_eq!(
            "tetris".parse::<Policy>().unwrap_err().to_string(),
            "unknown policy 'tetris'; use one of random, dotprod, gpuclustering, gpupacking, bestfit, fgd"
        );
    }

    #[test]
    fn gpu_packing_prefers_shared_then_used_then_free_nodes() {
        let frac = PodSpec::new(1000, 0, 1, 200, ModelSet::Any).unwrap();
        let free_node = node_with(&[1000; 8]);
        let used_node = node_with(&[0, 1000, 1000, 1000, 1000, 1000, 1000, 1000]);
        let shared = node_with(&[300, 1000, 1000, 1000, 1000, 1000, 1000, 1000]);
        let a = gpu_packing(&free_node, &frac);
        let b = gpu_packing(&used_node, &frac);
        let c = gpu_packing(&shared, &frac);
        assert_eq!((a, b, c), (25, 49, 97));
    }

    #[test]
    fn fgd_prefers_the_gpu_that_fragments_least() {
        let typical = TypicalPods::from_pods(vec![crate::share::frag::TypicalPod {
            cpu_milli: 0,
            gpu_milli: 500,
            num_gpu: 1,
            models: ModelSet::Any,
            freq: 1.0,
        }]);
        let node = node_with(&[500, 1000]);
        let frac = PodSpec::new(0, 0, 1, 500, ModelSet::Any).unwrap();
        let now = typical.node_frag(&node);
        let s = fgd(&node, &frac, &typical, now);
        // Filling the half-used GPU leaves a whole GPU: no fragment at all.
        assert_eq!(s.gpu, 0);
        assert_eq!(s.score, 50);
        // Splitting the free GPU instead would leave two halves: also none.
        // A 600 request on [500, 1000] must take GPU 1 and leaves 500 + 400,
        // where the 400 is a fragment for the 500 task.
        let big = PodSpec::new(0, 0, 1, 600, ModelSet::Any).unwrap();
        let s = fgd(&node, &big, &typical, now);
        assert_eq!(s.gpu, 1);
        assert_eq!(s.score, (sigmoid(-0.4) * 100.0) as i32);
    }
}
