//! The placement pipeline: filter → score → select. Each rule is a small
//! named type; [`Pipeline::new`] lists them once, in the order they run.

use std::cell::Cell;

use gf_model::PriceModel;

use crate::decision::Cause;
use crate::index::CapacityIndex;
use crate::policy::{Policy, Strategy, Weights};
use crate::request::{Request, WorkKind};
use crate::topology::{ClusterOrd, Topology};

/// Everything a rule may read about one decision. Rules never write (the
/// memo below only keeps values a rule computed, so asking again is cheap).
pub struct Ctx<'a> {
    /// The fleet.
    pub topo: &'a Topology,
    /// Free capacity and power.
    pub index: &'a CapacityIndex,
    /// GPUs in use per team and accelerator (`team * n_accels + accel`).
    pub team_used: &'a [u64],
    /// Spend accrued per contract, USD.
    pub contract_spend: &'a [f64],
    /// Static per-cluster cost terms.
    pub costs: &'a CostTable,
    /// The request.
    pub req: &'a Request,
    /// Now, seconds since the epoch.
    pub now: i64,
    /// Bit `a` is set when the request accepts accelerator ordinal `a < 64`:
    /// the accelerator rule asks it once per cluster, so the list is read
    /// once per decision instead.
    accepted: u64,
    /// Bit `a` is set when the request's team has room under its quota on
    /// accelerator ordinal `a` for the request's GPUs (`None`: no team, a
    /// team or an accelerator the tables lack, or more than 64
    /// accelerators). The quota rule asks it of every cluster a decision
    /// visits; the usage it reads does not change during one decision.
    quota_room: Option<u64>,
    /// The commitment score of each of the first [`COMMIT_MEMO`] contracts,
    /// once a cluster of it was scored in this decision (NaN: not yet). It
    /// depends on the contract, the time and the spend only, which one
    /// decision never changes, so it is worked out once per contract rather
    /// than once per cluster.
    commit_memo: [Cell<f64>; COMMIT_MEMO],
}

/// Contracts whose commitment score a decision remembers; a fleet with more
/// works them out again for the rest.
const COMMIT_MEMO: usize = 16;

impl<'a> Ctx<'a> {
    /// The context of one decision.
    pub fn new(
        topo: &'a Topology,
        index: &'a CapacityIndex,
        team_used: &'a [u64],
        contract_spend: &'a [f64],
        costs: &'a CostTable,
        req: &'a Request,
        now: i64,
    ) -> Self {
        let accepted = req
            .accels
            .iter()
            .filter(|&&a| a < 64)
            .fold(0u64, |m, &a| m | 1 << a);
        let quota_room = req.team.and_then(|t| {
            let n = topo.accels.len();
            let quota = &topo.teams.get(t as usize)?.quota;
            if n > 64 {
                return None;
            }
            (0..n).try_fold(0u64, |m, a| {
                let used = *team_used.get(t as usize * n + a)?;
                let ok = used.saturating_add(req.gpus as u64) <= *quota.get(a)?;
                Some(m | u64::from(ok) << a)
            })
        });
        Ctx {
            topo,
            index,
            team_used,
            contract_spend,
            costs,
            req,
            now,
            accepted,
            quota_room,
            commit_memo: std::array::from_fn(|_| Cell::new(f64::NAN)),
        }
    }

    /// True when the request accepts accelerator `a`.
    fn accepts(&self, a: u16) -> bool {
        if a < 64 {
            self.accepted >> a & 1 != 0
        } else {
            self.req.accels.contains(&a)
        }
    }
}

/// A hard rule: a cluster passes or is rejected with a cause.
pub trait Filter: Send + Sync {
    /// The cause reported when it rejects.
    fn cause(&self) -> Cause;
    /// False when the rule cannot reject anything for this request (no
    /// scope given, no team, no CPU asked): the decision then skips it for
    /// every cluster instead of asking each.
    fn applies(&self, _req: &Request) -> bool {
        true
    }
    /// True when the cluster may host the request.
    fn pass(&self, cx: &Ctx<'_>, c: ClusterOrd) -> bool;
    /// True when the verdict depends only on the fleet and the request's
    /// [`Shape`](crate::prepared::Shape), so nothing but the shape can
    /// change it: a prepared shape ([`Prepared`](crate::prepared::Prepared))
    /// asks it once per cluster.
    fn is_static(&self) -> bool {
        false
    }
    /// True when the verdict on a cluster depends only on the request's
    /// shape, the index's state of that cluster and the power drawn at its
    /// site: a prepared shape ([`Prepared`](crate::prepared::Prepared))
    /// keeps it with the cluster's score until one of those changes. Static
    /// rules are.
    fn kept(&self) -> bool {
        self.is_static()
    }
    /// True when, for this decision, the rule rejects no cluster the rules
    /// before it pass: a decision then does not ask it.
    fn moot(&self, _cx: &Ctx<'_>) -> bool {
        false
    }
}

/// A soft rule: a score in [0, 1], higher is better.
pub trait Scorer: Send + Sync {
    /// Name shown in explanations.
    fn name(&self) -> &'static str;
    /// The score of placing the request on cluster `c`. A scorer that is
    /// neither static nor [`Self::varies`] may read only the request's
    /// shape, the index's state of cluster `c` and the power drawn at its
    /// site: a [`Prepared`](crate::prepared::Prepared) shape keeps its
    /// score until one of those changes.
    fn score(&self, cx: &Ctx<'_>, c: ClusterOrd) -> f64;
    /// True when the score depends only on the fleet and the request's
    /// [`Shape`](crate::prepared::Shape), so nothing but the shape can
    /// change it (see [`Filter::is_static`]).
    fn is_static(&self) -> bool {
        false
    }
    /// True when the score reads the time or the spend reported against
    /// contracts: it is asked afresh at every decision, never kept.
    fn varies(&self) -> bool {
        false
    }
}

/// The cluster's accelerator is one the request accepts.
pub struct AcceleratorAccepted;
impl Filter for AcceleratorAccepted {
    fn cause(&self) -> Cause {
        Cause::Accelerator
    }
    #[inline]
    fn pass(&self, cx: &Ctx<'_>, c: ClusterOrd) -> bool {
        cx.accepts(cx.costs.facts[c as usize].accel)
    }
    fn is_static(&self) -> bool {
        true
    }
}

/// The cluster's provider and region are allowed.
pub struct ScopeAllowed;
impl Filter for ScopeAllowed {
    fn applies(&self, req: &Request) -> bool {
        req.sites.is_some()
    }
    fn cause(&self) -> Cause {
        Cause::Scope
    }
    // The sites are not part of a prepared shape (a service plan narrows
    // them from one replica to the next): the rule is not kept.
    #[inline]
    fn pass(&self, cx: &Ctx<'_>, c: ClusterOrd) -> bool {
        match &cx.req.sites {
            None => true,
            Some(s) => s[cx.topo.clusters[c as usize].site as usize],
        }
    }
}

/// Spot capacity only for spot-tolerant work.
pub struct SpotEligible;
impl Filter for SpotEligible {
    fn applies(&self, req: &Request) -> bool {
        !req.spot_ok
    }
    fn cause(&self) -> Cause {
        Cause::Spot
    }
    #[inline]
    fn pass(&self, cx: &Ctx<'_>, c: ClusterOrd) -> bool {
        cx.req.spot_ok || !cx.costs.facts[c as usize].spot
    }
    fn is_static(&self) -> bool {
        true
    }
}

/// The team stays within its quota for the cluster's accelerator.
pub struct TeamQuota;
impl Filter for TeamQuota {
    fn applies(&self, req: &Request) -> bool {
        req.team.is_some()
    }
    fn cause(&self) -> Cause {
        Cause::Quota
    }
    // The team's use moves with every placement anywhere, so the rule is
    // not kept; when the team has room on every accelerator the request
    // accepts, it passes every cluster the accelerator rule (before it)
    // passes.
    fn moot(&self, cx: &Ctx<'_>) -> bool {
        cx.req.team.is_none()
            || cx
                .quota_room
                .is_some_and(|r| r & cx.accepted == cx.accepted)
    }
    #[inline]
    fn pass(&self, cx: &Ctx<'_>, c: ClusterOrd) -> bool {
        let Some(t) = cx.req.team else { return true };
        let a = cx.costs.facts[c as usize].accel as usize;
        if let Some(room) = cx.quota_room
            && a < 64
        {
            return room >> a & 1 != 0;
        }
        let n = cx.topo.accels.len();
        let quota = cx.topo.teams[t as usize].quota[a];
        cx.team_used[t as usize * n + a].saturating_add(cx.req.gpus as u64) <= quota
    }
}

/// Each domain the work lands on must have the CPU and host memory its GPUs
/// need: a gang asks per GPU, so a domain of the cluster must hold
/// `min(gang, domain size)` GPUs' worth.
pub struct HostResources;
impl Filter for HostResources {
    fn applies(&self, req: &Request) -> bool {
        req.cpu_milli_per_gpu > 0 || req.memory_mib_per_gpu > 0
    }
    fn cause(&self) -> Cause {
        Cause::Host
    }
    #[inline]
    fn pass(&self, cx: &Ctx<'_>, c: ClusterOrd) -> bool {
        let cl = &cx.topo.clusters[c as usize];
        let n = cx.req.gpus.min(cl.domain_gpus) as u64;
        n.saturating_mul(cx.req.cpu_milli_per_gpu) <= cl.cpu_milli_per_domain
            && n.saturating_mul(cx.req.memory_mib_per_gpu) <= cl.memory_mib_per_domain
    }
    fn is_static(&self) -> bool {
        true
    }
}

/// The cluster has at least the gang's size online at all: capacity that
/// has not ramped in yet, or is down, is a different answer from "busy".
pub struct OnlineCapacity;
impl Filter for OnlineCapacity {
    fn cause(&self) -> Cause {
        Cause::NotOnline
    }
    #[inline]
    fn pass(&self, cx: &Ctx<'_>, c: ClusterOrd) -> bool {
        cx.index.cluster_online(c) >= cx.req.gpus as u64
    }
    // It reads the cluster's online GPUs: its index state, which the
    // backend's capacity reports change (logged as any other change).
    fn kept(&self) -> bool {
        true
    }
}

/// Enough free GPUs online in the cluster; a gang never spans clusters.
pub struct GangFits;
impl Filter for GangFits {
    // It reads the cluster's free GPUs and shared room: its index state.
    fn kept(&self) -> bool {
        true
    }
    fn cause(&self) -> Cause {
        Cause::Capacity
    }
    #[inline]
    fn pass(&self, cx: &Ctx<'_>, c: ClusterOrd) -> bool {
        if cx.req.is_fractional() && cx.index.max_shared_room(c) >= cx.req.gpu_milli {
            return true; // room on a GPU already shared
        }
        cx.index.cluster_free(c) >= cx.req.gpus as u64
    }
}

/// The site's power envelope holds with the new GPUs drawing.
pub struct PowerHeadroom;
impl Filter for PowerHeadroom {
    // It reads the site's draw; the envelope never changes.
    fn kept(&self) -> bool {
        true
    }
    fn cause(&self) -> Cause {
        Cause::Power
    }
    #[inline]
    fn pass(&self, cx: &Ctx<'_>, c: ClusterOrd) -> bool {
        let f = &cx.costs.facts[c as usize];
        let need = cx.req.gpus as u64 * f.watts;
        cx.index.site_drawn_w(f.site) + need <= cx.index.site_envelope_w(f.site)
    }
}

/// What the rules read of a cluster on every decision, packed in one small
/// record per cluster: a decision walks up to every cluster of the fleet,
/// and the full [`crate::topology::Cluster`] (names, ramp) is several cache
/// lines apart from one cluster to the next.
#[derive(Debug, Clone, Copy)]
pub struct ClusterFacts {
    /// Accelerator ordinal.
    pub accel: u16,
    /// Spot capacity.
    pub spot: bool,
    /// Reserved capacity: paid whether used or not.
    pub reserved: bool,
    /// Its site.
    pub site: u32,
    /// The contract its spend counts against ([`NO_CONTRACT`]: none).
    pub contract: u32,
    /// GPUs per NVLink domain.
    pub domain_gpus: u32,
    /// Facility watts per GPU at load.
    pub watts: u64,
    /// The cost term of training work (see [`EffectiveCost`]).
    norm_train: f64,
    /// The cost term of inference work.
    norm_infer: f64,
}

/// A cluster under no contract.
pub const NO_CONTRACT: u32 = u32::MAX;

/// Per-cluster cost per unit of work, and the fleet's cheapest, computed once per fleet.
#[derive(Debug, Clone)]
pub struct CostTable {
    /// USD per reference GPU-hour of training work, per cluster.
    pub train: Vec<f64>,
    /// USD per reference GPU-hour of inference work, per cluster.
    pub infer: Vec<f64>,
    /// What the rules read of each cluster.
    pub facts: Vec<ClusterFacts>,
    /// The fleet's largest commitment, USD: the scale of commitment urgency.
    largest_commitment_usd: f64,
}

impl CostTable {
    /// Computes the table for a fleet. The cheapest is taken over capacity
    /// paid by use: reserved capacity's marginal cost is zero, the view
    /// every scorer shares.
    pub fn new(topo: &Topology) -> Self {
        let per = |f: fn(&crate::topology::AccelInfo) -> f64| -> Vec<f64> {
            topo.clusters
                .iter()
                .map(|c| c.usd_per_gpu_hour / f(&topo.accels[c.accel as usize]).max(1e-9))
                .collect()
        };
        let train = per(|a| a.train);
        let infer = per(|a| a.infer);
        let reserved: Vec<bool> = topo
            .clusters
            .iter()
            .map(|c| c.price_model == PriceModel::Reserved)
            .collect();
        let min = |v: &[f64]| {
            v.iter()
                .zip(&reserved)
                .filter(|(_, r)| !**r)
                .map(|(x, _)| *x)
                .fold(f64::INFINITY, f64::min)
        };
        let (min_train, min_infer) = (min(&train), min(&infer));
        // Reserved capacity's cost term is 1; capacity paid by use scores the
        // fleet's cheapest over its own cost, clamped to [0, 1].
        let normalized = |reserved: bool, v: f64, m: f64| {
            if reserved || v <= 0.0 {
                1.0
            } else {
                (m / v).clamp(0.0, 1.0)
            }
        };
        let facts = topo
            .clusters
            .iter()
            .enumerate()
            .map(|(c, cl)| ClusterFacts {
                accel: cl.accel,
                spot: cl.price_model == PriceModel::Spot,
                reserved: reserved[c],
                site: cl.site,
                contract: cl.contract.unwrap_or(NO_CONTRACT),
                domain_gpus: cl.domain_gpus,
                watts: topo.watts_per_gpu(c as ClusterOrd),
                norm_train: normalized(reserved[c], train[c], min_train),
                norm_infer: normalized(reserved[c], infer[c], min_infer),
            })
            .collect();
        CostTable {
            train,
            infer,
            facts,
            largest_commitment_usd: topo
                .contracts
                .iter()
                .map(|k| k.committed_usd)
                .fold(0.0, f64::max),
        }
    }

    /// Cost per unit of work of the request's kind on a cluster.
    pub fn of(&self, kind: WorkKind, c: ClusterOrd) -> f64 {
        match kind {
            WorkKind::Training => self.train[c as usize],
            WorkKind::Inference => self.infer[c as usize],
        }
    }

    fn normalized(&self, kind: WorkKind, c: ClusterOrd) -> f64 {
        let f = &self.facts[c as usize];
        match kind {
            WorkKind::Training => f.norm_train,
            WorkKind::Inference => f.norm_infer,
        }
    }
}

/// Lower marginal price per unit of work scores higher: reserved capacity
/// (already paid for) and the cheapest capacity paid by use score 1.
pub struct EffectiveCost;
impl Scorer for EffectiveCost {
    fn name(&self) -> &'static str {
        "cost"
    }
    #[inline]
    fn score(&self, cx: &Ctx<'_>, c: ClusterOrd) -> f64 {
        cx.costs.normalized(cx.req.kind, c)
    }
    fn is_static(&self) -> bool {
        true
    }
}

/// Reserved capacity is paid for whether it is used or not: idle reserved
/// GPUs cost nothing more to use, so they go first.
pub struct PaidAnyway;
impl Scorer for PaidAnyway {
    fn name(&self) -> &'static str {
        "paid-anyway"
    }
    #[inline]
    fn score(&self, cx: &Ctx<'_>, c: ClusterOrd) -> f64 {
        f64::from(cx.costs.facts[c as usize].reserved)
    }
    fn is_static(&self) -> bool {
        true
    }
}

/// Commitment urgency in dollars: a contract projected to fall short of its
/// commitment at term end (its spend so far extrapolated at its pace so far)
/// scores above 0.5 by its shortfall, one projected to overshoot below; the
/// dollars are over the fleet's largest commitment, so a large shortfall
/// outranks a small one and nothing saturates. Capacity under no contract
/// (or outside its term) scores 0.5.
pub struct CommitmentBehind;
impl Scorer for CommitmentBehind {
    fn name(&self) -> &'static str {
        "commitment"
    }
    #[inline]
    fn score(&self, cx: &Ctx<'_>, c: ClusterOrd) -> f64 {
        let k = cx.costs.facts[c as usize].contract;
        if k == NO_CONTRACT {
            return 0.5;
        }
        // Every cluster of a contract scores the same: worked out once.
        let Some(memo) = cx.commit_memo.get(k as usize) else {
            return commitment(cx, k as usize);
        };
        let v = memo.get();
        if !v.is_nan() {
            return v;
        }
        let v = commitment(cx, k as usize);
        memo.set(v);
        v
    }
    // It reads the time and the contracts' spend.
    fn varies(&self) -> bool {
        true
    }
}

/// The commitment urgency of contract `k_ord` (see [`CommitmentBehind`]).
fn commitment(cx: &Ctx<'_>, k_ord: usize) -> f64 {
    let k = &cx.topo.contracts[k_ord];
    if cx.now <= k.start_s || cx.now >= k.end_s || k.committed_usd <= 0.0 {
        return 0.5;
    }
    let largest = cx.costs.largest_commitment_usd;
    let elapsed = (cx.now - k.start_s) as f64 / (k.end_s - k.start_s) as f64;
    let spent = cx.contract_spend.get(k_ord).copied().unwrap_or(0.0);
    let projected = spent / elapsed;
    let shortfall = (k.committed_usd - projected) / largest;
    0.5 + 0.5 * shortfall.clamp(-1.0, 1.0)
}

/// More power headroom left at the site after placing scores higher.
pub struct PowerLeft;
impl Scorer for PowerLeft {
    fn name(&self) -> &'static str {
        "power"
    }
    #[inline]
    fn score(&self, cx: &Ctx<'_>, c: ClusterOrd) -> f64 {
        let f = &cx.costs.facts[c as usize];
        let env = cx.index.site_envelope_w(f.site);
        if env == 0 {
            return 0.0;
        }
        let need = cx.req.gpus as u64 * f.watts;
        1.0 - ((cx.index.site_drawn_w(f.site) + need) as f64 / env as f64).min(1.0)
    }
}

/// Packing: a gang that fits one domain should take the fullest domain that
/// holds it (best fit); a larger gang should find whole domains. Both keep
/// whole NVLink domains free for the next large gang.
pub struct Packing;
impl Scorer for Packing {
    fn name(&self) -> &'static str {
        "packing"
    }
    #[inline]
    fn score(&self, cx: &Ctx<'_>, c: ClusterOrd) -> f64 {
        let dg = cx.costs.facts[c as usize].domain_gpus;
        let g = cx.req.gpus;
        if cx.req.is_fractional() && cx.index.max_shared_room(c) >= cx.req.gpu_milli {
            return 1.0; // fills a GPU that is already shared
        }
        if g <= dg {
            match cx.index.best_fit_bucket(c, g) {
                Some(k) => 1.0 - (k - g) as f64 / dg as f64,
                None => 0.0, // it would have to be split across domains
            }
        } else {
            let need = g / dg;
            let whole = cx.index.cluster_whole_free(c);
            (whole.min(need) as f64 / need as f64) * 0.9
                + if g.is_multiple_of(dg) { 0.1 } else { 0.0 }
        }
    }
}

/// The work's own preference among its accelerators.
pub struct Preference;
impl Scorer for Preference {
    fn name(&self) -> &'static str {
        "preference"
    }
    #[inline]
    fn score(&self, cx: &Ctx<'_>, c: ClusterOrd) -> f64 {
        let a = cx.costs.facts[c as usize].accel;
        let n = cx.req.accels.len();
        let i = cx.req.accels.iter().position(|&x| x == a).unwrap_or(n);
        1.0 - i as f64 / n.max(1) as f64
    }
    fn is_static(&self) -> bool {
        true
    }
}

/// First feasible cluster in file order wins.
pub struct FileOrder;
impl Scorer for FileOrder {
    fn name(&self) -> &'static str {
        "file-order"
    }
    #[inline]
    fn score(&self, cx: &Ctx<'_>, c: ClusterOrd) -> f64 {
        1.0 - c as f64 / cx.topo.clusters.len().max(1) as f64
    }
    fn is_static(&self) -> bool {
        true
    }
}

/// The cluster left with the fewest free GPUs wins.
pub struct LeastLeftover;
impl Scorer for LeastLeftover {
    fn name(&self) -> &'static str {
        "least-leftover"
    }
    #[inline]
    fn score(&self, cx: &Ctx<'_>, c: ClusterOrd) -> f64 {
        let left = cx.index.cluster_free(c) - cx.req.gpus as u64;
        1.0 / (1.0 + left as f64)
    }
}

/// Asks the rule inside an [`AnyFilter`] or [`AnyScorer`], by a `match`.
macro_rules! each_rule {
    ($self:ident, $r:ident => $e:expr, $($v:ident),+) => {
        match $self {
            $(Self::$v($r) => $e,)+
        }
    };
}

/// One filter of the pipeline. An enum rather than a boxed trait object: a
/// decision asks every filter of up to every cluster, and a `match` lets the
/// compiler inline each small rule where a virtual call cannot.
pub enum AnyFilter {
    /// [`AcceleratorAccepted`].
    Accelerator(AcceleratorAccepted),
    /// [`ScopeAllowed`].
    Scope(ScopeAllowed),
    /// [`SpotEligible`].
    Spot(SpotEligible),
    /// [`TeamQuota`].
    Quota(TeamQuota),
    /// [`HostResources`].
    Host(HostResources),
    /// [`OnlineCapacity`].
    Online(OnlineCapacity),
    /// [`GangFits`].
    Gang(GangFits),
    /// [`PowerHeadroom`].
    Power(PowerHeadroom),
}

impl Filter for AnyFilter {
    #[inline]
    fn cause(&self) -> Cause {
        each_rule!(self, r => r.cause(), Accelerator, Scope, Spot, Quota, Host, Online, Gang, Power)
    }
    #[inline]
    fn applies(&self, req: &Request) -> bool {
        each_rule!(self, r => r.applies(req), Accelerator, Scope, Spot, Quota, Host, Online, Gang, Power)
    }
    #[inline(always)]
    fn pass(&self, cx: &Ctx<'_>, c: ClusterOrd) -> bool {
        each_rule!(self, r => r.pass(cx, c), Accelerator, Scope, Spot, Quota, Host, Online, Gang, Power)
    }
    #[inline]
    fn is_static(&self) -> bool {
        each_rule!(self, r => r.is_static(), Accelerator, Scope, Spot, Quota, Host, Online, Gang, Power)
    }
    #[inline]
    fn kept(&self) -> bool {
        each_rule!(self, r => r.kept(), Accelerator, Scope, Spot, Quota, Host, Online, Gang, Power)
    }
    #[inline]
    fn moot(&self, cx: &Ctx<'_>) -> bool {
        each_rule!(self, r => r.moot(cx), Accelerator, Scope, Spot, Quota, Host, Online, Gang, Power)
    }
}

/// One scorer of the pipeline (an enum for the reason [`AnyFilter`] is).
pub enum AnyScorer {
    /// [`EffectiveCost`].
    Cost(EffectiveCost),
    /// [`PaidAnyway`].
    Paid(PaidAnyway),
    /// [`CommitmentBehind`].
    Commitment(CommitmentBehind),
    /// [`PowerLeft`].
    Power(PowerLeft),
    /// [`Packing`].
    Packing(Packing),
    /// [`Preference`].
    Preference(Preference),
    /// [`FileOrder`].
    FileOrder(FileOrder),
    /// [`LeastLeftover`].
    LeastLeftover(LeastLeftover),
}

impl Scorer for AnyScorer {
    #[inline]
    fn name(&self) -> &'static str {
        each_rule!(self, r => r.name(), Cost, Paid, Commitment, Power, Packing, Preference, FileOrder, LeastLeftover)
    }
    #[inline(always)]
    fn score(&self, cx: &Ctx<'_>, c: ClusterOrd) -> f64 {
        each_rule!(self, r => r.score(cx, c), Cost, Paid, Commitment, Power, Packing, Preference, FileOrder, LeastLeftover)
    }
    #[inline]
    fn is_static(&self) -> bool {
        each_rule!(self, r => r.is_static(), Cost, Paid, Commitment, Power, Packing, Preference, FileOrder, LeastLeftover)
    }
    #[inline]
    fn varies(&self) -> bool {
        each_rule!(self, r => r.varies(), Cost, Paid, Commitment, Power, Packing, Preference, FileOrder, LeastLeftover)
    }
}

/// The filters, in the order they run; every policy has the same.
pub const FILTERS: [AnyFilter; 8] = [
    AnyFilter::Accelerator(AcceleratorAccepted),
    AnyFilter::Scope(ScopeAllowed),
    AnyFilter::Spot(SpotEligible),
    AnyFilter::Quota(TeamQuota),
    AnyFilter::Host(HostResources),
    AnyFilter::Online(OnlineCapacity),
    AnyFilter::Gang(GangFits),
    AnyFilter::Power(PowerHeadroom),
];

/// The position in [`FILTERS`] of the first filter among `ask` (a bit per
/// position) that rejects cluster `c`, asked in order. Written out filter
/// by filter, so each is a direct, inlined call and each branch goes the
/// same way for every cluster of one decision (a loop over the list would
/// jump through one table to a different rule each time).
#[inline(always)]
pub fn first_reject(ask: u64, cx: &Ctx<'_>, c: ClusterOrd) -> Option<usize> {
    macro_rules! in_order {
        ($($k:literal),+) => {
            $(
                if ask & (1 << $k) != 0 && !FILTERS[$k].pass(cx, c) {
                    return Some($k);
                }
            )+
        };
    }
    in_order!(0, 1, 2, 3, 4, 5, 6, 7);
    None
}

/// The filters and weighted scorers of one policy.
pub struct Pipeline {
    /// Hard rules, cheapest and most selective first: [`FILTERS`].
    pub filters: &'static [AnyFilter],
    /// Soft rules with their weights.
    pub scorers: Vec<(f64, AnyScorer)>,
    /// The positions in `scorers` of the rules that vary with the time or
    /// the spend ([`Scorer::varies`]), in pipeline order. A cluster's score
    /// is the sum of the other terms, in pipeline order from zero, plus these
    /// in order: the first part is kept while the cluster is unchanged (see
    /// [`Prepared`](crate::prepared::Prepared)), so only these are asked
    /// again when the time or the spend moves.
    pub(crate) varying: Vec<usize>,
    /// The filters whose verdict on a cluster is kept with its score but
    /// read its state, so are asked again once it changes (a bit per
    /// position in [`FILTERS`]).
    pub(crate) kept_live: u64,
    /// The filters never kept: asked at every decision that they apply to.
    pub(crate) unkept: u64,
}

impl Pipeline {
    /// The pipeline of a policy.
    ///
    /// Filters run cheapest and most selective first: the accelerator and
    /// scope rules read only static facts and reject most clusters of a large
    /// fleet; spot, quota and host resources per domain are O(1) lookups;
    /// online capacity, free capacity and power read the live index last. The first rule that rejects a cluster is its cause.
    pub fn new(policy: &Policy) -> Self {
        let filters = &FILTERS;
        let scorers = match policy.strategy {
            Strategy::FirstFit => vec![(1.0, AnyScorer::FileOrder(FileOrder))],
            Strategy::BestFit => vec![(1.0, AnyScorer::LeastLeftover(LeastLeftover))],
            Strategy::Cheapest => vec![(1.0, AnyScorer::Cost(EffectiveCost))],
            Strategy::MultiObjective(w) => weighted(w),
        };
        let varying = scorers
            .iter()
            .enumerate()
            .filter(|(_, (_, s))| s.varies())
            .map(|(i, _)| i)
            .collect();
        let mask = |keep: &dyn Fn(&AnyFilter) -> bool| {
            filters
                .iter()
                .enumerate()
                .filter(|(_, f)| keep(f))
                .fold(0u64, |m, (i, _)| m | 1 << i)
        };
        Pipeline {
            filters,
            scorers,
            varying,
            kept_live: mask(&|f| f.kept() && !f.is_static()),
            unkept: mask(&|f| !f.kept()),
        }
    }

    /// `kept` (the sum of a cluster's terms that do not vary) plus the
    /// weighted terms that do, in pipeline order: cluster `c`'s score.
    #[inline(always)]
    pub(crate) fn add_varying(&self, cx: &Ctx<'_>, c: ClusterOrd, kept: f64) -> f64 {
        let mut sum = kept;
        for &i in &self.varying {
            let (w, s) = &self.scorers[i];
            sum += w * s.score(cx, c);
        }
        sum
    }
}

fn weighted(w: Weights) -> Vec<(f64, AnyScorer)> {
    let all = vec![
        (w.cost, AnyScorer::Cost(EffectiveCost)),
        (w.paid_anyway, AnyScorer::Paid(PaidAnyway)),
        (w.commitment, AnyScorer::Commitment(CommitmentBehind)),
        (w.power, AnyScorer::Power(PowerLeft)),
        (w.packing, AnyScorer::Packing(Packing)),
        (w.preference, AnyScorer::Preference(Preference)),
    ];
    all.into_iter().filter(|(w, _)| *w != 0.0).collect()
}
