//! What the rules say of each cluster for one request shape, kept across
//! decisions: the static rules (which read only the fleet and the shape)
//! are asked once per cluster, and each cluster's verdict and score terms
//! under the other rules are kept until the capacity index logs a change of
//! the cluster or of its site's power. Only the rules that read the
//! request's sites or its team's use, and the scores that read the time or
//! the contracts' spend, are asked at every decision. A service plan
//! prepares its shape explicitly ([`crate::Scheduler::prepare`]); every
//! other decision finds its shape in the scheduler's `ShapeMemo`, since a
//! scheduling pass decides many jobs of few shapes, and the next pass
//! decides the same shapes again.

use std::cell::Cell;

use crate::changes::{Change, ReadTo, Since, change};
use crate::index::CapacityIndex;
use crate::pipeline::{Ctx, Filter, Pipeline, Scorer};
use crate::request::{Request, WorkKind};
use crate::topology::ClusterOrd;

/// No filter rejects the cluster.
pub(crate) const NO_FAIL: u8 = u8::MAX;

/// The cluster's static rules are not asked yet.
const UNASKED: u8 = u8::MAX - 1;

/// What a request's rules say about every cluster, for the decisions of
/// one shape (the replicas of a service, the jobs of a size in scheduling
/// passes): the decisions then ask only what changed. Every value is the
/// one the rule itself returns, and a decision adds the terms in the
/// pipeline's order either way, so a prepared decision is bit for bit the
/// unprepared one.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The shape it was computed for.
    pub(crate) shape: Shape,
    /// Per cluster: the pipeline position of the first static filter that
    /// rejects it ([`NO_FAIL`] when none does, `UNASKED` before the first
    /// decision that reaches the cluster asks).
    static_fail: Vec<Cell<u8>>,
    /// Per cluster, `n_static` weighted terms in the order of the static
    /// scorers in the pipeline (filled with the cluster's verdict).
    static_terms: Vec<Cell<f64>>,
    /// Per cluster: its static terms are known (asked, or copied from
    /// another shape with the same kind and accelerators, which is all the
    /// static scorers read of a request).
    terms_known: Vec<Cell<bool>>,
    n_static: usize,
    /// Per cluster, what its kept rules said and the sum of its terms that
    /// do not vary with the time or the spend (see [`Kept`]), while the
    /// cluster's state and its site's draw are unchanged since: the rules
    /// kept read nothing else, so the answer is the one they would give
    /// again. Placing work changes one cluster and its site between two
    /// decisions of a shape; the capacity index's log of changes says which,
    /// and only those are asked again.
    pub(crate) kept: Vec<Cell<Kept>>,
    /// Whether a scorer of the pipeline varies with the time or the spend:
    /// a kept score is then the score of one instant.
    varies: bool,
    /// The instant the kept scores were worked out at, and the count of the
    /// scheduler's spend reports then.
    at: Cell<(i64, u64)>,
    /// How far this shape has read the index's log of changes.
    read: Cell<ReadTo>,
}

/// What a prepared shape keeps of one cluster: the pipeline position of the
/// first filter that rejects it among those whose verdict reads only the
/// request's shape, the cluster's state and its site's draw (every filter
/// but the scope and the team quota; [`NO_FAIL`]: none), and the sum of its
/// scorers' terms that do not vary with the time or the spend (those that
/// do are added at each decision, see
/// [`Pipeline::add_varying`](crate::pipeline::Pipeline::add_varying)).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Kept {
    /// The sum of the terms that do not vary (from [`KEPT_KNOWN`]).
    pub(crate) kept: f64,
    /// The score at the instant `at` (from [`SUM_KNOWN`]): `kept` and the
    /// terms that vary.
    pub(crate) sum: f64,
    pub(crate) fail: u8,
    /// [`UNKNOWN`], [`FAIL_KNOWN`], [`KEPT_KNOWN`] or [`SUM_KNOWN`]: how
    /// much is kept, each including the ones before it.
    pub(crate) state: u8,
}

/// Nothing kept of the cluster.
pub(crate) const UNKNOWN: u8 = 0;
/// The cluster's verdict is kept.
pub(crate) const FAIL_KNOWN: u8 = 1;
/// The sum of its terms that do not vary is kept too.
pub(crate) const KEPT_KNOWN: u8 = 2;
/// Its score at the instant `at` is kept too.
pub(crate) const SUM_KNOWN: u8 = 3;

const NOTHING_KEPT: Kept = Kept {
    kept: 0.0,
    sum: 0.0,
    fail: NO_FAIL,
    state: UNKNOWN,
};

impl Prepared {
    /// Nothing asked yet for requests shaped like `cx.req`: each cluster's
    /// rules are asked when a decision first reaches it.
    pub(crate) fn lazy(pipeline: &Pipeline, cx: &Ctx<'_>) -> Self {
        let n = cx.topo.clusters.len();
        let count = |f: &dyn Fn(&crate::pipeline::AnyScorer) -> bool| {
            pipeline.scorers.iter().filter(|(_, s)| f(s)).count()
        };
        let n_static = count(&|s| s.is_static());
        Prepared {
            shape: Shape::of(cx.req),
            static_fail: vec![Cell::new(UNASKED); n],
            static_terms: vec![Cell::new(0.0); n * n_static],
            terms_known: vec![Cell::new(false); n],
            n_static,
            kept: vec![Cell::new(NOTHING_KEPT); n],
            varies: !pipeline.varying.is_empty(),
            at: Cell::new((cx.now, u64::MAX)),
            read: Cell::new(ReadTo::default()),
        }
    }

    /// Makes `self` a [`Self::lazy`] one for `cx`'s shape, keeping its
    /// allocations (the memo recycles the shapes it drops).
    fn reset(&mut self, cx: &Ctx<'_>) {
        self.shape = Shape::of(cx.req);
        self.static_fail.iter().for_each(|f| f.set(UNASKED));
        self.terms_known.iter().for_each(|k| k.set(false));
        self.kept.iter().for_each(|k| k.set(NOTHING_KEPT));
        self.at.set((cx.now, u64::MAX));
        self.read.set(ReadTo::default());
    }

    /// Brings what is kept up to date for a decision at `at` (the instant
    /// and the scheduler's count of spend reports): the scores of another
    /// instant or spend are dropped when a term varies with them (the sums
    /// of the terms that do not are kept), and everything kept of a cluster
    /// that changed since the last call (every cluster, the first time) is
    /// forgotten: the clusters the index logged, and those of each site
    /// whose draw it logged.
    pub(crate) fn refresh(&self, index: &CapacityIndex, at: (i64, u64)) {
        if self.at.get() != at {
            self.at.set(at);
            if self.varies {
                for k in &self.kept {
                    let mut x = k.get();
                    if x.state == SUM_KNOWN {
                        x.state = KEPT_KNOWN;
                        k.set(x);
                    }
                }
            }
        }
        let (since, to) = index.changes().read(self.read.get());
        self.read.set(to);
        match since {
            Since::All => self.kept.iter().for_each(|k| k.set(NOTHING_KEPT)),
            Since::Some(es) => {
                for &e in es {
                    match change(e) {
                        Change::Cluster(c) => self.kept[c as usize].set(NOTHING_KEPT),
                        Change::Site(s) => {
                            for &c in index.clusters_at(s) {
                                self.kept[c as usize].set(NOTHING_KEPT);
                            }
                        }
                    }
                }
            }
        }
    }

    /// The pipeline position of the first static filter that rejects
    /// cluster `c` ([`NO_FAIL`]: none), asking its static rules (and
    /// keeping its static terms) on first use. `cx` must be of this shape.
    #[inline]
    pub(crate) fn static_fail(&self, pipeline: &Pipeline, cx: &Ctx<'_>, c: ClusterOrd) -> u8 {
        let known = self.static_fail[c as usize].get();
        if known != UNASKED {
            return known;
        }
        self.ask_static(pipeline, cx, c)
    }

    /// Asks cluster `c`'s static rules and keeps their answers: once per
    /// cluster and shape, so kept out of line of the common path.
    #[cold]
    #[inline(never)]
    fn ask_static(&self, pipeline: &Pipeline, cx: &Ctx<'_>, c: ClusterOrd) -> u8 {
        let fail = pipeline
            .filters
            .iter()
            .position(|f| f.is_static() && f.applies(cx.req) && !f.pass(cx, c))
            .map_or(NO_FAIL, |i| i as u8);
        if !self.terms_known[c as usize].get() {
            let terms = self.static_terms(c).iter();
            let statics = pipeline.scorers.iter().filter(|(_, s)| s.is_static());
            for (t, (w, s)) in terms.zip(statics) {
                t.set(w * s.score(cx, c));
            }
            self.terms_known[c as usize].set(true);
        }
        self.static_fail[c as usize].set(fail);
        fail
    }

    /// Takes the static terms `other` knows, when they are this shape's
    /// too: the static scorers read of a request only its kind and
    /// accelerators (cost by kind, preference by accelerator order; the
    /// others read the cluster), so two shapes that differ only in gang
    /// size, team or host needs have the same terms, bit for bit. A pass
    /// decides gangs of many sizes: each new size then asks only the static
    /// filters.
    fn share_terms(&mut self, other: &Prepared) {
        let same = other.shape.kind == self.shape.kind
            && other.shape.accels == self.shape.accels
            && other.n_static == self.n_static
            && other.terms_known.len() == self.terms_known.len();
        if !same {
            return;
        }
        for (c, known) in other.terms_known.iter().enumerate() {
            if known.get() && !self.terms_known[c].get() {
                let k = c * self.n_static;
                for i in k..k + self.n_static {
                    self.static_terms[i].set(other.static_terms[i].get());
                }
                self.terms_known[c].set(true);
            }
        }
    }

    /// Cluster `c`'s static terms, in pipeline order (asked once
    /// [`Self::static_fail`] was).
    pub(crate) fn static_terms(&self, c: ClusterOrd) -> &[Cell<f64>] {
        let c = c as usize;
        &self.static_terms[c * self.n_static..(c + 1) * self.n_static]
    }
}

/// What the rules kept may read of a request: two requests of one shape
/// get the same kept verdicts and scores. The id and the
/// allowed sites are not part of it (the scope rule is not static, since a
/// service plan narrows the sites from one replica to the next).
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    kind: WorkKind,
    team: Option<u32>,
    gpus: u32,
    accels: crate::request::Accels,
    spot_ok: bool,
    gpu_milli: u32,
    cpu_milli_per_gpu: u64,
    memory_mib_per_gpu: u64,
}

impl Shape {
    /// The shape of `req`.
    pub fn of(req: &Request) -> Self {
        Shape {
            kind: req.kind,
            team: req.team,
            gpus: req.gpus,
            accels: req.accels.clone(),
            spot_ok: req.spot_ok,
            gpu_milli: req.gpu_milli,
            cpu_milli_per_gpu: req.cpu_milli_per_gpu,
            memory_mib_per_gpu: req.memory_mib_per_gpu,
        }
    }

    /// True when `req` has this shape.
    pub fn matches(&self, req: &Request) -> bool {
        // The gang size first: it tells most shapes apart.
        self.gpus == req.gpus
            && self.kind == req.kind
            && self.team == req.team
            && self.accels == req.accels
            && self.spot_ok == req.spot_ok
            && self.gpu_milli == req.gpu_milli
            && self.cpu_milli_per_gpu == req.cpu_milli_per_gpu
            && self.memory_mib_per_gpu == req.memory_mib_per_gpu
    }
}

impl Pipeline {
    /// Asks every static rule about every cluster for requests shaped like
    /// `cx.req`.
    pub fn prepare(&self, cx: &Ctx<'_>) -> Prepared {
        let p = Prepared::lazy(self, cx);
        for c in 0..cx.topo.clusters.len() as ClusterOrd {
            p.static_fail(self, cx, c);
        }
        p
    }
}

/// How many shapes the memo keeps: passes decide jobs of tens of shapes
/// (team, accelerators, gang size); beyond this many the least recently
/// used is dropped.
const MEMO_SHAPES: usize = 64;

/// The prepared shapes of the latest decisions: a decision that finds its
/// shape here asks only the rules that read the request's sites or its
/// team's use, and asks the others only of the clusters that changed since
/// the last decision of its shape.
#[derive(Debug, Clone, Default)]
pub(crate) struct ShapeMemo {
    /// Least recently used first.
    shapes: Vec<Prepared>,
    /// Shapes dropped, kept for their allocations.
    spare: Vec<Prepared>,
}

impl ShapeMemo {
    /// Takes out the prepared shape of `cx.req`, or a new one with nothing
    /// asked; give it back with [`Self::put`].
    pub(crate) fn take(&mut self, pipeline: &Pipeline, cx: &Ctx<'_>) -> Prepared {
        if let Some(i) = self.shapes.iter().position(|p| p.shape.matches(cx.req)) {
            return self.shapes.remove(i);
        }
        if self.spare.is_empty() && self.shapes.len() >= MEMO_SHAPES {
            self.spare.push(self.shapes.remove(0));
        }
        let mut p = match self.spare.pop() {
            Some(mut p) => {
                p.reset(cx);
                p
            }
            None => Prepared::lazy(pipeline, cx),
        };
        // The most recent shape of the same kind and accelerators lends its
        // static terms.
        if let Some(q) = self
            .shapes
            .iter()
            .rev()
            .find(|q| q.shape.kind == p.shape.kind && q.shape.accels == p.shape.accels)
        {
            p.share_terms(q);
        }
        p
    }

    /// Keeps a prepared shape taken with [`Self::take`] for the next
    /// decision of its shape.
    pub(crate) fn put(&mut self, p: Prepared) {
        if self.shapes.len() >= MEMO_SHAPES {
            self.spare.push(self.shapes.remove(0));
        }
        self.shapes.push(p);
    }
}
