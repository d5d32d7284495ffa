//! Replica sets in the world: a run of many replicas of one service on one
//! cluster, whole replicas on each of its domains. What a set serves is
//! tallied by zone and accelerator for the requests the twin routes; a set
//! gives up replicas when the controller shrinks it and when a domain under
//! it fails, and serves on with the rest.

use gf_backend::BackendError;
use gf_model::protocol::{RunId, ServiceId, ShrinkSpec};
use gf_sched::{ClusterOrd, DomainOrd};

use super::SimWorld;

/// Refuses a replica set whose GPUs do not split into `replicas` equal
/// replicas, whole ones on every domain.
pub(super) fn check_set(
    cluster: &str,
    replicas: u32,
    gpus: u32,
    parts: &[(DomainOrd, u32)],
) -> Result<(), BackendError> {
    let whole = replicas > 0
        && gpus.is_multiple_of(replicas)
        && parts.iter().all(|p| p.1.is_multiple_of(gpus / replicas));
    if whole {
        Ok(())
    } else {
        Err(BackendError::Refused(format!(
            "{replicas} replicas on {gpus} GPUs of {cluster} are not whole replicas on each domain"
        )))
    }
}

impl SimWorld {
    /// Replica set `run` starts serving requests (its model is loaded).
    pub(super) fn serve(&mut self, run: RunId) {
        let Some(r) = self.run_mut(run) else {
            return;
        };
        let Some(sid) = r.service.filter(|_| !r.serving) else {
            return;
        };
        r.serving = true;
        let (c, n) = (r.cluster, r.replicas);
        self.count_serving(sid, c, n as i32);
    }

    /// Counts `delta` serving replicas of `sid` on cluster `c` in or out of
    /// its service's tally.
    pub(super) fn count_serving(&mut self, sid: ServiceId, c: ClusterOrd, delta: i32) {
        let cl = &self.topo.clusters[c as usize];
        let na = self.topo.accels.len();
        let nz = self.topo.zones.len();
        let i = self.topo.sites[cl.site as usize].zone as usize * na + cl.accel as usize;
        let v = self.serving.entry(sid).or_insert_with(|| vec![0; nz * na]);
        v[i] = (v[i] as i64 + delta as i64).max(0) as u32;
    }

    /// Replicas of `service` serving now, by zone and accelerator ordinal
    /// (`zone × accelerators + accelerator`); empty when none ever served.
    pub fn serving(&self, service: ServiceId) -> &[u32] {
        self.serving.get(&service).map_or(&[], Vec::as_slice)
    }

    /// Domain `d` under replica set `run` failed: its replicas there are
    /// gone, the set serves on with the rest.
    pub(super) fn drop_replicas(&mut self, run: RunId, d: DomainOrd) {
        self.shrink_part(run, d, u32::MAX);
    }

    /// The controller gives up part of a replica set; a set left with no
    /// replica is over (the controller stops a set rather than shrink it
    /// to nothing, so this only tidies after a domain failure it has not
    /// heard of yet).
    pub(super) fn shrink_set(&mut self, s: &ShrinkSpec) -> Result<(), BackendError> {
        let Some(r) = self.run(s.run) else {
            return Ok(());
        };
        if r.replicas == 0 {
            return Err(BackendError::Refused(format!(
                "run {} is not a replica set",
                s.run
            )));
        }
        let c = r.cluster;
        let per = r.gpus / r.replicas;
        for slot in &s.domains {
            let Some(d) = self.topo.domain_of(c, slot.index) else {
                continue;
            };
            let g = self.shrink_part(s.run, d, slot.gpus);
            self.counters.replica_stops += (g / per.max(1)) as u64;
        }
        if self.run(s.run).is_some_and(|r| r.replicas == 0) {
            self.end_run(s.run);
        }
        Ok(())
    }

    /// Takes up to `gpus` GPUs (whole replicas) of set `run` off domain `d`
    /// and returns how many it took: they are free, their time is
    /// accounted, and the replicas on them no longer serve.
    fn shrink_part(&mut self, run: RunId, d: DomainOrd, gpus: u32) -> u32 {
        let now = self.now;
        let Some(s) = self.live_slot(run) else {
            return 0;
        };
        let Some(r) = self.runs.at_mut(s) else {
            return 0;
        };
        if r.replicas == 0 || r.gpus < r.replicas {
            return 0;
        }
        let per = r.gpus / r.replicas;
        let Some(k) = r.parts.iter().position(|p| p.0 == d) else {
            return 0;
        };
        let g = gpus.min(r.parts[k].1) / per * per;
        if g == 0 {
            return 0;
        }
        r.parts[k].1 -= g;
        let emptied = r.parts[k].1 == 0;
        if emptied {
            r.parts.remove(k);
        }
        r.gpus -= g;
        r.replicas -= g / per;
        let (c, sid, since) = (r.cluster, r.service.filter(|_| r.serving), r.since);
        if emptied {
            self.doms[d as usize].unlist(&mut self.spill, s);
        }
        self.doms[d as usize].used -= g;
        self.alloc_change(c, -(g as i64));
        self.replica_gpu_s += (now - since) as f64 * g as f64;
        if let Some(sid) = sid {
            self.count_serving(sid, c, -((g / per) as i32));
        }
        g
    }
}
