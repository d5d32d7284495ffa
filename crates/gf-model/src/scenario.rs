//! The `[scenario]` section of a file: what the digital twin simulates on top
//! of the fleet and the work — horizon, workload generators, failures,
//! checkpointing.
//!
//! A scenario file is a fleet file plus this section, so one file answers
//! "what will this fleet do over the next months". Every figure has a default
//! taken from a public source (named beside it), so a scenario may be as short
//! as `start` and `horizon_days`. This module holds the types and their
//! defaults only: reading them is `crate::read::scenario`'s job, and the names
//! that point into the fleet (teams, accelerators, services, zones) are
//! checked by `crate::validate::scenario` once the whole document is read.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::locs::Locs;
use crate::units::Date;

/// Llama 3 (Dubey et al. 2024, Sec. 3.3.4): 419 unexpected interruptions in
/// 54 days of pre-training on 16,384 H100 GPUs.
pub const LLAMA3_INTERRUPTIONS_PER_GPU_DAY: f64 = 419.0 / (16_384.0 * 54.0);

/// Llama 3 (Sec. 3.3.4): about 78% of the unexpected interruptions were
/// confirmed or suspected hardware issues; the rest were software and other causes.
pub const LLAMA3_HARDWARE_SHARE: f64 = 0.78;

/// A simulation scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    /// First simulated day.
    pub start: Date,
    /// Days simulated.
    pub horizon_days: u32,
    /// Hours between metric samples (the report's time resolution).
    #[serde(default = "six")]
    pub sample_hours: f64,
    /// Minutes between scheduling passes over the pending queue.
    #[serde(default = "five")]
    pub schedule_interval_min: f64,
    /// Minutes between autoscaling decisions for inference services.
    #[serde(default = "sixty")]
    pub autoscale_interval_min: f64,
    /// Within a priority, offer room to the team furthest below its weighted
    /// share first (teams' `weight`), rather than to the oldest job.
    #[serde(default)]
    pub fair_share: bool,
    /// EASY backfill: the blocked head of each scheduling pass holds room
    /// where it can start soonest, so a large gang is not starved by small
    /// jobs backfilling every freed GPU.
    #[serde(default = "yes")]
    pub easy_backfill: bool,
    /// Hours between users' local time and UTC per latency zone (`us-east = -5`),
    /// which sets when each zone's daily peak comes.
    #[serde(default)]
    pub zone_utc_offset_h: BTreeMap<String, f64>,
    /// Training job arrival generators.
    #[serde(default, rename = "training", skip_serializing_if = "Vec::is_empty")]
    pub training: Vec<TrainingGen>,
    /// Inference demand generators, one per service.
    #[serde(default, rename = "inference", skip_serializing_if = "Vec::is_empty")]
    pub inference: Vec<InferenceGen>,
    /// CPU-only agentic work (tool calls, sandboxes), if simulated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agentic: Option<AgenticGen>,
    /// Failure models.
    #[serde(default)]
    pub failures: FailureSpec,
    /// Checkpoint policy.
    #[serde(default)]
    pub checkpoint: CheckpointSpec,
    /// Power as a site's meter reads it.
    #[serde(default)]
    pub power: PowerSpec,
    #[serde(skip)]
    #[schemars(skip)]
    #[allow(missing_docs)]
    pub locs: Locs,
}

// serde's defaults; spec.rs has its own `one` and `yes`, so that the scenario
// types do not depend on the fleet types' module.
fn one() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}
fn six() -> f64 {
    6.0
}
fn five() -> f64 {
    5.0
}
fn sixty() -> f64 {
    60.0
}

impl ScenarioSpec {
    /// The first day after the horizon.
    pub fn end(&self) -> Date {
        Date::from_days(self.start.days() + self.horizon_days as i32)
    }
}

/// One gang size of a training mix and its share of arrivals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SizeShare {
    /// Gang size in GPUs.
    pub gpus: u32,
    /// Relative share of arrivals with this size.
    pub share: f64,
}

/// Training jobs arriving as a Poisson process with a heavy-tailed size mix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainingGen {
    /// Name; generated jobs are called `NAME-0001`, ...
    pub name: String,
    /// Team that owns the jobs.
    pub team: String,
    /// Priority of the jobs.
    #[serde(default)]
    pub priority: u32,
    /// Mean arrivals per day.
    pub arrivals_per_day: f64,
    /// Accelerators the jobs run on, most preferred first.
    pub accelerators: Vec<String>,
    /// Gang sizes and their shares.
    pub sizes: Vec<SizeShare>,
    /// Median length of a job in reference (H100) hours: work = gpus × hours.
    pub hours_median: f64,
    /// Spread of the log-normal length (sigma of ln hours).
    #[serde(default = "one")]
    pub hours_sigma: f64,
    /// Longest job, reference hours (the log-normal tail is cut here).
    #[serde(default = "max_hours")]
    pub hours_max: f64,
    /// Arrival rate multiplies by this every year (1: flat).
    #[serde(default = "one")]
    pub growth_per_year: f64,
    /// May be preempted by higher-priority work.
    #[serde(default = "yes")]
    pub preemptible: bool,
    /// May run on spot capacity.
    #[serde(default)]
    pub spot: bool,
    /// Providers the jobs may use; empty means any.
    #[serde(default)]
    pub providers: Vec<String>,
    /// First arrival no earlier than this day (default: the scenario start).
    pub from: Option<Date>,
    #[serde(skip)]
    #[schemars(skip)]
    #[allow(missing_docs)]
    pub locs: Locs,
}

pub(crate) fn max_hours() -> f64 {
    24.0 * 90.0
}

/// Demand of one inference service over time: its `[[service]]` demand is
/// the peak of day one, shaped by a daily cycle and grown year on year.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InferenceGen {
    /// The `[[service]]` it drives.
    pub service: String,
    /// Trough-to-peak swing: the trough is `peak × (1 − amplitude)`.
    #[serde(default = "amplitude")]
    pub diurnal_amplitude: f64,
    /// Users' local hour of the daily peak.
    #[serde(default = "peak_hour")]
    pub peak_hour_local: f64,
    /// Demand multiplies by this every year.
    #[serde(default = "one")]
    pub growth_per_year: f64,
    /// Replicas are sized for demand × headroom.
    #[serde(default = "headroom")]
    pub headroom: f64,
    /// Seconds a new replica loads its model before it serves (0: at once).
    /// ServerlessLLM (OSDI'24) measures 84 s for LLaMA-2-70B with standard
    /// loaders; replicas added at a scaling decision serve only after it.
    #[serde(default)]
    pub model_load_s: f64,
    /// Demand on Saturdays and Sundays (UTC) as a share of a weekday's at
    /// the same hour (1: no weekly cycle).
    #[serde(default = "one")]
    pub weekend_factor: f64,
    /// Minute-to-minute variation of the request rate around its daily
    /// curve, as a coefficient of variation (0: the rate follows the curve
    /// exactly). Requests within a minute arrive as a Poisson process.
    #[serde(default)]
    pub burst_cv: f64,
    #[serde(skip)]
    #[schemars(skip)]
    #[allow(missing_docs)]
    pub locs: Locs,
}

fn tray_gpus() -> u32 {
    4
}
fn tray_repair_hours() -> f64 {
    2.5
}

pub(crate) fn amplitude() -> f64 {
    0.4
}
pub(crate) fn peak_hour() -> f64 {
    20.0
}
pub(crate) fn headroom() -> f64 {
    1.15
}

/// CPU-only agentic work: sandboxes and tool calls that need cores, not GPUs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgenticGen {
    /// Peak CPU cores busy on day one.
    pub cores_peak: f64,
    /// Price of a core-hour, USD.
    pub usd_per_core_hour: f64,
    /// Daily swing, as for inference.
    #[serde(default = "amplitude")]
    pub diurnal_amplitude: f64,
    /// Demand multiplies by this every year.
    #[serde(default = "one")]
    pub growth_per_year: f64,
    #[serde(skip)]
    #[schemars(skip)]
    #[allow(missing_docs)]
    pub locs: Locs,
}

/// Retries allowed per failure category before a job is marked failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryBudget {
    /// Interruptions by hardware (GPU, host, rack, outage).
    pub hardware: u32,
    /// Interruptions by software faults.
    pub software: u32,
    /// Preemptions and spot reclaims.
    pub preemption: u32,
}

impl Default for RetryBudget {
    fn default() -> Self {
        RetryBudget {
            hardware: 10_000,
            software: 200,
            preemption: 10_000,
        }
    }
}

/// Failure models; every rate is a mean of a Poisson process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailureSpec {
    /// Unexpected interruptions per GPU per day (default: Llama 3, 419 / (16,384 × 54)).
    pub gpu_interruptions_per_gpu_day: f64,
    /// Share of interruptions caused by hardware; the host is repaired, the rest restart at once.
    pub hardware_share: f64,
    /// Hours a failed host (its NVLink domain) is out for repair.
    pub gpu_repair_hours: f64,
    /// Whole-domain failures (NVLink switch tray, power shelf, coolant) per domain per year.
    pub domain_failures_per_domain_year: f64,
    /// Hours a failed domain is out.
    pub domain_repair_hours: f64,
    /// Whole-cluster outages (fabric, storage) per cluster per year.
    pub cluster_outages_per_year: f64,
    /// Hours a cluster outage lasts.
    pub cluster_outage_hours: f64,
    /// Provider-region outages per site per year.
    pub region_outages_per_year: f64,
    /// Hours a region outage lasts.
    pub region_outage_hours: f64,
    /// Hours before reclaimed spot capacity comes back.
    pub spot_return_hours: f64,
    /// GPUs per compute tray of a rack-scale NVLink domain (one of more
    /// GPUs than an 8-GPU server: GB200/GB300 NVL72 racks are 18 trays of
    /// 4). A hardware GPU fault there takes out its tray, not the rack; an
    /// 8-GPU (HGX) server still loses its whole host for `gpu_repair_hours`.
    /// 0: every GPU fault takes its whole domain out (the model before trays).
    #[serde(default = "tray_gpus")]
    pub tray_gpus: u32,
    /// Hours a failed compute tray is out: a swap of a field-replaceable
    /// tray, 1-4 h (the figure for GB200 practice); 2.5 h, the
    /// middle, is an assumption.
    #[serde(default = "tray_repair_hours")]
    pub tray_repair_hours: f64,
    /// Compute trays each rack-scale domain keeps beyond its `domain_gpus`
    /// as in-rack spares (GB200 practice: 2 trays, 8 of 72 GPUs, with the
    /// cluster's `domain_gpus = 64`). While a rack has a spare tray left, a
    /// tray fault costs only the run on it a restart in place; past them,
    /// the rack is out until a tray comes back.
    #[serde(default)]
    pub spare_trays_per_rack: u32,
    /// Gangs of at least this many GPUs hold hot-spare NVLink domains.
    pub hot_spare_min_gpus: u32,
    /// Spare domains such a gang holds.
    pub hot_spare_domains: u32,
    /// Size each gang's spare pool by Little's law from the failures and
    /// repairs the controller has seen on its cluster, rather than
    /// `hot_spare_domains` (used until a repair has been seen).
    #[serde(default)]
    pub hot_spares_by_littles_law: bool,
    /// Retries per failure category.
    pub retry_budget: RetryBudget,
    #[serde(skip)]
    #[schemars(skip)]
    #[allow(missing_docs)]
    pub locs: Locs,
}

impl Default for FailureSpec {
    fn default() -> Self {
        FailureSpec {
            gpu_interruptions_per_gpu_day: LLAMA3_INTERRUPTIONS_PER_GPU_DAY,
            hardware_share: LLAMA3_HARDWARE_SHARE,
            // A host swap or GPU reseat with burn-in; Llama 3 reports most were
            // handled by automation, so a few hours, not days.
            gpu_repair_hours: 4.0,
            domain_failures_per_domain_year: 0.5,
            domain_repair_hours: 24.0,
            cluster_outages_per_year: 1.0,
            cluster_outage_hours: 4.0,
            region_outages_per_year: 0.25,
            region_outage_hours: 8.0,
            spot_return_hours: 6.0,
            tray_gpus: tray_gpus(),
            tray_repair_hours: tray_repair_hours(),
            spare_trays_per_rack: 0,
            hot_spare_min_gpus: 8_192,
            hot_spare_domains: 2,
            hot_spares_by_littles_law: false,
            retry_budget: RetryBudget::default(),
            locs: Locs::default(),
        }
    }
}

/// Power as a site's meter reads it, beside the admission figure. The
/// scheduler admits work against a site's envelope at every allocated GPU's
/// full facility power (the catalog's, at a PUE of 1.2): a bound that holds
/// whatever the work does. The meter sees more detail: an online GPU that
/// computes nothing (idle, a hot spare, a gang stalled writing a checkpoint
/// or restarting) still draws its idle floor, and the facility overhead is
/// the site's own PUE. So a 16k-GPU gang's restart shows as a drop of
/// megawatts, as Llama 3 reports (Sec. 3.3.4: swings of tens of MW).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PowerSpec {
    /// Meter power per site over time (off: only the admission figure).
    pub metered: bool,
    /// Share of a GPU's power at load it draws idle, server share included
    /// (an H100 idles near 100 W of its 700 W, its server's CPUs, NICs and
    /// fans stay on: about 0.3 of load; assumption).
    pub idle_share: f64,
    /// Facility overhead, total ÷ IT power, of every site not listed in
    /// `site_pue` (1.2: the catalog's reference).
    pub pue: f64,
    /// PUE per site, `provider/region` = PUE.
    pub site_pue: BTreeMap<String, f64>,
    #[serde(skip)]
    #[schemars(skip)]
    #[allow(missing_docs)]
    pub locs: Locs,
}

impl Default for PowerSpec {
    fn default() -> Self {
        PowerSpec {
            metered: false,
            idle_share: 0.3,
            pue: 1.2,
            site_pue: BTreeMap::new(),
            locs: Locs::default(),
        }
    }
}

/// How the checkpoint interval of a job that does not set one is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CheckpointPolicy {
    /// The same interval for every job.
    Fixed,
    /// Goodput-optimal from the job's failure rate and checkpoint cost
    /// (Young 1974; Daly 2006).
    YoungDaly,
}

impl CheckpointPolicy {
    /// Names accepted in files.
    pub const NAMES: [&'static str; 2] = ["fixed", "young-daly"];

    /// The name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckpointPolicy::Fixed => "fixed",
            CheckpointPolicy::YoungDaly => "young-daly",
        }
    }
}

/// Checkpointing and restart of training jobs: what a checkpoint costs the
/// job (a blocking stall, then a background persist) and what a restart
/// costs (detection, start-up, initialisation growing with the gang, reading
/// the checkpoint). Re-placement is not a figure here: it is the queue wait
/// the controller produces (zero when a hot spare takes over). The defaults
/// are the 2023 blocking practice; a scenario sets today's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckpointSpec {
    /// Fixed or Young/Daly.
    pub policy: CheckpointPolicy,
    /// Interval under the fixed policy, minutes.
    pub interval_min: f64,
    /// Minutes to write a checkpoint, for generated jobs.
    pub cost_min: f64,
    /// Minutes every run spends starting its processes and loading its
    /// state, on top of detection, communicator initialisation and reading
    /// the checkpoint (each below).
    pub restart_overhead_min: f64,
    /// Minutes a checkpoint takes to reach durable storage after its
    /// blocking stall (`cost_min`), written in the background while training
    /// goes on; a failure before it lands loses that checkpoint. 0: the stall
    /// writes to storage (the 2023 blocking practice).
    #[serde(default)]
    pub persist_min: f64,
    /// Jobs keep a copy of each checkpoint in their peers' host memory
    /// (Gemini, SOSP'23), so a failure that spares the peers (a GPU, host,
    /// rack or software fault) resumes from the latest stall at once; an
    /// outage of the whole cluster or region loses the copies too.
    #[serde(default)]
    pub in_memory_replicas: bool,
    /// Seconds from a failure to its detection (heartbeat or collective
    /// timeout), spent before every restart after an interruption.
    #[serde(default)]
    pub detect_s: f64,
    /// Seconds of communicator and framework initialisation per 1,000 GPUs
    /// of the gang, spent at every start: initialisation grows with the gang
    /// (MegaScale, NSDI'24: ~30 s at 10,000 GPUs after optimisation).
    #[serde(default)]
    pub init_s_per_1k_gpus: f64,
    /// Tell the controller the injected failure rate, for Young/Daly: an
    /// oracle no real controller has, kept for comparison. Off (the
    /// default), the controller estimates the rate from the interruptions
    /// reported so far, starting from the published Llama 3 rate.
    #[serde(default)]
    pub oracle_rates: bool,
    /// GPUs per data-parallel replica group of every job at least twice as
    /// large, for partial restart (0: off, every failure restarts the whole
    /// gang from its checkpoint). A failure that spares the other groups
    /// (anything but a cluster or region outage) loses no compute — the
    /// failed group takes a peer group's state — and its restart initialises
    /// one group, not the gang; the rest wait meanwhile (FT-HSDP, 2026:
    /// effective time 44% -> 80% at ~100k GPUs).
    #[serde(default)]
    pub replica_group_gpus: u32,
    /// What the surviving replica groups do while a failed one restarts:
    /// `wait` (the default) or `continue` training on fewer replicas, the
    /// failed group rejoining from a peer's state.
    #[serde(default)]
    pub partial_restart: crate::spec::PartialRestart,
    #[serde(skip)]
    #[schemars(skip)]
    #[allow(missing_docs)]
    pub locs: Locs,
}

impl Default for CheckpointSpec {
    fn default() -> Self {
        CheckpointSpec {
            policy: CheckpointPolicy::YoungDaly,
            interval_min: 60.0,
            cost_min: 5.0,
            restart_overhead_min: 10.0,
            persist_min: 0.0,
            in_memory_replicas: false,
            detect_s: 0.0,
            init_s_per_1k_gpus: 0.0,
            oracle_rates: false,
            replica_group_gpus: 0,
            partial_restart: crate::spec::PartialRestart::Wait,
            locs: Locs::default(),
        }
    }
}
