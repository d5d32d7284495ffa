//! The simulated world: the twin's backend. It runs what it is dispatched
//! exactly where it is told, for as long as the work really takes on that
//! hardware, writes checkpoints, breaks GPUs, racks, clusters and regions
//! and repairs them, takes spot capacity back, brings ramps online, bills
//! contracts, and reports all of it through the [`Backend`] trait — the same
//! trait a Slurm cluster implements. The controller learns of this world
//! only what it reports.
//!
//! The world is also where the truth is measured: GPU-seconds by what they
//! bought (useful, checkpoint, restart, lost, spare), power drawn per site,
//! failures by kind. [`failures`] holds the failure and capacity processes,
//! [`run`] the arithmetic of one run, [`counters`] what is counted, [`power`]
//! what a site's meter reads.

mod carry;
mod counters;
mod doms;
pub(crate) mod failures;
mod ghosts;
mod meters;
mod power;
mod replicas;
pub mod run;
mod start;
mod table;

use std::sync::Arc;

use rustc_hash::FxHashMap;
use smallvec::SmallVec;

use gf_backend::{Backend, BackendError, ClusterCapacity};
use gf_model::PartialRestart;
use gf_model::protocol::{
    CapacityCause, FailureCategory, JobId, Progress, Report, RunId, RunSpec, ServiceId, ShrinkSpec,
    StopReason, StopSpec,
};
use gf_model::scenario::{CheckpointSpec, FailureSpec};
use gf_sched::{ClusterOrd, DomainOrd, Topology};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use counters::{FailureCounts, InterruptionCounts, WorldCounters};
pub(crate) use doms::{Dom, Spill};
use run::RunPlan;
use table::{Runs, Slot};

/// A run's GPUs on each of its domains.
type Parts = SmallVec<[(DomainOrd, u32); 2]>;

const HOUR: f64 = 3600.0;

/// A domain's mark once a restart has taken its ghost's share over.
const TAKEN: u32 = u32::MAX;

/// One timed happening of the world. The heap orders by time, then by the
/// sequence number of scheduling, so equal times keep their order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum WorldEv {
    Ramp(u32, u32),
    GpuFailure,
    DomainFailure,
    ClusterOutage,
    RegionOutage,
    SpotReclaim,
    Up(failures::Down),
    /// A swapped compute tray of a rack-scale domain is back.
    TrayUp(DomainOrd),
    /// A training run's work is done. It carries the run's slot, where the
    /// run stays from its start to its end: the finish reaches it without
    /// the job-id index (a miss per finish, millions a year).
    Finish(RunId, Slot),
    StopDone(RunId),
    /// A replica finished loading its model: it serves.
    Ready(RunId),
}

/// The truth of each job that ran, by job id, until the shell takes it
/// ([`SimWorld::take_truth`]): the twin takes an ended job's truth as it
/// folds the job into its summary, so the table holds the jobs that may
/// still run, tens of thousands, rather than each of a year's millions (a
/// 20M-GPU fleet's truths were 300 MB of fresh pages).
#[derive(Debug, Clone, Default)]
struct Truths {
    of: FxHashMap<JobId, JobTruth>,
    /// No truth is kept (see [`SimWorld::forget_truths`]): what would be
    /// added to one goes here and is dropped.
    off: bool,
    sink: JobTruth,
}

impl Truths {
    /// Job `job`'s truth, a new one if it has none yet (a throwaway one
    /// when truths are not kept).
    fn entry(&mut self, job: JobId) -> &mut JobTruth {
        if self.off {
            self.sink = JobTruth::default();
            return &mut self.sink;
        }
        self.of.entry(job).or_default()
    }

    /// Job `job`'s truth so far.
    fn get(&self, job: JobId) -> Option<&JobTruth> {
        self.of.get(&job)
    }
}

/// Per-cluster integrals, advanced lazily when the cluster changes.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClusterAcc {
    pub alloc: u64,
    pub up: u64,
    pub paid: u64,
    pub last: i64,
    pub alloc_s: f64,
    pub up_s: f64,
    pub paid_s: f64,
}

/// GPU-seconds of a job, split by what they bought. `alloc` is the sum of
/// the others: the conservation the tests hold.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct JobTruth {
    /// GPU-seconds allocated.
    pub alloc_gpu_s: f64,
    /// GPU-seconds of compute kept by checkpoints or completion.
    pub useful_gpu_s: f64,
    /// GPU-seconds writing checkpoints.
    pub ckpt_gpu_s: f64,
    /// GPU-seconds restarting.
    pub restart_gpu_s: f64,
    /// GPU-seconds of compute lost to interruptions (and, for a run the
    /// horizon cuts, the compute since its last checkpoint).
    pub lost_gpu_s: f64,
    /// GPU-seconds held as hot spares.
    pub spare_gpu_s: f64,
}

/// The GPU-seconds of two jobs (or two parts of a run) together.
impl std::ops::AddAssign for JobTruth {
    fn add_assign(&mut self, o: JobTruth) {
        self.alloc_gpu_s += o.alloc_gpu_s;
        self.useful_gpu_s += o.useful_gpu_s;
        self.ckpt_gpu_s += o.ckpt_gpu_s;
        self.restart_gpu_s += o.restart_gpu_s;
        self.lost_gpu_s += o.lost_gpu_s;
        self.spare_gpu_s += o.spare_gpu_s;
    }
}

impl JobTruth {
    /// Adds what run `r` bought in `held_s` seconds, split as `o` says.
    fn add(&mut self, r: &SimRun, o: &run::RunOutcome, held_s: i64) {
        let g = r.working as f64;
        let dt = held_s.max(0) as f64;
        self.alloc_gpu_s += r.gpus as f64 * dt;
        self.spare_gpu_s += (r.gpus - r.working) as f64 * dt;
        self.useful_gpu_s += g * o.saved_s as f64;
        self.ckpt_gpu_s += g * o.ckpt_s as f64;
        self.restart_gpu_s += g * o.restart_s as f64;
        self.lost_gpu_s += g * o.lost_s as f64;
    }
}

/// A run the world is running.
#[derive(Debug, Clone)]
struct SimRun {
    /// Its job (or replica set).
    job: JobId,
    /// Which attempt of its job it is.
    attempt: u32,
    /// It ended in an interruption this instant and still holds its domains
    /// for the restart the controller may dispatch in its place (see
    /// [`SimWorld::start`]); nothing else sees it, and the world's next step
    /// frees what was not taken over.
    ghost: bool,
    cluster: ClusterOrd,
    /// When it started.
    since: i64,
    /// Its GPUs on each domain: inline for a run of one or two domains
    /// (most of them), which then starts and ends without the allocator.
    parts: Parts,
    gpus: u32,
    /// The gang's GPUs (the rest are spares); 0 for a replica.
    working: u32,
    /// The truth of a training run; `None` for a replica.
    plan: Option<RunPlan>,
    /// Reference GPU-hours per second of compute.
    rate_h_per_s: f64,
    resume_gpu_h: f64,
    /// Progress last reported to the controller.
    reported_h: f64,
    stopping: bool,
    /// When a graceful stop was asked of it and it began writing a final
    /// checkpoint.
    saving_since: Option<i64>,
    /// It keeps a copy of each checkpoint in its peers' memory.
    in_memory: bool,
    /// Its hot-spare domains: idle, so losing one costs the run nothing.
    spares: Vec<DomainOrd>,
    /// GPUs per data-parallel replica group when it restarts partially
    /// (0: it restarts whole, from its checkpoint).
    group_gpus: u32,
    /// The failure ending it spared its peer groups: the failed group takes
    /// a peer's state, so nothing computed is lost.
    peer_recovery: bool,
    /// The failure that ends it took its peers' memory too (an outage of
    /// its whole cluster or region): only storage is left.
    memory_lost: bool,
    /// The service of a replica set.
    service: Option<ServiceId>,
    /// Replicas in a replica set (0 for a training run).
    replicas: u32,
    /// A replica set that loaded its model and serves.
    serving: bool,
}

impl SimRun {
    /// What it has kept if it stops at `t`.
    fn outcome_at(&self, p: &RunPlan, t: i64) -> run::RunOutcome {
        if self.peer_recovery {
            // The surviving groups hold the current state: as if a
            // checkpoint of everything computed landed at once.
            return p.stopped_with_checkpoint(t, t);
        }
        p.stopped_keeping(t, self.in_memory && !self.memory_lost)
    }
}

/// How the world's jobs checkpoint and restart, unless a job says otherwise:
/// the scenario's `[scenario.checkpoint]` in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Practice {
    persist_s: f64,
    in_memory: bool,
    detect_s: f64,
    init_s_per_gpu: f64,
    group_gpus: u32,
    partial: PartialRestart,
}

/// The simulated world behind the [`Backend`] trait.
pub struct SimWorld {
    pub(crate) topo: Arc<Topology>,
    heap: crate::timed::Timed<WorldEv>,
    /// Finish events of runs that ended before them, still in the heap:
    /// swept once they are half of it (a 65,536-GPU gang interrupted
    /// thirty times a day left thousands, and the heap grew to millions).
    stale_finish: usize,
    pub(crate) now: i64,
    pub(crate) start_s: i64,
    pub(crate) end_s: i64,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) cfg: FailureSpec,
    restart_overhead_s: f64,
    practice: Practice,
    /// Jobs whose last run ended in a failure: their next start first waits
    /// for the failure to be detected; true when only one replica group
    /// restarts (partial restart).
    interrupted: FxHashMap<JobId, (bool, i64)>,
    /// Each NVLink domain: its runs, GPUs used, and whether it is up.
    pub(crate) doms: Vec<Dom>,
    /// Compute trays of each domain out for a swap.
    pub(crate) trays_out: Vec<u16>,
    /// GPU prefix sums over clusters, for drawing a GPU uniformly.
    pub(crate) gpu_prefix: Vec<u64>,
    pub(crate) spot_prefix: Vec<(u64, ClusterOrd)>,
    pub(crate) max_spot_rate: f64,
    /// The run of each job (or replica set) on the world, by slot.
    runs: Runs,
    /// The lists of runs of domains shared by more than a few.
    pub(crate) spill: Spill,
    /// Jobs whose interrupted run is a ghost, to free at the next step.
    ghosts: Vec<JobId>,
    /// The cluster the last run started on (see [`SimWorld::start`]).
    last_cluster: ClusterOrd,
    /// Per domain, scratch marks for matching a restart's placement with
    /// its ghost's domains: (stamp, GPUs).
    marks: Vec<(u32, u32)>,
    stamp: u32,
    pending: Vec<Report>,
    /// An empty buffer for the next reports, given back by the engine once
    /// it has fed the last ones to the controller: most events end in a
    /// report or two, and a fresh list per batch was a malloc per event.
    spare_reports: Vec<Report>,
    pub(crate) acc: Vec<ClusterAcc>,
    pub(crate) site_w: Vec<u64>,
    total_w: u64,
    truth: Truths,
    /// GPU-seconds of replicas that ended; those running count from their
    /// `since` (kept in the run, not in a map of its own: one hash insert
    /// and remove fewer per replica, of which a 20M-GPU year has ~10^8).
    replica_gpu_s: f64,
    /// What the world counted.
    pub counters: WorldCounters,
    /// Seconds a run takes to stop after it is asked to.
    pub stop_latency_s: i64,
    /// How site meters read power, when they are read.
    metering: Option<power::Metering>,
    /// Seconds each service's replicas load their model before serving.
    model_load_s: FxHashMap<ServiceId, i64>,
    /// Replicas serving per service, by zone and accelerator ordinal
    /// (`zone × accelerators + accelerator`): where requests can go.
    serving: FxHashMap<ServiceId, Vec<u32>>,
}

impl SimWorld {
    /// A world for `topo` from `start_s` to `end_s`, breaking things as
    /// `failures` says, its randomness drawn from `rng`. Ramps and failure
    /// processes are scheduled from the start.
    pub fn new(
        topo: Arc<Topology>,
        failures: FailureSpec,
        restart_overhead_s: f64,
        rng: ChaCha8Rng,
        start_s: i64,
        end_s: i64,
    ) -> SimWorld {
        let mut gpu_prefix = Vec::with_capacity(topo.clusters.len() + 1);
        let mut spot_prefix = Vec::new();
        let (mut total, mut spot_total) = (0u64, 0u64);
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
        let n_dom = topo.n_domains();
        let mut w = SimWorld {
            acc: vec![
                ClusterAcc {
                    last: start_s,
                    ..ClusterAcc::default()
                };
                topo.clusters.len()
            ],
            site_w: vec![0; topo.sites.len()],
            total_w: 0,
            heap: crate::timed::Timed::new(),
            stale_finish: 0,
            now: start_s,
            start_s,
            end_s,
            rng,
            cfg: failures,
            restart_overhead_s,
            practice: Practice::default(),
            interrupted: FxHashMap::default(),
            doms: vec![Dom::default(); n_dom],
            trays_out: vec![0; n_dom],
            gpu_prefix,
            spot_prefix,
            max_spot_rate,
            runs: Runs::default(),
            spill: Spill::default(),
            last_cluster: ClusterOrd::MAX,
            ghosts: Vec::new(),
            marks: Vec::new(),
            stamp: 0,
            pending: Vec::new(),
            spare_reports: Vec::new(),
            truth: Truths::default(),
            replica_gpu_s: 0.0,
            counters: WorldCounters {
                site_peak_w: vec![0; topo.sites.len()],
                ..WorldCounters::default()
            },
            stop_latency_s: 0,
            metering: None,
            model_load_s: FxHashMap::default(),
            serving: FxHashMap::default(),
            topo,
        };
        w.schedule_start();
        w
    }

    /// A world over a fleet document alone: every domain online from the
    /// start, no failures (the conformance suite's world).
    pub fn quiet(topo: Arc<Topology>, start_s: i64, end_s: i64) -> SimWorld {
        let f = FailureSpec {
            gpu_interruptions_per_gpu_day: 0.0,
            domain_failures_per_domain_year: 0.0,
            cluster_outages_per_year: 0.0,
            region_outages_per_year: 0.0,
            ..FailureSpec::default()
        };
        let mut w = SimWorld::new(topo, f, 600.0, ChaCha8Rng::seed_from_u64(0), start_s, end_s);
        w.max_spot_rate = 0.0;
        w.spot_prefix.clear();
        w
    }

    pub(crate) fn push(&mut self, t: i64, ev: WorldEv) {
        self.heap.push(t, ev);
    }

    pub(crate) fn push_after(&mut self, gap_s: f64, ev: WorldEv) {
        if gap_s.is_finite() {
            let t = self.now + gap_s.ceil().max(1.0) as i64;
            if t < self.end_s {
                self.push(t, ev);
            }
        }
    }

    /// Seconds every run takes to start (and, with its checkpoint read, to
    /// restart) on this world's hardware.
    pub fn set_restart_overhead_s(&mut self, s: f64) {
        self.restart_overhead_s = s.max(0.0);
    }

    /// How runs checkpoint and restart when their job does not say:
    /// `[scenario.checkpoint]`'s persist time, in-memory replicas, detection
    /// time, initialisation per GPU and start-up overhead.
    pub fn set_checkpoint_practice(&mut self, c: &CheckpointSpec) {
        self.restart_overhead_s = (c.restart_overhead_min * 60.0).max(0.0);
        self.practice = Practice {
            persist_s: c.persist_min * 60.0,
            in_memory: c.in_memory_replicas,
            detect_s: c.detect_s,
            init_s_per_gpu: c.init_s_per_1k_gpus / 1000.0,
            group_gpus: c.replica_group_gpus,
            partial: c.partial_restart,
        };
    }

    /// Replicas of `service` load their model for `s` seconds before they
    /// serve (and are reported started).
    pub fn set_model_load_s(&mut self, service: ServiceId, s: f64) {
        let s = s.max(0.0).round() as i64;
        if s > 0 {
            self.model_load_s.insert(service, s);
        }
    }

    /// The world's clock.
    pub fn now(&self) -> i64 {
        self.now
    }

    /// When the world next does something by itself.
    pub fn next_at(&self) -> Option<i64> {
        self.heap.next_at()
    }

    /// Lets the world's next happening happen (its time becomes now).
    pub fn step(&mut self) {
        let Some((t, ev)) = self.heap.pop() else {
            return;
        };
        self.sweep_ghosts();
        self.now = self.now.max(t);
        if self.stale_finish > 4096 && self.stale_finish * 2 > self.heap.len() {
            self.sweep_finishes();
        }
        match ev {
            WorldEv::Finish(run, slot) => self.finish(run, slot),
            WorldEv::Ready(run) => {
                if self.run(run).is_some() {
                    self.serve(run);
                    self.pending.push(Report::Started { run });
                }
            }
            WorldEv::StopDone(run) => {
                if let Some(p) = self.end_run(run) {
                    self.pending.push(Report::Stopped {
                        run,
                        progress: Some(p),
                    });
                }
            }
            other => self.happen(other),
        }
    }

    /// Advances the world's clock to `t` without anything happening (the
    /// engine's own events move time too).
    pub fn advance(&mut self, t: i64) {
        if t > self.now {
            self.sweep_ghosts();
        }
        self.now = self.now.max(t);
    }

    /// Drops the Finish events [`Self::finish`] would ignore (their run
    /// ended, or is stopping, or finishes at another time).
    fn sweep_finishes(&mut self) {
        let runs = &self.runs;
        self.heap.retain(|t, ev| match ev {
            WorldEv::Finish(run, slot) => runs
                .live_at(*slot, *run)
                .is_some_and(|r| !r.stopping && r.plan.is_some_and(|p| p.finish_at() == t)),
            _ => true,
        });
        self.stale_finish = 0;
    }

    fn finish(&mut self, run: RunId, slot: Slot) {
        let Some(r) = self.runs.live_at(slot, run) else {
            return;
        };
        if r.stopping || r.plan.is_none_or(|p| p.finish_at() != self.now) {
            return;
        }
        self.end_run_in(run, slot, false);
        self.pending.push(Report::Finished { run });
    }

    /// Advances cluster `c`'s integrals to now.
    pub(crate) fn touch(&mut self, c: usize) {
        let a = &mut self.acc[c];
        let dt = (self.now - a.last) as f64;
        if dt > 0.0 {
            a.alloc_s += a.alloc as f64 * dt;
            a.up_s += a.up as f64 * dt;
            a.paid_s += a.paid as f64 * dt;
            a.last = self.now;
        }
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
                self.counters.power_violations += 1;
            }
            let pk = &mut self.counters.site_peak_w[site];
            *pk = (*pk).max(self.site_w[site]);
            self.counters.peak_w = self.counters.peak_w.max(self.total_w);
        }
    }

    /// What run `r` has kept if it stops now, and its truth accounted.
    fn progress_now(&self, r: &SimRun) -> Option<Progress> {
        let p = r.plan?;
        let o = r.outcome_at(&p, self.now);
        Some(Progress {
            done_gpu_h: r.resume_gpu_h + o.saved_s as f64 * r.rate_h_per_s,
            at_s: o.last_ckpt_s,
        })
    }

    /// Ends a run now: its GPUs are free, its truth accounted. Returns the
    /// progress it kept (`None` for a replica or an unknown run).
    pub(crate) fn end_run(&mut self, run: RunId) -> Option<Progress> {
        self.end_run_as(run, false)
    }

    /// Ends a run now, as [`Self::end_run`]; an interrupted training run
    /// (`ghost`) keeps its domains listed until the world's next step, for
    /// the restart in its place that usually follows at once: a gang of
    /// hundreds of domains restarted after losing one then moves only that
    /// one.
    fn end_run_as(&mut self, run: RunId, ghost: bool) -> Option<Progress> {
        let s = self.live_slot(run)?;
        self.end_run_in(run, s, ghost)
    }

    /// [`Self::end_run_as`] for the live run `run` in slot `s`.
    fn end_run_in(&mut self, run: RunId, s: Slot, ghost: bool) -> Option<Progress> {
        let mut r = self.runs.take(s)?;
        let ghost = ghost && r.plan.is_some();
        if !ghost {
            self.unlist_all(s, &r.parts);
        }
        self.alloc_change(r.cluster, -(r.gpus as i64));
        if let Some(sid) = r.service.filter(|_| r.serving) {
            self.count_serving(sid, r.cluster, -(r.replicas as i32));
        }
        let progress = self.account_end(run, &r);
        if ghost {
            r.ghost = true;
            self.runs.restore(s, r);
            self.ghosts.push(run.job);
        } else {
            self.runs.release(s, run.job);
        }
        progress
    }

    /// Accounts the truth of run `r` ending now.
    fn account_end(&mut self, run: RunId, r: &SimRun) -> Option<Progress> {
        if r.plan.is_none() {
            self.replica_gpu_s += (self.now - r.since) as f64 * r.gpus as f64;
        }
        let plan = r.plan?;
        let done = plan.finish_at() <= self.now;
        if !done && plan.finish_at() < self.end_s {
            self.stale_finish += 1;
        }
        let o = match r.saving_since {
            _ if done => plan.completed(),
            Some(asked) => plan.stopped_with_checkpoint(asked, self.now),
            None => r.outcome_at(&plan, self.now),
        };
        self.truth
            .entry(run.job)
            .add(r, &o, self.now - plan.start_s);
        Some(Progress {
            done_gpu_h: r.resume_gpu_h + o.saved_s as f64 * r.rate_h_per_s,
            at_s: o.last_ckpt_s,
        })
    }

    /// The live runs with GPUs on domain `d`, in the order they arrived,
    /// with the GPUs each holds there.
    pub(crate) fn runs_on(&self, d: DomainOrd) -> impl Iterator<Item = (RunId, u32)> + '_ {
        self.doms[d as usize]
            .runs(&self.spill)
            .iter()
            .filter_map(move |&s| {
                let r = self.runs.at(s).filter(|r| !r.ghost)?;
                let g = r.parts.iter().filter(|p| p.0 == d).map(|p| p.1).sum();
                Some((
                    RunId {
                        job: r.job,
                        attempt: r.attempt,
                    },
                    g,
                ))
            })
    }

    /// Whether run `run` holds domain `d` as an idle hot spare.
    pub(crate) fn holds_as_spare(&self, run: RunId, d: DomainOrd) -> bool {
        self.run(run).is_some_and(|r| r.spares.contains(&d))
    }

    /// Whether a run is a training run.
    pub(crate) fn is_training(&self, run: RunId) -> bool {
        self.run(run).is_some_and(|r| r.plan.is_some())
    }

    /// Reports the latest checkpoint of a run the controller has not heard
    /// of yet: a real controller learns of checkpoints as they complete, and
    /// the world tells it lazily, just before anything it would matter for.
    pub(crate) fn report_checkpoint(&mut self, run: RunId) {
        let Some(r) = self.run(run) else {
            return;
        };
        let Some(p) = self.progress_now(r) else {
            return;
        };
        if p.done_gpu_h > r.reported_h {
            if let Some(r) = self.run_mut(run) {
                r.reported_h = p.done_gpu_h;
            }
            self.pending.push(Report::Checkpointed { run, progress: p });
        }
    }

    /// A run dies mid-save: the checkpoint it was writing is not kept.
    fn abort_save(&mut self, run: RunId) {
        if let Some(r) = self.run_mut(run) {
            r.saving_since = None;
        }
    }

    /// Kills every run on `domains` (their hardware is gone), counting the
    /// training runs under `cause`.
    pub(crate) fn kill_on(&mut self, domains: &[DomainOrd], cause: CapacityCause) {
        // An outage of a whole cluster or region takes the peers holding a
        // run's in-memory checkpoint with it.
        let memory_lost = matches!(
            cause,
            CapacityCause::ClusterOutage | CapacityCause::RegionOutage
        );
        for &d in domains {
            while let Some(s) = self.doms[d as usize].run_at(&self.spill, 0) {
                // A run interrupted on an earlier domain of this report, or
                // this instant, is a ghost holding this one: it is gone.
                let Some(run) = self.listed(s) else {
                    if !self.evict_ghost(s, d) {
                        self.doms[d as usize].remove_at(&mut self.spill, 0);
                    }
                    continue;
                };
                if self
                    .run(run)
                    .is_some_and(|r| r.plan.is_some() && r.spares.contains(&d))
                {
                    self.drop_spare(run, d);
                    continue;
                }
                // A replica set with replicas elsewhere loses only these.
                if self
                    .run(run)
                    .is_some_and(|r| r.replicas > 0 && r.parts.len() > 1)
                {
                    self.drop_replicas(run, d);
                    continue;
                }
                self.abort_save(run);
                if let Some(r) = self.run_mut(run) {
                    r.memory_lost |= memory_lost;
                    r.peer_recovery = r.group_gpus > 0 && !memory_lost;
                }
                if self.is_training(run) {
                    let partial = self.run(run).is_some_and(|r| r.peer_recovery);
                    self.interrupted.insert(run.job, (partial, self.now));
                    self.report_checkpoint(run);
                    *self.counters.interruptions.of_cause(cause) += 1;
                }
                // Its other domains stay up: a ghost holds them for a
                // restart in place; this one is gone.
                self.end_run_as(run, true);
                self.evict_ghost(s, d);
            }
        }
    }

    /// A hot-spare domain of a run failed: the run gives it up and goes on.
    /// Its GPU-seconds until now were spare time.
    fn drop_spare(&mut self, run: RunId, d: DomainOrd) {
        let now = self.now;
        let Some(r) = self.run_mut(run) else {
            return;
        };
        let Some(k) = r.parts.iter().position(|p| p.0 == d) else {
            return;
        };
        let (_, g) = r.parts.remove(k);
        r.spares.retain(|&x| x != d);
        r.gpus -= g;
        let cluster = r.cluster;
        let held = (now - r.plan.map_or(now, |p| p.start_s)).max(0) as f64 * g as f64;
        let t = self.truth.entry(run.job);
        t.alloc_gpu_s += held;
        t.spare_gpu_s += held;
        if let Some(s) = self.runs.slot(run.job) {
            self.doms[d as usize].unlist(&mut self.spill, s);
        }
        self.doms[d as usize].used -= g;
        self.alloc_change(cluster, -(g as i64));
        self.counters.spares_lost += 1;
    }

    /// A fault stops a run while the rest of its hardware stays up: a
    /// software fault, or a GPU whose compute tray an in-rack spare
    /// replaced. It may restart where it was.
    pub(crate) fn crash(&mut self, run: RunId, category: FailureCategory) {
        if !self.is_training(run) {
            return;
        }
        match category {
            FailureCategory::Hardware => self.counters.interruptions.gpu_failure += 1,
            _ => self.counters.interruptions.software += 1,
        }
        let partial = match self.run_mut(run) {
            Some(r) => {
                r.peer_recovery = r.group_gpus > 0;
                r.peer_recovery
            }
            None => false,
        };
        self.interrupted.insert(run.job, (partial, self.now));
        self.abort_save(run);
        // Its hardware is intact: a ghost holds it for the restart in place.
        let p = self.end_run_as(run, true);
        self.pending.push(Report::Failed {
            run,
            category,
            progress: p,
        });
    }

    /// Makes a run vanish without a capacity report (the conformance
    /// suite's lost run).
    pub fn lose(&mut self, run: RunId) {
        if self.is_training(run) {
            self.interrupted.insert(run.job, (false, self.now));
        }
        self.abort_save(run);
        if let Some(p) = self.end_run(run) {
            self.pending.push(Report::Lost {
                run,
                progress: Some(p),
            });
        }
    }

    /// Starts a run nobody dispatched (one left over from before a crash):
    /// it is reported as unknown.
    pub fn inject_foreign(&mut self, spec: &RunSpec) {
        if self.start(spec).is_ok() {
            self.pending.retain(|r| r.run() != Some(spec.run));
            self.pending.push(Report::Unknown {
                run: spec.run,
                cluster: spec.placement.cluster.to_string(),
            });
        }
    }

    fn request_stop(&mut self, stop: &StopSpec) {
        let run = stop.run;
        let Some(r) = self
            .runs
            .get_mut(run.job)
            .filter(|r| r.attempt == run.attempt && !r.ghost)
        else {
            return;
        };
        if r.stopping {
            return;
        }
        r.stopping = true;
        match stop.reason {
            StopReason::Preempt => self.counters.preemptions += 1,
            StopReason::Release if r.plan.is_none() => {
                self.counters.replica_stops += r.replicas as u64
            }
            _ => {}
        }
        // A release is the controller giving the GPUs up: they are free for
        // the next dispatch at once, so the run stops at once. A replica
        // holds no state worth saving and stops at once too. A training run
        // whose grace covers a checkpoint writes one of all it computed and
        // then stops (what a job does on SIGTERM); otherwise it stops after
        // the backend's stop latency and keeps its last periodic checkpoint.
        // Its final checkpoint must reach storage: the memory of the hosts
        // it leaves goes to other work.
        let ckpt_s = r.plan.map_or(0, |p| p.ckpt_cost_s + p.persist_s);
        let latency = if r.plan.is_none() || stop.reason == StopReason::Release {
            0
        } else if stop.grace_s >= ckpt_s {
            r.saving_since = Some(self.now);
            ckpt_s
        } else {
            self.stop_latency_s.min(stop.grace_s.max(0))
        };
        if latency == 0 {
            let progress = self.end_run(stop.run);
            self.pending.push(Report::Stopped {
                run: stop.run,
                progress,
            });
        } else {
            self.push(self.now + latency, WorldEv::StopDone(stop.run));
        }
    }

    /// What one job's GPU-seconds bought, its run still going at `end_s`
    /// counted as stopped there.
    pub fn job_truth(&self, job: JobId, end_s: i64) -> JobTruth {
        let mut t = self.truth.get(job).copied().unwrap_or_default();
        if let Some(r) = self.runs.get(job).filter(|r| !r.ghost)
            && let Some(p) = r.plan
        {
            // The horizon ends the run between checkpoints: that compute is
            // not kept by anything, so it counts as lost.
            t.add(r, &r.outcome_at(&p, end_s), end_s - p.start_s);
        }
        t
    }

    /// Keeps no job's truth from now on: for a shell that never takes
    /// them (the live server's embedded world, whose jobs' history is the
    /// server's store), where each job's truth would stay for the life of
    /// the process.
    pub fn forget_truths(&mut self) {
        self.truth.off = true;
        self.truth.of = FxHashMap::default();
    }

    /// Jobs whose truth the world holds now.
    pub fn truths_held(&self) -> usize {
        self.truth.of.len()
    }

    /// Job `job`'s truth, handed over and forgotten, once the world holds
    /// no run of it; `None`, and nothing forgotten, while it does (a run
    /// the controller gave up waiting for still adds to it).
    pub fn take_truth(&mut self, job: JobId) -> Option<JobTruth> {
        // A ghost (see `ghosts`) has had its truth accounted already.
        if self.runs.get(job).is_some_and(|r| !r.ghost) {
            return None;
        }
        Some(self.truth.of.remove(&job).unwrap_or_default())
    }

    /// Takes back a list of reports [`Backend::observe`] returned, once
    /// its reports are handled, to hold the next ones.
    pub fn recycle_reports(&mut self, mut reports: Vec<Report>) {
        reports.clear();
        if reports.capacity() > self.spare_reports.capacity() {
            self.spare_reports = reports;
        }
    }

    /// Replica GPU-seconds up to `end_s`.
    pub fn replica_gpu_s(&self, end_s: i64) -> f64 {
        self.replica_gpu_s
            + self
                .runs
                .values()
                .filter(|r| r.plan.is_none() && !r.ghost)
                // Integer products: the sum is the same in any iteration order.
                .map(|r| (end_s - r.since) * r.gpus as i64)
                .sum::<i64>() as f64
    }
}

impl Backend for SimWorld {
    async fn dispatch(&mut self, now: i64, run: &RunSpec) -> Result<(), BackendError> {
        self.advance(now);
        self.start(run)
    }

    async fn stop(&mut self, now: i64, stop: &StopSpec) -> Result<(), BackendError> {
        self.advance(now);
        self.request_stop(stop);
        Ok(())
    }

    async fn shrink(&mut self, now: i64, shrink: &ShrinkSpec) -> Result<(), BackendError> {
        self.advance(now);
        self.shrink_set(shrink)
    }

    async fn observe(&mut self, now: i64) -> Result<Vec<Report>, BackendError> {
        self.advance(now);
        let next = std::mem::take(&mut self.spare_reports);
        Ok(std::mem::replace(&mut self.pending, next))
    }

    async fn capacity(&mut self, now: i64) -> Result<Vec<ClusterCapacity>, BackendError> {
        self.advance(now);
        Ok(self
            .topo
            .clusters
            .iter()
            .map(|c| ClusterCapacity {
                cluster: c.name.to_string(),
                reachable: true,
                online: (0..c.n_domains)
                    .filter(|&i| {
                        let d = (c.first_domain + i) as usize;
                        self.doms[d].built && self.doms[d].down == 0
                    })
                    .collect(),
                domain_gpus: c.domain_gpus,
            })
            .collect())
    }

    async fn runs(&mut self, now: i64) -> Result<Vec<RunId>, BackendError> {
        self.advance(now);
        // A run that ended is still had until its end is observed.
        let mut runs: Vec<RunId> = self
            .runs
            .values()
            .filter(|r| !r.ghost)
            .map(|r| RunId {
                job: r.job,
                attempt: r.attempt,
            })
            .collect();
        runs.extend(
            self.pending
                .iter()
                .filter(|r| r.ends_run())
                .filter_map(Report::run),
        );
        runs.sort_unstable();
        runs.dedup();
        Ok(runs)
    }
}
