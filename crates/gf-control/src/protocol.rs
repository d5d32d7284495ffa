//! The controller's protocol: the closed [`Event`] enum that goes in, the
//! [`Action`] enum that comes out, and the [`EventLog`] a controller is
//! restored from.
//!
//! Every type here is serde and names things stably (jobs by the caller's
//! id, clusters and zones and contracts by name, runs by job and attempt),
//! so a durable store can keep the event log and a restarted server (or a
//! second replica) can rebuild the very same controller from it. JSON
//! fixtures of each variant are committed under `tests/fixtures/v1/` and
//! read back in CI, so a change that breaks old logs is caught.

use std::sync::Arc;

use gf_model::protocol::{
    JobId, PROTOCOL_VERSION, Report, RunSpec, ServiceId, ShrinkSpec, StopSpec,
};
use gf_model::scenario::{CheckpointPolicy, RetryBudget};
use gf_model::{JobSpec, ServiceSpec};
use serde::{Deserialize, Serialize};

use crate::job::JobState;
use crate::queue::QueueOrder;

/// Everything that can happen to the controller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A training job was submitted.
    JobSubmitted {
        /// Its identity, given by the submitter.
        job: JobId,
        /// What it is: shared, so that the controller keeps the very
        /// allocation the submitter built rather than a copy.
        spec: Arc<JobSpec>,
    },
    /// Its owner cancelled a job.
    JobCancelled {
        /// The job.
        job: JobId,
    },
    /// An inference service was submitted.
    ServiceSubmitted {
        /// Its identity, given by the submitter.
        service: ServiceId,
        /// What it is.
        spec: Box<ServiceSpec>,
        /// Replicas are sized for demand × headroom.
        headroom: f64,
    },
    /// An inference service was removed: its replicas are stopped and it
    /// is never sized again.
    ServiceRemoved {
        /// The service.
        service: ServiceId,
    },
    /// The current demand of a service, requests per second by zone name.
    DemandObserved {
        /// The service.
        service: ServiceId,
        /// Demand by zone.
        rps_by_zone: Vec<(String, f64)>,
    },
    /// A backend reported something.
    Backend(Report),
    /// Billing reports the spend accrued against a contract so far.
    SpendReported {
        /// The contract's name.
        contract: String,
        /// Spend, USD.
        usd: f64,
    },
    /// Timer: place what is pending (and expire overdue dispatches and stops).
    ScheduleTick,
    /// Timer: size every service to its demand.
    AutoscaleTick,
}

/// Everything the controller asks its shell to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Start a run on the backend of its cluster. The backend answers with a
    /// `started` report, or refuses.
    Dispatch(RunSpec),
    /// Stop a run. Its GPUs stay held until the backend reports it stopped
    /// (or ended otherwise), or the stop's grace period runs out.
    Stop(StopSpec),
    /// Give up part of a replica set: its replicas on those GPUs stop, the
    /// rest serve on. Nothing is reported back; the GPUs are free at once.
    Shrink(ShrinkSpec),
    /// A job reached a terminal state.
    Ended {
        /// The job.
        job: JobId,
        /// Completed, failed or cancelled.
        state: JobState,
        /// Why, in words.
        reason: String,
    },
}

/// How the controller behaves; none of it is about the world it runs in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlConfig {
    /// How checkpoint intervals are chosen for jobs that give none.
    pub checkpoint: CheckpointPolicy,
    /// Interval under the fixed policy, seconds.
    pub fixed_interval_s: f64,
    /// Expected interruptions per GPU-second, for Young/Daly: the prior
    /// (a published rate), or the rate itself when `interval_from_observed`
    /// is off.
    pub interruptions_per_gpu_s: f64,
    /// Choose each run's interval from the interruption rate estimated from
    /// the reports so far (per cluster, shrunk towards its accelerator and
    /// the prior), rather than from `interruptions_per_gpu_s` alone.
    #[serde(default = "yes")]
    pub interval_from_observed: bool,
    /// Retries per failure category.
    pub retry: RetryBudget,
    /// Gangs of at least this many GPUs hold hot spares.
    pub hot_spare_min_gpus: u32,
    /// Spare NVLink domains such a gang holds.
    pub hot_spare_domains: u32,
    /// Size each gang's spare pool by Little's law from the failures and
    /// repairs reported on its cluster (the mean number of its domains out
    /// at once, `L`, plus two standard deviations, `ceil(L + 2·√L)`, at
    /// least one); `hot_spare_domains` until a repair has been seen.
    #[serde(default)]
    pub spares_by_littles_law: bool,
    /// Which waiting job is offered capacity first.
    #[serde(default)]
    pub queue: QueueOrder,
    /// EASY backfill: the first job of a pass that finds no room holds the
    /// cluster where it can start soonest (by the estimated ends of what runs
    /// there), and later jobs may start there only if they end before then or
    /// fit beside it, so a large gang starts by a bounded time.
    #[serde(default)]
    pub easy_backfill: bool,
    /// Seconds a dispatched run may take to report started before the
    /// controller gives its allocation up and queues the job again.
    pub dispatch_timeout_s: i64,
    /// Seconds a preempted run has to checkpoint and exit.
    pub preempt_grace_s: i64,
    /// Seconds a cancelled run has to exit.
    pub cancel_grace_s: i64,
    /// Seconds a cluster back from an outage (of the cluster or its region)
    /// is held out of placement before its domains count as online again;
    /// 0 uses them at once. See `holdoff.rs`.
    #[serde(default)]
    pub outage_holdoff_s: i64,
    /// Keep an ended job's whole spec in its record (for status and
    /// explain). A shell that keeps the history elsewhere turns it off —
    /// the twin, whose simulated year ends millions of jobs and reads only
    /// their summary fields — and an ended job's spec is then released: its
    /// record keeps `gpus` and `work_gpu_hours`, and `spec` becomes an empty
    /// one shared by every such job ([`crate::JobInfo::spec`]).
    #[serde(default = "yes")]
    pub keep_ended_specs: bool,
    /// Keep an ended job's record in the table (for status and explain).
    /// A shell that keeps the history elsewhere turns it off — the twin,
    /// which folds each ended job into its summary as it ends, and `serve`,
    /// whose store keeps each job's last state on its row — and an
    /// ended record that holds nothing the controller still needs is then
    /// handed out ([`crate::Controller::take_ended`]); its id stays known.
    #[serde(default = "yes")]
    pub keep_ended_jobs: bool,
}

fn yes() -> bool {
    true
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            checkpoint: CheckpointPolicy::YoungDaly,
            fixed_interval_s: 3600.0,
            interruptions_per_gpu_s: gf_model::scenario::LLAMA3_INTERRUPTIONS_PER_GPU_DAY
                / 86_400.0,
            interval_from_observed: true,
            retry: RetryBudget::default(),
            hot_spare_min_gpus: 8192,
            hot_spare_domains: 2,
            spares_by_littles_law: false,
            queue: QueueOrder::Priority,
            easy_backfill: false,
            dispatch_timeout_s: 600,
            preempt_grace_s: 120,
            cancel_grace_s: 60,
            outage_holdoff_s: 0,
            keep_ended_specs: true,
            keep_ended_jobs: true,
        }
    }
}

/// One entry of the event log: an event and the time it was handled at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Seconds since the epoch.
    pub at_s: i64,
    /// What happened.
    pub event: Event,
}

/// What a controller is restored from: the log of every event it handled,
/// under the protocol version and topology epoch it was written with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventLog {
    /// [`PROTOCOL_VERSION`] when written.
    pub version: u32,
    /// The fleet's [`gf_sched::Topology::epoch`] when written.
    pub topology_epoch: u64,
    /// The events, in the order they were handled.
    pub entries: Vec<LogEntry>,
}

impl EventLog {
    /// An empty log for a fleet.
    pub fn new(topology_epoch: u64) -> Self {
        EventLog {
            version: PROTOCOL_VERSION,
            topology_epoch,
            entries: Vec::new(),
        }
    }
}
