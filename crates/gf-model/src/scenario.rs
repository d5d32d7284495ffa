//! The `[scenario]` section of a file: what the digital twin simulates on top
//! of the fleet and the work — horizon, workload generators, failures,
//! checkpointing.
//!
//! A scenario file is a fleet file plus this section, so one file answers
//! "what will this fleet do over the next months". Every figure has a default
//! taken from a public source (named beside it), so a scenario may be as short
//! as `start` and `horizon_days`. Names that point into the fleet (teams,
//! accelerators, services, zones) are checked by [`check_scenario`] once the
//! whole document is read, pointed at the line and column where they were
//! written.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml_span::Value;

use crate::diag::Diagnostics;
use crate::parse::Tbl;
use crate::spec::{Document, Locs};
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
    #[serde(skip)]
    #[schemars(skip)]
    #[allow(missing_docs)]
    pub locs: Locs,
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
    #[serde(default = "crate::spec::one")]
    pub hours_sigma: f64,
    /// Longest job, reference hours (the log-normal tail is cut here).
    #[serde(default = "max_hours")]
    pub hours_max: f64,
    /// Arrival rate multiplies by this every year (1: flat).
    #[serde(default = "crate::spec::one")]
    pub growth_per_year: f64,
    /// May be preempted by higher-priority work.
    #[serde(default = "crate::spec::yes")]
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

fn max_hours() -> f64 {
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
    #[serde(default = "crate::spec::one")]
    pub growth_per_year: f64,
    /// Replicas are sized for demand × headroom.
    #[serde(default = "headroom")]
    pub headroom: f64,
    #[serde(skip)]
    #[schemars(skip)]
    #[allow(missing_docs)]
    pub locs: Locs,
}

fn amplitude() -> f64 {
    0.4
}
fn peak_hour() -> f64 {
    20.0
}
fn headroom() -> f64 {
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
    #[serde(default = "crate::spec::one")]
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
    /// Gangs of at least this many GPUs hold hot-spare NVLink domains.
    pub hot_spare_min_gpus: u32,
    /// Spare domains such a gang holds.
    pub hot_spare_domains: u32,
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
            hot_spare_min_gpus: 8_192,
            hot_spare_domains: 2,
            retry_budget: RetryBudget::default(),
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

/// Checkpointing of training jobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckpointSpec {
    /// Fixed or Young/Daly.
    pub policy: CheckpointPolicy,
    /// Interval under the fixed policy, minutes.
    pub interval_min: f64,
    /// Minutes to write a checkpoint, for generated jobs.
    pub cost_min: f64,
    /// Minutes to reschedule and initialise a restarted job, on top of reading the checkpoint.
    pub restart_overhead_min: f64,
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
            locs: Locs::default(),
        }
    }
}

fn check_positive(cx: &mut Diagnostics, t: &Tbl<'_>, key: &str, x: f64) {
    if x <= 0.0 {
        cx.error(
            t.at(key),
            format!("`{key}` is {x}; it must be more than zero"),
        );
    }
}

fn check_non_negative(cx: &mut Diagnostics, t: &Tbl<'_>, key: &str, x: f64) {
    if x < 0.0 {
        cx.error(
            t.at(key),
            format!("`{key}` is {x}; it must be zero or more"),
        );
    }
}

fn check_fraction(cx: &mut Diagnostics, t: &Tbl<'_>, key: &str, x: f64) {
    if !(0.0..=1.0).contains(&x) {
        cx.error(t.at(key), format!("`{key}` is {x}; it must be from 0 to 1"));
    }
}

pub(crate) fn read_scenario(cx: &mut Diagnostics, v: Value<'_>) -> Option<ScenarioSpec> {
    let mut t = Tbl::new(cx, v, "[scenario]")?;
    let start = t.req::<Date>(cx, "start");
    let horizon_days = t.req::<u32>(cx, "horizon_days");
    if horizon_days == Some(0) {
        cx.error(t.at("horizon_days"), "`horizon_days` must be at least 1");
    }
    let sample_hours = t.or::<f64>(cx, "sample_hours", 6.0);
    check_positive(cx, &t, "sample_hours", sample_hours);
    let schedule_interval_min = t.or::<f64>(cx, "schedule_interval_min", 5.0);
    check_positive(cx, &t, "schedule_interval_min", schedule_interval_min);
    let autoscale_interval_min = t.or::<f64>(cx, "autoscale_interval_min", 60.0);
    check_positive(cx, &t, "autoscale_interval_min", autoscale_interval_min);
    let zone_utc_offset_h = t.or::<BTreeMap<String, f64>>(cx, "zone_utc_offset_h", BTreeMap::new());
    let training = t.list(cx, "training", read_training);
    let inference = t.list(cx, "inference", read_inference);
    let agentic = t.take("agentic").and_then(|v| read_agentic(cx, v));
    let failures = match t.take("failures") {
        Some(v) => read_failures(cx, v)?,
        None => FailureSpec::default(),
    };
    let checkpoint = match t.take("checkpoint") {
        Some(v) => read_checkpoint(cx, v)?,
        None => CheckpointSpec::default(),
    };
    let locs = t.finish(cx);
    Some(ScenarioSpec {
        start: start?,
        horizon_days: horizon_days?,
        sample_hours,
        schedule_interval_min,
        autoscale_interval_min,
        zone_utc_offset_h,
        training,
        inference,
        agentic,
        failures,
        checkpoint,
        locs,
    })
}

fn read_size(cx: &mut Diagnostics, v: Value<'_>) -> Option<SizeShare> {
    let mut t = Tbl::new(cx, v, "a size entry")?;
    let gpus = t.req::<u32>(cx, "gpus");
    if gpus == Some(0) {
        cx.error(t.at("gpus"), "`gpus` must be at least 1");
    }
    let share = t.req::<f64>(cx, "share");
    if let Some(s) = share {
        check_positive(cx, &t, "share", s);
    }
    t.finish(cx);
    Some(SizeShare {
        gpus: gpus?,
        share: share?,
    })
}

fn read_training(cx: &mut Diagnostics, v: Value<'_>) -> Option<TrainingGen> {
    let mut t = Tbl::new(cx, v, "[[scenario.training]]")?;
    let name = t.req::<String>(cx, "name");
    let team = t.req::<String>(cx, "team");
    let priority = t.or::<u32>(cx, "priority", 0);
    let arrivals_per_day = t.req::<f64>(cx, "arrivals_per_day");
    if let Some(a) = arrivals_per_day {
        check_non_negative(cx, &t, "arrivals_per_day", a);
    }
    let accelerators = t.req::<Vec<String>>(cx, "accelerators");
    if accelerators.as_ref().is_some_and(|a| a.is_empty()) {
        cx.error(
            t.at("accelerators"),
            "`accelerators` is empty; list at least one, e.g. [\"gb200\"]",
        );
    }
    let sizes = match t.take("sizes") {
        Some(mut v) => match v.take() {
            toml_span::value::ValueInner::Array(items) => {
                let n = items.len();
                let s: Vec<SizeShare> =
                    items.into_iter().filter_map(|i| read_size(cx, i)).collect();
                (s.len() == n).then_some(s)
            }
            _ => {
                cx.error(
                    v.span.start,
                    "expected an array of { gpus = N, share = X } for `sizes`",
                );
                None
            }
        },
        None => {
            cx.error(t.at(""), "missing field `sizes` in [[scenario.training]]");
            None
        }
    };
    if sizes.as_ref().is_some_and(|s| s.is_empty()) {
        cx.error(
            t.at("sizes"),
            "`sizes` is empty; give at least one { gpus = N, share = X }",
        );
    }
    let hours_median = t.req::<f64>(cx, "hours_median");
    if let Some(h) = hours_median {
        check_positive(cx, &t, "hours_median", h);
    }
    let hours_sigma = t.or::<f64>(cx, "hours_sigma", 1.0);
    check_non_negative(cx, &t, "hours_sigma", hours_sigma);
    let hours_max = t.or::<f64>(cx, "hours_max", max_hours());
    check_positive(cx, &t, "hours_max", hours_max);
    let growth_per_year = t.or::<f64>(cx, "growth_per_year", 1.0);
    check_positive(cx, &t, "growth_per_year", growth_per_year);
    let preemptible = t.or::<bool>(cx, "preemptible", true);
    let spot = t.or::<bool>(cx, "spot", false);
    let providers = t.or::<Vec<String>>(cx, "providers", Vec::new());
    let from = t.opt::<Date>(cx, "from");
    let locs = t.finish(cx);
    Some(TrainingGen {
        name: name?,
        team: team?,
        priority,
        arrivals_per_day: arrivals_per_day?,
        accelerators: accelerators?,
        sizes: sizes?,
        hours_median: hours_median?,
        hours_sigma,
        hours_max,
        growth_per_year,
        preemptible,
        spot,
        providers,
        from,
        locs,
    })
}

fn read_inference(cx: &mut Diagnostics, v: Value<'_>) -> Option<InferenceGen> {
    let mut t = Tbl::new(cx, v, "[[scenario.inference]]")?;
    let service = t.req::<String>(cx, "service");
    let diurnal_amplitude = t.or::<f64>(cx, "diurnal_amplitude", amplitude());
    check_fraction(cx, &t, "diurnal_amplitude", diurnal_amplitude);
    let peak_hour_local = t.or::<f64>(cx, "peak_hour_local", peak_hour());
    if !(0.0..24.0).contains(&peak_hour_local) {
        cx.error(
            t.at("peak_hour_local"),
            format!("`peak_hour_local` is {peak_hour_local}; it must be from 0 to under 24"),
        );
    }
    let growth_per_year = t.or::<f64>(cx, "growth_per_year", 1.0);
    check_positive(cx, &t, "growth_per_year", growth_per_year);
    let headroom = t.or::<f64>(cx, "headroom", headroom());
    check_positive(cx, &t, "headroom", headroom);
    let locs = t.finish(cx);
    Some(InferenceGen {
        service: service?,
        diurnal_amplitude,
        peak_hour_local,
        growth_per_year,
        headroom,
        locs,
    })
}

fn read_agentic(cx: &mut Diagnostics, v: Value<'_>) -> Option<AgenticGen> {
    let mut t = Tbl::new(cx, v, "[scenario.agentic]")?;
    let cores_peak = t.req::<f64>(cx, "cores_peak");
    if let Some(c) = cores_peak {
        check_non_negative(cx, &t, "cores_peak", c);
    }
    let usd = t.req::<f64>(cx, "usd_per_core_hour");
    if let Some(u) = usd {
        check_non_negative(cx, &t, "usd_per_core_hour", u);
    }
    let diurnal_amplitude = t.or::<f64>(cx, "diurnal_amplitude", amplitude());
    check_fraction(cx, &t, "diurnal_amplitude", diurnal_amplitude);
    let growth_per_year = t.or::<f64>(cx, "growth_per_year", 1.0);
    check_positive(cx, &t, "growth_per_year", growth_per_year);
    let locs = t.finish(cx);
    Some(AgenticGen {
        cores_peak: cores_peak?,
        usd_per_core_hour: usd?,
        diurnal_amplitude,
        growth_per_year,
        locs,
    })
}

fn read_retry(cx: &mut Diagnostics, v: Value<'_>) -> Option<RetryBudget> {
    let d = RetryBudget::default();
    let mut t = Tbl::new(cx, v, "`retry_budget`")?;
    let hardware = t.or::<u32>(cx, "hardware", d.hardware);
    let software = t.or::<u32>(cx, "software", d.software);
    let preemption = t.or::<u32>(cx, "preemption", d.preemption);
    t.finish(cx);
    Some(RetryBudget {
        hardware,
        software,
        preemption,
    })
}

fn rate(t: &mut Tbl<'_>, cx: &mut Diagnostics, key: &'static str, def: f64) -> f64 {
    let x = t.or::<f64>(cx, key, def);
    check_non_negative(cx, t, key, x);
    x
}

fn read_failures(cx: &mut Diagnostics, v: Value<'_>) -> Option<FailureSpec> {
    let d = FailureSpec::default();
    let mut t = Tbl::new(cx, v, "[scenario.failures]")?;
    let gpu = rate(
        &mut t,
        cx,
        "gpu_interruptions_per_gpu_day",
        d.gpu_interruptions_per_gpu_day,
    );
    let hardware_share = t.or::<f64>(cx, "hardware_share", d.hardware_share);
    check_fraction(cx, &t, "hardware_share", hardware_share);
    let gpu_repair = rate(&mut t, cx, "gpu_repair_hours", d.gpu_repair_hours);
    let dom = rate(
        &mut t,
        cx,
        "domain_failures_per_domain_year",
        d.domain_failures_per_domain_year,
    );
    let dom_repair = rate(&mut t, cx, "domain_repair_hours", d.domain_repair_hours);
    let cl = rate(
        &mut t,
        cx,
        "cluster_outages_per_year",
        d.cluster_outages_per_year,
    );
    let cl_h = rate(&mut t, cx, "cluster_outage_hours", d.cluster_outage_hours);
    let rg = rate(
        &mut t,
        cx,
        "region_outages_per_year",
        d.region_outages_per_year,
    );
    let rg_h = rate(&mut t, cx, "region_outage_hours", d.region_outage_hours);
    let spot = rate(&mut t, cx, "spot_return_hours", d.spot_return_hours);
    let hot_spare_min_gpus = t.or::<u32>(cx, "hot_spare_min_gpus", d.hot_spare_min_gpus);
    let hot_spare_domains = t.or::<u32>(cx, "hot_spare_domains", d.hot_spare_domains);
    let retry_budget = match t.take("retry_budget") {
        Some(v) => read_retry(cx, v)?,
        None => d.retry_budget,
    };
    let locs = t.finish(cx);
    Some(FailureSpec {
        gpu_interruptions_per_gpu_day: gpu,
        hardware_share,
        gpu_repair_hours: gpu_repair,
        domain_failures_per_domain_year: dom,
        domain_repair_hours: dom_repair,
        cluster_outages_per_year: cl,
        cluster_outage_hours: cl_h,
        region_outages_per_year: rg,
        region_outage_hours: rg_h,
        spot_return_hours: spot,
        hot_spare_min_gpus,
        hot_spare_domains,
        retry_budget,
        locs,
    })
}

fn read_checkpoint(cx: &mut Diagnostics, v: Value<'_>) -> Option<CheckpointSpec> {
    let d = CheckpointSpec::default();
    let mut t = Tbl::new(cx, v, "[scenario.checkpoint]")?;
    let policy = match t.opt::<String>(cx, "policy") {
        None => d.policy,
        Some(s) => match s.as_str() {
            "fixed" => CheckpointPolicy::Fixed,
            "young-daly" => CheckpointPolicy::YoungDaly,
            other => {
                cx.error(
                    t.at("policy"),
                    format!(
                        "unknown checkpoint policy `{other}`; expected one of: {}",
                        CheckpointPolicy::NAMES.join(", ")
                    ),
                );
                d.policy
            }
        },
    };
    let interval_min = t.or::<f64>(cx, "interval_min", d.interval_min);
    check_positive(cx, &t, "interval_min", interval_min);
    let cost_min = t.or::<f64>(cx, "cost_min", d.cost_min);
    check_non_negative(cx, &t, "cost_min", cost_min);
    let restart_overhead_min = t.or::<f64>(cx, "restart_overhead_min", d.restart_overhead_min);
    check_non_negative(cx, &t, "restart_overhead_min", restart_overhead_min);
    let locs = t.finish(cx);
    Some(CheckpointSpec {
        policy,
        interval_min,
        cost_min,
        restart_overhead_min,
        locs,
    })
}

/// Checks the names a scenario uses against the rest of the document: the
/// teams and accelerators of training generators, the services of inference
/// generators, the zones given an offset. Reported at the line and column
/// where each name was written.
pub fn check_scenario(cx: &mut Diagnostics, doc: &Document) {
    let Some(sc) = &doc.scenario else {
        return;
    };
    let catalog = crate::catalog::Catalog::with_overrides(&doc.accelerators);
    let teams: Vec<&str> = doc.teams.iter().map(|t| t.name.as_str()).collect();
    let mut names: Vec<&str> = Vec::new();
    for g in &sc.training {
        if names.contains(&g.name.as_str()) {
            cx.error(
                g.locs.of("name") as usize,
                format!("training generator `{}` is defined twice", g.name),
            );
        }
        names.push(&g.name);
        if !teams.is_empty() && !teams.contains(&g.team.as_str()) {
            cx.error(
                g.locs.of("team") as usize,
                format!(
                    "unknown team `{}`; expected one of: {}",
                    g.team,
                    teams.join(", ")
                ),
            );
        }
        for a in &g.accelerators {
            if catalog.get(a).is_none() {
                cx.error(
                    g.locs.of("accelerators") as usize,
                    format!(
                        "unknown accelerator `{a}`; expected one of: {}",
                        catalog.names()
                    ),
                );
            }
        }
        if let Some(p) = g
            .providers
            .iter()
            .find(|p| !doc.providers.iter().any(|q| q.name == **p))
        {
            cx.error(
                g.locs.of("providers") as usize,
                format!("unknown provider `{p}` in `providers`"),
            );
        }
    }
    for g in &sc.inference {
        if !doc.services.iter().any(|s| s.name == g.service) {
            let known: Vec<&str> = doc.services.iter().map(|s| s.name.as_str()).collect();
            cx.error(
                g.locs.of("service") as usize,
                format!(
                    "unknown service `{}`; expected one of: {}",
                    g.service,
                    if known.is_empty() {
                        "(no [[service]] in this file)".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            );
        }
    }
    let zones: Vec<&str> = doc
        .providers
        .iter()
        .flat_map(|p| p.regions.iter().map(|r| r.zone.as_str()))
        .chain(
            doc.services
                .iter()
                .flat_map(|s| s.demand.iter().map(|d| d.zone.as_str())),
        )
        .collect();
    for z in sc.zone_utc_offset_h.keys() {
        if !zones.contains(&z.as_str()) {
            cx.error(
                sc.locs.of("zone_utc_offset_h") as usize,
                format!("`zone_utc_offset_h` names zone `{z}`, which no region or demand uses"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::parse_document;

    const FLEET: &str = r#"
version = 1
[[team]]
name = "research"
[[provider]]
name = "aws"
[[provider.region]]
name = "r1"
power_mw = 10.0
zone = "us-east"
[[provider.region.cluster]]
name = "c1"
accelerator = "h100"
domains = 16
price = { model = "on-demand", usd_per_gpu_hour = 2.0 }
"#;

    #[test]
    fn defaults_follow_llama3() {
        let src = format!("{FLEET}\n[scenario]\nstart = \"2026-01-01\"\nhorizon_days = 54\n");
        let d = parse_document("s.toml", &src).unwrap();
        let s = d.scenario.unwrap();
        let per_day = s.failures.gpu_interruptions_per_gpu_day * 16_384.0 * 54.0;
        assert!((per_day - 419.0).abs() < 1e-9);
        assert_eq!(s.end().days() - s.start.days(), 54);
    }

    #[test]
    fn generators_and_unknown_fields_are_read_with_places() {
        let src = format!(
            "{FLEET}\n[scenario]\nstart = \"2026-01-01\"\nhorizon_days = 30\n\
             [[scenario.training]]\nname = \"r\"\nteam = \"research\"\narrivals_per_day = 5\n\
             accelerators = [\"h100\"]\nsizes = [{{ gpus = 8, share = 1 }}]\nhours_median = 4\nbogus = 1\n"
        );
        let e = parse_document("s.toml", &src).unwrap_err();
        let msg = e[0].to_string();
        assert!(msg.contains("unknown field `bogus`"), "{msg}");
        assert!(msg.contains("arrivals_per_day"), "{msg}");
    }
}
