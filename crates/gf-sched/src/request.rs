//! What the scheduler is asked to place, resolved against the topology: a
//! training gang or one inference replica, with names turned into ordinals.

use gf_model::{JobSpec, ServiceSpec};
use smallvec::SmallVec;

use crate::topology::Topology;

/// Identity of a unit of work: a job, or one replica of a service.
pub type WorkId = u64;

/// What kind of work a request is, which decides the throughput that counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkKind {
    /// A training gang.
    Training,
    /// One inference replica.
    Inference,
}

/// Accelerator ordinals a request accepts, in its order of preference:
/// one or two for nearly every job, kept inline rather than as one more
/// allocation for each of millions of requests.
pub type Accels = SmallVec<[u16; 4]>;

/// One gang to place.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Identity, also used to break ties in a seeded order.
    pub id: WorkId,
    /// Training or inference.
    pub kind: WorkKind,
    /// Owning team ordinal, if the fleet knows the team.
    pub team: Option<u32>,
    /// Higher wins; may preempt lower preemptible work.
    pub priority: u32,
    /// Gang size.
    pub gpus: u32,
    /// Accepted accelerator ordinals, most preferred first.
    pub accels: Accels,
    /// Allowed sites (`None`: any).
    pub sites: Option<Vec<bool>>,
    /// May use spot capacity.
    pub spot_ok: bool,
    /// May itself be preempted later.
    pub preemptible: bool,
    /// Checkpoint interval, seconds (for the cost of preempting it later).
    pub checkpoint_interval_s: i64,
    /// Thousandths of one GPU (1000: whole GPUs; below, one shared GPU).
    pub gpu_milli: u32,
    /// CPU millicores per GPU (for a shared GPU: in all).
    pub cpu_milli_per_gpu: u64,
    /// Host memory per GPU, MiB (for a shared GPU: in all).
    pub memory_mib_per_gpu: u64,
}

impl Request {
    /// True when the request asks for a share of one GPU.
    pub fn is_fractional(&self) -> bool {
        self.gpu_milli < 1000
    }
}

/// Why a spec could not be turned into a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// None of its accelerators is in the catalog.
    #[error("none of the accelerators {0:?} is in the fleet's catalog")]
    NoKnownAccelerator(Vec<String>),
}

impl Request {
    /// The request for a training job.
    pub fn from_job(topo: &Topology, id: WorkId, j: &JobSpec) -> Result<Self, RequestError> {
        let accels: Accels = j
            .accelerators
            .iter()
            .filter_map(|a| topo.accel(a))
            .collect();
        if accels.is_empty() {
            return Err(RequestError::NoKnownAccelerator(j.accelerators.to_vec()));
        }
        let scoped = !j.providers.is_empty() || !j.regions.is_empty();
        Ok(Request {
            id,
            kind: WorkKind::Training,
            team: topo.team(&j.team),
            priority: j.priority,
            gpus: j.gpus,
            accels,
            sites: scoped.then(|| topo.allowed_sites(&j.providers, &j.regions)),
            spot_ok: j.spot,
            preemptible: j.preemptible,
            checkpoint_interval_s: (j.checkpoint_interval_min.unwrap_or(60.0) * 60.0) as i64,
            gpu_milli: j.gpu_milli.unwrap_or(1000).clamp(1, 1000),
            cpu_milli_per_gpu: j.cpu_milli_per_gpu,
            memory_mib_per_gpu: j.memory_mib_per_gpu,
        })
    }

    /// The request for one replica of a service.
    pub fn from_replica(
        topo: &Topology,
        id: WorkId,
        s: &ServiceSpec,
    ) -> Result<Self, RequestError> {
        let accels: Accels = s
            .accelerators()
            .iter()
            .filter_map(|a| topo.accel(a))
            .collect();
        if accels.is_empty() {
            return Err(RequestError::NoKnownAccelerator(
                s.throughput.keys().cloned().collect(),
            ));
        }
        Ok(Request {
            id,
            kind: WorkKind::Inference,
            team: topo.team(&s.team),
            priority: s.priority,
            gpus: s.gpus_per_replica,
            accels,
            sites: (!s.regions.is_empty()).then(|| topo.allowed_sites(&[], &s.regions)),
            spot_ok: false,
            preemptible: false,
            checkpoint_interval_s: 0,
            gpu_milli: s.gpu_milli.unwrap_or(1000).clamp(1, 1000),
            cpu_milli_per_gpu: s.cpu_milli_per_gpu,
            memory_mib_per_gpu: s.memory_mib_per_gpu,
        })
    }
}
