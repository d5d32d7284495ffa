//! The specs a user writes: the fleet (providers, sites, clusters, contracts,
//! teams) and the work (training jobs, inference services).
//!
//! These types are the one vocabulary of gigafleet: the fleet file, the
//! workload files, the API, the CLI and the reports use their field names.
//! They derive `Serialize` for output and `JsonSchema` for `gigafleet schema`;
//! reading them from TOML goes through [`crate::parse`], which reports every
//! problem of a file with its line and column instead of stopping at the first.
//! Like the scenario types, they depend on the catalog and units only.

use std::collections::BTreeMap;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::catalog::Accelerator;
use crate::units::Date;

/// The version of the file format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

pub use crate::locs::Locs;

/// One parsed file. A file may hold a fleet, work, or both: `gigafleet place`
/// reads the fleet from one and the work from another, and a scenario holds both.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// File format version; this build reads `1`.
    pub version: u32,
    /// Catalog overrides and additions.
    #[serde(default, rename = "accelerator", skip_serializing_if = "Vec::is_empty")]
    pub accelerators: Vec<Accelerator>,
    /// Cloud providers and own sites.
    #[serde(default, rename = "provider", skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<ProviderSpec>,
    /// Spend commitments.
    #[serde(default, rename = "contract", skip_serializing_if = "Vec::is_empty")]
    pub contracts: Vec<ContractSpec>,
    /// Teams, their quotas and fair shares.
    #[serde(default, rename = "team", skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<TeamSpec>,
    /// Training jobs.
    #[serde(default, rename = "job", skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<JobSpec>,
    /// Inference services.
    #[serde(default, rename = "service", skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceSpec>,
    /// What the digital twin simulates (a scenario file has it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<crate::scenario::ScenarioSpec>,
    /// What the capacity planner plans (a plan file has it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<crate::plan::PlanSpec>,
    /// Network round trips between latency zones (`[latency]`).
    #[serde(
        default,
        skip_serializing_if = "crate::latency::LatencySpec::is_default"
    )]
    pub latency: crate::latency::LatencySpec,
}

impl Document {
    /// True when the file describes a fleet (it has providers).
    pub fn is_fleet(&self) -> bool {
        !self.providers.is_empty()
    }

    /// Every cluster with its provider and region, in file order.
    pub fn clusters(&self) -> impl Iterator<Item = (&ProviderSpec, &RegionSpec, &ClusterSpec)> {
        self.providers.iter().flat_map(|p| {
            p.regions
                .iter()
                .flat_map(move |r| r.clusters.iter().map(move |c| (p, r, c)))
        })
    }
}

/// A cloud provider or an own site operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderSpec {
    /// Unique name (`aws`, `azure`, `oracle`, `gcp`, `own`).
    pub name: String,
    /// Its regions or sites.
    #[serde(rename = "region")]
    pub regions: Vec<RegionSpec>,
    #[serde(skip)]
    #[schemars(skip)]
    #[allow(missing_docs)]
    pub locs: Locs,
}

/// A region or site: one power envelope, one latency zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegionSpec {
    /// Name, unique within the provider (`us-east-1`).
    pub name: String,
    /// Facility power available to GPUs, MW; running GPUs never draw more.
    pub power_mw: f64,
    /// Latency zone of users served well from here (`us-east`, `eu-west`).
    pub zone: String,
    /// Its clusters.
    #[serde(rename = "cluster")]
    pub clusters: Vec<ClusterSpec>,
    #[serde(skip)]
    #[schemars(skip)]
    #[allow(missing_docs)]
    pub locs: Locs,
}

/// One network fabric of one accelerator type, built from NVLink domains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// Name, unique within the region.
    pub name: String,
    /// Catalog name of its accelerator.
    pub accelerator: String,
    /// GPUs per NVLink domain; defaults to the catalog's usual domain size.
    pub domain_gpus: Option<u32>,
    /// NVLink domains built (the capacity once the ramp completes).
    pub domains: u32,
    /// Domains per fabric block (second topology level), if the fabric has blocks.
    pub domains_per_block: Option<u32>,
    /// CPU millicores per domain (server or rack) for the work on its GPUs;
    /// without it CPU is not a constraint.
    pub cpu_milli_per_domain: Option<u64>,
    /// Host memory per domain, MiB; without it memory is not a constraint.
    pub memory_mib_per_domain: Option<u64>,
    /// Dated steps of domains online; without it every domain is online from the start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ramp: Vec<RampStep>,
    /// How the capacity is paid for.
    pub price: PriceSpec,
    /// The engine that runs its work (a Slurm cluster) and how its domains
    /// map to that engine's hosts; without it the cluster is simulated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<crate::backend::BackendSpec>,
    #[serde(skip)]
    #[schemars(skip)]
    #[allow(missing_docs)]
    pub locs: Locs,
}

/// From `date` on, `domains` domains of the cluster are online.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RampStep {
    /// The day the step takes effect.
    pub date: Date,
    /// Domains online from that day (a total, not an increment).
    pub domains: u32,
}

/// What a job's surviving data-parallel replica groups do while a failed
/// group restarts from a peer's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PartialRestart {
    /// They wait for it: the gang steps together again once it is back.
    #[default]
    Wait,
    /// They keep training on fewer replicas (a smaller global batch per
    /// step) and the restarted group rejoins (FT-HSDP, 2026).
    Continue,
}

impl PartialRestart {
    /// Names accepted in files.
    pub const NAMES: [&'static str; 2] = ["wait", "continue"];

    /// The mode of a name in a file.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "wait" => Some(PartialRestart::Wait),
            "continue" => Some(PartialRestart::Continue),
            _ => None,
        }
    }
}

/// How capacity is paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PriceModel {
    /// Paid whether used or not.
    Reserved,
    /// Paid per GPU-hour used.
    OnDemand,
    /// Cheaper, paid per use, can be taken back.
    Spot,
}

impl PriceModel {
    /// Names accepted in files.
    pub const NAMES: [&'static str; 3] = ["reserved", "on-demand", "spot"];

    /// The name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            PriceModel::Reserved => "reserved",
            PriceModel::OnDemand => "on-demand",
            PriceModel::Spot => "spot",
        }
    }

    /// Parses a name as written in a file.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "reserved" => Some(PriceModel::Reserved),
            "on-demand" => Some(PriceModel::OnDemand),
            "spot" => Some(PriceModel::Spot),
            _ => None,
        }
    }
}

/// A cluster's price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceSpec {
    /// Reserved, on-demand or spot.
    pub model: PriceModel,
    /// US dollars per GPU-hour.
    pub usd_per_gpu_hour: f64,
    /// Spot only: expected reclaims per GPU-hour of use.
    #[serde(default)]
    pub interruption_rate_per_hour: f64,
    /// The contract whose commitment this spend counts against.
    pub contract: Option<String>,
}

/// A spend commitment with a provider: use it or lose it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContractSpec {
    /// Unique name.
    pub name: String,
    /// The provider it is signed with.
    pub provider: String,
    /// Committed spend over the term, USD.
    pub committed_usd: f64,
    /// First day of the term.
    pub start: Date,
    /// Length of the term in months.
    pub term_months: u32,
    #[serde(skip)]
    #[schemars(skip)]
    #[allow(missing_docs)]
    pub locs: Locs,
}

impl ContractSpec {
    /// The first day after the term.
    pub fn end(&self) -> Date {
        self.start.add_months(self.term_months)
    }
}

/// A team: quota, fair share and the highest priority it may ask for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamSpec {
    /// Unique name.
    pub name: String,
    /// GPUs the team may hold at once, per accelerator; an accelerator not listed is not limited.
    #[serde(default)]
    pub quota: BTreeMap<String, u64>,
    /// Fair-share weight.
    #[serde(default = "one")]
    pub weight: f64,
    /// The highest priority its work may ask for.
    #[serde(default = "max_priority")]
    pub max_priority: u32,
    #[serde(skip)]
    #[schemars(skip)]
    #[allow(missing_docs)]
    pub locs: Locs,
}

pub(crate) fn one() -> f64 {
    1.0
}

fn max_priority() -> u32 {
    1000
}

/// A training job: a gang of GPUs that starts all together or not at all.
/// Its `Default` is the empty spec (no name, no GPUs, no work), not the
/// defaults a job file or API request gets for fields it leaves out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// Unique name.
    pub name: String,
    /// The team that owns it: shared, since a workload's millions of
    /// jobs name the same few teams (a `String` each was an allocation
    /// made at submit and a cold one freed when the job ended).
    pub team: Arc<str>,
    /// Higher runs first and may preempt lower.
    #[serde(default)]
    pub priority: u32,
    /// Gang size in GPUs.
    pub gpus: u32,
    /// Accelerators it runs on, most preferred first: shared between the
    /// jobs of a workload, as the team is.
    pub accelerators: Arc<[String]>,
    /// Work in reference (H100) GPU-hours.
    pub work_gpu_hours: f64,
    /// Minutes between checkpoints; without it the interval is derived from the failure rate.
    pub checkpoint_interval_min: Option<f64>,
    /// Minutes to write a checkpoint (and to restart from one).
    #[serde(default = "checkpoint_cost")]
    pub checkpoint_cost_min: f64,
    /// Minutes a checkpoint takes to reach storage after its stall, written in
    /// the background while training goes on (a failure meanwhile loses it);
    /// without it the scenario's `[scenario.checkpoint] persist_min`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_persist_min: Option<f64>,
    /// Keeps a copy of each checkpoint in peers' memory, so a failure that
    /// spares the peers resumes from it at once; without it the scenario's
    /// `[scenario.checkpoint] in_memory_replicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_in_memory: Option<bool>,
    /// GPUs per data-parallel replica group, for partial restart: a failure
    /// that spares the other groups restarts only its own, from a peer
    /// group's state, while the rest wait (FT-HSDP); without it the
    /// scenario's `[scenario.checkpoint] replica_group_gpus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_group_gpus: Option<u32>,
    /// What the other replica groups do while a failed one restarts:
    /// `wait`, or `continue` training on fewer replicas; without it the
    /// scenario's `[scenario.checkpoint] partial_restart`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_restart: Option<PartialRestart>,
    /// Providers it may run on; empty means any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<String>,
    /// Regions it may run in, as `provider/region` or `region`; empty means any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    /// May be preempted by higher-priority work.
    #[serde(default = "yes")]
    pub preemptible: bool,
    /// May run on spot capacity.
    #[serde(default)]
    pub spot: bool,
    /// Share of one GPU in thousandths (1-1000); below 1000 the GPU is shared
    /// with other fractional work and the gang must be one GPU.
    pub gpu_milli: Option<u32>,
    /// CPU millicores needed per GPU (for a fractional request: in all).
    #[serde(default)]
    pub cpu_milli_per_gpu: u64,
    /// Host memory needed per GPU, MiB (for a fractional request: in all).
    #[serde(default)]
    pub memory_mib_per_gpu: u64,
    /// What a real engine runs: command or script, environment, working
    /// directory, output files. The simulated world ignores it.
    #[serde(default, skip_serializing_if = "ExecSpec::is_empty")]
    pub exec: ExecSpec,
    #[serde(skip)]
    #[schemars(skip)]
    #[allow(missing_docs)]
    pub locs: Locs,
}

/// What a job runs on a real engine, written `[job.exec]` (or
/// `exec = { ... }`) in a job file and `"exec": { ... }` in the API.
/// Everything is optional for the simulated world; a real engine refuses a
/// job with neither `command` nor `script`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecSpec {
    /// One shell command line, run by `/bin/sh -c` on the first host
    /// (e.g. `srun python train.py`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// A whole batch script, starting with `#!`; instead of `command`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    /// Environment variables set for the job, name to value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// The working directory, an absolute path on the hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// Where standard output goes (standard error too, unless `error` is
    /// given); relative to `workdir`. The engine's placeholders (Slurm's
    /// `%j`) are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Where standard error goes, when apart from `output`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ExecSpec {
    /// True when nothing is set (the simulated world's jobs).
    pub fn is_empty(&self) -> bool {
        *self == ExecSpec::default()
    }
}

fn checkpoint_cost() -> f64 {
    5.0
}

pub(crate) fn yes() -> bool {
    true
}

/// Demand for a service from one latency zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DemandSpec {
    /// The users' latency zone.
    pub zone: String,
    /// Peak requests per second from that zone.
    pub rps: f64,
}

/// An inference service: replicas in many regions under a latency SLO.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Unique name.
    pub name: String,
    /// The team that owns it.
    pub team: String,
    /// The model served.
    pub model: String,
    /// Higher is placed first and may preempt lower.
    #[serde(default = "service_priority")]
    pub priority: u32,
    /// GPUs per replica (one gang each).
    pub gpus_per_replica: u32,
    /// Requests per second one replica serves, per accelerator it can run on.
    pub throughput: BTreeMap<String, f64>,
    /// Demand per users' latency zone.
    pub demand: Vec<DemandSpec>,
    /// Latency objective, milliseconds: a request is served well when its
    /// round trip, its wait in a replica's queue and its service together
    /// take no longer.
    pub latency_slo_ms: f64,
    /// Milliseconds a replica takes to serve one request with no queue in
    /// front of it. With the replica's throughput it sets how many requests
    /// a replica serves at once (Little's law); the planner lets a zone's
    /// replicas serve another zone only when the round trip plus this fits
    /// the SLO. Absent: a thousand over the throughput, one request at a time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_ms: Option<f64>,
    /// Regions it may run in, as `provider/region` or `region`; empty means any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    /// Replicas must span at least this many providers.
    #[serde(default = "one_u32")]
    pub min_providers: u32,
    /// At most this share of replicas on one provider (0 < x <= 1).
    #[serde(default = "one")]
    pub max_share_per_provider: f64,
    /// Fewest replicas.
    #[serde(default = "one_u32")]
    pub min_replicas: u32,
    /// Most replicas.
    #[serde(default = "max_replicas")]
    pub max_replicas: u32,
    /// Share of one GPU in thousandths (1-1000); below 1000 the GPU is shared
    /// with other fractional work and the gang must be one GPU.
    pub gpu_milli: Option<u32>,
    /// CPU millicores needed per GPU (for a fractional request: in all).
    #[serde(default)]
    pub cpu_milli_per_gpu: u64,
    /// Host memory needed per GPU, MiB (for a fractional request: in all).
    #[serde(default)]
    pub memory_mib_per_gpu: u64,
    #[serde(skip)]
    #[schemars(skip)]
    #[allow(missing_docs)]
    pub locs: Locs,
}

fn service_priority() -> u32 {
    500
}

fn one_u32() -> u32 {
    1
}

fn max_replicas() -> u32 {
    100_000
}

impl ServiceSpec {
    /// Accelerators it runs on, best throughput first (ties by name, so the order is stable).
    pub fn accelerators(&self) -> Vec<&str> {
        let mut v: Vec<(&str, f64)> = self
            .throughput
            .iter()
            .map(|(k, &t)| (k.as_str(), t))
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        v.into_iter().map(|(k, _)| k).collect()
    }

    /// Total peak demand, requests per second.
    pub fn total_rps(&self) -> f64 {
        self.demand.iter().map(|d| d.rps).sum()
    }
}
