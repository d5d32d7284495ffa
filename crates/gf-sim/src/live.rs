//! The simulated world as the live control plane's embedded backend: what
//! `gigafleet serve` runs against when no real engine is configured, so a
//! fleet file alone makes a complete working system on one machine.
//!
//! The engine (`engine.rs`) steps the world itself between its own events;
//! a server cannot, because its events come from outside. So this wrapper
//! lets the world catch up to the time of every call before it answers:
//! whatever was due by `now` happens first, then the call. The world thus
//! changes only at the times the server hands it, and those are the times
//! of the server's log entries: replaying the log through a new world
//! rebuilds the very same world, which is how a restarted server gets back
//! the runs its simulated backend had.

use std::sync::Arc;

use gf_backend::{Backend, BackendError, ClusterCapacity};
use gf_model::Document;
use gf_model::protocol::{Report, RunId, RunSpec, ShrinkSpec, StopSpec};
use gf_sched::Topology;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::world::SimWorld;

/// Years the live world is scheduled for: its failure processes and ramps
/// are drawn up to this far ahead.
const LIVE_YEARS: i64 = 50;

/// The simulated world behind a live server.
pub struct LiveWorld {
    world: SimWorld,
}

impl LiveWorld {
    /// A world for the fleet of `doc` from `start_s`, failing as its
    /// `[scenario.failures]` says (the Llama 3 defaults without one), its
    /// randomness drawn from `seed`.
    pub fn new(doc: &Document, topo: Arc<Topology>, seed: u64, start_s: i64) -> LiveWorld {
        let (failures, checkpoint) = match &doc.scenario {
            Some(sc) => (sc.failures.clone(), sc.checkpoint.clone()),
            None => Default::default(),
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(2);
        let end_s = start_s + LIVE_YEARS * 365 * 86_400;
        let mut world = SimWorld::new(
            topo,
            failures,
            checkpoint.restart_overhead_min * 60.0,
            rng,
            start_s,
            end_s,
        );
        // Nobody takes a job's truth here (the server's store keeps its
        // history): kept, one per job would stay for the server's life.
        world.forget_truths();
        LiveWorld { world }
    }

    /// Lets everything due by `now` happen.
    fn catch_up(&mut self, now: i64) {
        while let Some(t) = self.world.next_at() {
            if t > now {
                break;
            }
            self.world.step();
        }
        self.world.advance(now);
    }

    /// Spend accrued so far against contract `k` (by the fleet's order of
    /// contracts), USD: what billing reports.
    pub fn contract_spend(&mut self, k: usize) -> f64 {
        self.world.contract_spend(k)
    }

    /// The world (read-only: its counters and truth for status pages).
    pub fn world(&self) -> &SimWorld {
        &self.world
    }
}

impl Backend for LiveWorld {
    async fn dispatch(&mut self, now: i64, run: &RunSpec) -> Result<(), BackendError> {
        self.catch_up(now);
        self.world.dispatch(now, run).await
    }

    async fn stop(&mut self, now: i64, stop: &StopSpec) -> Result<(), BackendError> {
        self.catch_up(now);
        self.world.stop(now, stop).await
    }

    async fn shrink(&mut self, now: i64, shrink: &ShrinkSpec) -> Result<(), BackendError> {
        self.catch_up(now);
        self.world.shrink(now, shrink).await
    }

    async fn observe(&mut self, now: i64) -> Result<Vec<Report>, BackendError> {
        self.catch_up(now);
        self.world.observe(now).await
    }

    async fn capacity(&mut self, now: i64) -> Result<Vec<ClusterCapacity>, BackendError> {
        self.catch_up(now);
        self.world.capacity(now).await
    }

    async fn runs(&mut self, now: i64) -> Result<Vec<RunId>, BackendError> {
        self.catch_up(now);
        self.world.runs(now).await
    }
}
