//! Placing an inference service: replicas spread over providers so that at
//! least `min_providers` serve it and none holds more than
//! `max_share_per_provider` of the replicas, each replica preferring a
//! region whose users still have unserved demand.

use gf_model::ServiceSpec;

use crate::decision::{Decision, Explanation};
use crate::request::{Request, RequestError, WorkId};
use crate::scheduler::{AllocId, Scheduler};
use crate::topology::{ClusterOrd, Topology};

/// A service resolved against the topology.
#[derive(Debug, Clone)]
pub struct ServiceRequest {
    /// Replica `i` gets work id `base_id + i`.
    pub base_id: WorkId,
    /// The request of one replica.
    pub replica: Request,
    /// Requests per second of one replica, per accelerator ordinal.
    pub throughput: Vec<(u16, f64)>,
    /// Unserved demand per zone ordinal, requests per second.
    pub demand: Vec<(u32, f64)>,
    /// Replicas must span at least this many providers.
    pub min_providers: u32,
    /// At most this share of replicas on one provider.
    pub max_share_per_provider: f64,
    /// Fewest replicas.
    pub min_replicas: u32,
    /// Most replicas.
    pub max_replicas: u32,
}

impl ServiceRequest {
    /// Resolves a service spec.
    pub fn from_spec(
        topo: &Topology,
        base_id: WorkId,
        s: &ServiceSpec,
    ) -> Result<Self, RequestError> {
        let replica = Request::from_replica(topo, base_id, s)?;
        Ok(ServiceRequest {
            base_id,
            throughput: s
                .throughput
                .iter()
                .filter_map(|(a, &t)| topo.accel(a).map(|o| (o, t)))
                .collect(),
            demand: s
                .demand
                .iter()
                .filter_map(|d| {
                    topo.zones
                        .iter()
                        .position(|z| *z == d.zone)
                        .map(|z| (z as u32, d.rps))
                })
                .collect(),
            replica,
            min_providers: s.min_providers,
            max_share_per_provider: s.max_share_per_provider,
            min_replicas: s.min_replicas,
            max_replicas: s.max_replicas,
        })
    }

    /// Replicas needed to serve all demand on the fastest accelerator, within bounds.
    pub fn target_replicas(&self) -> u32 {
        let best = self.throughput.iter().map(|t| t.1).fold(0.0, f64::max);
        let total: f64 = self.demand.iter().map(|d| d.1).sum();
        let n = if best > 0.0 {
            (total / best).ceil() as u32
        } else {
            0
        };
        n.clamp(self.min_replicas, self.max_replicas.max(self.min_replicas))
    }
}

/// The replicas placed for a service.
#[derive(Debug, Clone)]
pub struct ServiceOutcome {
    /// Each replica's work id, decision and allocation.
    pub replicas: Vec<(WorkId, Decision, AllocId)>,
    /// Demand left unserved, requests per second.
    pub unserved_rps: f64,
    /// Distinct providers used.
    pub providers: u32,
    /// Why the next replica did not fit, when fewer than wanted were placed.
    pub stopped: Option<Explanation>,
}

impl Scheduler {
    /// Places a service's replicas one by one, committing each.
    pub fn place_service(
        &mut self,
        now: i64,
        svc: &ServiceRequest,
        explain: bool,
    ) -> ServiceOutcome {
        let topo = std::sync::Arc::clone(self.topology());
        let target = svc.target_replicas();
        let cap = ((svc.max_share_per_provider * target as f64).floor() as u32).max(1);
        let mut per_provider = vec![0u32; topo.providers.len()];
        let mut unserved = svc.demand.clone();
        let mut out = ServiceOutcome {
            replicas: Vec::new(),
            unserved_rps: 0.0,
            providers: 0,
            stopped: None,
        };
        let tput = |c: ClusterOrd| {
            let a = topo.clusters[c as usize].accel;
            svc.throughput
                .iter()
                .find(|t| t.0 == a)
                .map_or(0.0, |t| t.1)
        };
        let mut i = 0u32;
        loop {
            let left: f64 = unserved.iter().map(|u| u.1.max(0.0)).sum();
            let want_more = i < svc.min_replicas || left > 0.0;
            if !want_more || i >= svc.max_replicas {
                break;
            }
            let used = per_provider.iter().filter(|&&n| n > 0).count() as u32;
            let slots_left = target.saturating_sub(i);
            let must_be_new = used < svc.min_providers && slots_left <= svc.min_providers - used;
            let extra = |c: ClusterOrd| -> Option<f64> {
                let cl = &topo.clusters[c as usize];
                let p = cl.provider as usize;
                // The share cap binds while the service grows to its target;
                // past it (slower accelerators) it grows with the service.
                let cap_now =
                    cap.max(((svc.max_share_per_provider * (i + 1) as f64).floor()) as u32);
                if per_provider[p] >= cap_now || (must_be_new && per_provider[p] > 0) {
                    return None;
                }
                let zone = topo.sites[cl.site as usize].zone;
                let near = unserved.iter().find(|u| u.0 == zone).map_or(0.0, |u| u.1);
                let near_bonus = if near > 0.0 {
                    4.0 * (near / (left.max(1e-9))).min(1.0) + 2.0
                } else {
                    0.0
                };
                let new_provider = if per_provider[p] == 0 && used < svc.min_providers {
                    3.0
                } else {
                    0.0
                };
                Some(near_bonus + new_provider)
            };
            let mut req = svc.replica.clone();
            req.id = svc.base_id + i as u64;
            let d = self.decide_with(now, &req, explain, &extra);
            let Some(p) = d.placement().cloned() else {
                out.stopped = Some(d.explanation);
                break;
            };
            let Ok(Some((id, _))) = self.apply(now, &req, &d) else {
                out.stopped = Some(d.explanation.clone());
                break;
            };
            let cl = &topo.clusters[p.cluster as usize];
            per_provider[cl.provider as usize] += 1;
            let zone = topo.sites[cl.site as usize].zone;
            let mut t = tput(p.cluster);
            // A replica serves its own zone first, then spills to the rest.
            for u in unserved.iter_mut().filter(|u| u.0 == zone) {
                let s = t.min(u.1.max(0.0));
                u.1 -= s;
                t -= s;
            }
            for u in unserved.iter_mut() {
                let s = t.min(u.1.max(0.0));
                u.1 -= s;
                t -= s;
            }
            out.replicas.push((req.id, d, id));
            i += 1;
        }
        out.unserved_rps = unserved.iter().map(|u| u.1.max(0.0)).sum();
        out.providers = per_provider.iter().filter(|&&n| n > 0).count() as u32;
        out
    }
}
