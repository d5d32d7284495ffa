//! gf-plan is gigafleet's capacity planner: "is what we hold enough, where
//! is it short, which option do we exercise, which commitment will we fail
//! to burn, which site runs out of power first, and what does a delay cost?"
//! answered as one linear program over a horizon of months.
//!
//! The plan file is a fleet file (gf-model's providers, sites, clusters,
//! contracts and services) plus a `[plan]` section. [`Instance`] compiles it
//! into month-indexed arrays; [`model::Lp`] writes them as a linear program
//! (mixed-integer where a decision is yes/no: exercising an option, signing
//! a contract with a minimum size) solved by HiGHS through good_lp; [`Plan`]
//! reads the solution back in the fleet's words. The value of one more MW is
//! the negated dual of a site's power row in the LP re-solved with the yes/no
//! decisions fixed (the duals of a MIP mean nothing). What-ifs are edits of
//! the instance, each re-solved and reported as a difference.
//!
//! Invariant: gf-plan is pure. It reads no files, no clock and no sockets,
//! has no async and no anyhow; the same document gives the same plan.

// Month loops index several parallel arrays (hours, envelopes, capacities)
// by the same month; iterating over one of them would hide that.
#![allow(clippy::needless_range_loop)]

pub mod explain;
pub mod instance;
pub mod model;
pub mod outcome;
pub mod whatif;

pub use explain::{Conflict, Infeasibility};
pub use instance::Instance;
pub use outcome::{LeadTime, Plan};
pub use whatif::WhatIfOut;

use model::{Build, Lp, SolveError};

/// Why planning failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// The document has no `[plan]` section.
    #[error(
        "the file has no [plan] section; add one with `start`, `months` and `unmet_usd_per_gpu_hour`"
    )]
    NoPlan,
    /// A name that validation should have caught.
    #[error("unknown {0}")]
    Unknown(String),
    /// No plan meets the hard demand.
    #[error("{0}")]
    Infeasible(Infeasibility),
    /// The solver failed.
    #[error("the solver failed: {0}")]
    Solver(String),
}

/// Plans a validated document that has a `[plan]` section.
pub fn plan_document(doc: &gf_model::Document) -> Result<Plan, PlanError> {
    let inst = Instance::from_document(doc)?;
    solve(&inst, &mut |_| {})
}

/// Solves an instance: the MIP (or LP), then, if there were yes/no
/// decisions, the LP with them fixed for the duals. `progress` hears each step.
pub fn solve(inst: &Instance, progress: &mut dyn FnMut(&str)) -> Result<Plan, PlanError> {
    let lp = Lp::build(inst, &Build::default());
    let size = outcome::ModelSize {
        columns: lp.columns,
        rows: lp.row_count,
        integers: lp.integers,
    };
    progress(&format!(
        "model: {} columns, {} rows, {} yes/no decisions; solving",
        size.columns, size.rows, size.integers
    ));
    let solved = match lp.solve(inst) {
        Ok(s) => s,
        Err(SolveError::Infeasible) => return Err(infeasible(inst)),
        Err(SolveError::Solver(e)) => return Err(PlanError::Solver(e)),
    };
    let duals = match &solved.duals {
        Some(d) => d.clone(),
        None => {
            progress("re-solving the LP with the yes/no decisions fixed, for the duals");
            let fixed = Build {
                fixed: Some(solved.decisions.clone()),
                relax_hard: false,
            };
            match Lp::build(inst, &fixed).solve(inst) {
                Ok(s) => s.duals.unwrap_or_default(),
                Err(SolveError::Infeasible) => return Err(infeasible(inst)),
                Err(SolveError::Solver(e)) => return Err(PlanError::Solver(e)),
            }
        }
    };
    Ok(outcome::read(inst, &solved, &duals, size))
}

/// The objective (tie-break included) of an instance, USD, or why it failed.
pub fn objective(inst: &Instance) -> Result<f64, PlanError> {
    match Lp::build(inst, &Build::default()).solve(inst) {
        Ok(s) => Ok(s.objective_usd),
        Err(SolveError::Infeasible) => Err(infeasible(inst)),
        Err(SolveError::Solver(e)) => Err(PlanError::Solver(e)),
    }
}

fn infeasible(inst: &Instance) -> PlanError {
    let relaxed = Build {
        fixed: None,
        relax_hard: true,
    };
    match Lp::build(inst, &relaxed).solve(inst) {
        Ok(s) => PlanError::Infeasible(explain::explain(inst, &s)),
        Err(SolveError::Infeasible) => {
            PlanError::Solver("infeasible even with hard demand relaxed".into())
        }
        Err(SolveError::Solver(e)) => PlanError::Solver(e),
    }
}

/// The cost of one more month of lead time on each option the plan
/// exercises (at most `limit` of them, in file order): the plan re-solved
/// with that option's GPUs a month later, minus the plan.
pub fn lead_time_values(
    inst: &Instance,
    plan: &Plan,
    limit: usize,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<LeadTime>, PlanError> {
    let base = objective(inst)?;
    let mut out = Vec::new();
    let exercised: Vec<usize> = plan
        .options
        .iter()
        .enumerate()
        .filter(|(_, o)| o.exercised)
        .map(|(i, _)| i)
        .take(limit)
        .collect();
    for (k, oi) in exercised.iter().enumerate() {
        progress(&format!(
            "lead time {}/{}: option `{}` one month later",
            k + 1,
            exercised.len(),
            inst.options[*oi].name
        ));
        let mut late = inst.clone();
        let o = &mut late.options[*oi];
        o.lead += 1;
        let (lead, n) = (o.lead as usize, inst.months());
        o.window.retain(|&m| m + lead < n);
        let cost = objective(&late)?;
        out.push(LeadTime {
            option: inst.options[*oi].name.clone(),
            cost_of_one_more_month_usd: outcome::round(cost - base, 0),
        });
    }
    Ok(out)
}
