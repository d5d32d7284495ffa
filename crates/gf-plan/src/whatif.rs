//! What-ifs: the instance edited (a site delayed, a provider cut, demand
//! changed, power moved, capacity added weekly), re-solved, and reported as
//! the difference against the base plan, so the answer to "what does a
//! six-month delay at this site cost?" is one number with its parts.

use gf_model::Catalog;
use gf_model::plan::WhatIf;
use serde::Serialize;

use crate::outcome::{Plan, SiteMonth, round};
use crate::{Instance, PlanError};

/// One what-if against the base plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhatIfOut {
    /// Its name (or the spec given on the command line).
    pub name: String,
    /// What was changed, in words.
    pub change: String,
    /// Its plan's total cost, USD.
    pub total_usd: f64,
    /// Total cost minus the base plan's, USD.
    pub cost_delta_usd: f64,
    /// Spend (everything but lost commitment and the unmet penalty) minus the base's, USD.
    pub spend_delta_usd: f64,
    /// Lost commitment minus the base's, USD.
    pub lost_commitment_delta_usd: f64,
    /// Unmet demand minus the base's, H100-equivalent GPU-months.
    pub unmet_delta_h100e_gpu_months: f64,
    /// Per month, unmet demand minus the base's, H100-equivalent GPUs.
    pub unmet_delta_by_month: Vec<f64>,
    /// Options exercised differently: `name: base -> what-if` (exercise month or `no`).
    pub options_changed: Vec<String>,
    /// The site whose power binds first in this plan.
    pub power_runs_out_first: Option<SiteMonth>,
}

/// Says in words what a what-if changes.
pub fn describe(w: &WhatIf) -> String {
    let mut parts = Vec::new();
    if let Some(s) = &w.delay_site {
        parts.push(format!("site {s} delayed {} months", w.delay_months));
    }
    if let Some(p) = &w.cut_provider {
        parts.push(format!(
            "{p} delivers {:.0}% less capacity",
            w.cut_share * 100.0
        ));
    }
    if w.demand_factor != 1.0 {
        parts.push(format!("demand x{}", w.demand_factor));
    }
    if w.demand_growth_per_year != 0.0 {
        parts.push(format!(
            "demand {:+.0}% a year",
            w.demand_growth_per_year * 100.0
        ));
    }
    if let Some(s) = &w.power_site {
        parts.push(format!("site {s} envelope {:+} MW", w.power_delta_mw));
    }
    if w.add_gw_per_week > 0.0 {
        parts.push(format!(
            "{} GW of new {} capacity every week{}",
            w.add_gw_per_week,
            w.add_accelerator.as_deref().unwrap_or("gb300"),
            w.add_from.map(|d| format!(" from {d}")).unwrap_or_default()
        ));
    }
    if parts.is_empty() {
        "no change".into()
    } else {
        parts.join("; ")
    }
}

fn unmet_by_month(p: &Plan, inst: &Instance) -> Vec<f64> {
    let mut v = vec![0.0; p.months.len()];
    for d in &inst.demands {
        if let Some(out) = p.demand.get(&d.name) {
            for (t, u) in out.unmet.iter().enumerate() {
                v[t] += u * d.h100e_per_unit;
            }
        }
    }
    v
}

fn exercise(p: &Plan) -> Vec<(String, String)> {
    p.options
        .iter()
        .map(|o| {
            (
                o.name.clone(),
                o.exercise_month.clone().unwrap_or_else(|| "no".into()),
            )
        })
        .collect()
}

/// Applies `w` to a copy of `base_inst`, solves it and compares it with `base`.
pub fn run(
    base_inst: &Instance,
    base: &Plan,
    w: &WhatIf,
    catalog: &Catalog,
    progress: &mut dyn FnMut(&str),
) -> Result<(WhatIfOut, Plan), PlanError> {
    let mut inst = base_inst.clone();
    inst.apply(w, catalog)?;
    let p = crate::solve(&inst, progress)?;
    let ub = unmet_by_month(base, base_inst);
    let uw = unmet_by_month(&p, &inst);
    let delta: Vec<f64> = uw.iter().zip(&ub).map(|(a, b)| round(a - b, 1)).collect();
    let spend = |p: &Plan| p.cost.total_usd - p.cost.lost_commitment_usd - p.cost.unmet_penalty_usd;
    let options_changed = exercise(base)
        .into_iter()
        .zip(exercise(&p))
        .filter(|(a, b)| a.1 != b.1)
        .map(|(a, b)| format!("{}: {} -> {}", a.0, a.1, b.1))
        .collect();
    let out = WhatIfOut {
        name: w.name.clone(),
        change: describe(w),
        total_usd: p.cost.total_usd,
        cost_delta_usd: round(p.cost.total_usd - base.cost.total_usd, 0),
        spend_delta_usd: round(spend(&p) - spend(base), 0),
        lost_commitment_delta_usd: round(
            p.cost.lost_commitment_usd - base.cost.lost_commitment_usd,
            0,
        ),
        unmet_delta_h100e_gpu_months: round(uw.iter().sum::<f64>() - ub.iter().sum::<f64>(), 1),
        unmet_delta_by_month: delta,
        options_changed,
        power_runs_out_first: p.power_runs_out.first().cloned(),
    };
    Ok((out, p))
}
