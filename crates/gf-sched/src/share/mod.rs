//! GPU-sharing placement over heterogeneous nodes: fractional GPUs, CPU and
//! memory in one index, and the six policies of the FGD paper.
//!
//! Inference services on real fleets share GPUs: a task may ask for 0.25 of a
//! GPU next to CPU and memory, and a node's free capacity can be fragmented in
//! ways a whole-GPU gang scheduler never sees. This module is that view:
//!
//! - [`spec`]: validated node capacities and pod requests;
//! - [`index`]: per-node free CPU, memory and milli-GPU per GPU, with exact
//!   allocate/release;
//! - [`frag`]: fragmentation measured against a target workload;
//! - [`policy`]: Random, DotProd, GpuClustering, GpuPacking, BestFit and FGD
//!   as node scores;
//! - [`scheduler`]: filter, score (cached per node version) and select.
//!
//! The paper's experiment protocol (tuning a workload to 130% of capacity,
//! shuffling, seeding) is not placement and lives in `gf_sim::openb`.
//!
//! Everything here is pure and deterministic given a seed: no IO, no clock.

pub mod frag;
pub mod index;
pub mod policy;
pub mod scheduler;
pub mod spec;

pub use frag::{TypicalPod, TypicalPods};
pub use index::{NodeState, Placement, ShareIndex};
pub use policy::{Policy, UnknownPolicy};
pub use scheduler::{ShapeId, ShareScheduler};
pub use spec::{ModelId, ModelSet, ModelTable, NodeSpec, PodSpec, ShareError};
