//! gf-control is the controller: the lifecycle of training jobs and inference
//! services as a sans-IO state machine, `handle(now, Event) -> Vec<Action>`.
//!
//! Architecture invariant: this crate does not know whether it is simulated.
//! It reads no clock (time comes in with every event), opens no file or
//! socket, draws no random number, and never blocks. The digital twin
//! (gf-sim) and the server are two shells that feed it events — submissions,
//! backend reports, timers — and carry out the actions it returns against a
//! backend: dispatch a run with its exact placement, stop a run. Placement
//! itself is gf-sched's; this crate decides *when* to ask and what to do
//! with the answer.
//!
//! The backend's reports are the truth: a run runs when its backend says it
//! started and ends when its backend says it ended; a job's progress is the
//! last checkpoint its backend reported. Stops are requests: a stopping run
//! keeps its GPUs until the backend confirms (or a grace period passes), and
//! the job that preempted it waits with its placement reserved.
//!
//! A job moves `pending → placed → running`, and on an interruption
//! `→ interrupted → restarting → running` again from its last checkpoint,
//! until it is `completed`, `failed` (its retry budget for a failure category
//! is spent) or `cancelled`. Every event and action is serde and the
//! controller can be [restored](Controller::restore) from its event log.

mod backfill;
mod controller;
mod deadline;
mod error;
mod estimate;
mod fair;
mod holdoff;
mod job;
mod lifecycle;
mod pass;
mod protocol;
mod queue;
pub mod run;
mod scale;
mod table;

pub use controller::Controller;
pub use error::ControlError;
pub use estimate::{Observed, PRIOR_GPU_S};
pub use gf_model::protocol::{
    CapacityCause, FailureCategory, JobId, Progress, Report, RunId, RunKind, RunPlacement, RunSpec,
    ServiceId, StopReason, StopSpec,
};
pub use job::{JobInfo, JobState};
pub use protocol::{Action, ControlConfig, Event, EventLog, LogEntry};
pub use queue::QueueOrder;
pub use run::young_daly_interval_s;
pub use scale::{ServiceInfo, Slo};
pub use table::JobTable;
