//! What a simulation measured: the recorder the engine writes into while it
//! runs, and the [`Summary`] computed from it at the end.
//!
//! The summary is the JSON of `gigafleet simulate --json` and the data of
//! the HTML report. Its field names are the documented keys; maps are
//! `BTreeMap`s and every number is computed in a fixed order, so one seed
//! always serialises to the same bytes.

use std::collections::BTreeMap;

use gf_control::{CapacityCause, Controller, JobInfo, ServiceInfo};
use gf_model::chunked::ChunkedVec;
use gf_model::protocol::JobId;
use gf_model::{Date, Document};
use gf_sched::Topology;
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::jobs::JobsFold;
use crate::world::SimWorld;

#[derive(Debug, Clone, Default)]
pub(crate) struct SvcAcc {
    demand: f64,
    served: f64,
    /// Requests × seconds of latency, and the requests it covers.
    latency_s: f64,
    queued: f64,
    replicas_sum: f64,
    replicas_n: u64,
    replicas_peak: u32,
    by_zone_end: Vec<(u32, u32)>,
}

/// Power per site at a sample: the admission figure and, when metered, the
/// meter's.
pub(crate) struct SitePower<'a> {
    /// Watts drawn by allocated GPUs at load.
    pub drawn_w: &'a [u64],
    /// Watts the meters read.
    pub metered_w: Option<&'a [f64]>,
}

/// What the engine records while it runs.
#[derive(Debug, Clone)]
pub(crate) struct Recorder {
    pub submitted: u64,
    pub completed: u64,
    /// The names of the jobs of at least [`LARGE_JOB_GPUS`], noted at
    /// submission: the controller releases an ended job's spec (see
    /// `ControlConfig::keep_ended_specs`), and the summary lists these by name.
    pub large_names: FxHashMap<gf_model::protocol::JobId, String>,
    /// The jobs folded as they ended.
    pub jobs: JobsFold,
    /// Ended jobs whose truth the world could not hand over yet (a run it
    /// still holds): folded at the summary, with their truth then.
    pub deferred: Vec<JobInfo>,
    pub svc_started: Vec<bool>,
    svc: Vec<SvcAcc>,
    pub agentic_core_h: f64,
    pub agentic_usd: f64,
    start_s: i64,
    series: Series,
    slo_since: (f64, f64),
}

/// Time series, one point per sample.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Series {
    /// Days since the start.
    pub t_days: Vec<f64>,
    /// Fleet utilization (allocated ÷ online GPUs).
    pub utilization: Vec<f64>,
    /// GPUs online.
    pub gpus_online: Vec<u64>,
    /// GPUs allocated.
    pub gpus_allocated: Vec<u64>,
    /// Jobs waiting.
    pub pending_jobs: Vec<u64>,
    /// Inference replicas running.
    pub replicas: Vec<u64>,
    /// SLO attainment over the interval ending at the sample.
    pub slo_attainment: Vec<f64>,
    /// Per site.
    pub sites: Vec<SiteSeries>,
    /// Per contract: cumulative spend, USD.
    pub contracts: Vec<ContractSeries>,
}

/// One site over time.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SiteSeries {
    /// `provider/region`.
    pub name: String,
    /// Envelope, MW.
    pub envelope_mw: f64,
    /// Power drawn by allocated GPUs, MW.
    pub power_mw: Vec<f64>,
    /// Power as the site's meter reads it, MW (`[scenario.power] metered`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metered_mw: Vec<f64>,
    /// Allocated ÷ online GPUs.
    pub utilization: Vec<f64>,
    /// GPUs online.
    pub gpus_online: Vec<u64>,
}

/// One contract over time.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ContractSeries {
    /// Name.
    pub name: String,
    /// Committed spend over the whole term, USD.
    pub committed_usd: f64,
    /// Spend accrued since the start, USD.
    pub spend_usd: Vec<f64>,
    /// Spend due pro rata by then, USD.
    pub pro_rata_usd: Vec<f64>,
}

pub(crate) fn r4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

/// Jobs of at least this many GPUs are listed one by one in the summary.
pub(crate) const LARGE_JOB_GPUS: u32 = 4096;

pub(crate) fn r2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl Recorder {
    pub(crate) fn new(topo: &Topology, doc: &Document, start_s: i64) -> Self {
        Recorder {
            submitted: 0,
            completed: 0,
            large_names: FxHashMap::default(),
            jobs: JobsFold::default(),
            deferred: Vec::new(),
            svc_started: Vec::new(),
            svc: vec![SvcAcc::default(); doc.services.len()],
            agentic_core_h: 0.0,
            agentic_usd: 0.0,
            start_s,
            series: Series {
                sites: topo
                    .sites
                    .iter()
                    .map(|s| SiteSeries {
                        name: s.name.clone(),
                        envelope_mw: s.envelope_w as f64 / 1e6,
                        ..SiteSeries::default()
                    })
                    .collect(),
                contracts: topo
                    .contracts
                    .iter()
                    .map(|c| ContractSeries {
                        name: c.name.clone(),
                        committed_usd: c.committed_usd,
                        ..ContractSeries::default()
                    })
                    .collect(),
                ..Series::default()
            },
            slo_since: (0.0, 0.0),
        }
    }

    /// Adds `dt` seconds of what a service's requests got.
    pub(crate) fn slo(&mut self, sid: usize, s: crate::serving::Attained, dt: f64) {
        let a = &mut self.svc[sid];
        let within = s.within_rps.min(s.demand_rps);
        a.demand += s.demand_rps * dt;
        a.served += within * dt;
        a.latency_s += s.latency_rps_s * dt;
        a.queued += s.queued_rps * dt;
        self.slo_since.0 += s.demand_rps * dt;
        self.slo_since.1 += within * dt;
    }

    pub(crate) fn replicas(&mut self, infos: &[ServiceInfo]) {
        for (i, s) in infos.iter().enumerate() {
            if let Some(a) = self.svc.get_mut(i) {
                a.replicas_sum += s.replicas as f64;
                a.replicas_n += 1;
                a.replicas_peak = a.replicas_peak.max(s.replicas);
                a.by_zone_end = s.by_zone.clone();
            }
        }
    }

    pub(crate) fn sample(
        &mut self,
        topo: &Topology,
        now: i64,
        acc: &[(u64, u64)],
        power: SitePower<'_>,
        spend: &[f64],
        pending: usize,
    ) {
        let (site_w, metered_w) = (power.drawn_w, power.metered_w);
        let s = &mut self.series;
        s.t_days.push(r4((now - self.start_s) as f64 / 86_400.0));
        let alloc: u64 = acc.iter().map(|a| a.0).sum();
        let up: u64 = acc.iter().map(|a| a.1).sum();
        s.gpus_online.push(up);
        s.gpus_allocated.push(alloc);
        s.utilization.push(r4(alloc as f64 / up.max(1) as f64));
        s.pending_jobs.push(pending as u64);
        s.replicas.push(
            self.svc
                .iter()
                .map(|a| a.by_zone_end.iter().map(|z| z.1 as u64).sum::<u64>())
                .sum(),
        );
        let (d, sv) = std::mem::take(&mut self.slo_since);
        s.slo_attainment
            .push(if d > 0.0 { r4(sv / d) } else { 1.0 });
        for (si, ss) in s.sites.iter_mut().enumerate() {
            let (mut a, mut u) = (0u64, 0u64);
            for (c, cl) in topo.clusters.iter().enumerate() {
                if cl.site as usize == si {
                    a += acc[c].0;
                    u += acc[c].1;
                }
            }
            ss.power_mw.push(r4(site_w[si] as f64 / 1e6));
            if let Some(m) = metered_w {
                ss.metered_mw.push(r4(m[si] / 1e6));
            }
            ss.utilization.push(r4(a as f64 / u.max(1) as f64));
            ss.gpus_online.push(u);
        }
        for (k, cs) in s.contracts.iter_mut().enumerate() {
            let c = &topo.contracts[k];
            cs.spend_usd.push(r2(spend[k]));
            let due = pro_rata(c.committed_usd, c.start_s, c.end_s, self.start_s, now);
            cs.pro_rata_usd.push(r2(due));
        }
    }
}

/// Commitment due pro rata over the part of `[start, end)` that falls in `[from, to)`.
fn pro_rata(committed: f64, start: i64, end: i64, from: i64, to: i64) -> f64 {
    let lo = start.max(from);
    let hi = end.min(to);
    if hi <= lo || end <= start {
        return 0.0;
    }
    committed * (hi - lo) as f64 / (end - start) as f64
}

/// Percentiles of a sample.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Mean.
    pub mean: f64,
    /// Sample size.
    pub n: u64,
}

fn percentiles(mut v: Vec<f64>) -> Percentiles {
    if v.is_empty() {
        return Percentiles::default();
    }
    // Values equal under `total_cmp` are equal bit for bit, so an unstable
    // sort gives the same list, without the scratch buffer a stable sort
    // allocates (megabytes for a year's millions of jobs).
    v.sort_unstable_by(f64::total_cmp);
    let at = |q: f64| v[((q * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)];
    Percentiles {
        p50: r4(at(0.5)),
        p95: r4(at(0.95)),
        p99: r4(at(0.99)),
        mean: r4(v.iter().sum::<f64>() / v.len() as f64),
        n: v.len() as u64,
    }
}

/// Use of a group of clusters (a provider, a site, an accelerator).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Usage {
    /// GPUs built (after the ramp completes).
    pub gpus: u64,
    /// GPU-hours online.
    pub gpu_hours_online: f64,
    /// GPU-hours allocated.
    pub gpu_hours_allocated: f64,
    /// Allocated ÷ online.
    pub utilization: f64,
    /// Cost, USD (reserved capacity is paid whether used or not).
    pub cost_usd: f64,
}

/// A site: use plus power.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SiteSummary {
    /// Provider.
    pub provider: String,
    /// Latency zone.
    pub zone: String,
    /// Power envelope, MW.
    pub envelope_mw: f64,
    /// Highest power drawn, MW.
    pub power_peak_mw: f64,
    /// Use.
    #[serde(flatten)]
    pub usage: Usage,
}

/// A contract against its commitment.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ContractSummary {
    /// Provider.
    pub provider: String,
    /// Committed spend over the term, USD.
    pub committed_usd: f64,
    /// Term start.
    pub start: String,
    /// First day after the term.
    pub end: String,
    /// Spend accrued in the simulated window, USD.
    pub spent_usd: f64,
    /// Spend due pro rata over the simulated window, USD.
    pub pro_rata_due_usd: f64,
    /// Spent ÷ due (below 1: behind schedule).
    pub burn_ratio: f64,
    /// Spend projected at term end: on schedule before the window, the
    /// window as simulated, the last 30 days' rate after it.
    pub projected_at_term_end_usd: f64,
    /// Commitment projected to be lost, USD.
    pub projected_shortfall_usd: f64,
}

/// Training totals.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TrainingSummary {
    /// GPU-hours allocated to training runs.
    pub allocated_gpu_hours: f64,
    /// Compute kept (checkpointed or completed).
    pub useful_gpu_hours: f64,
    /// Compute no checkpoint kept: lost to interruptions, and that of runs
    /// the horizon cuts since their last durable checkpoint.
    pub lost_gpu_hours: f64,
    /// Writing checkpoints.
    pub checkpoint_gpu_hours: f64,
    /// Restarting.
    pub restart_gpu_hours: f64,
    /// Held as hot spares.
    pub spare_gpu_hours: f64,
    /// Interruptions a hot spare absorbed without requeueing the gang.
    pub hot_spare_swaps: u64,
    /// Failures of idle hot-spare domains, which cost their gangs nothing.
    pub hot_spares_lost: u64,
    /// Effective training time ratio of completed jobs (useful time ÷ time from first start to end).
    pub ettr: Percentiles,
    /// Jobs of 4,096 GPUs or more, one by one.
    pub large_jobs: Vec<LargeJob>,
    /// Per cluster that ran training: the interruption rate the controller
    /// estimated from reports (and chose intervals by) against the rate the
    /// world injected.
    pub interruption_rates: BTreeMap<String, RateSummary>,
}

/// The controller's estimate of one cluster's interruption rate beside the
/// world's truth.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RateSummary {
    /// Training runs interrupted, as reported.
    pub interruptions: u64,
    /// GPU-hours of training runs observed.
    pub gpu_hours: f64,
    /// The controller's estimate, interruptions per GPU-day.
    pub estimated_per_gpu_day: f64,
    /// Injected per-GPU processes (GPU faults, rack failures, spot
    /// reclaims), per GPU-day. Cluster and region outages come on top: they
    /// stop every run of a cluster at once, whatever its size.
    pub injected_per_gpu_day: f64,
}

/// One large training job.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LargeJob {
    /// Name.
    pub name: String,
    /// Gang size.
    pub gpus: u32,
    /// Final state.
    pub state: String,
    /// Share of the work done.
    pub progress: f64,
    /// Goodput: useful ÷ allocated GPU-hours.
    pub goodput: f64,
    /// Effective training time ratio.
    pub ettr: f64,
    /// Interruptions.
    pub interruptions: u32,
    /// Checkpoint interval chosen, minutes.
    pub checkpoint_interval_min: f64,
}

/// One inference service.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ServiceSummary {
    /// Share of requests answered within the latency SLO (round trip,
    /// queueing wait and service), over every scheduling interval.
    pub slo_attainment: f64,
    /// Mean latency, ms, of the requests served by replicas below
    /// saturation (round trip, queueing wait and service).
    pub mean_latency_ms: f64,
    /// Mean replicas.
    pub replicas_mean: f64,
    /// Most replicas at once.
    pub replicas_peak: u32,
    /// Replicas per zone at the end.
    pub replicas_by_zone: BTreeMap<String, u32>,
}

/// The result of one simulation: the JSON of `gigafleet simulate --json`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    /// Seed of every random stream.
    pub seed: u64,
    /// Policy name.
    pub policy: String,
    /// First simulated day.
    pub start: String,
    /// First day after the simulated window.
    pub end: String,
    /// GPUs built once every ramp completes.
    pub gpus: u64,
    /// GPUs online at the end.
    pub gpus_online_end: u64,
    /// Days simulated.
    pub simulated_days: f64,
    /// Allocated ÷ online GPU-hours, fleet-wide.
    pub utilization: f64,
    /// Useful ÷ allocated GPU-hours of training.
    pub goodput: f64,
    /// Jobs submitted.
    pub jobs_submitted: u64,
    /// Jobs completed.
    pub jobs_completed: u64,
    /// Jobs failed (a retry budget spent, or unplaceable).
    pub jobs_failed: u64,
    /// Jobs cancelled.
    pub jobs_cancelled: u64,
    /// Jobs running at the end.
    pub jobs_running: u64,
    /// Jobs waiting at the end, by the reason they wait.
    pub jobs_pending: BTreeMap<String, u64>,
    /// Job interruptions (runs stopped by failures, reclaims and crashes).
    pub interruptions: u64,
    /// Job interruptions by cause.
    pub interruptions_by_cause: BTreeMap<String, u64>,
    /// Failures injected, by kind (whether or not they hit a job).
    pub failures: BTreeMap<String, u64>,
    /// Runs preempted by higher-priority work.
    pub preemptions: u64,
    /// Total cost, USD (GPUs plus agentic CPU).
    pub cost_usd: f64,
    /// Highest fleet-wide power drawn, MW.
    pub power_peak_mw: f64,
    /// Fleet-wide power as the sites' meters read it over the samples
    /// (`[scenario.power] metered`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub power_metered: Option<MeteredPower>,
    /// Times a site drew more than its envelope (must be 0).
    pub power_envelope_violations: u64,
    /// Demand-weighted SLO attainment over every service.
    pub slo_attainment: f64,
    /// Hours from submission to first start.
    pub queue_wait_hours: Percentiles,
    /// Hours from submission to completion.
    pub job_completion_hours: Percentiles,
    /// GPU-hours online over the window.
    pub gpu_hours_online: f64,
    /// GPU-hours allocated over the window (training and inference).
    pub gpu_hours_allocated: f64,
    /// GPU-hours held by inference replicas.
    pub inference_gpu_hours: f64,
    /// Training detail.
    pub training: TrainingSummary,
    /// Per provider.
    pub providers: BTreeMap<String, Usage>,
    /// Per site (`provider/region`).
    pub sites: BTreeMap<String, SiteSummary>,
    /// Per accelerator.
    pub accelerators: BTreeMap<String, Usage>,
    /// Per contract.
    pub contracts: BTreeMap<String, ContractSummary>,
    /// Per service.
    pub services: BTreeMap<String, ServiceSummary>,
    /// CPU core-hours of agentic work.
    pub agentic_core_hours: f64,
    /// Cost of agentic work, USD.
    pub agentic_cost_usd: f64,
    /// Engine events handled.
    pub events: u64,
    /// Time series for charts.
    pub series: Series,
}

/// Fleet-wide metered power over the samples.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct MeteredPower {
    /// Highest sample, MW.
    pub peak_mw: f64,
    /// Mean of the samples, MW.
    pub mean_mw: f64,
    /// Lowest sample, MW.
    pub min_mw: f64,
}

/// What [`summarize`] reads.
pub(crate) struct Inputs<'a> {
    pub topo: &'a Topology,
    pub doc: &'a Document,
    pub ctl: &'a Controller,
    pub world: &'a SimWorld,
    pub rec: &'a Recorder,
    pub seed: u64,
    pub policy: &'a str,
    pub start_s: i64,
    pub end_s: i64,
    /// Per cluster: allocated, online and paid GPU-seconds.
    pub cluster_integrals: &'a [(f64, f64, f64)],
    pub cluster_costs: &'a [f64],
    pub events: u64,
    /// GPU-seconds held by inference replicas, from their start and stop.
    pub replica_gpu_s: f64,
}

fn add(u: &mut Usage, gpus: u64, ints: (f64, f64, f64), cost: f64) {
    u.gpus += gpus;
    u.gpu_hours_online += ints.1 / 3600.0;
    u.gpu_hours_allocated += ints.0 / 3600.0;
    u.cost_usd += cost;
}

fn finish(u: &mut Usage) {
    u.utilization = r4(u.gpu_hours_allocated / u.gpu_hours_online.max(1e-9));
    u.gpu_hours_online = r2(u.gpu_hours_online);
    u.gpu_hours_allocated = r2(u.gpu_hours_allocated);
    u.cost_usd = r2(u.cost_usd);
}

pub(crate) fn summarize(x: Inputs<'_>) -> Summary {
    let topo = x.topo;
    let rec = x.rec;
    let mut s = Summary {
        seed: x.seed,
        policy: x.policy.to_string(),
        start: Date::from_epoch_seconds(x.start_s).to_string(),
        end: Date::from_epoch_seconds(x.end_s).to_string(),
        gpus: topo.total_gpus(),
        gpus_online_end: topo
            .clusters
            .iter()
            .enumerate()
            .map(|(c, _)| x.ctl.scheduler().index().cluster_online(c as u32))
            .sum(),
        simulated_days: r4((x.end_s - x.start_s) as f64 / 86_400.0),
        ..Summary::default()
    };
    let wc = &x.world.counters;
    let mut alloc_s = 0.0;
    let mut up_s = 0.0;
    let mut gpu_cost = 0.0;
    for (c, cl) in topo.clusters.iter().enumerate() {
        let ints = x.cluster_integrals[c];
        let cost = x.cluster_costs[c];
        alloc_s += ints.0;
        up_s += ints.1;
        gpu_cost += cost;
        let site = &topo.sites[cl.site as usize];
        let pname = topo.providers[cl.provider as usize].clone();
        add(
            s.providers.entry(pname.clone()).or_default(),
            cl.gpus(),
            ints,
            cost,
        );
        let ss = s
            .sites
            .entry(site.name.clone())
            .or_insert_with(|| SiteSummary {
                provider: pname,
                zone: topo.zones[site.zone as usize].clone(),
                envelope_mw: site.envelope_w as f64 / 1e6,
                power_peak_mw: r4(wc.site_peak_w[cl.site as usize] as f64 / 1e6),
                usage: Usage::default(),
            });
        add(&mut ss.usage, cl.gpus(), ints, cost);
        add(
            s.accelerators
                .entry(topo.accels[cl.accel as usize].name.clone())
                .or_default(),
            cl.gpus(),
            ints,
            cost,
        );
    }
    s.providers.values_mut().for_each(finish);
    s.accelerators.values_mut().for_each(finish);
    s.sites.values_mut().for_each(|x| finish(&mut x.usage));
    s.gpu_hours_online = r2(up_s / 3600.0);
    s.gpu_hours_allocated = r2(alloc_s / 3600.0);
    s.utilization = r4(alloc_s / up_s.max(1e-9));
    s.cost_usd = r2(gpu_cost + rec.agentic_usd);
    s.power_peak_mw = r4(wc.peak_w as f64 / 1e6);
    let sites = &rec.series.sites;
    if sites.first().is_some_and(|x| !x.metered_mw.is_empty()) {
        let n = sites[0].metered_mw.len();
        let fleet: Vec<f64> = (0..n)
            .map(|k| sites.iter().map(|x| x.metered_mw[k]).sum())
            .collect();
        s.power_metered = Some(MeteredPower {
            peak_mw: r4(fleet.iter().copied().fold(0.0, f64::max)),
            mean_mw: r4(fleet.iter().sum::<f64>() / n as f64),
            min_mw: r4(fleet.iter().copied().fold(f64::INFINITY, f64::min)),
        });
    }
    s.power_envelope_violations = wc.power_violations;
    s.agentic_core_hours = r2(rec.agentic_core_h);
    s.agentic_cost_usd = r2(rec.agentic_usd);
    s.events = x.events;

    // Contracts.
    for (k, c) in topo.contracts.iter().enumerate() {
        let mut spent = 0.0;
        for (ci, cl) in topo.clusters.iter().enumerate() {
            if cl.contract == Some(k as u32) {
                spent += x.cluster_costs[ci];
            }
        }
        let due = pro_rata(c.committed_usd, c.start_s, c.end_s, x.start_s, x.end_s);
        let before = pro_rata(c.committed_usd, c.start_s, c.end_s, i64::MIN / 4, x.start_s);
        let series = &rec.series.contracts[k].spend_usd;
        let t = &rec.series.t_days;
        // The burn rate of the last 30 simulated days, per second.
        let rate = match (series.last(), t.last()) {
            (Some(&last), Some(&tl)) if t.len() > 1 => {
                let j = t.iter().position(|&d| d >= tl - 30.0).unwrap_or(0);
                let dt = (tl - t[j]) * 86_400.0;
                if dt > 0.0 {
                    (last - series[j]) / dt
                } else {
                    0.0
                }
            }
            _ => 0.0,
        };
        let after_s = (c.end_s - x.end_s.max(c.start_s)).max(0) as f64;
        let projected = before + spent + rate * after_s;
        s.contracts.insert(
            c.name.clone(),
            ContractSummary {
                provider: topo.providers[c.provider as usize].clone(),
                committed_usd: r2(c.committed_usd),
                start: Date::from_epoch_seconds(c.start_s).to_string(),
                end: Date::from_epoch_seconds(c.end_s).to_string(),
                spent_usd: r2(spent),
                pro_rata_due_usd: r2(due),
                burn_ratio: r4(if due > 0.0 { spent / due } else { 0.0 }),
                projected_at_term_end_usd: r2(projected),
                projected_shortfall_usd: r2((c.committed_usd - projected).max(0.0)),
            },
        );
    }

    // Jobs: those folded as they ended, plus the ones still held (running,
    // waiting, or ended with a run the world still holds), folded here
    // apart and added to them. A run still going at the horizon counts as
    // allocated up to it, and its compute since its last durable
    // checkpoint counts as lost: nothing keeps it.
    let done = &rec.jobs;
    let mut held = JobsFold::default();
    for j in x.ctl.jobs() {
        let st = x.world.job_truth(j.id, x.end_s);
        held.add(j, &st, x.end_s, &rec.large_names);
    }
    for j in &rec.deferred {
        let st = x.world.job_truth(j.id, x.end_s);
        held.add(j, &st, x.end_s, &rec.large_names);
    }
    s.jobs_completed = done.completed + held.completed;
    s.jobs_failed = done.failed + held.failed;
    s.jobs_cancelled = done.cancelled + held.cancelled;
    s.jobs_running = done.running + held.running;
    s.jobs_pending = done.pending.clone();
    for (why, n) in held.pending {
        *s.jobs_pending.entry(why).or_default() += n;
    }
    // Sorted as whole seconds (a year's millions of jobs sort faster as
    // integers than as floats under `total_cmp`), then made hours: the
    // division keeps the order, so `percentiles` finds the list sorted
    // already and works on the very values it worked on before.
    let hours = |a: &ChunkedVec<u32>, b: &ChunkedVec<u32>| -> Vec<f64> {
        let mut s: Vec<u32> = Vec::with_capacity(a.len() + b.len());
        s.extend(a.iter().chain(b.iter()));
        s.sort_unstable();
        s.into_iter().map(|t| t as f64 / 3600.0).collect()
    };
    let waits = hours(&done.waits_s, &held.waits_s);
    let jcts = hours(&done.jcts_s, &held.jcts_s);
    let mut ettrs = Vec::with_capacity(done.ettrs.len() + held.ettrs.len());
    ettrs.extend(done.ettrs.iter().chain(held.ettrs.iter()));
    let mut large: Vec<&(JobId, LargeJob)> = done.large.iter().chain(&held.large).collect();
    large.sort_unstable_by_key(|(id, _)| *id);
    let mut tr = TrainingSummary {
        large_jobs: large.into_iter().map(|(_, l)| l.clone()).collect(),
        ..TrainingSummary::default()
    };
    let spare_swaps = done.spare_swaps + held.spare_swaps;
    // GPU-seconds summed, then made hours once.
    let mut t = done.truth;
    t += held.truth;
    tr.allocated_gpu_hours = t.alloc_gpu_s / 3600.0;
    tr.useful_gpu_hours = t.useful_gpu_s / 3600.0;
    tr.lost_gpu_hours = t.lost_gpu_s / 3600.0;
    tr.checkpoint_gpu_hours = t.ckpt_gpu_s / 3600.0;
    tr.restart_gpu_hours = t.restart_gpu_s / 3600.0;
    tr.spare_gpu_hours = t.spare_gpu_s / 3600.0;
    s.jobs_submitted = x.ctl.jobs().len() as u64;
    s.goodput = r4(tr.useful_gpu_hours / tr.allocated_gpu_hours.max(1e-9));
    s.inference_gpu_hours = r2(x.replica_gpu_s / 3600.0);
    tr.allocated_gpu_hours = r2(tr.allocated_gpu_hours);
    tr.useful_gpu_hours = r2(tr.useful_gpu_hours);
    tr.lost_gpu_hours = r2(tr.lost_gpu_hours);
    tr.checkpoint_gpu_hours = r2(tr.checkpoint_gpu_hours);
    tr.restart_gpu_hours = r2(tr.restart_gpu_hours);
    tr.spare_gpu_hours = r2(tr.spare_gpu_hours);
    tr.hot_spare_swaps = spare_swaps;
    tr.hot_spares_lost = wc.spares_lost;
    tr.ettr = percentiles(ettrs);
    let f = &x.world.cfg;
    for (ci, cl) in topo.clusters.iter().enumerate() {
        let (o, est) = x.ctl.interruption_estimate(ci as u32);
        if o.gpu_s <= 0.0 {
            continue;
        }
        let spot = if cl.price_model == gf_model::PriceModel::Spot {
            cl.spot_rate_per_hour * 24.0
        } else {
            0.0
        };
        tr.interruption_rates.insert(
            cl.name.to_string(),
            RateSummary {
                interruptions: o.interruptions,
                gpu_hours: r2(o.gpu_s / 3600.0),
                estimated_per_gpu_day: (est * 86_400.0 * 1e6).round() / 1e6,
                injected_per_gpu_day: ((f.gpu_interruptions_per_gpu_day
                    + f.domain_failures_per_domain_year / 365.25 / cl.domain_gpus as f64
                    + spot)
                    * 1e6)
                    .round()
                    / 1e6,
            },
        );
    }
    s.training = tr;
    s.queue_wait_hours = percentiles(waits);
    s.job_completion_hours = percentiles(jcts);

    // Interruptions and failures.
    for c in CapacityCause::ALL {
        let n = wc.interruptions.by_cause(c);
        if n > 0 {
            s.interruptions_by_cause.insert(c.as_str().to_string(), n);
        }
    }
    if wc.interruptions.software > 0 {
        s.interruptions_by_cause
            .insert("software".into(), wc.interruptions.software);
    }
    if spare_swaps > 0 {
        s.interruptions_by_cause
            .insert("absorbed_by_hot_spare".into(), spare_swaps);
    }
    s.interruptions = wc.interruptions.total();
    for (n, count) in wc.failures.named() {
        s.failures.insert(n.to_string(), count);
    }
    s.preemptions = wc.preemptions;

    // Services.
    let (mut d, mut sv) = (0.0, 0.0);
    for (i, spec) in x.doc.services.iter().enumerate() {
        let a = &rec.svc[i];
        d += a.demand;
        sv += a.served;
        s.services.insert(
            spec.name.clone(),
            ServiceSummary {
                slo_attainment: r4(if a.demand > 0.0 {
                    a.served / a.demand
                } else {
                    1.0
                }),
                mean_latency_ms: r2(if a.queued > 0.0 {
                    1000.0 * a.latency_s / a.queued
                } else {
                    0.0
                }),
                replicas_mean: r2(a.replicas_sum / a.replicas_n.max(1) as f64),
                replicas_peak: a.replicas_peak,
                replicas_by_zone: a
                    .by_zone_end
                    .iter()
                    .map(|&(z, n)| (topo.zones[z as usize].clone(), n))
                    .collect(),
            },
        );
    }
    s.slo_attainment = r4(if d > 0.0 { sv / d } else { 1.0 });
    s.series = rec.series.clone();
    s
}
