//! Inference services: when to size a service and how its plan is carried
//! out. Which replicas to add or remove, where and how many is placement and
//! lives in gf-sched ([`gf_sched::Scheduler::plan_replicas`], the planner
//! `gigafleet place` runs too); this module keeps the lifecycle: the replicas
//! that run, their tallies, the Dispatch and Stop actions, and the training
//! runs asked to stop when a replica can only fit by preemption.
//!
//! A replica is a run like a job's: it is dispatched with its placement and
//! stopped with a release, so every backend serves both the same way.

use rustc_hash::FxHashMap;

use gf_model::ServiceSpec;
use gf_model::protocol::{RunId, RunKind, RunSpec, ServiceId, StopReason, StopSpec};
use gf_sched::{
    AllocId, OnPreempt, PlanInput, ReplicaCounts, ReplicaGroup, ServiceRequest, WorkId,
};

use crate::controller::{Controller, Owner};
use crate::error::ControlError;
use crate::protocol::Action;

/// Work ids of service replicas live above this, so they never collide with job ids.
pub(crate) const REPLICA_BASE: WorkId = 1 << 62;

/// One replica of a service.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Replica {
    work: WorkId,
    alloc: AllocId,
    /// Where it counts for sizing and spreading.
    group: ReplicaGroup,
}

/// A service as the controller knows it.
#[derive(Debug, Clone)]
pub(crate) struct Service {
    pub(crate) id: ServiceId,
    spec: ServiceSpec,
    req: ServiceRequest,
    headroom: f64,
    demand: Vec<(u32, f64)>,
    /// The replicas by group (`counts.slot`), each list oldest first, so
    /// that removing the newest of a group costs O(1). A replica lost or
    /// preempted leaves a stale entry here (its work id no longer in
    /// `alive`), skipped when met and swept once stale entries are half a
    /// list: finding a lost replica costs O(1), not a scan of its service
    /// (which made a 20M-GPU fleet's failures quadratic).
    replicas: Vec<Vec<WorkId>>,
    /// Stale entries per list of `replicas`.
    stale: Vec<u32>,
    /// The replicas that run, by work id (unique for ever, unlike an
    /// allocation id, which the scheduler reuses).
    alive: FxHashMap<WorkId, Replica>,
    /// The replicas counted by zone, accelerator and provider, kept in step
    /// with `replicas` so that planning and the SLO cost O(groups), not
    /// O(replicas).
    counts: ReplicaCounts,
    /// The replicas that serve: reported started by their backend (a
    /// replica loads its model first). The SLO counts these.
    serving: ReplicaCounts,
    /// Replicas dispatched and not yet reported started.
    loading: FxHashMap<WorkId, ReplicaGroup>,
    next_seq: u64,
    pub(crate) dirty: bool,
    /// Removed by its owner: no replicas, never sized again.
    removed: bool,
}

impl Service {
    /// Counts a replica just dispatched (serving once reported started).
    fn count(&mut self, work: WorkId, g: ReplicaGroup) {
        self.counts.add(g);
        self.loading.insert(work, g);
    }

    /// Forgets a replica in group `g`.
    fn uncount(&mut self, work: WorkId, g: ReplicaGroup) {
        self.counts.remove(g);
        if self.loading.remove(&work).is_none() {
            self.serving.remove(g);
        }
    }

    /// Takes replica `work` out of the service (it was lost or
    /// preempted), leaving its list entry stale.
    fn take(&mut self, work: WorkId) -> Option<Replica> {
        let r = self.alive.remove(&work)?;
        self.uncount(r.work, r.group);
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

    /// Takes the newest running replica of group `g` out of the service.
    fn take_newest(&mut self, g: ReplicaGroup) -> Option<Replica> {
        let slot = self.counts.slot(g);
        while let Some(w) = self.replicas[slot].pop() {
            match self.alive.remove(&w) {
                Some(r) => {
                    self.uncount(r.work, r.group);
                    return Some(r);
                }
                None => self.stale[slot] = self.stale[slot].saturating_sub(1),
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
        run: RunId {
            job: work,
            attempt: 1,
        },
        reason: StopReason::Release,
        grace_s: 0,
    })
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
            loading: FxHashMap::default(),
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

    /// A replica's backend reported it started: it serves from now.
    pub(crate) fn replica_started(&mut self, work: WorkId) {
        let id = ((work - REPLICA_BASE) >> 32) as ServiceId;
        let Some(&i) = self.svc_by_id.get(&id) else {
            return;
        };
        let svc = &mut self.services[i as usize];
        if let Some(g) = svc.loading.remove(&work) {
            svc.serving.add(g);
        }
    }

    /// Forgets replica allocation `a` of service `s` (its capacity went away).
    pub(crate) fn lose_replica(
        &mut self,
        s: usize,
        a: AllocId,
        out: &mut Vec<Action>,
    ) -> Result<(), ControlError> {
        let Some(work) = self.sched.alloc(a).map(|x| x.work) else {
            return Ok(());
        };
        let Some(r) = self.services[s].take(work) else {
            return Ok(());
        };
        self.release(a)?;
        out.push(replica_stop(r.work));
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
        if let Some(res) = &mut self.jobs[p as usize].reservation {
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
            if let Some(&i) = self.by_id.get(&v.work) {
                let i = i as usize;
                if matches!(
                    self.jobs[i].state,
                    crate::job::JobState::Placed
                        | crate::job::JobState::Running
                        | crate::job::JobState::Restarting
                ) {
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
        for &g in &plan.removed {
            let Some(r) = self.services[s].take_newest(g) else {
                continue;
            };
            self.release(r.alloc)?;
            out.push(replica_stop(r.work));
            // Freed room may fit waiting jobs.
            self.dirty = true;
        }
        for a in &plan.added {
            self.track(a.alloc, Owner::Replica(s as u32));
            let placement = self.placement_of(a.alloc);
            let svc = &mut self.services[s];
            svc.next_seq += 1;
            svc.count(a.work, a.group);
            let slot = svc.counts.slot(a.group);
            svc.replicas[slot].push(a.work);
            svc.alive.insert(
                a.work,
                Replica {
                    work: a.work,
                    alloc: a.alloc,
                    group: a.group,
                },
            );
            out.push(Action::Dispatch(RunSpec {
                run: RunId {
                    job: a.work,
                    attempt: 1,
                },
                placement,
                kind: RunKind::Replica { service: svc.id },
            }));
        }
        if !plan.victims.is_empty() {
            self.preempt_for_service(now, s, &plan.victims, out);
        }
        Ok(())
    }
}
