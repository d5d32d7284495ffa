//! The plan as the user reads it: a solved model turned back into the fleet's
//! words — capacity by provider, site and accelerator per month, options
//! exercised, contracts signed, shortfalls, commitment burn and power against
//! each envelope, with the marginal value of one more MW where power binds.
//!
//! Every map is a `BTreeMap` and every figure is rounded, so the same input
//! gives the same bytes of JSON.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::instance::{DemandKind, Instance, Source};
use crate::model::{RowKind, Solved, online};

/// A capacity plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// `optimal`, or `within MIP gap` when the solver stopped at the gap.
    pub status: String,
    /// The months planned, `YYYY-MM`.
    pub months: Vec<String>,
    /// What the plan costs, by part.
    pub cost: Cost,
    /// Size of the model solved.
    pub model: ModelSize,
    /// GPUs in use and online per month.
    pub capacity: Capacity,
    /// Each demand row: asked, served and unmet per month.
    pub demand: BTreeMap<String, DemandOut>,
    /// Months with unmet demand, largest first (at most 50).
    pub shortfalls: Vec<Shortfall>,
    /// Each expansion option and what the plan does with it.
    pub options: Vec<OptionOut>,
    /// Each candidate contract and what the plan does with it.
    pub candidates: Vec<CandidateOut>,
    /// Commitment burn per contract.
    pub contracts: BTreeMap<String, ContractOut>,
    /// Power per site against its envelope, with the value of one more MW.
    pub power: BTreeMap<String, PowerOut>,
    /// Sites in the order their power first binds (which runs out first).
    pub power_runs_out: Vec<SiteMonth>,
    /// The value of one more month of lead time on each exercised option.
    pub lead_time: Vec<LeadTime>,
}

/// Cost by part, USD over the horizon.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cost {
    /// Everything below added up (the tie-break left out).
    pub total_usd: f64,
    /// Reserved clusters, paid whether used or not.
    pub reserved_usd: f64,
    /// Capacity paid per use.
    pub on_demand_usd: f64,
    /// Options exercised (fees and the reserved GPUs they add).
    pub options_usd: f64,
    /// Candidate contracts signed.
    pub candidates_usd: f64,
    /// CPU cores for agentic work.
    pub cpu_usd: f64,
    /// Commitment not burned by the end of its term (paid and lost).
    pub lost_commitment_usd: f64,
    /// The penalty on unmet demand.
    pub unmet_penalty_usd: f64,
}

/// Size of the model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSize {
    /// Columns.
    pub columns: usize,
    /// Rows.
    pub rows: usize,
    /// Integer columns.
    pub integers: usize,
}

/// GPUs per month, by provider, site and accelerator.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Capacity {
    /// In use, by provider.
    pub used_by_provider: BTreeMap<String, Vec<f64>>,
    /// In use, by site.
    pub used_by_site: BTreeMap<String, Vec<f64>>,
    /// In use, by accelerator.
    pub used_by_accelerator: BTreeMap<String, Vec<f64>>,
    /// In use, by cluster (option, contract) name.
    pub used_by_cluster: BTreeMap<String, Vec<f64>>,
    /// In use, by demand row (GPUs; cores for cpu demand).
    pub used_by_demand: BTreeMap<String, Vec<f64>>,
    /// Online (ramps, options and contracts), by provider.
    pub online_by_provider: BTreeMap<String, Vec<f64>>,
}

/// One demand row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemandOut {
    /// training, inference or cpu.
    pub kind: String,
    /// What the numbers count.
    pub unit: String,
    /// Asked per month.
    pub asked: Vec<f64>,
    /// Served per month.
    pub served: Vec<f64>,
    /// Unmet per month.
    pub unmet: Vec<f64>,
    /// Unmet over the horizon, H100-equivalent GPU-months (0 for cpu).
    pub unmet_h100e_gpu_months: f64,
}

/// Unmet demand in one month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shortfall {
    /// The demand row.
    pub demand: String,
    /// The month.
    pub month: String,
    /// Unmet, in the demand's unit.
    pub unmet: f64,
    /// The demand's unit.
    pub unit: String,
}

/// One expansion option.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OptionOut {
    /// Its name.
    pub name: String,
    /// The cluster it expands.
    pub cluster: String,
    /// Exercised (in whole or, if divisible, in part).
    pub exercised: bool,
    /// Month of exercise.
    pub exercise_month: Option<String>,
    /// Month its GPUs come online.
    pub online_month: Option<String>,
    /// GPUs added.
    pub gpus: f64,
    /// What it costs, USD.
    pub cost_usd: f64,
}

/// One candidate contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CandidateOut {
    /// Its name.
    pub name: String,
    /// Signed.
    pub signed: bool,
    /// GPUs signed for.
    pub gpus: f64,
    /// What it costs over the horizon, USD.
    pub cost_usd: f64,
}

/// Burn of one contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContractOut {
    /// Committed over the whole term, USD.
    pub committed_usd: f64,
    /// The part due inside the horizon, USD (all of it if the term ends inside).
    pub due_in_horizon_usd: f64,
    /// Spent inside the horizon, USD.
    pub spent_usd: f64,
    /// Lost: due and not burned, USD.
    pub lost_usd: f64,
    /// Spent / due.
    pub burn_ratio: f64,
    /// Spend to date per month, USD.
    pub cumulative_spend_usd: Vec<f64>,
    /// Pro-rata commitment to date per month, USD.
    pub cumulative_due_usd: Vec<f64>,
}

/// Power of one site.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PowerOut {
    /// Envelope per month, MW.
    pub envelope_mw: Vec<f64>,
    /// Drawn per month, MW.
    pub used_mw: Vec<f64>,
    /// Months where the envelope binds.
    pub binding_months: Vec<String>,
    /// Value of one more MW in each month, USD (the negated dual of the power row).
    pub value_per_mw_usd: Vec<f64>,
    /// Value of one more MW for the whole horizon, USD.
    pub value_per_mw_horizon_usd: f64,
}

/// A site and a month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteMonth {
    /// `provider/region`.
    pub site: String,
    /// `YYYY-MM`.
    pub month: String,
}

/// The value of one more month of lead time on an option.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeadTime {
    /// The option.
    pub option: String,
    /// Cost of the plan with the option one month later, minus the plan's, USD.
    pub cost_of_one_more_month_usd: f64,
}

/// Rounds to `d` decimals, with no negative zero.
pub fn round(x: f64, d: i32) -> f64 {
    let f = 10f64.powi(d);
    let r = (x * f).round() / f;
    if r == 0.0 { 0.0 } else { r }
}

fn unit_name(kind: DemandKind) -> &'static str {
    match kind {
        DemandKind::Training => "H100-equivalent GPUs",
        DemandKind::Inference => "requests/s",
        DemandKind::Cpu => "cores",
    }
}

fn add(map: &mut BTreeMap<String, Vec<f64>>, k: &str, t: usize, n: usize, x: f64) {
    // A name appears only where something is in use.
    if x < 0.05 {
        return;
    }
    map.entry(k.to_string()).or_insert_with(|| vec![0.0; n])[t] += x;
}

fn rounded(map: BTreeMap<String, Vec<f64>>, d: i32) -> BTreeMap<String, Vec<f64>> {
    map.into_iter()
        .map(|(k, v)| (k, v.into_iter().map(|x| round(x, d)).collect()))
        .collect()
}

/// Reads a solved model back into a plan; `duals` are those of the LP with
/// the yes/no decisions fixed (or of the model itself when it had none).
pub fn read(inst: &Instance, s: &Solved, duals: &[(RowKind, f64)], size: ModelSize) -> Plan {
    let n = inst.months();
    let months: Vec<String> = (0..n).map(|t| inst.month_label(t)).collect();
    let mut used_by_provider = BTreeMap::new();
    let mut used_by_site = BTreeMap::new();
    let mut used_by_accelerator = BTreeMap::new();
    let mut online_by_provider = BTreeMap::new();
    let mut used_by_cluster = BTreeMap::new();
    let mut used_by_demand = BTreeMap::new();
    let mut served = vec![vec![0.0; n]; inst.demands.len()];
    let mut used_mw = vec![vec![0.0; n]; inst.sites.len()];
    let mut on_demand = 0.0;
    let mut cpu = 0.0;
    let mut spend = vec![vec![0.0; n]; inst.contracts.len()];
    for (u, x) in &s.uses {
        served[u.demand][u.t] += x * u.per_gpu;
        add(
            &mut used_by_demand,
            &inst.demands[u.demand].name,
            u.t,
            n,
            *x,
        );
        let h = inst.hours[u.t];
        if inst.demands[u.demand].kind == DemandKind::Cpu {
            let pool = &inst.cpu_pools[u.unit];
            cpu += x * pool.usd_per_core_hour * h;
            used_mw[pool.site][u.t] += x * pool.mw_per_core;
            continue;
        }
        let unit = &inst.units[u.unit];
        add(&mut used_by_provider, &unit.provider, u.t, n, *x);
        add(&mut used_by_site, &inst.sites[unit.site].name, u.t, n, *x);
        add(&mut used_by_accelerator, &unit.accelerator, u.t, n, *x);
        add(&mut used_by_cluster, &unit.name, u.t, n, *x);
        used_mw[unit.site][u.t] += x * unit.power_kw / 1000.0;
        if !unit.reserved {
            on_demand += x * unit.usd_per_gpu_hour * h;
            if let Some(c) = unit.contract
                && inst.contracts[c].active[u.t]
            {
                spend[c][u.t] += x * unit.usd_per_gpu_hour * h;
            }
        }
    }
    // Reserved clusters, options and candidates: billed whether used or not.
    let mut reserved = 0.0;
    let mut options_usd = 0.0;
    let mut options = Vec::new();
    for (ui, unit) in inst.units.iter().enumerate() {
        for t in 0..n {
            let mut on = 0.0;
            match unit.source {
                Source::Cluster | Source::Added => {
                    on = unit.base_gpus[t];
                    if unit.reserved {
                        let bill = unit.billed_gpus[t] * unit.usd_per_gpu_hour * inst.hours[t];
                        reserved += bill;
                        if let Some(c) = unit.contract
                            && inst.contracts[c].active[t]
                        {
                            spend[c][t] += bill;
                        }
                    }
                }
                Source::Option(o) => {
                    let o = &inst.options[o];
                    for (wi, &m) in o.window.iter().enumerate() {
                        let y = s.decisions.options[unit_option(inst, ui)][wi];
                        if y > 0.0 && online(o.lead, o.term, m, t) {
                            on += y * o.gpus * o.delivered;
                            let bill = y * o.gpus * unit.usd_per_gpu_hour * inst.hours[t];
                            if let Some(c) = unit.contract
                                && inst.contracts[c].active[t]
                            {
                                spend[c][t] += bill;
                            }
                        }
                    }
                }
                Source::Candidate(k) => {
                    if inst.candidates[k].months.contains(&t) {
                        on = s.decisions.candidates[k].1 * 1000.0 * inst.candidates[k].delivered;
                    }
                }
            }
            if on > 0.0 {
                add(&mut online_by_provider, &unit.provider, t, n, on);
            }
        }
    }
    for (oi, o) in inst.options.iter().enumerate() {
        let unit = &inst.units[o.unit];
        let mut cost = 0.0;
        let mut first = None;
        let mut gpus = 0.0;
        for (wi, &m) in o.window.iter().enumerate() {
            let y = s.decisions.options[oi][wi];
            if y <= 0.0 {
                continue;
            }
            let hours: f64 = (0..n)
                .filter(|&t| online(o.lead, o.term, m, t))
                .map(|t| inst.hours[t])
                .sum();
            cost += y * (o.fee_usd + o.gpus * unit.usd_per_gpu_hour * hours);
            gpus += y * o.gpus;
            first.get_or_insert(m);
        }
        options_usd += cost;
        options.push(OptionOut {
            name: o.name.clone(),
            cluster: o.cluster.clone(),
            exercised: first.is_some(),
            exercise_month: first.map(|m| months[m].clone()),
            online_month: first
                .map(|m| m + o.lead as usize)
                .filter(|&m| m < n)
                .map(|m| months[m].clone()),
            gpus: round(gpus, 1),
            cost_usd: round(cost, 0),
        });
    }
    let mut candidates_usd = 0.0;
    let candidates = inst
        .candidates
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let g = s.decisions.candidates[k].1 * 1000.0;
            let hours: f64 = c.months.iter().map(|&t| inst.hours[t]).sum();
            let cost = g * inst.units[c.unit].usd_per_gpu_hour * hours;
            candidates_usd += cost;
            CandidateOut {
                name: c.name.clone(),
                signed: g > 0.5,
                gpus: round(g, 1),
                cost_usd: round(cost, 0),
            }
        })
        .collect();
    let mut penalty = 0.0;
    let mut demand = BTreeMap::new();
    let mut shortfalls = Vec::new();
    for (di, d) in inst.demands.iter().enumerate() {
        let unmet: Vec<f64> = (0..n).map(|t| s.short[di][t]).collect();
        for (t, &u) in unmet.iter().enumerate() {
            penalty += u * d.penalty_usd_per_hour * inst.hours[t];
            if u > 1e-6 * d.asked[t].max(1.0) {
                shortfalls.push(Shortfall {
                    demand: d.name.clone(),
                    month: months[t].clone(),
                    unmet: round(u, 1),
                    unit: unit_name(d.kind).into(),
                });
            }
        }
        demand.insert(
            d.name.clone(),
            DemandOut {
                kind: d.kind.as_str().into(),
                unit: unit_name(d.kind).into(),
                asked: d.asked.iter().map(|&x| round(x, 1)).collect(),
                served: served[di].iter().map(|&x| round(x, 1)).collect(),
                unmet: unmet.iter().map(|&x| round(x, 1)).collect(),
                unmet_h100e_gpu_months: round(unmet.iter().sum::<f64>() * d.h100e_per_unit, 1),
            },
        );
    }
    shortfalls.sort_by(|a, b| {
        b.unmet
            .total_cmp(&a.unmet)
            .then_with(|| a.demand.cmp(&b.demand))
            .then_with(|| a.month.cmp(&b.month))
    });
    shortfalls.truncate(50);
    let contracts = inst
        .contracts
        .iter()
        .enumerate()
        .map(|(ci, c)| {
            let mut cum = 0.0;
            let mut due = 0.0;
            let per_month = c.due_usd / c.active.iter().filter(|&&a| a).count().max(1) as f64;
            let mut cs = Vec::new();
            let mut cd = Vec::new();
            for t in 0..n {
                cum += spend[ci][t];
                if c.active[t] {
                    due += per_month;
                }
                cs.push(round(cum, 0));
                cd.push(round(due, 0));
            }
            (
                c.name.clone(),
                ContractOut {
                    committed_usd: c.committed_usd,
                    due_in_horizon_usd: round(c.due_usd, 0),
                    spent_usd: round(cum, 0),
                    lost_usd: round(s.lost_usd[ci], 0),
                    burn_ratio: round(
                        if c.due_usd > 0.0 {
                            cum / c.due_usd
                        } else {
                            1.0
                        },
                        4,
                    ),
                    cumulative_spend_usd: cs,
                    cumulative_due_usd: cd,
                },
            )
        })
        .collect();
    let mut value = vec![vec![0.0; n]; inst.sites.len()];
    for &(k, d) in duals {
        if let RowKind::Power { site, t } = k {
            value[site][t] = -d;
        }
    }
    let envelopes = envelopes(inst, s);
    let mut power = BTreeMap::new();
    let mut runs_out = Vec::new();
    for (si, site) in inst.sites.iter().enumerate() {
        let envelope = &envelopes[si];
        if used_mw[si].iter().all(|&x| x <= 0.0) && envelope.iter().all(|&x| x <= 0.0) {
            continue;
        }
        let binding: Vec<usize> = (0..n)
            .filter(|&t| {
                let e = envelope[t];
                e > 0.0 && used_mw[si][t] >= e * (1.0 - 1e-6) - 1e-6 || value[si][t] > 1e-3
            })
            .collect();
        if let Some(&t) = binding.first() {
            runs_out.push((
                t,
                SiteMonth {
                    site: site.name.clone(),
                    month: months[t].clone(),
                },
            ));
        }
        power.insert(
            site.name.clone(),
            PowerOut {
                envelope_mw: envelope.iter().map(|&x| round(x, 3)).collect(),
                used_mw: used_mw[si].iter().map(|&x| round(x, 3)).collect(),
                binding_months: binding.iter().map(|&t| months[t].clone()).collect(),
                value_per_mw_usd: value[si].iter().map(|&x| round(x.max(0.0), 0)).collect(),
                value_per_mw_horizon_usd: round(value[si].iter().map(|x| x.max(0.0)).sum(), 0),
            },
        );
    }
    runs_out.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.site.cmp(&b.1.site)));
    let lost: f64 = s.lost_usd.iter().sum();
    let total = reserved + on_demand + options_usd + candidates_usd + cpu + lost + penalty;
    Plan {
        status: if s.gap_limited {
            "within MIP gap"
        } else {
            "optimal"
        }
        .into(),
        months,
        cost: Cost {
            total_usd: round(total, 0),
            reserved_usd: round(reserved, 0),
            on_demand_usd: round(on_demand, 0),
            options_usd: round(options_usd, 0),
            candidates_usd: round(candidates_usd, 0),
            cpu_usd: round(cpu, 0),
            lost_commitment_usd: round(lost, 0),
            unmet_penalty_usd: round(penalty, 0),
        },
        model: size,
        capacity: Capacity {
            used_by_provider: rounded(used_by_provider, 1),
            used_by_site: rounded(used_by_site, 1),
            used_by_accelerator: rounded(used_by_accelerator, 1),
            used_by_cluster: rounded(used_by_cluster, 1),
            used_by_demand: rounded(used_by_demand, 1),
            online_by_provider: rounded(online_by_provider, 1),
        },
        demand,
        shortfalls,
        options,
        candidates,
        contracts,
        power,
        power_runs_out: runs_out.into_iter().map(|x| x.1).collect(),
        lead_time: Vec::new(),
    }
}

/// Each site's envelope per month, with the power signed contracts bring.
pub fn envelopes(inst: &Instance, s: &Solved) -> Vec<Vec<f64>> {
    let mut e: Vec<Vec<f64>> = inst.sites.iter().map(|x| x.envelope_mw.clone()).collect();
    for (k, c) in inst.candidates.iter().enumerate() {
        let share = s.decisions.candidates[k].1 * 1000.0 / c.max_gpus.max(1.0);
        for &t in &c.months {
            e[inst.units[c.unit].site][t] += c.power_mw * share;
        }
    }
    e
}

fn unit_option(inst: &Instance, u: usize) -> usize {
    match inst.units[u].source {
        Source::Option(o) => o,
        _ => 0,
    }
}
