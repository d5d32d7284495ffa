//! The one error type of gf-slurm: what is wrong with a cluster's
//! configuration or with what its Slurm reports at start. Failures of the
//! Backend calls themselves are gf-backend's `BackendError`.

/// A Slurm cluster that cannot be used as configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlurmError {
    /// The fleet file's backend table cannot be used (a token variable that
    /// is not set, a node list that does not expand).
    #[error("cluster `{cluster}`: {message}")]
    Config {
        /// The cluster's full name.
        cluster: String,
        /// What is wrong and what would do.
        message: String,
    },
    /// Slurm disagrees with the node mapping (a node it does not know, a
    /// node with another number of GPUs).
    #[error("cluster `{cluster}`: the node mapping does not match Slurm: {message}")]
    Mapping {
        /// The cluster's full name.
        cluster: String,
        /// What Slurm reports instead.
        message: String,
    },
    /// The cluster could not be reached to be checked.
    #[error("cluster `{cluster}` is unreachable: {message}")]
    Unreachable {
        /// The cluster's full name.
        cluster: String,
        /// What the transport or slurmrestd said.
        message: String,
    },
}
