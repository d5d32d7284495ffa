//! The linear program: an [`Instance`] written as good_lp variables and rows
//! and solved by HiGHS.
//!
//! Units are chosen so that every coefficient is of order one: GPUs (and
//! cores, and demand) in thousands, money in millions of USD, power in MW
//! (a thousand GPUs at `k` kW draw `k` MW). Shortfall variables on every
//! demand row keep the problem feasible whatever the inputs, except for
//! demand marked `hard`; [`crate::explain`] says why such a plan cannot be.
//!
//! Ties are broken by a small cost per GPU-month that grows with the unit's
//! position in the file (earlier clusters first), and a shortfall costs a
//! little more than the penalty, so that when serving and not serving cost
//! the same the plan serves: the reported split between spend and shortfall
//! is unique. Reported costs leave the tie-break out.

use good_lp::solvers::highs::HighsProblem;
use good_lp::{
    Expression, ProblemVariables, ResolutionError, Solution, SolutionWithDual, SolverModel,
    Variable, highs, variable,
};

use crate::instance::{DemandKind, Instance, Source};

/// Thousands of GPUs per model unit.
pub const K: f64 = 1000.0;
/// USD per model unit of money.
pub const M: f64 = 1e6;
/// The tie-break, $M per thousand GPU-months (about $100 per thousand GPU-months).
const TIE: f64 = 1e-4;

/// How to build the model.
#[derive(Debug, Clone, Default)]
pub struct Build {
    /// Fix each yes/no decision to this value (by option and candidate),
    /// making the model a pure LP whose duals mean something.
    pub fixed: Option<Decisions>,
    /// Let hard demand fall short at a high price, to explain infeasibility.
    pub relax_hard: bool,
}

/// The yes/no (and how-much) decisions of a plan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decisions {
    /// Per option, per month of its window: the share exercised then (0-1).
    pub options: Vec<Vec<f64>>,
    /// Per candidate: signed (0-1) and GPUs in thousands.
    pub candidates: Vec<(f64, f64)>,
}

/// One use variable: GPUs (or cores) of a unit serving a demand in a month.
#[derive(Debug, Clone, Copy)]
pub struct Use {
    /// Demand index.
    pub demand: usize,
    /// Unit index (CPU pool index for CPU demand).
    pub unit: usize,
    /// Month.
    pub t: usize,
    /// Demand served per GPU.
    pub per_gpu: f64,
    var: Variable,
}

/// A row the report or the explanation reads back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    /// A site's power envelope in a month.
    Power {
        /// Site index.
        site: usize,
        /// Month.
        t: usize,
    },
    /// A unit's capacity in a month.
    Capacity {
        /// Unit index.
        unit: usize,
        /// Month.
        t: usize,
    },
    /// A provider's (or vendor's) share limit in a month.
    Share {
        /// Index into [`Lp::share_names`].
        name: usize,
        /// Month.
        t: usize,
    },
}

/// The model, built and ready to solve.
pub struct Lp {
    problem: HighsProblem,
    anchor: Variable,
    equalities: Vec<Expression>,
    totals: Vec<Vec<Variable>>,
    objective: Expression,
    uses: Vec<Use>,
    short: Vec<(usize, usize, Variable)>,
    options: Vec<Vec<Variable>>,
    candidates: Vec<(Option<Variable>, Variable)>,
    lost: Vec<Option<Variable>>,
    rows: Vec<(RowKind, good_lp::constraint::ConstraintReference)>,
    /// Names of the share rows: `provider aws (critical)` and the like.
    pub share_names: Vec<String>,
    /// Columns of the model.
    pub columns: usize,
    /// Rows of the model.
    pub row_count: usize,
    /// Integer columns.
    pub integers: usize,
}

/// The values of a solved model, in the instance's units (GPUs, USD, MW).
#[derive(Debug, Clone)]
pub struct Solved {
    /// GPUs (cores) used, one per [`Use`].
    pub uses: Vec<(Use, f64)>,
    /// Demand unmet per demand and month, in the demand's units.
    pub short: Vec<Vec<f64>>,
    /// The decisions taken.
    pub decisions: Decisions,
    /// Commitment lost per contract, USD.
    pub lost_usd: Vec<f64>,
    /// The objective with the tie-break, USD.
    pub objective_usd: f64,
    /// Row duals in USD per unit of right-hand side, MW for power rows
    /// (`None` when the model had integers: a MIP has no meaningful duals).
    pub duals: Option<Vec<(RowKind, f64)>>,
    /// Whether the solver stopped at the MIP gap rather than at the optimum.
    pub gap_limited: bool,
}

/// Why a model did not solve.
#[derive(Debug, Clone, PartialEq)]
pub enum SolveError {
    /// No plan meets the hard constraints.
    Infeasible,
    /// The solver failed (a message of its own).
    Solver(String),
}

fn capacity_of(inst: &Instance, u: usize, t: usize) -> bool {
    let unit = &inst.units[u];
    let may_come =
        |o: &crate::instance::OptionDef| o.window.iter().any(|&m| online(o.lead, o.term, m, t));
    match unit.source {
        Source::Cluster | Source::Added => {
            unit.base_gpus[t] > 0.0
                || inst
                    .options
                    .iter()
                    .any(|o| o.merged && o.parent == u && may_come(o))
        }
        Source::Option(o) => {
            let o = &inst.options[o];
            !o.merged && may_come(o)
        }
        Source::Candidate(k) => inst.candidates[k].months.contains(&t),
    }
}

/// Whether an option exercised in month `m` has its GPUs in month `t`.
pub fn online(lead: u32, term: Option<u32>, m: usize, t: usize) -> bool {
    let on = m + lead as usize;
    t >= on && term.is_none_or(|k| t < on + k as usize)
}

impl Lp {
    /// Builds the model of `inst`.
    pub fn build(inst: &Instance, how: &Build) -> Lp {
        let n = inst.months();
        let nu = inst.units.len().max(1) as f64;
        let mut vars = ProblemVariables::new();
        let mut obj = Expression::default();
        let mut integers = 0;

        // Decisions first: options, candidates.
        let mut opt_vars = Vec::new();
        for (oi, o) in inst.options.iter().enumerate() {
            let u = &inst.units[o.unit];
            let mut vs = Vec::new();
            for (wi, &m) in o.window.iter().enumerate() {
                let fixed = how.fixed.as_ref().map(|f| f.options[oi][wi]);
                let v = match fixed {
                    Some(x) => vars.add(variable().min(x).max(x)),
                    None if o.divisible => vars.add(variable().min(0.0).max(1.0)),
                    None => {
                        integers += 1;
                        vars.add(variable().binary())
                    }
                };
                let hours: f64 = (0..n)
                    .filter(|&t| online(o.lead, o.term, m, t))
                    .map(|t| inst.hours[t])
                    .sum();
                obj.add_mul((o.fee_usd + o.gpus * u.usd_per_gpu_hour * hours) / M, v);
                vs.push(v);
            }
            opt_vars.push(vs);
        }
        let mut cand_vars = Vec::new();
        for (ki, k) in inst.candidates.iter().enumerate() {
            let u = &inst.units[k.unit];
            let fixed = how.fixed.as_ref().map(|f| f.candidates[ki]);
            let (z, g) = match fixed {
                Some((z, g)) => (
                    (k.min_gpus > 0.0).then(|| vars.add(variable().min(z).max(z))),
                    vars.add(variable().min(g).max(g)),
                ),
                None => {
                    let z = (k.min_gpus > 0.0).then(|| {
                        integers += 1;
                        vars.add(variable().binary())
                    });
                    (z, vars.add(variable().min(0.0).max(k.max_gpus / K)))
                }
            };
            let hours: f64 = k.months.iter().map(|&t| inst.hours[t]).sum();
            obj.add_mul(u.usd_per_gpu_hour * K * hours / M, g);
            cand_vars.push((z, g));
        }

        // Use variables, one per demand, unit that may serve it, and month.
        let mut uses = Vec::new();
        let arcs: Vec<_> = inst.demands.iter().map(|d| inst.arcs(d)).collect();
        for (di, d) in inst.demands.iter().enumerate() {
            for a in &arcs[di] {
                for t in 0..n {
                    let (price, tie) = if d.kind == DemandKind::Cpu {
                        if inst.cpu_pools[a.unit].cores <= 0.0 {
                            continue;
                        }
                        (inst.cpu_pools[a.unit].usd_per_core_hour, TIE)
                    } else {
                        if !capacity_of(inst, a.unit, t) {
                            continue;
                        }
                        let u = &inst.units[a.unit];
                        let p = if u.reserved { 0.0 } else { u.usd_per_gpu_hour };
                        (p, TIE * (1.0 + a.unit as f64 / nu))
                    };
                    let var = vars.add(variable().min(0.0));
                    obj.add_mul(price * inst.hours[t] * K / M + tie, var);
                    uses.push(Use {
                        demand: di,
                        unit: a.unit,
                        t,
                        per_gpu: a.per_gpu,
                        var,
                    });
                }
            }
        }
        // Shortfall: a little dearer than the penalty, so ties go to serving.
        let mut short = Vec::new();
        for (di, d) in inst.demands.iter().enumerate() {
            let min_per = arcs[di]
                .iter()
                .map(|a| a.per_gpu)
                .fold(f64::INFINITY, f64::min)
                .clamp(1e-3, 1.0);
            for t in 0..n {
                if d.asked[t] <= 0.0 || (d.hard && !how.relax_hard) {
                    continue;
                }
                let v = vars.add(variable().min(0.0));
                let penalty = if d.hard {
                    // Far above any price, so hard demand falls short only
                    // where nothing else can serve it.
                    1e3 * (d.penalty_usd_per_hour + 1e3)
                } else {
                    d.penalty_usd_per_hour
                };
                obj.add_mul(penalty * inst.hours[t] * K / M + 3.0 * TIE / min_per, v);
                short.push((di, t, v));
            }
        }
        let lost: Vec<Option<Variable>> = inst
            .contracts
            .iter()
            .map(|c| {
                (c.due_usd > 0.0).then(|| {
                    // Lost commitment is in $M, as the objective is.
                    let v = vars.add(variable().min(0.0));
                    obj.add_mul(1.0, v);
                    v
                })
            })
            .collect();
        // A column fixed at zero, so that a model with nothing to decide is
        // still a model (HiGHS rejects an empty one) and an empty demand row
        // is reported infeasible rather than malformed.
        let anchor = vars.add(variable().min(0.0).max(0.0));
        // Per share group and month, the counted capacity in one column, so
        // each share row holds its own provider's columns and this total
        // rather than every column of the month (far fewer nonzeros).
        let sh = inst.shares;
        let totals: Vec<Vec<Variable>> = [
            sh.provider,
            sh.vendor,
            sh.provider_inference,
            sh.vendor_inference,
        ]
        .iter()
        .map(|&x| {
            if x < 1.0 {
                (0..n).map(|_| vars.add(variable().min(0.0))).collect()
            } else {
                Vec::new()
            }
        })
        .collect();
        let columns = vars.len();
        // One thread: the machine is shared, and one thread is deterministic.
        let mut lp = vars
            .minimise(obj.clone())
            .using(highs)
            .set_option("threads", 1)
            .set_option("output_flag", false);
        if integers > 0 {
            lp = lp.set_option("mip_rel_gap", inst.mip_gap);
        }
        let mut model = Lp {
            problem: lp,
            anchor,
            equalities: Vec::new(),
            totals,
            objective: obj,
            uses,
            short,
            options: opt_vars,
            candidates: cand_vars,
            lost,
            rows: Vec::new(),
            share_names: Vec::new(),
            columns,
            row_count: 0,
            integers,
        };
        model.add_rows(inst);
        model
    }

    fn add_rows(&mut self, inst: &Instance) {
        let n = inst.months();
        let mut per_unit_t: Vec<Vec<Vec<usize>>> = vec![vec![Vec::new(); n]; inst.units.len()];
        let mut per_pool_t: Vec<Vec<Vec<usize>>> = vec![vec![Vec::new(); n]; inst.cpu_pools.len()];
        for (i, u) in self.uses.iter().enumerate() {
            if inst.demands[u.demand].kind == DemandKind::Cpu {
                per_pool_t[u.unit][u.t].push(i);
            } else {
                per_unit_t[u.unit][u.t].push(i);
            }
        }
        let mut rows: Vec<(Option<RowKind>, Expression, f64)> = Vec::new();
        let mut merged: Vec<Vec<usize>> = vec![Vec::new(); inst.units.len()];
        for (oi, o) in inst.options.iter().enumerate() {
            if o.merged {
                merged[o.parent].push(oi);
            }
        }
        // Capacity.
        for (ui, unit) in inst.units.iter().enumerate() {
            for t in 0..n {
                if per_unit_t[ui][t].is_empty() {
                    continue;
                }
                let mut e = Expression::default();
                for &i in &per_unit_t[ui][t] {
                    e.add_mul(1.0, self.uses[i].var);
                }
                let options: Vec<usize> = match unit.source {
                    Source::Option(o) => vec![o],
                    _ => merged[ui].clone(),
                };
                for oi in options {
                    let o = &inst.options[oi];
                    for (wi, &m) in o.window.iter().enumerate() {
                        if online(o.lead, o.term, m, t) {
                            e.add_mul(-o.gpus * o.delivered / K, self.options[oi][wi]);
                        }
                    }
                }
                if let Source::Candidate(k) = unit.source {
                    e.add_mul(-inst.candidates[k].delivered, self.candidates[k].1);
                }
                rows.push((
                    Some(RowKind::Capacity { unit: ui, t }),
                    e,
                    unit.base_gpus[t] / K,
                ));
            }
        }
        for (pi, pool) in inst.cpu_pools.iter().enumerate() {
            for t in 0..n {
                if per_pool_t[pi][t].is_empty() {
                    continue;
                }
                let mut e = Expression::default();
                for &i in &per_pool_t[pi][t] {
                    e.add_mul(1.0, self.uses[i].var);
                }
                rows.push((None, e, pool.cores / K));
            }
        }
        // Power.
        for (si, site) in inst.sites.iter().enumerate() {
            for t in 0..n {
                let mut e = Expression::default();
                let mut any = false;
                for (ui, unit) in inst.units.iter().enumerate() {
                    if unit.site != si {
                        continue;
                    }
                    for &i in &per_unit_t[ui][t] {
                        e.add_mul(unit.power_kw, self.uses[i].var);
                        any = true;
                    }
                    if let Source::Candidate(k) = unit.source {
                        let c = &inst.candidates[k];
                        if c.power_mw > 0.0 && c.months.contains(&t) {
                            e.add_mul(-c.power_mw / (c.max_gpus / K), self.candidates[k].1);
                        }
                    }
                }
                for (pi, pool) in inst.cpu_pools.iter().enumerate() {
                    if pool.site == si {
                        for &i in &per_pool_t[pi][t] {
                            e.add_mul(pool.mw_per_core * K, self.uses[i].var);
                            any = true;
                        }
                    }
                }
                if any {
                    rows.push((Some(RowKind::Power { site: si, t }), e, site.envelope_mw[t]));
                }
            }
        }
        // Demand: served + short >= asked, written as <= with signs flipped.
        let mut per_demand_t: Vec<Vec<Vec<usize>>> = vec![vec![Vec::new(); n]; inst.demands.len()];
        for (i, u) in self.uses.iter().enumerate() {
            per_demand_t[u.demand][u.t].push(i);
        }
        let mut short_of: Vec<Vec<Option<Variable>>> = vec![vec![None; n]; inst.demands.len()];
        for &(d, t, v) in &self.short {
            short_of[d][t] = Some(v);
        }
        for (di, d) in inst.demands.iter().enumerate() {
            for t in 0..n {
                if d.asked[t] <= 0.0 {
                    continue;
                }
                let mut e = Expression::default();
                e.add_mul(0.0, self.anchor);
                for &i in &per_demand_t[di][t] {
                    e.add_mul(-self.uses[i].per_gpu, self.uses[i].var);
                }
                if let Some(v) = short_of[di][t] {
                    e.add_mul(-1.0, v);
                }
                rows.push((None, e, -d.asked[t] / K));
            }
        }
        // An option is exercised at most once.
        for vs in &self.options {
            if vs.len() > 1 {
                let mut e = Expression::default();
                for &v in vs {
                    e.add_mul(1.0, v);
                }
                rows.push((None, e, 1.0));
            }
        }
        // A candidate is signed at its minimum size or more, or not at all.
        for (k, &(z, g)) in inst.candidates.iter().zip(&self.candidates) {
            if let Some(z) = z {
                let mut lo = Expression::default();
                lo.add_mul(k.min_gpus / K, z);
                lo.add_mul(-1.0, g);
                rows.push((None, lo, 0.0));
                let mut hi = Expression::default();
                hi.add_mul(1.0, g);
                hi.add_mul(-k.max_gpus / K, z);
                rows.push((None, hi, 0.0));
            }
        }
        // Commitments: lost >= due - spend.
        for (ci, c) in inst.contracts.iter().enumerate() {
            let Some(lost) = self.lost[ci] else { continue };
            let mut e = Expression::default();
            e.add_mul(-1.0, lost);
            let mut fixed = 0.0;
            for (ui, unit) in inst.units.iter().enumerate() {
                if unit.contract != Some(ci) {
                    continue;
                }
                for t in (0..n).filter(|&t| c.active[t]) {
                    let h = inst.hours[t];
                    if unit.reserved {
                        fixed += unit.billed_gpus[t] * unit.usd_per_gpu_hour * h / M;
                    } else {
                        for &i in &per_unit_t[ui][t] {
                            e.add_mul(-unit.usd_per_gpu_hour * h * K / M, self.uses[i].var);
                        }
                    }
                }
                if let Source::Option(o) = unit.source {
                    let o = &inst.options[o];
                    for (wi, &m) in o.window.iter().enumerate() {
                        let hours: f64 = (0..n)
                            .filter(|&t| c.active[t] && online(o.lead, o.term, m, t))
                            .map(|t| inst.hours[t])
                            .sum();
                        e.add_mul(
                            -o.gpus * unit.usd_per_gpu_hour * hours / M,
                            self.options[unit_opt(unit)][wi],
                        );
                    }
                }
            }
            rows.push((None, e, fixed - c.due_usd / M));
        }
        self.add_share_rows(inst, &mut rows);
        self.row_count = rows.len() + self.equalities.len();
        for e in std::mem::take(&mut self.equalities) {
            self.problem.add_constraint(e.eq(0.0));
        }
        for (kind, e, rhs) in rows {
            let r = self.problem.add_constraint(e.leq(rhs));
            if let Some(k) = kind {
                self.rows.push((k, r));
            }
        }
    }

    /// Diversification: for each month, no provider and no GPU vendor holds
    /// more than its share of the H100-equivalent capacity serving critical
    /// demand (and, separately, inference).
    fn add_share_rows(
        &mut self,
        inst: &Instance,
        rows: &mut Vec<(Option<RowKind>, Expression, f64)>,
    ) {
        let n = inst.months();
        let s = inst.shares;
        let groups: [(&str, bool, bool, f64); 4] = [
            ("provider", true, false, s.provider),
            ("vendor", false, false, s.vendor),
            ("provider", true, true, s.provider_inference),
            ("vendor", false, true, s.vendor_inference),
        ];
        for (g, (what, by_provider, inference_only, share)) in groups.into_iter().enumerate() {
            if share >= 1.0 {
                continue;
            }
            let key = |u: usize| -> String {
                let unit = &inst.units[u];
                if by_provider {
                    unit.provider.clone()
                } else {
                    unit.vendor.as_str().to_string()
                }
            };
            let counted: Vec<&Use> = self
                .uses
                .iter()
                .filter(|u| {
                    let d = &inst.demands[u.demand];
                    d.kind != DemandKind::Cpu
                        && if inference_only {
                            d.kind == DemandKind::Inference
                        } else {
                            d.critical
                        }
                })
                .collect();
            let weight = |u: &Use| -> f64 {
                let unit = &inst.units[u.unit];
                if inst.demands[u.demand].kind == DemandKind::Inference {
                    unit.infer
                } else {
                    unit.train
                }
            };
            let mut by_t: Vec<Vec<&Use>> = vec![Vec::new(); n];
            for u in &counted {
                by_t[u.t].push(u);
            }
            for t in s.from_month.min(n)..n {
                let mut e = Expression::default();
                e.add_mul(1.0, self.totals[g][t]);
                for u in &by_t[t] {
                    e.add_mul(-weight(u), u.var);
                }
                // total = counted, as an equality row.
                self.equalities.push(e);
            }
            let mut names: Vec<String> = counted.iter().map(|u| key(u.unit)).collect();
            names.sort();
            names.dedup();
            for name in names {
                let label = format!(
                    "{what} {name} ({})",
                    if inference_only {
                        "inference"
                    } else {
                        "critical capacity"
                    }
                );
                self.share_names.push(label);
                let idx = self.share_names.len() - 1;
                for t in s.from_month.min(n)..n {
                    let mut e = Expression::default();
                    let mut mine = false;
                    for u in by_t[t].iter().filter(|u| key(u.unit) == name) {
                        mine = true;
                        e.add_mul(weight(u), u.var);
                    }
                    if mine {
                        e.add_mul(-share, self.totals[g][t]);
                        rows.push((Some(RowKind::Share { name: idx, t }), e, 0.0));
                    }
                }
            }
        }
    }

    /// Solves the model.
    pub fn solve(self, inst: &Instance) -> Result<Solved, SolveError> {
        let Lp {
            problem,
            objective,
            uses,
            short,
            options,
            candidates,
            lost,
            rows,
            integers,
            ..
        } = self;
        let mut sol = match problem.solve() {
            Ok(s) => s,
            Err(ResolutionError::Infeasible) => return Err(SolveError::Infeasible),
            Err(e) => return Err(SolveError::Solver(e.to_string())),
        };
        let gap_limited = matches!(sol.status(), good_lp::solvers::SolutionStatus::GapLimit);
        let n = inst.months();
        let uses_v: Vec<(Use, f64)> = uses
            .iter()
            .map(|u| (*u, sol.value(u.var).max(0.0) * K))
            .collect();
        let mut short_v = vec![vec![0.0; n]; inst.demands.len()];
        for &(d, t, v) in &short {
            short_v[d][t] = sol.value(v).max(0.0) * K;
        }
        let decisions = Decisions {
            options: options
                .iter()
                .map(|vs| vs.iter().map(|&v| clean01(sol.value(v))).collect())
                .collect(),
            candidates: candidates
                .iter()
                .map(|&(z, g)| {
                    (
                        z.map_or(1.0, |z| clean01(sol.value(z))),
                        sol.value(g).max(0.0),
                    )
                })
                .collect(),
        };
        let lost_usd = lost
            .iter()
            .map(|l| l.map_or(0.0, |v| sol.value(v).max(0.0) * M))
            .collect();
        let objective_usd = objective.eval_with(&sol) * M;
        let duals = (integers == 0).then(|| {
            let d = sol.compute_dual();
            rows.iter()
                .map(|(k, r)| (*k, good_lp::solvers::DualValues::dual(&d, r.clone()) * M))
                .collect()
        });
        Ok(Solved {
            uses: uses_v,
            short: short_v,
            decisions,
            lost_usd,
            objective_usd,
            duals,
            gap_limited,
        })
    }
}

fn unit_opt(unit: &crate::instance::Unit) -> usize {
    match unit.source {
        Source::Option(o) => o,
        _ => 0,
    }
}

fn clean01(x: f64) -> f64 {
    if x < 1e-6 {
        0.0
    } else if x > 1.0 - 1e-6 {
        1.0
    } else {
        x
    }
}
