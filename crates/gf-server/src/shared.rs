//! What the reconcile loop shares with the API handlers: how far it got,
//! whether it and the backend are healthy, the fleet's state it last
//! published, and the signal that something was appended to the log.
//!
//! Handlers read these without waiting for the loop: every field is an
//! atomic or behind a lock held only to copy a value in or out.

use std::collections::BTreeMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use gf_api::FleetView;
use tokio::sync::Notify;

/// State shared between the loop and the handlers.
#[derive(Default)]
pub struct Shared {
    handled: AtomicU64,
    now: AtomicI64,
    ready: AtomicBool,
    leader: AtomicBool,
    backend_ok: AtomicBool,
    fleet: RwLock<Option<(FleetView, BTreeMap<String, f64>)>>,
    appended: Notify,
}

impl Shared {
    /// The last log entry handled and the controller's time then.
    pub fn set_handled(&self, seq: u64, now: i64) {
        self.handled.store(seq, Ordering::Release);
        self.now.store(now, Ordering::Release);
    }

    /// The last log entry handled.
    pub fn handled(&self) -> u64 {
        self.handled.load(Ordering::Acquire)
    }

    /// The controller's time at the last entry handled.
    pub fn now(&self) -> i64 {
        self.now.load(Ordering::Acquire)
    }

    /// The controller is restored and the loop runs.
    pub fn set_ready(&self, v: bool) {
        self.ready.store(v, Ordering::Release);
    }

    /// Whether the controller is restored and the loop runs.
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// This replica leads.
    pub fn set_leader(&self, v: bool) {
        self.leader.store(v, Ordering::Release);
    }

    /// Whether this replica leads.
    pub fn leader(&self) -> bool {
        self.leader.load(Ordering::Acquire)
    }

    /// The backend answered its last call.
    pub fn set_backend_ok(&self, v: bool) {
        self.backend_ok.store(v, Ordering::Release);
    }

    /// Whether the backend answered its last call.
    pub fn backend_ok(&self) -> bool {
        self.backend_ok.load(Ordering::Acquire)
    }

    /// The fleet's state and contract spend, as the loop last saw them.
    pub fn set_fleet(&self, v: FleetView, spend: BTreeMap<String, f64>) {
        if let Ok(mut g) = self.fleet.write() {
            *g = Some((v, spend));
        }
    }

    /// The fleet's state last published here, if this replica leads.
    pub fn fleet(&self) -> Option<(FleetView, BTreeMap<String, f64>)> {
        self.fleet.read().ok().and_then(|g| g.clone())
    }

    /// Tells the loop that the API appended to the log.
    pub fn notify_appended(&self) {
        self.appended.notify_one();
    }

    /// Resolves when the API appended to the log.
    pub async fn appended(&self) {
        self.appended.notified().await;
    }
}
