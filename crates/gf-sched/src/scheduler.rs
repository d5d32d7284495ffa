//! The scheduler: the capacity index, the running allocations and the
//! pipeline of one policy, behind `decide` (pure: reads, never writes) and
//! `commit` / `release` (the only writers). The controller and the batch
//! function [`crate::schedule`] are built on these three calls.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::decision::{Cause, Decision, Outcome, Placement, SharedGpu, Victim};
use crate::index::CapacityIndex;
use crate::pack::pick;
use crate::pipeline::{CostTable, Ctx, Filter, Pipeline};
use crate::policy::Policy;
use crate::prepared::ShapeMemo;
use crate::request::{Request, WorkId};
use crate::topology::{ClusterOrd, DomainOrd, Topology};

mod decide;

/// Handle of a running allocation.
pub type AllocId = u32;

/// A running allocation: one gang on some domains of one cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Alloc {
    /// The work it runs.
    pub work: WorkId,
    /// Its cluster.
    pub cluster: ClusterOrd,
    /// `(domain, gpus)` parts.
    pub parts: Vec<(DomainOrd, u32)>,
    /// Gang size.
    pub gpus: u32,
    /// Owning team.
    pub team: Option<u32>,
    /// Priority.
    pub priority: u32,
    /// May be preempted.
    pub preemptible: bool,
    /// When it started, seconds since the epoch.
    pub started_s: i64,
    /// Its last checkpoint, seconds since the epoch.
    pub last_checkpoint_s: i64,
    /// Checkpoint interval, seconds (0: never checkpoints).
    pub checkpoint_interval_s: i64,
    /// For a share of one GPU: the carved GPU's slot and the thousandths held.
    pub share: Option<(u16, u32)>,
    /// CPU millicores held per GPU on each part's domain.
    pub cpu_milli_per_gpu: u64,
    /// Host memory held per GPU on each part's domain, MiB.
    pub memory_mib_per_gpu: u64,
}

/// Errors are for faults of the caller, never for "no fit".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchedError {
    /// The placement no longer matches free capacity.
    #[error("placement is stale: domain {domain} has {free} free GPUs, {wanted} wanted")]
    Stale {
        /// The domain.
        domain: DomainOrd,
        /// Free now.
        free: u32,
        /// Asked for.
        wanted: u32,
    },
    /// No such allocation.
    #[error("no running allocation {0}")]
    UnknownAlloc(AllocId),
}

/// The scheduler of one fleet under one policy.
#[derive(Clone)]
pub struct Scheduler {
    topo: Arc<Topology>,
    index: CapacityIndex,
    allocs: Vec<Option<Alloc>>,
    free_ids: Vec<AllocId>,
    /// Allocation ids per cluster, for preemption.
    cluster_allocs: Vec<Vec<AllocId>>,
    /// Position of each allocation in its cluster's list, for O(1) release.
    alloc_pos: Vec<u32>,
    /// The allocation running each unit of work.
    work_alloc: FxHashMap<WorkId, AllocId>,
    /// Per cluster, GPUs held by preemptible work at each priority: lets
    /// preemption skip a cluster without scanning its allocations when even
    /// every lower-priority victim would not make room.
    preemptible_gpus: Vec<BTreeMap<u32, u64>>,
    team_used: Vec<u64>,
    contract_spend: Vec<f64>,
    costs: Arc<CostTable>,
    pipeline: Arc<Pipeline>,
    policy: Policy,
    seed: u64,
    /// Counts the spend reports: a score that varies with the spend kept
    /// from before the last one is worked out again.
    spend_reports: u64,
    /// The static rules' answers and what is kept of each cluster for the
    /// shapes decided lately (see [`ShapeMemo`]): `decide` reads, so it is
    /// kept in a cell.
    /// It holds only what the rules would answer again, so a clone of the
    /// scheduler may carry it.
    memo: RefCell<ShapeMemo>,
    /// The service planner's buffers, kept from one plan to the next (see
    /// [`crate::service::PlanScratch`]); a clone starts with empty ones.
    pub(crate) plan_scratch: crate::service::PlanScratch,
}

fn mix(mut x: u64) -> u64 {
    // splitmix64: a cheap, well-spread hash for seeded tie-breaking.
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Takes `gpus` off a cluster's preemptible GPUs at `priority`, dropping
/// the priority once none are left (a free function: a caller holding a
/// borrow of the topology reaches the one field).
fn unpreemptible(m: &mut BTreeMap<u32, u64>, priority: u32, gpus: u32) {
    if let Some(g) = m.get_mut(&priority) {
        *g -= gpus as u64;
        if *g == 0 {
            m.remove(&priority);
        }
    }
}

/// Returns an allocation's GPUs, shared GPU share and host resources to an index.
fn give_back(ix: &mut CapacityIndex, topo: &Topology, a: &Alloc) {
    let watts = topo.watts_per_gpu(a.cluster);
    let (cpu, mem) = (a.cpu_milli_per_gpu, a.memory_mib_per_gpu);
    match a.share {
        Some((slot, milli)) => {
            let d = a.parts[0].0;
            ix.give_shared(topo, d, slot, milli, watts);
            ix.give_host(d, cpu, mem);
        }
        None => {
            for &(d, g) in &a.parts {
                ix.give(topo, d, g, watts);
            }
            if cpu > 0 || mem > 0 {
                for &(d, g) in &a.parts {
                    ix.give_host(d, g as u64 * cpu, g as u64 * mem);
                }
            }
        }
    }
}

impl Scheduler {
    /// A scheduler over `index` (capacity already online as the caller wants).
    pub fn with_index(
        topo: Arc<Topology>,
        index: CapacityIndex,
        policy: Policy,
        seed: u64,
    ) -> Self {
        let n_teams = topo.teams.len();
        let n_acc = topo.accels.len();
        Scheduler {
            index,
            allocs: Vec::new(),
            free_ids: Vec::new(),
            cluster_allocs: vec![Vec::new(); topo.clusters.len()],
            alloc_pos: Vec::new(),
            work_alloc: FxHashMap::default(),
            preemptible_gpus: vec![BTreeMap::new(); topo.clusters.len()],
            team_used: vec![0; n_teams * n_acc],
            contract_spend: vec![0.0; topo.contracts.len()],
            costs: Arc::new(CostTable::new(&topo)),
            pipeline: Arc::new(Pipeline::new(&policy)),
            policy,
            seed,
            spend_reports: 0,
            memo: RefCell::default(),
            plan_scratch: Default::default(),
            topo,
        }
    }

    /// A scheduler with every built domain online.
    pub fn new(topo: Arc<Topology>, policy: Policy, seed: u64) -> Self {
        let index = CapacityIndex::all_online(&topo);
        Scheduler::with_index(topo, index, policy, seed)
    }

    /// The fleet.
    pub fn topology(&self) -> &Arc<Topology> {
        &self.topo
    }

    /// The capacity index.
    pub fn index(&self) -> &CapacityIndex {
        &self.index
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// A running allocation.
    pub fn alloc(&self, id: AllocId) -> Option<&Alloc> {
        self.allocs.get(id as usize).and_then(Option::as_ref)
    }

    /// Every running allocation with its id, in id order.
    pub fn allocs(&self) -> impl Iterator<Item = (AllocId, &Alloc)> {
        self.allocs
            .iter()
            .enumerate()
            .filter_map(|(i, a)| a.as_ref().map(|a| (i as AllocId, a)))
    }

    /// GPUs a team holds of an accelerator.
    pub fn team_used(&self, team: u32, accel: u16) -> u64 {
        self.team_used[team as usize * self.topo.accels.len() + accel as usize]
    }

    /// Sets the spend accrued against a contract (the controller accrues it).
    pub fn set_contract_spend(&mut self, contract: u32, usd: f64) {
        if let Some(s) = self.contract_spend.get_mut(contract as usize) {
            *s = usd;
            self.spend_reports += 1;
        }
    }

    /// Records a checkpoint of a running allocation.
    pub fn checkpointed(&mut self, id: AllocId, now: i64) {
        if let Some(Some(a)) = self.allocs.get_mut(id as usize) {
            a.last_checkpoint_s = now;
        }
    }

    /// Brings a domain online or takes it offline (ramps, failures, repairs).
    pub fn set_domain_online(&mut self, d: DomainOrd, on: bool) {
        self.index.set_online(&self.topo, d, on);
    }

    /// Allocations that hold GPUs on domain `d`.
    pub fn allocs_on_domain(&self, d: DomainOrd) -> Vec<AllocId> {
        let c = self.topo.domain_cluster[d as usize] as usize;
        self.cluster_allocs[c]
            .iter()
            .copied()
            .filter(|&id| {
                self.alloc(id)
                    .is_some_and(|a| a.parts.iter().any(|p| p.0 == d))
            })
            .collect()
    }

    fn ctx<'a>(&'a self, req: &'a Request, now: i64) -> Ctx<'a> {
        Ctx::new(
            &self.topo,
            &self.index,
            &self.team_used,
            &self.contract_spend,
            &self.costs,
            req,
            now,
        )
    }

    /// GPU-hours an allocation loses if stopped now.
    ///
    /// Work that checkpoints every `checkpoint_interval_s` from its start is
    /// taken to have checkpointed on that schedule even when no checkpoint
    /// was reported, so victims are chosen by the work they really lose; a
    /// reported checkpoint ([`Self::checkpointed`]) counts when it is later.
    pub fn loss_if_stopped(&self, a: &Alloc, now: i64) -> f64 {
        let mut last = a.last_checkpoint_s;
        if a.checkpoint_interval_s > 0 && now > a.started_s {
            let k = (now - a.started_s) / a.checkpoint_interval_s;
            last = last.max(a.started_s + k * a.checkpoint_interval_s);
        }
        a.gpus as f64 * (now - last).max(0) as f64 / 3600.0
    }

    /// Chooses victims for a request that fits nowhere: in each cluster that
    /// passes every rule but capacity and power, the lower-priority
    /// preemptible allocations losing the fewest GPU-hours per GPU freed,
    /// until the gang fits; the cluster whose victims lose least wins.
    fn preemption(&self, now: i64, req: &Request) -> Outcome {
        // Priority 0 can preempt nothing: skip the scan of running work.
        if req.priority == 0 {
            return Outcome::NoFit;
        }
        let cx = self.ctx(req, now);
        let static_rules = &self.pipeline.filters;
        let mut best: Option<(f64, ClusterOrd, Vec<AllocId>)> = None;
        for c in 0..self.topo.clusters.len() as ClusterOrd {
            if static_rules
                .iter()
                .any(|f| !matches!(f.cause(), Cause::Capacity | Cause::Power) && !f.pass(&cx, c))
            {
                continue;
            }
            let lower: u64 = self.preemptible_gpus[c as usize]
                .range(..req.priority)
                .map(|(_, g)| g)
                .sum();
            if self.index.cluster_free(c) + lower < req.gpus as u64 {
                continue;
            }
            let cl = &self.topo.clusters[c as usize];
            let watts = self.topo.watts_per_gpu(c);
            let mut cands: Vec<(f64, AllocId, u32)> = self.cluster_allocs[c as usize]
                .iter()
                .filter_map(|&id| {
                    let a = self.alloc(id)?;
                    // A share of a GPU frees no whole GPU on its own: never a victim.
                    (a.preemptible && a.priority < req.priority && a.share.is_none())
                        .then(|| (self.loss_if_stopped(a, now), id, a.gpus))
                })
                .collect();
            // Least loss per GPU freed first; the id breaks ties.
            cands.sort_by(|a, b| {
                (a.0 / a.2 as f64)
                    .total_cmp(&(b.0 / b.2 as f64))
                    .then(a.1.cmp(&b.1))
            });
            let mut free = self.index.cluster_free(c);
            let need_w = req.gpus as u64 * watts;
            let mut drawn = self.index.site_drawn_w(cl.site);
            let env = self.index.site_envelope_w(cl.site);
            let mut chosen = Vec::new();
            let mut loss = 0.0;
            for (l, id, g) in cands {
                if free >= req.gpus as u64 && drawn + need_w <= env {
                    break;
                }
                free += g as u64;
                drawn = drawn.saturating_sub(g as u64 * watts);
                loss += l;
                chosen.push(id);
            }
            if free < req.gpus as u64 || drawn + need_w > env || chosen.is_empty() {
                continue;
            }
            // Drop victims that turned out unnecessary (largest loss first).
            let mut i = chosen.len();
            while i > 0 {
                i -= 1;
                let a = self.alloc(chosen[i]).expect("victim exists");
                let g = a.gpus as u64;
                if free - g >= req.gpus as u64 && drawn + g * watts + need_w <= env {
                    free -= g;
                    drawn += g * watts;
                    loss -= self.loss_if_stopped(a, now);
                    chosen.remove(i);
                }
            }
            if best.as_ref().is_none_or(|(bl, _, _)| loss < *bl) {
                best = Some((loss, c, chosen));
            }
        }
        let Some((_, c, victims)) = best else {
            return Outcome::NoFit;
        };
        // Where the gang lands once the victims are gone: release them on a
        // copy of the index (preemption is rare; the hot path never copies).
        let mut ix = self.index.clone();
        for &id in &victims {
            give_back(&mut ix, &self.topo, self.alloc(id).expect("victim exists"));
        }
        let Some((parts, share)) = pick(&self.topo, &ix, c, req) else {
            return Outcome::NoFit;
        };
        Outcome::Preempt {
            placement: Placement {
                cluster: c,
                parts,
                share,
                score: 0.0,
            },
            victims: victims
                .iter()
                .map(|&id| {
                    let a = self.alloc(id).expect("victim exists");
                    Victim {
                        work: a.work,
                        gpus: a.gpus,
                        lost_gpu_hours: self.loss_if_stopped(a, now),
                    }
                })
                .collect(),
        }
    }

    /// The allocation running `work`, if any.
    pub fn alloc_of(&self, work: WorkId) -> Option<AllocId> {
        self.work_alloc.get(&work).copied()
    }

    /// Takes the placement's GPUs for `req`. Fails, changing nothing, when the
    /// placement no longer matches free capacity.
    pub fn commit(
        &mut self,
        now: i64,
        req: &Request,
        p: &Placement,
    ) -> Result<AllocId, SchedError> {
        self.commit_cow(now, req, Cow::Borrowed(p))
    }

    /// [`Self::commit`] of a placement its caller is done with: its list of
    /// domains becomes the allocation's, where `commit` copies it (an
    /// allocation and a copy per placement, millions a year).
    pub fn commit_owned(
        &mut self,
        now: i64,
        req: &Request,
        p: Placement,
    ) -> Result<AllocId, SchedError> {
        self.commit_cow(now, req, Cow::Owned(p))
    }

    fn commit_cow(
        &mut self,
        now: i64,
        req: &Request,
        p: Cow<'_, Placement>,
    ) -> Result<AllocId, SchedError> {
        let (cpu, mem) = (req.cpu_milli_per_gpu, req.memory_mib_per_gpu);
        for &(d, g) in &p.parts {
            let free = self.index.free(d);
            // A share on an existing carved GPU takes no whole GPU.
            let whole = if matches!(p.share, Some(SharedGpu { slot: Some(_), .. })) {
                0
            } else {
                g
            };
            let host_ok = (cpu == 0 && mem == 0)
                || self
                    .index
                    .host_fits(&self.topo, d, g as u64 * cpu, g as u64 * mem);
            if free < whole || !host_ok || self.topo.domain_cluster[d as usize] != p.cluster {
                return Err(SchedError::Stale {
                    domain: d,
                    free,
                    wanted: g,
                });
            }
        }
        // A borrow of the field, not a clone of the Arc: no atomic count per call.
        let topo = &*self.topo;
        let cl = &topo.clusters[p.cluster as usize];
        let watts = topo.watts_per_gpu(p.cluster);
        let mut share = None;
        match p.share {
            Some(sh) => {
                let d = p.parts[0].0;
                if let Some(slot) = sh.slot {
                    let room = self.index.shared_room_of(d, slot);
                    if room < sh.milli {
                        return Err(SchedError::Stale {
                            domain: d,
                            free: room,
                            wanted: sh.milli,
                        });
                    }
                }
                let slot = self.index.take_shared(topo, d, sh.slot, sh.milli, watts);
                share = Some((slot, sh.milli));
                self.index.take_host(d, cpu, mem);
            }
            None => {
                for &(d, g) in &p.parts {
                    self.index.take(topo, d, g, watts);
                }
                if cpu > 0 || mem > 0 {
                    for &(d, g) in &p.parts {
                        self.index.take_host(d, g as u64 * cpu, g as u64 * mem);
                    }
                }
            }
        }
        let gpus = p.gpus();
        if let Some(t) = req.team {
            self.team_used[t as usize * topo.accels.len() + cl.accel as usize] += gpus as u64;
        }
        let cluster = p.cluster;
        let parts = match p {
            Cow::Borrowed(p) => p.parts.clone(),
            Cow::Owned(p) => p.parts,
        };
        let a = Alloc {
            work: req.id,
            cluster,
            parts,
            gpus,
            team: req.team,
            priority: req.priority,
            preemptible: req.preemptible,
            started_s: now,
            last_checkpoint_s: now,
            checkpoint_interval_s: req.checkpoint_interval_s,
            share,
            cpu_milli_per_gpu: cpu,
            memory_mib_per_gpu: mem,
        };
        let id = match self.free_ids.pop() {
            Some(id) => {
                self.allocs[id as usize] = Some(a);
                id
            }
            None => {
                self.allocs.push(Some(a));
                (self.allocs.len() - 1) as AllocId
            }
        };
        let list = &mut self.cluster_allocs[cluster as usize];
        if self.alloc_pos.len() <= id as usize {
            self.alloc_pos.resize(id as usize + 1, 0);
        }
        self.alloc_pos[id as usize] = list.len() as u32;
        list.push(id);
        self.work_alloc.insert(req.id, id);
        if req.preemptible {
            *self.preemptible_gpus[cluster as usize]
                .entry(req.priority)
                .or_default() += gpus as u64;
        }
        Ok(id)
    }

    /// Gives an allocation's GPUs back.
    pub fn release(&mut self, id: AllocId) -> Result<Alloc, SchedError> {
        let a = self
            .allocs
            .get_mut(id as usize)
            .and_then(Option::take)
            .ok_or(SchedError::UnknownAlloc(id))?;
        let topo = &*self.topo;
        let cl = &topo.clusters[a.cluster as usize];
        for &(d, _) in &a.parts {
            self.index.unhold(d, id);
        }
        give_back(&mut self.index, topo, &a);
        if let Some(t) = a.team {
            self.team_used[t as usize * topo.accels.len() + cl.accel as usize] -= a.gpus as u64;
        }
        let list = &mut self.cluster_allocs[a.cluster as usize];
        let i = self.alloc_pos[id as usize] as usize;
        list.swap_remove(i);
        if let Some(&moved) = list.get(i) {
            self.alloc_pos[moved as usize] = i as u32;
        }
        // One probe of the table, not a look-up and then a removal.
        if let std::collections::hash_map::Entry::Occupied(e) = self.work_alloc.entry(a.work)
            && *e.get() == id
        {
            e.remove();
        }
        if a.preemptible {
            unpreemptible(
                &mut self.preemptible_gpus[a.cluster as usize],
                a.priority,
                a.gpus,
            );
        }
        self.free_ids.push(id);
        Ok(a)
    }

    /// Gives back the GPUs an allocation holds on domain `d` and drops that
    /// part, keeping the rest running: how a gang with hot-spare domains
    /// survives the loss of one. Returns the GPUs released (0 when the
    /// allocation had none there).
    pub fn release_part(&mut self, id: AllocId, d: DomainOrd) -> Result<u32, SchedError> {
        self.shrink_part(id, d, u32::MAX)
    }

    /// Gives back up to `gpus` of the GPUs an allocation holds on domain
    /// `d`, dropping the part once it holds none: how a replica set gives up
    /// some of its replicas. Returns the GPUs released.
    pub fn shrink_part(&mut self, id: AllocId, d: DomainOrd, gpus: u32) -> Result<u32, SchedError> {
        let topo = &*self.topo;
        let a = self
            .allocs
            .get_mut(id as usize)
            .and_then(Option::as_mut)
            .ok_or(SchedError::UnknownAlloc(id))?;
        // A share of one GPU has no part to swap: it is released whole or not at all.
        let Some(i) = a
            .parts
            .iter()
            .position(|p| p.0 == d)
            .filter(|_| a.share.is_none())
        else {
            return Ok(0);
        };
        let g = gpus.min(a.parts[i].1);
        a.parts[i].1 -= g;
        let dropped = a.parts[i].1 == 0;
        if dropped {
            a.parts.remove(i);
        }
        a.gpus -= g;
        let team = a.team;
        let (cluster, priority, preemptible) = (a.cluster, a.priority, a.preemptible);
        let (cpu, mem) = (a.cpu_milli_per_gpu, a.memory_mib_per_gpu);
        if preemptible {
            unpreemptible(&mut self.preemptible_gpus[cluster as usize], priority, g);
        }
        let cl = &topo.clusters[cluster as usize];
        let watts = topo.watts_per_gpu(cluster);
        if dropped {
            self.index.unhold(d, id);
        }
        self.index.give(topo, d, g, watts);
        self.index.give_host(d, g as u64 * cpu, g as u64 * mem);
        if let Some(t) = team {
            self.team_used[t as usize * topo.accels.len() + cl.accel as usize] -= g as u64;
        }
        Ok(g)
    }

    /// Adds `g` free GPUs of domain `d` to an allocation: how a gang tops up
    /// its hot-spare domains from free capacity. False, changing nothing,
    /// when the domain is of another cluster, offline, short of `g` free
    /// GPUs, or its site's power envelope has no room for them.
    pub fn add_part(&mut self, id: AllocId, d: DomainOrd, g: u32) -> Result<bool, SchedError> {
        let topo = &*self.topo;
        let a = self
            .allocs
            .get(id as usize)
            .and_then(Option::as_ref)
            .ok_or(SchedError::UnknownAlloc(id))?;
        let cluster = a.cluster;
        let watts = topo.watts_per_gpu(cluster);
        let site = topo.clusters[cluster as usize].site;
        if a.share.is_some()
            || topo.domain_cluster[d as usize] != cluster
            || !self.index.is_online(d)
            || self.index.free(d) < g
            || self.index.site_drawn_w(site) + g as u64 * watts > self.index.site_envelope_w(site)
        {
            return Ok(false);
        }
        let (cpu, mem) = (
            g as u64 * a.cpu_milli_per_gpu,
            g as u64 * a.memory_mib_per_gpu,
        );
        if (cpu > 0 || mem > 0) && !self.index.host_fits(topo, d, cpu, mem) {
            return Ok(false);
        }
        let (team, priority, preemptible) = (a.team, a.priority, a.preemptible);
        self.index.take(topo, d, g, watts);
        if cpu > 0 || mem > 0 {
            self.index.take_host(d, cpu, mem);
        }
        if let Some(a) = self.allocs[id as usize].as_mut() {
            match a.parts.iter_mut().find(|p| p.0 == d) {
                Some(p) => p.1 += g,
                None => a.parts.push((d, g)),
            }
            a.gpus += g;
        }
        if let Some(t) = team {
            let accel = topo.clusters[cluster as usize].accel as usize;
            self.team_used[t as usize * topo.accels.len() + accel] += g as u64;
        }
        if preemptible {
            *self.preemptible_gpus[cluster as usize]
                .entry(priority)
                .or_default() += g as u64;
        }
        Ok(true)
    }

    /// Lists allocation `id` as holding each domain it has a part on,
    /// after the allocations listed there before: its owner calls it once it
    /// takes the allocation on, so that a domain's loss finds who to tell
    /// ([`Self::holders`]). Releasing the allocation, or dropping its part on
    /// a domain, unlists it there.
    pub fn track(&mut self, id: AllocId) {
        if let Some(a) = self.allocs.get(id as usize).and_then(Option::as_ref) {
            for &(d, _) in &a.parts {
                self.index.hold(d, id);
            }
        }
    }

    /// Lists allocation `id` as holding domain `d` too: a part added to a
    /// tracked allocation ([`Self::add_part`]).
    pub fn track_part(&mut self, id: AllocId, d: DomainOrd) {
        self.index.hold(d, id);
    }

    /// The tracked allocations holding domain `d`, oldest listing first.
    pub fn holders(&self, d: DomainOrd) -> &[AllocId] {
        self.index.holders(d)
    }

    /// The allocations of cluster `c`.
    pub fn allocs_in_cluster(&self, c: ClusterOrd) -> impl Iterator<Item = (AllocId, &Alloc)> {
        self.cluster_allocs[c as usize]
            .iter()
            .filter_map(|&id| self.allocs[id as usize].as_ref().map(|a| (id, a)))
    }

    /// Recomputes the scheduler's own indexes from its allocations and
    /// compares (positions, work → allocation, preemptible GPUs by
    /// priority); the property tests call it after every step.
    pub fn check_bookkeeping(&self) -> Result<(), String> {
        let mut prio: Vec<BTreeMap<u32, u64>> = vec![BTreeMap::new(); self.topo.clusters.len()];
        for (id, a) in self.allocs() {
            let list = &self.cluster_allocs[a.cluster as usize];
            if list.get(self.alloc_pos[id as usize] as usize) != Some(&id) {
                return Err(format!("allocation {id} is not where its position says"));
            }
            if self.work_alloc.get(&a.work) != Some(&id) {
                return Err(format!("work {} does not map to allocation {id}", a.work));
            }
            if a.preemptible && a.gpus > 0 {
                *prio[a.cluster as usize].entry(a.priority).or_default() += a.gpus as u64;
            }
        }
        for d in 0..self.topo.n_domains() as DomainOrd {
            let listed = self.index.holders(d);
            for (k, &id) in listed.iter().enumerate() {
                if listed[..k].contains(&id) {
                    return Err(format!("domain {d} lists allocation {id} twice"));
                }
                if !self
                    .alloc(id)
                    .is_some_and(|a| a.parts.iter().any(|p| p.0 == d))
                {
                    return Err(format!(
                        "domain {d} lists allocation {id}, which does not hold it"
                    ));
                }
            }
        }
        let live = self.allocs().count();
        if self.cluster_allocs.iter().map(Vec::len).sum::<usize>() != live
            || self.work_alloc.len() != live
        {
            return Err("allocation lists hold stale entries".into());
        }
        if prio != self.preemptible_gpus {
            return Err("preemptible GPUs by priority disagree with the allocations".into());
        }
        Ok(())
    }

    /// Carries out a decision: preempts its victims, then commits its
    /// placement. Returns the new allocation and the released victims.
    pub fn apply(
        &mut self,
        now: i64,
        req: &Request,
        d: &Decision,
    ) -> Result<Option<(AllocId, Vec<Alloc>)>, SchedError> {
        match &d.outcome {
            Outcome::NoFit => Ok(None),
            Outcome::Placed(p) => Ok(Some((self.commit(now, req, p)?, Vec::new()))),
            Outcome::Preempt { placement, victims } => {
                let mut released = Vec::new();
                for v in victims {
                    if let Some(id) = self.alloc_of(v.work) {
                        released.push(self.release(id)?);
                    }
                }
                Ok(Some((self.commit(now, req, placement)?, released)))
            }
        }
    }
}
