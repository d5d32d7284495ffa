//! The shapes the GPU-sharing index works with: GPU models, node capacities
//! and pod requests, validated once so the hot path never re-checks them.
//!
//! Requests are kept in the units the traces use (CPU millicores, memory MiB,
//! milli-GPU) so a replay compares like with like against published results.

use thiserror::Error;

/// The most GPUs one node (one capacity unit of the share index) may carry.
///
/// Eight covers HGX servers and every node of the Alibaba openb trace; a fixed
/// bound lets a node's GPUs live in a small array instead of a heap vector.
pub const MAX_GPUS_PER_NODE: usize = 8;

/// Milli-GPU in one whole GPU.
pub const MILLI_PER_GPU: u16 = 1000;

/// The most distinct GPU models one cluster may name; model sets are bit masks.
pub const MAX_GPU_MODELS: usize = 64;

/// Everything that can be wrong with a share-index input or operation.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ShareError {
    /// A node declares more GPUs than [`MAX_GPUS_PER_NODE`].
    #[error("node has {gpus} GPUs; at most {MAX_GPUS_PER_NODE} are supported per node")]
    TooManyGpus {
        /// The GPU count that was asked for.
        gpus: u32,
    },
    /// A node declares GPUs but no GPU model.
    #[error("node has {gpus} GPUs but no GPU model; name the model")]
    GpusWithoutModel {
        /// The GPU count that was asked for.
        gpus: u32,
    },
    /// The cluster names more GPU models than [`MAX_GPU_MODELS`].
    #[error("more than {MAX_GPU_MODELS} distinct GPU models")]
    TooManyModels,
    /// A pod asks for more than one whole GPU's worth of milli-GPU per GPU.
    #[error("gpu_milli {gpu_milli} is above 1000; use 0..=1000 per GPU")]
    MilliAboveOne {
        /// The milli-GPU that was asked for.
        gpu_milli: u32,
    },
    /// A pod asks for a fraction of several GPUs, which the openb model excludes.
    #[error(
        "a fraction of a GPU ({gpu_milli} milli) is only allowed with num_gpu 1, got num_gpu {num_gpu}"
    )]
    FractionOfSeveralGpus {
        /// The GPU count that was asked for.
        num_gpu: u32,
        /// The milli-GPU that was asked for.
        gpu_milli: u32,
    },
    /// A placement names a node that is not in the index.
    #[error("node {node} is not in the index ({nodes} nodes)")]
    UnknownNode {
        /// The node ordinal that was asked for.
        node: u32,
        /// How many nodes the index holds.
        nodes: usize,
    },
    /// A pod does not fit the node it was asked to go to.
    #[error("pod does not fit node {node}")]
    DoesNotFit {
        /// The node ordinal that was asked for.
        node: u32,
    },
    /// A release would give back more than the node's capacity: a double release.
    #[error("release on node {node} exceeds its capacity; was it released twice?")]
    ReleaseExceedsCapacity {
        /// The node ordinal of the placement.
        node: u32,
    },
}

/// A GPU model's dense ordinal within one [`ModelTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelId(pub u8);

/// The GPU model names of one cluster, interned to dense ordinals.
#[derive(Debug, Clone, Default)]
pub struct ModelTable {
    names: Vec<String>,
}

impl ModelTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The ordinal of `name`, adding it if new.
    pub fn intern(&mut self, name: &str) -> Result<ModelId, ShareError> {
        if let Some(id) = self.get(name) {
            return Ok(id);
        }
        if self.names.len() >= MAX_GPU_MODELS {
            return Err(ShareError::TooManyModels);
        }
        self.names.push(name.to_owned());
        Ok(ModelId((self.names.len() - 1) as u8))
    }

    /// The ordinal of `name` if the table knows it.
    pub fn get(&self, name: &str) -> Option<ModelId> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| ModelId(i as u8))
    }

    /// The name behind an ordinal.
    pub fn name(&self, id: ModelId) -> &str {
        self.names.get(usize::from(id.0)).map_or("", String::as_str)
    }

    /// How many models the table holds.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the table holds no model.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The set of the named models; names this cluster does not have are
    /// dropped, so a pod that names only unknown models fits nowhere.
    pub fn model_set<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> ModelSet {
        let mut any_named = false;
        let mut mask = 0u64;
        for name in names {
            let name = name.trim();
            if name.is_empty() {
                continue;
            }
            any_named = true;
            if let Some(id) = self.get(name) {
                mask |= 1u64 << id.0;
            }
        }
        if any_named {
            ModelSet::OneOf(mask)
        } else {
            ModelSet::Any
        }
    }
}

/// The GPU models a pod accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ModelSet {
    /// Any model (an empty `gpu_spec`).
    #[default]
    Any,
    /// One of the models whose bits are set (bit i is [`ModelId`] i).
    OneOf(u64),
}

impl ModelSet {
    /// Whether a node of `model` is acceptable; a node without GPUs accepts
    /// only pods that name no model, as in the reference simulator.
    #[inline]
    pub fn accepts(self, model: Option<ModelId>) -> bool {
        match (self, model) {
            (ModelSet::Any, _) => true,
            (ModelSet::OneOf(_), None) => false,
            (ModelSet::OneOf(mask), Some(m)) => mask & (1u64 << m.0) != 0,
        }
    }
}

/// The capacity of one node: a server, or more generally one capacity unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeSpec {
    /// CPU millicores.
    pub cpu_milli: u64,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// Number of GPUs, all of [`NodeSpec::model`].
    pub gpus: u8,
    /// The GPU model; `None` only for a node without GPUs.
    pub model: Option<ModelId>,
}

impl NodeSpec {
    /// A validated node capacity.
    pub fn new(
        cpu_milli: u64,
        memory_mib: u64,
        gpus: u32,
        model: Option<ModelId>,
    ) -> Result<Self, ShareError> {
        if gpus as usize > MAX_GPUS_PER_NODE {
            return Err(ShareError::TooManyGpus { gpus });
        }
        if gpus > 0 && model.is_none() {
            return Err(ShareError::GpusWithoutModel { gpus });
        }
        Ok(Self {
            cpu_milli,
            memory_mib,
            gpus: gpus as u8,
            model: if gpus == 0 { None } else { model },
        })
    }

    /// A validated node capacity whose GPU model is given by name, interned
    /// into `models`.
    pub fn named(
        models: &mut ModelTable,
        cpu_milli: u64,
        memory_mib: u64,
        gpus: u32,
        model: Option<&str>,
    ) -> Result<Self, ShareError> {
        let model = match model.map(str::trim).filter(|m| !m.is_empty()) {
            Some(name) if gpus > 0 => Some(models.intern(name)?),
            _ => None,
        };
        Self::new(cpu_milli, memory_mib, gpus, model)
    }

    /// Total milli-GPU of the node.
    pub fn gpu_milli(&self) -> u64 {
        u64::from(self.gpus) * u64::from(MILLI_PER_GPU)
    }
}

/// What one pod (task) asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PodSpec {
    /// CPU millicores.
    pub cpu_milli: u64,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// Number of GPUs; 0 for a CPU-only pod.
    pub num_gpu: u8,
    /// Milli-GPU on each of its GPUs: 1..=1000; below 1000 only with one GPU.
    pub gpu_milli: u16,
    /// The GPU models it accepts.
    pub models: ModelSet,
}

impl PodSpec {
    /// A validated pod request.
    ///
    /// A pod that asks for GPUs but zero milli-GPU is a CPU-only pod: the
    /// reference simulator lets it pass the GPU filter and charges no GPU.
    pub fn new(
        cpu_milli: u64,
        memory_mib: u64,
        num_gpu: u32,
        gpu_milli: u32,
        models: ModelSet,
    ) -> Result<Self, ShareError> {
        if gpu_milli > u32::from(MILLI_PER_GPU) {
            return Err(ShareError::MilliAboveOne { gpu_milli });
        }
        if num_gpu == 0 || gpu_milli == 0 {
            return Ok(Self {
                cpu_milli,
                memory_mib,
                num_gpu: 0,
                gpu_milli: 0,
                models,
            });
        }
        if gpu_milli < u32::from(MILLI_PER_GPU) && num_gpu > 1 {
            return Err(ShareError::FractionOfSeveralGpus { num_gpu, gpu_milli });
        }
        Ok(Self {
            cpu_milli,
            memory_mib,
            // A request for more GPUs than any node holds is kept (it fails to
            // place), but saturated so it stays one byte.
            num_gpu: num_gpu.min(u32::from(u8::MAX)) as u8,
            gpu_milli: gpu_milli as u16,
            models,
        })
    }

    /// A validated pod request whose accepted GPU models are given by name
    /// (none means any model).
    pub fn named<'a>(
        models: &ModelTable,
        cpu_milli: u64,
        memory_mib: u64,
        num_gpu: u32,
        gpu_milli: u32,
        gpu_spec: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, ShareError> {
        let set = models.model_set(gpu_spec);
        Self::new(cpu_milli, memory_mib, num_gpu, gpu_milli, set)
    }

    /// Total milli-GPU asked for.
    #[inline]
    pub fn total_gpu_milli(&self) -> u64 {
        u64::from(self.num_gpu) * u64::from(self.gpu_milli)
    }

    /// Whether it shares one GPU with others (a fraction of one GPU).
    #[inline]
    pub fn is_fractional(&self) -> bool {
        self.num_gpu == 1 && self.gpu_milli < MILLI_PER_GPU
    }

    /// Whether it asks for any GPU.
    #[inline]
    pub fn wants_gpu(&self) -> bool {
        self.num_gpu > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_only_pod_normalises_gpu_fields() {
        let p = PodSpec::new(1000, 10, 2, 0, ModelSet::Any).unwrap();
        assert_eq!((p.num_gpu, p.gpu_milli), (0, 0));
        assert!(!p.wants_gpu());
    }

    #[test]
    fn fraction_of_several_gpus_is_rejected() {
        let e = PodSpec::new(1000, 10, 2, 500, ModelSet::Any).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a fraction of a GPU (500 milli) is only allowed with num_gpu 1, got num_gpu 2"
        );
    }

    #[test]
    fn model_set_drops_unknown_names_but_stays_constrained() {
        let mut t = ModelTable::new();
        let v100 = t.intern("V100M16").unwrap();
        let t4 = t.intern("T4").unwrap();
        let s = t.model_set("V100M16|A100".split('|'));
        assert!(s.accepts(Some(v100)));
        assert!(!s.accepts(Some(t4)));
        assert!(!s.accepts(None));
        let unknown = t.model_set(["A100"]);
        assert!(!unknown.accepts(Some(v100)));
        assert!(t.model_set(["", " "]).accepts(None));
    }
}
