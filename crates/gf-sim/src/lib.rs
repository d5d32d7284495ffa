//! gf-sim is the digital twin: a deterministic discrete-event engine that
//! drives the production controller (gf-control) and scheduler (gf-sched)
//! in virtual time against a simulated world, through the same Backend trait
//! (gf-backend) a real engine implements, and measures what happens.
//!
//! Architecture invariant: no tokio, no wall clock, no IO. Time is a virtual
//! clock advanced by event heaps; randomness is seeded ChaCha, one stream
//! per random process; the same document and seed give byte-identical
//! results. [`world`] is the backend: it runs what it is dispatched for as
//! long as the work takes, writes checkpoints, breaks and repairs hardware,
//! reclaims spot capacity, ramps capacity in and bills contracts, and
//! reports it. [`engine`] plays the rest of the world (users submitting
//! work, demand, billing reports, the controller's timers) and carries the
//! controller's actions to the world and the world's reports back.
//!
//! [`workload`] holds the random draws and demand shapes, [`serving`] the
//! latency a request to a service really sees (M/M/c queues per replica,
//! round trips between zones), [`metrics`] the summary, [`queue`] the queue-policy replay behind `replay philly`,
//! [`openb`] the FGD paper's static-packing experiment behind `replay openb`.

pub mod engine;
mod jobs;
pub mod live;
pub mod metrics;
pub mod openb;
pub mod queue;
pub mod serving;
mod timed;
pub mod workload;
pub mod world;

use gf_model::Date;
use gf_sched::Policy;

pub use engine::{Sim, control_config};
pub use live::LiveWorld;
pub use metrics::Summary;
pub use world::{JobTruth, SimWorld};

/// What can go wrong before or during a simulation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    /// The document has no `[scenario]` section.
    #[error("the file has no [scenario] section; add one with `start` and `horizon_days`")]
    NoScenario,
    /// The document has no fleet.
    #[error("the file has no [[provider]]: a scenario needs a fleet to simulate")]
    NoFleet,
    /// `--until` is not after the start.
    #[error("--until {until} is not after the scenario start {start}")]
    UntilBeforeStart {
        /// The date asked for.
        until: Date,
        /// The scenario start.
        start: Date,
    },
    /// A queue replay's cluster has no GPU to a server (or none at all).
    #[error(
        "a replay's cluster needs at least one GPU and one GPU a server (got {gpus} GPUs, {per_server} a server)"
    )]
    EmptyCluster {
        /// The cluster's GPUs.
        gpus: u32,
        /// Its GPUs a server.
        per_server: u32,
    },
    /// The controller reported a fault (a bug, surfaced rather than hidden).
    #[error("controller: {0}")]
    Control(#[from] gf_control::ControlError),
    /// The simulated backend failed to answer.
    #[error("simulated backend: {0}")]
    Backend(#[from] gf_backend::BackendError),
}

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Seed of every random stream.
    pub seed: u64,
    /// Scheduling policy.
    pub policy: Policy,
    /// Stop on this day instead of the scenario's horizon.
    pub until: Option<Date>,
}
