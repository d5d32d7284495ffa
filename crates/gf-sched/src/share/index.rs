//! The node-level capacity index for GPU sharing: per node, free CPU, free
//! memory and the free milli-GPU of each GPU.
//!
//! A fractional pod takes part of one GPU; a whole-GPU pod takes fully free
//! GPUs. Every allocation returns a [`Placement`] that carries exactly what was
//! taken, so a release restores the node bit for bit. Each node carries a
//! version that changes on every allocation and release, which lets callers
//! cache per-node scores and recompute only what changed.

use super::spec::{MAX_GPUS_PER_NODE, MILLI_PER_GPU, ModelId, NodeSpec, PodSpec, ShareError};

/// Which GPU-count class of pods a node hosts, for the GPU-clustering policy:
/// index 0 is fractional ("share-gpu"), index k is "k whole GPUs".
pub const AFFINITY_CLASSES: usize = MAX_GPUS_PER_NODE + 1;

/// The free resources of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeState {
    /// Free CPU millicores.
    pub cpu_left: u64,
    /// Free memory MiB.
    pub mem_left: u64,
    /// Free milli-GPU of each GPU; only the first `gpus` entries are real.
    pub gpu_left: [u16; MAX_GPUS_PER_NODE],
    /// Number of GPUs.
    pub gpus: u8,
    /// The GPU model.
    pub model: Option<ModelId>,
    /// How many pods of each affinity class the node hosts.
    pub affinity: [u32; AFFINITY_CLASSES],
    /// Changes on every allocation and release; never 0.
    pub version: u32,
}

impl NodeState {
    fn new(spec: &NodeSpec) -> Self {
        let mut gpu_left = [0u16; MAX_GPUS_PER_NODE];
        for g in gpu_left.iter_mut().take(usize::from(spec.gpus)) {
            *g = MILLI_PER_GPU;
        }
        Self {
            cpu_left: spec.cpu_milli,
            mem_left: spec.memory_mib,
            gpu_left,
            gpus: spec.gpus,
            model: spec.model,
            affinity: [0; AFFINITY_CLASSES],
            version: 1,
        }
    }

    /// The real GPUs' free milli-GPU.
    #[inline]
    pub fn gpus_left(&self) -> &[u16] {
        &self.gpu_left[..usize::from(self.gpus)]
    }

    /// Total free milli-GPU.
    #[inline]
    pub fn total_gpu_left(&self) -> u64 {
        self.gpus_left().iter().map(|&g| u64::from(g)).sum()
    }

    /// Number of fully free GPUs.
    #[inline]
    pub fn fully_free_gpus(&self) -> u32 {
        self.gpus_left()
            .iter()
            .filter(|&&g| g == MILLI_PER_GPU)
            .count() as u32
    }

    /// Whether `pod` fits: CPU, memory, GPU model and enough GPU on as many
    /// GPUs as it asks for. This is the reference simulator's filter stage
    /// (kube-scheduler's NodeResourcesFit plus the Open-Gpu-Share filter).
    #[inline]
    pub fn fits(&self, pod: &PodSpec) -> bool {
        if self.cpu_left < pod.cpu_milli || self.mem_left < pod.memory_mib {
            return false;
        }
        if !pod.wants_gpu() {
            return true;
        }
        if self.gpus == 0 || !pod.models.accepts(self.model) {
            return false;
        }
        let enough = self
            .gpus_left()
            .iter()
            .filter(|&&g| g >= pod.gpu_milli)
            .count();
        enough >= usize::from(pod.num_gpu)
    }

    /// How many distinct affinity classes the node hosts.
    #[inline]
    pub fn affinity_classes(&self) -> usize {
        self.affinity.iter().filter(|&&c| c > 0).count()
    }
}

/// The affinity class of a GPU pod, `None` for a CPU-only pod.
#[inline]
pub fn affinity_class(pod: &PodSpec) -> Option<usize> {
    if !pod.wants_gpu() {
        None
    } else if pod.is_fractional() {
        Some(0)
    } else {
        Some(usize::from(pod.num_gpu).min(MAX_GPUS_PER_NODE))
    }
}

/// What one allocation took; handing it back to [`ShareIndex::release`]
/// restores the node exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// The node ordinal.
    pub node: u32,
    /// Bit g set when GPU g was used.
    pub gpu_mask: u8,
    /// Milli-GPU taken on each used GPU.
    pub gpu_milli: u16,
    /// CPU millicores taken.
    pub cpu_milli: u64,
    /// Memory MiB taken.
    pub memory_mib: u64,
    /// The pod's affinity class, if it uses GPUs.
    pub affinity: Option<u8>,
}

impl Placement {
    /// Milli-GPU taken in total.
    pub fn total_gpu_milli(&self) -> u64 {
        u64::from(self.gpu_mask.count_ones()) * u64::from(self.gpu_milli)
    }
}

/// Free resources of every node, by dense node ordinal.
#[derive(Debug, Clone)]
pub struct ShareIndex {
    specs: Vec<NodeSpec>,
    nodes: Vec<NodeState>,
    /// The nodes' versions again, packed, so a scan over all nodes reads 4
    /// bytes per node instead of a whole [`NodeState`].
    versions: Vec<u32>,
    total_gpus: u64,
    allocated_gpu_milli: u64,
}

impl ShareIndex {
    /// An index of empty nodes.
    pub fn new(specs: Vec<NodeSpec>) -> Self {
        let nodes: Vec<NodeState> = specs.iter().map(NodeState::new).collect();
        let versions = nodes.iter().map(|n| n.version).collect();
        let total_gpus = specs.iter().map(|s| u64::from(s.gpus)).sum();
        Self {
            specs,
            nodes,
            versions,
            total_gpus,
            allocated_gpu_milli: 0,
        }
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the index has no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The state of every node.
    pub fn nodes(&self) -> &[NodeState] {
        &self.nodes
    }

    /// Every node's version, by ordinal (see [`NodeState::version`]).
    pub fn versions(&self) -> &[u32] {
        &self.versions
    }

    /// The state of one node.
    pub fn node(&self, node: u32) -> Option<&NodeState> {
        self.nodes.get(node as usize)
    }

    /// The capacity of every node.
    pub fn specs(&self) -> &[NodeSpec] {
        &self.specs
    }

    /// GPUs in the cluster.
    pub fn total_gpus(&self) -> u64 {
        self.total_gpus
    }

    /// Milli-GPU currently allocated.
    pub fn allocated_gpu_milli(&self) -> u64 {
        self.allocated_gpu_milli
    }

    /// Allocate `pod` on `node`. A fractional pod goes to GPU `share_gpu`
    /// (which must have room); a whole-GPU pod takes the lowest-numbered fully
    /// free GPUs, as the reference simulator's exclusive allocator does.
    pub fn allocate(
        &mut self,
        node: u32,
        pod: &PodSpec,
        share_gpu: Option<u8>,
    ) -> Result<Placement, ShareError> {
        let nodes = self.nodes.len();
        let state = self
            .nodes
            .get_mut(node as usize)
            .ok_or(ShareError::UnknownNode { node, nodes })?;
        if !state.fits(pod) {
            return Err(ShareError::DoesNotFit { node });
        }
        let mut mask = 0u8;
        if pod.wants_gpu() {
            if pod.is_fractional() {
                let g = match share_gpu {
                    Some(g)
                        if g < state.gpus && state.gpu_left[usize::from(g)] >= pod.gpu_milli =>
                    {
                        g
                    }
                    Some(_) => return Err(ShareError::DoesNotFit { node }),
                    // Without a choice, take the tightest GPU, the reference's default.
                    None => {
                        best_fit_gpu(state, pod.gpu_milli).ok_or(ShareError::DoesNotFit { node })?
                    }
                };
                mask = 1 << g;
            } else {
                let mut need = pod.num_gpu;
                for (g, &left) in state.gpus_left().iter().enumerate() {
                    if need == 0 {
                        break;
                    }
                    if left == MILLI_PER_GPU {
                        mask |= 1 << g;
                        need -= 1;
                    }
                }
                if need > 0 {
                    return Err(ShareError::DoesNotFit { node });
                }
            }
        }
        for g in 0..usize::from(state.gpus) {
            if mask & (1 << g) != 0 {
                state.gpu_left[g] -= pod.gpu_milli;
            }
        }
        state.cpu_left -= pod.cpu_milli;
        state.mem_left -= pod.memory_mib;
        let affinity = affinity_class(pod);
        if let Some(a) = affinity {
            state.affinity[a] += 1;
        }
        state.version = next_version(state.version);
        self.versions[node as usize] = state.version;
        let placement = Placement {
            node,
            gpu_mask: mask,
            gpu_milli: if mask == 0 { 0 } else { pod.gpu_milli },
            cpu_milli: pod.cpu_milli,
            memory_mib: pod.memory_mib,
            affinity: affinity.map(|a| a as u8),
        };
        self.allocated_gpu_milli += placement.total_gpu_milli();
        Ok(placement)
    }

    /// Give back what `placement` took.
    pub fn release(&mut self, placement: &Placement) -> Result<(), ShareError> {
        let nodes = self.nodes.len();
        let node = placement.node;
        let spec = self
            .specs
            .get(node as usize)
            .ok_or(ShareError::UnknownNode { node, nodes })?;
        let state = &mut self.nodes[node as usize];
        // Check everything before changing anything, so a bad release leaves
        // the node as it was.
        let over = state.cpu_left + placement.cpu_milli > spec.cpu_milli
            || state.mem_left + placement.memory_mib > spec.memory_mib
            || (0..MAX_GPUS_PER_NODE).any(|g| {
                placement.gpu_mask & (1 << g) != 0
                    && (g >= usize::from(state.gpus)
                        || state.gpu_left[g] + placement.gpu_milli > MILLI_PER_GPU)
            })
            || placement
                .affinity
                .is_some_and(|a| state.affinity.get(usize::from(a)).is_none_or(|&c| c == 0));
        if over {
            return Err(ShareError::ReleaseExceedsCapacity { node });
        }
        for g in 0..usize::from(state.gpus) {
            if placement.gpu_mask & (1 << g) != 0 {
                state.gpu_left[g] += placement.gpu_milli;
            }
        }
        state.cpu_left += placement.cpu_milli;
        state.mem_left += placement.memory_mib;
        if let Some(a) = placement.affinity {
            state.affinity[usize::from(a)] -= 1;
        }
        state.version = next_version(state.version);
        self.versions[node as usize] = state.version;
        self.allocated_gpu_milli -= placement.total_gpu_milli();
        Ok(())
    }
}

/// Versions skip 0 so that 0 can mean "never seen" in caches.
#[inline]
fn next_version(v: u32) -> u32 {
    match v.wrapping_add(1) {
        0 => 1,
        n => n,
    }
}

/// The GPU with the least free milli-GPU that still holds `milli`; the first
/// such GPU on ties.
#[inline]
pub fn best_fit_gpu(state: &NodeState, milli: u16) -> Option<u8> {
    let mut best: Option<(u8, u16)> = None;
    for (g, &left) in state.gpus_left().iter().enumerate() {
        if left >= milli && best.is_none_or(|(_, b)| left < b) {
            best = Some((g as u8, left));
        }
    }
    best.map(|(g, _)| g)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::share::spec::{ModelSet, ModelTable};

    fn index() -> ShareIndex {
        let mut t = ModelTable::new();
        let m = t.intern("T4").unwrap();
        ShareIndex::new(vec![
            NodeSpec::new(8000, 1024, 2, Some(m)).unwrap(),
            NodeSpec::new(4000, 512, 0, None).unwrap(),
        ])
    }

    #[test]
    fn fractional_pods_share_a_gpu_and_release_restores() {
        let mut ix = index();
        let before = ix.node(0).unwrap().clone();
        let half = PodSpec::new(1000, 100, 1, 500, ModelSet::Any).unwrap();
        let a = ix.allocate(0, &half, None).unwrap();
        let b = ix.allocate(0, &half, None).unwrap();
        // Best fit puts the second half on the same GPU as the first.
        assert_eq!(a.gpu_mask, b.gpu_mask);
        assert_eq!(ix.node(0).unwrap().fully_free_gpus(), 1);
        assert_eq!(ix.allocated_gpu_milli(), 1000);
        ix.release(&b).unwrap();
        ix.release(&a).unwrap();
        let after = ix.node(0).unwrap();
        assert_eq!(after.gpu_left, before.gpu_left);
        assert_eq!(after.cpu_left, before.cpu_left);
        assert_eq!(after.affinity, before.affinity);
        assert_eq!(ix.allocated_gpu_milli(), 0);
    }

    #[test]
    fn whole_gpu_pod_needs_fully_free_gpus() {
        let mut ix = index();
        let frac = PodSpec::new(0, 0, 1, 100, ModelSet::Any).unwrap();
        let two = PodSpec::new(0, 0, 2, 1000, ModelSet::Any).unwrap();
        ix.allocate(0, &frac, Some(1)).unwrap();
        assert_eq!(
            ix.allocate(0, &two, None),
            Err(ShareError::DoesNotFit { node: 0 })
        );
        assert!(!ix.node(1).unwrap().fits(&frac));
    }

    #[test]
    fn double_release_is_refused_and_changes_nothing() {
        let mut ix = index();
        let pod = PodSpec::new(1000, 100, 1, 1000, ModelSet::Any).unwrap();
        let p = ix.allocate(0, &pod, None).unwrap();
        ix.release(&p).unwrap();
        let snapshot = ix.node(0).unwrap().clone();
        assert_eq!(
            ix.release(&p),
            Err(ShareError::ReleaseExceedsCapacity { node: 0 })
        );
        assert_eq!(ix.node(0).unwrap(), &snapshot);
    }
}
