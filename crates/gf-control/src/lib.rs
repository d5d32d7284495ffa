//! gf-control is the controller: the lifecycle of training jobs and inference
//! services as a sans-IO state machine, `handle(now, Event) -> Vec<Action>`.
//!
//! Architecture invariant: this crate does not know whether it is simulated.
//! It reads no clock (time comes in with every event), opens no file or
//! socket, draws no random number, and never blocks. The digital twin
//! (gf-sim) and the server are two shells that feed it events — submissions,
//! capacity changes, backend reports, timers — and carry out the actions it
//! returns: dispatch, preempt, cancel, scale, checkpoint. Placement itself is
//! gf-sched's; this crate decides *when* to ask and what to do with the answer.
//!
//! A job moves `pending → placed → running`, and on an interruption
//! `→ interrupted → restarting → running` again from its last checkpoint,
//! until it is `completed`, `failed` (its retry budget for a failure category
//! is spent) or `cancelled`. [`run`] holds the arithmetic of one run.

mod controller;
pub mod run;

pub use controller::{
    Action, CapacityCause, ControlConfig, Controller, Event, FailureCategory, JobId, JobInfo,
    JobState, JobStats, ServiceId, ServiceInfo, Slo,
};
pub use run::{RunOutcome, RunPlan, young_daly_interval_s};
