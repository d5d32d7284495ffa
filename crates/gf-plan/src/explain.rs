//! Why a plan cannot be: the conflict of an infeasible instance in the
//! user's words (demand, site, cluster, month), not a solver dump.
//!
//! Only demand marked `hard` can make the model infeasible, because every
//! other demand row has a shortfall variable. So the explanation re-solves
//! with hard demand allowed to fall short at a prohibitive price: what still
//! falls short is what cannot be served, and the limits that are full in
//! those months — clusters at capacity, sites at their power envelope,
//! providers and vendors at their share limit, no supply online or allowed —
//! are the constraints that conflict with it.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::instance::{DemandKind, Instance};
use crate::model::{Solved, online};

/// A hard demand that cannot be met, and what stands in its way.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conflict {
    /// The demand row (`name` or `name@zone`).
    pub demand: String,
    /// The months, `YYYY-MM` or `YYYY-MM..YYYY-MM`.
    pub months: String,
    /// The largest shortfall in those months, in `unit`.
    pub short: f64,
    /// What the shortfall counts.
    pub unit: String,
    /// The limits that are full, in the fleet's words.
    pub limits: Vec<String>,
}

/// Why no plan meets the hard constraints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Infeasibility {
    /// Each conflict, in file order of the demand, then by month.
    pub conflicts: Vec<Conflict>,
}

impl fmt::Display for Infeasibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "no plan meets every hard demand:")?;
        for c in &self.conflicts {
            writeln!(
                f,
                "  demand `{}` in {}: short by up to {:.0} {}, because",
                c.demand, c.months, c.short, c.unit
            )?;
            for l in &c.limits {
                writeln!(f, "    - {l}")?;
            }
        }
        write!(
            f,
            "lift a limit above, or drop `hard = true` so the shortfall is priced instead"
        )
    }
}

/// Explains a relaxed solve (see the module doc).
pub fn explain(inst: &Instance, s: &Solved) -> Infeasibility {
    let n = inst.months();
    let mut used = vec![vec![0.0; n]; inst.units.len()];
    let mut mw = vec![vec![0.0; n]; inst.sites.len()];
    for (u, x) in &s.uses {
        if inst.demands[u.demand].kind == DemandKind::Cpu {
            let p = &inst.cpu_pools[u.unit];
            mw[p.site][u.t] += x * p.mw_per_core;
        } else {
            used[u.unit][u.t] += x;
            let unit = &inst.units[u.unit];
            mw[unit.site][u.t] += x * unit.power_kw / 1000.0;
        }
    }
    let online_gpus = |ui: usize, t: usize| -> f64 {
        let unit = &inst.units[ui];
        match unit.source {
            crate::instance::Source::Option(o) => {
                let o = &inst.options[o];
                o.window
                    .iter()
                    .enumerate()
                    .filter(|&(_, &m)| online(o.lead, o.term, m, t))
                    .map(|(wi, _)| {
                        s.decisions.options[unit_opt(inst, ui)][wi] * o.gpus * o.delivered
                    })
                    .sum()
            }
            crate::instance::Source::Candidate(k) => {
                if inst.candidates[k].months.contains(&t) {
                    s.decisions.candidates[k].1 * 1000.0 * inst.candidates[k].delivered
                } else {
                    0.0
                }
            }
            _ => {
                let merged: f64 = inst
                    .options
                    .iter()
                    .enumerate()
                    .filter(|(_, o)| o.merged && o.parent == ui)
                    .map(|(oi, o)| {
                        o.window
                            .iter()
                            .enumerate()
                            .filter(|&(_, &m)| online(o.lead, o.term, m, t))
                            .map(|(wi, _)| s.decisions.options[oi][wi] * o.gpus * o.delivered)
                            .sum::<f64>()
                    })
                    .sum();
                unit.base_gpus[t] + merged
            }
        }
    };
    let envelopes = crate::outcome::envelopes(inst, s);
    let mut conflicts: Vec<Conflict> = Vec::new();
    for (di, d) in inst.demands.iter().enumerate() {
        if !d.hard {
            continue;
        }
        let arcs = inst.arcs(d);
        // Month by month, the limits in the way; equal neighbours are merged.
        let mut runs: Vec<(usize, usize, f64, Vec<String>)> = Vec::new();
        for t in 0..n {
            let short = s.short[di][t];
            if short <= 1e-6 * d.asked[t].max(1.0) {
                continue;
            }
            let mut limits = Vec::new();
            if arcs.is_empty() {
                limits.push(match &d.zone {
                    Some(z) => format!(
                        "no cluster may serve it: none in latency zone `{z}` runs an accelerator the service lists, in a region it allows"
                    ),
                    None => "no cluster runs an accelerator it accepts, at a provider it accepts".into(),
                });
            }
            let mut sites_full: BTreeMap<usize, ()> = BTreeMap::new();
            let mut offline = Vec::new();
            for a in &arcs {
                if d.kind == DemandKind::Cpu {
                    continue;
                }
                let unit = &inst.units[a.unit];
                if let crate::instance::Source::Option(o) = unit.source
                    && inst.options[o].merged
                {
                    continue;
                }
                let cap = online_gpus(a.unit, t);
                if cap <= 0.0 {
                    offline.push(unit.name.clone());
                    continue;
                }
                if used[a.unit][t] >= cap * (1.0 - 1e-6) - 1e-3 {
                    limits.push(format!(
                        "cluster `{}` is fully used ({:.0} GPUs online)",
                        unit.name, cap
                    ));
                }
                let e = envelopes[unit.site][t];
                if mw[unit.site][t] >= e * (1.0 - 1e-6) - 1e-6 {
                    sites_full.insert(unit.site, ());
                }
            }
            for si in sites_full.keys() {
                let site = &inst.sites[*si];
                limits.push(format!(
                    "site `{}` is at its power envelope ({:.1} MW)",
                    site.name, envelopes[*si][t]
                ));
            }
            if !offline.is_empty() {
                limits.push(format!(
                    "no GPUs online yet (ramp, lead time or term) in {}",
                    offline
                        .iter()
                        .map(|x| format!("`{x}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            limits.extend(share_limits(inst, s, t));
            match runs.last_mut() {
                Some(r) if r.1 + 1 == t && r.3 == limits => {
                    r.1 = t;
                    r.2 = r.2.max(short);
                }
                _ => runs.push((t, t, short, limits)),
            }
        }
        for (a, b, short, limits) in runs {
            let months = if a == b {
                inst.month_label(a)
            } else {
                format!("{}..{}", inst.month_label(a), inst.month_label(b))
            };
            conflicts.push(Conflict {
                demand: d.name.clone(),
                months,
                short: (short * 10.0).round() / 10.0,
                unit: match d.kind {
                    DemandKind::Training => "H100-equivalent GPUs",
                    DemandKind::Inference => "requests/s",
                    DemandKind::Cpu => "cores",
                }
                .into(),
                limits,
            });
        }
    }
    Infeasibility { conflicts }
}

/// The provider and vendor share limits that are full in month `t`.
fn share_limits(inst: &Instance, s: &Solved, t: usize) -> Vec<String> {
    let sh = inst.shares;
    let mut out = Vec::new();
    if t < sh.from_month {
        return out;
    }
    for (what, by_provider, inference, share) in [
        ("provider", true, false, sh.provider),
        ("vendor", false, false, sh.vendor),
        ("provider", true, true, sh.provider_inference),
        ("vendor", false, true, sh.vendor_inference),
    ] {
        if share >= 1.0 {
            continue;
        }
        let mut by: BTreeMap<String, f64> = BTreeMap::new();
        let mut total = 0.0;
        for (u, x) in s.uses.iter().filter(|(u, _)| u.t == t) {
            let d = &inst.demands[u.demand];
            let counted = d.kind != DemandKind::Cpu
                && if inference {
                    d.kind == DemandKind::Inference
                } else {
                    d.critical
                };
            if !counted {
                continue;
            }
            let unit = &inst.units[u.unit];
            let w = if d.kind == DemandKind::Inference {
                unit.infer
            } else {
                unit.train
            } * x;
            let key = if by_provider {
                unit.provider.clone()
            } else {
                unit.vendor.as_str().to_string()
            };
            *by.entry(key).or_default() += w;
            total += w;
        }
        for (k, w) in by {
            if total > 0.0 && w >= share * total * (1.0 - 1e-6) {
                out.push(format!(
                    "{what} `{k}` is at its share limit of {:.0}% of {}",
                    share * 100.0,
                    if inference {
                        "inference"
                    } else {
                        "critical capacity"
                    }
                ));
            }
        }
    }
    out
}

fn unit_opt(inst: &Instance, u: usize) -> usize {
    match inst.units[u].source {
        crate::instance::Source::Option(o) => o,
        _ => 0,
    }
}
