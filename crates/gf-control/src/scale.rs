//! Inference services: replica sets sized to demand under the spread rules
//! (minimum providers, a cap per provider), and the share of demand served
//! within the latency SLO.
//!
//! A replica is a run like a job's: it is dispatched with its placement and
//! stopped with a release, so every backend serves both the same way.

use std::sync::Arc;

use gf_model::ServiceSpec;
use gf_model::protocol::{RunId, RunKind, RunSpec, ServiceId, StopReason, StopSpec};
use gf_sched::{AllocId, ClusterOrd, ServiceRequest, WorkId};

use crate::controller::{Controller, Owner};
use crate::error::ControlError;
use crate::protocol::Action;

/// Work ids of service replicas live above this, so they never collide with job ids.
pub(crate) const REPLICA_BASE: WorkId = 1 << 62;

/// Latency a request pays to be served from another zone; a service whose
/// SLO is tighter can only be served well from its users' own zone.
pub const CROSS_ZONE_MS: f64 = 150.0;

/// One replica of a service.
#[derive(Debug, Clone)]
pub(crate) struct Replica {
    work: WorkId,
    alloc: AllocId,
    zone: u32,
    /// Index of its accelerator in the service's throughput list.
    tk: usize,
    provider: u32,
}

/// A service as the controller knows it.
#[derive(Debug, Clone)]
pub(crate) struct Service {
    pub(crate) id: ServiceId,
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
    pub(crate) dirty: bool,
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

    /// Forgets replica allocation `a` of service `s` (its capacity went away).
    pub(crate) fn lose_replica(
        &mut self,
        s: usize,
        a: AllocId,
        out: &mut Vec<Action>,
    ) -> Result<(), ControlError> {
        let svc = &mut self.services[s];
        let Some(k) = svc.replicas.iter().position(|r| r.alloc == a) else {
            return Ok(());
        };
        let r = svc.replicas.swap_remove(k);
        svc.tally(&r, false);
        svc.dirty = true;
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
        let svc = &mut self.services[s as usize];
        let Some(k) = svc.replicas.iter().position(|r| r.alloc == a) else {
            return;
        };
        let r = svc.replicas.swap_remove(k);
        svc.tally(&r, false);
        svc.dirty = true;
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

    /// Sizes service `s` to its demand × headroom: grows replica by replica
    /// toward the zones with unserved demand, under the spread rules; shrinks
    /// where capacity exceeds demand most. Per-zone and per-provider tallies
    /// are kept up to date as it goes, so a step costs O(zones + providers),
    /// not O(replicas).
    pub(crate) fn scale(
        &mut self,
        now: i64,
        s: usize,
        out: &mut Vec<Action>,
    ) -> Result<(), ControlError> {
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
                let p = match d.outcome {
                    gf_sched::Outcome::Placed(p) => p,
                    gf_sched::Outcome::Preempt { victims, .. } => {
                        // Ask the victims to stop; the replica takes the room
                        // on a later pass, once they have.
                        self.preempt_for_service(now, s, &victims, out);
                        break;
                    }
                    gf_sched::Outcome::NoFit => break,
                };
                let a = self.sched.commit(now, &req, &p)?;
                self.track(a, Owner::Replica(s as u32));
                let cluster = p.cluster;
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
                    zone,
                    tk,
                    provider: cl.provider,
                };
                svc.tally(&r, true);
                svc.replicas.push(r);
                let placement = self.placement_of(a);
                out.push(Action::Dispatch(RunSpec {
                    run: RunId {
                        job: req.id,
                        attempt: 1,
                    },
                    placement,
                    kind: RunKind::Replica {
                        service: self.services[s].id,
                    },
                }));
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
                self.release(r.alloc)?;
                out.push(replica_stop(r.work));
            }
            let mut k = 0;
            self.services[s].replicas.retain(|_| {
                k += 1;
                !gone[k - 1]
            });
            self.dirty = true;
        }
        Ok(())
    }
}
