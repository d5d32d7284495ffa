//! gf-sim is the digital twin: a deterministic discrete-event engine that
//! drives the production controller (gf-control) and scheduler (gf-sched)
//! in virtual time, exactly as the server will drive them against real
//! backends, and measures what happens.
//!
//! Architecture invariant: no tokio, no wall clock, no IO. Time is a virtual
//! clock advanced by an event heap; randomness is seeded ChaCha, one stream
//! per random process; the same document and seed give byte-identical
//! results. The engine plays every part the real world plays for the
//! controller: it submits the generated work, ramps capacity in on its dates,
//! breaks GPUs, racks, clusters and regions and repairs them, takes spot
//! capacity back, reports runs started and finished, and bills contracts.
//!
//! [`workload`] holds the random draws and demand shapes, [`metrics`] the summary.

pub mod metrics;
pub mod queue;
pub mod workload;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;

use gf_control::{
    Action, CapacityCause, ControlConfig, Controller, Event, FailureCategory, JobId, JobState,
};
use gf_model::scenario::{FailureSpec, ScenarioSpec};
use gf_model::{Date, Document, JobSpec};
use gf_sched::{CapacityIndex, ClusterOrd, DomainOrd, Policy, Topology};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use metrics::Summary;

const HOUR: f64 = 3600.0;
const DAY: f64 = 86_400.0;
const YEAR_S: f64 = 365.25 * DAY;

/// What can go wrong before a simulation starts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    /// The document has no `[scenario]` section.
    #[error("the file has no [scenario] section; add one with `start` and `horizon_days`")]
    NoScenario,
    /// The document has no fleet.
    #[error("the file has no [[provider]]: a scenario needs a fleet to simulate")]
    NoFleet,
    /// `--until` is not after the start.
    #[error("--until {until} is not after the scenario start {start}")]
    UntilBeforeStart {
        /// The date asked for.
        until: Date,
        /// The scenario start.
        start: Date,
    },
}

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Seed of every random stream.
    pub seed: u64,
    /// Scheduling policy.
    pub policy: Policy,
    /// Stop on this day instead of the scenario's horizon.
    pub until: Option<Date>,
}

/// One timed happening of the engine. The heap orders by time, then by the
/// sequence number of scheduling, so equal times keep their order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Submit(u32),
    Arrival(u32),
    Ramp(u32, u32),
    GpuFailure,
    DomainFailure,
    ClusterOutage,
    RegionOutage,
    SpotReclaim,
    Up(Down),
    Finish(JobId, u32),
    SchedTick,
    AutoTick,
    Sample,
    Day,
}

/// Capacity taken down, to be brought back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Down {
    Domain(u32, u8),
    Cluster(u32),
    Site(u32),
}

/// Per-cluster integrals, advanced lazily when the cluster changes.
#[derive(Debug, Clone, Default)]
struct ClusterAcc {
    alloc: u64,
    up: u64,
    paid: u64,
    last: i64,
    alloc_s: f64,
    up_s: f64,
    paid_s: f64,
}

/// The engine.
pub struct Sim {
    topo: Arc<Topology>,
    doc: Document,
    sc: ScenarioSpec,
    ctl: Controller,
    heap: BinaryHeap<Reverse<(i64, u64, Ev)>>,
    seq: u64,
    now: i64,
    start_s: i64,
    end_s: i64,
    seed: u64,
    policy: String,
    rng_arrivals: ChaCha8Rng,
    rng_fail: ChaCha8Rng,
    /// Domains brought online by the ramp.
    built: Vec<bool>,
    /// Reasons each domain is down (failures, outages, reclaims).
    down: Vec<u16>,
    /// GPU prefix sums over clusters, for drawing a GPU uniformly.
    gpu_prefix: Vec<u64>,
    spot_prefix: Vec<(u64, ClusterOrd)>,
    max_spot_rate: f64,
    acc: Vec<ClusterAcc>,
    site_w: Vec<u64>,
    total_w: u64,
    held: HashMap<JobId, (ClusterOrd, u32)>,
    /// Running replicas: start and GPUs, for inference GPU-hours counted
    /// apart from the cluster integrals (the conservation test compares them).
    replica_start: HashMap<gf_sched::WorkId, (i64, u32)>,
    replica_gpu_s: f64,
    next_job: JobId,
    gen_count: Vec<u32>,
    /// Each training generator's gang-size mix, built once.
    size_mix: Vec<Option<rand_distr::weighted::WeightedIndex<f64>>>,
    cfg_fail: FailureSpec,
    /// Engine events handled.
    pub events: u64,
    m: metrics::Recorder,
}

impl Sim {
    /// Builds the engine for a validated scenario document.
    pub fn new(doc: &Document, opts: &SimOptions) -> Result<Sim, SimError> {
        let sc = doc.scenario.clone().ok_or(SimError::NoScenario)?;
        if !doc.is_fleet() {
            return Err(SimError::NoFleet);
        }
        let end = match opts.until {
            Some(u) if u <= sc.start => {
                return Err(SimError::UntilBeforeStart {
                    until: u,
                    start: sc.start,
                });
            }
            Some(u) => u.min(sc.end()),
            None => sc.end(),
        };
        let topo = Arc::new(Topology::from_document(doc));
        let f = sc.failures.clone();
        let cfg = ControlConfig {
            checkpoint: sc.checkpoint.policy,
            fixed_interval_s: sc.checkpoint.interval_min * 60.0,
            restart_overhead_s: sc.checkpoint.restart_overhead_min * 60.0,
            interruptions_per_gpu_s: f.gpu_interruptions_per_gpu_day / DAY,
            retry: f.retry_budget.clone(),
            hot_spare_min_gpus: f.hot_spare_min_gpus,
            hot_spare_domains: f.hot_spare_domains,
            ..ControlConfig::default()
        };
        let ctl = Controller::new(
            Arc::clone(&topo),
            CapacityIndex::new(&topo),
            opts.policy.clone(),
            opts.seed,
            cfg,
        );
        let mut gpu_prefix = Vec::with_capacity(topo.clusters.len() + 1);
        let mut spot_prefix = Vec::new();
        let mut total = 0u64;
        let mut spot_total = 0u64;
        let mut max_spot_rate: f64 = 0.0;
        gpu_prefix.push(0);
        for (i, c) in topo.clusters.iter().enumerate() {
            total += c.gpus();
            gpu_prefix.push(total);
            if c.price_model == gf_model::PriceModel::Spot && c.spot_rate_per_hour > 0.0 {
                spot_total += c.gpus();
                spot_prefix.push((spot_total, i as ClusterOrd));
                max_spot_rate = max_spot_rate.max(c.spot_rate_per_hour);
            }
        }
        let mut base = ChaCha8Rng::seed_from_u64(opts.seed);
        let mut rng_arrivals = base.clone();
        rng_arrivals.set_stream(1);
        base.set_stream(2);
        let rng_fail = base;
        let n_dom = topo.n_domains();
        let n_sites = topo.sites.len();
        let start_s = sc.start.epoch_seconds();
        let m = metrics::Recorder::new(&topo, doc, &sc, start_s);
        let mut sim = Sim {
            acc: vec![ClusterAcc::default(); topo.clusters.len()],
            site_w: vec![0; n_sites],
            total_w: 0,
            ctl,
            heap: BinaryHeap::new(),
            seq: 0,
            now: start_s,
            start_s,
            end_s: end.epoch_seconds(),
            seed: opts.seed,
            policy: opts.policy.name.clone(),
            rng_arrivals,
            rng_fail,
            built: vec![false; n_dom],
            down: vec![0; n_dom],
            gpu_prefix,
            spot_prefix,
            max_spot_rate,
            held: HashMap::new(),
            replica_start: HashMap::new(),
            replica_gpu_s: 0.0,
            next_job: 1,
            gen_count: vec![0; sc.training.len()],
            size_mix: sc
                .training
                .iter()
                .map(|g| workload::weighted_index(g.sizes.iter().map(|s| s.share)))
                .collect(),
            cfg_fail: f,
            events: 0,
            m,
            doc: doc.clone(),
            sc,
            topo,
        };
        for c in sim.acc.iter_mut() {
            c.last = start_s;
        }
        sim.schedule_start();
        Ok(sim)
    }

    fn push(&mut self, t: i64, ev: Ev) {
        self.seq += 1;
        self.heap.push(Reverse((t, self.seq, ev)));
    }

    fn push_after(&mut self, gap_s: f64, ev: Ev) {
        if gap_s.is_finite() {
            let t = self.now + gap_s.ceil().max(1.0) as i64;
            if t < self.end_s {
                self.push(t, ev);
            }
        }
    }

    fn schedule_start(&mut self) {
        let s = self.start_s;
        // Ramps: every step, with steps on or before the start applied at the start.
        for (c, cl) in self.topo.clusters.clone().iter().enumerate() {
            if cl.ramp.is_empty() {
                self.push(s, Ev::Ramp(c as u32, cl.n_domains));
            } else {
                self.push(s, Ev::Ramp(c as u32, cl.online_domains_on(self.sc.start)));
                for &(d, n) in &cl.ramp {
                    let t = d.epoch_seconds();
                    if t > s && t < self.end_s {
                        self.push(t, Ev::Ramp(c as u32, n));
                    }
                }
            }
        }
        for i in 0..self.doc.jobs.len() {
            self.push(s, Ev::Submit(i as u32));
        }
        for g in 0..self.sc.training.len() {
            let from = self.sc.training[g]
                .from
                .map_or(s, |d| d.epoch_seconds().max(s));
            self.now = from;
            self.next_arrival(g);
        }
        self.now = s;
        for ev in [
            Ev::GpuFailure,
            Ev::DomainFailure,
            Ev::ClusterOutage,
            Ev::RegionOutage,
            Ev::SpotReclaim,
        ] {
            self.next_failure(ev);
        }
        self.push(s, Ev::AutoTick);
        self.push(s, Ev::SchedTick);
        self.push(s, Ev::Sample);
        self.push(s, Ev::Day);
    }

    fn years(&self) -> f64 {
        (self.now - self.start_s) as f64 / YEAR_S
    }

    /// The next arrival of generator `g`: a Poisson process whose rate grows
    /// year on year, drawn by thinning against the rate at the horizon.
    fn next_arrival(&mut self, g: usize) {
        let wg = &self.sc.training[g];
        let horizon_y = (self.end_s - self.start_s) as f64 / YEAR_S;
        let max_rate =
            wg.arrivals_per_day / DAY * workload::growth(wg.growth_per_year, horizon_y).max(1.0);
        let gap = workload::exp_gap_s(&mut self.rng_arrivals, max_rate);
        self.push_after(gap, Ev::Arrival(g as u32));
    }

    fn next_failure(&mut self, ev: Ev) {
        let f = &self.cfg_fail;
        let total_gpus = *self.gpu_prefix.last().unwrap_or(&0) as f64;
        let rate = match ev {
            Ev::GpuFailure => f.gpu_interruptions_per_gpu_day / DAY * total_gpus,
            Ev::DomainFailure => {
                f.domain_failures_per_domain_year / YEAR_S * self.topo.n_domains() as f64
            }
            Ev::ClusterOutage => {
                f.cluster_outages_per_year / YEAR_S * self.topo.clusters.len() as f64
            }
            Ev::RegionOutage => f.region_outages_per_year / YEAR_S * self.topo.sites.len() as f64,
            Ev::SpotReclaim => {
                self.max_spot_rate / HOUR * self.spot_prefix.last().map_or(0, |x| x.0) as f64
            }
            _ => 0.0,
        };
        let gap = workload::exp_gap_s(&mut self.rng_fail, rate);
        self.push_after(gap, ev);
    }

    /// Runs to the horizon, calling `progress` with the share done now and then.
    pub fn run(&mut self, progress: &mut dyn FnMut(f64)) {
        let span = (self.end_s - self.start_s).max(1) as f64;
        let mut next_report = self.start_s;
        while let Some(Reverse((t, _, ev))) = self.heap.pop() {
            if t >= self.end_s {
                break;
            }
            self.now = t;
            self.events += 1;
            self.step(ev);
            if t >= next_report {
                progress((t - self.start_s) as f64 / span);
                next_report = t + (span / 200.0) as i64;
            }
        }
        self.now = self.end_s;
        for c in 0..self.acc.len() {
            self.touch(c);
        }
        progress(1.0);
    }

    fn step(&mut self, ev: Ev) {
        match ev {
            Ev::Submit(i) => {
                let spec = self.doc.jobs[i as usize].clone();
                self.submit(spec);
            }
            Ev::Arrival(g) => {
                self.arrival(g as usize);
                self.next_arrival(g as usize);
            }
            Ev::Ramp(c, n) => self.ramp(c, n),
            Ev::GpuFailure => {
                self.gpu_failure();
                self.next_failure(ev);
            }
            Ev::DomainFailure => {
                let n = self.topo.n_domains() as u32;
                if n > 0 {
                    let d = self.rng_fail.random_range(0..n);
                    if self.is_online(d) {
                        self.m.failures[metrics::F_DOMAIN] += 1;
                        let h = self.cfg_fail.domain_repair_hours;
                        self.take_down(Down::Domain(d, 1), CapacityCause::DomainFailure, h);
                    }
                }
                self.next_failure(ev);
            }
            Ev::ClusterOutage => {
                let n = self.topo.clusters.len() as u32;
                if n > 0 {
                    let c = self.rng_fail.random_range(0..n);
                    self.m.failures[metrics::F_CLUSTER] += 1;
                    let h = self.cfg_fail.cluster_outage_hours;
                    self.take_down(Down::Cluster(c), CapacityCause::ClusterOutage, h);
                }
                self.next_failure(ev);
            }
            Ev::RegionOutage => {
                let n = self.topo.sites.len() as u32;
                if n > 0 {
                    let s = self.rng_fail.random_range(0..n);
                    self.m.failures[metrics::F_REGION] += 1;
                    let h = self.cfg_fail.region_outage_hours;
                    self.take_down(Down::Site(s), CapacityCause::RegionOutage, h);
                }
                self.next_failure(ev);
            }
            Ev::SpotReclaim => {
                self.spot_reclaim();
                self.next_failure(ev);
            }
            Ev::Up(d) => {
                let doms = self.domains_of(d);
                self.change_down(&doms, -1, CapacityCause::Repair);
            }
            Ev::Finish(job, attempt) => self.feed(Event::JobFinished { job, attempt }),
            Ev::SchedTick => {
                self.feed(Event::ScheduleTick);
                let gap = self.sc.schedule_interval_min * 60.0;
                self.push_after(gap, Ev::SchedTick);
            }
            Ev::AutoTick => {
                self.autoscale();
                let gap = self.sc.autoscale_interval_min * 60.0;
                self.push_after(gap, Ev::AutoTick);
            }
            Ev::Sample => {
                self.sample();
                self.push_after(self.sc.sample_hours * HOUR, Ev::Sample);
            }
            Ev::Day => {
                for k in 0..self.topo.contracts.len() {
                    let usd = self.contract_spend(k);
                    self.feed(Event::SpendReported {
                        contract: k as u32,
                        usd,
                    });
                }
                self.push_after(DAY, Ev::Day);
            }
        }
    }

    fn submit(&mut self, spec: JobSpec) {
        let id = self.next_job;
        self.next_job += 1;
        self.m.submitted += 1;
        self.feed(Event::JobSubmitted {
            job: id,
            spec: Box::new(spec),
        });
    }

    fn arrival(&mut self, g: usize) {
        let wg = &self.sc.training[g];
        let horizon_y = (self.end_s - self.start_s) as f64 / YEAR_S;
        let max_mult = workload::growth(wg.growth_per_year, horizon_y).max(1.0);
        let now_mult = workload::growth(wg.growth_per_year, self.years());
        // Thinning: accept with the ratio of the rate now to the bound.
        let accept = self.rng_arrivals.random::<f64>() < now_mult / max_mult;
        // Validation makes every mix non-empty with positive shares.
        let Some(mix) = &self.size_mix[g] else { return };
        let k = rand_distr::Distribution::sample(mix, &mut self.rng_arrivals);
        let hours = workload::lognormal(
            &mut self.rng_arrivals,
            wg.hours_median,
            wg.hours_sigma,
            wg.hours_max,
        );
        if !accept {
            return;
        }
        self.gen_count[g] += 1;
        let gpus = wg.sizes[k].gpus;
        let spec = JobSpec {
            name: format!("{}-{:05}", wg.name, self.gen_count[g]),
            team: wg.team.clone(),
            priority: wg.priority,
            gpus,
            accelerators: wg.accelerators.clone(),
            work_gpu_hours: gpus as f64 * hours,
            checkpoint_interval_min: None,
            checkpoint_cost_min: self.sc.checkpoint.cost_min,
            providers: wg.providers.clone(),
            regions: Vec::new(),
            preemptible: wg.preemptible,
            spot: wg.spot,
            gpu_milli: None,
            cpu_milli_per_gpu: 0,
            memory_mib_per_gpu: 0,
            locs: Default::default(),
        };
        self.submit(spec);
    }

    fn is_online(&self, d: DomainOrd) -> bool {
        self.built[d as usize] && self.down[d as usize] == 0
    }

    fn domains_of(&self, d: Down) -> Vec<DomainOrd> {
        let cl = |c: usize| {
            let c = &self.topo.clusters[c];
            c.first_domain..c.first_domain + c.n_domains
        };
        match d {
            Down::Domain(x, _) => vec![x],
            Down::Cluster(c) => cl(c as usize).collect(),
            Down::Site(s) => self
                .topo
                .clusters
                .iter()
                .enumerate()
                .filter(|(_, c)| c.site == s)
                .flat_map(|(i, _)| cl(i))
                .collect(),
        }
    }

    fn take_down(&mut self, d: Down, cause: CapacityCause, hours: f64) {
        let doms = self.domains_of(d);
        self.change_down(&doms, 1, cause);
        let t = self.now + (hours * HOUR).ceil().max(1.0) as i64;
        self.push(t, Ev::Up(d));
    }

    /// Adds `delta` to the down count of `doms` and tells the controller about
    /// every domain whose online state flipped.
    fn change_down(&mut self, doms: &[DomainOrd], delta: i32, cause: CapacityCause) {
        let mut flipped = Vec::new();
        for &d in doms {
            let before = self.is_online(d);
            let i = d as usize;
            self.down[i] = (self.down[i] as i32 + delta).max(0) as u16;
            if self.is_online(d) != before {
                flipped.push(d);
            }
        }
        self.flip(flipped, delta < 0, cause);
    }

    fn flip(&mut self, flipped: Vec<DomainOrd>, online: bool, cause: CapacityCause) {
        if flipped.is_empty() {
            return;
        }
        for &d in &flipped {
            let c = self.topo.domain_cluster[d as usize] as usize;
            self.touch(c);
            let g = self.topo.clusters[c].domain_gpus as u64;
            if online {
                self.acc[c].up += g;
            } else {
                self.acc[c].up -= g;
            }
        }
        self.feed(Event::CapacityChanged {
            domains: flipped,
            online,
            cause,
        });
    }

    fn ramp(&mut self, c: u32, n: u32) {
        let cl = self.topo.clusters[c as usize].clone();
        let n = n.min(cl.n_domains);
        let mut on = Vec::new();
        let mut off = Vec::new();
        for k in 0..cl.n_domains {
            let d = cl.first_domain + k;
            let want = k < n;
            if self.built[d as usize] != want {
                let before = self.is_online(d);
                self.built[d as usize] = want;
                if self.is_online(d) != before {
                    if want { on.push(d) } else { off.push(d) }
                }
            }
        }
        self.touch(c as usize);
        self.acc[c as usize].paid = n as u64 * cl.domain_gpus as u64;
        self.flip(off, false, CapacityCause::Ramp);
        self.flip(on, true, CapacityCause::Ramp);
    }

    /// A GPU drawn uniformly from every GPU built; a draw on capacity that
    /// is not online is discarded (thinning), so the rate is per online GPU.
    fn draw_gpu(&mut self) -> Option<(DomainOrd, u32)> {
        let total = *self.gpu_prefix.last()?;
        if total == 0 {
            return None;
        }
        let u = self.rng_fail.random_range(0..total);
        let c = self.gpu_prefix.partition_point(|&p| p <= u) - 1;
        let cl = &self.topo.clusters[c];
        let off = u - self.gpu_prefix[c];
        let d = cl.first_domain + (off / cl.domain_gpus as u64) as u32;
        Some((d, (off % cl.domain_gpus as u64) as u32))
    }

    fn gpu_failure(&mut self) {
        let Some((d, slot)) = self.draw_gpu() else {
            return;
        };
        let hardware = self.rng_fail.random::<f64>() < self.cfg_fail.hardware_share;
        if !self.is_online(d) {
            return;
        }
        if hardware {
            self.m.failures[metrics::F_GPU_HW] += 1;
            let h = self.cfg_fail.gpu_repair_hours;
            self.take_down(Down::Domain(d, 0), CapacityCause::GpuFailure, h);
            return;
        }
        self.m.failures[metrics::F_GPU_SW] += 1;
        // A software fault stops the job on the GPU that faulted, if any.
        let mut k = 0u32;
        let mut hit = None;
        for a in self.ctl.allocs_on_domain(d) {
            let Some(al) = self.ctl.scheduler().alloc(a) else {
                continue;
            };
            let g: u32 = al.parts.iter().filter(|p| p.0 == d).map(|p| p.1).sum();
            if slot < k + g {
                hit = Some(a);
                break;
            }
            k += g;
        }
        if let Some(Some(Ok(job))) = hit.map(|a| self.ctl.owner_of(a))
            && let Some(j) = self.ctl.job(job)
        {
            let attempt = j.attempt;
            self.m.interruptions[metrics::I_SOFTWARE] += 1;
            self.feed(Event::JobFailed {
                job,
                attempt,
                category: FailureCategory::Software,
            });
        }
    }

    fn spot_reclaim(&mut self) {
        let Some(&(total, _)) = self.spot_prefix.last() else {
            return;
        };
        let u = self.rng_fail.random_range(0..total);
        let accept_u: f64 = self.rng_fail.random();
        let i = self.spot_prefix.partition_point(|x| x.0 <= u);
        let Some(&(_, c)) = self.spot_prefix.get(i) else {
            return;
        };
        let cl = &self.topo.clusters[c as usize];
        let before = if i == 0 { 0 } else { self.spot_prefix[i - 1].0 };
        let d = cl.first_domain + ((u - before) / cl.domain_gpus as u64) as u32;
        if !self.is_online(d) {
            return;
        }
        // Reclaims come per GPU-hour of use: accept in proportion to the
        // domain's GPUs in use and the cluster's rate.
        let used = cl.domain_gpus - self.ctl.scheduler().index().free(d);
        let p = cl.spot_rate_per_hour / self.max_spot_rate * used as f64 / cl.domain_gpus as f64;
        if accept_u >= p {
            return;
        }
        self.m.failures[metrics::F_SPOT] += 1;
        let h = self.cfg_fail.spot_return_hours;
        self.take_down(Down::Domain(d, 2), CapacityCause::SpotReclaim, h);
    }

    fn autoscale(&mut self) {
        let hour = self.now.rem_euclid(86_400) as f64 / HOUR;
        let years = self.years();
        for (sid, s) in self.doc.services.clone().iter().enumerate() {
            let g = self.sc.inference.iter().find(|g| g.service == s.name);
            let mut rps = Vec::new();
            for d in &s.demand {
                let Some(z) = self.topo.zones.iter().position(|z| *z == d.zone) else {
                    continue;
                };
                let mult = match g {
                    Some(g) => {
                        let off = self
                            .sc
                            .zone_utc_offset_h
                            .get(&d.zone)
                            .copied()
                            .unwrap_or(0.0);
                        workload::diurnal(hour, off, g.peak_hour_local, g.diurnal_amplitude)
                            * workload::growth(g.growth_per_year, years)
                    }
                    None => 1.0,
                };
                rps.push((z as u32, d.rps * mult));
            }
            if self.m.svc_started.len() <= sid {
                let headroom = g.map_or(1.15, |g| g.headroom);
                self.m.svc_started.push(true);
                self.feed(Event::ServiceSubmitted {
                    service: sid as u32,
                    spec: Box::new(s.clone()),
                    headroom,
                });
            }
            self.feed(Event::DemandObserved {
                service: sid as u32,
                rps_by_zone: rps,
            });
        }
        self.feed(Event::AutoscaleTick);
        let dt = self.sc.autoscale_interval_min * 60.0;
        for sid in 0..self.doc.services.len() {
            let slo = self.ctl.slo(sid as u32);
            self.m.slo(sid, slo, dt);
        }
        let infos = self.ctl.services();
        self.m.replicas(&infos);
        if let Some(a) = &self.sc.agentic {
            let mult = workload::diurnal(hour, 0.0, 20.0, a.diurnal_amplitude)
                * workload::growth(a.growth_per_year, years);
            let cores = a.cores_peak * mult;
            self.m.agentic_core_h += cores * dt / HOUR;
            self.m.agentic_usd += cores * dt / HOUR * a.usd_per_core_hour;
        }
    }

    /// Advances cluster `c`'s integrals to now.
    fn touch(&mut self, c: usize) {
        let a = &mut self.acc[c];
        let dt = (self.now - a.last) as f64;
        if dt > 0.0 {
            a.alloc_s += a.alloc as f64 * dt;
            a.up_s += a.up as f64 * dt;
            a.paid_s += a.paid as f64 * dt;
            a.last = self.now;
        }
    }

    fn cluster_cost(&self, c: usize) -> f64 {
        let cl = &self.topo.clusters[c];
        let a = &self.acc[c];
        let gpu_s = match cl.price_model {
            gf_model::PriceModel::Reserved => a.paid_s,
            _ => a.alloc_s,
        };
        gpu_s / HOUR * cl.usd_per_gpu_hour
    }

    fn contract_spend(&mut self, k: usize) -> f64 {
        let mut usd = 0.0;
        for c in 0..self.topo.clusters.len() {
            if self.topo.clusters[c].contract == Some(k as u32) {
                self.touch(c);
                usd += self.cluster_cost(c);
            }
        }
        usd
    }

    fn alloc_change(&mut self, c: ClusterOrd, delta: i64) {
        let ci = c as usize;
        self.touch(ci);
        self.acc[ci].alloc = (self.acc[ci].alloc as i64 + delta) as u64;
        let site = self.topo.clusters[ci].site as usize;
        let w = self.topo.watts_per_gpu(c) as i64 * delta;
        self.site_w[site] = (self.site_w[site] as i64 + w) as u64;
        self.total_w = (self.total_w as i64 + w) as u64;
        if delta > 0 {
            let env = self.topo.sites[site].envelope_w;
            if self.site_w[site] > env {
                self.m.power_violations += 1;
            }
            let pk = &mut self.m.site_peak_w[site];
            *pk = (*pk).max(self.site_w[site]);
            self.m.peak_w = self.m.peak_w.max(self.total_w);
        }
    }

    /// Hands one event to the controller and carries out its actions, and
    /// the events those actions cause (a dispatched run reports started).
    fn feed(&mut self, ev: Event) {
        let mut q = VecDeque::from([ev]);
        while let Some(e) = q.pop_front() {
            for a in self.ctl.handle(self.now, e) {
                self.act(a, &mut q);
            }
        }
    }

    fn act(&mut self, a: Action, q: &mut VecDeque<Event>) {
        match a {
            Action::Dispatch {
                job,
                attempt,
                cluster,
                gpus,
                plan,
            } => {
                let prev = self.held.insert(job, (cluster, gpus));
                let delta = gpus as i64 - prev.map_or(0, |p| p.1 as i64);
                if delta != 0 {
                    self.alloc_change(cluster, delta);
                }
                let t = plan.finish_at();
                if t < self.end_s {
                    self.push(t, Ev::Finish(job, attempt));
                }
                q.push_back(Event::JobStarted { job, attempt });
            }
            Action::Preempt {
                job, cluster, gpus, ..
            } => {
                self.held.remove(&job);
                self.alloc_change(cluster, -(gpus as i64));
                self.m.preemptions += 1;
            }
            Action::Cancel {
                job, cluster, gpus, ..
            } => {
                self.held.remove(&job);
                self.alloc_change(cluster, -(gpus as i64));
            }
            Action::Release {
                job,
                cluster,
                gpus,
                cause,
                ..
            } => {
                self.held.remove(&job);
                self.alloc_change(cluster, -(gpus as i64));
                self.m.interrupt(cause);
            }
            Action::Shrink { job, cluster, gpus } => {
                if let Some(h) = self.held.get_mut(&job) {
                    h.1 -= gpus;
                }
                self.alloc_change(cluster, -(gpus as i64));
                self.m.spare_swaps += 1;
                self.m.interruptions[metrics::I_HARDWARE] += 1;
            }
            Action::Scale {
                started, stopped, ..
            } => {
                for (w, c, g) in stopped {
                    self.alloc_change(c, -(g as i64));
                    self.m.replica_stops += 1;
                    if let Some((t, g)) = self.replica_start.remove(&w) {
                        self.replica_gpu_s += (self.now - t) as f64 * g as f64;
                    }
                }
                for (w, c, g) in started {
                    self.alloc_change(c, g as i64);
                    self.replica_start.insert(w, (self.now, g));
                }
            }
            Action::Checkpoint { .. } => {}
            Action::Ended { job, state } => {
                if let Some((c, g)) = self.held.remove(&job) {
                    self.alloc_change(c, -(g as i64));
                }
                if state == JobState::Completed {
                    self.m.completed += 1;
                }
            }
        }
    }

    fn sample(&mut self) {
        for c in 0..self.acc.len() {
            self.touch(c);
        }
        let spend: Vec<f64> = (0..self.topo.contracts.len())
            .map(|k| self.contract_spend(k))
            .collect();
        let now = self.now;
        let acc: Vec<(u64, u64)> = self.acc.iter().map(|a| (a.alloc, a.up)).collect();
        self.m.sample(
            &self.topo,
            now,
            &acc,
            &self.site_w,
            &spend,
            self.ctl.pending(),
        );
    }

    /// The controller (for tests and invariants).
    pub fn controller(&self) -> &Controller {
        &self.ctl
    }

    /// The summary of the run so far.
    pub fn summary(&mut self) -> Summary {
        for c in 0..self.acc.len() {
            self.touch(c);
        }
        let costs: Vec<f64> = (0..self.acc.len()).map(|c| self.cluster_cost(c)).collect();
        let ints: Vec<(f64, f64, f64)> = self
            .acc
            .iter()
            .map(|a| (a.alloc_s, a.up_s, a.paid_s))
            .collect();
        metrics::summarize(metrics::Inputs {
            topo: &self.topo,
            doc: &self.doc,
            sc: &self.sc,
            ctl: &self.ctl,
            rec: &self.m,
            seed: self.seed,
            policy: &self.policy,
            start_s: self.start_s,
            end_s: self.end_s,
            cluster_integrals: &ints,
            cluster_costs: &costs,
            events: self.events,
            replica_gpu_s: self.replica_gpu_s
                + self
                    .replica_start
                    .values()
                    // Integer products: the sum is the same in any iteration order.
                    .map(|&(t, g)| (self.end_s.min(self.now) - t) * g as i64)
                    .sum::<i64>() as f64,
        })
    }
}
