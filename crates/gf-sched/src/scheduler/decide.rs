//! Deciding: where a request goes, from the pipeline's filters and
//! scorers over the clusters (in a seeded rotation, up to the policy's cap of
//! feasible ones), with the static rules read from the shape memo. Pure: it
//! reads the scheduler and changes nothing; `commit` (in the parent module)
//! is what acts on a decision.

use crate::decision::{Cause, Decision, Explanation, Outcome, Placement, Verdict};
use crate::pack::pick;
use crate::pipeline::{Ctx, Filter, Scorer, first_reject};
use crate::prepared::{NO_FAIL, Prepared};
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
    /// shaped like `req` at `now` (see [`Prepared`]), for a batch of
    /// decisions through [`Self::decide_prepared`].
    pub fn prepare(&self, now: i64, req: &Request) -> Prepared {
        let mut p = self.pipeline.prepare(&self.ctx(req, now));
        p.epoch = self.static_epoch;
        p
    }

    /// The memo's prepared shape of `req` at `now` (see [`ShapeMemo`]),
    /// taken out for a batch of [`Self::decide_prepared`]: its static
    /// answers and cached sums carry over from the decisions of its shape
    /// at this instant, and are asked lazily rather than for every cluster
    /// up front. Give it back with [`Self::put_prepared`].
    pub(crate) fn take_prepared(&self, now: i64, req: &Request) -> Prepared {
        self.memo
            .borrow_mut()
            .take(&self.pipeline, &self.ctx(req, now), self.static_epoch)
    }

    /// Keeps a shape taken with [`Self::take_prepared`] for the next
    /// decisions of its shape.
    pub(crate) fn put_prepared(&self, p: Prepared) {
        self.memo.borrow_mut().put(p);
    }

    /// [`Self::decide_with`], reading the static rules from `prep` instead
    /// of asking them again: the same decision, bit for bit, at a fraction
    /// of the cost when many requests of one shape are placed at one
    /// instant. A `prep` of another shape or instant, or from before online
    /// capacity or contract spend changed, is ignored (every rule is asked);
    /// so is any `prep` when `explain` wants each term.
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
        let fresh = !explain && prep.epoch == self.static_epoch && prep.shape.matches(req, now);
        self.decide_inner(now, req, explain, extra, fresh.then_some(prep))
    }

    /// A decision without `explain` and without a fresh `prep` of its own
    /// reads its shape's static answers from the memo (bit for bit what the
    /// rules answer, see [`Prepared`]), and leaves them there for the next
    /// decision of its shape.
    ///
    /// Generic over the caller's rule and over `explain`, so that each
    /// kind of decision gets a loop of its own without the branches (and
    /// the call through a pointer) it does not need.
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
            return self.decide_core::<true, false, E>(now, req, &cx, active, extra, prep);
        }
        // A prepared decision whose every rule reads only the cluster's
        // index state and its site's draw keeps each cluster's verdict with
        // its score sum, under the same key: a loop of its own, so that the
        // other decisions (a service's replicas, narrowed to some sites) do
        // not test for a kept verdict at every cluster.
        let keyed = self
            .pipeline
            .filters
            .iter()
            .enumerate()
            .all(|(i, f)| active & (1 << i) == 0 || f.keyed(&cx));
        let decide = |p: &Prepared| {
            if keyed {
                self.decide_core::<false, true, E>(now, req, &cx, active, extra, Some(p))
            } else {
                self.decide_core::<false, false, E>(now, req, &cx, active, extra, Some(p))
            }
        };
        if let Some(p) = prep {
            return decide(p);
        }
        // Taken out of the cell for the decision, so a caller's rule that
        // decides again meanwhile finds the cell free.
        let p = self
            .memo
            .borrow_mut()
            .take(&self.pipeline, &cx, self.static_epoch);
        let d = decide(&p);
        self.memo.borrow_mut().put(p);
        d
    }

    fn decide_core<
        const EXPLAIN: bool,
        const KEYED: bool,
        E: Fn(ClusterOrd) -> Option<f64> + ?Sized,
    >(
        &self,
        now: i64,
        req: &Request,
        cx: &Ctx<'_>,
        active: u64,
        extra: &E,
        prep: Option<&Prepared>,
    ) -> Decision {
        let explain = EXPLAIN;
        let n = self.topo.clusters.len() as u32;
        let mut ex = Explanation::default();
        let mut best: Option<(f64, Option<u64>, ClusterOrd)> = None;
        let cap = self.policy.candidates.cap(n);
        let start = if cap < n {
            (mix(self.seed ^ req.id) % n as u64) as u32
        } else {
            0
        };
        // With the static verdicts prepared, only the other rules are asked.
        let (live, static_scorers): (u64, u64) = match prep {
            None => (active, 0),
            Some(_) => (
                self.pipeline
                    .filters
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| f.is_static())
                    .fold(active, |m, (i, _)| m & !(1 << i)),
                self.pipeline
                    .scorers
                    .iter()
                    .enumerate()
                    .filter(|(_, (_, s))| s.is_static())
                    .fold(0, |m, (i, _)| m | 1 << i),
            ),
        };
        let filters = &self.pipeline.filters;
        // What the loop reads of the scheduler, taken out once: read through
        // `&self` each time, every vector's pointer and length would be
        // loaded again after any write to a memo's cell (a cell may alias
        // anything `self` holds, as far as the compiler knows).
        let facts = &self.costs.facts[..];
        let drawn = self.index.sites_drawn_w();
        let version = self.index.versions();
        for i in 0..n {
            // The rotation from `start`, without a division per cluster.
            let c = if start + i < n {
                start + i
            } else {
                start + i - n
            };
            if ex.feasible >= cap {
                // The cap is reached: every cluster left is not scored. They
                // are counted at once unless each verdict is kept.
                if !explain {
                    ex.considered += n - i;
                    ex.rejected[Cause::NotScored as usize] += n - i;
                    break;
                }
                ex.considered += 1;
                ex.rejected[Cause::NotScored as usize] += 1;
                ex.clusters.push((c, Verdict::Rejected(Cause::NotScored)));
                continue;
            }
            ex.considered += 1;
            // The first rule in pipeline order that rejects the cluster: a
            // prepared static verdict names the first static one, and the
            // static ones before it passed. Only the live rules before that
            // one are asked, in order (the set bits of a mask, lowest first).
            let verdict = || {
                let static_fail = prep.map_or(NO_FAIL, |p| p.static_fail(&self.pipeline, cx, c));
                let ask = match static_fail {
                    NO_FAIL => live,
                    f => live & ((1u64 << f) - 1),
                };
                first_reject(ask, cx, c).map_or(static_fail, |k| k as u8)
            };
            let mut key = None;
            let fail = match prep {
                Some(p) if KEYED => {
                    let k = (version(c), drawn[facts[c as usize].site as usize]);
                    key = Some(k);
                    let (v, w, known) = p.verdicts[c as usize].get();
                    if (v, w) == k {
                        known
                    } else {
                        let f = verdict();
                        p.verdicts[c as usize].set((k.0, k.1, f));
                        f
                    }
                }
                _ => verdict(),
            };
            if fail != NO_FAIL {
                let cause = filters[fail as usize].cause();
                ex.rejected[cause as usize] += 1;
                if explain {
                    ex.clusters.push((c, Verdict::Rejected(cause)));
                }
                continue;
            }
            let Some(bonus) = extra(c) else {
                ex.rejected[Cause::Spread as usize] += 1;
                if explain {
                    ex.clusters.push((c, Verdict::Rejected(Cause::Spread)));
                }
                continue;
            };
            ex.feasible += 1;
            let mut terms = Vec::new();
            // The scorers' terms are summed from zero in pipeline order and
            // the caller's bonus added last, on every path, so a prepared
            // (or cached) sum is the same float as one computed afresh.
            let sum = match prep {
                Some(p) => {
                    let key =
                        key.unwrap_or_else(|| (version(c), drawn[facts[c as usize].site as usize]));
                    let (v, w, cached) = p.sums[c as usize].get();
                    if (v, w) == key {
                        cached
                    } else {
                        let s = self.sum_terms(cx, c, Some(p), static_scorers, None);
                        p.sums[c as usize].set((key.0, key.1, s));
                        s
                    }
                }
                None => self.sum_terms(cx, c, None, 0, explain.then_some(&mut terms)),
            };
            let total = sum + bonus;
            if explain {
                ex.clusters.push((c, Verdict::Scored(total, terms)));
            }
            // Ties go to a seeded order, so equal clusters share the load
            // across seeds but one seed always decides the same way. The
            // order is hashed only for a tie (and kept for the best).
            let tie = |c: ClusterOrd| mix(self.seed ^ mix(req.id ^ ((c as u64) << 40)));
            let better = match best {
                None => true,
                Some((bs, ref mut bt, bc)) => {
                    total > bs + 1e-12
                        || ((total - bs).abs() <= 1e-12
                            && tie(c) < *bt.get_or_insert_with(|| tie(bc)))
                }
            };
            if better {
                best = Some((total, None, c));
            }
        }
        if explain {
            ex.clusters.sort_by_key(|(c, _)| *c);
        }
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

    /// The weighted sum of the scorers' terms for cluster `c`, from zero in
    /// pipeline order; the static ones read from `prep` when given (their
    /// positions in `static_scorers`), each term kept in `terms` when asked.
    fn sum_terms(
        &self,
        cx: &Ctx<'_>,
        c: ClusterOrd,
        prep: Option<&Prepared>,
        static_scorers: u64,
        mut terms: Option<&mut Vec<(std::borrow::Cow<'static, str>, f64)>>,
    ) -> f64 {
        let mut sum = 0.0;
        let mut statics = prep.map_or(&[][..], |p| p.static_terms(c));
        for (k, (w, s)) in self.pipeline.scorers.iter().enumerate() {
            if static_scorers & (1 << k) != 0
                && let Some((t, rest)) = statics.split_first()
            {
                sum += t.get();
                statics = rest;
                continue;
            }
            let v = s.score(cx, c);
            sum += w * v;
            if let Some(t) = terms.as_mut() {
                t.push((std::borrow::Cow::Borrowed(s.name()), v));
            }
        }
        sum
    }
}
