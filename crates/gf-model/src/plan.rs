//! The `[plan]` section of a file: what the capacity planner (`gigafleet
//! plan`) weighs on top of the fleet — the horizon, demand curves, expansion
//! options, candidate contracts, power envelopes over time, diversification
//! limits and named what-ifs.
//!
//! A plan file is a fleet file plus this section, so a plan and a simulation
//! read one fleet: providers, regions (sites with their power envelope and
//! latency zone), clusters (with their ramps and prices), contracts and
//! services keep their `[[provider]]`, `[[contract]]` and `[[service]]`
//! form. Names that point into the fleet are checked by [`check_plan`] once
//! the whole document is read, at the line and column where they were
//! written, and a what-if given on the command line is read by
//! [`crate::parse_what_if`] with the same reader as one written in the file.
//! This module holds the types only; `read/plan.rs` reads them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::locs::Locs;
use crate::units::Date;

/// What the planner plans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanSpec {
    /// First planned month (the day is ignored: months start on the 1st).
    pub start: Date,
    /// Months planned.
    pub months: u32,
    /// Penalty per H100-equivalent GPU-hour of demand not served, USD.
    pub unmet_usd_per_gpu_hour: f64,
    /// At most this share of critical capacity on one provider (1: no limit).
    #[serde(default = "crate::spec::one")]
    pub max_provider_share: f64,
    /// At most this share of critical capacity from one GPU vendor (1: no limit).
    #[serde(default = "crate::spec::one")]
    pub max_vendor_share: f64,
    /// At most this share of inference capacity on one provider (1: no limit).
    #[serde(default = "crate::spec::one")]
    pub max_provider_share_inference: f64,
    /// At most this share of inference capacity from one GPU vendor (1: no limit).
    #[serde(default = "crate::spec::one")]
    pub max_vendor_share_inference: f64,
    /// First day the share limits apply (default: the plan's start); before
    /// it a fleet of one vendor would otherwise have to stand idle.
    pub diversify_from: Option<Date>,
    /// Relative MIP gap at which the solver stops (yes/no decisions only).
    #[serde(default = "mip_gap")]
    pub mip_gap: f64,
    /// Demand curves.
    #[serde(default, rename = "demand")]
    pub demand: Vec<PlanDemand>,
    /// Power envelopes that change over time.
    #[serde(default, rename = "site")]
    pub sites: Vec<PlanSite>,
    /// Expansion options on existing clusters.
    #[serde(default, rename = "option")]
    pub options: Vec<PlanOption>,
    /// Contracts that could be signed.
    #[serde(default, rename = "candidate_contract")]
    pub candidates: Vec<CandidateContract>,
    /// CPU capacity for agentic work.
    #[serde(default, rename = "cpu_pool")]
    pub cpu_pools: Vec<CpuPool>,
    /// Named what-ifs, run with `--what-if NAME`.
    #[serde(default, rename = "what_if")]
    pub what_ifs: Vec<WhatIf>,
    #[serde(skip)]
    #[schemars(skip)]
    #[allow(missing_docs)]
    pub locs: Locs,
}

pub(crate) fn mip_gap() -> f64 {
    1e-4
}

/// What a demand curve asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DemandKind {
    /// Training compute, in H100-equivalent GPUs (catalog train throughput).
    Training,
    /// Inference for a `[[service]]`: the curve multiplies its per-zone rps.
    Inference,
    /// CPU cores for agentic work, served by `[[plan.cpu_pool]]`.
    Cpu,
}

impl DemandKind {
    /// Names accepted in files.
    pub const NAMES: [&'static str; 3] = ["training", "inference", "cpu"];

    /// The name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            DemandKind::Training => "training",
            DemandKind::Inference => "inference",
            DemandKind::Cpu => "cpu",
        }
    }

    pub(crate) fn from_name(s: &str) -> Option<Self> {
        match s {
            "training" => Some(DemandKind::Training),
            "inference" => Some(DemandKind::Inference),
            "cpu" => Some(DemandKind::Cpu),
            _ => None,
        }
    }
}

/// One point of a curve: from `date`, `value` (linear between points).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CurvePoint {
    /// The day of the point.
    pub date: Date,
    /// The value on that day.
    pub value: f64,
}

/// One demand curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanDemand {
    /// Unique name.
    pub name: String,
    /// Training, inference or cpu.
    pub kind: DemandKind,
    /// Training: accelerators that may serve it (empty: any).
    #[serde(default)]
    pub accelerators: Vec<String>,
    /// Providers that may serve it (empty: any).
    #[serde(default)]
    pub providers: Vec<String>,
    /// Inference: the `[[service]]` whose throughput, zones and regions apply.
    pub service: Option<String>,
    /// Counts toward the diversification limits of critical capacity.
    #[serde(default = "crate::spec::yes")]
    pub critical: bool,
    /// Must be served in full: no shortfall allowed (may make the plan infeasible).
    #[serde(default)]
    pub hard: bool,
    /// Penalty per H100-equivalent GPU-hour unmet (per core-hour for cpu),
    /// instead of the plan's.
    pub unmet_usd_per_gpu_hour: Option<f64>,
    /// The curve: H100-equivalent GPUs (training), a factor on the service's
    /// rps (inference), cores (cpu). Linear between points, flat outside.
    pub curve: Vec<CurvePoint>,
    #[serde(skip)]
    #[schemars(skip)]
    #[allow(missing_docs)]
    pub locs: Locs,
}

/// From `date`, the site's envelope is `mw`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PowerStep {
    /// The day the step takes effect.
    pub date: Date,
    /// Facility power available to GPUs from that day, MW.
    pub mw: f64,
}

/// A site's power envelope over time; before its first step the site has no power.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanSite {
    /// The site, `provider/region`.
    pub site: String,
    /// Steps of the envelope, by increasing date.
    pub power: Vec<PowerStep>,
    #[serde(skip)]
    #[schemars(skip)]
    #[allow(missing_docs)]
    pub locs: Locs,
}

/// An option to add GPUs to a cluster: exercised at most once, in a month of
/// its window; the GPUs come online `lead_months` later and are reserved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanOption {
    /// Unique name.
    pub name: String,
    /// The cluster it expands, `provider/region/cluster`.
    pub cluster: String,
    /// GPUs added.
    pub gpus: u64,
    /// Months from exercise to online.
    pub lead_months: u32,
    /// First day it may be exercised (default: the plan's start).
    pub exercise_from: Option<Date>,
    /// Last day it may be exercised.
    pub exercise_by: Date,
    /// Price per GPU-hour (default: the cluster's).
    pub usd_per_gpu_hour: Option<f64>,
    /// One-off fee on exercise, USD.
    #[serde(default)]
    pub fee_usd: f64,
    /// Months the added GPUs are reserved for (default: to the horizon's end).
    pub term_months: Option<u32>,
    /// May be exercised in part (a fraction of `gpus`); otherwise all or nothing.
    #[serde(default)]
    pub divisible: bool,
    #[serde(skip)]
    #[schemars(skip)]
    #[allow(missing_docs)]
    pub locs: Locs,
}

/// A contract that could be signed: reserved GPUs at a site over a term.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CandidateContract {
    /// Unique name.
    pub name: String,
    /// The provider it would be signed with.
    pub provider: String,
    /// Region name: one of the provider's, or a new site (then `zone` and `power_mw`).
    pub site: String,
    /// Latency zone of a new site.
    pub zone: Option<String>,
    /// Power the contract brings to the site while it runs, MW.
    #[serde(default)]
    pub power_mw: f64,
    /// Catalog name of the accelerator.
    pub accelerator: String,
    /// First day of the term.
    pub start: Date,
    /// Length of the term in months.
    pub term_months: u32,
    /// Price per GPU-hour, paid for every GPU signed for, used or not.
    pub usd_per_gpu_hour: f64,
    /// Smallest size worth signing (0: any size).
    #[serde(default)]
    pub min_gpus: u64,
    /// Largest size on offer.
    pub max_gpus: u64,
    #[serde(skip)]
    #[schemars(skip)]
    #[allow(missing_docs)]
    pub locs: Locs,
}

/// CPU cores at a site for agentic work (tool calls, sandboxes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CpuPool {
    /// The site, `provider/region`.
    pub site: String,
    /// Cores available.
    pub cores: u64,
    /// Price per core-hour used, USD.
    pub usd_per_core_hour: f64,
    /// Facility power per busy core, W.
    #[serde(default = "watts_per_core")]
    pub watts_per_core: f64,
    #[serde(skip)]
    #[schemars(skip)]
    #[allow(missing_docs)]
    pub locs: Locs,
}

pub(crate) fn watts_per_core() -> f64 {
    // A 2-socket 128-core server at ~1 kW with PUE 1.2: assumption.
    10.0
}

/// A change to the plan's inputs; each field that is set applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatIf {
    /// Unique name.
    pub name: String,
    /// A site (`provider/region`) whose ramps, power and options come later.
    pub delay_site: Option<String>,
    /// Months of delay for `delay_site`.
    #[serde(default)]
    pub delay_months: u32,
    /// A provider whose capacity shrinks.
    pub cut_provider: Option<String>,
    /// Share of `cut_provider`'s capacity lost (0-1).
    #[serde(default)]
    pub cut_share: f64,
    /// Factor on every demand curve.
    #[serde(default = "crate::spec::one")]
    pub demand_factor: f64,
    /// Extra growth of demand per year from the plan's start (0.1: +10% a year, compounded).
    #[serde(default)]
    pub demand_growth_per_year: f64,
    /// A site (`provider/region`) whose envelope changes.
    pub power_site: Option<String>,
    /// MW added to (or, negative, taken from) `power_site`'s envelope.
    #[serde(default)]
    pub power_delta_mw: f64,
    /// New capacity added at this pace, GW of facility power per week.
    #[serde(default)]
    pub add_gw_per_week: f64,
    /// First day new capacity is added (default: the plan's start).
    pub add_from: Option<Date>,
    /// Accelerator of the added capacity (default: gb300).
    pub add_accelerator: Option<String>,
    /// Price per GPU-hour of the added capacity, paid per use.
    #[serde(default = "add_price")]
    pub add_usd_per_gpu_hour: f64,
    /// Latency zone of the added capacity (default: the first zone of the fleet).
    pub add_zone: Option<String>,
    #[serde(skip)]
    #[schemars(skip)]
    #[allow(missing_docs)]
    pub locs: Locs,
}

pub(crate) fn add_price() -> f64 {
    3.0
}
