//! The words the controller, its backends and its store exchange: runs and
//! their placements by stable names, what a backend is asked to do, and what
//! it reports back.
//!
//! These types live here, at the bottom layer, because three crates that
//! must not know each other carry them: gf-control decides with them,
//! gf-backend executes them against Slurm or the simulated world, and
//! gf-store persists them. Everything here is serde, versioned through
//! [`PROTOCOL_VERSION`], and names clusters and domains by what the fleet
//! file calls them (`provider/region/cluster`, and a domain's index within
//! its cluster) rather than by the dense ordinals the scheduler computes, so
//! a log written yesterday still means the same thing after the fleet file
//! grows a cluster; an edit that would change its meaning is caught by the
//! topology epoch the log is written under.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::spec::JobSpec;

/// The version of the persisted protocol. A log or fixture of another
/// version is refused, not guessed at.
pub const PROTOCOL_VERSION: u32 = 1;

/// Identity of a training job, given by whoever submits it (the store, the
/// twin's generator, a test).
pub type JobId = u64;
/// Identity of an inference service, given by whoever submits it.
pub type ServiceId = u32;

/// One run of a job: the job and its attempt, counted from 1. A service
/// replica is a run too, with its replica id as `job` and attempt 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RunId {
    /// The job (or replica).
    pub job: JobId,
    /// The attempt; reports about an older attempt are stale.
    pub attempt: u32,
}

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.job, self.attempt)
    }
}

/// GPUs of one NVLink domain given to a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainSlot {
    /// The domain's index within its cluster (0-based, in the order the
    /// cluster's `domains` are counted): stable while the cluster exists.
    pub index: u32,
    /// GPUs of it the run holds.
    pub gpus: u32,
    /// A hot spare: held ready to replace a failed domain, not running work.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub spare: bool,
}

/// Exactly where a run goes: one cluster and the GPUs of each of its domains,
/// so that a backend can turn it into hosts (a Slurm node list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunPlacement {
    /// The cluster's full name, `provider/region/cluster` (shared with the
    /// topology's: a dispatch copies a count, not the name).
    pub cluster: Arc<str>,
    /// The domains, in the order the scheduler packed them.
    pub domains: Vec<DomainSlot>,
    /// Thousandths of one GPU, for a share of a GPU (the one domain's GPU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_milli: Option<u32>,
}

impl RunPlacement {
    /// GPUs held, spares included.
    pub fn gpus(&self) -> u32 {
        self.domains.iter().map(|d| d.gpus).sum()
    }

    /// GPUs held that run work (spares excluded).
    pub fn working_gpus(&self) -> u32 {
        self.domains
            .iter()
            .filter(|d| !d.spare)
            .map(|d| d.gpus)
            .sum()
    }
}

/// What a run is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// A run of a training job.
    Training {
        /// The job as submitted (shared with the controller's record: a
        /// dispatch does not copy it).
        spec: Arc<JobSpec>,
        /// Work done and kept by its last checkpoint, reference GPU-hours:
        /// the run resumes from there.
        resume_gpu_h: f64,
        /// Seconds of compute between checkpoints, chosen by the controller.
        checkpoint_interval_s: i64,
    },
    /// A set of replicas of an inference service on one cluster, placed
    /// together: each holds an equal share of the placement's GPUs (its
    /// GPUs over `replicas`), whole replicas on each domain. One run for
    /// many replicas keeps the messages of a service that scales by
    /// thousands of replicas a day proportional to the clusters it grows
    /// on, not to its replicas; a set shrinks by [`ShrinkSpec`] and loses
    /// only the replicas of a failed domain.
    Replica {
        /// The service.
        service: ServiceId,
        /// Replicas in the set.
        #[serde(default = "one_replica", skip_serializing_if = "is_one")]
        replicas: u32,
    },
}

fn one_replica() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

impl RunSpec {
    /// GPUs of one replica of a replica set (its placement's GPUs over its
    /// replicas); `None` for a training run or a set of no replicas.
    pub fn gpus_per_replica(&self) -> Option<u32> {
        match self.kind {
            RunKind::Replica { replicas, .. } if replicas > 0 => {
                Some(self.placement.gpus() / replicas)
            }
            _ => None,
        }
    }
}

/// A run the controller asks a backend to start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// Which run.
    pub run: RunId,
    /// Where.
    pub placement: RunPlacement,
    /// What.
    pub kind: RunKind,
}

/// Why a run is asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Its owner cancelled the job.
    Cancel,
    /// More important work needs its GPUs.
    Preempt,
    /// The controller gives the allocation up (lost capacity, a dispatch
    /// that timed out, a replica scaled away).
    Release,
}

/// A request to stop a run. Stopping a run the backend does not know (or no
/// longer runs) succeeds: stops are idempotent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopSpec {
    /// Which run.
    pub run: RunId,
    /// Why.
    pub reason: StopReason,
    /// Seconds the run may take to save and exit before it is killed.
    pub grace_s: i64,
}

/// A request to give up part of a replica set: the replicas on these GPUs
/// stop, the rest of the set serves on. The controller never shrinks a set
/// to nothing (it stops it). Shrinking a run the backend does not have, or
/// GPUs it no longer holds, succeeds and changes nothing: shrinks are
/// idempotent, like stops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShrinkSpec {
    /// The replica set.
    pub run: RunId,
    /// The GPUs given up on each domain, whole replicas' worth.
    pub domains: Vec<DomainSlot>,
}

/// Why a run stopped, for retry budgets (Armada's categories).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCategory {
    /// GPUs, hosts, racks, clusters or regions failed.
    Hardware,
    /// The job's own software crashed or hung.
    Software,
    /// Preempted by higher-priority work, or spot capacity taken back.
    Preemption,
}

impl FailureCategory {
    /// Every category, in index order.
    pub const ALL: [FailureCategory; 3] = [
        FailureCategory::Hardware,
        FailureCategory::Software,
        FailureCategory::Preemption,
    ];

    /// Name used in output.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCategory::Hardware => "hardware",
            FailureCategory::Software => "software",
            FailureCategory::Preemption => "preemption",
        }
    }
}

/// Why capacity came or went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapacityCause {
    /// A dated ramp step of the fleet file.
    Ramp,
    /// A GPU (and so its host or rack) failed.
    GpuFailure,
    /// A whole NVLink domain failed.
    DomainFailure,
    /// A cluster's fabric or storage went down.
    ClusterOutage,
    /// A provider region went down.
    RegionOutage,
    /// The provider took spot capacity back.
    SpotReclaim,
    /// Failed capacity came back.
    Repair,
}

impl CapacityCause {
    /// Every cause, in index order.
    pub const ALL: [CapacityCause; 7] = [
        CapacityCause::Ramp,
        CapacityCause::GpuFailure,
        CapacityCause::DomainFailure,
        CapacityCause::ClusterOutage,
        CapacityCause::RegionOutage,
        CapacityCause::SpotReclaim,
        CapacityCause::Repair,
    ];

    /// Name used in output.
    pub fn as_str(self) -> &'static str {
        match self {
            CapacityCause::Ramp => "ramp",
            CapacityCause::GpuFailure => "gpu_failure",
            CapacityCause::DomainFailure => "domain_failure",
            CapacityCause::ClusterOutage => "cluster_outage",
            CapacityCause::RegionOutage => "region_outage",
            CapacityCause::SpotReclaim => "spot_reclaim",
            CapacityCause::Repair => "repair",
        }
    }

    /// The retry budget a loss of capacity for this cause draws on.
    pub fn category(self) -> FailureCategory {
        match self {
            CapacityCause::Ramp | CapacityCause::SpotReclaim => FailureCategory::Preemption,
            _ => FailureCategory::Hardware,
        }
    }
}

/// Work a run has kept: the state its last completed checkpoint holds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Work done and kept, reference GPU-hours of the job's `work_gpu_hours`.
    pub done_gpu_h: f64,
    /// When that checkpoint completed, seconds since the epoch.
    pub at_s: i64,
}

/// What a backend tells the controller. The backend reports what happened;
/// it decides nothing (restarts, re-placement and retries are the
/// controller's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "report", rename_all = "snake_case")]
pub enum Report {
    /// A dispatched run started.
    Started {
        /// The run.
        run: RunId,
    },
    /// A run completed a checkpoint.
    Checkpointed {
        /// The run.
        run: RunId,
        /// What the checkpoint holds.
        progress: Progress,
    },
    /// A run finished its work.
    Finished {
        /// The run.
        run: RunId,
    },
    /// A run crashed with its hardware intact.
    Failed {
        /// The run.
        run: RunId,
        /// Why.
        category: FailureCategory,
        /// Its last completed checkpoint, when the backend knows it.
        progress: Option<Progress>,
    },
    /// A run vanished: its hosts went away or the backend lost track of it.
    Lost {
        /// The run.
        run: RunId,
        /// Its last completed checkpoint, when the backend knows it.
        progress: Option<Progress>,
    },
    /// A stop the controller asked for took effect.
    Stopped {
        /// The run.
        run: RunId,
        /// Its last completed checkpoint, when the backend knows it.
        progress: Option<Progress>,
    },
    /// The backend would not start a dispatched run (full, down, the request
    /// invalid for it).
    Refused {
        /// The run.
        run: RunId,
        /// The backend's words.
        reason: String,
    },
    /// NVLink domains of a cluster came online or went offline.
    CapacityChanged {
        /// The cluster's full name (shared with the topology's, as a
        /// placement's is: a year of a 20M-GPU fleet reports millions of
        /// failures and repairs).
        cluster: Arc<str>,
        /// Indices of the domains within the cluster.
        domains: Vec<u32>,
        /// Online now, or offline now.
        online: bool,
        /// Why.
        cause: CapacityCause,
    },
    /// The backend runs something tagged as a gigafleet run that the
    /// controller does not know (left over from before a crash, or started
    /// twice): the controller adopts or stops it.
    Unknown {
        /// The run its tag names.
        run: RunId,
        /// The cluster it runs on.
        cluster: String,
    },
}

impl Report {
    /// The run the report is about, if it is about one.
    pub fn run(&self) -> Option<RunId> {
        match self {
            Report::Started { run }
            | Report::Checkpointed { run, .. }
            | Report::Finished { run }
            | Report::Failed { run, .. }
            | Report::Lost { run, .. }
            | Report::Stopped { run, .. }
            | Report::Refused { run, .. }
            | Report::Unknown { run, .. } => Some(*run),
            Report::CapacityChanged { .. } => None,
        }
    }

    /// Whether the run it names is over (nothing more will come of it).
    pub fn ends_run(&self) -> bool {
        matches!(
            self,
            Report::Finished { .. }
                | Report::Failed { .. }
                | Report::Lost { .. }
                | Report::Stopped { .. }
                | Report::Refused { .. }
        )
    }
}
