//! Reading the `[scenario]` section into [`ScenarioSpec`], with the range
//! checks of its figures (a rate is never negative, a share is a fraction).
//!
//! The names it holds are checked against the fleet afterwards, in
//! `crate::validate::scenario`, once the whole document is read.

use std::collections::BTreeMap;

use toml_span::Value;

use crate::diag::Diagnostics;
use crate::scenario::*;
use crate::tbl::{Tbl, between, fraction, non_negative, positive};
use crate::units::Date;

/// The longest simulation: a century of days.
const MAX_HORIZON_DAYS: u32 = 36_500;
/// Most samples of the fleet's state one run takes (each is a row of the
/// report's time series).
const MAX_SAMPLES: f64 = 100_000.0;
const MINUTES_PER_DAY: f64 = 1_440.0;
const MINUTES_PER_YEAR: f64 = 525_600.0;

pub(crate) fn read_scenario(cx: &mut Diagnostics, v: Value<'_>) -> Option<ScenarioSpec> {
    let mut t = Tbl::new(cx, v, "[scenario]")?;
    let start = t.req::<Date>(cx, "start");
    let horizon_days = t.req::<u32>(cx, "horizon_days");
    if horizon_days.is_some_and(|h| !(1..=MAX_HORIZON_DAYS).contains(&h)) {
        cx.error(
            t.at("horizon_days"),
            format!("`horizon_days` must be from 1 to {MAX_HORIZON_DAYS} (a century)"),
        );
    }
    let sample_hours = t.or::<f64>(cx, "sample_hours", 6.0);
    positive(cx, &t, "sample_hours", sample_hours);
    if let Some(h) = horizon_days
        && sample_hours > 0.0
        && f64::from(h) * 24.0 / sample_hours > MAX_SAMPLES
    {
        cx.error(
            t.at("sample_hours"),
            format!(
                "`sample_hours` = {sample_hours} over {h} days is more than {MAX_SAMPLES} \
                 samples; make it at least {}",
                f64::from(h) * 24.0 / MAX_SAMPLES
            ),
        );
    }
    let schedule_interval_min = t.or::<f64>(cx, "schedule_interval_min", 5.0);
    let interval = (1.0 / 60.0, MINUTES_PER_YEAR);
    between(
        cx,
        &t,
        "schedule_interval_min",
        schedule_interval_min,
        interval,
        "a second to a year",
    );
    let autoscale_interval_min = t.or::<f64>(cx, "autoscale_interval_min", 60.0);
    between(
        cx,
        &t,
        "autoscale_interval_min",
        autoscale_interval_min,
        interval,
        "a second to a year",
    );
    let zone_utc_offset_h = t.or::<BTreeMap<String, f64>>(cx, "zone_utc_offset_h", BTreeMap::new());
    // The world's clocks run from UTC-12 to UTC+14.
    for (z, &h) in &zone_utc_offset_h {
        if !(-12.0..=14.0).contains(&h) {
            cx.error(
                t.at("zone_utc_offset_h"),
                format!("zone `{z}`'s UTC offset is {h} hours; it must be from -12 to 14"),
            );
        }
    }
    let fair_share = t.or::<bool>(cx, "fair_share", false);
    let easy_backfill = t.or::<bool>(cx, "easy_backfill", true);
    let training = t.list(cx, "training", read_training);
    let inference = t.list(cx, "inference", read_inference);
    let agentic = t.take("agentic").and_then(|v| read_agentic(cx, v));
    // A section that could not be read is reported; the rest of
    // [scenario] is still read, so that every problem shows at once.
    let failures = match t.take("failures") {
        Some(v) => read_failures(cx, v).unwrap_or_default(),
        None => FailureSpec::default(),
    };
    // A section that could not be read is reported; the rest of
    // [scenario] is still read, so that every problem shows at once.
    let checkpoint = match t.take("checkpoint") {
        Some(v) => read_checkpoint(cx, v).unwrap_or_default(),
        None => CheckpointSpec::default(),
    };
    // A section that could not be read is reported; the rest of
    // [scenario] is still read, so that every problem shows at once.
    let power = match t.take("power") {
        Some(v) => read_power(cx, v).unwrap_or_default(),
        None => PowerSpec::default(),
    };
    let locs = t.finish(cx);
    Some(ScenarioSpec {
        start: start?,
        horizon_days: horizon_days?,
        sample_hours,
        schedule_interval_min,
        autoscale_interval_min,
        fair_share,
        easy_backfill,
        zone_utc_offset_h,
        training,
        inference,
        agentic,
        failures,
        checkpoint,
        power,
        locs,
    })
}

fn read_power(cx: &mut Diagnostics, v: Value<'_>) -> Option<PowerSpec> {
    let d = PowerSpec::default();
    let mut t = Tbl::new(cx, v, "[scenario.power]")?;
    let metered = t.or::<bool>(cx, "metered", d.metered);
    let idle_share = t.or::<f64>(cx, "idle_share", d.idle_share);
    fraction(cx, &t, "idle_share", idle_share);
    let pue = t.or::<f64>(cx, "pue", d.pue);
    if pue < 1.0 {
        cx.error(
            t.at("pue"),
            format!("`pue` is {pue}; a PUE is total over IT power, 1 or more"),
        );
    }
    let site_pue = t.or::<BTreeMap<String, f64>>(cx, "site_pue", BTreeMap::new());
    if let Some((site, p)) = site_pue.iter().find(|(_, p)| **p < 1.0) {
        cx.error(
            t.at("site_pue"),
            format!("PUE of `{site}` is {p}; a PUE is total over IT power, 1 or more"),
        );
    }
    let locs = t.finish(cx);
    Some(PowerSpec {
        metered,
        idle_share,
        pue,
        site_pue,
        locs,
    })
}

fn read_size(cx: &mut Diagnostics, v: Value<'_>) -> Option<SizeShare> {
    let mut t = Tbl::new(cx, v, "a size entry")?;
    let gpus = t.req::<u32>(cx, "gpus");
    if gpus == Some(0) {
        cx.error(t.at("gpus"), "`gpus` must be at least 1");
    }
    let share = t.req::<f64>(cx, "share");
    if let Some(s) = share {
        // Weights: their sum must stay finite for the draw.
        between(
            cx,
            &t,
            "share",
            s,
            (f64::MIN_POSITIVE, 1e9),
            "a weight above zero",
        );
    }
    t.finish(cx);
    Some(SizeShare {
        gpus: gpus?,
        share: share?,
    })
}

fn read_training(cx: &mut Diagnostics, v: Value<'_>) -> Option<TrainingGen> {
    let mut t = Tbl::new(cx, v, "[[scenario.training]]")?;
    let name = t.req::<String>(cx, "name");
    let team = t.req::<String>(cx, "team");
    let priority = t.or::<u32>(cx, "priority", 0);
    let arrivals_per_day = t.req::<f64>(cx, "arrivals_per_day");
    if let Some(a) = arrivals_per_day {
        // The seeds' 20M-GPU fleet sees ~18,000 a day.
        between(
            cx,
            &t,
            "arrivals_per_day",
            a,
            (0.0, 1e6),
            "up to a million a day",
        );
    }
    let accelerators = t.req::<Vec<String>>(cx, "accelerators");
    if accelerators.as_ref().is_some_and(|a| a.is_empty()) {
        cx.error(
            t.at("accelerators"),
            "`accelerators` is empty; list at least one, e.g. [\"gb200\"]",
        );
    }
    let sizes = match t.take("sizes") {
        Some(mut v) => match v.take() {
            toml_span::value::ValueInner::Array(items) => {
                let n = items.len();
                let s: Vec<SizeShare> =
                    items.into_iter().filter_map(|i| read_size(cx, i)).collect();
                (s.len() == n).then_some(s)
            }
            _ => {
                cx.error(
                    v.span.start,
                    "expected an array of { gpus = N, share = X } for `sizes`",
                );
                None
            }
        },
        None => {
            cx.error(t.at(""), "missing field `sizes` in [[scenario.training]]");
            None
        }
    };
    if sizes.as_ref().is_some_and(|s| s.is_empty()) {
        cx.error(
            t.at("sizes"),
            "`sizes` is empty; give at least one { gpus = N, share = X }",
        );
    }
    let hours_median = t.req::<f64>(cx, "hours_median");
    if let Some(h) = hours_median {
        positive(cx, &t, "hours_median", h);
    }
    let hours_sigma = t.or::<f64>(cx, "hours_sigma", 1.0);
    non_negative(cx, &t, "hours_sigma", hours_sigma);
    let hours_max = t.or::<f64>(cx, "hours_max", max_hours());
    positive(cx, &t, "hours_max", hours_max);
    if let Some(h) = hours_median
        && hours_max < h
    {
        cx.error(
            t.at("hours_max"),
            format!(
                "`hours_max` ({hours_max}) is below `hours_median` ({h}): more than half \
                 the jobs would be cut to hours_max; make it at least {h}"
            ),
        );
    }
    let growth_per_year = t.or::<f64>(cx, "growth_per_year", 1.0);
    positive(cx, &t, "growth_per_year", growth_per_year);
    let preemptible = t.or::<bool>(cx, "preemptible", true);
    let spot = t.or::<bool>(cx, "spot", false);
    let providers = t.or::<Vec<String>>(cx, "providers", Vec::new());
    let from = t.opt::<Date>(cx, "from");
    let locs = t.finish(cx);
    Some(TrainingGen {
        name: name?,
        team: team?,
        priority,
        arrivals_per_day: arrivals_per_day?,
        accelerators: accelerators?,
        sizes: sizes?,
        hours_median: hours_median?,
        hours_sigma,
        hours_max,
        growth_per_year,
        preemptible,
        spot,
        providers,
        from,
        locs,
    })
}

fn read_inference(cx: &mut Diagnostics, v: Value<'_>) -> Option<InferenceGen> {
    let mut t = Tbl::new(cx, v, "[[scenario.inference]]")?;
    let service = t.req::<String>(cx, "service");
    let diurnal_amplitude = t.or::<f64>(cx, "diurnal_amplitude", amplitude());
    fraction(cx, &t, "diurnal_amplitude", diurnal_amplitude);
    let peak_hour_local = t.or::<f64>(cx, "peak_hour_local", peak_hour());
    if !(0.0..24.0).contains(&peak_hour_local) {
        cx.error(
            t.at("peak_hour_local"),
            format!("`peak_hour_local` is {peak_hour_local}; it must be from 0 to under 24"),
        );
    }
    let growth_per_year = t.or::<f64>(cx, "growth_per_year", 1.0);
    positive(cx, &t, "growth_per_year", growth_per_year);
    let headroom = t.or::<f64>(cx, "headroom", headroom());
    positive(cx, &t, "headroom", headroom);
    let model_load_s = t.or::<f64>(cx, "model_load_s", 0.0);
    non_negative(cx, &t, "model_load_s", model_load_s);
    let weekend_factor = t.or::<f64>(cx, "weekend_factor", 1.0);
    non_negative(cx, &t, "weekend_factor", weekend_factor);
    let burst_cv = t.or::<f64>(cx, "burst_cv", 0.0);
    non_negative(cx, &t, "burst_cv", burst_cv);
    let locs = t.finish(cx);
    Some(InferenceGen {
        service: service?,
        diurnal_amplitude,
        peak_hour_local,
        growth_per_year,
        headroom,
        model_load_s,
        weekend_factor,
        burst_cv,
        locs,
    })
}

fn read_agentic(cx: &mut Diagnostics, v: Value<'_>) -> Option<AgenticGen> {
    let mut t = Tbl::new(cx, v, "[scenario.agentic]")?;
    let cores_peak = t.req::<f64>(cx, "cores_peak");
    if let Some(c) = cores_peak {
        non_negative(cx, &t, "cores_peak", c);
    }
    let usd = t.req::<f64>(cx, "usd_per_core_hour");
    if let Some(u) = usd {
        non_negative(cx, &t, "usd_per_core_hour", u);
    }
    let diurnal_amplitude = t.or::<f64>(cx, "diurnal_amplitude", amplitude());
    fraction(cx, &t, "diurnal_amplitude", diurnal_amplitude);
    let growth_per_year = t.or::<f64>(cx, "growth_per_year", 1.0);
    positive(cx, &t, "growth_per_year", growth_per_year);
    let locs = t.finish(cx);
    Some(AgenticGen {
        cores_peak: cores_peak?,
        usd_per_core_hour: usd?,
        diurnal_amplitude,
        growth_per_year,
        locs,
    })
}

fn read_retry(cx: &mut Diagnostics, v: Value<'_>) -> Option<RetryBudget> {
    let d = RetryBudget::default();
    let mut t = Tbl::new(cx, v, "`retry_budget`")?;
    let hardware = t.or::<u32>(cx, "hardware", d.hardware);
    let software = t.or::<u32>(cx, "software", d.software);
    let preemption = t.or::<u32>(cx, "preemption", d.preemption);
    t.finish(cx);
    Some(RetryBudget {
        hardware,
        software,
        preemption,
    })
}

fn rate(t: &mut Tbl<'_>, cx: &mut Diagnostics, key: &'static str, def: f64) -> f64 {
    let x = t.or::<f64>(cx, key, def);
    non_negative(cx, t, key, x);
    x
}

fn read_failures(cx: &mut Diagnostics, v: Value<'_>) -> Option<FailureSpec> {
    let d = FailureSpec::default();
    let mut t = Tbl::new(cx, v, "[scenario.failures]")?;
    let gpu = rate(
        &mut t,
        cx,
        "gpu_interruptions_per_gpu_day",
        d.gpu_interruptions_per_gpu_day,
    );
    let hardware_share = t.or::<f64>(cx, "hardware_share", d.hardware_share);
    fraction(cx, &t, "hardware_share", hardware_share);
    let gpu_repair = rate(&mut t, cx, "gpu_repair_hours", d.gpu_repair_hours);
    let dom = rate(
        &mut t,
        cx,
        "domain_failures_per_domain_year",
        d.domain_failures_per_domain_year,
    );
    let dom_repair = rate(&mut t, cx, "domain_repair_hours", d.domain_repair_hours);
    let cl = rate(
        &mut t,
        cx,
        "cluster_outages_per_year",
        d.cluster_outages_per_year,
    );
    let cl_h = rate(&mut t, cx, "cluster_outage_hours", d.cluster_outage_hours);
    let rg = rate(
        &mut t,
        cx,
        "region_outages_per_year",
        d.region_outages_per_year,
    );
    let rg_h = rate(&mut t, cx, "region_outage_hours", d.region_outage_hours);
    let spot = rate(&mut t, cx, "spot_return_hours", d.spot_return_hours);
    let tray_gpus = t.or::<u32>(cx, "tray_gpus", d.tray_gpus);
    let tray_h = rate(&mut t, cx, "tray_repair_hours", d.tray_repair_hours);
    let spare_trays = t.or::<u32>(cx, "spare_trays_per_rack", d.spare_trays_per_rack);
    let hot_spare_min_gpus = t.or::<u32>(cx, "hot_spare_min_gpus", d.hot_spare_min_gpus);
    let hot_spare_domains = t.or::<u32>(cx, "hot_spare_domains", d.hot_spare_domains);
    let hot_spares_by_littles_law =
        t.or::<bool>(cx, "hot_spares_by_littles_law", d.hot_spares_by_littles_law);
    let retry_budget = match t.take("retry_budget") {
        Some(v) => read_retry(cx, v)?,
        None => d.retry_budget,
    };
    let locs = t.finish(cx);
    Some(FailureSpec {
        gpu_interruptions_per_gpu_day: gpu,
        hardware_share,
        gpu_repair_hours: gpu_repair,
        domain_failures_per_domain_year: dom,
        domain_repair_hours: dom_repair,
        cluster_outages_per_year: cl,
        cluster_outage_hours: cl_h,
        region_outages_per_year: rg,
        region_outage_hours: rg_h,
        spot_return_hours: spot,
        tray_gpus,
        tray_repair_hours: tray_h,
        spare_trays_per_rack: spare_trays,
        hot_spare_min_gpus,
        hot_spare_domains,
        hot_spares_by_littles_law,
        retry_budget,
        locs,
    })
}

fn read_checkpoint(cx: &mut Diagnostics, v: Value<'_>) -> Option<CheckpointSpec> {
    let d = CheckpointSpec::default();
    let mut t = Tbl::new(cx, v, "[scenario.checkpoint]")?;
    let policy = match t.opt::<String>(cx, "policy") {
        None => d.policy,
        Some(s) => match s.as_str() {
            "fixed" => CheckpointPolicy::Fixed,
            "young-daly" => CheckpointPolicy::YoungDaly,
            other => {
                cx.error(
                    t.at("policy"),
                    format!(
                        "unknown checkpoint policy `{other}`; expected one of: {}",
                        CheckpointPolicy::NAMES.join(", ")
                    ),
                );
                d.policy
            }
        },
    };
    // Each cost is at most a day: a longer checkpoint or restart is not a
    // practice to model but a typo (1e300 minutes made goodput negative).
    let minutes = (0.0, MINUTES_PER_DAY);
    let seconds = (0.0, MINUTES_PER_DAY * 60.0);
    let interval_min = t.or::<f64>(cx, "interval_min", d.interval_min);
    positive(cx, &t, "interval_min", interval_min);
    between(
        cx,
        &t,
        "interval_min",
        interval_min,
        (0.0, MINUTES_PER_YEAR),
        "up to a year",
    );
    let cost_min = t.or::<f64>(cx, "cost_min", d.cost_min);
    between(cx, &t, "cost_min", cost_min, minutes, "up to a day");
    let restart_overhead_min = t.or::<f64>(cx, "restart_overhead_min", d.restart_overhead_min);
    between(
        cx,
        &t,
        "restart_overhead_min",
        restart_overhead_min,
        minutes,
        "up to a day",
    );
    let persist_min = t.or::<f64>(cx, "persist_min", d.persist_min);
    between(cx, &t, "persist_min", persist_min, minutes, "up to a day");
    let in_memory_replicas = t.or::<bool>(cx, "in_memory_replicas", d.in_memory_replicas);
    let detect_s = t.or::<f64>(cx, "detect_s", d.detect_s);
    between(cx, &t, "detect_s", detect_s, seconds, "up to a day");
    let init_s_per_1k_gpus = t.or::<f64>(cx, "init_s_per_1k_gpus", d.init_s_per_1k_gpus);
    between(
        cx,
        &t,
        "init_s_per_1k_gpus",
        init_s_per_1k_gpus,
        seconds,
        "up to a day",
    );
    let oracle_rates = t.or::<bool>(cx, "oracle_rates", d.oracle_rates);
    let replica_group_gpus = t.or::<u32>(cx, "replica_group_gpus", d.replica_group_gpus);
    let partial_restart = t
        .opt::<String>(cx, "partial_restart")
        .and_then(|s| super::partial_restart(cx, t.at("partial_restart"), &s))
        .unwrap_or(d.partial_restart);
    let locs = t.finish(cx);
    Some(CheckpointSpec {
        policy,
        interval_min,
        cost_min,
        restart_overhead_min,
        persist_min,
        in_memory_replicas,
        detect_s,
        init_s_per_1k_gpus,
        oracle_rates,
        replica_group_gpus,
        partial_restart,
        locs,
    })
}

#[cfg(test)]
mod tests {
    use crate::parse_document;

    const FLEET: &str = r#"
version = 1
[[team]]
name = "research"
[[provider]]
name = "aws"
[[provider.region]]
name = "r1"
power_mw = 10.0
zone = "us-east"
[[provider.region.cluster]]
name = "c1"
accelerator = "h100"
domains = 16
price = { model = "on-demand", usd_per_gpu_hour = 2.0 }
"#;

    #[test]
    fn checkpoint_practice_is_read_and_bad_figures_are_placed() {
        let src = format!(
            "{FLEET}\n[scenario]\nstart = \"2026-01-01\"\nhorizon_days = 54\n\
             [scenario.checkpoint]\ncost_min = 0.25\npersist_min = 3\nin_memory_replicas = true\n\
             detect_s = 30\ninit_s_per_1k_gpus = 3\n"
        );
        let d = parse_document("s.toml", &src).unwrap();
        let c = d.scenario.unwrap().checkpoint;
        assert_eq!(
            (
                c.cost_min,
                c.persist_min,
                c.in_memory_replicas,
                c.detect_s,
                c.init_s_per_1k_gpus
            ),
            (0.25, 3.0, true, 30.0, 3.0)
        );
        let bad = src.replace("detect_s = 30", "detect_s = -1");
        let e = parse_document("s.toml", &bad).unwrap_err();
        let msg = e[0].to_string();
        assert!(msg.starts_with("s.toml:24:12"), "{msg}");
        assert!(
            msg.contains("`detect_s` is -1; it must be from 0 to 86400 (up to a day)"),
            "{msg}"
        );
        // A figure no practice has, placed the same way.
        let bad = src.replace("persist_min = 3", "persist_min = 1e300");
        let e = parse_document("s.toml", &bad).unwrap_err();
        let msg = e[0].to_string();
        assert!(msg.starts_with("s.toml:22:"), "{msg}");
        assert!(
            msg.contains("1e300 is out of range; expected a number from -1e15 to 1e15"),
            "{msg}"
        );
        let bad = src.replace("persist_min = 3", "persist_min = 2000");
        let msg = parse_document("s.toml", &bad).unwrap_err()[0].to_string();
        assert!(
            msg.contains("`persist_min` is 2000; it must be from 0 to 1440 (up to a day)"),
            "{msg}"
        );
    }

    #[test]
    fn a_section_that_cannot_be_read_hides_no_other_problem() {
        let src = format!(
            "{FLEET}\n[scenario]\nstart = \"2026-01-01\"\nhorizon_days = 30\n\
             failures = 5\nhorizon_dayz = 3\n"
        );
        let e: Vec<String> = parse_document("s.toml", &src)
            .unwrap_err()
            .iter()
            .map(|d| d.to_string())
            .collect();
        assert!(e.iter().any(|d| d.contains("[scenario.failures]")), "{e:?}");
        assert!(e.iter().any(|d| d.contains("`horizon_dayz`")), "{e:?}");
    }

    #[test]
    fn a_scenario_whose_clock_or_samples_would_run_away_is_refused() {
        let base = format!("{FLEET}\n[scenario]\nstart = \"2026-01-01\"\nhorizon_days = 365\n");
        for (extra, says) in [
            ("horizon_days = 4294967295", "must be from 1 to 36500"),
            (
                "sample_hours = 0.001",
                "more than 100000 samples; make it at least 0.0876",
            ),
            (
                "schedule_interval_min = 1e9",
                "it must be from 0.016666666666666666 to 525600",
            ),
            ("autoscale_interval_min = 0", "(a second to a year)"),
            (
                "zone_utc_offset_h = { us-east = 1e9 }",
                "it must be from -12 to 14",
            ),
            ("start = \"+026-01-01\"", "expected YYYY-MM-DD"),
            ("start = \"0026-01-01\"", "a year from 1970 to 9998"),
        ] {
            let key = extra.split(' ').next().unwrap();
            let src: String = base
                .lines()
                .filter(|l| !l.starts_with(&format!("{key} ")))
                .chain([extra])
                .collect::<Vec<_>>()
                .join("\n");
            let e = parse_document("s.toml", &src).unwrap_err();
            assert!(
                e.iter().any(|d| d.to_string().contains(says)),
                "{extra}: {e:?}"
            );
        }
        let shares = format!(
            "{base}[[scenario.training]]\nname = \"t\"\nteam = \"research\"\n\
             arrivals_per_day = 1.0\naccelerators = [\"h100\"]\nhours_median = 1.0\n\
             sizes = [ {{ gpus = 8, share = 1e14 }}, {{ gpus = 16, share = 1e14 }} ]\n"
        );
        let e = parse_document("s.toml", &shares).unwrap_err();
        assert!(
            e.iter()
                .any(|d| d.to_string().contains("`share` is 100000000000000")),
            "{e:?}"
        );
        let cut = shares.replace(
            "hours_median = 1.0",
            "hours_median = 100.0\nhours_max = 10.0",
        );
        let e = parse_document("s.toml", &cut).unwrap_err();
        assert!(
            e.iter().any(|d| d
                .to_string()
                .contains("`hours_max` (10) is below `hours_median` (100)")),
            "{e:?}"
        );
    }

    #[test]
    fn generators_and_unknown_fields_are_read_with_places() {
        let src = format!(
            "{FLEET}\n[scenario]\nstart = \"2026-01-01\"\nhorizon_days = 30\n\
             [[scenario.training]]\nname = \"r\"\nteam = \"research\"\narrivals_per_day = 5\n\
             accelerators = [\"h100\"]\nsizes = [{{ gpus = 8, share = 1 }}]\nhours_median = 4\nbogus = 1\n"
        );
        let e = parse_document("s.toml", &src).unwrap_err();
        let msg = e[0].to_string();
        assert!(msg.contains("unknown field `bogus`"), "{msg}");
        assert!(msg.contains("arrivals_per_day"), "{msg}");
    }
}
