//! What the server writes into the store's event log and how it reads it
//! back as controller events.
//!
//! The store keeps controller events as opaque JSON; the server wraps each
//! in [`Logged`], which also says whether the event is a report the backend
//! gave through `observe`. The simulated backend is rebuilt on restart by
//! replaying the log, and it then produces those reports again: knowing
//! which ones were logged already is what keeps them from being handled
//! twice.

use gf_control::Event;
use gf_model::{JobSpec, ServiceSpec};
use gf_store::{Body, LogRecord};
use serde::{Deserialize, Serialize};

/// Headroom services are sized with (demand × headroom), as in the twin.
pub const SERVICE_HEADROOM: f64 = 1.15;

/// One controller event as the log holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logged {
    /// A report drained from the backend by `observe` (not one made of a
    /// call's answer, such as a refused dispatch).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub observed: bool,
    /// The event.
    pub event: Event,
}

impl Logged {
    /// An event from the API or a timer.
    pub fn of(event: Event) -> Logged {
        Logged {
            observed: false,
            event,
        }
    }

    /// The JSON the log keeps.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("events serialise")
    }
}

/// A log entry the server cannot read: a fault of the store or of a
/// newer server that wrote it.
#[derive(Debug, thiserror::Error)]
#[error("log entry {seq} cannot be read: {why}")]
pub struct BadEntry {
    /// Its position.
    pub seq: u64,
    /// Why.
    pub why: String,
}

/// The controller event of a log entry, and whether it was observed.
pub fn decode(rec: &LogRecord) -> Result<Logged, BadEntry> {
    let bad = |why: String| BadEntry { seq: rec.seq, why };
    match &rec.body {
        Body::Event(json) => serde_json::from_str(json).map_err(|e| bad(e.to_string())),
        Body::JobSubmitted { job, spec_json } => {
            let spec: JobSpec = serde_json::from_str(spec_json).map_err(|e| bad(e.to_string()))?;
            Ok(Logged::of(Event::JobSubmitted {
                job: *job,
                spec: std::sync::Arc::new(spec),
            }))
        }
        Body::ServiceCreated { service, spec_json } => {
            let spec: ServiceSpec =
                serde_json::from_str(spec_json).map_err(|e| bad(e.to_string()))?;
            Ok(Logged::of(Event::ServiceSubmitted {
                service: *service,
                spec: Box::new(spec),
                headroom: SERVICE_HEADROOM,
            }))
        }
    }
}

/// A short name for an event's kind, as the event stream and metrics show it.
pub fn kind(ev: &Event) -> &'static str {
    match ev {
        Event::JobSubmitted { .. } => "job_submitted",
        Event::JobCancelled { .. } => "job_cancelled",
        Event::ServiceSubmitted { .. } => "service_created",
        Event::ServiceRemoved { .. } => "service_removed",
        Event::DemandObserved { .. } => "demand_observed",
        Event::Backend(r) => match r {
            gf_model::protocol::Report::Started { .. } => "started",
            gf_model::protocol::Report::Checkpointed { .. } => "checkpointed",
            gf_model::protocol::Report::Finished { .. } => "finished",
            gf_model::protocol::Report::Failed { .. } => "failed",
            gf_model::protocol::Report::Lost { .. } => "lost",
            gf_model::protocol::Report::Stopped { .. } => "stopped",
            gf_model::protocol::Report::Refused { .. } => "refused",
            gf_model::protocol::Report::CapacityChanged { .. } => "capacity_changed",
            gf_model::protocol::Report::Unknown { .. } => "unknown_run",
        },
        Event::SpendReported { .. } => "spend_reported",
        Event::ScheduleTick => "schedule_tick",
        Event::AutoscaleTick => "autoscale_tick",
    }
}

/// Runs of service replicas are numbered from here up (gf-control's
/// `REPLICA_BASE`), so a run below it is a job's.
const REPLICA_BASE: u64 = 1 << 62;

/// The job an event concerns, if any (not a service replica's run).
pub fn job_of(ev: &Event) -> Option<u64> {
    match ev {
        Event::JobSubmitted { job, .. } | Event::JobCancelled { job } => Some(*job),
        Event::Backend(r) => r.run().map(|r| r.job).filter(|&j| j < REPLICA_BASE),
        _ => None,
    }
}
