//! `gigafleet simulate`: runs a scenario through the digital twin (gf-sim,
//! which drives the production controller and scheduler in virtual time),
//! prints a summary table, and writes the JSON summary and the HTML report.
//!
//! The JSON (`--json`) is [`gf_sim::Summary`] plus `wall_seconds`. Top-level
//! keys: `seed`, `policy`, `start`, `end`, `gpus`, `gpus_online_end`,
//! `simulated_days`, `utilization`, `goodput`, `jobs_submitted`,
//! `jobs_completed`, `jobs_failed`, `jobs_cancelled`, `jobs_running`,
//! `jobs_pending` (by reason), `interruptions`, `interruptions_by_cause`,
//! `failures`, `preemptions`, `cost_usd`, `power_peak_mw`,
//! `power_envelope_violations`, `slo_attainment`, `queue_wait_hours`,
//! `job_completion_hours`, `gpu_hours_online`, `gpu_hours_allocated`,
//! `inference_gpu_hours`, `events`, `wall_seconds`. Detail: `providers.NAME`,
//! `sites.PROVIDER/REGION`, `accelerators.NAME` (each `gpus`,
//! `gpu_hours_online`, `gpu_hours_allocated`, `utilization`, `cost_usd`;
//! sites add `envelope_mw`, `power_peak_mw`, `zone`), `contracts.NAME`
//! (`committed_usd`, `spent_usd`, `pro_rata_due_usd`, `burn_ratio`,
//! `projected_at_term_end_usd`, `projected_shortfall_usd`), `services.NAME`
//! (`slo_attainment`, `replicas_mean`, `replicas_peak`, `replicas_by_zone`),
//! `training` (GPU-hours by use, ETTR, `large_jobs`), and `series` (the time
//! series the report draws). With `--compare`, `compare.POLICY` holds each
//! policy's headline figures; the top level is the first policy's run.
//! Everything but `wall_seconds` is the same bytes for the same seed.

use crate::out::{bad_input, out, outln};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use gf_model::Date;
use gf_sched::Policy;
use gf_sim::{Sim, SimOptions, Summary};

use crate::{load, report};

/// Arguments of `gigafleet simulate`.
#[derive(clap::Args)]
pub struct SimulateArgs {
    /// Scenario file: a fleet plus a [scenario] section.
    scenario: String,
    /// Seed of every random stream; the same seed gives the same result.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Stop on this day (YYYY-MM-DD) instead of the scenario's horizon.
    #[arg(long)]
    until: Option<String>,
    /// Scheduling policy: default, first-fit, best-fit or cheapest.
    #[arg(long, default_value = "default")]
    policy: String,
    /// Write the summary as JSON here.
    #[arg(long, value_name = "OUT")]
    json: Option<PathBuf>,
    /// Write a self-contained HTML report with charts here.
    #[arg(long, value_name = "OUT.html")]
    report: Option<PathBuf>,
    /// Run the same scenario and seed under several policies (comma-separated) and compare.
    #[arg(long, value_delimiter = ',', value_name = "P1,P2")]
    compare: Vec<String>,
}

fn policy(name: &str) -> anyhow::Result<Policy> {
    match Policy::named(name) {
        Some(p) => Ok(p),
        None => bad_input!(
            "unknown policy `{name}`; expected one of: {}",
            Policy::NAMES.join(", ")
        ),
    }
}

/// Runs `gigafleet simulate`.
pub fn run(a: SimulateArgs) -> anyhow::Result<ExitCode> {
    let doc = match load::read(&a.scenario, None) {
        Ok(d) => d,
        Err(inv) => return Ok(load::report(&inv)),
    };
    // Reading validated the scenario's references too (gf_model::scenario::check_scenario).
    if doc.scenario.is_none() {
        bad_input!(
            "{}: no [scenario] section; add one with `start` and `horizon_days` to simulate this fleet",
            a.scenario
        );
    }
    let until = match &a.until {
        None => None,
        Some(s) => match s.parse::<Date>() {
            Ok(d) => Some(d),
            Err(e) => bad_input!("--until {s}: {e}"),
        },
    };
    if let (Some(u), Some(sc)) = (until, &doc.scenario) {
        let end = Date::from_days(sc.start.days() + sc.horizon_days as i32);
        if u > end {
            bad_input!(
                "--until {u}: after the scenario's end, {end} ({} days from {}); \
                 give a date up to {end}, or raise `horizon_days`",
                sc.horizon_days,
                sc.start
            );
        }
    }
    crate::out::check_outputs(a.json.as_deref(), a.report.as_deref())?;
    let names: Vec<String> = if a.compare.is_empty() {
        vec![a.policy.clone()]
    } else {
        a.compare.clone()
    };
    let policies: Vec<Policy> = names
        .iter()
        .map(|n| policy(n.trim()))
        .collect::<anyhow::Result<_>>()?;
    let tty = std::io::stderr().is_terminal();
    let mut runs: Vec<(Summary, f64)> = Vec::new();
    let last = policies.len().saturating_sub(1);
    for (i, p) in policies.into_iter().enumerate() {
        let opts = SimOptions {
            seed: a.seed,
            policy: p.clone(),
            until,
        };
        let t0 = Instant::now();
        let mut sim = Sim::new(&doc, &opts)?;
        let label = p.name.clone();
        let mut bar = |f: f64| {
            if tty {
                let n = (f * 40.0).round() as usize;
                eprint!(
                    "\r{label:>10} [{}{}] {:>3.0}%",
                    "#".repeat(n),
                    " ".repeat(40 - n.min(40)),
                    f * 100.0
                );
                let _ = std::io::stderr().flush();
            }
        };
        sim.run(&mut bar)?;
        if tty {
            eprintln!();
        }
        let s = sim.summary();
        runs.push((s, t0.elapsed().as_secs_f64()));
        if i == last {
            // The process ends after the output: freeing a year's millions
            // of job records one by one took seconds (5% of a 20M-GPU run)
            // that the operating system does at exit for nothing. Earlier
            // runs of a comparison are freed, so memory stays one run's.
            std::mem::forget(sim);
        }
    }
    let (first, wall) = &runs[0];
    // Files first: a closed stdout (a pager quit early) must not lose them.
    if let Some(path) = &a.json {
        let mut v = serde_json::to_value(first)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("wall_seconds".into(), serde_json::json!(round3(*wall)));
            if runs.len() > 1 {
                let cmp: serde_json::Map<String, serde_json::Value> = runs
                    .iter()
                    .map(|(s, _)| (s.policy.clone(), headline(s)))
                    .collect();
                o.insert("compare".into(), serde_json::Value::Object(cmp));
            }
        }
        let text = serde_json::to_string_pretty(&v)? + "\n";
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &a.report {
        let all: Vec<&Summary> = runs.iter().map(|r| &r.0).collect();
        let html = report::render(&a.scenario, &all);
        std::fs::write(path, html).with_context(|| format!("cannot write {}", path.display()))?;
    }
    print_table(first, *wall)?;
    if runs.len() > 1 {
        print_compare(&runs)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn headline(s: &Summary) -> serde_json::Value {
    serde_json::json!({
        "utilization": s.utilization,
        "goodput": s.goodput,
        "jobs_completed": s.jobs_completed,
        "queue_wait_hours_p95": s.queue_wait_hours.p95,
        "interruptions": s.interruptions,
        "preemptions": s.preemptions,
        "cost_usd": s.cost_usd,
        "power_peak_mw": s.power_peak_mw,
        "slo_attainment": s.slo_attainment,
    })
}

/// Dollars with a unit suffix.
pub fn usd(x: f64) -> String {
    let a = x.abs();
    if a >= 1e9 {
        format!("${:.2}B", x / 1e9)
    } else if a >= 1e6 {
        format!("${:.1}M", x / 1e6)
    } else if a >= 1e3 {
        format!("${:.1}k", x / 1e3)
    } else {
        format!("${x:.0}")
    }
}

fn print_table(s: &Summary, wall: f64) -> anyhow::Result<()> {
    outln!(
        "simulated {} days ({} to {}), policy {}, seed {}: {} events in {:.2} s",
        s.simulated_days,
        s.start,
        s.end,
        s.policy,
        s.seed,
        s.events,
        wall
    );
    outln!();
    let rows: Vec<(&str, String)> = vec![
        (
            "GPUs (built / online at end)",
            format!("{} / {}", s.gpus, s.gpus_online_end),
        ),
        ("utilization", format!("{:.1}%", s.utilization * 100.0)),
        ("training goodput", format!("{:.1}%", s.goodput * 100.0)),
        (
            "jobs submitted / completed / failed / running / pending",
            format!(
                "{} / {} / {} / {} / {}",
                s.jobs_submitted,
                s.jobs_completed,
                s.jobs_failed,
                s.jobs_running,
                s.jobs_pending.values().sum::<u64>()
            ),
        ),
        (
            "queue wait p50 / p95 / p99 (h)",
            format!(
                "{:.2} / {:.2} / {:.2}",
                s.queue_wait_hours.p50, s.queue_wait_hours.p95, s.queue_wait_hours.p99
            ),
        ),
        (
            "interruptions / preemptions",
            format!("{} / {}", s.interruptions, s.preemptions),
        ),
        (
            "inference SLO attainment",
            format!("{:.2}%", s.slo_attainment * 100.0),
        ),
        ("cost", usd(s.cost_usd)),
        (
            "power peak (fleet) / envelope violations",
            format!(
                "{:.1} MW / {}",
                s.power_peak_mw, s.power_envelope_violations
            ),
        ),
    ];
    for (k, v) in rows {
        outln!("  {k:<56} {v}");
    }
    if !s.sites.is_empty() {
        outln!();
        outln!(
            "  {:<28} {:>9} {:>7} {:>10} {:>10}",
            "site",
            "GPUs",
            "util",
            "peak MW",
            "envelope"
        );
        for (n, x) in &s.sites {
            outln!(
                "  {:<28} {:>9} {:>6.1}% {:>10.1} {:>10.1}",
                n,
                x.usage.gpus,
                x.usage.utilization * 100.0,
                x.power_peak_mw,
                x.envelope_mw
            );
        }
    }
    if !s.contracts.is_empty() {
        outln!();
        outln!(
            "  {:<22} {:>10} {:>10} {:>10} {:>7} {:>12}",
            "contract",
            "committed",
            "spent",
            "due",
            "burn",
            "shortfall"
        );
        for (n, c) in &s.contracts {
            outln!(
                "  {:<22} {:>10} {:>10} {:>10} {:>6.0}% {:>12}",
                n,
                usd(c.committed_usd),
                usd(c.spent_usd),
                usd(c.pro_rata_due_usd),
                c.burn_ratio * 100.0,
                usd(c.projected_shortfall_usd)
            );
        }
    }
    Ok(())
}

fn print_compare(runs: &[(Summary, f64)]) -> anyhow::Result<()> {
    outln!();
    out!("  {:<26}", "policy");
    for (s, _) in runs {
        out!(" {:>14}", s.policy);
    }
    outln!();
    type Row = (&'static str, fn(&Summary) -> String);
    let rows: [Row; 8] = [
        ("utilization", |s| format!("{:.1}%", s.utilization * 100.0)),
        ("goodput", |s| format!("{:.1}%", s.goodput * 100.0)),
        ("jobs completed", |s| s.jobs_completed.to_string()),
        ("queue wait p95 (h)", |s| {
            format!("{:.2}", s.queue_wait_hours.p95)
        }),
        ("preemptions", |s| s.preemptions.to_string()),
        ("cost", |s| usd(s.cost_usd)),
        ("power peak (MW)", |s| format!("{:.1}", s.power_peak_mw)),
        ("SLO attainment", |s| {
            format!("{:.2}%", s.slo_attainment * 100.0)
        }),
    ];
    for (name, f) in rows {
        out!("  {name:<26}");
        for (s, _) in runs {
            out!(" {:>14}", f(s));
        }
        outln!();
    }
    Ok(())
}
