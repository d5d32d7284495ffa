//! Deciding: where a request goes, from the pipeline's filters and
//! scorers over the clusters (in a seeded rotation, up to the policy's cap of
//! feasible ones), with the static rules read from the shape memo. Pure: it
//! reads the scheduler and changes nothing; `commit` (in the parent module)
//! is what acts on a decision.

use std::cell::Cell;

use crate::decision::{Cause, Decision, Explanation, Outcome, Placement, Verdict};
use crate::pack::pick;
use crate::pipeline::{Ctx, Filter, Scorer, first_reject};
use crate::prepared::{FAIL_KNOWN, KEPT_KNOWN, Kept, NO_FAIL, Prepared, SUM_KNOWN, UNKNOWN};
use crate::request::Request;
use crate::topology::ClusterOrd;

use super::{Scheduler, mix};

impl Scheduler {
    /// Decides where `req` goes, without changing anything.
    ///
    /// With `explain`, every cluster's verdict and score terms are kept;
    /// without, only the counts by cause (the hot path allocates nothing
    /// but the placement itself).
    pub fn decide(&self, now: i64, req: &Request, explain: bool) -> Decision {
        self.decide_inner(now, req, explain, &|_| Some(0.0), None)
    }

    /// [`Self::decide`] with one more rule from the caller: `extra(c)` is
    /// `None` to reject cluster `c` (counted as [`Cause::Spread`]) or a bonus
    /// added to its score. Services use it to spread replicas.
    pub fn decide_with(
        &self,
        now: i64,
        req: &Request,
        explain: bool,
        extra: &dyn Fn(ClusterOrd) -> Option<f64>,
    ) -> Decision {
        self.decide_inner(now, req, explain, extra, None)
    }

    /// The static rules' verdicts and scores on every cluster for requests
    /// shaped like `req` (see [`Prepared`]), for a batch of decisions
    /// through [`Self::decide_prepared`].
    pub fn prepare(&self, now: i64, req: &Request) -> Prepared {
        self.pipeline.prepare(&self.ctx(req, now))
    }

    /// The memo's prepared shape of `req` (see [`ShapeMemo`]), taken out
    /// for a batch of [`Self::decide_prepared`]: its static answers and
    /// what it keeps of each cluster carry over from the decisions of its
    /// shape before, and are asked lazily rather than for every cluster up
    /// front. Give it back with [`Self::put_prepared`].
    pub(crate) fn take_prepared(&self, now: i64, req: &Request) -> Prepared {
        self.memo
            .borrow_mut()
            .take(&self.pipeline, &self.ctx(req, now))
    }

    /// Keeps a shape taken with [`Self::take_prepared`] for the next
    /// decisions of its shape.
    pub(crate) fn put_prepared(&self, p: Prepared) {
        self.memo.borrow_mut().put(p);
    }

    /// [`Self::decide_with`], reading the static rules from `prep` instead
    /// of asking them again: the same decision, bit for bit, at a fraction
    /// of the cost when many requests of one shape are placed. A `prep` of
    /// another shape is ignored (every rule is asked); so is any `prep`
    /// when `explain` wants each term.
    ///
    /// Generic over the caller's rule, so that a plan's rule is inlined into
    /// the loop over clusters (called through a pointer at every feasible
    /// cluster, it also made the loop load everything again after it).
    pub fn decide_prepared<E: Fn(ClusterOrd) -> Option<f64> + ?Sized>(
        &self,
        now: i64,
        req: &Request,
        explain: bool,
        extra: &E,
        prep: &Prepared,
    ) -> Decision {
        let fresh = !explain && prep.shape.matches(req);
        self.decide_inner(now, req, explain, extra, fresh.then_some(prep))
    }

    /// A decision without `explain` and without a fresh `prep` of its own
    /// reads its shape's static answers from the memo (bit for bit what the
    /// rules answer, see [`Prepared`]), and leaves them there for the next
    /// decision of its shape.
    ///
    /// Generic over the caller's rule, so that it is inlined into the loop
    /// over clusters (called through a pointer at every feasible cluster,
    /// it also made the loop load everything again after it).
    fn decide_inner<E: Fn(ClusterOrd) -> Option<f64> + ?Sized>(
        &self,
        now: i64,
        req: &Request,
        explain: bool,
        extra: &E,
        prep: Option<&Prepared>,
    ) -> Decision {
        let cx = self.ctx(req, now);
        // The rules that can reject anything for this request, in pipeline
        // order, as a bit set (no allocation on the hot path).
        let active: u64 = self
            .pipeline
            .filters
            .iter()
            .enumerate()
            .filter(|(_, f)| f.applies(req))
            .fold(0, |m, (i, _)| m | 1 << i);
        if explain {
            return self.decide_explained(now, req, &cx, active, extra);
        }
        if let Some(p) = prep {
            return self.decide_kept(now, req, &cx, active, extra, p);
        }
        // Taken out of the cell for the decision, so a caller's rule that
        // decides again meanwhile finds the cell free.
        let p = self.memo.borrow_mut().take(&self.pipeline, &cx);
        let d = self.decide_kept(now, req, &cx, active, extra, &p);
        self.memo.borrow_mut().put(p);
        d
    }

    /// The rotation a decision walks for `req`: the number of clusters,
    /// the policy's cap of feasible ones to score, and where it starts.
    /// Clusters are asked from a seeded position when the policy scores
    /// only some of them, so that equal requests spread over the fleet.
    fn rotation(&self, req: &Request) -> (u32, u32, u32) {
        let n = self.topo.clusters.len() as u32;
        let cap = self.policy.candidates.cap(n);
        let start = if cap < n {
            (mix(self.seed ^ req.id) % n as u64) as u32
        } else {
            0
        };
        (n, cap, start)
    }

    /// Whether a cluster scoring `total` replaces the best so far: a higher
    /// score beyond rounding, or one within rounding that comes first in a
    /// seeded order, so equal clusters share the load across seeds but one
    /// seed always decides the same way. The order is hashed only for a tie
    /// (and kept for the best).
    #[inline(always)]
    fn better(
        &self,
        req: &Request,
        best: &mut Option<(f64, Option<u64>, ClusterOrd)>,
        total: f64,
        c: ClusterOrd,
    ) -> bool {
        let tie = |c: ClusterOrd| mix(self.seed ^ mix(req.id ^ ((c as u64) << 40)));
        match best {
            None => true,
            Some((bs, bt, bc)) => {
                total > *bs + 1e-12
                    || ((total - *bs).abs() <= 1e-12
                        && tie(c) < *bt.get_or_insert_with(|| tie(*bc)))
            }
        }
    }

    /// The decision once the best cluster is known: its domains, or
    /// preemption, or no fit, with the explanation of the walk.
    fn conclude(
        &self,
        now: i64,
        req: &Request,
        best: Option<(f64, Option<u64>, ClusterOrd)>,
        ex: Explanation,
    ) -> Decision {
        let outcome = match best.and_then(|(score, _, c)| {
            pick(&self.topo, &self.index, c, req).map(|(parts, share)| Placement {
                cluster: c,
                parts,
                share,
                score,
            })
        }) {
            Some(p) => Outcome::Placed(p),
            None if self.policy.preemption && ex.rejected[Cause::Spread as usize] == 0 => {
                self.preemption(now, req)
            }
            None => Outcome::NoFit,
        };
        Decision {
            work: req.id,
            outcome,
            explanation: ex,
        }
    }

    /// A decision with every rule asked afresh and every cluster's verdict
    /// and terms kept in the explanation.
    fn decide_explained<E: Fn(ClusterOrd) -> Option<f64> + ?Sized>(
        &self,
        now: i64,
        req: &Request,
        cx: &Ctx<'_>,
        active: u64,
        extra: &E,
    ) -> Decision {
        let (n, cap, start) = self.rotation(req);
        let mut ex = Explanation::default();
        let mut best: Option<(f64, Option<u64>, ClusterOrd)> = None;
        let filters = &self.pipeline.filters;
        for i in 0..n {
            let c = (start + i) % n;
            ex.considered += 1;
            if ex.feasible >= cap {
                // The cap is reached: every cluster left is not scored.
                ex.rejected[Cause::NotScored as usize] += 1;
                ex.clusters.push((c, Verdict::Rejected(Cause::NotScored)));
                continue;
            }
            if let Some(fail) = first_reject(active, cx, c) {
                let cause = filters[fail].cause();
                ex.rejected[cause as usize] += 1;
                ex.clusters.push((c, Verdict::Rejected(cause)));
                continue;
            }
            let Some(bonus) = extra(c) else {
                ex.rejected[Cause::Spread as usize] += 1;
                ex.clusters.push((c, Verdict::Rejected(Cause::Spread)));
                continue;
            };
            ex.feasible += 1;
            let mut terms = Vec::new();
            // The scorers' terms are summed in one order (see
            // `sum_terms`) and the caller's bonus added last, on every path,
            // so a kept sum is the same float as one computed afresh.
            let total = self.sum_terms(cx, c, &mut terms) + bonus;
            ex.clusters.push((c, Verdict::Scored(total, terms)));
            if self.better(req, &mut best, total, c) {
                best = Some((total, None, c));
            }
        }
        ex.clusters.sort_by_key(|(c, _)| *c);
        self.conclude(now, req, best, ex)
    }

    /// A decision that reads what `p` keeps of each cluster (see [`Kept`]):
    /// only the clusters that changed since the last decision of its shape,
    /// and the rules that read the request's sites or its team's use, are
    /// asked. The same decision and counts as [`Self::decide_explained`].
    fn decide_kept<E: Fn(ClusterOrd) -> Option<f64> + ?Sized>(
        &self,
        now: i64,
        req: &Request,
        cx: &Ctx<'_>,
        active: u64,
        extra: &E,
        p: &Prepared,
    ) -> Decision {
        p.refresh(&self.index, (now, self.spend_reports));
        let (n, cap, start) = self.rotation(req);
        let mut ex = Explanation::default();
        let mut best: Option<(f64, Option<u64>, ClusterOrd)> = None;
        let pipeline = &*self.pipeline;
        let filters = &pipeline.filters;
        // Kept per cluster: the rules that read no more than what a
        // cluster's verdict is kept under, the static ones among them read
        // from the shape's static answers. Asked at every decision: the
        // others, unless moot for this one.
        let kept_live = active & pipeline.kept_live;
        let moot = filters
            .iter()
            .enumerate()
            .filter(|&(i, f)| pipeline.unkept >> i & 1 != 0 && f.moot(cx))
            .fold(0u64, |m, (i, _)| m | 1 << i);
        let asked = active & pipeline.unkept & !moot;
        for i in 0..n {
            // The rotation from `start`, without a division per cluster.
            let c = if start + i < n {
                start + i
            } else {
                start + i - n
            };
            if ex.feasible >= cap {
                // The cap is reached: every cluster left is not scored.
                ex.considered += n - i;
                ex.rejected[Cause::NotScored as usize] += n - i;
                break;
            }
            ex.considered += 1;
            let cell = &p.kept[c as usize];
            let mut k = cell.get();
            if k.state == UNKNOWN {
                k = self.keep_verdict(cx, p, c, kept_live);
            }
            // A rule asked at every decision rejects first when it comes
            // before the first kept one that does.
            let fail = match asked & before(k.fail) {
                0 => k.fail,
                ask => first_reject(ask, cx, c).map_or(k.fail, |f| f as u8),
            };
            if fail != NO_FAIL {
                ex.rejected[filters[fail as usize].cause() as usize] += 1;
                continue;
            }
            let Some(bonus) = extra(c) else {
                ex.rejected[Cause::Spread as usize] += 1;
                continue;
            };
            ex.feasible += 1;
            if k.state != SUM_KNOWN {
                k = self.keep_sum(cx, p, c, k);
            }
            let total = k.sum + bonus;
            if self.better(req, &mut best, total, c) {
                best = Some((total, None, c));
            }
        }
        self.conclude(now, req, best, ex)
    }

    /// Asks cluster `c`'s kept rules for `p`'s shape and keeps the first
    /// that rejects it: a static verdict names the first static one, and
    /// the static ones before it passed, so only the live ones before it
    /// (among `kept_live`) are asked. Out of line, so that the loop over
    /// clusters, which mostly reads what is kept, stays small.
    #[inline(never)]
    fn keep_verdict(&self, cx: &Ctx<'_>, p: &Prepared, c: ClusterOrd, kept_live: u64) -> Kept {
        let static_fail = p.static_fail(&self.pipeline, cx, c);
        let k = Kept {
            kept: 0.0,
            sum: 0.0,
            fail: first_reject(kept_live & before(static_fail), cx, c)
                .map_or(static_fail, |f| f as u8),
            state: FAIL_KNOWN,
        };
        p.kept[c as usize].set(k);
        k
    }

    /// Works out cluster `c`'s score for `p`'s shape at this decision's
    /// instant and keeps it with its verdict `k`: the sum of its terms that
    /// do not vary, unless kept (in pipeline order from zero, the static
    /// ones read from `p`, the others asked), then the terms that vary (out
    /// of line for the reason [`Self::keep_verdict`] is).
    #[inline(never)]
    fn keep_sum(&self, cx: &Ctx<'_>, p: &Prepared, c: ClusterOrd, mut k: Kept) -> Kept {
        if k.state < KEPT_KNOWN {
            let mut sum = 0.0;
            let mut statics = p.static_terms(c).iter();
            for (w, s) in &self.pipeline.scorers {
                if s.is_static() {
                    sum += statics.next().map_or(0.0, Cell::get);
                } else if !s.varies() {
                    sum += w * s.score(cx, c);
                }
            }
            k.kept = sum;
        }
        k.sum = self.pipeline.add_varying(cx, c, k.kept);
        k.state = SUM_KNOWN;
        p.kept[c as usize].set(k);
        k
    }

    /// The weighted sum of the scorers' terms for cluster `c`, each term
    /// kept in `terms`: those that do not vary with the time or the spend
    /// from zero in pipeline order, then those that do (the order a kept
    /// score is summed in, see
    /// [`Pipeline::add_varying`](crate::pipeline::Pipeline::add_varying)).
    fn sum_terms(
        &self,
        cx: &Ctx<'_>,
        c: ClusterOrd,
        terms: &mut Vec<(std::borrow::Cow<'static, str>, f64)>,
    ) -> f64 {
        let mut sum = 0.0;
        for (w, s) in &self.pipeline.scorers {
            let v = s.score(cx, c);
            if !s.varies() {
                sum += w * v;
            }
            terms.push((std::borrow::Cow::Borrowed(s.name()), v));
        }
        self.pipeline.add_varying(cx, c, sum)
    }
}

/// The rules before pipeline position `f`, as a bit set ([`NO_FAIL`]: all).
#[inline(always)]
fn before(f: u8) -> u64 {
    match f {
        NO_FAIL => u64::MAX,
        f => (1u64 << f) - 1,
    }
}
