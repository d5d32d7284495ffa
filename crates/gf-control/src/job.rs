//! A training job as the controller knows it: its state, what its backend
//! last reported of its progress, and the bookkeeping of the run it holds.

use std::borrow::Cow;
use std::sync::Arc;

use gf_model::JobSpec;
use gf_model::protocol::{JobId, Progress, RunId, RunPlacement, StopReason};
use gf_sched::{AllocId, ClusterOrd, Placement, Request};
use serde::{Deserialize, Serialize};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for its first placement.
    Pending,
    /// Its placement waits for preempted runs to stop; the GPUs they free
    /// are held for it.
    Reserved,
    /// Dispatched, not yet reported started.
    Placed,
    /// Running.
    Running,
    /// Asked to stop (preempted or cancelled); its GPUs stay held until the
    /// backend confirms or the grace period runs out.
    Stopping,
    /// Stopped by a failure or preemption, waiting to be placed again.
    Interrupted,
    /// Dispatched again, resuming from its last checkpoint.
    Restarting,
    /// Done.
    Completed,
    /// A retry budget ran out, or the job cannot be placed at all.
    Failed,
    /// Cancelled by its owner.
    Cancelled,
}

impl JobState {
    /// Name used in output.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Reserved => "reserved",
            JobState::Placed => "placed",
            JobState::Running => "running",
            JobState::Stopping => "stopping",
            JobState::Interrupted => "interrupted",
            JobState::Restarting => "restarting",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Completed, failed or cancelled.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Completed | JobState::Failed | JobState::Cancelled
        )
    }

    /// Dispatched and not yet known to have ended.
    pub fn holds_run(self) -> bool {
        matches!(
            self,
            JobState::Placed | JobState::Running | JobState::Restarting | JobState::Stopping
        )
    }
}

/// A job as the controller knows it.
#[derive(Debug, Clone)]
pub struct JobInfo {
    /// Its identity.
    pub id: JobId,
    /// What was submitted. Once the job ended, under a controller that
    /// does not keep ended specs (`ControlConfig::keep_ended_specs` off),
    /// an empty spec shared by every such job: read [`Self::gpus`] and
    /// [`Self::work_gpu_hours`], which stay.
    pub spec: Arc<JobSpec>,
    /// GPUs of its gang (the spec's, kept when the spec is released).
    pub gpus: u32,
    /// GPU-hours of work it needs (the spec's, kept when the spec is released).
    pub work_gpu_hours: f64,
    /// Where it is.
    pub state: JobState,
    /// Runs dispatched so far.
    pub attempt: u32,
    /// When it was submitted.
    pub submitted_s: i64,
    /// When it was first dispatched.
    pub first_start_s: Option<i64>,
    /// When it reached a terminal state.
    pub end_s: Option<i64>,
    /// Checkpoint interval chosen, seconds.
    pub interval_s: i64,
    /// What its backend last reported as kept by a checkpoint.
    pub progress: Progress,
    /// Why it is not running (pending) or why it ended (failed). Most
    /// reasons are fixed phrases, borrowed rather than copied into each of a
    /// year's millions of records.
    pub reason: Cow<'static, str>,
    /// Its cluster while it holds an allocation.
    pub cluster: Option<ClusterOrd>,
    /// Where its current run is, as the backend was told.
    pub placement: Option<RunPlacement>,
    /// GPUs held now (the gang plus hot spares; 0 when not placed).
    pub alloc_gpus: u32,
    /// Interruptions by [`gf_model::protocol::FailureCategory`] index.
    pub interruptions: [u32; 3],
    /// Interruptions absorbed by a hot spare without requeueing.
    pub spare_swaps: u32,
    /// Failures of its hot-spare domains, which cost it nothing.
    pub spares_lost: u32,
    /// GPU-seconds its runs ran (reported started to ended), for LAS.
    pub attained_gpu_s: f64,
    /// When the current run was reported started.
    pub(crate) run_started_s: Option<i64>,
    /// Its key while queued.
    pub(crate) qkey: Option<(u64, u64, u32)>,
    pub(crate) alloc: Option<AllocId>,
    /// The scheduler's request, while the job may still be placed (boxed:
    /// most of a year's millions of records are of ended jobs, which drop it).
    pub(crate) req: Option<Box<Request>>,
    pub(crate) seq: u64,
    /// When the current dispatch or stop times out.
    pub(crate) deadline: Option<i64>,
    /// The stop asked of its run, while `Stopping`.
    pub(crate) stop: Option<Stop>,
    /// While `Reserved`: the placement waiting and what it waits for.
    pub(crate) reservation: Option<Box<Reservation>>,
}

impl JobInfo {
    /// The current run.
    pub fn run(&self) -> RunId {
        RunId {
            job: self.id,
            attempt: self.attempt,
        }
    }
}

/// A stop the controller asked for and waits on.
#[derive(Debug, Clone)]
pub(crate) struct Stop {
    pub reason: StopReason,
    /// The job (index) whose reservation waits for this stop.
    pub for_job: Option<u32>,
}

/// A placement that waits for its preempted victims to stop.
#[derive(Debug, Clone)]
pub(crate) struct Reservation {
    pub placement: Placement,
    /// Victims (job indices) not yet stopped.
    pub waiting: u32,
    /// Allocations of stopped victims, held until the placement commits so
    /// no other work takes the room in between.
    pub held: Vec<AllocId>,
}
