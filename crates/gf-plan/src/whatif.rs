//! What-ifs: the instance edited (a site delayed, a provider cut, demand
//! changed, power moved, capacity added weekly), re-solved, and reported as
//! the difference against the base plan, so the answer to "what does a
//! six-month delay at this site cost?" is one number with its parts.

use gf_model::Catalog;
use gf_model::plan::WhatIf;
use serde::Serialize;

use crate::instance::{Site, Source, Unit, accelerator};
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

impl Instance {
    /// Applies a what-if to the instance (see [`WhatIf`] for each change).
    pub fn apply(&mut self, w: &WhatIf, catalog: &Catalog) -> Result<(), PlanError> {
        let n = self.months();
        if let Some(site) = &w.delay_site {
            let s = self
                .site_index(site)
                .ok_or_else(|| PlanError::Unknown(format!("site `{site}`")))?;
            let k = w.delay_months as usize;
            let shift = |v: &mut Vec<f64>| {
                let old = v.clone();
                for t in 0..n {
                    v[t] = if t >= k { old[t - k] } else { 0.0 };
                }
            };
            shift(&mut self.sites[s].envelope_mw);
            for u in self.units.iter_mut().filter(|u| u.site == s) {
                shift(&mut u.base_gpus);
                shift(&mut u.billed_gpus);
            }
            for o in &mut self.options {
                if self.units[o.unit].site == s {
                    o.lead += w.delay_months;
                    o.window.retain(|&t| t + (o.lead as usize) < n);
                }
            }
            for c in &mut self.candidates {
                if self.units[c.unit].site == s {
                    c.months = c.months.iter().map(|t| t + k).filter(|&t| t < n).collect();
                }
            }
        }
        if let Some(p) = &w.cut_provider {
            // The provider delivers less; what was reserved is still billed
            // (take-or-pay), so a cut never makes the plan cheaper.
            let keep = 1.0 - w.cut_share;
            for u in self.units.iter_mut().filter(|u| &u.provider == p) {
                u.base_gpus.iter_mut().for_each(|g| *g *= keep);
            }
            for o in &mut self.options {
                if &self.units[o.unit].provider == p {
                    o.delivered *= keep;
                }
            }
            for c in &mut self.candidates {
                if &self.units[c.unit].provider == p {
                    c.delivered *= keep;
                }
            }
        }
        if w.demand_factor != 1.0 || w.demand_growth_per_year != 0.0 {
            for d in &mut self.demands {
                for (t, a) in d.asked.iter_mut().enumerate() {
                    *a *= w.demand_factor * (1.0 + w.demand_growth_per_year).powf(t as f64 / 12.0);
                }
            }
        }
        if let Some(site) = &w.power_site {
            let s = self
                .site_index(site)
                .ok_or_else(|| PlanError::Unknown(format!("site `{site}`")))?;
            for e in &mut self.sites[s].envelope_mw {
                *e = (*e + w.power_delta_mw).max(0.0);
            }
        }
        if w.add_gw_per_week > 0.0 {
            self.add_weekly(w, catalog)?;
        }
        Ok(())
    }

    /// New capacity at a steady pace (GW of facility power a week) at a new
    /// site, paid per use, so the plan takes only what pays.
    fn add_weekly(&mut self, w: &WhatIf, catalog: &Catalog) -> Result<(), PlanError> {
        let acc_name = w.add_accelerator.clone().unwrap_or_else(|| "gb300".into());
        let acc = accelerator(catalog, &acc_name)?;
        let from = w.add_from.unwrap_or(self.month_starts[0]);
        let zone = w
            .add_zone
            .clone()
            .or_else(|| self.sites.first().map(|s| s.zone.clone()))
            .unwrap_or_default();
        let envelope_mw: Vec<f64> = (0..self.months())
            .map(|t| {
                let weeks = f64::from(self.month_starts[t].days() - from.days()) / 7.0;
                weeks.max(0.0) * w.add_gw_per_week * 1000.0
            })
            .collect();
        let base_gpus: Vec<f64> = envelope_mw
            .iter()
            .map(|mw| mw * 1000.0 / acc.power_kw)
            .collect();
        self.sites.push(Site {
            name: format!("new/{}", w.name),
            provider: "new".into(),
            zone,
            envelope_mw,
        });
        self.units.push(Unit {
            name: format!("new/{}/{}", w.name, acc_name),
            site: self.sites.len() - 1,
            provider: "new".into(),
            accelerator: acc_name,
            vendor: acc.vendor,
            train: acc.train_throughput,
            infer: acc.infer_throughput,
            power_kw: acc.power_kw,
            reserved: false,
            usd_per_gpu_hour: w.add_usd_per_gpu_hour,
            contract: None,
            billed_gpus: vec![0.0; base_gpus.len()],
            base_gpus,
            source: Source::Added,
        });
        Ok(())
    }
}
