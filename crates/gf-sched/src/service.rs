//! Placing and sizing an inference service, once for every shell.
//!
//! `gigafleet place` plans a service from no replicas; the controller plans
//! it again on every autoscale tick from the replicas it runs. Both call
//! [`Scheduler::plan_replicas`], so the replicas a plan shows are the
//! replicas the twin and the server run, and a rule changed here changes
//! everywhere at once.
//!
//! Each zone is sized by the accelerators its replicas actually got: a new
//! replica counts for the throughput of the accelerator of the cluster it was
//! placed on, and replicas are added until every zone's demand × headroom is
//! covered (or the service reaches `max_replicas`, or no room is left).
//! Sizing the whole service by its fastest accelerator and spreading that
//! count afterwards under-provisions every zone served by slower ones.
//!
//! Each replica is placed through [`Scheduler::decide_with`] under the spread
//! rules: at least `min_providers` providers, at most
//! `max_share_per_provider` of the replicas on one, and a bonus for clusters
//! in zones whose demand is not yet covered. Demand is served from its own
//! zone first; what a zone's replicas have left serves another zone only when
//! the round trip between the two (the fleet's `[latency]` table, in
//! [`Topology::rtt_ms`]) plus the service time of one request fits the
//! latency SLO, nearest zones first. A replica outside every zone that can
//! reach a zone still short of capacity would serve nobody, so beyond
//! `min_replicas` it may only go to sites in zones that reach one (the
//! request's sites are narrowed, which keeps preemption possible there).
//!
//! Replicas are removed where a zone's capacity exceeds its demand by at
//! least the replica's throughput, so a plan never removes what it would add
//! back on the next tick.

mod shrink;

use std::sync::Arc;

use gf_model::ServiceSpec;

use crate::decision::{Decision, Explanation, Outcome, Victim};
use crate::request::{Request, RequestError, WorkId};
use crate::scheduler::{AllocId, SchedError, Scheduler};
use crate::topology::{ClusterOrd, Topology};

/// Capacity below this many requests per second counts as none, so that
/// float sums never ask for a replica to cover rounding.
const EPS: f64 = 1e-9;

/// A service resolved against the topology.
#[derive(Debug, Clone)]
pub struct ServiceRequest {
    /// Replica `i` gets work id `base_id + i`.
    pub base_id: WorkId,
    /// The request of one replica.
    pub replica: Request,
    /// Requests per second of one replica, per accelerator ordinal.
    pub throughput: Vec<(u16, f64)>,
    /// Demand per zone ordinal from the spec, requests per second.
    pub demand: Vec<(u32, f64)>,
    /// Replicas must span at least this many providers.
    pub min_providers: u32,
    /// At most this share of replicas on one provider.
    pub max_share_per_provider: f64,
    /// Fewest replicas.
    pub min_replicas: u32,
    /// Most replicas.
    pub max_replicas: u32,
    /// Latency objective, milliseconds: whether other zones may be served.
    pub latency_slo_ms: f64,
    /// Zones in the fleet.
    zones: usize,
    /// For users of each zone, the other zones whose replicas may serve
    /// them within the SLO, nearest first.
    near: Vec<Vec<u32>>,
}

impl ServiceRequest {
    /// Resolves a service spec.
    pub fn from_spec(
        topo: &Topology,
        base_id: WorkId,
        s: &ServiceSpec,
    ) -> Result<Self, RequestError> {
        let replica = Request::from_replica(topo, base_id, s)?;
        let zones = topo.zones.len();
        // A hop fits when the round trip and one request's service leave
        // the SLO met; the service time defaults to one over the fastest
        // throughput, the least a request can take.
        let best = s.throughput.values().copied().fold(0.0, f64::max);
        let service_ms = s
            .service_ms
            .unwrap_or(if best > 0.0 { 1000.0 / best } else { 0.0 });
        let near = (0..zones as u32)
            .map(|z| {
                let mut ys: Vec<u32> = (0..zones as u32)
                    .filter(|&y| y != z && topo.rtt_ms(z, y) + service_ms <= s.latency_slo_ms)
                    .collect();
                ys.sort_by(|&a, &b| {
                    topo.rtt_ms(z, a)
                        .total_cmp(&topo.rtt_ms(z, b))
                        .then(a.cmp(&b))
                });
                ys
            })
            .collect();
        Ok(ServiceRequest {
            zones,
            near,
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
            latency_slo_ms: s.latency_slo_ms,
        })
    }

    /// The zones whose replicas may serve users of zone `z` within the SLO
    /// besides `z` itself, nearest first.
    pub fn near(&self, z: u32) -> &[u32] {
        self.near.get(z as usize).map_or(&[], Vec::as_slice)
    }

    /// Whether replicas in zone `site` may serve users of zone `users`.
    pub fn reaches(&self, site: u32, users: u32) -> bool {
        site == users || self.near(users).contains(&site)
    }

    /// What is left of each zone's need (positive: capacity short,
    /// negative: capacity spare) once spare capacity has served the zones
    /// it may reach: each short zone in order takes from the nearest zones
    /// first. Only the shortfalls are kept (spare left is 0).
    pub fn residual(&self, need: &[f64]) -> Vec<f64> {
        let mut short = Vec::new();
        self.residual_into(need, &mut short, &mut Vec::new());
        short
    }

    /// [`Self::residual`] into `short`, with `spare` as scratch: the
    /// planner asks it per replica, and two allocations each time were a
    /// measurable part of planning a 20M-GPU fleet's services.
    pub fn residual_into(&self, need: &[f64], short: &mut Vec<f64>, spare: &mut Vec<f64>) {
        short.clear();
        short.extend(need.iter().map(|x| x.max(0.0)));
        spare.clear();
        spare.extend(need.iter().map(|x| (-x).max(0.0)));
        for (z, s) in short.iter_mut().enumerate() {
            for &y in self.near(z as u32) {
                if *s <= EPS {
                    break;
                }
                let Some(sp) = spare.get_mut(y as usize) else {
                    continue;
                };
                let x = sp.min(*s);
                *sp -= x;
                *s -= x;
            }
        }
    }

    /// Where a replica on cluster `c` counts, or `None` when the cluster's
    /// accelerator has no throughput for this service.
    pub fn group_of(&self, topo: &Topology, c: ClusterOrd) -> Option<ReplicaGroup> {
        let cl = &topo.clusters[c as usize];
        let tk = self.throughput.iter().position(|t| t.0 == cl.accel)?;
        Some(ReplicaGroup {
            zone: topo.sites[cl.site as usize].zone,
            tk: tk as u32,
            provider: cl.provider,
        })
    }

    /// Requests per second one replica of group `g` serves.
    pub fn rps_of(&self, g: ReplicaGroup) -> f64 {
        self.throughput.get(g.tk as usize).map_or(0.0, |t| t.1)
    }
}

/// Where a replica runs, as far as sizing and spreading care: its zone, its
/// accelerator (as an index into [`ServiceRequest::throughput`]) and its
/// provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplicaGroup {
    /// Zone ordinal.
    pub zone: u32,
    /// Index into the service's throughput list.
    pub tk: u32,
    /// Provider ordinal.
    pub provider: u32,
}

/// A service's running replicas counted by group.
///
/// The controller keeps one per service in step with its replicas (it knows
/// when one starts or is lost); the planner reads it and works on a copy.
/// Every query costs O(zones × accelerators × providers), never O(replicas).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReplicaCounts {
    tputs: usize,
    providers: usize,
    /// Replicas per group, indexed `(zone × tputs + tk) × providers + provider`.
    n: Vec<u32>,
    per_provider: Vec<u32>,
    total: u32,
}

impl ReplicaCounts {
    /// No replicas of `svc` on `topo`.
    pub fn new(topo: &Topology, svc: &ServiceRequest) -> Self {
        let (zones, tputs, providers) =
            (topo.zones.len(), svc.throughput.len(), topo.providers.len());
        ReplicaCounts {
            tputs,
            providers,
            n: vec![0; zones * tputs * providers],
            per_provider: vec![0; providers],
            total: 0,
        }
    }

    /// Makes `self` equal to `other`, keeping its allocations (the planner
    /// works on a copy of the controller's counts on every tick).
    pub fn copy_from(&mut self, other: &ReplicaCounts) {
        self.tputs = other.tputs;
        self.providers = other.providers;
        self.n.clone_from(&other.n);
        self.per_provider.clone_from(&other.per_provider);
        self.total = other.total;
    }

    /// Number of groups, for callers that keep something per group.
    pub fn slots(&self) -> usize {
        self.n.len()
    }

    /// A dense index of group `g` below [`Self::slots`].
    pub fn slot(&self, g: ReplicaGroup) -> usize {
        (g.zone as usize * self.tputs + g.tk as usize) * self.providers + g.provider as usize
    }

    fn group_at(&self, i: usize) -> ReplicaGroup {
        let provider = (i % self.providers) as u32;
        let rest = i / self.providers;
        ReplicaGroup {
            zone: (rest / self.tputs) as u32,
            tk: (rest % self.tputs) as u32,
            provider,
        }
    }

    /// Counts one more replica in group `g`.
    pub fn add(&mut self, g: ReplicaGroup) {
        self.add_n(g, 1);
    }

    /// Counts `k` more replicas in group `g`.
    pub fn add_n(&mut self, g: ReplicaGroup, k: u32) {
        let i = self.slot(g);
        self.n[i] += k;
        self.per_provider[g.provider as usize] += k;
        self.total += k;
    }

    /// Counts one replica of group `g` fewer; a group already empty stays
    /// empty.
    pub fn remove(&mut self, g: ReplicaGroup) {
        self.remove_n(g, 1);
    }

    /// Counts `k` replicas of group `g` fewer (no fewer than none).
    pub fn remove_n(&mut self, g: ReplicaGroup, k: u32) {
        let i = self.slot(g);
        let k = k.min(self.n[i]);
        self.n[i] -= k;
        self.per_provider[g.provider as usize] -= k;
        self.total -= k;
    }

    /// Replicas in all.
    pub fn total(&self) -> u32 {
        self.total
    }

    /// Replicas in group `g`.
    pub fn in_group(&self, g: ReplicaGroup) -> u32 {
        self.n[self.slot(g)]
    }

    /// Replicas in zone `z`.
    pub fn in_zone(&self, z: u32) -> u32 {
        let row = self.tputs * self.providers;
        let base = z as usize * row;
        self.n.get(base..base + row).map_or(0, |r| r.iter().sum())
    }

    /// Replicas on provider `p`.
    pub fn on_provider(&self, p: u32) -> u32 {
        self.per_provider.get(p as usize).copied().unwrap_or(0)
    }

    /// Distinct providers with at least one replica.
    pub fn providers(&self) -> u32 {
        self.per_provider.iter().filter(|&&n| n > 0).count() as u32
    }

    /// Requests per second the replicas in zone `z` serve.
    pub fn zone_rps(&self, svc: &ServiceRequest, z: u32) -> f64 {
        let base = z as usize * self.tputs * self.providers;
        let Some(row) = self.n.get(base..base + self.tputs * self.providers) else {
            return 0.0;
        };
        row.chunks(self.providers.max(1))
            .zip(&svc.throughput)
            .map(|(per_p, t)| per_p.iter().sum::<u32>() as f64 * t.1)
            .sum()
    }

    /// Demand and the part of it served within the latency SLO, requests
    /// per second: replicas serve their own zone first; what they have left
    /// serves the zones they may reach ([`ServiceRequest::residual`]).
    pub fn served(&self, svc: &ServiceRequest, demand: &[(u32, f64)]) -> (f64, f64) {
        let zones = self.n.len() / (self.tputs * self.providers).max(1);
        let mut need = vec![0.0f64; zones];
        for &(z, r) in demand {
            if let Some(x) = need.get_mut(z as usize) {
                *x += r;
            }
        }
        let total: f64 = need.iter().sum();
        for (z, x) in need.iter_mut().enumerate() {
            *x -= self.zone_rps(svc, z as u32);
        }
        let unserved: f64 = svc.residual(&need).iter().sum();
        (total, (total - unserved).max(0.0))
    }
}

/// What the planner does when the scheduler can place the next replica only
/// by preempting training work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnPreempt {
    /// Release the victims at once and place the replica in their room: a
    /// one-shot plan (`gigafleet place`).
    Commit,
    /// Release nothing; return the victims and stop planning. The
    /// controller asks them to stop and the replica takes the room on a
    /// later pass, once the backend has confirmed.
    Ask,
}

/// What [`Scheduler::plan_replicas`] is asked.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    /// The service.
    pub svc: &'a ServiceRequest,
    /// The replicas it runs now.
    pub current: &'a ReplicaCounts,
    /// Demand per zone ordinal, requests per second.
    pub demand: &'a [(u32, f64)],
    /// Zones are sized for demand × headroom.
    pub headroom: f64,
    /// The work id of the first new replica; the next ones follow in order.
    pub first_id: WorkId,
    /// What a preemption decision means.
    pub on_preempt: OnPreempt,
    /// Keep every cluster's verdict in each decision.
    pub explain: bool,
}

/// A replica the plan placed and committed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AddedReplica {
    /// Its work id.
    pub work: WorkId,
    /// The decision that placed it, as an index into
    /// [`ReplicaPlan::decisions`] ([`ReplicaPlan::decision_of`]): the
    /// replicas one decision placed in its NVLink domain share it, so a
    /// plan of thousands of replicas keeps tens of decisions, not a copy
    /// per replica.
    pub decision: u32,
    /// The allocation holding it: the replicas one plan placed on one
    /// cluster share one allocation (a replica set, run as one), whose
    /// work id is its first replica's.
    pub alloc: AllocId,
    /// Where it counts.
    pub group: ReplicaGroup,
}

/// The outcome of planning a service.
#[derive(Debug, Clone, Default)]
pub struct ReplicaPlan {
    /// Replicas placed, in order; their allocations are committed.
    pub added: Vec<AddedReplica>,
    /// The decisions that placed them, each once, in the order they were
    /// taken.
    pub decisions: Vec<Decision>,
    /// One entry per replica to remove, by group: the caller chooses which
    /// of its runs in the group to stop and releases its allocation.
    pub removed: Vec<ReplicaGroup>,
    /// Training work preempted for the replicas: released already under
    /// [`OnPreempt::Commit`], to be asked to stop under [`OnPreempt::Ask`].
    pub victims: Vec<Victim>,
    /// Why the next replica did not fit, when the plan stopped short of its
    /// demand (or waits for victims to stop).
    pub stopped: Option<Explanation>,
    /// Demand × headroom the replicas after the plan leave uncovered,
    /// requests per second.
    pub unserved_rps: f64,
    /// Replicas after the plan.
    pub replicas: u32,
    /// Distinct providers after the plan.
    pub providers: u32,
}

impl ReplicaPlan {
    /// Records one more replica placed by decision `decision` (an index
    /// into `decisions`) in replica set `alloc`.
    fn add_replica(&mut self, work: WorkId, decision: u32, alloc: AllocId, group: ReplicaGroup) {
        self.added.push(AddedReplica {
            work,
            decision,
            alloc,
            group,
        });
    }

    /// The decision that placed replica `r` of this plan.
    pub fn decision_of(&self, r: &AddedReplica) -> &Decision {
        &self.decisions[r.decision as usize]
    }

    /// Empties the plan, keeping its allocations.
    fn clear(&mut self) {
        self.added.clear();
        self.decisions.clear();
        self.removed.clear();
        self.victims.clear();
        self.stopped = None;
        self.unserved_rps = 0.0;
        self.replicas = 0;
        self.providers = 0;
    }
}

impl Scheduler {
    /// Adds placement `p`'s GPUs to replica set `set`, as a commit would
    /// take them; false, changing nothing, when they are no longer free.
    fn join(&mut self, set: AllocId, p: &crate::decision::Placement) -> Result<bool, SchedError> {
        let fits = p.share.is_none()
            && p.parts
                .iter()
                .all(|&(d, g)| self.index().free(d) >= g && self.index().is_online(d));
        if !fits {
            return Ok(false);
        }
        for (k, &(d, g)) in p.parts.iter().enumerate() {
            if !self.add_part(set, d, g)? {
                // A rule the decision passed refused a later domain (power,
                // host room): the replica is not half joined, it is given
                // back and committed as an allocation of its own.
                for &(d, g) in &p.parts[..k] {
                    self.shrink_part(set, d, g)?;
                }
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Scratch for [`ServiceRequest::residual_into`], kept across a plan.
#[derive(Default)]
pub(crate) struct Scratch {
    short: Vec<f64>,
    spare: Vec<f64>,
}

/// How many clusters-to-slot maps the planner keeps (one per distinct
/// throughput list, i.e. per kind of service): a fleet runs a few kinds.
const SLOT_MAPS: usize = 8;

/// The planner's buffers, held by the scheduler from one plan to the next:
/// the controller plans every service on every autoscale tick, and
/// allocating these afresh each time (some of them one entry per cluster)
/// was a visible part of a 20M-GPU year. Nothing in it carries a decision
/// from one plan to the next: each is cleared or overwritten before use.
#[derive(Default)]
pub(crate) struct PlanScratch {
    /// The plan's copy of the service's counts.
    counts: ReplicaCounts,
    /// Capacity still needed per zone.
    need: Vec<f64>,
    res: Scratch,
    /// Shrink's buffers.
    shrink: shrink::ShrinkScratch,
    /// Grow: the zones a replica may go to now.
    short_now: Vec<bool>,
    /// Grow: the spread rule's bonus per group slot.
    by_slot: Vec<Option<f64>>,
    /// Grow: the spread rule's provider part (`None`: barred).
    per_provider: Vec<Option<f64>>,
    /// Grow: the replica set this plan started on each cluster (`None`
    /// again for every entry in `touched` once the plan is done).
    sets: Vec<Option<AllocId>>,
    touched: Vec<ClusterOrd>,
    /// Per throughput list (its accelerator ordinals), each cluster's group
    /// slot: it depends only on the topology and that list.
    slot_maps: Vec<(Vec<u16>, Vec<Option<usize>>)>,
    /// A plan given back by its caller, reused for the next.
    spare: ReplicaPlan,
}

impl Clone for PlanScratch {
    /// Buffers only: a clone of the scheduler starts with empty ones.
    fn clone(&self) -> Self {
        PlanScratch::default()
    }
}

impl PlanScratch {
    /// The position in `slot_maps` of the cluster-to-slot map of `svc`,
    /// built on first use.
    fn slot_map(&mut self, topo: &Topology, svc: &ServiceRequest, counts: &ReplicaCounts) -> usize {
        let key = svc.throughput.iter().map(|t| t.0);
        if let Some(i) = self
            .slot_maps
            .iter()
            .position(|(k, _)| k.iter().copied().eq(key.clone()))
        {
            return i;
        }
        if self.slot_maps.len() >= SLOT_MAPS {
            self.slot_maps.remove(0);
        }
        let map = (0..topo.clusters.len() as ClusterOrd)
            .map(|c| svc.group_of(topo, c).map(|g| counts.slot(g)))
            .collect();
        self.slot_maps.push((key.collect(), map));
        self.slot_maps.len() - 1
    }
}

impl Scratch {
    /// Capacity still needed once spare capacity served the zones it may
    /// reach: the sum of [`ServiceRequest::residual`], without allocating.
    fn uncovered(&mut self, svc: &ServiceRequest, need: &[f64]) -> f64 {
        svc.residual_into(need, &mut self.short, &mut self.spare);
        self.short.iter().sum()
    }

    /// The spare capacity each zone had left after the last
    /// [`Scratch::uncovered`], copied into `into`.
    fn spare_left_into(&self, into: &mut Vec<f64>) {
        into.clear();
        into.extend_from_slice(&self.spare);
    }
}

impl Scheduler {
    /// Plans a service from the replicas it runs: which replicas to remove
    /// (zones whose capacity exceeds their demand × headroom by a whole
    /// replica, or more replicas than `max_replicas`) and which to add, one
    /// by one under the spread rules, each zone until the throughput of the
    /// replicas it actually got covers its demand × headroom. New replicas
    /// are committed as they are placed, so each decision sees the ones
    /// before it; removed ones are left to the caller to release.
    pub fn plan_replicas(
        &mut self,
        now: i64,
        input: &PlanInput<'_>,
    ) -> Result<ReplicaPlan, SchedError> {
        let svc = input.svc;
        let zones = self.topology().zones.len();
        let max = svc.max_replicas.max(svc.min_replicas);
        // The buffers are taken out for the plan (the decisions borrow the
        // scheduler) and put back after it; an error drops them.
        let mut sc = std::mem::take(&mut self.plan_scratch);
        let mut counts = std::mem::take(&mut sc.counts);
        counts.copy_from(input.current);
        // Capacity still needed per zone ordinal (negative: surplus).
        let mut need = std::mem::take(&mut sc.need);
        need.clear();
        need.resize(zones, 0.0);
        for &(z, r) in input.demand {
            if let Some(x) = need.get_mut(z as usize) {
                *x += r * input.headroom;
            }
        }
        for (z, x) in need.iter_mut().enumerate() {
            *x -= counts.zone_rps(svc, z as u32);
        }
        let mut plan = std::mem::take(&mut sc.spare);
        plan.clear();
        shrink::shrink(
            svc,
            &mut counts,
            &mut need,
            max,
            &mut plan.removed,
            &mut sc.res,
            &mut sc.shrink,
        );
        self.grow(now, input, &mut counts, &mut need, max, &mut plan, &mut sc)?;
        plan.unserved_rps = sc.res.uncovered(svc, &need);
        plan.replicas = counts.total();
        plan.providers = counts.providers();
        sc.counts = counts;
        sc.need = need;
        self.plan_scratch = sc;
        Ok(plan)
    }

    /// Gives back a plan its caller is done with: the next plan reuses its
    /// buffers (a controller planning every service on every tick would
    /// otherwise grow a fresh list of replicas each time).
    pub fn recycle_plan(&mut self, plan: ReplicaPlan) {
        self.plan_scratch.spare = plan;
    }

    /// Adds replicas while demand × headroom is uncovered (or fewer than
    /// `min_replicas` run), each placed under the spread rules and counted
    /// for the throughput of the accelerator it got.
    #[allow(clippy::too_many_arguments)]
    fn grow(
        &mut self,
        now: i64,
        input: &PlanInput<'_>,
        counts: &mut ReplicaCounts,
        need: &mut [f64],
        max: u32,
        plan: &mut ReplicaPlan,
        sc: &mut PlanScratch,
    ) -> Result<(), SchedError> {
        let svc = input.svc;
        // Most plans add nothing (the service is sized already): they stop
        // here, before anything below is set up for placing replicas.
        {
            let n = counts.total();
            let left = sc.res.uncovered(svc, need);
            if n >= max || (n >= svc.min_replicas && left <= EPS) {
                return Ok(());
            }
        }
        let topo = Arc::clone(self.topology());
        let best = svc.throughput.iter().map(|t| t.1).fold(0.0, f64::max);
        let mut seq = 0u64;
        let mut req = svc.replica.clone();
        // Every replica has one shape: the static rules are asked once per
        // cluster (the scheduler's memo keeps them for the service's next
        // plans), each cluster's verdict and score are kept until its
        // cluster or site changes, and each cluster's group is looked up
        // once per kind of service (the decisions stay exactly those of
        // `decide_with`, see `Scheduler::decide_prepared`).
        let prep = self.take_prepared(now, &req);
        // The zones short of capacity the request's sites were last built for.
        let mut sites_for: Option<(bool, Vec<bool>)> = None;
        let map = sc.slot_map(&topo, svc, counts);
        let slot_of = &sc.slot_maps[map].1;
        let short_now = &mut sc.short_now;
        let by_slot = &mut sc.by_slot;
        let per_provider = &mut sc.per_provider;
        // The replica set this plan started on each cluster.
        let sets = &mut sc.sets;
        sets.resize(topo.clusters.len(), None);
        let touched = &mut sc.touched;
        let scratch = &mut sc.res;
        loop {
            let n = counts.total();
            svc.residual_into(need, &mut scratch.short, &mut scratch.spare);
            let short = &scratch.short;
            let left: f64 = short.iter().sum();
            if n >= max || (n >= svc.min_replicas && left <= EPS) {
                break;
            }
            // The fewest replicas still to come (all on the fastest
            // accelerator): the share cap and the provider minimum are
            // judged against the service's size once they are placed, which
            // is at least this.
            let by_demand = if best > 0.0 {
                (left / best).ceil() as u32
            } else {
                0
            };
            let more = by_demand.max(svc.min_replicas.saturating_sub(n)).max(1);
            let cap = ((svc.max_share_per_provider * (n + more) as f64).floor() as u32).max(1);
            let used = counts.providers();
            let must_be_new = used < svc.min_providers && more <= svc.min_providers - used;
            req.id = input.first_id + seq;
            // Past the minimum, a replica serves its own zone and the zones
            // within the SLO's reach, so it may only go where it reaches
            // uncovered demand. That narrows the request's sites rather than
            // being a spread rule, so the scheduler may still preempt for
            // it there. The sites depend only on which zones are useful,
            // which changes a few times in a plan: they are rebuilt only then.
            let narrowed = n >= svc.min_replicas;
            short_now.clear();
            short_now.extend((0..svc.zones as u32).map(|y| {
                narrowed
                    && short
                        .iter()
                        .enumerate()
                        .any(|(z, &s)| s > EPS && svc.reaches(y, z as u32))
            }));
            if !sites_for
                .as_ref()
                .is_some_and(|(m, v)| *m == narrowed && *v == *short_now)
            {
                req.sites = if narrowed {
                    let allowed = topo
                        .sites
                        .iter()
                        .enumerate()
                        .map(|(i, site)| {
                            short_now.get(site.zone as usize).copied().unwrap_or(false)
                                && svc.replica.sites.as_ref().is_none_or(|s| s[i])
                        })
                        .collect();
                    Some(allowed)
                } else {
                    svc.replica.sites.clone()
                };
                sites_for = Some((narrowed, short_now.clone()));
            }
            // The spread rule depends on a cluster's group only: it is
            // worked out once per group (tens) rather than per cluster, and
            // its parts once per zone and per provider.
            per_provider.clear();
            per_provider.extend((0..counts.providers as u32).map(|p| {
                let on_p = counts.on_provider(p);
                if on_p >= cap || (must_be_new && on_p > 0) {
                    return None;
                }
                Some(if on_p == 0 && used < svc.min_providers {
                    3.0
                } else {
                    0.0
                })
            }));
            by_slot.clear();
            let zones_here = counts.n.len() / (counts.tputs * counts.providers).max(1);
            for x in need.iter().take(zones_here) {
                let near = x.max(0.0);
                let near_bonus = if near > EPS {
                    4.0 * (near / left.max(EPS)).min(1.0) + 2.0
                } else {
                    0.0
                };
                for tk in 0..counts.tputs {
                    // A group without throughput is barred, as `rps_of`
                    // at or below zero says.
                    let barred = svc.throughput.get(tk).is_none_or(|t| t.1 <= 0.0);
                    by_slot.extend(per_provider.iter().map(|np| {
                        if barred {
                            None
                        } else {
                            np.map(|np| near_bonus + np)
                        }
                    }));
                }
            }
            let extra = |c: ClusterOrd| -> Option<f64> { by_slot[slot_of[c as usize]?] };
            let d = self.decide_prepared(now, &req, input.explain, &extra, &prep);
            let group = match &d.outcome {
                Outcome::NoFit => None,
                Outcome::Preempt { victims, .. } if input.on_preempt == OnPreempt::Ask => {
                    plan.victims.extend(victims.iter().cloned());
                    None
                }
                Outcome::Placed(p) | Outcome::Preempt { placement: p, .. } => {
                    svc.group_of(&topo, p.cluster)
                }
            };
            let Some(group) = group else {
                plan.stopped = Some(d.explanation);
                break;
            };
            // A replica placed where this plan placed one before joins
            // that replica set; the first on a cluster (or one that needed
            // preemption) is committed as an allocation of its own.
            let joined = match &d.outcome {
                Outcome::Placed(p) => match sets[p.cluster as usize] {
                    Some(set) => self.join(set, p)?.then_some(set),
                    None => None,
                },
                _ => None,
            };
            let alloc = match joined {
                Some(set) => set,
                None => {
                    let Some((alloc, _)) = self.apply(now, &req, &d)? else {
                        plan.stopped = Some(d.explanation);
                        break;
                    };
                    if let Outcome::Placed(p) = &d.outcome {
                        sets[p.cluster as usize] = Some(alloc);
                        touched.push(p.cluster);
                    }
                    alloc
                }
            };
            if let Outcome::Preempt { victims, .. } = &d.outcome {
                plan.victims.extend(victims.iter().cloned());
            }
            counts.add(group);
            need[group.zone as usize] -= svc.rps_of(group);
            // The NVLink domain the decision chose takes as many more
            // replicas as it has room for and its zone still needs (within
            // the provider's share): a rack filled by one decision rather
            // than one decision per replica, which is what lets a 20M-GPU
            // fleet's diurnal swing of ~10^5 replicas a day be planned in
            // time. Replicas of several domains, shares of a GPU, the
            // providers still to be reached and preemption decide one by one.
            let chunk = match &d.outcome {
                Outcome::Placed(p) if p.parts.len() == 1 && p.share.is_none() && !must_be_new => {
                    let (dom, g) = p.parts[0];
                    Some((dom, g, self.index().free(dom) / g.max(1)))
                }
                _ => None,
            };
            // Each replica of the chunk refers to the decision that placed it.
            let decision = plan.decisions.len() as u32;
            plan.decisions.push(d);
            plan.add_replica(req.id, decision, alloc, group);
            seq += 1;
            if let Some((dom, g, room)) = chunk {
                // The replicas the loop below would add as far as the
                // counts go (the plan's size, the zone's need and the
                // provider's share, in the loop's order and arithmetic):
                // when the domain takes all of their GPUs at once, each
                // would have fitted one at a time, and the allocation ends
                // the same (its parts, the domain's free GPUs, the site's
                // draw and the host's room are sums), so they are taken in
                // one step; otherwise the loop finds where it stops.
                let rps = svc.rps_of(group);
                let (mut k, mut left_z) = (0u32, need[group.zone as usize]);
                let (mut total, mut on_p) = (counts.total(), counts.on_provider(group.provider));
                while k < room && total < max && left_z > EPS && on_p < cap {
                    left_z -= rps;
                    total += 1;
                    on_p += 1;
                    k += 1;
                }
                let room = if k > 1 && self.add_part(alloc, dom, k * g)? {
                    counts.add_n(group, k);
                    for _ in 0..k {
                        need[group.zone as usize] -= rps;
                        plan.add_replica(input.first_id + seq, decision, alloc, group);
                        seq += 1;
                    }
                    0
                } else {
                    room
                };
                for _ in 0..room {
                    let zone_short = need[group.zone as usize] > EPS;
                    if counts.total() >= max
                        || !zone_short
                        || counts.on_provider(group.provider) >= cap
                        || !self.add_part(alloc, dom, g)?
                    {
                        break;
                    }
                    counts.add(group);
                    need[group.zone as usize] -= svc.rps_of(group);
                    plan.add_replica(input.first_id + seq, decision, alloc, group);
                    seq += 1;
                }
            }
        }
        for c in touched.drain(..) {
            sets[c as usize] = None;
        }
        self.put_prepared(prep);
        Ok(())
    }
}
