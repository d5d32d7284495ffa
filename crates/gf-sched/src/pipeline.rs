//! The placement pipeline: filter → score → select. Each rule is a small
//! named type; [`Pipeline::new`] lists them once, in the order they run.

use std::cell::Cell;

use gf_model::PriceModel;

use crate::decision::Cause;
use crate::index::CapacityIndex;
use crate::policy::{Policy, Strategy, Weights};
use crate::request::{Request, WorkKind};
use crate::topology::{ClusterOrd, Topology};

/// Everything a rule may read about one decision. Rules never write.
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
    /// True when the verdict depends only on the fleet, the cluster's
    /// online capacity and the request's [`Shape`], so placing or releasing
    /// work cannot change it: a batch of decisions ([`Prepared`]) then asks
    /// it once per cluster instead of once per decision.
    fn is_static(&self) -> bool {
        false
    }
}

/// A soft rule: a score in [0, 1], higher is better.
pub trait Scorer: Send + Sync {
    /// Name shown in explanations.
    fn name(&self) -> &'static str;
    /// The score of placing the request on cluster `c`. A scorer that is
    /// not static may read only the request's shape, the index's state of
    /// cluster `c` and the power drawn at its site: a [`Prepared`] batch
    /// keeps its score until one of those changes.
    fn score(&self, cx: &Ctx<'_>, c: ClusterOrd) -> f64;
    /// True when the score depends only on the fleet, the time, the spend
    /// reported against contracts and the request's [`Shape`], so placing
    /// or releasing work cannot change it (see [`Filter::is_static`]).
    fn is_static(&self) -> bool {
        false
    }
}

/// The cluster's accelerator is one the request accepts.
pub struct AcceleratorAccepted;
impl Filter for AcceleratorAccepted {
    fn cause(&self) -> Cause {
        Cause::Accelerator
    }
    fn pass(&self, cx: &Ctx<'_>, c: ClusterOrd) -> bool {
        cx.req.accels.contains(&cx.topo.clusters[c as usize].accel)
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
    fn pass(&self, cx: &Ctx<'_>, c: ClusterOrd) -> bool {
        cx.req.spot_ok || cx.topo.clusters[c as usize].price_model != PriceModel::Spot
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
    fn pass(&self, cx: &Ctx<'_>, c: ClusterOrd) -> bool {
        let Some(t) = cx.req.team else { return true };
        let a = cx.topo.clusters[c as usize].accel as usize;
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
    fn pass(&self, cx: &Ctx<'_>, c: ClusterOrd) -> bool {
        cx.index.cluster_online(c) >= cx.req.gpus as u64
    }
    // Online capacity changes only when the backend reports it, never by
    // placing or releasing work.
    fn is_static(&self) -> bool {
        true
    }
}

/// Enough free GPUs online in the cluster; a gang never spans clusters.
pub struct GangFits;
impl Filter for GangFits {
    fn cause(&self) -> Cause {
        Cause::Capacity
    }
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
    fn cause(&self) -> Cause {
        Cause::Power
    }
    fn pass(&self, cx: &Ctx<'_>, c: ClusterOrd) -> bool {
        let cl = &cx.topo.clusters[c as usize];
        let need = cx.req.gpus as u64 * cx.topo.watts_per_gpu(c);
        cx.index.site_drawn_w(cl.site) + need <= cx.index.site_envelope_w(cl.site)
    }
}

/// Per-cluster cost per unit of work, and the fleet's cheapest, computed once per fleet.
#[derive(Debug, Clone)]
pub struct CostTable {
    /// USD per reference GPU-hour of training work, per cluster.
    pub train: Vec<f64>,
    /// USD per reference GPU-hour of inference work, per cluster.
    pub infer: Vec<f64>,
    /// Reserved: paid whether used or not, so using it costs nothing more.
    reserved: Vec<bool>,
    /// The fleet's largest commitment, USD: the scale of commitment urgency.
    largest_commitment_usd: f64,
    min_train: f64,
    min_infer: f64,
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
        CostTable {
            min_train: min(&train),
            min_infer: min(&infer),
            train,
            infer,
            reserved,
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
        if self.reserved[c as usize] {
            return 1.0;
        }
        let (v, m) = match kind {
            WorkKind::Training => (self.train[c as usize], self.min_train),
            WorkKind::Inference => (self.infer[c as usize], self.min_infer),
        };
        if v <= 0.0 {
            1.0
        } else {
            (m / v).clamp(0.0, 1.0)
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
    fn score(&self, cx: &Ctx<'_>, c: ClusterOrd) -> f64 {
        f64::from(cx.topo.clusters[c as usize].price_model == PriceModel::Reserved)
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
    fn score(&self, cx: &Ctx<'_>, c: ClusterOrd) -> f64 {
        let Some(k) = cx.topo.clusters[c as usize].contract else {
            return 0.5;
        };
        let k_ord = k as usize;
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
    fn is_static(&self) -> bool {
        true
    }
}

/// More power headroom left at the site after placing scores higher.
pub struct PowerLeft;
impl Scorer for PowerLeft {
    fn name(&self) -> &'static str {
        "power"
    }
    fn score(&self, cx: &Ctx<'_>, c: ClusterOrd) -> f64 {
        let cl = &cx.topo.clusters[c as usize];
        let env = cx.index.site_envelope_w(cl.site);
        if env == 0 {
            return 0.0;
        }
        let need = cx.req.gpus as u64 * cx.topo.watts_per_gpu(c);
        1.0 - ((cx.index.site_drawn_w(cl.site) + need) as f64 / env as f64).min(1.0)
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
    fn score(&self, cx: &Ctx<'_>, c: ClusterOrd) -> f64 {
        let dg = cx.topo.clusters[c as usize].domain_gpus;
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
    fn score(&self, cx: &Ctx<'_>, c: ClusterOrd) -> f64 {
        let a = cx.topo.clusters[c as usize].accel;
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
    fn score(&self, cx: &Ctx<'_>, c: ClusterOrd) -> f64 {
        let left = cx.index.cluster_free(c) - cx.req.gpus as u64;
        1.0 / (1.0 + left as f64)
    }
}

/// The filters and weighted scorers of one policy.
pub struct Pipeline {
    /// Hard rules, cheapest and most selective first.
    pub filters: Vec<Box<dyn Filter>>,
    /// Soft rules with their weights.
    pub scorers: Vec<(f64, Box<dyn Scorer>)>,
}

impl Pipeline {
    /// The pipeline of a policy.
    ///
    /// Filters run cheapest and most selective first: the accelerator and
    /// scope rules read only static facts and reject most clusters of a large
    /// fleet; spot, quota and host resources per domain are O(1) lookups;
    /// online capacity, free capacity and power read the live index last. The first rule that rejects a cluster is its cause.
    pub fn new(policy: &Policy) -> Self {
        let filters: Vec<Box<dyn Filter>> = vec![
            Box::new(AcceleratorAccepted),
            Box::new(ScopeAllowed),
            Box::new(SpotEligible),
            Box::new(TeamQuota),
            Box::new(HostResources),
            Box::new(OnlineCapacity),
            Box::new(GangFits),
            Box::new(PowerHeadroom),
        ];
        let scorers: Vec<(f64, Box<dyn Scorer>)> = match policy.strategy {
            Strategy::FirstFit => vec![(1.0, Box::new(FileOrder))],
            Strategy::BestFit => vec![(1.0, Box::new(LeastLeftover))],
            Strategy::Cheapest => vec![(1.0, Box::new(EffectiveCost))],
            Strategy::MultiObjective(w) => weighted(w),
        };
        Pipeline { filters, scorers }
    }
}

fn weighted(w: Weights) -> Vec<(f64, Box<dyn Scorer>)> {
    let all: Vec<(f64, Box<dyn Scorer>)> = vec![
        (w.cost, Box::new(EffectiveCost)),
        (w.paid_anyway, Box::new(PaidAnyway)),
        (w.commitment, Box::new(CommitmentBehind)),
        (w.power, Box::new(PowerLeft)),
        (w.packing, Box::new(Packing)),
        (w.preference, Box::new(Preference)),
    ];
    all.into_iter().filter(|(w, _)| *w != 0.0).collect()
}

/// What a request's static rules say about every cluster, computed once for
/// a batch of decisions of one shape at one instant (the replicas of one
/// service plan): the decisions then ask only the rules that placing work
/// can change. Every value is the one the rule itself returns, and a
/// decision adds the terms in the pipeline's order either way, so a
/// prepared decision is bit for bit the unprepared one.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The shape and instant it was computed for.
    pub(crate) shape: Shape,
    /// The scheduler's count of changes static rules can see when it was
    /// computed (set by `Scheduler::prepare`).
    pub(crate) epoch: u64,
    /// Per cluster: the pipeline position of the first static filter that
    /// rejects it ([`NO_FAIL`] when none does).
    pub(crate) static_fail: Vec<u8>,
    /// Per cluster, `n_static` weighted terms in the order of the static
    /// scorers in the pipeline.
    pub(crate) static_terms: Vec<f64>,
    pub(crate) n_static: usize,
    /// Per cluster, the last sum of its scorers' terms and what it was
    /// computed under: the cluster's version and its site's watts drawn
    /// (`u64::MAX`: never computed). A scorer that is not static reads only
    /// the request's shape, the index's state of the cluster and the power
    /// drawn at its site, so while both are unchanged the sum is the one it
    /// would compute again; placing a replica changes them for one cluster
    /// and its site, and only those are scored afresh.
    pub(crate) sums: Vec<Cell<(u64, u64, f64)>>,
}

/// No static filter rejects the cluster.
pub(crate) const NO_FAIL: u8 = u8::MAX;

/// What static rules may read of a request, and the instant: two requests of
/// one shape get the same static verdicts and scores. The id and the
/// allowed sites are not part of it (the scope rule is not static, since a
/// service plan narrows the sites from one replica to the next).
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    kind: WorkKind,
    team: Option<u32>,
    gpus: u32,
    accels: Vec<u16>,
    spot_ok: bool,
    gpu_milli: u32,
    cpu_milli_per_gpu: u64,
    memory_mib_per_gpu: u64,
    now: i64,
}

impl Shape {
    /// The shape of `req` at `now`.
    pub fn of(req: &Request, now: i64) -> Self {
        Shape {
            kind: req.kind,
            team: req.team,
            gpus: req.gpus,
            accels: req.accels.clone(),
            spot_ok: req.spot_ok,
            gpu_milli: req.gpu_milli,
            cpu_milli_per_gpu: req.cpu_milli_per_gpu,
            memory_mib_per_gpu: req.memory_mib_per_gpu,
            now,
        }
    }

    /// True when `req` at `now` has this shape.
    pub fn matches(&self, req: &Request, now: i64) -> bool {
        self.kind == req.kind
            && self.team == req.team
            && self.gpus == req.gpus
            && self.accels == req.accels
            && self.spot_ok == req.spot_ok
            && self.gpu_milli == req.gpu_milli
            && self.cpu_milli_per_gpu == req.cpu_milli_per_gpu
            && self.memory_mib_per_gpu == req.memory_mib_per_gpu
            && self.now == now
    }
}

impl Pipeline {
    /// Asks every static rule about every cluster for requests shaped like
    /// `cx.req` at `cx.now`.
    pub fn prepare(&self, cx: &Ctx<'_>) -> Prepared {
        let n = cx.topo.clusters.len();
        let statics: Vec<&(f64, Box<dyn Scorer>)> =
            self.scorers.iter().filter(|(_, s)| s.is_static()).collect();
        let mut static_fail = vec![NO_FAIL; n];
        let mut static_terms = Vec::with_capacity(n * statics.len());
        for (c, fail) in static_fail.iter_mut().enumerate() {
            let co = c as ClusterOrd;
            *fail = self
                .filters
                .iter()
                .position(|f| f.is_static() && f.applies(cx.req) && !f.pass(cx, co))
                .map_or(NO_FAIL, |i| i as u8);
            static_terms.extend(statics.iter().map(|(w, s)| w * s.score(cx, co)));
        }
        Prepared {
            shape: Shape::of(cx.req, cx.now),
            epoch: 0,
            static_fail,
            static_terms,
            n_static: statics.len(),
            sums: vec![Cell::new((u64::MAX, u64::MAX, 0.0)); n],
        }
    }
}
