//! gf-backend is the boundary between deciding and doing: the [`Backend`]
//! trait that every engine which runs work implements — the simulated world
//! of the twin (in gf-sim), Slurm through slurmrestd, later Ray and
//! Kubernetes — and the [`conformance`] suite each of them must pass.
//!
//! Architecture invariant: a backend carries decisions, it never makes them.
//! It starts the run it is given exactly where it is told, stops what it is
//! asked to stop, and reports what happened (started, checkpointed,
//! finished, failed, lost, stopped, capacity changed, a run it has that
//! gigafleet does not know), and lists the runs it has when a restarted
//! controller asks. Restarts, re-placement and retries are the
//! controller's; so this crate knows gf-model's protocol types and nothing
//! of gf-sched or gf-control.
//!
//! The trait is async so that a real engine can wait on the network inside a
//! tokio server; it names no runtime, so the tokio-free twin implements it
//! with futures that are ready at once and drives them with [`ready`],
//! a single poll. One trait, one conformance suite, both worlds.

pub mod conformance;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use gf_model::protocol::{Report, RunId, RunSpec, ShrinkSpec, StopSpec};

/// What a backend can answer instead of doing what it was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// It will not run this (the placement names hosts it lacks, the cluster
    /// is full or drained, the request is invalid for it). Retrying the same
    /// request will not help; placing it elsewhere may.
    #[error("refused: {0}")]
    Refused(String),
    /// It could not be reached or did not answer in time; nothing is known
    /// to have happened. Retrying later may help.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A cluster the backend does not serve.
    #[error("this backend serves no cluster `{0}`")]
    UnknownCluster(String),
}

/// The health and capacity of one cluster as its backend sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterCapacity {
    /// The cluster's full name, `provider/region/cluster`.
    pub cluster: String,
    /// Whether the backend can reach it at all.
    pub reachable: bool,
    /// Indices of its NVLink domains that are online.
    pub online: Vec<u32>,
    /// GPUs per domain.
    pub domain_gpus: u32,
}

/// An engine that runs work on some clusters of the fleet.
///
/// Every method takes `now`, seconds since the epoch, as the controller sees
/// it: a real backend may ignore it, the simulated one lives by it.
pub trait Backend {
    /// Starts a run on exactly its placement. `Ok` means accepted: the run
    /// will be reported started (or refused, or failed) later. Dispatching a
    /// run that is already known is accepted and starts nothing new: a run
    /// never runs twice.
    fn dispatch(
        &mut self,
        now: i64,
        run: &RunSpec,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Asks a run to stop. Stopping a run that is unknown or already over is
    /// `Ok`: stops are idempotent. The stop is reported when it took effect.
    fn stop(
        &mut self,
        now: i64,
        stop: &StopSpec,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Gives up part of a replica set: the replicas on the named GPUs stop
    /// at once, the rest serve on; nothing is reported (the controller
    /// already counts them gone). Shrinking a run that is unknown, over, or
    /// no longer holding those GPUs is `Ok`: shrinks are idempotent. A
    /// backend that runs no replica sets has none to shrink.
    fn shrink(
        &mut self,
        now: i64,
        shrink: &ShrinkSpec,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// The reports of everything that happened up to `now` and was not
    /// reported yet, oldest first.
    fn observe(
        &mut self,
        now: i64,
    ) -> impl Future<Output = Result<Vec<Report>, BackendError>> + Send;

    /// The clusters this backend serves, with their health and capacity.
    fn capacity(
        &mut self,
        now: i64,
    ) -> impl Future<Output = Result<Vec<ClusterCapacity>, BackendError>> + Send;

    /// Every gigafleet run the backend has now and has not reported ended,
    /// whoever dispatched it, in run order: what a restarted controller
    /// reconciles its store against. A run listed here that the store lacks
    /// is adopted or stopped; a run the store has that is not listed is
    /// lost. A run whose end is still to be observed is listed, so its real
    /// end (finished, failed) is reported rather than guessed as lost.
    fn runs(&mut self, now: i64) -> impl Future<Output = Result<Vec<RunId>, BackendError>> + Send;
}

/// Polls a future once and returns its output if it was ready: how the
/// tokio-free twin drives a backend whose futures never wait. `None` means
/// the future would have waited (a backend that needs a runtime).
pub fn ready<F: Future>(f: F) -> Option<F::Output> {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}
