//! EASY backfill (Lifka 1995; Mu'alem and Feitelson 2001): the first job of
//! a pass that finds no room gets a reservation — the cluster where it can
//! start soonest, and when — computed from the estimated ends of the work
//! running there; later jobs may start on that cluster only if they end by
//! then or fit in the GPUs the head will not need. Without it, a stream of
//! small jobs backfilling every freed GPU can starve a large gang forever.
//!
//! Ends are estimated from what the controller knows: a job's work left
//! (its spec less its last reported checkpoint) at its cluster's
//! accelerator's throughput. Replicas and held room have no end. An
//! estimate that runs late delays the head; it never lets work in that the
//! estimate says would delay it.

use gf_sched::{ClusterOrd, Placement};

use crate::controller::{Controller, Owner};

/// The room held for the blocked head of a pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Shadow {
    /// The cluster it will start on.
    pub cluster: ClusterOrd,
    /// When enough GPUs free up there, seconds since the epoch.
    pub at_s: i64,
    /// GPUs free there then beyond what it needs: backfill may use them.
    pub extra: u64,
}

impl Controller {
    /// Seconds job `i` needs on cluster `c` to finish the work it has left.
    fn est_left_s(&self, i: usize, c: ClusterOrd) -> f64 {
        let j = &self.jobs[i];
        let train = self.topo.accels[self.topo.clusters[c as usize].accel as usize].train;
        let rate = f64::from(j.spec.gpus.max(1)) * train / 3600.0;
        ((j.spec.work_gpu_hours - j.progress.done_gpu_h).max(0.0) / rate.max(1e-12)).ceil()
    }

    /// Sets the pass's reservation for job `i`, which found no room: the
    /// accepting cluster where enough GPUs free up soonest.
    pub(crate) fn reserve_for_head(&mut self, now: i64, i: usize) {
        let Some(req) = &self.jobs[i].lv().req else {
            return;
        };
        let need = u64::from(req.gpus);
        let ix = self.sched.index();
        let mut best: Option<Shadow> = None;
        for (c, cl) in self.topo.clusters.iter().enumerate() {
            let c = c as ClusterOrd;
            if !req.accels.contains(&cl.accel)
                || req.sites.as_ref().is_some_and(|s| !s[cl.site as usize])
                || ix.cluster_online(c) < need
            {
                continue;
            }
            let mut ends: Vec<(i64, u64)> = self
                .sched
                .allocs_in_cluster(c)
                .filter_map(
                    |(a, al)| match self.owners.get(a as usize).copied().flatten() {
                        Some(Owner::Job(j)) => Some((
                            now + self.est_left_s(j as usize, c) as i64,
                            u64::from(al.gpus),
                        )),
                        _ => None,
                    },
                )
                .collect();
            ends.sort_unstable();
            let mut free = ix.cluster_free(c);
            let mut at = now;
            for (t, g) in ends {
                if free >= need {
                    break;
                }
                free += g;
                at = t;
            }
            if free < need {
                continue;
            }
            if best.is_none_or(|b| at < b.at_s) {
                best = Some(Shadow {
                    cluster: c,
                    at_s: at,
                    extra: free - need,
                });
            }
        }
        self.shadow = best;
    }

    /// Whether job `i` may start at placement `p` under the pass's
    /// reservation: elsewhere, or ending by the head's start, or within the
    /// GPUs the head will not need (which it then uses up).
    pub(crate) fn backfill_allows(&mut self, now: i64, i: usize, p: &Placement) -> bool {
        let Some(s) = self.shadow else {
            return true;
        };
        if p.cluster != s.cluster {
            return true;
        }
        if now + self.est_left_s(i, p.cluster) as i64 <= s.at_s {
            return true;
        }
        let g = u64::from(p.gpus());
        if g <= s.extra {
            self.shadow = Some(Shadow {
                extra: s.extra - g,
                ..s
            });
            return true;
        }
        false
    }
}
