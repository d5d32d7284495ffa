//! The twin's driver: a virtual clock that plays the parts of the world
//! outside the backend — users submitting work, demand for services,
//! billing, the controller's timers — and runs the production controller
//! against the simulated world through the [`Backend`] trait, exactly as the
//! server runs it against a real engine: events in, actions out, each
//! action carried out on the backend, the backend's reports fed back.

use std::collections::VecDeque;
use std::sync::Arc;

use gf_backend::{Backend, ready};
use gf_control::{Action, ControlConfig, Controller, Event, JobId, JobState};
use gf_model::scenario::ScenarioSpec;
use gf_model::{Document, JobSpec};
use gf_sched::{CapacityIndex, Topology};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::world::SimWorld;
use crate::{SimError, SimOptions, Summary, metrics, workload};

const HOUR: f64 = 3600.0;
const DAY: f64 = 86_400.0;
const YEAR_S: f64 = 365.25 * DAY;

/// One timed happening outside the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Submit(u32),
    Arrival(u32),
    SchedTick,
    AutoTick,
    Sample,
    Day,
}

/// A service's inference generator (by index) and its demand entries as
/// (zone ordinal, peak requests per second, the zone's UTC offset in hours).
type SvcDemand = (Option<usize>, Vec<(usize, f64, f64)>);

/// The engine.
pub struct Sim {
    topo: Arc<Topology>,
    doc: Document,
    sc: ScenarioSpec,
    ctl: Controller,
    world: SimWorld,
    heap: crate::timed::Timed<Ev>,
    now: i64,
    start_s: i64,
    end_s: i64,
    seed: u64,
    policy: String,
    rng_arrivals: ChaCha8Rng,
    /// Minute-to-minute bursts of service demand: a stream of its own, so
    /// turning bursts on shifts no job or failure.
    rng_burst: ChaCha8Rng,
    /// Each service's latency model.
    svc_models: Vec<crate::serving::ServiceModel>,
    /// Each service's requests queued beyond the steady state, by zone.
    svc_backlog: Vec<Vec<f64>>,
    /// Each service's demand resolved once for the minute-by-minute
    /// measure: its generator, and per demand entry the zone ordinal, the
    /// peak requests per second and the zone's UTC offset.
    svc_demand: Vec<SvcDemand>,
    next_job: JobId,
    gen_count: Vec<u32>,
    /// Each training generator's gang-size mix, built once.
    size_mix: Vec<Option<rand_distr::weighted::WeightedIndex<f64>>>,
    /// Each training generator's team and accelerators, shared by the
    /// specs of all its jobs rather than copied into each.
    gen_shared: Vec<(Arc<str>, Arc<[String]>)>,
    /// Each training generator's growth at the horizon (at least 1), the
    /// bound its arrivals are thinned against: the same number for every
    /// arrival, worked out once rather than twice per arrival.
    gen_bound: Vec<f64>,
    inbox: VecDeque<Event>,
    /// The controller's actions for the event being fed (kept between
    /// events for its capacity).
    actions: Vec<Action>,
    /// Engine events handled.
    pub events: u64,
    m: metrics::Recorder,
}

/// The controller's configuration for a scenario: its checkpoint policy,
/// the failure rate it plans intervals for, retry budgets and hot spares.
/// The live server configures its controller the same way.
pub fn control_config(sc: &ScenarioSpec) -> ControlConfig {
    let f = &sc.failures;
    ControlConfig {
        checkpoint: sc.checkpoint.policy,
        fixed_interval_s: sc.checkpoint.interval_min * 60.0,
        // The controller is told the injected rate only as an oracle
        // for comparison; otherwise it starts from the published rate
        // and learns the rest from the reports.
        interruptions_per_gpu_s: if sc.checkpoint.oracle_rates {
            f.gpu_interruptions_per_gpu_day / DAY
        } else {
            ControlConfig::default().interruptions_per_gpu_s
        },
        interval_from_observed: !sc.checkpoint.oracle_rates,
        retry: f.retry_budget.clone(),
        hot_spare_min_gpus: f.hot_spare_min_gpus,
        hot_spare_domains: f.hot_spare_domains,
        spares_by_littles_law: f.hot_spares_by_littles_law,
        queue: if sc.fair_share {
            gf_control::QueueOrder::FairShare
        } else {
            gf_control::QueueOrder::Priority
        },
        easy_backfill: sc.easy_backfill,
        ..ControlConfig::default()
    }
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
            // The summary reads an ended job's record, never its spec: a
            // year of millions of jobs holds none of theirs (half the
            // twin's memory at 20M GPUs).
            keep_ended_specs: false,
            // Nor their records: each ended job is folded into the summary
            // as it ends (`fold_ended`).
            keep_ended_jobs: false,
            ..control_config(&sc)
        };
        let ctl = Controller::new(
            Arc::clone(&topo),
            CapacityIndex::new(&topo),
            opts.policy.clone(),
            opts.seed,
            cfg,
        );
        let mut base = ChaCha8Rng::seed_from_u64(opts.seed);
        let mut rng_arrivals = base.clone();
        rng_arrivals.set_stream(1);
        let mut rng_burst = base.clone();
        rng_burst.set_stream(3);
        base.set_stream(2);
        let start_s = sc.start.epoch_seconds();
        let end_s = end.epoch_seconds();
        let mut world = SimWorld::new(
            Arc::clone(&topo),
            f,
            sc.checkpoint.restart_overhead_min * 60.0,
            base,
            start_s,
            end_s,
        );
        world.set_checkpoint_practice(&sc.checkpoint);
        world.set_power_metering(&sc.power);
        for (sid, s) in doc.services.iter().enumerate() {
            if let Some(g) = sc.inference.iter().find(|g| g.service == s.name) {
                world.set_model_load_s(sid as u32, g.model_load_s);
            }
        }
        let m = metrics::Recorder::new(&topo, doc, start_s);
        let mut sim = Sim {
            ctl,
            world,
            heap: crate::timed::Timed::new(),
            now: start_s,
            start_s,
            end_s,
            seed: opts.seed,
            policy: opts.policy.name.clone(),
            rng_arrivals,
            rng_burst,
            svc_models: doc
                .services
                .iter()
                .map(|s| crate::serving::ServiceModel::new(&topo, s))
                .collect(),
            svc_backlog: vec![vec![0.0; topo.zones.len()]; doc.services.len()],
            svc_demand: doc
                .services
                .iter()
                .map(|s| {
                    let g = sc.inference.iter().position(|g| g.service == s.name);
                    let entries = s
                        .demand
                        .iter()
                        .filter_map(|d| {
                            let z = topo.zones.iter().position(|x| *x == d.zone)?;
                            let off = sc.zone_utc_offset_h.get(&d.zone).copied().unwrap_or(0.0);
                            Some((z, d.rps, off))
                        })
                        .collect();
                    (g, entries)
                })
                .collect(),
            next_job: 1,
            gen_count: vec![0; sc.training.len()],
            size_mix: sc
                .training
                .iter()
                .map(|g| workload::weighted_index(g.sizes.iter().map(|s| s.share)))
                .collect(),
            gen_shared: sc
                .training
                .iter()
                .map(|g| (g.team.as_str().into(), g.accelerators.as_slice().into()))
                .collect(),
            gen_bound: sc
                .training
                .iter()
                .map(|g| {
                    let horizon_y = (end_s - start_s) as f64 / YEAR_S;
                    workload::growth(g.growth_per_year, horizon_y).max(1.0)
                })
                .collect(),
            inbox: VecDeque::new(),
            actions: Vec::new(),
            events: 0,
            m,
            doc: doc.clone(),
            sc,
            topo,
        };
        sim.schedule_start();
        Ok(sim)
    }

    fn push(&mut self, t: i64, ev: Ev) {
        self.heap.push(t, ev);
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
        let max_rate = self.sc.training[g].arrivals_per_day / DAY * self.gen_bound[g];
        let gap = workload::exp_gap_s(&mut self.rng_arrivals, max_rate);
        self.push_after(gap, Ev::Arrival(g as u32));
    }

    /// Runs to the horizon, calling `progress` with the share done now and
    /// then. The world goes first at equal times: what happened is reported
    /// before the controller's timers look at it.
    pub fn run(&mut self, progress: &mut dyn FnMut(f64)) -> Result<(), SimError> {
        let span = (self.end_s - self.start_s).max(1) as f64;
        let mut next_report = self.start_s;
        loop {
            let tw = self.world.next_at();
            let te = self.heap.next_at();
            let (t, world) = match (tw, te) {
                (None, None) => break,
                (Some(a), Some(b)) if a <= b => (a, true),
                (Some(a), None) => (a, true),
                (_, Some(b)) => (b, false),
            };
            if t >= self.end_s {
                break;
            }
            self.now = t;
            self.events += 1;
            if world {
                self.world.step();
            } else if let Some((_, ev)) = self.heap.pop() {
                self.world.advance(t);
                self.step(ev)?;
            }
            self.drain()?;
            if t >= next_report {
                progress((t - self.start_s) as f64 / span);
                next_report = t + (span / 200.0) as i64;
            }
        }
        self.now = self.end_s;
        self.world.advance(self.end_s);
        self.world.touch_all();
        progress(1.0);
        Ok(())
    }

    fn step(&mut self, ev: Ev) -> Result<(), SimError> {
        match ev {
            Ev::Submit(i) => {
                let spec = self.doc.jobs[i as usize].clone();
                self.submit(spec)?;
            }
            Ev::Arrival(g) => {
                self.arrival(g as usize)?;
                self.next_arrival(g as usize);
            }
            Ev::SchedTick => {
                self.feed(Event::ScheduleTick)?;
                self.measure_slo()?;
                let gap = self.sc.schedule_interval_min * 60.0;
                self.push_after(gap, Ev::SchedTick);
            }
            Ev::AutoTick => {
                self.autoscale()?;
                let gap = self.sc.autoscale_interval_min * 60.0;
                self.push_after(gap, Ev::AutoTick);
            }
            Ev::Sample => {
                self.sample();
                self.push_after(self.sc.sample_hours * HOUR, Ev::Sample);
            }
            Ev::Day => {
                for k in 0..self.topo.contracts.len() {
                    let usd = self.world.contract_spend(k);
                    let contract = self.topo.contracts[k].name.clone();
                    self.feed(Event::SpendReported { contract, usd })?;
                }
                self.push_after(DAY, Ev::Day);
            }
        }
        Ok(())
    }

    fn submit(&mut self, spec: JobSpec) -> Result<(), SimError> {
        let id = self.next_job;
        self.next_job += 1;
        self.m.submitted += 1;
        if spec.gpus >= metrics::LARGE_JOB_GPUS {
            self.m.large_names.insert(id, spec.name.clone());
        }
        self.feed(Event::JobSubmitted {
            job: id,
            spec: Arc::new(spec),
        })
    }

    fn arrival(&mut self, g: usize) -> Result<(), SimError> {
        let wg = &self.sc.training[g];
        let max_mult = self.gen_bound[g];
        let now_mult = workload::growth(wg.growth_per_year, self.years());
        // Thinning: accept with the ratio of the rate now to the bound.
        let accept = self.rng_arrivals.random::<f64>() < now_mult / max_mult;
        // Validation makes every mix non-empty with positive shares.
        let Some(mix) = &self.size_mix[g] else {
            return Ok(());
        };
        let k = rand_distr::Distribution::sample(mix, &mut self.rng_arrivals);
        let hours = workload::lognormal(
            &mut self.rng_arrivals,
            wg.hours_median,
            wg.hours_sigma,
            wg.hours_max,
        );
        if !accept {
            return Ok(());
        }
        self.gen_count[g] += 1;
        let gpus = wg.sizes[k].gpus;
        let spec = JobSpec {
            name: job_name(&wg.name, self.gen_count[g]),
            team: Arc::clone(&self.gen_shared[g].0),
            priority: wg.priority,
            gpus,
            accelerators: Arc::clone(&self.gen_shared[g].1),
            work_gpu_hours: gpus as f64 * hours,
            checkpoint_interval_min: None,
            checkpoint_cost_min: self.sc.checkpoint.cost_min,
            checkpoint_persist_min: None,
            checkpoint_in_memory: None,
            replica_group_gpus: None,
            partial_restart: None,
            providers: wg.providers.clone(),
            regions: Vec::new(),
            preemptible: wg.preemptible,
            spot: wg.spot,
            gpu_milli: None,
            cpu_milli_per_gpu: 0,
            memory_mib_per_gpu: 0,
            exec: Default::default(),
            locs: Default::default(),
        };
        self.submit(spec)
    }

    /// Service `sid`'s demand now, requests per second by zone.
    fn demand_now(&self, sid: usize) -> Vec<(String, f64)> {
        self.demand_at(sid, self.now)
    }

    /// Service `sid`'s demand at `t` by its curve (daily and weekly cycles,
    /// growth), requests per second by zone.
    fn demand_at(&self, sid: usize, t: i64) -> Vec<(String, f64)> {
        let hour = t.rem_euclid(86_400) as f64 / HOUR;
        let years = (t - self.start_s) as f64 / YEAR_S;
        let s = &self.doc.services[sid];
        let g = self.sc.inference.iter().find(|g| g.service == s.name);
        let mut rps = Vec::new();
        for d in &s.demand {
            if !self.topo.zones.contains(&d.zone) {
                continue;
            }
            let mult = match g {
                Some(g) => {
                    let off = self
                        .sc
                        .zone_utc_offset_h
                        .get(&d.zone)
                        .copied()
                        .unwrap_or(0.0);
                    workload::diurnal(hour, off, g.peak_hour_local, g.diurnal_amplitude)
                        * workload::weekly(t, off, g.weekend_factor)
                        * workload::growth(g.growth_per_year, years)
                }
                None => 1.0,
            };
            rps.push((d.zone.clone(), d.rps * mult));
        }
        rps
    }

    /// Service `sid`'s demand at `t` by zone ordinal into `out`, times
    /// `burst`: the curve of [`Self::demand_at`] without its names.
    fn zone_demand(&self, sid: usize, t: i64, burst: f64, out: &mut [f64]) {
        out.iter_mut().for_each(|x| *x = 0.0);
        let hour = t.rem_euclid(86_400) as f64 / HOUR;
        let years = (t - self.start_s) as f64 / YEAR_S;
        let (g, entries) = &self.svc_demand[sid];
        let g = g.map(|i| &self.sc.inference[i]);
        for &(z, rps, off) in entries {
            let mult = match g {
                Some(g) => {
                    workload::diurnal(hour, off, g.peak_hour_local, g.diurnal_amplitude)
                        * workload::weekly(t, off, g.weekend_factor)
                        * workload::growth(g.growth_per_year, years)
                }
                None => 1.0,
            };
            out[z] += rps * mult * burst;
        }
    }

    /// SLO attainment over the next scheduling interval, minute by minute:
    /// each minute's demand (its curve times a burst) against the replicas
    /// the world has serving now (placed, and their model loaded), each
    /// request's latency its round trip, its wait in a replica's queue and
    /// its service ([`crate::serving`]). So replicas still loading, demand
    /// that moved since the last scaling decision, bursts and far zones all
    /// count. The world's replicas are the truth here, not the controller's
    /// view of them.
    fn measure_slo(&mut self) -> Result<(), SimError> {
        // What the world did at this instant is reported first.
        self.drain()?;
        let span_s = self.sc.schedule_interval_min * 60.0;
        let minutes = (span_s / 60.0).round().max(1.0) as i64;
        let dt = span_s / minutes as f64;
        let mut demand = vec![0.0; self.topo.zones.len()];
        for sid in 0..self.m.svc_started.len() {
            let cv = self.svc_demand[sid]
                .0
                .map_or(0.0, |g| self.sc.inference[g].burst_cv);
            for k in 0..minutes {
                let t = self.now + (k as f64 * dt) as i64;
                let burst = workload::burst(&mut self.rng_burst, cv);
                self.zone_demand(sid, t, burst, &mut demand);
                let got = crate::serving::attain(
                    &self.topo,
                    &self.svc_models[sid],
                    self.world.serving(sid as u32),
                    &demand,
                    &mut self.svc_backlog[sid],
                    dt,
                );
                self.m.slo(sid, got, dt);
            }
        }
        Ok(())
    }

    fn autoscale(&mut self) -> Result<(), SimError> {
        let hour = self.now.rem_euclid(86_400) as f64 / HOUR;
        let years = self.years();
        for (sid, s) in self.doc.services.clone().iter().enumerate() {
            let g = self.sc.inference.iter().find(|g| g.service == s.name);
            let rps = self.demand_now(sid);
            if self.m.svc_started.len() <= sid {
                let headroom = g.map_or(1.15, |g| g.headroom);
                self.m.svc_started.push(true);
                self.feed(Event::ServiceSubmitted {
                    service: sid as u32,
                    spec: Box::new(s.clone()),
                    headroom,
                })?;
            }
            self.feed(Event::DemandObserved {
                service: sid as u32,
                rps_by_zone: rps,
            })?;
        }
        self.feed(Event::AutoscaleTick)?;
        let dt = self.sc.autoscale_interval_min * 60.0;
        let infos = self.ctl.services();
        self.m.replicas(&infos);
        if let Some(a) = &self.sc.agentic {
            let mult = workload::diurnal(hour, 0.0, 20.0, a.diurnal_amplitude)
                * workload::growth(a.growth_per_year, years);
            let cores = a.cores_peak * mult;
            self.m.agentic_core_h += cores * dt / HOUR;
            self.m.agentic_usd += cores * dt / HOUR * a.usd_per_core_hour;
        }
        Ok(())
    }

    /// Feeds the world's reports to the controller until it has nothing more
    /// to say at this instant (a dispatch is reported started at once).
    fn drain(&mut self) -> Result<(), SimError> {
        loop {
            let mut reports =
                ready(self.world.observe(self.now)).expect("the simulated world never waits")?;
            if reports.is_empty() {
                // Given back even when empty: it is the buffer the world
                // fills next, and one dropped here is grown again from
                // nothing (a few allocations an event).
                self.world.recycle_reports(reports);
                return Ok(());
            }
            for r in reports.drain(..) {
                self.feed(Event::Backend(r))?;
            }
            self.world.recycle_reports(reports);
        }
    }

    /// Hands one event to the controller and carries out its actions on the
    /// world; a refusal goes back to the controller as a report.
    fn feed(&mut self, ev: Event) -> Result<(), SimError> {
        self.inbox.push_back(ev);
        // One buffer of actions for every event (taken out while the
        // actions are carried out, which needs the engine).
        let mut actions = std::mem::take(&mut self.actions);
        while let Some(e) = self.inbox.pop_front() {
            self.ctl.handle_into(self.now, e, &mut actions)?;
            for a in actions.drain(..) {
                self.act(a)?;
            }
        }
        self.actions = actions;
        self.fold_ended();
        Ok(())
    }

    /// Folds the jobs that just ended into the summary's record, with
    /// their truth, which the world then forgets; a job whose run the
    /// world still holds waits for the summary.
    fn fold_ended(&mut self) {
        for j in self.ctl.take_ended() {
            match self.world.take_truth(j.id) {
                Some(st) => self.m.jobs.add(&j, &st, self.end_s, &self.m.large_names),
                None => self.m.deferred.push(j),
            }
        }
    }

    fn act(&mut self, a: Action) -> Result<(), SimError> {
        if let Some(e) = self.world.carry(self.now, &a)? {
            self.inbox.push_back(e);
        }
        if let Action::Ended {
            state: JobState::Completed,
            ..
        } = a
        {
            self.m.completed += 1;
        }
        Ok(())
    }

    fn sample(&mut self) {
        self.world.touch_all();
        let spend: Vec<f64> = (0..self.topo.contracts.len())
            .map(|k| self.world.contract_spend(k))
            .collect();
        let now = self.now;
        let acc = self.world.cluster_now();
        let metered = self.world.metered_site_w();
        self.m.sample(
            &self.topo,
            now,
            &acc,
            metrics::SitePower {
                drawn_w: self.world.site_watts(),
                metered_w: metered.as_deref(),
            },
            &spend,
            self.ctl.pending(),
        );
    }

    /// The controller (for tests and invariants).
    pub fn controller(&self) -> &Controller {
        &self.ctl
    }

    /// The simulated world (for tests and invariants).
    pub fn world(&self) -> &SimWorld {
        &self.world
    }

    /// The summary of the run so far.
    pub fn summary(&mut self) -> Summary {
        self.world.touch_all();
        let costs = self.world.cluster_costs();
        let ints = self.world.cluster_integrals();
        let end = self.end_s.min(self.now);
        metrics::summarize(metrics::Inputs {
            topo: &self.topo,
            doc: &self.doc,
            ctl: &self.ctl,
            world: &self.world,
            rec: &self.m,
            seed: self.seed,
            policy: &self.policy,
            start_s: self.start_s,
            end_s: self.end_s,
            cluster_integrals: &ints,
            cluster_costs: &costs,
            events: self.events,
            replica_gpu_s: self.world.replica_gpu_s(end),
        })
    }
}

/// A generated job's name, `group-00042`, written into a string of its
/// final size (`format!` grows it as it goes: two or three allocations
/// for each of millions of jobs).
fn job_name(group: &str, n: u32) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(group.len() + 12);
    let _ = write!(s, "{group}-{n:05}");
    s
}
