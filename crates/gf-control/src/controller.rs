//! The controller proper: one closed [`Event`] enum in, one [`Action`] enum
//! out, and the job and service records between them.
//!
//! Every state change happens inside [`Controller::handle`]; the queries
//! ([`Controller::job`], [`Controller::slo`], ...) only read. The pending
//! queue is ordered by priority, then by submission, and a scheduling pass
//! stops after a bounded number of misses, so one pass costs the same on a
//! queue of ten jobs or of a hundred thousand.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use gf_model::scenario::{CheckpointPolicy, RetryBudget};
use gf_model::{JobSpec, ServiceSpec};
use gf_sched::{
    Alloc, AllocId, CapacityIndex, ClusterOrd, Decision, DomainOrd, Outcome, Policy, Request,
    Scheduler, ServiceRequest, Topology, WorkId,
};

use crate::run::{RunOutcome, RunPlan, young_daly_interval_s};

/// Identity of a training job, chosen by whoever submits it.
pub type JobId = u64;
/// Identity of an inference service, chosen by whoever submits it.
pub type ServiceId = u32;

/// Work ids of service replicas live above this, so they never collide with job ids.
const REPLICA_BASE: WorkId = 1 << 62;

/// Latency a request pays to be served from another zone; a service whose
/// SLO is tighter can only be served well from its users' own zone.
pub const CROSS_ZONE_MS: f64 = 150.0;

/// Why a run stopped, for retry budgets (Armada's categories).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureCategory {
    /// GPUs, hosts, racks, clusters or regions failed.
    Hardware,
    /// The job's own software crashed or hung.
    Software,
    /// Preempted by higher-priority work, or spot capacity taken back.
    Preemption,
}

impl FailureCategory {
    /// Every category, in index order.
    pub const ALL: [FailureCategory; 3] = [
        FailureCategory::Hardware,
        FailureCategory::Software,
        FailureCategory::Preemption,
    ];

    /// Name used in output.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCategory::Hardware => "hardware",
            FailureCategory::Software => "software",
            FailureCategory::Preemption => "preemption",
        }
    }
}

/// Why capacity came or went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CapacityCause {
    /// A dated ramp step of the fleet file.
    Ramp,
    /// A GPU (and so its host or rack) failed.
    GpuFailure,
    /// A whole NVLink domain failed.
    DomainFailure,
    /// A cluster's fabric or storage went down.
    ClusterOutage,
    /// A provider region went down.
    RegionOutage,
    /// The provider took spot capacity back.
    SpotReclaim,
    /// Failed capacity came back.
    Repair,
}

impl CapacityCause {
    /// Every cause, in index order.
    pub const ALL: [CapacityCause; 7] = [
        CapacityCause::Ramp,
        CapacityCause::GpuFailure,
        CapacityCause::DomainFailure,
        CapacityCause::ClusterOutage,
        CapacityCause::RegionOutage,
        CapacityCause::SpotReclaim,
        CapacityCause::Repair,
    ];

    /// Name used in output.
    pub fn as_str(self) -> &'static str {
        match self {
            CapacityCause::Ramp => "ramp",
            CapacityCause::GpuFailure => "gpu_failure",
            CapacityCause::DomainFailure => "domain_failure",
            CapacityCause::ClusterOutage => "cluster_outage",
            CapacityCause::RegionOutage => "region_outage",
            CapacityCause::SpotReclaim => "spot_reclaim",
            CapacityCause::Repair => "repair",
        }
    }

    /// The retry budget a loss of capacity for this cause draws on.
    pub fn category(self) -> FailureCategory {
        match self {
            CapacityCause::Ramp | CapacityCause::SpotReclaim => FailureCategory::Preemption,
            _ => FailureCategory::Hardware,
        }
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobState {
    /// Waiting for its first placement.
    Pending,
    /// Dispatched, not yet reported started.
    Placed,
    /// Running.
    Running,
    /// Stopped by a failure or preemption, waiting to be placed again.
    Interrupted,
    /// Dispatched again, reading its last checkpoint.
    Restarting,
    /// Done.
    Completed,
    /// A retry budget ran out, or the job cannot be placed at all.
    Failed,
    /// Cancelled by its owner.
    Cancelled,
}

impl JobState {
    /// Name used in output.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Placed => "placed",
            JobState::Running => "running",
            JobState::Interrupted => "interrupted",
            JobState::Restarting => "restarting",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Completed, failed or cancelled.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Completed | JobState::Failed | JobState::Cancelled
        )
    }
}

/// Everything that can happen to the controller.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A training job was submitted.
    JobSubmitted {
        /// Its identity.
        job: JobId,
        /// What it is.
        spec: Box<JobSpec>,
    },
    /// Its owner cancelled a job.
    JobCancelled {
        /// The job.
        job: JobId,
    },
    /// An inference service was submitted.
    ServiceSubmitted {
        /// Its identity.
        service: ServiceId,
        /// What it is.
        spec: Box<ServiceSpec>,
        /// Replicas are sized for demand × headroom.
        headroom: f64,
    },
    /// The current demand of a service, requests per second per zone ordinal.
    DemandObserved {
        /// The service.
        service: ServiceId,
        /// Demand by zone.
        rps_by_zone: Vec<(u32, f64)>,
    },
    /// NVLink domains came online or went offline.
    CapacityChanged {
        /// The domains.
        domains: Vec<DomainOrd>,
        /// Online now, or offline now.
        online: bool,
        /// Why.
        cause: CapacityCause,
    },
    /// The backend started a dispatched run.
    JobStarted {
        /// The job.
        job: JobId,
        /// The run.
        attempt: u32,
    },
    /// The backend reports a run finished its work.
    JobFinished {
        /// The job.
        job: JobId,
        /// The run.
        attempt: u32,
    },
    /// The backend reports a run crashed; the hardware under it is fine.
    JobFailed {
        /// The job.
        job: JobId,
        /// The run.
        attempt: u32,
        /// Why.
        category: FailureCategory,
    },
    /// The backend lost a run (its hosts vanished without a capacity report).
    JobLost {
        /// The job.
        job: JobId,
        /// The run.
        attempt: u32,
    },
    /// The backend reports a checkpoint written.
    Checkpointed {
        /// The job.
        job: JobId,
        /// The run.
        attempt: u32,
    },
    /// Timer: a job's checkpoint is due (for backends that checkpoint on request).
    CheckpointDue {
        /// The job.
        job: JobId,
        /// The run.
        attempt: u32,
    },
    /// Billing reports the spend accrued against a contract so far.
    SpendReported {
        /// Contract ordinal.
        contract: u32,
        /// Spend, USD.
        usd: f64,
    },
    /// Timer: place what is pending.
    ScheduleTick,
    /// Timer: size every service to its demand.
    AutoscaleTick,
}

/// Everything the controller asks its shell to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Start a run of a job on an allocation.
    Dispatch {
        /// The job.
        job: JobId,
        /// The run, counted from 1; reports about older runs are ignored.
        attempt: u32,
        /// Where.
        cluster: ClusterOrd,
        /// GPUs held (the gang plus any hot spares).
        gpus: u32,
        /// How long it runs and when it checkpoints.
        plan: RunPlan,
    },
    /// Stop a run to make room for more important work.
    Preempt {
        /// The victim.
        job: JobId,
        /// Its run.
        attempt: u32,
        /// Where it ran.
        cluster: ClusterOrd,
        /// GPUs freed.
        gpus: u32,
    },
    /// Stop a run its owner cancelled.
    Cancel {
        /// The job.
        job: JobId,
        /// Its run.
        attempt: u32,
        /// Where it ran.
        cluster: ClusterOrd,
        /// GPUs freed.
        gpus: u32,
    },
    /// The capacity under a run went away; its allocation is given up.
    Release {
        /// The job.
        job: JobId,
        /// Its run.
        attempt: u32,
        /// Where it ran.
        cluster: ClusterOrd,
        /// GPUs freed.
        gpus: u32,
        /// Why.
        cause: CapacityCause,
    },
    /// A hot-spare domain took a failed one's place; the failed part is given up.
    Shrink {
        /// The job.
        job: JobId,
        /// Its cluster.
        cluster: ClusterOrd,
        /// GPUs given up.
        gpus: u32,
    },
    /// A service's replica set changed.
    Scale {
        /// The service.
        service: ServiceId,
        /// Replicas started: work id, cluster, GPUs.
        started: Vec<(WorkId, ClusterOrd, u32)>,
        /// Replicas stopped: work id, cluster, GPUs.
        stopped: Vec<(WorkId, ClusterOrd, u32)>,
        /// Replicas after the change.
        replicas: u32,
    },
    /// Write a checkpoint now.
    Checkpoint {
        /// The job.
        job: JobId,
        /// Its run.
        attempt: u32,
    },
    /// A job reached a terminal state.
    Ended {
        /// The job.
        job: JobId,
        /// Completed, failed or cancelled.
        state: JobState,
    },
}

/// How the controller behaves; none of it is about the world it runs in.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlConfig {
    /// How checkpoint intervals are chosen for jobs that give none.
    pub checkpoint: CheckpointPolicy,
    /// Interval under the fixed policy, seconds.
    pub fixed_interval_s: f64,
    /// Seconds to reschedule and initialise a run, on top of reading a checkpoint.
    pub restart_overhead_s: f64,
    /// Expected interruptions per GPU-second, for Young/Daly.
    pub interruptions_per_gpu_s: f64,
    /// Retries per failure category.
    pub retry: RetryBudget,
    /// Gangs of at least this many GPUs hold hot spares.
    pub hot_spare_min_gpus: u32,
    /// Spare NVLink domains such a gang holds.
    pub hot_spare_domains: u32,
    /// A scheduling pass stops after this many jobs in a row did not fit.
    pub max_pass_misses: u32,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            checkpoint: CheckpointPolicy::YoungDaly,
            fixed_interval_s: 3600.0,
            restart_overhead_s: 600.0,
            interruptions_per_gpu_s: gf_model::scenario::LLAMA3_INTERRUPTIONS_PER_GPU_DAY
                / 86_400.0,
            retry: RetryBudget::default(),
            hot_spare_min_gpus: 8192,
            hot_spare_domains: 2,
            max_pass_misses: 24,
        }
    }
}

/// GPU-seconds of a job, split by what they bought. `alloc` is the sum of
/// the others: the conservation the tests hold.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct JobStats {
    /// GPU-seconds allocated.
    pub alloc_gpu_s: f64,
    /// GPU-seconds of compute kept by checkpoints or completion.
    pub useful_gpu_s: f64,
    /// GPU-seconds writing checkpoints.
    pub ckpt_gpu_s: f64,
    /// GPU-seconds restarting.
    pub restart_gpu_s: f64,
    /// GPU-seconds of compute lost to interruptions.
    pub lost_gpu_s: f64,
    /// GPU-seconds held as hot spares.
    pub spare_gpu_s: f64,
    /// Interruptions by [`FailureCategory`] index.
    pub interruptions: [u32; 3],
    /// Interruptions absorbed by a hot spare without requeueing.
    pub spare_swaps: u32,
    /// Seconds of the last loss (time since the last checkpoint), for tests and explain.
    pub last_lost_s: i64,
}

/// A job as the controller knows it.
#[derive(Debug, Clone)]
pub struct JobInfo {
    /// Its identity.
    pub id: JobId,
    /// What was submitted.
    pub spec: JobSpec,
    /// Where it is.
    pub state: JobState,
    /// Runs dispatched so far.
    pub attempt: u32,
    /// When it was submitted.
    pub submitted_s: i64,
    /// When it first started.
    pub first_start_s: Option<i64>,
    /// When it reached a terminal state.
    pub end_s: Option<i64>,
    /// Checkpoint interval chosen, seconds.
    pub interval_s: i64,
    /// Work done and kept, reference GPU-hours.
    pub done_gpu_h: f64,
    /// Where its GPU-seconds went.
    pub stats: JobStats,
    /// Why it is not running (pending) or why it ended (failed).
    pub reason: String,
    /// The current run's plan.
    pub plan: Option<RunPlan>,
    /// Its cluster while it holds an allocation.
    pub cluster: Option<ClusterOrd>,
    /// GPUs held now (the gang plus hot spares; 0 when not placed).
    pub alloc_gpus: u32,
    alloc: Option<AllocId>,
    req: Option<Request>,
    seq: u64,
}

/// One replica of a service.
#[derive(Debug, Clone)]
struct Replica {
    work: WorkId,
    alloc: AllocId,
    cluster: ClusterOrd,
    zone: u32,
    /// Index of its accelerator in the service's throughput list.
    tk: usize,
    provider: u32,
}

/// A service as the controller knows it.
#[derive(Debug, Clone)]
struct Service {
    id: ServiceId,
    spec: ServiceSpec,
    req: ServiceRequest,
    headroom: f64,
    demand: Vec<(u32, f64)>,
    replicas: Vec<Replica>,
    /// Replicas per zone and throughput entry, and per provider, kept in
    /// step with `replicas` so that sizing and SLO cost O(zones), not O(replicas).
    zone_count: Vec<Vec<u32>>,
    provider_count: Vec<u32>,
    next_seq: u64,
    dirty: bool,
}

impl Service {
    fn tally(&mut self, r: &Replica, add: bool) {
        let z = &mut self.zone_count[r.zone as usize][r.tk];
        let p = &mut self.provider_count[r.provider as usize];
        if add {
            *z += 1;
            *p += 1;
        } else {
            *z -= 1;
            *p -= 1;
        }
    }

    /// Requests per second the replicas in zone `z` serve.
    fn cap(&self, z: usize) -> f64 {
        self.zone_count[z]
            .iter()
            .zip(&self.req.throughput)
            .map(|(&n, t)| n as f64 * t.1)
            .sum()
    }
}

/// A service's state for reports.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceInfo {
    /// Its identity.
    pub id: ServiceId,
    /// Its name.
    pub name: String,
    /// Replicas running.
    pub replicas: u32,
    /// Replicas per zone ordinal.
    pub by_zone: Vec<(u32, u32)>,
}

/// Demand and the part of it served within the latency SLO.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Slo {
    /// Requests per second asked for.
    pub demand_rps: f64,
    /// Requests per second served within the SLO.
    pub served_rps: f64,
}

#[derive(Debug, Clone, Copy)]
enum Owner {
    Job(u32),
    Replica(u32),
}

/// The controller of one fleet.
pub struct Controller {
    topo: Arc<Topology>,
    sched: Scheduler,
    cfg: ControlConfig,
    jobs: Vec<JobInfo>,
    by_id: HashMap<JobId, u32>,
    /// Pending and interrupted jobs: highest priority first, then oldest.
    queue: BTreeSet<(Reverse<u32>, u64, u32)>,
    services: Vec<Service>,
    svc_by_id: HashMap<ServiceId, u32>,
    owners: Vec<Option<Owner>>,
    /// Allocations per domain: the scheduler keeps them per cluster, and a
    /// failure must find a domain's work without scanning its cluster.
    by_domain: Vec<Vec<AllocId>>,
    dirty: bool,
    seq: u64,
    preemptions: u64,
}

impl Controller {
    /// A controller over a fleet whose capacity is `index` (the shell brings
    /// the rest online with [`Event::CapacityChanged`]).
    pub fn new(
        topo: Arc<Topology>,
        index: CapacityIndex,
        policy: Policy,
        seed: u64,
        cfg: ControlConfig,
    ) -> Self {
        let sched = Scheduler::with_index(Arc::clone(&topo), index, policy, seed);
        let n_domains = topo.n_domains();
        Controller {
            topo,
            sched,
            cfg,
            jobs: Vec::new(),
            by_id: HashMap::new(),
            queue: BTreeSet::new(),
            services: Vec::new(),
            svc_by_id: HashMap::new(),
            owners: Vec::new(),
            by_domain: vec![Vec::new(); n_domains],
            dirty: false,
            seq: 0,
            preemptions: 0,
        }
    }

    /// The scheduler (read-only: placement state for reports and invariants).
    pub fn scheduler(&self) -> &Scheduler {
        &self.sched
    }

    /// The fleet.
    pub fn topology(&self) -> &Arc<Topology> {
        &self.topo
    }

    /// Every job, in submission order.
    pub fn jobs(&self) -> &[JobInfo] {
        &self.jobs
    }

    /// One job.
    pub fn job(&self, id: JobId) -> Option<&JobInfo> {
        self.by_id.get(&id).map(|&i| &self.jobs[i as usize])
    }

    /// Jobs waiting to be placed.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// Preemptions so far.
    pub fn preemptions(&self) -> u64 {
        self.preemptions
    }

    /// The job or service replica holding an allocation.
    pub fn owner_of(&self, alloc: AllocId) -> Option<Result<JobId, ServiceId>> {
        match self.owners.get(alloc as usize).copied().flatten()? {
            Owner::Job(j) => Some(Ok(self.jobs[j as usize].id)),
            Owner::Replica(s) => Some(Err(self.services[s as usize].id)),
        }
    }

    /// Allocations holding GPUs on domain `d`, oldest first.
    pub fn allocs_on_domain(&self, d: DomainOrd) -> Vec<AllocId> {
        self.by_domain.get(d as usize).cloned().unwrap_or_default()
    }

    fn untrack_domain(&mut self, a: AllocId, d: DomainOrd) {
        if let Some(v) = self.by_domain.get_mut(d as usize)
            && let Some(i) = v.iter().position(|&x| x == a)
        {
            v.remove(i);
        }
    }

    /// Releases an allocation, keeping the per-domain lists in step.
    fn release(&mut self, a: AllocId) -> Result<Alloc, gf_sched::SchedError> {
        let parts: Vec<DomainOrd> = self
            .sched
            .alloc(a)
            .map(|x| x.parts.iter().map(|p| p.0).collect())
            .unwrap_or_default();
        for d in parts {
            self.untrack_domain(a, d);
        }
        self.sched.release(a)
    }

    /// Every service.
    pub fn services(&self) -> Vec<ServiceInfo> {
        self.services
            .iter()
            .map(|s| {
                let mut by_zone: Vec<(u32, u32)> = Vec::new();
                for r in &s.replicas {
                    match by_zone.iter_mut().find(|z| z.0 == r.zone) {
                        Some(z) => z.1 += 1,
                        None => by_zone.push((r.zone, 1)),
                    }
                }
                by_zone.sort_unstable();
                ServiceInfo {
                    id: s.id,
                    name: s.spec.name.clone(),
                    replicas: s.replicas.len() as u32,
                    by_zone,
                }
            })
            .collect()
    }

    /// Demand and demand served within the SLO for a service right now:
    /// replicas serve their own zone first; what they have left serves other
    /// zones only when the SLO leaves room for the cross-zone latency.
    pub fn slo(&self, service: ServiceId) -> Slo {
        let Some(&i) = self.svc_by_id.get(&service) else {
            return Slo::default();
        };
        let s = &self.services[i as usize];
        let mut left = vec![0.0f64; s.zone_count.len()];
        for &(z, r) in &s.demand {
            if let Some(x) = left.get_mut(z as usize) {
                *x += r;
            }
        }
        let demand: f64 = left.iter().sum();
        let mut spare = 0.0;
        let mut served = 0.0;
        for (z, l) in left.iter_mut().enumerate() {
            let c = s.cap(z);
            let x = c.min(*l);
            *l -= x;
            served += x;
            spare += c - x;
        }
        if s.spec.latency_slo_ms >= CROSS_ZONE_MS {
            let rest: f64 = left.iter().sum();
            served += spare.min(rest);
        }
        Slo {
            demand_rps: demand,
            served_rps: served,
        }
    }

    /// Handles one event at time `now` (seconds since the epoch) and returns
    /// what the shell must do, in order.
    pub fn handle(&mut self, now: i64, ev: Event) -> Vec<Action> {
        let mut out = Vec::new();
        match ev {
            Event::JobSubmitted { job, spec } => self.submit(now, job, *spec, &mut out),
            Event::JobCancelled { job } => self.cancel(now, job, &mut out),
            Event::ServiceSubmitted {
                service,
                spec,
                headroom,
            } => self.submit_service(service, *spec, headroom),
            Event::DemandObserved {
                service,
                rps_by_zone,
            } => {
                if let Some(&i) = self.svc_by_id.get(&service) {
                    self.services[i as usize].demand = rps_by_zone;
                }
            }
            Event::CapacityChanged {
                domains,
                online,
                cause,
            } => self.capacity(now, &domains, online, cause, &mut out),
            Event::JobStarted { job, attempt } => {
                if let Some(j) = self.current(job, attempt) {
                    let j = &mut self.jobs[j];
                    if matches!(j.state, JobState::Placed | JobState::Restarting) {
                        j.state = JobState::Running;
                    }
                }
            }
            Event::JobFinished { job, attempt } => {
                if let Some(j) = self.current(job, attempt) {
                    self.finish(now, j, &mut out);
                }
            }
            Event::JobFailed {
                job,
                attempt,
                category,
            } => {
                if let Some(j) = self.current(job, attempt) {
                    self.restart_in_place(now, j, category, &mut out);
                }
            }
            Event::JobLost { job, attempt } => {
                if let Some(j) = self.current(job, attempt) {
                    self.interrupt(now, j, CapacityCause::GpuFailure, &mut out);
                }
            }
            Event::Checkpointed { job, attempt } => {
                if let Some(j) = self.current(job, attempt)
                    && let Some(a) = self.jobs[j].alloc
                {
                    self.sched.checkpointed(a, now);
                }
            }
            Event::CheckpointDue { job, attempt } => {
                if self.current(job, attempt).is_some() {
                    out.push(Action::Checkpoint { job, attempt });
                }
            }
            Event::SpendReported { contract, usd } => self.sched.set_contract_spend(contract, usd),
            Event::ScheduleTick => {
                for s in 0..self.services.len() {
                    if self.services[s].dirty {
                        self.scale(now, s, &mut out);
                    }
                }
                if self.dirty {
                    self.pass(now, &mut out);
                }
            }
            Event::AutoscaleTick => {
                for s in 0..self.services.len() {
                    self.scale(now, s, &mut out);
                }
                if self.dirty {
                    self.pass(now, &mut out);
                }
            }
        }
        out
    }

    /// The job index if `attempt` is its current run and it holds an allocation.
    fn current(&self, job: JobId, attempt: u32) -> Option<usize> {
        let &i = self.by_id.get(&job)?;
        let j = &self.jobs[i as usize];
        (j.attempt == attempt && j.alloc.is_some()).then_some(i as usize)
    }

    fn interval_for(&self, spec: &JobSpec) -> i64 {
        if let Some(m) = spec.checkpoint_interval_min {
            return (m * 60.0).max(1.0) as i64;
        }
        let s = match self.cfg.checkpoint {
            CheckpointPolicy::Fixed => self.cfg.fixed_interval_s,
            CheckpointPolicy::YoungDaly => {
                let rate = self.cfg.interruptions_per_gpu_s * spec.gpus as f64;
                let mtbf = if rate > 0.0 {
                    1.0 / rate
                } else {
                    f64::INFINITY
                };
                // Never checkpoint less often than once a day: an unbounded
                // interval would make every preemption lose the whole run.
                young_daly_interval_s(spec.checkpoint_cost_min * 60.0, mtbf).min(86_400.0)
            }
        };
        s.max(60.0) as i64
    }

    fn submit(&mut self, now: i64, id: JobId, spec: JobSpec, out: &mut Vec<Action>) {
        if self.by_id.contains_key(&id) {
            // A resubmission of a known job is a duplicate delivery: jobs never run twice.
            return;
        }
        let interval_s = self.interval_for(&spec);
        let idx = self.jobs.len() as u32;
        self.seq += 1;
        let mut job = JobInfo {
            id,
            state: JobState::Pending,
            attempt: 0,
            submitted_s: now,
            first_start_s: None,
            end_s: None,
            interval_s,
            done_gpu_h: 0.0,
            stats: JobStats::default(),
            reason: "waiting for the next scheduling pass".into(),
            plan: None,
            cluster: None,
            alloc: None,
            alloc_gpus: 0,
            req: None,
            seq: self.seq,
            spec,
        };
        match Request::from_job(&self.topo, id, &job.spec) {
            Ok(mut req) => {
                req.checkpoint_interval_s = interval_s;
                if job.spec.gpus >= self.cfg.hot_spare_min_gpus && self.cfg.hot_spare_domains > 0 {
                    let dg = self.topo.catalog.entries()[req.accels[0] as usize].domain_gpus;
                    req.gpus += self.cfg.hot_spare_domains * dg;
                }
                job.req = Some(req);
                self.queue
                    .insert((Reverse(job.spec.priority), job.seq, idx));
                self.dirty = true;
            }
            Err(e) => {
                job.state = JobState::Failed;
                job.end_s = Some(now);
                job.reason = e.to_string();
                out.push(Action::Ended {
                    job: id,
                    state: JobState::Failed,
                });
            }
        }
        self.by_id.insert(id, idx);
        self.jobs.push(job);
    }

    fn cancel(&mut self, now: i64, id: JobId, out: &mut Vec<Action>) {
        let Some(&i) = self.by_id.get(&id) else {
            return;
        };
        let i = i as usize;
        if self.jobs[i].state.is_terminal() {
            return;
        }
        let key = (
            Reverse(self.jobs[i].spec.priority),
            self.jobs[i].seq,
            i as u32,
        );
        self.queue.remove(&key);
        if let Some((cluster, gpus)) = self.stop_run(now, i) {
            out.push(Action::Cancel {
                job: id,
                attempt: self.jobs[i].attempt,
                cluster,
                gpus,
            });
            self.dirty = true;
        }
        let j = &mut self.jobs[i];
        j.state = JobState::Cancelled;
        j.end_s = Some(now);
        j.reason = "cancelled by its owner".into();
        out.push(Action::Ended {
            job: id,
            state: JobState::Cancelled,
        });
    }

    fn submit_service(&mut self, id: ServiceId, spec: ServiceSpec, headroom: f64) {
        if self.svc_by_id.contains_key(&id) {
            return;
        }
        let base = REPLICA_BASE + ((id as u64) << 32);
        let Ok(req) = ServiceRequest::from_spec(&self.topo, base, &spec) else {
            return;
        };
        let demand = req.demand.clone();
        self.svc_by_id.insert(id, self.services.len() as u32);
        let req_tput_len = req.throughput.len();
        let n_zones = self.topo.zones.len();
        let n_providers = self.topo.providers.len();
        self.services.push(Service {
            id,
            spec,
            req,
            headroom,
            demand,
            replicas: Vec::new(),
            zone_count: vec![vec![0; req_tput_len]; n_zones],
            provider_count: vec![0; n_providers],
            next_seq: 0,
            dirty: true,
        });
    }

    fn set_owner(&mut self, a: AllocId, o: Option<Owner>) {
        let i = a as usize;
        if self.owners.len() <= i {
            self.owners.resize(i + 1, None);
        }
        self.owners[i] = o;
    }

    /// Accounts the current run of job `i` as stopped at `now`, releases its
    /// allocation and returns where it ran.
    fn stop_run(&mut self, now: i64, i: usize) -> Option<(ClusterOrd, u32)> {
        let a = self.jobs[i].alloc.take()?;
        let released = self.release(a).ok();
        self.set_owner(a, None);
        let j = &mut self.jobs[i];
        let gpus = j.alloc_gpus;
        if let Some(p) = j.plan.take() {
            let o = p.stopped_at(now);
            Self::account(j, &p, &o, now);
        }
        let cluster = j.cluster.take()?;
        j.alloc_gpus = 0;
        Some((cluster, released.map_or(gpus, |r: Alloc| r.gpus)))
    }

    fn account(j: &mut JobInfo, p: &RunPlan, o: &RunOutcome, now: i64) {
        let g = j.spec.gpus as f64;
        let held = j.alloc_gpus as f64;
        let dt = (now - p.start_s).max(0) as f64;
        j.stats.alloc_gpu_s += held * dt;
        j.stats.spare_gpu_s += (held - g).max(0.0) * dt;
        j.stats.useful_gpu_s += g * o.saved_s as f64;
        j.stats.ckpt_gpu_s += g * o.ckpt_s as f64;
        j.stats.restart_gpu_s += g * o.restart_s as f64;
        j.stats.lost_gpu_s += g * o.lost_s as f64;
        j.stats.last_lost_s = o.lost_s;
    }

    fn train_rate(&self, cluster: ClusterOrd, gpus: u32) -> f64 {
        let acc = self.topo.clusters[cluster as usize].accel as usize;
        gpus as f64 * self.topo.accels[acc].train
    }

    /// Starts a run of job `i` on its allocation.
    fn dispatch(&mut self, now: i64, i: usize, out: &mut Vec<Action>) {
        let restart_cost = if self.jobs[i].attempt == 0 {
            self.cfg.restart_overhead_s
        } else {
            self.cfg.restart_overhead_s + self.jobs[i].spec.checkpoint_cost_min * 60.0
        };
        let cluster = self.jobs[i]
            .cluster
            .expect("dispatched job holds a cluster");
        let rate = self.train_rate(cluster, self.jobs[i].spec.gpus);
        let j = &mut self.jobs[i];
        let left_h = (j.spec.work_gpu_hours - j.done_gpu_h).max(0.0);
        let compute_left_s = ((left_h * 3600.0) / rate.max(1e-9)).ceil().max(1.0) as i64;
        let plan = RunPlan {
            start_s: now,
            restart_s: restart_cost as i64,
            interval_s: j.interval_s,
            ckpt_cost_s: (j.spec.checkpoint_cost_min * 60.0) as i64,
            compute_left_s,
        };
        j.attempt += 1;
        j.state = if j.attempt == 1 {
            JobState::Placed
        } else {
            JobState::Restarting
        };
        j.first_start_s.get_or_insert(now);
        j.plan = Some(plan);
        j.reason.clear();
        out.push(Action::Dispatch {
            job: j.id,
            attempt: j.attempt,
            cluster,
            gpus: j.alloc_gpus,
            plan,
        });
    }

    /// Folds the work a stopped run kept into the job.
    fn keep_work(&mut self, i: usize, cluster: ClusterOrd, saved_s: i64) {
        let rate = self.train_rate(cluster, self.jobs[i].spec.gpus);
        self.jobs[i].done_gpu_h += saved_s as f64 * rate / 3600.0;
    }

    fn finish(&mut self, now: i64, i: usize, out: &mut Vec<Action>) {
        let Some(p) = self.jobs[i].plan else {
            return;
        };
        if now < p.finish_at() {
            return;
        }
        let a = self.jobs[i]
            .alloc
            .take()
            .expect("current run holds an allocation");
        let _ = self.release(a);
        self.set_owner(a, None);
        let o = p.completed();
        let j = &mut self.jobs[i];
        Self::account(j, &p, &o, now);
        j.plan = None;
        j.cluster = None;
        j.alloc_gpus = 0;
        j.done_gpu_h = j.spec.work_gpu_hours;
        j.state = JobState::Completed;
        j.end_s = Some(now);
        out.push(Action::Ended {
            job: j.id,
            state: JobState::Completed,
        });
        self.dirty = true;
    }

    /// Counts an interruption against the budget; true when the job may go on.
    fn charge(&mut self, i: usize, cat: FailureCategory) -> bool {
        let j = &mut self.jobs[i];
        let k = cat as usize;
        j.stats.interruptions[k] += 1;
        let budget = match cat {
            FailureCategory::Hardware => self.cfg.retry.hardware,
            FailureCategory::Software => self.cfg.retry.software,
            FailureCategory::Preemption => self.cfg.retry.preemption,
        };
        j.stats.interruptions[k] <= budget
    }

    fn fail(&mut self, now: i64, i: usize, cat: FailureCategory, out: &mut Vec<Action>) {
        let j = &mut self.jobs[i];
        j.state = JobState::Failed;
        j.end_s = Some(now);
        j.reason = format!("retry budget for {} interruptions spent", cat.as_str());
        out.push(Action::Ended {
            job: j.id,
            state: JobState::Failed,
        });
    }

    /// A crash with the hardware intact: the run restarts on the same
    /// allocation from its last checkpoint.
    fn restart_in_place(
        &mut self,
        now: i64,
        i: usize,
        cat: FailureCategory,
        out: &mut Vec<Action>,
    ) {
        let Some(p) = self.jobs[i].plan.take() else {
            return;
        };
        let o = p.stopped_at(now);
        let cluster = self.jobs[i].cluster.expect("running job holds a cluster");
        Self::account(&mut self.jobs[i], &p, &o, now);
        self.keep_work(i, cluster, o.saved_s);
        if !self.charge(i, cat) {
            if let Some((cluster, gpus)) = self.stop_run(now, i) {
                out.push(Action::Release {
                    job: self.jobs[i].id,
                    attempt: self.jobs[i].attempt,
                    cluster,
                    gpus,
                    cause: CapacityCause::GpuFailure,
                });
            }
            self.dirty = true;
            self.fail(now, i, cat, out);
            return;
        }
        self.dispatch(now, i, out);
    }

    /// The allocation under a run is gone: release it and queue the job again.
    fn interrupt(&mut self, now: i64, i: usize, cause: CapacityCause, out: &mut Vec<Action>) {
        let attempt = self.jobs[i].attempt;
        let cluster_before = self.jobs[i].cluster;
        let saved = self.jobs[i].plan.map(|p| p.stopped_at(now).saved_s);
        let Some((cluster, gpus)) = self.stop_run(now, i) else {
            return;
        };
        if let (Some(c), Some(s)) = (cluster_before, saved) {
            self.keep_work(i, c, s);
        }
        out.push(Action::Release {
            job: self.jobs[i].id,
            attempt,
            cluster,
            gpus,
            cause,
        });
        self.dirty = true;
        self.requeue_or_fail(now, i, cause.category(), out);
    }

    fn requeue_or_fail(&mut self, now: i64, i: usize, cat: FailureCategory, out: &mut Vec<Action>) {
        if !self.charge(i, cat) {
            self.fail(now, i, cat, out);
            return;
        }
        let j = &mut self.jobs[i];
        j.state = JobState::Interrupted;
        j.reason = format!("interrupted ({}), waiting to restart", cat.as_str());
        self.queue
            .insert((Reverse(j.spec.priority), j.seq, i as u32));
    }

    fn capacity(
        &mut self,
        now: i64,
        domains: &[DomainOrd],
        online: bool,
        cause: CapacityCause,
        out: &mut Vec<Action>,
    ) {
        if online {
            for &d in domains {
                self.sched.set_domain_online(d, true);
            }
            self.dirty = true;
            return;
        }
        for &d in domains {
            self.sched.set_domain_online(d, false);
            for a in self.allocs_on_domain(d) {
                match self.owners.get(a as usize).copied().flatten() {
                    Some(Owner::Job(j)) => self.lose_domain(now, j as usize, a, d, cause, out),
                    Some(Owner::Replica(s)) => self.lose_replica(s as usize, a, out),
                    None => {
                        let _ = self.release(a);
                    }
                }
            }
        }
    }

    /// A domain under job `i` failed: a hot spare takes its place if the gang
    /// still has enough GPUs without it; otherwise the gang is requeued.
    fn lose_domain(
        &mut self,
        now: i64,
        i: usize,
        a: AllocId,
        d: DomainOrd,
        cause: CapacityCause,
        out: &mut Vec<Action>,
    ) {
        let need = self.jobs[i].spec.gpus;
        let on_d = self
            .sched
            .alloc(a)
            .and_then(|x| x.parts.iter().find(|p| p.0 == d).map(|p| p.1))
            .unwrap_or(0);
        if self.jobs[i].alloc_gpus.saturating_sub(on_d) >= need && on_d > 0 {
            let Some(p) = self.jobs[i].plan.take() else {
                return;
            };
            let o = p.stopped_at(now);
            let cluster = self.jobs[i].cluster.expect("running job holds a cluster");
            Self::account(&mut self.jobs[i], &p, &o, now);
            self.keep_work(i, cluster, o.saved_s);
            self.untrack_domain(a, d);
            let _ = self.sched.release_part(a, d);
            self.jobs[i].alloc_gpus -= on_d;
            self.jobs[i].stats.spare_swaps += 1;
            out.push(Action::Shrink {
                job: self.jobs[i].id,
                cluster,
                gpus: on_d,
            });
            if !self.charge(i, cause.category()) {
                if let Some((cluster, gpus)) = self.stop_run(now, i) {
                    out.push(Action::Release {
                        job: self.jobs[i].id,
                        attempt: self.jobs[i].attempt,
                        cluster,
                        gpus,
                        cause,
                    });
                }
                self.dirty = true;
                self.fail(now, i, cause.category(), out);
                return;
            }
            self.dispatch(now, i, out);
            return;
        }
        self.interrupt(now, i, cause, out);
    }

    fn lose_replica(&mut self, s: usize, a: AllocId, out: &mut Vec<Action>) {
        let svc = &mut self.services[s];
        let Some(k) = svc.replicas.iter().position(|r| r.alloc == a) else {
            return;
        };
        let r = svc.replicas.swap_remove(k);
        svc.tally(&r, false);
        svc.dirty = true;
        let gpus = self.release(a).map_or(0, |x| x.gpus);
        self.set_owner(a, None);
        let svc = &self.services[s];
        out.push(Action::Scale {
            service: svc.id,
            started: Vec::new(),
            stopped: vec![(r.work, r.cluster, gpus)],
            replicas: svc.replicas.len() as u32,
        });
    }

    /// Carries out a decision for `req`, preempting its victims.
    fn apply(
        &mut self,
        now: i64,
        req: &Request,
        d: &Decision,
        out: &mut Vec<Action>,
    ) -> Option<AllocId> {
        let victims: Vec<WorkId> = match &d.outcome {
            Outcome::Preempt { victims, .. } => victims.iter().map(|v| v.work).collect(),
            _ => Vec::new(),
        };
        // Account the victims' runs before the scheduler forgets their allocations.
        let mut stopped = Vec::new();
        for w in victims {
            if w >= REPLICA_BASE {
                continue;
            }
            if let Some(&i) = self.by_id.get(&w) {
                let i = i as usize;
                let attempt = self.jobs[i].attempt;
                let cluster_before = self.jobs[i].cluster;
                let saved = self.jobs[i].plan.map(|p| p.stopped_at(now).saved_s);
                if let Some((cluster, gpus)) = self.stop_run(now, i) {
                    if let (Some(c), Some(s)) = (cluster_before, saved) {
                        self.keep_work(i, c, s);
                    }
                    stopped.push((i, attempt, cluster, gpus));
                }
            }
        }
        for (i, attempt, cluster, gpus) in stopped {
            self.preemptions += 1;
            out.push(Action::Preempt {
                job: self.jobs[i].id,
                attempt,
                cluster,
                gpus,
            });
            self.requeue_or_fail(now, i, FailureCategory::Preemption, out);
        }
        let p = d.placement()?;
        let a = self.sched.commit(now, req, p).ok()?;
        for &(d, _) in &p.parts {
            self.by_domain[d as usize].push(a);
        }
        Some(a)
    }

    /// One pass over the queue, highest priority first; stops after
    /// `max_pass_misses` jobs in a row found no room.
    ///
    /// Within a pass capacity only shrinks and priorities only fall, so once a
    /// gang of some kind (accelerators, scope, spot, team, no sharing or host
    /// needs) finds no room, every gang of that kind at least as large will
    /// not either: those are skipped without asking the scheduler and do not
    /// count as misses, so the small work behind a blocked large gang is
    /// still reached (backfill).
    fn pass(&mut self, now: i64, out: &mut Vec<Action>) {
        self.dirty = false;
        let mut missed: Vec<(MissKey, u32)> = Vec::new();
        let mut misses = 0;
        let mut cursor: Option<(Reverse<u32>, u64, u32)> = None;
        loop {
            let next = match cursor {
                None => self.queue.iter().next().copied(),
                Some(c) => self
                    .queue
                    .range((std::ops::Bound::Excluded(c), std::ops::Bound::Unbounded))
                    .next()
                    .copied(),
            };
            let Some(key) = next else { break };
            cursor = Some(key);
            let i = key.2 as usize;
            let Some(req) = self.jobs[i].req.clone() else {
                self.queue.remove(&key);
                continue;
            };
            let kind = MissKey::of(&req);
            if let Some(k) = &kind
                && missed.iter().any(|(m, g)| m == k && *g <= req.gpus)
            {
                continue;
            }
            let d = self.sched.decide(now, &req, false);
            if matches!(d.outcome, Outcome::NoFit) {
                if let Some(k) = kind {
                    match missed.iter_mut().find(|(m, _)| *m == k) {
                        Some((_, g)) => *g = (*g).min(req.gpus),
                        None => missed.push((k, req.gpus)),
                    }
                }
                self.jobs[i].reason = match d.explanation.causes().first() {
                    Some((c, n)) => format!("no fit: {c} ({n} clusters)"),
                    None => "no fit: no cluster accepts it".into(),
                };
                misses += 1;
                if misses >= self.cfg.max_pass_misses {
                    break;
                }
                continue;
            }
            misses = 0;
            let Some(a) = self.apply(now, &req, &d, out) else {
                continue;
            };
            self.queue.remove(&key);
            let cluster = d.placement().map(|p| p.cluster);
            let j = &mut self.jobs[i];
            j.alloc = Some(a);
            j.cluster = cluster;
            j.alloc_gpus = self.sched.alloc(a).map_or(req.gpus, |x| x.gpus);
            self.set_owner(a, Some(Owner::Job(i as u32)));
            self.dispatch(now, i, out);
        }
    }

    /// Sizes service `s` to its demand × headroom: grows replica by replica
    /// toward the zones with unserved demand, under the spread rules; shrinks
    /// where capacity exceeds demand most. Per-zone and per-provider tallies
    /// are kept up to date as it goes, so a step costs O(zones + providers),
    /// not O(replicas).
    fn scale(&mut self, now: i64, s: usize, out: &mut Vec<Action>) {
        self.services[s].dirty = false;
        let topo = Arc::clone(&self.topo);
        let n_zones = topo.zones.len();
        let svc = &self.services[s];
        let best = svc.req.throughput.iter().map(|t| t.1).fold(0.0, f64::max);
        // Capacity still needed per zone ordinal (negative: surplus).
        let mut need = vec![0.0f64; n_zones];
        for &(z, r) in &svc.demand {
            if let Some(x) = need.get_mut(z as usize) {
                *x += r * svc.headroom;
            }
        }
        let total: f64 = need.iter().sum();
        let n = if best > 0.0 {
            (total / best).ceil() as u32
        } else {
            0
        };
        let max = svc.req.max_replicas.max(svc.req.min_replicas);
        let desired = n.clamp(svc.req.min_replicas, max);
        for (z, x) in need.iter_mut().enumerate() {
            *x -= svc.cap(z);
        }
        let mut per_provider = svc.provider_count.clone();
        let mut started = Vec::new();
        let mut stopped = Vec::new();
        let cur = svc.replicas.len() as u32;
        if cur < desired {
            let cap = ((svc.req.max_share_per_provider * desired as f64).floor() as u32).max(1);
            for _ in cur..desired {
                let svc = &self.services[s];
                let left: f64 = need.iter().map(|u| u.max(0.0)).sum();
                let used = per_provider.iter().filter(|&&n| n > 0).count() as u32;
                let k = svc.replicas.len() as u32;
                let must_be_new =
                    used < svc.req.min_providers && desired - k <= svc.req.min_providers - used;
                let min_providers = svc.req.min_providers;
                let extra = |c: ClusterOrd| -> Option<f64> {
                    let cl = &topo.clusters[c as usize];
                    let p = cl.provider as usize;
                    if per_provider[p] >= cap || (must_be_new && per_provider[p] > 0) {
                        return None;
                    }
                    let zone = topo.sites[cl.site as usize].zone as usize;
                    let near = need[zone].max(0.0);
                    let near_bonus = if near > 0.0 {
                        4.0 * (near / left.max(1e-9)).min(1.0) + 2.0
                    } else {
                        0.0
                    };
                    let new_provider = if per_provider[p] == 0 && used < min_providers {
                        3.0
                    } else {
                        0.0
                    };
                    Some(near_bonus + new_provider)
                };
                let mut req = svc.req.replica.clone();
                req.id = svc.req.base_id + svc.next_seq;
                let d = self.sched.decide_with(now, &req, false, &extra);
                let Some(cluster) = d.placement().map(|p| p.cluster) else {
                    break;
                };
                let Some(a) = self.apply(now, &req, &d, out) else {
                    break;
                };
                let cl = &topo.clusters[cluster as usize];
                let svc = &mut self.services[s];
                svc.next_seq += 1;
                let tk = svc
                    .req
                    .throughput
                    .iter()
                    .position(|t| t.0 == cl.accel)
                    .unwrap_or(0);
                let tput = svc.req.throughput.get(tk).map_or(0.0, |t| t.1);
                let zone = topo.sites[cl.site as usize].zone;
                need[zone as usize] -= tput;
                per_provider[cl.provider as usize] += 1;
                let r = Replica {
                    work: req.id,
                    alloc: a,
                    cluster,
                    zone,
                    tk,
                    provider: cl.provider,
                };
                svc.tally(&r, true);
                svc.replicas.push(r);
                started.push((req.id, cluster, req.gpus));
                self.set_owner(a, Some(Owner::Replica(s as u32)));
            }
        } else if cur > desired {
            // Newest replicas of each zone first, from the zone with the
            // most capacity beyond its demand.
            let mut by_zone: Vec<Vec<usize>> = vec![Vec::new(); n_zones];
            for (i, r) in self.services[s].replicas.iter().enumerate() {
                by_zone[r.zone as usize].push(i);
            }
            let mut gone = vec![false; cur as usize];
            for _ in desired..cur {
                let Some(z) = (0..n_zones)
                    .filter(|&z| !by_zone[z].is_empty())
                    .min_by(|&a, &b| need[a].total_cmp(&need[b]).then(a.cmp(&b)))
                else {
                    break;
                };
                let Some(i) = by_zone[z].pop() else { break };
                gone[i] = true;
                let r = self.services[s].replicas[i].clone();
                self.services[s].tally(&r, false);
                need[z] += self.services[s]
                    .req
                    .throughput
                    .get(r.tk)
                    .map_or(0.0, |t| t.1);
                let (work, alloc, cluster) = (r.work, r.alloc, r.cluster);
                let gpus = self.release(alloc).map_or(0, |x| x.gpus);
                self.set_owner(alloc, None);
                stopped.push((work, cluster, gpus));
            }
            let mut k = 0;
            self.services[s].replicas.retain(|_| {
                k += 1;
                !gone[k - 1]
            });
            self.dirty = true;
        }
        if !started.is_empty() || !stopped.is_empty() {
            out.push(Action::Scale {
                service: self.services[s].id,
                started,
                stopped,
                replicas: self.services[s].replicas.len() as u32,
            });
        }
    }
}

/// What makes two gangs compete for the same room in a scheduling pass.
#[derive(Debug, Clone, PartialEq)]
struct MissKey {
    accels: Vec<u16>,
    sites: Option<Vec<bool>>,
    spot_ok: bool,
    team: Option<u32>,
}

impl MissKey {
    /// The key of a whole-GPU request without host needs; `None` for the
    /// rest, which are always asked (a share or a host need fits differently).
    fn of(req: &Request) -> Option<Self> {
        (req.gpu_milli >= 1000 && req.cpu_milli_per_gpu == 0 && req.memory_mib_per_gpu == 0).then(
            || MissKey {
                accels: req.accels.clone(),
                sites: req.sites.clone(),
                spot_ok: req.spot_ok,
                team: req.team,
            },
        )
    }
}
