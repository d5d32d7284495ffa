//! What gf-slurm needs of slurmrestd, in words of no particular API version:
//! a job as it is seen ([`JobView`]), a node ([`NodeView`]), a job to submit
//! ([`Submission`]) and the three ways a call can fail ([`ApiError`]). The
//! version modules (`v0_0_38`, later `v0_0_40`) translate these to and from
//! their wire format; the backend's logic reads only these.

use std::collections::BTreeMap;

/// How a call to slurmrestd failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ApiError {
    /// Nothing is known to have happened: slurmrestd or slurmctld could not
    /// be reached, or answered with a communication error (including the
    /// `error_number -1` "Unable to find JobId" slurmrestd 22.05 answers for
    /// every job while slurmctld is down). Retrying later may help.
    Unavailable(String),
    /// Slurm does not know the job (`error_number 2017`): it never existed
    /// or was purged after `MinJobAge`.
    NoSuchJob,
    /// Slurm refused the request for good (`error_code 2014`, a request
    /// that can never run; an invalid node name; a bad partition).
    Rejected(String),
}

/// A job's state, base states of Slurm's `job_state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JobState {
    /// Waiting to start (also back in the queue after a requeue).
    Pending,
    /// Running, suspended or completing: it holds its nodes.
    Running,
    /// Exited 0.
    Completed,
    /// Exited non-zero, ran out of memory or time.
    Failed,
    /// Cancelled (by gigafleet or by someone else).
    Cancelled,
    /// A node it ran on failed.
    NodeFail,
    /// Its nodes failed to boot.
    BootFail,
    /// Preempted by Slurm.
    Preempted,
    /// A state this build does not know; treated as still holding nodes.
    Other(String),
}

impl JobState {
    /// Reads a base state as slurmrestd writes it.
    pub(crate) fn from_name(s: &str) -> JobState {
        match s {
            "PENDING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" => JobState::Pending,
            "RUNNING" | "SUSPENDED" | "COMPLETING" | "STOPPED" | "RESIZING" | "SIGNALING"
            | "STAGE_OUT" | "CONFIGURING" => JobState::Running,
            "COMPLETED" => JobState::Completed,
            "FAILED" | "TIMEOUT" | "OUT_OF_MEMORY" | "DEADLINE" | "SPECIAL_EXIT" => {
                JobState::Failed
            }
            "CANCELLED" => JobState::Cancelled,
            "NODE_FAIL" => JobState::NodeFail,
            "BOOT_FAIL" => JobState::BootFail,
            "PREEMPTED" => JobState::Preempted,
            other => JobState::Other(other.to_string()),
        }
    }

    /// Over: it holds nothing and will not run again.
    pub(crate) fn is_over(&self) -> bool {
        !matches!(
            self,
            JobState::Pending | JobState::Running | JobState::Other(_)
        )
    }
}

/// One job as slurmctld reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JobView {
    /// Slurm's job id.
    pub id: u32,
    /// Its name (gigafleet's tag, for gigafleet's jobs).
    pub name: String,
    /// Its state.
    pub state: JobState,
    /// Slurm's reason for the state (`BadConstraints`, `NodeDown`, ...).
    pub reason: String,
    /// The user it runs as.
    pub user: String,
}

impl JobView {
    /// A job Slurm accepted a number for but could never run (the request
    /// slurmrestd answered with `error_code 2014`): it ended without running.
    pub(crate) fn never_ran(&self) -> bool {
        self.state == JobState::Failed && self.reason == "BadConstraints"
    }
}

/// One node as slurmctld reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeView {
    /// Its name.
    pub name: String,
    /// `Some(true)` when it can run work (not down, drained, failing or
    /// not responding), `Some(false)` when it cannot, `None` while Slurm
    /// does not know yet (state `unknown` after slurmctld restarts).
    pub up: Option<bool>,
    /// GPUs its GRES advertises.
    pub gpus: u32,
}

/// A batch job to submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Submission {
    /// The job name: the run's tag.
    pub name: String,
    /// A comment for people reading `squeue`: the gigafleet job's name.
    pub comment: String,
    /// The partition.
    pub partition: String,
    /// The nodes, exactly (`--nodelist`), as many as the job gets.
    pub nodes: Vec<String>,
    /// GPUs on each node (`--gres=gpu:N`).
    pub gpus_per_node: u32,
    /// The batch script, starting with `#!`.
    pub script: String,
    /// The whole environment of the job.
    pub env: BTreeMap<String, String>,
    /// The working directory.
    pub cwd: String,
    /// Standard output, when not Slurm's default.
    pub stdout: Option<String>,
    /// Standard error, when apart from standard output.
    pub stderr: Option<String>,
}
