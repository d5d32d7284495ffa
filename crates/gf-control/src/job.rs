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
    /// Interruptions by [`gf_model::protocol::FailureCategory`] index.
    pub interruptions: [u32; 3],
    /// Interruptions absorbed by a hot spare without requeueing.
    pub spare_swaps: u32,
    /// Failures of its hot-spare domains, which cost it nothing.
    pub spares_lost: u32,
    /// GPU-seconds its runs ran (reported started to ended), for LAS.
    pub attained_gpu_s: f64,
    /// What only a job that may still run needs (its queue key, request,
    /// allocation, deadlines): boxed, and dropped once it ended, so that
    /// the records of a year's millions of ended jobs are half the size
    /// (a year of a 20M-GPU fleet faulted in a gigabyte for them).
    pub(crate) live: Option<Box<Live>>,
}

/// The part of a job's record that matters only while it may still run.
#[derive(Debug, Clone, Default)]
pub(crate) struct Live {
    /// Its cluster while it holds an allocation.
    pub cluster: Option<ClusterOrd>,
    /// Where its current run is, as the backend was told.
    pub placement: Option<RunPlacement>,
    /// GPUs held now (the gang plus hot spares; 0 when not placed).
    pub alloc_gpus: u32,
    /// When the current run was reported started.
    pub run_started_s: Option<i64>,
    /// Its key while queued.
    pub qkey: Option<(u64, u64, u32)>,
    pub alloc: Option<AllocId>,
    /// The scheduler's request, while the job may still be placed (in the
    /// live part's own box, so not boxed again).
    pub req: Option<Request>,
    pub seq: u64,
    /// When the current dispatch or stop times out.
    pub deadline: Option<i64>,
    /// The stop asked of its run, while `Stopping`.
    pub stop: Option<Stop>,
    /// While `Reserved`: the placement waiting and what it waits for.
    pub reservation: Option<Box<Reservation>>,
}

/// What an ended job's (absent) live part reads as.
static NOT_LIVE: Live = Live {
    cluster: None,
    placement: None,
    alloc_gpus: 0,
    run_started_s: None,
    qkey: None,
    alloc: None,
    req: None,
    seq: 0,
    deadline: None,
    stop: None,
    reservation: None,
};

impl Live {
    /// Holds nothing the controller still needs: no allocation, queue
    /// entry, request, deadline, stop or reservation.
    fn is_idle(&self) -> bool {
        self.cluster.is_none()
            && self.placement.is_none()
            && self.alloc_gpus == 0
            && self.run_started_s.is_none()
            && self.qkey.is_none()
            && self.alloc.is_none()
            && self.req.is_none()
            && self.deadline.is_none()
            && self.stop.is_none()
            && self.reservation.is_none()
    }
}

impl JobInfo {
    /// Its cluster while it holds an allocation.
    pub fn cluster(&self) -> Option<ClusterOrd> {
        self.lv().cluster
    }

    /// Where its current run is, as the backend was told.
    pub fn placement(&self) -> Option<&RunPlacement> {
        self.lv().placement.as_ref()
    }

    /// GPUs held now (the gang plus hot spares; 0 when not placed).
    pub fn alloc_gpus(&self) -> u32 {
        self.lv().alloc_gpus
    }

    /// Whether the record still carries the part only a job that may run
    /// needs: every job that has not ended does, and an ended one should
    /// not (it is what keeps a year's millions of ended records small).
    pub fn has_live_part(&self) -> bool {
        self.live.is_some()
    }

    /// Its live part (an ended job's reads as empty).
    pub(crate) fn lv(&self) -> &Live {
        self.live.as_deref().unwrap_or(&NOT_LIVE)
    }

    /// Its live part, to change (made again if the job had ended).
    pub(crate) fn lv_mut(&mut self) -> &mut Live {
        self.live.get_or_insert_with(Box::default)
    }

    /// Its live part to change, if it has one: what takes a field out
    /// of it does not make an ended job's again.
    pub(crate) fn live_mut(&mut self) -> Option<&mut Live> {
        self.live.as_deref_mut()
    }

    /// Drops the live part once it holds nothing the controller needs.
    pub(crate) fn retire(&mut self) {
        if self.live.as_ref().is_some_and(|l| l.is_idle()) {
            self.live = None;
        }
    }

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
