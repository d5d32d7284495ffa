//! Inference services: when to size a service and how its plan is carried
//! out. Which replicas to add or remove, where and how many is placement and
//! lives in gf-sched ([`gf_sched::Scheduler::plan_replicas`], the planner
//! `gigafleet place` runs too); this module keeps the lifecycle: the replicas
//! that run, their tallies, the Dispatch and Stop actions, and the training
//! runs asked to stop when a replica can only fit by preemption.
//!
//! The replicas one plan places on one cluster are one replica set, one run
//! like a job's: dispatched with its placement, shrunk by the replicas a
//! later plan removes or a failed domain takes, stopped with a release, so
//! every backend serves sets and jobs the same way, and a service that
//! grows and shrinks by thousands of replicas a day sends messages in
//! proportion to the clusters it touches, not to its replicas.

use rustc_hash::FxHashMap;

use gf_model::ServiceSpec;
use gf_model::protocol::{
    DomainSlot, RunId, RunKind, RunSpec, ServiceId, ShrinkSpec, StopReason, StopSpec,
};
use gf_sched::{
    AllocId, DomainOrd, OnPreempt, PlanInput, ReplicaCounts, ReplicaGroup, ServiceRequest, WorkId,
};

use crate::controller::{Controller, Owner};
use crate::error::ControlError;
use crate::protocol::Action;

/// Work ids of service replicas live above this, so they never collide with job ids.
pub(crate) const REPLICA_BASE: WorkId = 1 << 62;

/// A replica set of a service: the replicas one plan placed on one cluster,
/// run as one (see [`RunKind::Replica`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Replica {
    work: WorkId,
    alloc: AllocId,
    /// Where its replicas count for sizing and spreading.
    group: ReplicaGroup,
    /// Replicas in it now.
    n: u32,
    /// Its backend reported it started (its model is loaded): it serves.
    serving: bool,
}

/// A service as the controller knows it.
#[derive(Debug, Clone)]
pub(crate) struct Service {
    pub(crate) id: ServiceId,
    spec: ServiceSpec,
    req: ServiceRequest,
    headroom: f64,
    demand: Vec<(u32, f64)>,
    /// The replica sets by group (`counts.slot`), each list oldest first,
    /// so that shrinking the newest of a group costs O(1). A set lost or
    /// preempted leaves a stale entry here (its work id no longer in
    /// `alive`), skipped when met and swept once stale entries are half a
    /// list: finding a lost set costs O(1), not a scan of its service
    /// (which made a 20M-GPU fleet's failures quadratic).
    replicas: Vec<Vec<WorkId>>,
    /// Stale entries per list of `replicas`.
    stale: Vec<u32>,
    /// The replica sets that run, by work id (unique for ever, unlike an
    /// allocation id, which the scheduler reuses).
    alive: FxHashMap<WorkId, Replica>,
    /// The replicas counted by zone, accelerator and provider, kept in step
    /// with `alive` so that planning and the SLO cost O(groups), not
    /// O(replicas).
    counts: ReplicaCounts,
    /// The replicas that serve: in sets reported started by their backend
    /// (a replica loads its model first). The SLO counts these.
    serving: ReplicaCounts,
    next_seq: u64,
    pub(crate) dirty: bool,
    /// Removed by its owner: no replicas, never sized again.
    removed: bool,
}

impl Service {
    /// GPUs of one replica (at least 1, so that dividing by it is safe).
    fn replica_gpus(&self) -> u32 {
        self.req.replica.gpus.max(1)
    }

    /// Counts `k` replicas fewer in set `r` (which stays).
    fn uncount(&mut self, r: &Replica, k: u32) {
        self.counts.remove_n(r.group, k);
        if r.serving {
            self.serving.remove_n(r.group, k);
        }
    }

    /// Takes set `work` out of the service (it was lost or preempted),
    /// leaving its list entry stale.
    fn take(&mut self, work: WorkId) -> Option<Replica> {
        let r = self.alive.remove(&work)?;
        self.uncount(&r, r.n);
        let slot = self.counts.slot(r.group);
        self.stale[slot] += 1;
        if self.stale[slot] as usize * 2 > self.replicas[slot].len() {
            let alive = &self.alive;
            self.replicas[slot].retain(|x| alive.contains_key(x));
            self.stale[slot] = 0;
        }
        self.dirty = true;
        Some(r)
    }

    /// The newest running set of group `g`.
    fn newest(&mut self, g: ReplicaGroup) -> Option<Replica> {
        let slot = self.counts.slot(g);
        while let Some(&w) = self.replicas[slot].last() {
            match self.alive.get(&w) {
                Some(r) => return Some(*r),
                None => {
                    self.replicas[slot].pop();
                    self.stale[slot] = self.stale[slot].saturating_sub(1);
                }
            }
        }
        None
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

fn replica_stop(work: WorkId) -> Action {
    Action::Stop(StopSpec {
        run: set_run(work),
        reason: StopReason::Release,
        grace_s: 0,
    })
}

/// The run of replica set `work` (a set is never restarted: attempt 1).
fn set_run(work: WorkId) -> RunId {
    RunId {
        job: work,
        attempt: 1,
    }
}

impl Controller {
    pub(crate) fn submit_service(&mut self, id: ServiceId, spec: ServiceSpec, headroom: f64) {
        if self.svc_by_id.contains_key(&id) {
            return;
        }
        let base = REPLICA_BASE + ((id as u64) << 32);
        let Ok(req) = ServiceRequest::from_spec(&self.topo, base, &spec) else {
            return;
        };
        let demand = req.demand.clone();
        self.svc_by_id.insert(id, self.services.len() as u32);
        let counts = ReplicaCounts::new(&self.topo, &req);
        self.services.push(Service {
            serving: counts.clone(),
            id,
            spec,
            req,
            headroom,
            demand,
            replicas: vec![Vec::new(); counts.slots()],
            stale: vec![0; counts.slots()],
            alive: FxHashMap::default(),
            counts,
            next_seq: 0,
            dirty: true,
            removed: false,
        });
    }

    /// Removes service `id`: every replica is released and stopped, and it
    /// is never sized again (its id is not reused).
    pub(crate) fn remove_service(
        &mut self,
        id: ServiceId,
        out: &mut Vec<Action>,
    ) -> Result<(), ControlError> {
        let Some(&i) = self.svc_by_id.get(&id) else {
            return Ok(());
        };
        let svc = &mut self.services[i as usize];
        svc.removed = true;
        svc.dirty = false;
        svc.demand.clear();
        let mut works: Vec<WorkId> = svc.alive.keys().copied().collect();
        works.sort_unstable();
        for w in works {
            let Some(r) = self.services[i as usize].take(w) else {
                continue;
            };
            self.release(r.alloc)?;
            out.push(replica_stop(r.work));
        }
        let svc = &mut self.services[i as usize];
        svc.dirty = false;
        // Freed room may fit waiting jobs.
        self.dirty = true;
        Ok(())
    }

    pub(crate) fn observe_demand(&mut self, service: ServiceId, rps: &[(String, f64)]) {
        let Some(&i) = self.svc_by_id.get(&service) else {
            return;
        };
        let zones = &self.topo.zones;
        self.services[i as usize].demand = rps
            .iter()
            .filter_map(|(z, r)| Some((zones.iter().position(|x| x == z)? as u32, *r)))
            .collect();
    }

    /// Every service.
    pub fn services(&self) -> Vec<ServiceInfo> {
        self.services
            .iter()
            .map(|s| {
                // From the tallies, not the replicas: the twin asks every
                // hour, and a walk over a 20M-GPU fleet's replicas cost
                // O(replicas) each time.
                let by_zone: Vec<(u32, u32)> = (0..self.topo.zones.len() as u32)
                    .map(|z| (z, s.counts.in_zone(z)))
                    .filter(|&(_, n)| n > 0)
                    .collect();
                ServiceInfo {
                    id: s.id,
                    name: s.spec.name.clone(),
                    replicas: s.counts.total(),
                    by_zone,
                }
            })
            .collect()
    }

    /// Demand and demand served within the SLO for a service right now:
    /// replicas serve their own zone first; what they have left serves other
    /// zones only when the SLO leaves room for the cross-zone latency. Only
    /// replicas their backend reported started (their model loaded) serve.
    pub fn slo(&self, service: ServiceId) -> Slo {
        let Some(&i) = self.svc_by_id.get(&service) else {
            return Slo::default();
        };
        let s = &self.services[i as usize];
        let (demand_rps, served_rps) = s.serving.served(&s.req, &s.demand);
        Slo {
            demand_rps,
            served_rps,
        }
    }

    /// As [`Self::slo`], for a demand other than the last one observed (the
    /// twin measures against the demand of each instant).
    pub fn slo_for(&self, service: ServiceId, rps_by_zone: &[(String, f64)]) -> Slo {
        let Some(&i) = self.svc_by_id.get(&service) else {
            return Slo::default();
        };
        let s = &self.services[i as usize];
        let zones = &self.topo.zones;
        let demand: Vec<(u32, f64)> = rps_by_zone
            .iter()
            .filter_map(|(z, r)| Some((zones.iter().position(|x| x == z)? as u32, *r)))
            .collect();
        let (demand_rps, served_rps) = s.serving.served(&s.req, &demand);
        Slo {
            demand_rps,
            served_rps,
        }
    }

    /// A replica set's backend reported it started: it serves from now.
    pub(crate) fn replica_started(&mut self, work: WorkId) {
        let Some(i) = self.service_of(work) else {
            return;
        };
        let svc = &mut self.services[i];
        if let Some(r) = svc.alive.get_mut(&work)
            && !r.serving
        {
            r.serving = true;
            svc.serving.add_n(r.group, r.n);
        }
    }

    /// A replica set ended without being asked (refused, lost, failed): its
    /// replicas are forgotten and its room given back; the next sizing
    /// places them again.
    pub(crate) fn replica_gone(&mut self, work: WorkId) -> Result<(), ControlError> {
        let Some(i) = self.service_of(work) else {
            return Ok(());
        };
        if let Some(r) = self.services[i].take(work) {
            self.release(r.alloc)?;
            self.dirty = true;
        }
        Ok(())
    }

    /// The index of the service replica set `work` belongs to.
    fn service_of(&self, work: WorkId) -> Option<usize> {
        let id = (work.checked_sub(REPLICA_BASE)? >> 32) as ServiceId;
        self.svc_by_id.get(&id).map(|&i| i as usize)
    }

    /// Domain `d` under replica set allocation `a` of service `s` went
    /// away: the replicas there are forgotten and the set shrinks to the
    /// rest (a set with nothing elsewhere is stopped).
    pub(crate) fn lose_replica(
        &mut self,
        s: usize,
        a: AllocId,
        d: DomainOrd,
        out: &mut Vec<Action>,
    ) -> Result<(), ControlError> {
        let Some((work, elsewhere, g)) = self.sched.alloc(a).map(|x| {
            let here: u32 = x.parts.iter().filter(|p| p.0 == d).map(|p| p.1).sum();
            (x.work, x.gpus > here, here)
        }) else {
            return Ok(());
        };
        if !elsewhere {
            let Some(r) = self.services[s].take(work) else {
                return Ok(());
            };
            self.release(a)?;
            out.push(replica_stop(r.work));
            return Ok(());
        }
        let per = self.services[s].replica_gpus();
        self.shrink_set(s, work, &[(d, g / per)], out)
    }

    /// Takes `k` replicas off each `(domain, k)` of replica set `work` of
    /// service `s`: their GPUs are released and the backend told.
    fn shrink_set(
        &mut self,
        s: usize,
        work: WorkId,
        take: &[(DomainOrd, u32)],
        out: &mut Vec<Action>,
    ) -> Result<(), ControlError> {
        let Some(r) = self.services[s].alive.get(&work).copied() else {
            return Ok(());
        };
        let per = self.services[s].replica_gpus();
        let first = self
            .sched
            .alloc(r.alloc)
            .map_or(0, |x| self.topo.clusters[x.cluster as usize].first_domain);
        let mut domains = Vec::with_capacity(take.len());
        let mut gone = 0;
        for &(d, k) in take {
            // Dropping the set's last GPUs of a domain unlists it there.
            let g = self.sched.shrink_part(r.alloc, d, k * per)?;
            if g == 0 {
                continue;
            }
            gone += g / per;
            domains.push(DomainSlot {
                index: d - first,
                gpus: g,
                spare: false,
            });
        }
        let svc = &mut self.services[s];
        svc.uncount(&r, gone);
        if let Some(x) = svc.alive.get_mut(&work) {
            x.n -= gone.min(x.n);
        }
        svc.dirty = true;
        if !domains.is_empty() {
            out.push(Action::Shrink(ShrinkSpec {
                run: set_run(work),
                domains,
            }));
        }
        Ok(())
    }

    /// Removes `k` replicas of group `g` of service `s`, the newest first:
    /// whole sets while they are no larger than what is left to remove,
    /// then part of the next (its last domains first).
    fn remove_replicas(
        &mut self,
        s: usize,
        g: ReplicaGroup,
        mut k: u32,
        out: &mut Vec<Action>,
    ) -> Result<(), ControlError> {
        while k > 0 {
            let Some(r) = self.services[s].newest(g) else {
                break;
            };
            if r.n <= k {
                self.services[s].take(r.work);
                self.release(r.alloc)?;
                out.push(replica_stop(r.work));
                k -= r.n;
                continue;
            }
            let per = self.services[s].replica_gpus();
            let mut take = Vec::new();
            if let Some(x) = self.sched.alloc(r.alloc) {
                for &(d, gpus) in x.parts.iter().rev() {
                    if k == 0 {
                        break;
                    }
                    let n = (gpus / per).min(k);
                    take.push((d, n));
                    k -= n;
                }
            }
            self.shrink_set(s, r.work, &take, out)?;
            break;
        }
        Ok(())
    }

    /// Stops the replica on allocation `a` for job `p`'s reservation: the
    /// allocation is held for it rather than freed.
    pub(crate) fn preempt_replica(&mut self, a: AllocId, p: u32, out: &mut Vec<Action>) {
        let Some(Owner::Replica(s)) = self.owners.get(a as usize).copied().flatten() else {
            return;
        };
        let Some(work) = self.sched.alloc(a).map(|x| x.work) else {
            return;
        };
        let Some(r) = self.services[s as usize].take(work) else {
            return;
        };
        self.set_owner(a, Some(Owner::Held(p)));
        if let Some(res) = &mut self.jobs[p as usize].lv_mut().reservation {
            res.held.push(a);
        }
        out.push(replica_stop(r.work));
    }

    /// Asks the training runs among `victims` to stop so that service `s`
    /// can grow into their room.
    fn preempt_for_service(
        &mut self,
        now: i64,
        s: usize,
        victims: &[gf_sched::Victim],
        out: &mut Vec<Action>,
    ) {
        for v in victims {
            if let Some(i) = self.by_id.get(&v.work) {
                let i = i as usize;
                if self.jobs.get(i).is_some_and(|j| {
                    matches!(
                        j.state,
                        crate::job::JobState::Placed
                            | crate::job::JobState::Running
                            | crate::job::JobState::Restarting
                    )
                }) {
                    self.preemptions += 1;
                    self.request_stop(now, i, StopReason::Preempt, None, out);
                }
            }
        }
        self.services[s].dirty = true;
    }

    /// Sizes service `s` to its demand × headroom by the shared planner and
    /// carries the plan out: replicas it removed are released and stopped
    /// (the newest of each group first), replicas it placed are tracked and
    /// dispatched, and training runs it could only make room by preempting
    /// are asked to stop (the replica takes their room on a later pass).
    pub(crate) fn scale(
        &mut self,
        now: i64,
        s: usize,
        out: &mut Vec<Action>,
    ) -> Result<(), ControlError> {
        self.services[s].dirty = false;
        let svc = &self.services[s];
        if svc.removed {
            return Ok(());
        }
        let plan = self.sched.plan_replicas(
            now,
            &PlanInput {
                svc: &svc.req,
                current: &svc.counts,
                demand: &svc.demand,
                headroom: svc.headroom,
                first_id: svc.req.base_id + svc.next_seq,
                on_preempt: OnPreempt::Ask,
                explain: false,
            },
        )?;
        // One entry per replica to remove, counted by group in the order
        // the plan named them.
        let mut removed: Vec<(ReplicaGroup, u32)> = Vec::new();
        for &g in &plan.removed {
            match removed.iter_mut().find(|x| x.0 == g) {
                Some(x) => x.1 += 1,
                None => removed.push((g, 1)),
            }
        }
        for (g, k) in removed {
            self.remove_replicas(s, g, k, out)?;
            // Freed room may fit waiting jobs.
            self.dirty = true;
        }
        // The replicas placed on one cluster share an allocation: one set,
        // one dispatch.
        let mut sets: Vec<(AllocId, WorkId, ReplicaGroup, u32)> = Vec::new();
        let mut set_of: FxHashMap<AllocId, usize> = FxHashMap::default();
        for a in &plan.added {
            // A decision's domain-filling replicas come in a row: the set
            // of the one before is checked first, without hashing.
            if let Some(last) = sets.last_mut()
                && last.0 == a.alloc
            {
                last.3 += 1;
                continue;
            }
            match set_of.get(&a.alloc) {
                Some(&k) => sets[k].3 += 1,
                None => {
                    set_of.insert(a.alloc, sets.len());
                    sets.push((a.alloc, a.work, a.group, 1));
                }
            }
        }
        self.services[s].next_seq += plan.added.len() as u64;
        for (alloc, work, group, n) in sets {
            self.track(alloc, Owner::Replica(s as u32));
            let placement = self.placement_of(alloc);
            let svc = &mut self.services[s];
            svc.counts.add_n(group, n);
            let slot = svc.counts.slot(group);
            svc.replicas[slot].push(work);
            svc.alive.insert(
                work,
                Replica {
                    work,
                    alloc,
                    group,
                    n,
                    serving: false,
                },
            );
            out.push(Action::Dispatch(RunSpec {
                run: set_run(work),
                placement,
                kind: RunKind::Replica {
                    service: svc.id,
                    replicas: n,
                },
            }));
        }
        if !plan.victims.is_empty() {
            self.preempt_for_service(now, s, &plan.victims, out);
        }
        // Its buffers serve the next plan.
        self.sched.recycle_plan(plan);
        Ok(())
    }
}
