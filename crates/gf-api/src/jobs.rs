//! Training jobs on the wire: a submission (the fields of a `[[job]]` table
//! of a job file, as JSON), a job as the control plane sees it, a page of
//! jobs, why a job is where it is, and one entry of the event stream.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A training job to submit: the same fields, names and defaults as a
/// `[[job]]` table of a job file (`gigafleet validate` checks the same).
/// `team` may be left out: the token's team is taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobSubmit {
    /// Its name (need not be unique across submissions).
    pub name: String,
    /// The team that owns it; must be the token's team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// Higher runs first and may preempt lower (at most the team's
    /// `max_priority`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// Gang size in GPUs, at least 1.
    #[schema(minimum = 1)]
    pub gpus: u32,
    /// Accelerators it runs on, most preferred first (catalog names).
    pub accelerators: Vec<String>,
    /// Work in reference (H100) GPU-hours, more than 0.
    pub work_gpu_hours: f64,
    /// Minutes between checkpoints; without it the interval is derived from
    /// the failure rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_interval_min: Option<f64>,
    /// Minutes to write a checkpoint (and to restart from one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_cost_min: Option<f64>,
    /// Providers it may run on; empty means any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<String>,
    /// Regions it may run in (`provider/region` or `region`); empty means any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    /// May be preempted by higher-priority work (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preemptible: Option<bool>,
    /// May run on spot capacity (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spot: Option<bool>,
    /// Share of one GPU in thousandths (1-1000), for a one-GPU job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_milli: Option<u32>,
    /// CPU millicores needed per GPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_milli_per_gpu: Option<u64>,
    /// Host memory needed per GPU, MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib_per_gpu: Option<u64>,
    /// What a real engine runs (`[job.exec]`); the simulated backend
    /// ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecSubmit>,
}

/// What a real engine runs for a job: a command or a script, its
/// environment, working directory and output files.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecSubmit {
    /// A command line, run by the engine's shell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// A whole batch script, starting with `#!` (instead of `command`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Working directory, an absolute path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// Standard output file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Standard error file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// GPUs of one NVLink domain held by a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SlotView {
    /// The domain's index within its cluster.
    pub domain: u32,
    /// GPUs of it held.
    pub gpus: u32,
    /// Held as a hot spare.
    #[serde(default)]
    pub spare: bool,
}

/// Where a job's current run is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PlacementView {
    /// The cluster, `provider/region/cluster`.
    pub cluster: String,
    /// Its domains.
    pub domains: Vec<SlotView>,
}

/// A job as the control plane sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    /// Its id, given at submission.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// Its team.
    pub team: String,
    /// GPUs asked for.
    pub gpus: u32,
    /// pending, reserved, placed, running, stopping, interrupted,
    /// restarting, completed, failed or cancelled.
    pub state: String,
    /// Completed, failed or cancelled.
    pub terminal: bool,
    /// Runs dispatched so far.
    pub attempt: u32,
    /// Its cluster while placed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Where its current run is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<PlacementView>,
    /// Why it waits, or why it ended.
    pub reason: String,
    /// Work kept by its last checkpoint, reference GPU-hours.
    pub done_gpu_hours: f64,
    /// Submitted at, RFC 3339 (the control plane's clock).
    pub submitted_at: String,
    /// Last changed at, RFC 3339.
    pub updated_at: String,
    /// The idempotency key it was submitted with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// What was submitted (the job file's fields, defaults filled in).
    pub spec: serde_json::Value,
}

/// A page of jobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobList {
    /// The jobs, by increasing id.
    pub jobs: Vec<JobView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Clusters rejected for one cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CauseCount {
    /// The cause, in words (`too few free GPUs`, `team quota exceeded`, ...).
    pub cause: String,
    /// Clusters rejected for it.
    pub clusters: u32,
}

/// Why a job is where it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExplainView {
    /// The job.
    pub id: u64,
    /// Its state.
    pub state: String,
    /// The answer in one sentence.
    pub summary: String,
    /// For a waiting job: clusters the scheduler looked at now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub considered: Option<u32>,
    /// For a waiting job: clusters that could take it now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feasible: Option<u32>,
    /// For a waiting job: clusters rejected, by cause, most first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<CauseCount>,
    /// For a placed job: where, and the winning score's terms by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<PlacementView>,
    /// For a placed job: the score's terms of the chosen cluster.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub score_terms: BTreeMap<String, f64>,
    /// Interruptions so far by category (hardware, software, preemption).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub interruptions: BTreeMap<String, u32>,
}

/// One entry of the event stream (`GET /v1/events`, server-sent events
/// whose `id` is `seq`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    /// Its position in the log; resume with `Last-Event-ID: seq`.
    pub seq: u64,
    /// When, RFC 3339 (the control plane's clock).
    pub at: String,
    /// What kind: job_submitted, job_cancelled, service_created, backend
    /// report kinds (started, finished, ...), schedule_tick, ...
    pub kind: String,
    /// The job it concerns, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<u64>,
    /// The event itself, as the controller's log holds it.
    pub event: serde_json::Value,
}
