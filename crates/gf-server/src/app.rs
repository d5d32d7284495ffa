//! What every handler holds: the store, the fleet, the clock, what the loop
//! shares, the metrics, the way to ask the controller a question, and the
//! limits that keep a burst from collapsing the server.

use std::sync::Arc;

use gf_model::Document;
use gf_sched::Topology;
use tokio::sync::{Semaphore, mpsc};

use crate::auth::TokenCache;
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::reconcile::Query;
use crate::shared::Shared;

/// The handlers' state.
pub struct App<S> {
    /// Durable state.
    pub store: S,
    /// The fleet file, read and checked.
    pub doc: Arc<Document>,
    /// Its topology.
    pub topo: Arc<Topology>,
    /// The control plane's clock.
    pub clock: Clock,
    /// What the loop shares.
    pub shared: Arc<Shared>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Questions for the controller (answered only where it runs).
    pub queries: mpsc::Sender<Query>,
    /// Submissions in flight; none left means 429.
    pub inflight: Arc<Semaphore>,
    /// Tokens looked up lately.
    pub tokens: Arc<TokenCache>,
}

impl<S: Clone> Clone for App<S> {
    fn clone(&self) -> Self {
        App {
            store: self.store.clone(),
            doc: Arc::clone(&self.doc),
            topo: Arc::clone(&self.topo),
            clock: self.clock,
            shared: Arc::clone(&self.shared),
            metrics: Arc::clone(&self.metrics),
            queries: self.queries.clone(),
            inflight: Arc::clone(&self.inflight),
            tokens: Arc::clone(&self.tokens),
        }
    }
}
