//! The capacity index: free GPUs per NVLink domain, per fabric block, per
//! cluster, and power drawn per site, kept so that every query the pipeline
//! asks is O(1) and every allocation or release is O(1) per domain touched.
//!
//! Each cluster keeps its online domains in buckets by free-GPU count, with a
//! bitset of the non-empty buckets: "the fullest domain that still holds g
//! GPUs" (best fit, which keeps whole domains free for large gangs) is one
//! `trailing_zeros`. Each fabric block keeps its whole-free domains in a list,
//! so a gang of many domains is taken from as few blocks as possible. Memory is
//! linear in the number of domains: a 20M-GPU NVL72 fleet is ~280k domains.
//!
//! A domain (a rack or a server) also carries CPU millicores and host memory
//! when its cluster declares them, and a GPU can be shared: a fractional
//! request carves one GPU out of a domain's free GPUs (so whole-GPU gangs
//! never see it) and later fractional requests fill the carved GPU's room,
//! smallest room that fits first. The buckets count whole free GPUs only,
//! which is why sharing costs the whole-GPU path nothing.

use std::collections::{BTreeSet, HashMap};

use smallvec::SmallVec;

use crate::changes::ChangeLog;
use crate::scheduler::AllocId;
use crate::topology::{ClusterOrd, DomainOrd, Topology};

/// Thousandths in one GPU.
pub const GPU_MILLI: u32 = 1000;

const NONE: u32 = u32::MAX;

/// Per-cluster counters and buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ClusterCap {
    free_gpus: u64,
    online_gpus: u64,
    /// A count of the changes to its domains: what a rule read of the
    /// cluster is still true while the count is the same.
    version: u64,
    /// Its site (for the power its GPUs draw).
    site: u32,
    whole_free: u32,
    /// `buckets[k]` holds the online domains with exactly `k > 0` free GPUs.
    buckets: Vec<Vec<DomainOrd>>,
    /// Bit `k` is set when `buckets[k]` is non-empty.
    nonempty: Vec<u64>,
}

/// What the index keeps of one domain, in one record: placing or releasing
/// a gang touches every field of each of its domains, and one record is one
/// cache line where separate arrays (and the topology's, and the
/// controller's list of who holds the domain) were several.
#[derive(Debug, Clone, PartialEq, Eq)]
#[repr(align(64))]
struct DomainCap {
    /// Free GPUs (0 when offline).
    free: u32,
    /// Position in its cluster's bucket of `free` (`NONE` when in none).
    pos: u32,
    /// Position in its block's whole-free list (`NONE` when not whole-free).
    block_pos: u32,
    /// GPUs it holds.
    gpus: u32,
    /// Its cluster.
    cluster: ClusterOrd,
    /// Its fabric block.
    block: u32,
    online: bool,
    /// The allocations listed as holding it, in the order they were listed
    /// (see [`CapacityIndex::holders`]); five inline fill the cache line.
    holders: SmallVec<[AllocId; 5]>,
}

// One domain, one cache line: the point of the record.
const _: () = assert!(std::mem::size_of::<DomainCap>() == 64);

/// Free capacity and power of the whole fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapacityIndex {
    doms: Vec<DomainCap>,
    clusters: Vec<ClusterCap>,
    block_whole: Vec<Vec<DomainOrd>>,
    block_free_gpus: Vec<u64>,
    site_drawn_w: Vec<u64>,
    site_envelope_w: Vec<u64>,
    /// CPU millicores and host memory in use per domain.
    cpu_used: Vec<u64>,
    mem_used: Vec<u64>,
    /// Carved (shared) GPUs per domain: thousandths in use per slot, 0 = slot empty.
    shared: HashMap<DomainOrd, Vec<u16>>,
    /// Per cluster, carved GPUs with room left: `(room, domain, slot)`.
    shared_room: Vec<BTreeSet<(u16, DomainOrd, u16)>>,
    /// The clusters of each site, for a reader of `log` told that a
    /// site's draw changed.
    site_clusters: Vec<Vec<ClusterOrd>>,
    /// Every cluster whose state changed and every site whose draw changed,
    /// in order (see [`ChangeLog`]).
    log: ChangeLog,
}

impl CapacityIndex {
    /// An index with every domain offline; bring capacity online with [`Self::set_online`].
    pub fn new(topo: &Topology) -> Self {
        let n = topo.n_domains();
        CapacityIndex {
            doms: topo
                .domain_cluster
                .iter()
                .zip(&topo.domain_block)
                .map(|(&c, &block)| DomainCap {
                    free: 0,
                    pos: NONE,
                    block_pos: NONE,
                    gpus: topo.clusters[c as usize].domain_gpus,
                    cluster: c,
                    block,
                    online: false,
                    holders: SmallVec::new(),
                })
                .collect(),
            clusters: topo
                .clusters
                .iter()
                .map(|c| ClusterCap {
                    free_gpus: 0,
                    online_gpus: 0,
                    version: 0,
                    site: c.site,
                    whole_free: 0,
                    buckets: vec![Vec::new(); c.domain_gpus as usize + 1],
                    nonempty: vec![0; (c.domain_gpus as usize + 1).div_ceil(64)],
                })
                .collect(),
            block_whole: vec![Vec::new(); topo.block_cluster.len()],
            block_free_gpus: vec![0; topo.block_cluster.len()],
            site_drawn_w: vec![0; topo.sites.len()],
            site_envelope_w: topo.sites.iter().map(|s| s.envelope_w).collect(),
            cpu_used: vec![0; n],
            mem_used: vec![0; n],
            shared: HashMap::new(),
            shared_room: vec![BTreeSet::new(); topo.clusters.len()],
            site_clusters: (0..topo.sites.len() as u32)
                .map(|s| {
                    (0..topo.clusters.len() as ClusterOrd)
                        .filter(|&c| topo.clusters[c as usize].site == s)
                        .collect()
                })
                .collect(),
            log: ChangeLog::new(topo.clusters.len(), topo.sites.len()),
        }
    }

    /// The log of the clusters and sites changed, in order.
    pub(crate) fn changes(&self) -> &ChangeLog {
        &self.log
    }

    /// The clusters at site `s`.
    pub(crate) fn clusters_at(&self, s: u32) -> &[ClusterOrd] {
        &self.site_clusters[s as usize]
    }

    /// Counts a change to cluster `c`'s domains.
    #[inline]
    fn bump(&mut self, c: usize) {
        self.clusters[c].version += 1;
        self.log.cluster(c);
    }

    /// True when domain `d` has `cpu` millicores and `mem` MiB of host memory free.
    pub fn host_fits(&self, topo: &Topology, d: DomainOrd, cpu: u64, mem: u64) -> bool {
        let c = &topo.clusters[topo.domain_cluster[d as usize] as usize];
        self.cpu_used[d as usize].saturating_add(cpu) <= c.cpu_milli_per_domain
            && self.mem_used[d as usize].saturating_add(mem) <= c.memory_mib_per_domain
    }

    /// Takes host CPU and memory of a domain.
    pub fn take_host(&mut self, d: DomainOrd, cpu: u64, mem: u64) {
        self.cpu_used[d as usize] += cpu;
        self.mem_used[d as usize] += mem;
    }

    /// Gives back host CPU and memory of a domain.
    pub fn give_host(&mut self, d: DomainOrd, cpu: u64, mem: u64) {
        self.cpu_used[d as usize] -= cpu;
        self.mem_used[d as usize] -= mem;
    }

    /// CPU millicores in use on a domain.
    pub fn cpu_used(&self, d: DomainOrd) -> u64 {
        self.cpu_used[d as usize]
    }

    /// Room left on a carved GPU, thousandths (0 when there is no such GPU).
    pub fn shared_room_of(&self, d: DomainOrd, slot: u16) -> u32 {
        self.shared
            .get(&d)
            .and_then(|s| s.get(slot as usize))
            .filter(|&&u| u > 0)
            .map_or(0, |&u| GPU_MILLI - u as u32)
    }

    /// The most room, in thousandths, on any carved GPU of a cluster.
    pub fn max_shared_room(&self, c: ClusterOrd) -> u32 {
        self.shared_room[c as usize]
            .last()
            .map_or(0, |e| e.0 as u32)
    }

    /// The carved GPU with the least room that still holds `milli` and whose
    /// domain has the host resources (best fit), looking at most at `limit`.
    pub fn best_shared(
        &self,
        topo: &Topology,
        c: ClusterOrd,
        milli: u32,
        cpu: u64,
        mem: u64,
        limit: usize,
    ) -> Option<(DomainOrd, u16)> {
        self.shared_room[c as usize]
            .range((milli as u16, 0, 0)..)
            .take(limit)
            .find(|&&(_, d, _)| self.doms[d as usize].online && self.host_fits(topo, d, cpu, mem))
            .map(|&(_, d, slot)| (d, slot))
    }

    /// Puts `milli` thousandths on a carved GPU of domain `d` (`slot`), or
    /// carves a new one from the domain's free GPUs (`None`), drawing a whole
    /// GPU's power. Returns the slot. The caller checked that it fits.
    pub fn take_shared(
        &mut self,
        topo: &Topology,
        d: DomainOrd,
        slot: Option<u16>,
        milli: u32,
        watts_per_gpu: u64,
    ) -> u16 {
        let c = topo.domain_cluster[d as usize] as usize;
        self.bump(c);
        let slot = match slot {
            Some(s) => s,
            None => {
                self.take(topo, d, 1, watts_per_gpu);
                let slots = self.shared.entry(d).or_default();
                match slots.iter().position(|&u| u == 0) {
                    Some(i) => i as u16,
                    None => {
                        slots.push(0);
                        (slots.len() - 1) as u16
                    }
                }
            }
        };
        let slots = self.shared.entry(d).or_default();
        let used = slots[slot as usize] as u32;
        if used > 0 && used < GPU_MILLI {
            self.shared_room[c].remove(&((GPU_MILLI - used) as u16, d, slot));
        }
        let now = used + milli;
        debug_assert!(now <= GPU_MILLI, "a shared GPU over-committed");
        slots[slot as usize] = now as u16;
        if now < GPU_MILLI {
            self.shared_room[c].insert(((GPU_MILLI - now) as u16, d, slot));
        }
        slot
    }

    /// Takes `milli` thousandths off a carved GPU; the GPU returns to the
    /// domain's free GPUs when nothing is left on it.
    pub fn give_shared(
        &mut self,
        topo: &Topology,
        d: DomainOrd,
        slot: u16,
        milli: u32,
        watts_per_gpu: u64,
    ) {
        let c = topo.domain_cluster[d as usize] as usize;
        self.bump(c);
        let Some(slots) = self.shared.get_mut(&d) else {
            return;
        };
        let used = slots[slot as usize] as u32;
        if used < GPU_MILLI {
            self.shared_room[c].remove(&((GPU_MILLI - used) as u16, d, slot));
        }
        let now = used.saturating_sub(milli);
        slots[slot as usize] = now as u16;
        if now > 0 {
            self.shared_room[c].insert(((GPU_MILLI - now) as u16, d, slot));
            return;
        }
        if slots.iter().all(|&u| u == 0) {
            self.shared.remove(&d);
        }
        self.give(topo, d, 1, watts_per_gpu);
    }

    /// An index with every built domain online (no ramp applied).
    pub fn all_online(topo: &Topology) -> Self {
        let mut ix = CapacityIndex::new(topo);
        for d in 0..topo.n_domains() as DomainOrd {
            ix.set_online(topo, d, true);
        }
        ix
    }

    /// Free GPUs of a domain (0 when offline).
    pub fn free(&self, d: DomainOrd) -> u32 {
        self.doms[d as usize].free
    }

    /// True when the domain is online.
    pub fn is_online(&self, d: DomainOrd) -> bool {
        self.doms[d as usize].online
    }

    /// The allocations listed as holding domain `d`, oldest listing first.
    /// The scheduler lists an allocation when its owner says it holds the
    /// domain ([`crate::Scheduler::track`]) and unlists it when it gives the
    /// domain back; the list sits in the domain's record, so keeping it
    /// costs a release no memory access the release does not make anyway.
    pub fn holders(&self, d: DomainOrd) -> &[AllocId] {
        &self.doms[d as usize].holders
    }

    /// Lists allocation `a` as holding domain `d`, after those listed
    /// before; once, however often it is said.
    pub(crate) fn hold(&mut self, d: DomainOrd, a: AllocId) {
        let h = &mut self.doms[d as usize].holders;
        if !h.contains(&a) {
            h.push(a);
        }
    }

    /// Unlists allocation `a` from domain `d`, keeping the order of the rest.
    pub(crate) fn unhold(&mut self, d: DomainOrd, a: AllocId) {
        let h = &mut self.doms[d as usize].holders;
        if let Some(i) = h.iter().position(|&x| x == a) {
            h.remove(i);
        }
    }

    /// Free GPUs of a cluster.
    pub fn cluster_free(&self, c: ClusterOrd) -> u64 {
        self.clusters[c as usize].free_gpus
    }

    /// A count of the changes to a cluster's domains (free GPUs, shared
    /// GPUs, online): equal counts mean nothing of the cluster changed.
    pub fn cluster_version(&self, c: ClusterOrd) -> u64 {
        self.clusters[c as usize].version
    }

    /// Online GPUs of a cluster.
    pub fn cluster_online(&self, c: ClusterOrd) -> u64 {
        self.clusters[c as usize].online_gpus
    }

    /// Whole-free domains of a cluster.
    pub fn cluster_whole_free(&self, c: ClusterOrd) -> u32 {
        self.clusters[c as usize].whole_free
    }

    /// Watts drawn at a site by allocated GPUs.
    pub fn site_drawn_w(&self, s: u32) -> u64 {
        self.site_drawn_w[s as usize]
    }

    /// A site's envelope, watts.
    pub fn site_envelope_w(&self, s: u32) -> u64 {
        self.site_envelope_w[s as usize]
    }

    /// Free GPUs of a fabric block.
    pub fn block_free(&self, b: u32) -> u64 {
        self.block_free_gpus[b as usize]
    }

    /// Whole-free domains of a fabric block.
    pub fn block_whole_free(&self, b: u32) -> &[DomainOrd] {
        &self.block_whole[b as usize]
    }

    /// The smallest free count `k >= g` held by some online domain of the cluster.
    pub fn best_fit_bucket(&self, c: ClusterOrd, g: u32) -> Option<u32> {
        let cc = &self.clusters[c as usize];
        let mut w = g as usize / 64;
        if w >= cc.nonempty.len() {
            return None;
        }
        let mut bits = cc.nonempty[w] & (!0u64 << (g as usize % 64));
        loop {
            if bits != 0 {
                return Some((w * 64) as u32 + bits.trailing_zeros());
            }
            w += 1;
            if w >= cc.nonempty.len() {
                return None;
            }
            bits = cc.nonempty[w];
        }
    }

    /// The domains of a cluster with exactly `k` free GPUs.
    pub fn bucket(&self, c: ClusterOrd, k: u32) -> &[DomainOrd] {
        &self.clusters[c as usize].buckets[k as usize]
    }

    // Full domains (0 free) sit in no bucket: no query ever asks for them,
    // and skipping them halves the bookkeeping of a large gang.
    fn bucket_insert(&mut self, c: usize, d: DomainOrd, k: u32) {
        if k == 0 {
            return;
        }
        let cc = &mut self.clusters[c];
        let b = &mut cc.buckets[k as usize];
        self.doms[d as usize].pos = b.len() as u32;
        b.push(d);
        cc.nonempty[k as usize / 64] |= 1 << (k % 64);
    }

    fn bucket_remove(&mut self, c: usize, d: DomainOrd, k: u32) {
        if k == 0 {
            return;
        }
        let cc = &mut self.clusters[c];
        let b = &mut cc.buckets[k as usize];
        let p = self.doms[d as usize].pos as usize;
        b.swap_remove(p);
        if let Some(&moved) = b.get(p) {
            self.doms[moved as usize].pos = p as u32;
        }
        if b.is_empty() {
            cc.nonempty[k as usize / 64] &= !(1 << (k % 64));
        }
        self.doms[d as usize].pos = NONE;
    }

    fn whole_insert(&mut self, blk: usize, d: DomainOrd) {
        let l = &mut self.block_whole[blk];
        self.doms[d as usize].block_pos = l.len() as u32;
        l.push(d);
    }

    fn whole_remove(&mut self, blk: usize, d: DomainOrd) {
        let l = &mut self.block_whole[blk];
        let p = self.doms[d as usize].block_pos as usize;
        l.swap_remove(p);
        if let Some(&moved) = l.get(p) {
            self.doms[moved as usize].block_pos = p as u32;
        }
        self.doms[d as usize].block_pos = NONE;
    }

    /// Moves domain `d` from `old` to `new` free GPUs, keeping every counter true.
    fn set_free(&mut self, d: DomainOrd, old: u32, new: u32) {
        let dom = &self.doms[d as usize];
        let (c, blk, dg) = (dom.cluster as usize, dom.block as usize, dom.gpus);
        self.bump(c);
        self.bucket_remove(c, d, old);
        self.bucket_insert(c, d, new);
        if old == dg {
            self.whole_remove(blk, d);
            self.clusters[c].whole_free -= 1;
        }
        if new == dg {
            self.whole_insert(blk, d);
            self.clusters[c].whole_free += 1;
        }
        let delta = new as i64 - old as i64;
        self.clusters[c].free_gpus = (self.clusters[c].free_gpus as i64 + delta) as u64;
        self.block_free_gpus[blk] = (self.block_free_gpus[blk] as i64 + delta) as u64;
        self.doms[d as usize].free = new;
    }

    /// Takes `n` GPUs of domain `d`, drawing `watts_per_gpu` each at its site.
    /// The caller has checked that they are free.
    pub fn take(&mut self, _topo: &Topology, d: DomainOrd, n: u32, watts_per_gpu: u64) {
        let dom = &self.doms[d as usize];
        debug_assert!(dom.online && dom.free >= n, "taking GPUs that are not free");
        let (free, c) = (dom.free, dom.cluster);
        self.set_free(d, free, free - n);
        let site = self.clusters[c as usize].site as usize;
        self.site_drawn_w[site] += n as u64 * watts_per_gpu;
        self.log.site(site);
    }

    /// Gives back `n` GPUs of domain `d`.
    pub fn give(&mut self, _topo: &Topology, d: DomainOrd, n: u32, watts_per_gpu: u64) {
        let dom = &self.doms[d as usize];
        let (free, gpus, online) = (dom.free, dom.gpus, dom.online);
        let site = self.clusters[dom.cluster as usize].site as usize;
        self.site_drawn_w[site] -= n as u64 * watts_per_gpu;
        self.log.site(site);
        if !online {
            // The domain went offline while allocated; its GPUs come back with it.
            return;
        }
        debug_assert!(free + n <= gpus, "giving back more than a domain has");
        self.set_free(d, free, free + n);
    }

    /// Brings a domain online (all its GPUs free) or takes it offline.
    ///
    /// Taking a domain offline drops it from every bucket; GPUs allocated on it
    /// stay counted as allocated until they are given back, so the caller (the
    /// controller) releases the work that ran there.
    pub fn set_online(&mut self, _topo: &Topology, d: DomainOrd, on: bool) {
        let i = d as usize;
        let dom = &self.doms[i];
        if dom.online == on {
            return;
        }
        let (c, blk, dg, old) = (dom.cluster as usize, dom.block as usize, dom.gpus, dom.free);
        self.bump(c);
        if on {
            self.doms[i].online = true;
            self.doms[i].free = 0;
            self.bucket_insert(c, d, 0);
            self.clusters[c].online_gpus += dg as u64;
            self.set_free(d, 0, dg);
        } else {
            if old == dg {
                self.whole_remove(blk, d);
                self.clusters[c].whole_free -= 1;
            }
            self.bucket_remove(c, d, old);
            self.clusters[c].free_gpus -= old as u64;
            self.clusters[c].online_gpus -= dg as u64;
            self.block_free_gpus[blk] -= old as u64;
            self.doms[i].free = 0;
            self.doms[i].online = false;
        }
    }

    /// Fleet-wide free GPUs.
    pub fn total_free(&self) -> u64 {
        self.clusters.iter().map(|c| c.free_gpus).sum()
    }

    /// Fleet-wide online GPUs.
    pub fn total_online(&self) -> u64 {
        self.clusters.iter().map(|c| c.online_gpus).sum()
    }

    /// Recomputes every counter from the per-domain state and compares: the
    /// property tests call it after every step.
    pub fn check_consistent(&self, topo: &Topology) -> Result<(), String> {
        for (ci, c) in topo.clusters.iter().enumerate() {
            let range = c.first_domain..c.first_domain + c.n_domains;
            let free: u64 = range.clone().map(|d| self.free(d) as u64).sum();
            let online: u64 = range
                .clone()
                .filter(|&d| self.is_online(d))
                .map(|_| c.domain_gpus as u64)
                .sum();
            let whole = range
                .clone()
                .filter(|&d| self.is_online(d) && self.free(d) == c.domain_gpus)
                .count() as u32;
            let cc = &self.clusters[ci];
            if cc.free_gpus != free || cc.online_gpus != online || cc.whole_free != whole {
                return Err(format!(
                    "cluster {}: counters free={} online={} whole={} but domains say {free} {online} {whole}",
                    c.name, cc.free_gpus, cc.online_gpus, cc.whole_free
                ));
            }
            for d in range {
                if self.free(d) > c.domain_gpus {
                    return Err(format!("domain {d} has more free GPUs than it holds"));
                }
                let on = self.is_online(d);
                let k = self.free(d) as usize;
                let in_bucket = cc.buckets[k].get(self.doms[d as usize].pos as usize) == Some(&d);
                if (on && k > 0) != in_bucket {
                    return Err(format!("domain {d} is misplaced in its buckets"));
                }
            }
        }
        for (&d, slots) in &self.shared {
            let c = topo.domain_cluster[d as usize] as usize;
            for (i, &u) in slots.iter().enumerate() {
                if u as u32 > GPU_MILLI {
                    return Err(format!(
                        "shared GPU {i} of domain {d} holds {u} thousandths"
                    ));
                }
                let listed =
                    self.shared_room[c].contains(&((GPU_MILLI - u as u32) as u16, d, i as u16));
                if listed != (u > 0 && (u as u32) < GPU_MILLI) {
                    return Err(format!(
                        "shared GPU {i} of domain {d} is misplaced in the room index"
                    ));
                }
            }
        }
        let partial: usize = self
            .shared
            .values()
            .flatten()
            .filter(|&&u| u > 0 && (u as u32) < GPU_MILLI)
            .count();
        if partial != self.shared_room.iter().map(BTreeSet::len).sum::<usize>() {
            return Err("the room index lists GPUs that are not shared".into());
        }
        for (d, &cpu) in self.cpu_used.iter().enumerate() {
            let c = &topo.clusters[topo.domain_cluster[d] as usize];
            if cpu > c.cpu_milli_per_domain || self.mem_used[d] > c.memory_mib_per_domain {
                return Err(format!("domain {d} uses more CPU or memory than it has"));
            }
        }
        Ok(())
    }
}
