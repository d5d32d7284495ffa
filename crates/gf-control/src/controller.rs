//! The controller proper: its state, the one entry point
//! [`Controller::handle`], the read-only queries, and restore from a log.
//!
//! Every state change happens inside `handle`; the queries only read. The
//! lifecycle of jobs is in `lifecycle`, the scheduling pass in `pass`, the
//! services in `scale`.

use std::collections::BTreeSet;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use smallvec::SmallVec;

use gf_model::protocol::{FailureCategory, JobId, PROTOCOL_VERSION, Report, ServiceId};
use gf_sched::{Alloc, AllocId, CapacityIndex, DomainOrd, Policy, Scheduler, Topology};

use crate::error::ControlError;
use crate::estimate::{Observed, RateEstimator};
use crate::job::JobInfo;
use crate::protocol::{Action, ControlConfig, Event, EventLog};
use crate::scale::Service;
use crate::table::JobTable;

/// Who holds an allocation.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Owner {
    /// A job's run.
    Job(u32),
    /// A service replica.
    Replica(u32),
    /// A stopped victim's GPUs, held for the reservation of a job.
    Held(u32),
}

/// The queue key: the queue order's rank, then submission, then the job index.
pub(crate) type QueueKey = (u64, u64, u32);

/// The controller of one fleet.
pub struct Controller {
    pub(crate) topo: Arc<Topology>,
    pub(crate) sched: Scheduler,
    pub(crate) cfg: ControlConfig,
    /// Every job's record, in submission order (an ended one handed out
    /// when ended records are not kept).
    pub(crate) jobs: JobTable,
    /// Ended records handed out, waiting for the shell to take them
    /// (`ControlConfig::keep_ended_jobs` off).
    pub(crate) ended: Vec<JobInfo>,
    /// Jobs that ended during the event being handled: their records are
    /// handed out once it is handled, when nothing refers to them.
    pub(crate) ending: Vec<u32>,
    /// Jobs whose reason or state changed during the event last handled
    /// with no action naming them (see [`Controller::moved`]).
    pub(crate) moved: Vec<JobId>,
    pub(crate) by_id: gf_model::ids::JobIndex,
    /// Pending and interrupted jobs.
    pub(crate) queue: BTreeSet<QueueKey>,
    pub(crate) services: Vec<Service>,
    pub(crate) svc_by_id: FxHashMap<ServiceId, u32>,
    pub(crate) owners: Vec<Option<Owner>>,
    /// Dispatch timeouts and stop grace periods: (deadline, job, attempt).
    pub(crate) deadlines: BTreeSet<(i64, u32, u32)>,
    pub(crate) dirty: bool,
    pub(crate) seq: u64,
    pub(crate) preemptions: u64,
    /// Interruption rates learnt from reports.
    pub(crate) rates: RateEstimator,
    /// The room held for the blocked head of the current pass (EASY).
    pub(crate) shadow: Option<crate::backfill::Shadow>,
    /// Domains back from an outage, held out of placement for a while.
    pub(crate) holdoff: crate::holdoff::Holdoff,
    /// The spec ended jobs hold when ended specs are not kept: empty, and
    /// shared by all of them, so a year of millions of ended jobs holds no
    /// copy of their names, teams and accelerators.
    pub(crate) released_spec: Arc<gf_model::JobSpec>,
}

impl Controller {
    /// A controller over a fleet whose capacity is `index` (the shell brings
    /// the rest online with capacity reports).
    pub fn new(
        topo: Arc<Topology>,
        index: CapacityIndex,
        policy: Policy,
        seed: u64,
        cfg: ControlConfig,
    ) -> Self {
        let sched = Scheduler::with_index(Arc::clone(&topo), index, policy, seed);
        let mut rates = RateEstimator::new(&topo, cfg.interruptions_per_gpu_s);
        for (c, cl) in topo.clusters.iter().enumerate() {
            let c = c as gf_sched::ClusterOrd;
            rates.set_online(
                c,
                sched.index().cluster_online(c) / u64::from(cl.domain_gpus.max(1)),
            );
        }
        Controller {
            rates,
            shadow: None,
            holdoff: Default::default(),
            released_spec: Arc::default(),
            topo,
            sched,
            cfg,
            jobs: JobTable::default(),
            ended: Vec::new(),
            ending: Vec::new(),
            moved: Vec::new(),
            by_id: gf_model::ids::JobIndex::default(),
            queue: BTreeSet::new(),
            services: Vec::new(),
            svc_by_id: FxHashMap::default(),
            owners: Vec::new(),
            deadlines: BTreeSet::new(),
            dirty: false,
            seq: 0,
            preemptions: 0,
        }
    }

    /// A controller rebuilt from the log of every event a live one handled:
    /// it is indistinguishable from that one (same state, same actions for
    /// whatever comes next). The log must be of this protocol version and
    /// this fleet; `new` is called with the same arguments the live one had.
    pub fn restore(
        topo: Arc<Topology>,
        index: CapacityIndex,
        policy: Policy,
        seed: u64,
        cfg: ControlConfig,
        log: &EventLog,
    ) -> Result<Self, ControlError> {
        if log.version != PROTOCOL_VERSION {
            return Err(ControlError::Version {
                expected: PROTOCOL_VERSION,
                found: log.version,
            });
        }
        if log.topology_epoch != topo.epoch {
            return Err(ControlError::TopologyChanged {
                expected: topo.epoch,
                found: log.topology_epoch,
            });
        }
        let mut c = Controller::new(topo, index, policy, seed, cfg);
        for e in &log.entries {
            // The actions were carried out by the live controller's shell.
            // An event the live one refused changed nothing there either.
            let _refused_then_too = c.handle(e.at_s, e.event.clone());
        }
        Ok(c)
    }

    /// The scheduler (read-only: placement state for reports and invariants).
    pub fn scheduler(&self) -> &Scheduler {
        &self.sched
    }

    /// The fleet.
    pub fn topology(&self) -> &Arc<Topology> {
        &self.topo
    }

    /// How the controller behaves.
    pub fn config(&self) -> &ControlConfig {
        &self.cfg
    }

    /// Every job's record held, in submission order: all of them, unless
    /// ended records are not kept (`ControlConfig::keep_ended_jobs`).
    pub fn jobs(&self) -> &JobTable {
        &self.jobs
    }

    /// Takes the records of the jobs that ended since the last call, in the
    /// order they ended, when ended records are not kept
    /// (`ControlConfig::keep_ended_jobs` off); always empty otherwise. Their
    /// ids stay known: a resubmission is still a duplicate, a cancel still
    /// changes nothing.
    pub fn take_ended(&mut self) -> std::vec::Drain<'_, JobInfo> {
        self.ended.drain(..)
    }

    /// The jobs whose reason or state changed while the last event was
    /// handled without an action naming them: a scheduling pass rewrites
    /// why each job it could not place still waits, and a job can go back
    /// to the queue or into a reservation with nothing sent to a backend.
    /// A shell that writes each job's state where users read it (serve's
    /// rows) writes these beside the jobs its actions name, rather than
    /// looking through every waiting job after each event. A job may be
    /// listed more than once.
    pub fn moved(&self) -> &[JobId] {
        &self.moved
    }

    /// One job.
    pub fn job(&self, id: JobId) -> Option<&JobInfo> {
        self.jobs.get(self.by_id.get(&id)? as usize)
    }

    /// Jobs waiting to be placed.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// What the controller observed of training interruptions on cluster
    /// `c`, and the rate per GPU-second it estimates from it (the one its
    /// checkpoint intervals use).
    pub fn interruption_estimate(&self, c: gf_sched::ClusterOrd) -> (Observed, f64) {
        (self.rates.observed(c), self.rates.per_gpu_s(c))
    }

    /// Preemptions asked for so far.
    pub fn preemptions(&self) -> u64 {
        self.preemptions
    }

    /// The job or service replica holding an allocation.
    pub fn owner_of(&self, alloc: AllocId) -> Option<Result<JobId, ServiceId>> {
        match self.owners.get(alloc as usize).copied().flatten()? {
            Owner::Job(j) | Owner::Held(j) => Some(Ok(self.jobs.get(j as usize)?.id)),
            Owner::Replica(s) => Some(Err(self.services[s as usize].id)),
        }
    }

    /// Allocations holding GPUs on domain `d`, oldest first.
    /// A copy, inline for the few a domain holds.
    pub fn allocs_on_domain(&self, d: DomainOrd) -> SmallVec<[AllocId; 4]> {
        if (d as usize) < self.topo.n_domains() {
            SmallVec::from_slice(self.sched.holders(d))
        } else {
            SmallVec::new()
        }
    }

    /// Allocation `a` is owned by `o` from now on, and listed on its domains
    /// (in the scheduler's domain records, which its release unlists).
    pub(crate) fn track(&mut self, a: AllocId, o: Owner) {
        self.sched.track(a);
        self.set_owner(a, Some(o));
    }

    pub(crate) fn set_owner(&mut self, a: AllocId, o: Option<Owner>) {
        let i = a as usize;
        if self.owners.len() <= i {
            self.owners.resize(i + 1, None);
        }
        self.owners[i] = o;
    }

    /// Releases an allocation, keeping the per-domain lists and owners in step.
    pub(crate) fn release(&mut self, a: AllocId) -> Result<Alloc, ControlError> {
        self.set_owner(a, None);
        Ok(self.sched.release(a)?)
    }

    /// Handles one event at time `now` (seconds since the epoch) and returns
    /// what the shell must do, in order. Overdue dispatches and stops are
    /// expired first, whatever the event (for a backend report, only those
    /// strictly before it). An `Err` is a caller's fault (a
    /// cancel of a job never submitted, a report naming a cluster the fleet
    /// lacks) and changes nothing; or a fault of the scheduler's bookkeeping.
    pub fn handle(&mut self, now: i64, ev: Event) -> Result<Vec<Action>, ControlError> {
        let mut out = Vec::new();
        self.handle_into(now, ev, &mut out)?;
        Ok(out)
    }

    /// [`Self::handle`], appending the actions to `out` instead of returning
    /// a new list: a shell handling millions of events (the twin) reuses one
    /// buffer rather than allocating a list per event. On `Err` nothing is
    /// appended.
    pub fn handle_into(
        &mut self,
        now: i64,
        ev: Event,
        out: &mut Vec<Action>,
    ) -> Result<(), ControlError> {
        let len = out.len();
        self.moved.clear();
        let r = self.handle_inner(now, ev, out);
        if r.is_err() {
            out.truncate(len);
        }
        self.hand_out_ended();
        r
    }

    fn handle_inner(
        &mut self,
        now: i64,
        ev: Event,
        out: &mut Vec<Action>,
    ) -> Result<(), ControlError> {
        // Refuse a caller's fault before anything changes: `expire` below
        // changes state and emits actions, and an `Err` returned after it
        // would keep the change but drop the actions (an overdue dispatch
        // requeued without the Stop that releases it on the backend).
        self.check(&ev)?;
        // A backend's report that comes exactly at a deadline came within
        // it (so a grace of zero still lets the confirmation of the same
        // instant through); any other event at the deadline expires it.
        let past = if matches!(ev, Event::Backend(_)) {
            now - 1
        } else {
            now
        };
        self.expire(past, out)?;
        match ev {
            Event::JobSubmitted { job, spec } => self.submit(now, job, spec, out),
            Event::JobCancelled { job } => self.cancel(now, job, out)?,
            Event::ServiceSubmitted {
                service,
                spec,
                headroom,
            } => self.submit_service(service, *spec, headroom),
            Event::ServiceRemoved { service } => self.remove_service(service, out)?,
            Event::DemandObserved {
                service,
                rps_by_zone,
            } => self.observe_demand(service, &rps_by_zone),
            Event::Backend(r) => self.report(now, r, out)?,
            Event::SpendReported { contract, usd } => {
                if let Some(k) = self.topo.contracts.iter().position(|c| c.name == contract) {
                    self.sched.set_contract_spend(k as u32, usd);
                }
            }
            Event::ScheduleTick => {
                let topo = Arc::clone(&self.topo);
                for d in self.holdoff.due(now, |d| topo.domain_cluster[d as usize]) {
                    self.sched.set_domain_online(d, true);
                    self.dirty = true;
                }
                for s in 0..self.services.len() {
                    if self.services[s].dirty {
                        self.scale(now, s, out)?;
                    }
                }
                if self.dirty {
                    self.pass(now, out)?;
                }
            }
            Event::AutoscaleTick => {
                for s in 0..self.services.len() {
                    self.scale(now, s, out)?;
                }
                if self.dirty {
                    self.pass(now, out)?;
                }
            }
        }
        Ok(())
    }

    /// The caller's faults `handle` refuses: a cancel of a job never
    /// submitted, a capacity report naming a cluster or domain the fleet
    /// lacks.
    fn check(&self, ev: &Event) -> Result<(), ControlError> {
        match ev {
            Event::JobCancelled { job } if !self.by_id.contains_key(job) => {
                Err(ControlError::UnknownJob(*job))
            }
            Event::Backend(Report::CapacityChanged {
                cluster, domains, ..
            }) => {
                let c = self
                    .topo
                    .cluster_by_name(cluster)
                    .ok_or_else(|| ControlError::UnknownCluster(cluster.to_string()))?;
                match domains
                    .iter()
                    .find(|&&i| self.topo.domain_of(c, i).is_none())
                {
                    Some(&index) => Err(ControlError::UnknownDomain {
                        cluster: cluster.to_string(),
                        index,
                    }),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// Handles a backend report.
    fn report(&mut self, now: i64, r: Report, out: &mut Vec<Action>) -> Result<(), ControlError> {
        // A replica set that ended unasked is forgotten (one asked to stop
        // was already).
        if let Some(run) = r.run()
            && run.job >= crate::scale::REPLICA_BASE
            && r.ends_run()
        {
            return self.replica_gone(run.job);
        }
        match r {
            Report::CapacityChanged {
                cluster,
                domains,
                online,
                cause,
            } => {
                let c = self
                    .topo
                    .cluster_by_name(&cluster)
                    .ok_or_else(|| ControlError::UnknownCluster(cluster.to_string()))?;
                let mut ords = Vec::with_capacity(domains.len());
                for &i in &domains {
                    ords.push(self.topo.domain_of(c, i).ok_or_else(|| {
                        ControlError::UnknownDomain {
                            cluster: cluster.to_string(),
                            index: i,
                        }
                    })?);
                }
                self.capacity(now, &ords, online, cause, out)
            }
            Report::Started { run } => {
                self.started(now, run);
                Ok(())
            }
            Report::Checkpointed { run, progress } => {
                self.checkpointed(run, progress);
                Ok(())
            }
            Report::Finished { run } => self.finished(now, run, out),
            Report::Failed {
                run,
                category,
                progress,
            } => self.failed(now, run, category, progress, out),
            Report::Lost { run, progress } => {
                self.gone(now, run, progress, FailureCategory::Hardware, out)
            }
            Report::Stopped { run, progress } => {
                self.gone(now, run, progress, FailureCategory::Preemption, out)
            }
            Report::Refused { run, reason } => self.refused(now, run, &reason, out),
            Report::Unknown { run, .. } => {
                // A run the backend has and this controller does not know as
                // current: stop it, so nothing runs twice.
                let replica = self.sched.alloc_of(run.job).is_some_and(|a| {
                    matches!(self.owners.get(a as usize), Some(Some(Owner::Replica(_))))
                });
                if !replica && self.current(run.job, run.attempt).is_none() {
                    out.push(Action::Stop(gf_model::protocol::StopSpec {
                        run,
                        reason: gf_model::protocol::StopReason::Release,
                        grace_s: 0,
                    }));
                }
                Ok(())
            }
        }
    }

    /// Hands out the records of the jobs that ended during the event just
    /// handled, when ended records are not kept, once nothing refers to
    /// them: a record whose live part stays (a stop the controller still
    /// waits on) is kept.
    fn hand_out_ended(&mut self) {
        for k in 0..self.ending.len() {
            let i = self.ending[k] as usize;
            let done = self
                .jobs
                .get(i)
                .is_some_and(|j| j.state.is_terminal() && !j.has_live_part());
            if done && let Some(j) = self.jobs.take(i) {
                self.ended.push(j);
            }
        }
        self.ending.clear();
    }

    /// The job index if `attempt` is its current run and it holds one.
    pub(crate) fn current(&self, job: JobId, attempt: u32) -> Option<usize> {
        let i = self.by_id.get(&job)?;
        let j = self.jobs.get(i as usize)?;
        (j.attempt == attempt && j.lv().alloc.is_some() && j.state.holds_run())
            .then_some(i as usize)
    }
}
