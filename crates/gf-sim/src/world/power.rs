//! Power as a site's meter reads it, beside the admission figure the
//! scheduler keeps (every allocated GPU at full facility power): every
//! online GPU draws its idle floor, those that compute the rest of their
//! load, and the site's PUE scales both. A gang stalled in a checkpoint or a
//! restart is then a drop of megawatts, as Llama 3 reports.

use gf_sched::ClusterOrd;

use super::SimWorld;

/// What a site's meter reads, per site: idle floor and PUE.
#[derive(Debug, Clone)]
pub(super) struct Metering {
    idle_share: f64,
    /// Site PUE over the catalog's reference PUE (1.2), per site.
    pue_factor: Vec<f64>,
}

impl SimWorld {
    /// Meters site power as `p` says (idle floor, site PUE), if it says to.
    pub fn set_power_metering(&mut self, p: &gf_model::scenario::PowerSpec) {
        self.metering = p.metered.then(|| Metering {
            idle_share: p.idle_share,
            pue_factor: self
                .topo
                .sites
                .iter()
                .map(|s| p.site_pue.get(&s.name).copied().unwrap_or(p.pue) / 1.2)
                .collect(),
        });
    }

    /// Watts each site's meter reads now, when metering is on: every online
    /// GPU's idle floor, the rest of its load power for each GPU that
    /// computes (a training run's working GPUs between its restart and
    /// stalls, a replica's), scaled to the site's PUE.
    pub fn metered_site_w(&self) -> Option<Vec<f64>> {
        let m = self.metering.as_ref()?;
        let mut it = vec![0.0; self.topo.sites.len()];
        for (c, cl) in self.topo.clusters.iter().enumerate() {
            let w = self.topo.watts_per_gpu(c as ClusterOrd) as f64;
            it[cl.site as usize] += self.acc[c].up as f64 * w * m.idle_share;
        }
        // Busy watts are summed as integers: the runs are held in a hash
        // map, and an integer sum is the same in any iteration order.
        let mut busy_w = vec![0u64; self.topo.sites.len()];
        for r in self.runs.values().filter(|r| !r.ghost) {
            let busy = match r.plan {
                Some(p) if p.computing_at(self.now) => r.working,
                Some(_) => 0,
                None => r.gpus,
            };
            let site = self.topo.clusters[r.cluster as usize].site as usize;
            busy_w[site] += busy as u64 * self.topo.watts_per_gpu(r.cluster);
        }
        for (x, &b) in it.iter_mut().zip(&busy_w) {
            *x += b as f64 * (1.0 - m.idle_share);
        }
        Some(it.iter().zip(&m.pue_factor).map(|(w, f)| w * f).collect())
    }
}
