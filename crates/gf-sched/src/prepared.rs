//! What the static rules of one request shape say, kept across decisions:
//! the verdicts and scores that placing work cannot change are asked once
//! per cluster for every decision of that shape at one instant, and each
//! cluster's score sum (and, when no rule of the decision reads more than
//! the cluster and its site, its verdict) is kept until the cluster (or its
//! site's power) changes. A service plan prepares its shape explicitly
//! ([`crate::Scheduler::prepare`]); every other decision finds its shape in
//! the scheduler's `ShapeMemo`, which a scheduling pass fills, since a
//! pass decides many jobs of few shapes at one instant.

use std::cell::Cell;

use crate::changes::{Change, ReadTo, Since, change};
use crate::index::CapacityIndex;
use crate::pipeline::{Ctx, Filter, Pipeline, Scorer};
use crate::request::{Request, WorkKind};
use crate::topology::ClusterOrd;

/// No static filter rejects the cluster.
pub(crate) const NO_FAIL: u8 = u8::MAX;

/// The cluster's static rules are not asked yet.
const UNASKED: u8 = u8::MAX - 1;

/// What a request's static rules say about every cluster, for a batch of
/// decisions of one shape at one instant (the replicas of one service
/// plan, the jobs of one scheduling pass): the decisions then ask only the
/// rules that placing work can change. Every value is the one the rule
/// itself returns, and a decision adds the terms in the pipeline's order
/// either way, so a prepared decision is bit for bit the unprepared one.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The shape and instant it was computed for.
    pub(crate) shape: Shape,
    /// The scheduler's count of changes static rules can see when it was
    /// computed (set by `Scheduler::prepare`).
    pub(crate) epoch: u64,
    /// Per cluster: the pipeline position of the first static filter that
    /// rejects it ([`NO_FAIL`] when none does, `UNASKED` before the first
    /// decision that reaches the cluster asks).
    static_fail: Vec<Cell<u8>>,
    /// Per cluster, `n_static` weighted terms in the order of the static
    /// scorers in the pipeline (filled with the cluster's verdict).
    static_terms: Vec<Cell<f64>>,
    /// Per cluster: its static terms are known (asked, or copied from
    /// another shape of this instant with the same kind and accelerators,
    /// which is all the static scorers read of a request).
    terms_known: Vec<Cell<bool>>,
    n_static: usize,
    /// Per cluster, what its kept rules said and its score sum, while the
    /// cluster's state and its site's draw are unchanged since (see
    /// [`Kept`]): the rules kept read nothing else, so the answer is the one
    /// they would give again. Placing work changes one cluster and its site
    /// between two decisions of a shape; the capacity index's log of changes
    /// says which, and only those are asked again.
    pub(crate) kept: Vec<Cell<Kept>>,
    /// How far this shape has read the index's log of changes.
    read: Cell<ReadTo>,
}

/// What a prepared shape keeps of one cluster: the pipeline position of the
/// first filter that rejects it among those whose verdict reads only the
/// request's shape, the cluster's state and its site's draw (every filter
/// but the scope and the team quota; [`NO_FAIL`]: none), and the sum of its
/// scorers' terms.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Kept {
    pub(crate) sum: f64,
    pub(crate) fail: u8,
    /// [`UNKNOWN`], [`FAIL_KNOWN`] or [`SUM_KNOWN`] (the verdict and the sum).
    pub(crate) state: u8,
}

/// Nothing kept of the cluster.
pub(crate) const UNKNOWN: u8 = 0;
/// The cluster's verdict is kept, not its sum.
pub(crate) const FAIL_KNOWN: u8 = 1;
/// The cluster's verdict and its sum are kept.
pub(crate) const SUM_KNOWN: u8 = 2;

const NOTHING_KEPT: Kept = Kept {
    sum: 0.0,
    fail: NO_FAIL,
    state: UNKNOWN,
};

impl Prepared {
    /// Nothing asked yet for requests shaped like `cx.req` at `cx.now`:
    /// each cluster's static rules are asked when a decision first reaches it.
    pub(crate) fn lazy(pipeline: &Pipeline, cx: &Ctx<'_>, epoch: u64) -> Self {
        let n = cx.topo.clusters.len();
        let n_static = pipeline
            .scorers
            .iter()
            .filter(|(_, s)| s.is_static())
            .count();
        Prepared {
            shape: Shape::of(cx.req, cx.now),
            epoch,
            static_fail: vec![Cell::new(UNASKED); n],
            static_terms: vec![Cell::new(0.0); n * n_static],
            terms_known: vec![Cell::new(false); n],
            n_static,
            kept: vec![Cell::new(NOTHING_KEPT); n],
            read: Cell::new(ReadTo::default()),
        }
    }

    /// Makes `self` a [`Self::lazy`] one for `cx`'s shape, keeping its
    /// allocations (the memo recycles the shapes of a past instant).
    fn reset(&mut self, cx: &Ctx<'_>, epoch: u64) {
        self.shape = Shape::of(cx.req, cx.now);
        self.epoch = epoch;
        self.static_fail.iter().for_each(|f| f.set(UNASKED));
        self.terms_known.iter().for_each(|k| k.set(false));
        self.kept.iter().for_each(|k| k.set(NOTHING_KEPT));
        self.read.set(ReadTo::default());
    }

    /// Forgets what is kept of every cluster that changed since the last
    /// call (every cluster, the first time): the clusters the index logged,
    /// and those of each site whose draw it logged.
    pub(crate) fn refresh(&self, index: &CapacityIndex) {
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
    /// others read the cluster, the time and the spend), so two shapes of
    /// one instant and count that differ only in gang size, team or host
    /// needs have the same terms, bit for bit. A pass decides gangs of many
    /// sizes: each new size then asks only the static filters.
    fn share_terms(&mut self, other: &Prepared) {
        let same = other.epoch == self.epoch
            && other.shape.now == self.shape.now
            && other.shape.kind == self.shape.kind
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

/// What static rules may read of a request, and the instant: two requests of
/// one shape get the same static verdicts and scores. The id and the
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
        // The gang size first: it tells most shapes of one instant apart.
        self.gpus == req.gpus
            && self.kind == req.kind
            && self.team == req.team
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
        let p = Prepared::lazy(self, cx, 0);
        for c in 0..cx.topo.clusters.len() as ClusterOrd {
            p.static_fail(self, cx, c);
        }
        p
    }
}

/// How many shapes the memo keeps: a pass decides jobs of tens of shapes
/// (team, accelerators, gang size); beyond this many the least recently
/// used is dropped.
const MEMO_SHAPES: usize = 64;

/// The prepared shapes of the decisions at one instant under one count of
/// static changes (the scheduler's `static_epoch`): a decision that finds
/// its shape here asks only the rules placing work can change, and scores
/// afresh only the clusters that changed since the last decision of its
/// shape. Another instant or count empties it.
#[derive(Debug, Clone, Default)]
pub(crate) struct ShapeMemo {
    /// Least recently used first.
    shapes: Vec<Prepared>,
    /// Shapes of a past instant, kept for their allocations.
    spare: Vec<Prepared>,
}

impl ShapeMemo {
    /// Takes out the prepared shape of `cx.req` at `cx.now` under `epoch`,
    /// or a new one with nothing asked; give it back with [`Self::put`].
    pub(crate) fn take(&mut self, pipeline: &Pipeline, cx: &Ctx<'_>, epoch: u64) -> Prepared {
        if self
            .shapes
            .first()
            .is_some_and(|p| p.epoch != epoch || p.shape.now != cx.now)
        {
            self.spare.append(&mut self.shapes);
        }
        if let Some(i) = self
            .shapes
            .iter()
            .position(|p| p.shape.matches(cx.req, cx.now))
        {
            return self.shapes.remove(i);
        }
        if self.spare.is_empty() && self.shapes.len() >= MEMO_SHAPES {
            self.spare.push(self.shapes.remove(0));
        }
        let mut p = match self.spare.pop() {
            Some(mut p) => {
                p.reset(cx, epoch);
                p
            }
            None => Prepared::lazy(pipeline, cx, epoch),
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
        // A shape from another instant or count than the ones kept (a
        // decision that changed them in between) replaces them all.
        if self
            .shapes
            .first()
            .is_some_and(|q| q.epoch != p.epoch || q.shape.now != p.shape.now)
        {
            self.spare.append(&mut self.shapes);
        }
        if self.shapes.len() >= MEMO_SHAPES {
            self.spare.push(self.shapes.remove(0));
        }
        self.shapes.push(p);
    }
}
