//! The one error type of gf-control: what a caller can get wrong, and what
//! the scheduler below reported as a fault. "No fit", refusals and failed
//! runs are not errors: they are states of a job.

use gf_model::protocol::JobId;

/// What can go wrong in handling an event or restoring a controller.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ControlError {
    /// A cancel (or query) named a job the controller never saw.
    #[error("no job {0}")]
    UnknownJob(JobId),
    /// A report named a cluster the fleet does not have.
    #[error("no cluster `{0}` in the fleet")]
    UnknownCluster(String),
    /// A report named a domain past its cluster's last.
    #[error("cluster `{cluster}` has no domain {index}")]
    UnknownDomain {
        /// The cluster.
        cluster: String,
        /// The index asked for.
        index: u32,
    },
    /// A log of another protocol version.
    #[error("event log is protocol v{found}; this build reads v{expected}")]
    Version {
        /// What this build reads.
        expected: u32,
        /// What the log says.
        found: u32,
    },
    /// A log written for another fleet (or an edited fleet file).
    #[error(
        "event log was written for fleet epoch {found:#018x}, the fleet now is {expected:#018x}: the fleet file changed under it"
    )]
    TopologyChanged {
        /// The fleet's epoch now.
        expected: u64,
        /// The log's.
        found: u64,
    },
    /// The scheduler refused a bookkeeping step: a bug in the controller,
    /// reported rather than hidden.
    #[error("scheduler: {0}")]
    Sched(#[from] gf_sched::SchedError),
}
