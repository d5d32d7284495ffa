//! What the controller learns about interruptions from its backends'
//! reports alone: per cluster, the training runs interrupted (every cause
//! the backend reports — a crash, a lost run, capacity gone from under it,
//! a stop it did not ask for) over the GPU-seconds those runs ran. A real
//! controller never sees the failure rate a simulator injects; it sees
//! these reports, so the checkpoint interval is chosen from them.
//!
//! A cluster with little history borrows from its accelerator's pool, and
//! the pool from a prior (the configured published rate) worth
//! [`PRIOR_GPU_S`] of exposure: about eight interruptions' worth at the
//! Llama 3 rate, so a handful of reports moves the estimate and a season of
//! them decides it.

use gf_sched::{ClusterOrd, DomainOrd, Topology};
use rustc_hash::FxHashMap;
use serde::Serialize;

/// Weight of the prior, GPU-seconds: 16,384 GPU-days.
pub const PRIOR_GPU_S: f64 = 16_384.0 * 86_400.0;

/// Interruptions seen and exposure, for one cluster or one accelerator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Observed {
    /// Training runs interrupted.
    pub interruptions: u64,
    /// GPU-seconds of training runs' working GPUs.
    pub gpu_s: f64,
}

/// Failures and repairs of one cluster's domains, as capacity reports show
/// them: what Little's law needs to size a spare pool.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Repairs {
    /// Domains online now.
    online: u64,
    /// When `online_dom_s` was last advanced.
    last_s: Option<i64>,
    /// Domain-seconds online.
    online_dom_s: f64,
    /// Domains that failed (a GPU or the domain itself).
    failures: u64,
    /// Failed domains that came back, and the seconds they were out.
    repairs: u64,
    repair_s: f64,
}

/// The controller's running estimate of interruption rates.
#[derive(Debug, Clone)]
pub(crate) struct RateEstimator {
    prior_per_gpu_s: f64,
    by_cluster: Vec<Observed>,
    by_accel: Vec<Observed>,
    accel_of: Vec<u16>,
    repairs: Vec<Repairs>,
    /// Domains out for repair, since when.
    failed_since: FxHashMap<DomainOrd, i64>,
}

impl RateEstimator {
    pub(crate) fn new(topo: &Topology, prior_per_gpu_s: f64) -> Self {
        RateEstimator {
            prior_per_gpu_s: prior_per_gpu_s.max(0.0),
            by_cluster: vec![Observed::default(); topo.clusters.len()],
            by_accel: vec![Observed::default(); topo.accels.len()],
            accel_of: topo.clusters.iter().map(|c| c.accel).collect(),
            repairs: vec![Repairs::default(); topo.clusters.len()],
            failed_since: FxHashMap::default(),
        }
    }

    /// Sets how many domains of `c` are online when the controller starts.
    pub(crate) fn set_online(&mut self, c: ClusterOrd, domains: u64) {
        self.repairs[c as usize].online = domains;
    }

    /// Domain `d` of cluster `c` went offline (`failed`: a GPU or domain
    /// failure, which a repair brings back) or came online.
    pub(crate) fn domain_flipped(
        &mut self,
        now: i64,
        c: ClusterOrd,
        d: DomainOrd,
        online: bool,
        failed: bool,
    ) {
        let r = &mut self.repairs[c as usize];
        if let Some(t) = r.last_s {
            r.online_dom_s += r.online as f64 * (now - t).max(0) as f64;
        }
        r.last_s = Some(now);
        if online {
            r.online += 1;
            if let Some(t) = self.failed_since.remove(&d) {
                r.repairs += 1;
                r.repair_s += (now - t).max(0) as f64;
            }
        } else {
            r.online = r.online.saturating_sub(1);
            if failed {
                r.failures += 1;
                self.failed_since.insert(d, now);
            }
        }
    }

    /// Little's law on cluster `c`: the mean number of a `domains`-domain
    /// gang's domains out for repair at once, failures per domain-second
    /// times the mean repair; `None` before a repair was seen.
    pub(crate) fn domains_down(&self, c: ClusterOrd, domains: u32) -> Option<f64> {
        let r = &self.repairs[c as usize];
        if r.repairs == 0 || r.online_dom_s <= 0.0 {
            return None;
        }
        let rate = r.failures as f64 / r.online_dom_s;
        Some(domains as f64 * rate * (r.repair_s / r.repairs as f64))
    }

    /// A training run on `c` was interrupted.
    pub(crate) fn interrupted(&mut self, c: ClusterOrd) {
        let a = self.accel_of[c as usize] as usize;
        self.by_cluster[c as usize].interruptions += 1;
        self.by_accel[a].interruptions += 1;
    }

    /// A training run on `c` ran `gpu_s` GPU-seconds.
    pub(crate) fn ran(&mut self, c: ClusterOrd, gpu_s: f64) {
        let a = self.accel_of[c as usize] as usize;
        self.by_cluster[c as usize].gpu_s += gpu_s;
        self.by_accel[a].gpu_s += gpu_s;
    }

    /// Interruptions per GPU-second expected on `c`: its own history, shrunk
    /// towards its accelerator's, shrunk towards the prior.
    pub(crate) fn per_gpu_s(&self, c: ClusterOrd) -> f64 {
        let shrink = |o: &Observed, toward: f64| {
            (o.interruptions as f64 + toward * PRIOR_GPU_S) / (o.gpu_s + PRIOR_GPU_S)
        };
        let a = self.accel_of[c as usize] as usize;
        let pool = shrink(&self.by_accel[a], self.prior_per_gpu_s);
        shrink(&self.by_cluster[c as usize], pool)
    }

    /// What was observed on `c`.
    pub(crate) fn observed(&self, c: ClusterOrd) -> Observed {
        self.by_cluster[c as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_moves_from_the_prior_to_what_is_observed() {
        let doc = gf_testkit::fleet()
            .provider("p")
            .region("r", 10.0, "z")
            .cluster("a", "h100", 10, 2.0)
            .cluster("b", "h100", 10, 2.0)
            .build();
        let topo = Topology::from_document(&doc);
        let prior = 1e-9;
        let mut e = RateEstimator::new(&topo, prior);
        assert!((e.per_gpu_s(0) - prior).abs() < 1e-15);
        // Ten times the prior rate, over a hundred times the prior's weight.
        let gpu_s = 100.0 * PRIOR_GPU_S;
        for _ in 0..(gpu_s * 10.0 * prior) as u64 {
            e.interrupted(0);
        }
        e.ran(0, gpu_s);
        let r = e.per_gpu_s(0);
        assert!((r / prior - 10.0).abs() < 0.2, "{}", r / prior);
        // The sibling cluster of the same accelerator learns from the pool.
        assert!(e.per_gpu_s(1) > 5.0 * prior);
    }

    #[test]
    fn littles_law_counts_the_domains_out_for_repair_at_once() {
        let doc = gf_testkit::fleet()
            .provider("p")
            .region("r", 10.0, "z")
            .cluster("a", "h100", 100, 2.0)
            .build();
        let topo = Topology::from_document(&doc);
        let mut e = RateEstimator::new(&topo, 0.0);
        e.set_online(0, 100);
        assert_eq!(e.domains_down(0, 10), None);
        // Ten failures over 100 domains in 1,000 hours, each out 10 hours:
        // a domain is out 0.1% of the time, so 10 domains hold 0.01 down.
        let h = 3600;
        for k in 0..10 {
            let t = k * 100 * h;
            e.domain_flipped(t, 0, k as u32, false, true);
            e.domain_flipped(t + 10 * h, 0, k as u32, true, false);
        }
        // A domain leaving for another reason (a ramp) closes the window.
        e.domain_flipped(1000 * h, 0, 50, false, false);
        let l = e.domains_down(0, 10).unwrap();
        assert!((l - 0.01).abs() < 1e-3, "{l}");
    }
}
