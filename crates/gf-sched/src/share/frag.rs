//! GPU fragmentation measured against a target workload, as defined by the
//! FGD paper (Weng et al., USENIX ATC 2023, section 4).
//!
//! Fragmentation is not a property of a node alone: free GPU capacity is a
//! fragment *for a given task* when that task cannot use it. A node's
//! fragmentation is the expected fragment over the workload's "typical pods"
//! (the most popular request shapes, weighted by popularity):
//!
//! - a task the node cannot run at all (not enough CPU, not enough GPUs with
//!   room, a GPU model it does not accept, or a task that asks for no GPU)
//!   sees all of the node's free GPU as a fragment;
//! - a task the node can run sees as fragment only the GPUs whose free share
//!   is smaller than the task's per-GPU request.
//!
//! FGD places each task where this expected fragment grows least. The
//! reference simulator (hkust-adsl/kubernetes-scheduler-simulator) builds the
//! typical pods from the workload's request shapes, keeping the most popular
//! ones until they cover 95% of the tasks; [`TypicalPods::from_workload`] does
//! the same.

use std::collections::HashMap;

use super::index::NodeState;
use super::spec::{MAX_GPU_MODELS, ModelId, ModelSet, PodSpec};

/// One popular request shape and its share of the workload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TypicalPod {
    /// CPU millicores.
    pub cpu_milli: u64,
    /// Milli-GPU per GPU; 0 for a CPU-only shape.
    pub gpu_milli: u16,
    /// Number of GPUs.
    pub num_gpu: u8,
    /// GPU models accepted.
    pub models: ModelSet,
    /// Share of the (kept) workload, 0..=1.
    pub freq: f64,
}

/// The target workload's typical pods, ready to measure fragmentation.
#[derive(Debug, Clone, PartialEq)]
pub struct TypicalPods {
    pods: Vec<TypicalPod>,
    /// Summed share of all kept shapes (1 up to rounding).
    weight_sum: f64,
    /// The shapes as a node of each GPU model sees them (index 0: a node
    /// without GPUs, index m + 1: model m), precomputed because measuring a
    /// node is the inner loop of FGD.
    views: Vec<ModelView>,
}

/// The typical pods as nodes of one GPU model see them.
#[derive(Debug, Clone, PartialEq, Default)]
struct ModelView {
    /// Summed share of the shapes for which all free GPU is a fragment
    /// whatever the node's state: CPU-only shapes and shapes that do not
    /// accept this model.
    always: f64,
    /// Accepted GPU shapes grouped by per-GPU milli-GPU, so one pass over the
    /// GPUs serves every shape of the group.
    groups: Vec<MilliGroup>,
}

/// One per-GPU milli-GPU value and its shapes as (CPU, GPU count, share).
type MilliGroup = (u16, Vec<(u64, u8, f64)>);

impl ModelView {
    fn new(pods: &[TypicalPod], model: Option<ModelId>) -> Self {
        let mut view = ModelView::default();
        for p in pods {
            if p.gpu_milli == 0 || !p.models.accepts(model) {
                view.always += p.freq;
                continue;
            }
            let entry = (p.cpu_milli, p.num_gpu, p.freq);
            match view.groups.iter_mut().find(|(m, _)| *m == p.gpu_milli) {
                Some((_, group)) => group.push(entry),
                None => view.groups.push((p.gpu_milli, vec![entry])),
            }
        }
        view
    }
}

/// The popularity threshold of the reference simulator's experiments, percent.
pub const DEFAULT_POPULARITY_PERCENT: u32 = 95;

impl TypicalPods {
    /// The typical pods of `workload`: its request shapes (CPU, milli-GPU,
    /// GPU count, accepted models; memory is ignored, as in the reference)
    /// sorted by popularity, kept until they cover `popularity_percent` of
    /// the tasks, then renormalised to sum to one.
    pub fn from_workload(workload: &[PodSpec], popularity_percent: u32) -> Self {
        type Key = (u64, u16, u8, ModelSet);
        let mut counts: HashMap<Key, u64> = HashMap::new();
        for p in workload {
            *counts
                .entry((p.cpu_milli, p.gpu_milli, p.num_gpu, p.models))
                .or_insert(0) += 1;
        }
        let mut shapes: Vec<(Key, u64)> = counts.into_iter().collect();
        // Most popular first; among equals the larger shape first, which is the
        // reference's order (a reversed sort on count, then CPU, GPU, count).
        shapes.sort_by(|(ka, ca), (kb, cb)| {
            cb.cmp(ca)
                .then(kb.0.cmp(&ka.0))
                .then(kb.1.cmp(&ka.1))
                .then(kb.2.cmp(&ka.2))
                .then(model_order(kb.3).cmp(&model_order(ka.3)))
        });
        let total = workload.len() as f64;
        let expected = f64::from(popularity_percent) * total / 100.0;
        let mut kept = 0usize;
        let mut cum = 0.0f64;
        while cum < expected && kept < shapes.len() {
            cum += shapes[kept].1 as f64;
            kept += 1;
        }
        let pods: Vec<TypicalPod> = shapes[..kept]
            .iter()
            .map(|&((cpu_milli, gpu_milli, num_gpu, models), n)| TypicalPod {
                cpu_milli,
                gpu_milli,
                num_gpu,
                models,
                freq: n as f64 / cum,
            })
            .collect();
        Self::from_pods(pods)
    }

    /// Typical pods given directly (for tests and custom targets).
    pub fn from_pods(pods: Vec<TypicalPod>) -> Self {
        let weight_sum = pods.iter().map(|p| p.freq).sum();
        let views = std::iter::once(None)
            .chain((0..MAX_GPU_MODELS as u8).map(|m| Some(ModelId(m))))
            .map(|m| ModelView::new(&pods, m))
            .collect();
        Self {
            pods,
            weight_sum,
            views,
        }
    }

    /// The kept shapes, most popular first.
    pub fn pods(&self) -> &[TypicalPod] {
        &self.pods
    }

    /// Summed share of the kept shapes (1 up to rounding).
    pub fn weight_sum(&self) -> f64 {
        self.weight_sum
    }

    /// Expected fragmented milli-GPU of a node.
    #[inline]
    pub fn node_frag(&self, state: &NodeState) -> f64 {
        self.frag_of(state.cpu_left, state.gpus_left(), state.model)
    }

    /// Expected fragmented milli-GPU of a node in the given state.
    pub fn frag_of(&self, cpu_left: u64, gpus_left: &[u16], model: Option<ModelId>) -> f64 {
        let total: u32 = gpus_left.iter().map(|&g| u32::from(g)).sum();
        if total == 0 {
            return 0.0;
        }
        let view = &self.views[model.map_or(0, |m| usize::from(m.0) + 1)];
        let total = f64::from(total);
        let mut frag = view.always * total;
        for (milli, group) in &view.groups {
            let mut room = 0u8;
            let mut small = 0u32;
            for &g in gpus_left {
                if g >= *milli {
                    room += 1;
                } else {
                    small += u32::from(g);
                }
            }
            let small = f64::from(small);
            for &(cpu, num, freq) in group {
                frag += freq
                    * if room >= num && cpu_left >= cpu {
                        small
                    } else {
                        total
                    };
            }
        }
        frag
    }
}

/// A total order on model sets for deterministic sorting.
fn model_order(m: ModelSet) -> (u8, u64) {
    match m {
        ModelSet::Any => (0, 0),
        ModelSet::OneOf(mask) => (1, mask),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::share::index::ShareIndex;
    use crate::share::spec::{ModelTable, NodeSpec};

    fn pod(cpu: u64, num: u32, milli: u32) -> PodSpec {
        PodSpec::new(cpu, 0, num, milli, ModelSet::Any).unwrap()
    }

    #[test]
    fn typical_pods_keep_the_popular_shapes_and_renormalise() {
        let mut w = vec![pod(1000, 1, 500); 60];
        w.extend(vec![pod(2000, 1, 1000); 38]);
        w.extend(vec![pod(3000, 0, 0); 2]);
        let t = TypicalPods::from_workload(&w, 95);
        assert_eq!(t.pods().len(), 2);
        assert!((t.pods()[0].freq - 60.0 / 98.0).abs() < 1e-12);
        assert!((t.weight_sum() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn frag_follows_the_paper_cases() {
        let mut models = ModelTable::new();
        let m = models.intern("G2").unwrap();
        let ix = ShareIndex::new(vec![NodeSpec::new(4000, 0, 2, Some(m)).unwrap()]);
        let node = ix.node(0).unwrap();
        // A half-GPU task fits a fresh node: nothing is a fragment.
        let half = TypicalPods::from_pods(vec![TypicalPod {
            cpu_milli: 1000,
            gpu_milli: 500,
            num_gpu: 1,
            models: ModelSet::Any,
            freq: 1.0,
        }]);
        assert_eq!(half.node_frag(node), 0.0);
        // With 300 and 1000 free, the 300 is a fragment for the half task.
        assert_eq!(half.frag_of(4000, &[300, 1000], Some(m)), 300.0);
        // Without CPU left, all free GPU is a fragment.
        assert_eq!(half.frag_of(500, &[300, 1000], Some(m)), 1300.0);
        // A CPU-only task sees every free GPU as a fragment.
        let cpu = TypicalPods::from_pods(vec![TypicalPod {
            cpu_milli: 1000,
            gpu_milli: 0,
            num_gpu: 0,
            models: ModelSet::Any,
            freq: 1.0,
        }]);
        assert_eq!(cpu.node_frag(node), 2000.0);
        // A task that wants another model sees every free GPU as a fragment.
        let other = TypicalPods::from_pods(vec![TypicalPod {
            cpu_milli: 0,
            gpu_milli: 1000,
            num_gpu: 1,
            models: ModelSet::OneOf(1 << 1),
            freq: 1.0,
        }]);
        assert_eq!(other.node_frag(node), 2000.0);
    }
}
