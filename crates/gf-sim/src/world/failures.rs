//! The world's capacity over time: ramps bringing domains online on their
//! dates, and the failure processes that take GPUs, domains, clusters,
//! regions and spot capacity away and give them back.
//!
//! Every draw comes from the world's own seeded stream, so two policies
//! compared on one seed see the same failures. A capacity change kills the
//! runs on the lost domains first (their last checkpoints reported), then is
//! reported per cluster, which is what a real fleet's monitoring shows.

use std::sync::Arc;

use gf_model::protocol::{CapacityCause, FailureCategory, Report, RunId};
use gf_sched::DomainOrd;
use rand::Rng;
use smallvec::SmallVec;

use super::{SimWorld, WorldEv};
use crate::workload;

const HOUR: f64 = 3600.0;
const DAY: f64 = 86_400.0;
const YEAR_S: f64 = 365.25 * DAY;

/// What took capacity down, to be brought back by a repair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Down {
    /// One domain, for a reason of its own.
    Domain(DomainOrd, DomainDown),
    /// A whole cluster.
    Cluster(u32),
    /// A whole site (region).
    Site(u32),
}

/// Why one domain is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum DomainDown {
    /// A GPU of it failed; the host (and so the domain) is out for repair.
    GpuRepair,
    /// The domain itself failed.
    DomainRepair,
    /// The provider took it back (spot).
    SpotReclaimed,
}

impl SimWorld {
    /// Ramps and the first draw of every failure process.
    pub(crate) fn schedule_start(&mut self) {
        let s = self.start_s;
        let start_day = gf_model::Date::from_epoch_seconds(s);
        for c in 0..self.topo.clusters.len() {
            let cl = &self.topo.clusters[c];
            if cl.ramp.is_empty() {
                let n = cl.n_domains;
                self.push(s, WorldEv::Ramp(c as u32, n));
            } else {
                let first = cl.online_domains_on(start_day);
                let steps: Vec<(i64, u32)> = cl
                    .ramp
                    .iter()
                    .map(|&(d, n)| (d.epoch_seconds(), n))
                    .collect();
                self.push(s, WorldEv::Ramp(c as u32, first));
                for (t, n) in steps {
                    if t > s && t < self.end_s {
                        self.push(t, WorldEv::Ramp(c as u32, n));
                    }
                }
            }
        }
        for ev in [
            WorldEv::GpuFailure,
            WorldEv::DomainFailure,
            WorldEv::ClusterOutage,
            WorldEv::RegionOutage,
            WorldEv::SpotReclaim,
        ] {
            self.next_failure(ev);
        }
    }

    fn next_failure(&mut self, ev: WorldEv) {
        let f = &self.cfg;
        let total_gpus = *self.gpu_prefix.last().unwrap_or(&0) as f64;
        let rate = match ev {
            WorldEv::GpuFailure => f.gpu_interruptions_per_gpu_day / DAY * total_gpus,
            WorldEv::DomainFailure => {
                f.domain_failures_per_domain_year / YEAR_S * self.topo.n_domains() as f64
            }
            WorldEv::ClusterOutage => {
                f.cluster_outages_per_year / YEAR_S * self.topo.clusters.len() as f64
            }
            WorldEv::RegionOutage => {
                f.region_outages_per_year / YEAR_S * self.topo.sites.len() as f64
            }
            WorldEv::SpotReclaim => {
                self.max_spot_rate / HOUR * self.spot_prefix.last().map_or(0, |x| x.0) as f64
            }
            _ => 0.0,
        };
        let gap = workload::exp_gap_s(&mut self.rng, rate);
        self.push_after(gap, ev);
    }

    /// A capacity happening (everything but run ends).
    pub(crate) fn happen(&mut self, ev: WorldEv) {
        match ev {
            WorldEv::Ramp(c, n) => self.ramp(c, n),
            WorldEv::GpuFailure => {
                self.gpu_failure();
                self.next_failure(ev);
            }
            WorldEv::DomainFailure => {
                let n = self.topo.n_domains() as u32;
                if n > 0 {
                    let d = self.rng.random_range(0..n);
                    if self.is_online(d) {
                        self.counters.failures.domain += 1;
                        let h = self.cfg.domain_repair_hours;
                        self.take_down(
                            Down::Domain(d, DomainDown::DomainRepair),
                            CapacityCause::DomainFailure,
                            h,
                        );
                    }
                }
                self.next_failure(ev);
            }
            WorldEv::ClusterOutage => {
                let n = self.topo.clusters.len() as u32;
                if n > 0 {
                    let c = self.rng.random_range(0..n);
                    self.counters.failures.cluster_outage += 1;
                    let h = self.cfg.cluster_outage_hours;
                    self.take_down(Down::Cluster(c), CapacityCause::ClusterOutage, h);
                }
                self.next_failure(ev);
            }
            WorldEv::RegionOutage => {
                let n = self.topo.sites.len() as u32;
                if n > 0 {
                    let s = self.rng.random_range(0..n);
                    self.counters.failures.region_outage += 1;
                    let h = self.cfg.region_outage_hours;
                    self.take_down(Down::Site(s), CapacityCause::RegionOutage, h);
                }
                self.next_failure(ev);
            }
            WorldEv::SpotReclaim => {
                self.spot_reclaim();
                self.next_failure(ev);
            }
            WorldEv::TrayUp(d) => self.tray_up(d),
            WorldEv::Up(d) => {
                let doms = self.domains_of(d);
                self.change_down(&doms, -1, CapacityCause::Repair);
            }
            WorldEv::Finish(..) | WorldEv::StopDone(_) | WorldEv::Ready(_) => {}
        }
    }

    pub(crate) fn is_online(&self, d: DomainOrd) -> bool {
        self.doms[d as usize].built && self.doms[d as usize].down == 0
    }

    /// The domains `d` takes down. Most are one domain's failure or repair,
    /// hundreds of thousands a year on a 20M-GPU fleet: kept inline.
    fn domains_of(&self, d: Down) -> SmallVec<[DomainOrd; 4]> {
        let cl = |c: usize| {
            let c = &self.topo.clusters[c];
            c.first_domain..c.first_domain + c.n_domains
        };
        match d {
            Down::Domain(x, _) => smallvec::smallvec![x],
            Down::Cluster(c) => cl(c as usize).collect(),
            Down::Site(s) => self
                .topo
                .clusters
                .iter()
                .enumerate()
                .filter(|(_, c)| c.site == s)
                .flat_map(|(i, _)| cl(i))
                .collect(),
        }
    }

    fn take_down(&mut self, d: Down, cause: CapacityCause, hours: f64) {
        let doms = self.domains_of(d);
        self.change_down(&doms, 1, cause);
        let t = self.now + (hours * HOUR).ceil().max(1.0) as i64;
        self.push(t, WorldEv::Up(d));
    }

    /// Adds `delta` to the down count of `doms` and reports every domain
    /// whose online state flipped.
    fn change_down(&mut self, doms: &[DomainOrd], delta: i32, cause: CapacityCause) {
        let mut flipped: SmallVec<[DomainOrd; 4]> = SmallVec::new();
        for &d in doms {
            let before = self.is_online(d);
            let i = d as usize;
            self.doms[i].down = (self.doms[i].down as i32 + delta).max(0) as u16;
            if self.is_online(d) != before {
                flipped.push(d);
            }
        }
        self.flip(&flipped, delta < 0, cause);
    }

    /// Domains flipped online or offline: runs on lost ones die, the
    /// online GPU counts move, and one report per cluster says so.
    fn flip(&mut self, flipped: &[DomainOrd], online: bool, cause: CapacityCause) {
        if flipped.is_empty() {
            return;
        }
        if !online {
            self.kill_on(flipped, cause);
        }
        // One report per run of domains of one cluster, each built in
        // place (no list of lists per failure).
        let mut current: Option<(u32, Vec<u32>)> = None;
        for &d in flipped {
            let c = self.topo.domain_cluster[d as usize];
            let ci = c as usize;
            self.touch(ci);
            let cl = &self.topo.clusters[ci];
            let g = cl.domain_gpus as u64;
            let index = d - cl.first_domain;
            if online {
                self.acc[ci].up += g;
            } else {
                self.acc[ci].up -= g;
            }
            match &mut current {
                Some((k, v)) if *k == c => v.push(index),
                _ => {
                    if let Some((k, domains)) = current.take() {
                        self.report_capacity(k, domains, online, cause);
                    }
                    current = Some((c, vec![index]));
                }
            }
        }
        if let Some((k, domains)) = current {
            self.report_capacity(k, domains, online, cause);
        }
    }

    /// Reports domains of cluster `c` that went online or offline.
    fn report_capacity(&mut self, c: u32, domains: Vec<u32>, online: bool, cause: CapacityCause) {
        self.pending.push(Report::CapacityChanged {
            cluster: Arc::clone(&self.topo.clusters[c as usize].name),
            domains,
            online,
            cause,
        });
    }

    fn ramp(&mut self, c: u32, n: u32) {
        let (first, total, dg) = {
            let cl = &self.topo.clusters[c as usize];
            (cl.first_domain, cl.n_domains, cl.domain_gpus)
        };
        let n = n.min(total);
        let mut on = Vec::new();
        let mut off = Vec::new();
        for k in 0..total {
            let d = first + k;
            let want = k < n;
            if self.doms[d as usize].built != want {
                let before = self.is_online(d);
                self.doms[d as usize].built = want;
                if self.is_online(d) != before {
                    if want { on.push(d) } else { off.push(d) }
                }
            }
        }
        self.touch(c as usize);
        self.acc[c as usize].paid = n as u64 * dg as u64;
        self.flip(&off, false, CapacityCause::Ramp);
        self.flip(&on, true, CapacityCause::Ramp);
    }

    /// A GPU drawn uniformly from every GPU built; a draw on capacity that
    /// is not online is discarded (thinning), so the rate is per online GPU.
    fn draw_gpu(&mut self) -> Option<(DomainOrd, u32)> {
        let total = *self.gpu_prefix.last()?;
        if total == 0 {
            return None;
        }
        let u = self.rng.random_range(0..total);
        let c = self.gpu_prefix.partition_point(|&p| p <= u) - 1;
        let cl = &self.topo.clusters[c];
        let off = u - self.gpu_prefix[c];
        let d = cl.first_domain + (off / cl.domain_gpus as u64) as u32;
        Some((d, (off % cl.domain_gpus as u64) as u32))
    }

    fn gpu_failure(&mut self) {
        let Some((d, slot)) = self.draw_gpu() else {
            return;
        };
        let hardware = self.rng.random::<f64>() < self.cfg.hardware_share;
        if !self.is_online(d) {
            return;
        }
        if hardware {
            self.counters.failures.gpu_hardware += 1;
            let dg = self.topo.clusters[self.topo.domain_cluster[d as usize] as usize].domain_gpus;
            if self.cfg.tray_gpus > 0 && dg > 8 {
                self.tray_failure(d, slot);
                return;
            }
            let h = self.cfg.gpu_repair_hours;
            self.take_down(
                Down::Domain(d, DomainDown::GpuRepair),
                CapacityCause::GpuFailure,
                h,
            );
            return;
        }
        self.counters.failures.gpu_software += 1;
        if let Some(run) = self.run_on_gpu(d, slot) {
            self.crash(run, FailureCategory::Software);
        }
    }

    /// The run on GPU `slot` of domain `d`, if any: runs fill a domain's
    /// GPUs in the order they arrived.
    fn run_on_gpu(&self, d: DomainOrd, slot: u32) -> Option<RunId> {
        let mut k = 0u32;
        for (run, g) in self.runs_on(d) {
            if slot < k + g {
                return Some(run);
            }
            k += g;
        }
        None
    }

    /// A GPU of a rack-scale domain failed in hardware: its compute tray is
    /// out for a swap. While the rack has an in-rack spare tray left, the
    /// spare takes the failed tray's place and only the run on the failed
    /// GPU stops (a hardware interruption; it may restart in place); once
    /// the rack is out of spare trays, it cannot hold its GPUs and is out
    /// until a tray comes back.
    fn tray_failure(&mut self, d: DomainOrd, slot: u32) {
        self.counters.failures.tray += 1;
        let i = d as usize;
        self.trays_out[i] += 1;
        let t = self.now + (self.cfg.tray_repair_hours * HOUR).ceil().max(1.0) as i64;
        self.push(t, WorldEv::TrayUp(d));
        if self.trays_out[i] as u32 > self.cfg.spare_trays_per_rack {
            self.change_down(&[d], 1, CapacityCause::GpuFailure);
        } else if let Some(run) = self.run_on_gpu(d, slot)
            && !self.holds_as_spare(run, d)
        {
            self.crash(run, FailureCategory::Hardware);
        }
    }

    /// A swapped tray is back: a rack that was out for want of trays is
    /// whole again.
    pub(crate) fn tray_up(&mut self, d: DomainOrd) {
        let i = d as usize;
        if self.trays_out[i] == 0 {
            return;
        }
        if self.trays_out[i] as u32 > self.cfg.spare_trays_per_rack {
            self.change_down(&[d], -1, CapacityCause::Repair);
        }
        self.trays_out[i] -= 1;
    }

    /// GPUs out in failed compute trays now, over the fleet.
    pub fn gpus_in_failed_trays(&self) -> u64 {
        self.trays_out.iter().map(|&n| n as u64).sum::<u64>() * self.cfg.tray_gpus as u64
    }

    fn spot_reclaim(&mut self) {
        let Some(&(total, _)) = self.spot_prefix.last() else {
            return;
        };
        let u = self.rng.random_range(0..total);
        let accept_u: f64 = self.rng.random();
        let i = self.spot_prefix.partition_point(|x| x.0 <= u);
        let Some(&(_, c)) = self.spot_prefix.get(i) else {
            return;
        };
        let cl = &self.topo.clusters[c as usize];
        let before = if i == 0 { 0 } else { self.spot_prefix[i - 1].0 };
        let d = cl.first_domain + ((u - before) / cl.domain_gpus as u64) as u32;
        if !self.is_online(d) {
            return;
        }
        // Reclaims come per GPU-hour of use: accept in proportion to the
        // domain's GPUs in use and the cluster's rate.
        let used = self.doms[d as usize].used.min(cl.domain_gpus);
        let p = cl.spot_rate_per_hour / self.max_spot_rate * used as f64 / cl.domain_gpus as f64;
        if accept_u >= p {
            return;
        }
        self.counters.failures.spot_reclaim += 1;
        let h = self.cfg.spot_return_hours;
        self.take_down(
            Down::Domain(d, DomainDown::SpotReclaimed),
            CapacityCause::SpotReclaim,
            h,
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use gf_model::scenario::FailureSpec;
    use gf_sched::Topology;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::super::SimWorld;

    /// Two GB200 racks of `domain_gpus` schedulable GPUs, no random failures.
    fn world(domain_gpus: u32, spare_trays: u32) -> SimWorld {
        world_of("gb200", domain_gpus, spare_trays)
    }

    /// Two domains of `accelerator`, no random failures.
    fn world_of(accelerator: &str, domain_gpus: u32, spare_trays: u32) -> SimWorld {
        let src = format!(
            "version = 1\n[[provider]]\nname = \"p\"\n[[provider.region]]\nname = \"r\"\npower_mw = 10.0\nzone = \"z\"\n\
             [[provider.region.cluster]]\nname = \"c\"\naccelerator = \"{accelerator}\"\ndomain_gpus = {domain_gpus}\ndomains = 2\n\
             price = {{ model = \"reserved\", usd_per_gpu_hour = 3.0 }}\n"
        );
        let doc = gf_model::parse_document("t.toml", &src).unwrap();
        let topo = Arc::new(Topology::from_document(&doc));
        let f = FailureSpec {
            gpu_interruptions_per_gpu_day: 0.0,
            domain_failures_per_domain_year: 0.0,
            cluster_outages_per_year: 0.0,
            region_outages_per_year: 0.0,
            spare_trays_per_rack: spare_trays,
            hardware_share: 1.0,
            ..FailureSpec::default()
        };
        let mut w = SimWorld::new(topo, f, 60.0, ChaCha8Rng::seed_from_u64(1), 0, 86_400);
        // Bring the racks online (the ramp at time 0).
        while w.next_at() == Some(0) {
            w.step();
        }
        w
    }

    #[test]
    fn a_tray_failure_loses_four_gpus_not_seventy_two() {
        // In-rack spare trays (64 GPUs scheduled of 72): the rack stays.
        let mut w = world(64, 2);
        assert_eq!(w.gpus_online(), 128);
        w.tray_failure(0, 5);
        assert_eq!(w.gpus_in_failed_trays(), 4);
        assert_eq!(w.gpus_online(), 128);
        assert!(w.is_online(0));
        // A third tray out is more than the rack's spares: the rack goes.
        w.tray_failure(0, 9);
        w.tray_failure(0, 13);
        assert!(!w.is_online(0));
        assert_eq!(w.gpus_online(), 64);
        // The swaps come back after `tray_repair_hours` (2.5 h).
        while w.next_at().is_some_and(|t| t <= 9_000) {
            w.step();
        }
        assert_eq!(w.gpus_in_failed_trays(), 0);
        assert!(w.is_online(0));
        assert_eq!(w.gpus_online(), 128);
    }

    #[test]
    fn without_spare_trays_the_rack_waits_for_the_swap_not_a_host_repair() {
        let mut w = world(72, 0);
        w.tray_failure(1, 0);
        assert_eq!(w.gpus_in_failed_trays(), 4);
        assert!(!w.is_online(1));
        // Back after the 2.5 h swap, before the 4 h of a host repair.
        let back = w.next_at().unwrap();
        assert_eq!(back, 9_000);
        w.step();
        assert!(w.is_online(1));
    }

    #[test]
    fn an_hgx_gpu_fault_takes_its_8_gpu_host_for_the_host_repair() {
        let mut w = world_of("h100", 8, 0);
        assert_eq!(w.gpus_online(), 16);
        w.gpu_failure();
        assert_eq!(w.gpus_online(), 8);
        assert_eq!(w.gpus_in_failed_trays(), 0);
        // Back after `gpu_repair_hours` (4 h).
        assert_eq!(w.next_at(), Some(4 * 3600));
        w.step();
        assert_eq!(w.gpus_online(), 16);
    }

    #[test]
    fn an_nvl72_gpu_fault_goes_to_a_tray() {
        let mut w = world(72, 2);
        w.gpu_failure();
        assert_eq!(w.counters.failures.tray, 1);
        assert_eq!(w.gpus_in_failed_trays(), 4);
        assert_eq!(w.gpus_online(), 144);
    }
}
