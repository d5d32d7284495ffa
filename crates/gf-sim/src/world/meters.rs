//! What the world's meters read: cost by cluster and against each contract
//! (billing), GPU-seconds allocated, online and paid, watts per site, GPUs
//! online. Read by the twin's summary and by billing reports; they change
//! nothing in the world.

use super::{HOUR, SimWorld};

impl SimWorld {
    /// What cluster `c` cost so far.
    pub(crate) fn cluster_cost(&self, c: usize) -> f64 {
        let cl = &self.topo.clusters[c];
        let a = &self.acc[c];
        let gpu_s = match cl.price_model {
            gf_model::PriceModel::Reserved => a.paid_s,
            _ => a.alloc_s,
        };
        gpu_s / HOUR * cl.usd_per_gpu_hour
    }

    /// Spend accrued against contract `k` so far: the provider's invoice.
    pub fn contract_spend(&mut self, k: usize) -> f64 {
        let mut usd = 0.0;
        for c in 0..self.topo.clusters.len() {
            if self.topo.clusters[c].contract == Some(k as u32) {
                self.touch(c);
                usd += self.cluster_cost(c);
            }
        }
        usd
    }

    /// Advances every cluster's integrals to now.
    pub fn touch_all(&mut self) {
        for c in 0..self.acc.len() {
            self.touch(c);
        }
    }

    /// Per cluster: GPUs allocated and online now.
    pub fn cluster_now(&self) -> Vec<(u64, u64)> {
        self.acc.iter().map(|a| (a.alloc, a.up)).collect()
    }

    /// Per cluster: allocated, online and paid GPU-seconds so far.
    pub fn cluster_integrals(&self) -> Vec<(f64, f64, f64)> {
        self.acc
            .iter()
            .map(|a| (a.alloc_s, a.up_s, a.paid_s))
            .collect()
    }

    /// Per cluster: cost so far.
    pub fn cluster_costs(&self) -> Vec<f64> {
        (0..self.acc.len()).map(|c| self.cluster_cost(c)).collect()
    }

    /// Watts drawn per site now.
    pub fn site_watts(&self) -> &[u64] {
        &self.site_w
    }

    /// GPUs online now.
    pub fn gpus_online(&self) -> u64 {
        self.acc.iter().map(|a| a.up).sum()
    }
}
