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

use gf_sched::{ClusterOrd, Topology};
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

/// The controller's running estimate of interruption rates.
#[derive(Debug, Clone)]
pub(crate) struct RateEstimator {
    prior_per_gpu_s: f64,
    by_cluster: Vec<Observed>,
    by_accel: Vec<Observed>,
    accel_of: Vec<u16>,
}

impl RateEstimator {
    pub(crate) fn new(topo: &Topology, prior_per_gpu_s: f64) -> Self {
        RateEstimator {
            prior_per_gpu_s: prior_per_gpu_s.max(0.0),
            by_cluster: vec![Observed::default(); topo.clusters.len()],
            by_accel: vec![Observed::default(); topo.accels.len()],
            accel_of: topo.clusters.iter().map(|c| c.accel).collect(),
        }
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
        let doc = gf_model::parse_document(
            "f.toml",
            r#"
version = 1
[[provider]]
name = "p"
[[provider.region]]
name = "r"
power_mw = 10.0
zone = "z"
[[provider.region.cluster]]
name = "a"
accelerator = "h100"
domains = 10
price = { model = "on-demand", usd_per_gpu_hour = 2.0 }
[[provider.region.cluster]]
name = "b"
accelerator = "h100"
domains = 10
price = { model = "on-demand", usd_per_gpu_hour = 2.0 }
"#,
        )
        .unwrap();
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
}
