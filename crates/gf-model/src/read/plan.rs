//! Reads the `[plan]` section (and a what-if of the command line) into the
//! types of `plan.rs`, every problem located at its line and column.

use toml_span::Value;
use toml_span::value::ValueInner;

use crate::diag::Diagnostics;
use crate::plan::*;
use crate::tbl::{Tbl, months};
use crate::units::Date;

pub(crate) fn read_plan(cx: &mut Diagnostics, v: Value<'_>) -> Option<PlanSpec> {
    let mut t = Tbl::new(cx, v, "[plan]")?;
    let start = t.req::<Date>(cx, "start");
    let months = t.req::<u32>(cx, "months");
    if months == Some(0) || months.is_some_and(|m| m > 600) {
        cx.error(
            t.at("months"),
            "`months` must be from 1 to 600 (fifty years)",
        );
    }
    let penalty = t.req::<f64>(cx, "unmet_usd_per_gpu_hour");
    if let Some(p) = penalty {
        at_least(cx, &t, "unmet_usd_per_gpu_hour", p, 0.0);
    }
    let share = |cx: &mut Diagnostics, t: &mut Tbl<'_>, k: &'static str| {
        let x = t.or::<f64>(cx, k, 1.0);
        if !(x > 0.0 && x <= 1.0) {
            cx.error(
                t.at(k),
                format!("`{k}` is {x}; expected a fraction in (0, 1], e.g. 0.5"),
            );
        }
        x
    };
    let mps = share(cx, &mut t, "max_provider_share");
    let mvs = share(cx, &mut t, "max_vendor_share");
    let mpsi = share(cx, &mut t, "max_provider_share_inference");
    let mvsi = share(cx, &mut t, "max_vendor_share_inference");
    let diversify_from = t.opt::<Date>(cx, "diversify_from");
    let gap = t.or::<f64>(cx, "mip_gap", mip_gap());
    if !(0.0..1.0).contains(&gap) {
        cx.error(
            t.at("mip_gap"),
            format!("`mip_gap` is {gap}; expected a fraction in [0, 1), e.g. 0.0001"),
        );
    }
    let demand = t.list(cx, "demand", read_demand);
    let sites = t.list(cx, "site", read_site);
    let options = t.list(cx, "option", read_option);
    let candidates = t.list(cx, "candidate_contract", read_candidate);
    let cpu_pools = t.list(cx, "cpu_pool", read_cpu_pool);
    let what_ifs = t.list(cx, "what_if", read_what_if);
    let locs = t.finish(cx);
    Some(PlanSpec {
        start: start?,
        months: months?.clamp(1, 600),
        unmet_usd_per_gpu_hour: penalty?.max(0.0),
        max_provider_share: mps,
        max_vendor_share: mvs,
        max_provider_share_inference: mpsi,
        max_vendor_share_inference: mvsi,
        diversify_from,
        mip_gap: gap,
        demand,
        sites,
        options,
        candidates,
        cpu_pools,
        what_ifs,
        locs,
    })
}

fn at_least(cx: &mut Diagnostics, t: &Tbl<'_>, key: &str, x: f64, min: f64) {
    if x < min {
        cx.error(
            t.at(key),
            format!("`{key}` is {x}; it must be {min} or more"),
        );
    }
}

fn positive(cx: &mut Diagnostics, t: &Tbl<'_>, key: &str, x: f64) {
    if x <= 0.0 {
        cx.error(
            t.at(key),
            format!("`{key}` is {x}; it must be more than zero"),
        );
    }
}

/// Reads an array of `{ date, KEY }` tables in increasing date order.
fn read_points(
    cx: &mut Diagnostics,
    mut v: Value<'_>,
    key: &'static str,
    what: &'static str,
) -> Option<Vec<(Date, f64)>> {
    let items = match v.take() {
        ValueInner::Array(items) => items,
        _ => {
            cx.error(
                v.span.start,
                format!("expected an array of {{ date, {key} }} for {what}"),
            );
            return None;
        }
    };
    let mut out: Vec<(Date, f64)> = Vec::new();
    for item in items {
        let Some(mut t) = Tbl::new(cx, item, what) else {
            continue;
        };
        let date = t.req::<Date>(cx, "date");
        let x = t.req::<f64>(cx, key);
        if let Some(x) = x {
            at_least(cx, &t, key, x, 0.0);
        }
        if let (Some(d), Some(&(p, _))) = (date, out.last())
            && d <= p
        {
            cx.error(
                t.at("date"),
                format!("dates out of order: {d} comes after {p}; list points by increasing date"),
            );
        }
        t.finish(cx);
        if let (Some(d), Some(x)) = (date, x) {
            out.push((d, x.max(0.0)));
        }
    }
    Some(out)
}

fn read_demand(cx: &mut Diagnostics, v: Value<'_>) -> Option<PlanDemand> {
    let mut t = Tbl::new(cx, v, "[[plan.demand]]")?;
    let name = t.req::<String>(cx, "name");
    let kind_s = t.req::<String>(cx, "kind");
    let kind = kind_s.as_deref().and_then(|s| {
        let k = DemandKind::from_name(s);
        if k.is_none() {
            cx.error(
                t.at("kind"),
                format!(
                    "unknown demand kind `{s}`; expected one of: {}",
                    DemandKind::NAMES.join(", ")
                ),
            );
        }
        k
    });
    let accelerators = t.or::<Vec<String>>(cx, "accelerators", Vec::new());
    let providers = t.or::<Vec<String>>(cx, "providers", Vec::new());
    let service = t.opt::<String>(cx, "service");
    let critical = t.or::<bool>(cx, "critical", true);
    let hard = t.or::<bool>(cx, "hard", false);
    let penalty = t.opt::<f64>(cx, "unmet_usd_per_gpu_hour");
    if let Some(p) = penalty {
        at_least(cx, &t, "unmet_usd_per_gpu_hour", p, 0.0);
    }
    let curve = match t.take("curve") {
        Some(v) => read_points(cx, v, "value", "a curve point").unwrap_or_default(),
        None => {
            cx.error(
                t.locs.at as usize,
                "missing field `curve` in [[plan.demand]]; e.g. curve = [{ date = \"2026-01-01\", value = 100000.0 }]",
            );
            Vec::new()
        }
    };
    if t.locs.of("curve") != t.locs.at && curve.is_empty() {
        cx.error(t.at("curve"), "`curve` is empty; give at least one point");
    }
    match kind {
        Some(DemandKind::Inference) if service.is_none() => cx.error(
            t.locs.at as usize,
            "an inference demand needs `service`, the [[service]] whose throughput and zones apply",
        ),
        Some(DemandKind::Training | DemandKind::Cpu) if service.is_some() => cx.error(
            t.at("service"),
            "`service` applies to inference demand only; set kind = \"inference\" or remove it",
        ),
        _ => {}
    }
    let locs = t.finish(cx);
    Some(PlanDemand {
        name: name?,
        kind: kind?,
        accelerators,
        providers,
        service,
        critical,
        hard,
        unmet_usd_per_gpu_hour: penalty,
        curve: curve
            .into_iter()
            .map(|(date, value)| CurvePoint { date, value })
            .collect(),
        locs,
    })
}

fn read_site(cx: &mut Diagnostics, v: Value<'_>) -> Option<PlanSite> {
    let mut t = Tbl::new(cx, v, "[[plan.site]]")?;
    let site = t.req::<String>(cx, "site");
    let power = match t.take("power") {
        Some(v) => read_points(cx, v, "mw", "a power step").unwrap_or_default(),
        None => {
            cx.error(
                t.locs.at as usize,
                "missing field `power` in [[plan.site]]; e.g. power = [{ date = \"2026-01-01\", mw = 300.0 }]",
            );
            Vec::new()
        }
    };
    let locs = t.finish(cx);
    Some(PlanSite {
        site: site?,
        power: power
            .into_iter()
            .map(|(date, mw)| PowerStep { date, mw })
            .collect(),
        locs,
    })
}

fn read_option(cx: &mut Diagnostics, v: Value<'_>) -> Option<PlanOption> {
    let mut t = Tbl::new(cx, v, "[[plan.option]]")?;
    let name = t.req::<String>(cx, "name");
    let cluster = t.req::<String>(cx, "cluster");
    let gpus = t.req::<u64>(cx, "gpus");
    // A billion GPUs at most: 1e18 made the solver fail to build its model.
    if gpus.is_some_and(|g| !(1..=1_000_000_000).contains(&g)) {
        cx.error(t.at("gpus"), "`gpus` must be from 1 to 1000000000");
    }
    let lead = t.req::<u32>(cx, "lead_months");
    months(cx, &t, "lead_months", lead, 0);
    let from = t.opt::<Date>(cx, "exercise_from");
    let by = t.req::<Date>(cx, "exercise_by");
    if let (Some(f), Some(b)) = (from, by)
        && f > b
    {
        cx.error(
            t.at("exercise_by"),
            format!("`exercise_by` ({b}) is before `exercise_from` ({f})"),
        );
    }
    let usd = t.opt::<f64>(cx, "usd_per_gpu_hour");
    if let Some(x) = usd {
        at_least(cx, &t, "usd_per_gpu_hour", x, 0.0);
    }
    let fee = t.or::<f64>(cx, "fee_usd", 0.0);
    at_least(cx, &t, "fee_usd", fee, 0.0);
    let term = t.opt::<u32>(cx, "term_months");
    months(cx, &t, "term_months", term, 1);
    let divisible = t.or::<bool>(cx, "divisible", false);
    let locs = t.finish(cx);
    Some(PlanOption {
        name: name?,
        cluster: cluster?,
        gpus: gpus?,
        lead_months: lead?,
        exercise_from: from,
        exercise_by: by?,
        usd_per_gpu_hour: usd,
        fee_usd: fee,
        term_months: term,
        divisible,
        locs,
    })
}

fn read_candidate(cx: &mut Diagnostics, v: Value<'_>) -> Option<CandidateContract> {
    let mut t = Tbl::new(cx, v, "[[plan.candidate_contract]]")?;
    let name = t.req::<String>(cx, "name");
    let provider = t.req::<String>(cx, "provider");
    let site = t.req::<String>(cx, "site");
    let zone = t.opt::<String>(cx, "zone");
    let power = t.or::<f64>(cx, "power_mw", 0.0);
    at_least(cx, &t, "power_mw", power, 0.0);
    let accelerator = t.req::<String>(cx, "accelerator");
    let start = t.req::<Date>(cx, "start");
    let term = t.req::<u32>(cx, "term_months");
    months(cx, &t, "term_months", term, 1);
    let usd = t.req::<f64>(cx, "usd_per_gpu_hour");
    if let Some(x) = usd {
        at_least(cx, &t, "usd_per_gpu_hour", x, 0.0);
    }
    let min = t.or::<u64>(cx, "min_gpus", 0);
    let max = t.req::<u64>(cx, "max_gpus");
    if let Some(m) = max
        && (m == 0 || m < min)
    {
        cx.error(
            t.at("max_gpus"),
            format!("`max_gpus` is {m}; it must be at least 1 and at least `min_gpus` ({min})"),
        );
    }
    let locs = t.finish(cx);
    Some(CandidateContract {
        name: name?,
        provider: provider?,
        site: site?,
        zone,
        power_mw: power,
        accelerator: accelerator?,
        start: start?,
        term_months: term?.max(1),
        usd_per_gpu_hour: usd?,
        min_gpus: min,
        max_gpus: max?,
        locs,
    })
}

fn read_cpu_pool(cx: &mut Diagnostics, v: Value<'_>) -> Option<CpuPool> {
    let mut t = Tbl::new(cx, v, "[[plan.cpu_pool]]")?;
    let site = t.req::<String>(cx, "site");
    let cores = t.req::<u64>(cx, "cores");
    let usd = t.req::<f64>(cx, "usd_per_core_hour");
    if let Some(x) = usd {
        at_least(cx, &t, "usd_per_core_hour", x, 0.0);
    }
    let w = t.or::<f64>(cx, "watts_per_core", watts_per_core());
    at_least(cx, &t, "watts_per_core", w, 0.0);
    let locs = t.finish(cx);
    Some(CpuPool {
        site: site?,
        cores: cores?,
        usd_per_core_hour: usd?,
        watts_per_core: w,
        locs,
    })
}

pub(crate) fn read_what_if(cx: &mut Diagnostics, v: Value<'_>) -> Option<WhatIf> {
    let mut t = Tbl::new(cx, v, "[[plan.what_if]]")?;
    let name = t.req::<String>(cx, "name");
    let delay_site = t.opt::<String>(cx, "delay_site");
    let delay_months = t.or::<u32>(cx, "delay_months", 0);
    if delay_site.is_some() != (t.locs.of("delay_months") != t.locs.at) {
        cx.error(
            t.locs.at as usize,
            "`delay_site` and `delay_months` go together, e.g. delay_site = \"oracle/abilene\", delay_months = 6",
        );
    }
    let cut_provider = t.opt::<String>(cx, "cut_provider");
    let cut_share = t.or::<f64>(cx, "cut_share", 0.0);
    if !(0.0..=1.0).contains(&cut_share) {
        cx.error(
            t.at("cut_share"),
            format!("`cut_share` is {cut_share}; expected a fraction from 0 to 1, e.g. 0.2"),
        );
    }
    if cut_provider.is_some() != (t.locs.of("cut_share") != t.locs.at) {
        cx.error(
            t.locs.at as usize,
            "`cut_provider` and `cut_share` go together, e.g. cut_provider = \"azure\", cut_share = 0.2",
        );
    }
    let demand_factor = t.or::<f64>(cx, "demand_factor", 1.0);
    at_least(cx, &t, "demand_factor", demand_factor, 0.0);
    let growth = t.or::<f64>(cx, "demand_growth_per_year", 0.0);
    if growth <= -1.0 {
        cx.error(
            t.at("demand_growth_per_year"),
            format!("`demand_growth_per_year` is {growth}; it must be more than -1"),
        );
    }
    let power_site = t.opt::<String>(cx, "power_site");
    let power_delta = t.or::<f64>(cx, "power_delta_mw", 0.0);
    let add = t.or::<f64>(cx, "add_gw_per_week", 0.0);
    at_least(cx, &t, "add_gw_per_week", add, 0.0);
    let add_from = t.opt::<Date>(cx, "add_from");
    let add_acc = t.opt::<String>(cx, "add_accelerator");
    let add_usd = t.or::<f64>(cx, "add_usd_per_gpu_hour", add_price());
    if add > 0.0 {
        positive(cx, &t, "add_usd_per_gpu_hour", add_usd);
    }
    let add_zone = t.opt::<String>(cx, "add_zone");
    let locs = t.finish(cx);
    Some(WhatIf {
        name: name?,
        delay_site,
        delay_months,
        cut_provider,
        cut_share: cut_share.clamp(0.0, 1.0),
        demand_factor: demand_factor.max(0.0),
        demand_growth_per_year: growth.max(-0.99),
        power_site,
        power_delta_mw: power_delta,
        add_gw_per_week: add.max(0.0),
        add_from,
        add_accelerator: add_acc,
        add_usd_per_gpu_hour: add_usd,
        add_zone,
        locs,
    })
}
