//! `gigafleet plan`: capacity planning against demand, contracts and power
//! (gf-plan), with what-ifs reported as differences against the base plan,
//! the marginal value of one more MW and of one more month of lead time,
//! and `--verify`, which runs sampled months of the plan through the twin.
//!
//! The JSON (`--json`) is [`gf_plan::Plan`] plus `what_ifs`, `verify` (with
//! `--verify`), `solve_seconds` and `wall_seconds`. Top-level keys: `status`,
//! `months`, `cost`, `model`, `capacity`, `demand`, `shortfalls`, `options`,
//! `candidates`, `contracts`, `power`, `power_runs_out`, `lead_time`,
//! `what_ifs`, `verify`, `solve_seconds`, `wall_seconds`. Everything but the
//! two timings is the same bytes for the same file.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use gf_model::plan::WhatIf;
use gf_model::{Catalog, Document};
use gf_plan::{Instance, Plan, PlanError, WhatIfOut};

use crate::load;
use crate::out::bad_input;
use crate::simulate::usd;

#[path = "plan_report.rs"]
mod plan_report;
#[path = "plan_verify.rs"]
mod plan_verify;

/// Arguments of `gigafleet plan`.
#[derive(clap::Args)]
pub struct PlanArgs {
    /// Plan file: a fleet plus a [plan] section.
    scenario: String,
    /// Write the plan as JSON here.
    #[arg(long, value_name = "OUT")]
    json: Option<PathBuf>,
    /// Write a self-contained HTML report with charts here.
    #[arg(long, value_name = "OUT.html")]
    report: Option<PathBuf>,
    /// A what-if: a [[plan.what_if]] name from the file, or inline keys such as
    /// `delay_site=oracle/abilene,delay_months=6`, `cut_provider=azure,cut_share=0.2`,
    /// `demand_factor=1.2`, `power_site=aws/us-east-1,power_delta_mw=-50`,
    /// `add_gw_per_week=1,add_from=2027-01-01`. Repeatable; `all` runs every named one.
    #[arg(long = "what-if", value_name = "SPEC")]
    what_if: Vec<String>,
    /// Simulate sampled months of the plan with the twin and report, month by
    /// month, whether the demand the plan serves was served by the scheduler.
    #[arg(long)]
    verify: bool,
    /// Options probed for the value of one more month of lead time.
    #[arg(long, default_value_t = 6, value_name = "N")]
    lead_time_probes: usize,
}

fn what_ifs(doc: &Document, specs: &[String]) -> Result<Vec<WhatIf>, load::Invalid> {
    let named = doc
        .plan
        .as_ref()
        .map(|p| p.what_ifs.clone())
        .unwrap_or_default();
    let mut out = Vec::new();
    for s in specs {
        if s == "all" {
            out.extend(named.iter().cloned());
        } else if let Some(w) = named.iter().find(|w| &w.name == s) {
            out.push(w.clone());
        } else if s.contains('=') {
            out.push(gf_model::parse_what_if("--what-if", s, doc).map_err(load::Invalid)?);
        } else {
            let known: Vec<&str> = named.iter().map(|w| w.name.as_str()).collect();
            return Err(load::Invalid(vec![gf_model::Diagnostic {
                path: "--what-if".into(),
                line: 1,
                col: 1,
                severity: gf_model::Severity::Error,
                message: format!(
                    "unknown what-if `{s}`; name one of the file's [[plan.what_if]] ({}), `all`, or give keys like delay_site=SITE,delay_months=6",
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ),
            }]));
        }
    }
    Ok(out)
}

/// Runs `gigafleet plan`.
pub fn run(a: PlanArgs) -> anyhow::Result<ExitCode> {
    let t0 = Instant::now();
    let doc = match load::read(&a.scenario, None) {
        Ok(d) => d,
        Err(inv) => return Ok(load::report(&inv)),
    };
    if doc.plan.is_none() {
        bad_input!(
            "{}: no [plan] section; add one with `start`, `months` and `unmet_usd_per_gpu_hour` to plan this fleet",
            a.scenario
        );
    }
    let whatifs = match what_ifs(&doc, &a.what_if) {
        Ok(w) => w,
        Err(inv) => return Ok(load::report(&inv)),
    };
    crate::out::check_outputs(a.json.as_deref(), a.report.as_deref())?;
    let catalog = Catalog::with_overrides(&doc.accelerators);
    let inst = Instance::from_document(&doc)?;
    let mut progress = |msg: &str| eprintln!("[{:7.2} s] {msg}", t0.elapsed().as_secs_f64());
    let ts = Instant::now();
    let mut plan = match gf_plan::solve(&inst, &mut progress) {
        Ok(p) => p,
        Err(PlanError::Infeasible(why)) => {
            eprintln!("{}: {why}", a.scenario);
            return Ok(ExitCode::from(3));
        }
        Err(e) => return Err(e.into()),
    };
    let solve_seconds = ts.elapsed().as_secs_f64();
    progress(&format!("base plan solved in {solve_seconds:.2} s"));
    plan.lead_time = gf_plan::lead_time_values(&inst, &plan, a.lead_time_probes, &mut progress)?;
    let mut outs: Vec<(WhatIfOut, Plan)> = Vec::new();
    for (i, w) in whatifs.iter().enumerate() {
        progress(&format!(
            "what-if {}/{}: {}",
            i + 1,
            whatifs.len(),
            gf_plan::whatif::describe(w)
        ));
        match gf_plan::whatif::run(&inst, &plan, w, &catalog, &mut |_| {}) {
            Ok(r) => outs.push(r),
            Err(PlanError::Infeasible(why)) => {
                eprintln!("what-if `{}`: {why}", w.name);
                return Ok(ExitCode::from(3));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let verify = if a.verify {
        progress("verifying sampled months with the twin");
        Some(plan_verify::verify(&doc, &inst, &plan, &mut progress)?)
    } else {
        None
    };
    // Files first: a closed stdout (a pager quit early) must not lose them.
    if let Some(path) = &a.json {
        let mut v = serde_json::to_value(&plan)?;
        if let Some(o) = v.as_object_mut() {
            let w: Vec<&WhatIfOut> = outs.iter().map(|x| &x.0).collect();
            o.insert("what_ifs".into(), serde_json::to_value(w)?);
            if let Some(vf) = &verify {
                o.insert("verify".into(), serde_json::to_value(vf)?);
            }
            o.insert(
                "solve_seconds".into(),
                serde_json::json!(round3(solve_seconds)),
            );
            o.insert(
                "wall_seconds".into(),
                serde_json::json!(round3(t0.elapsed().as_secs_f64())),
            );
        }
        let text = serde_json::to_string_pretty(&v)? + "\n";
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &a.report {
        let html = plan_report::render(&a.scenario, &plan, &outs, verify.as_ref());
        std::fs::write(path, html).with_context(|| format!("cannot write {}", path.display()))?;
    }
    print_plan(&plan, solve_seconds);
    print_what_ifs(&outs);
    if let Some(v) = &verify {
        plan_verify::print(v);
    }
    Ok(ExitCode::SUCCESS)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn print_plan(p: &Plan, solve_seconds: f64) {
    println!(
        "planned {} months ({} to {}): {} ({} columns, {} rows, {} yes/no), solve {:.2} s",
        p.months.len(),
        p.months.first().map_or("", String::as_str),
        p.months.last().map_or("", String::as_str),
        p.status,
        p.model.columns,
        p.model.rows,
        p.model.integers,
        solve_seconds
    );
    println!();
    let c = &p.cost;
    for (k, v) in [
        ("total cost", c.total_usd),
        ("  reserved capacity", c.reserved_usd),
        ("  capacity paid per use", c.on_demand_usd),
        ("  options exercised", c.options_usd),
        ("  contracts signed", c.candidates_usd),
        ("  CPU for agentic work", c.cpu_usd),
        ("  commitment lost (not burned)", c.lost_commitment_usd),
        ("  penalty on unmet demand", c.unmet_penalty_usd),
    ] {
        println!("  {k:<36} {:>12}", usd(v));
    }
    println!();
    if p.shortfalls.is_empty() {
        println!("  no shortfall: every demand is served in every month");
    } else {
        println!("  largest shortfalls:");
        for s in p.shortfalls.iter().take(5) {
            println!(
                "    {:<28} {}  {:>12.0} {}",
                s.demand, s.month, s.unmet, s.unit
            );
        }
    }
    if !p.options.is_empty() {
        println!();
        println!(
            "  {:<28} {:>10} {:>10} {:>10} {:>12}",
            "option", "exercise", "online", "GPUs", "cost"
        );
        for o in &p.options {
            println!(
                "  {:<28} {:>10} {:>10} {:>10.0} {:>12}",
                o.name,
                o.exercise_month.as_deref().unwrap_or("no"),
                o.online_month.as_deref().unwrap_or("-"),
                o.gpus,
                usd(o.cost_usd)
            );
        }
    }
    if !p.candidates.is_empty() {
        println!();
        println!(
            "  {:<28} {:>7} {:>10} {:>12}",
            "candidate contract", "sign", "GPUs", "cost"
        );
        for k in &p.candidates {
            println!(
                "  {:<28} {:>7} {:>10.0} {:>12}",
                k.name,
                if k.signed { "yes" } else { "no" },
                k.gpus,
                usd(k.cost_usd)
            );
        }
    }
    if !p.contracts.is_empty() {
        println!();
        println!(
            "  {:<22} {:>10} {:>12} {:>10} {:>10} {:>7}",
            "contract", "committed", "due in plan", "spent", "lost", "burn"
        );
        for (n, k) in &p.contracts {
            println!(
                "  {:<22} {:>10} {:>12} {:>10} {:>10} {:>6.0}%",
                n,
                usd(k.committed_usd),
                usd(k.due_in_horizon_usd),
                usd(k.spent_usd),
                usd(k.lost_usd),
                k.burn_ratio * 100.0
            );
        }
    }
    println!();
    println!(
        "  {:<28} {:>12} {:>10} {:>16}",
        "site (power runs out first)", "first binds", "months", "value of +1 MW"
    );
    for s in &p.power_runs_out {
        let pw = &p.power[&s.site];
        println!(
            "  {:<28} {:>12} {:>10} {:>16}",
            s.site,
            s.month,
            pw.binding_months.len(),
            usd(pw.value_per_mw_horizon_usd)
        );
    }
    if !p.lead_time.is_empty() {
        println!();
        for l in &p.lead_time {
            println!(
                "  one more month of lead time on {:<24} costs {:>12}",
                l.option,
                usd(l.cost_of_one_more_month_usd)
            );
        }
    }
}

fn print_what_ifs(outs: &[(WhatIfOut, Plan)]) {
    if outs.is_empty() {
        return;
    }
    println!();
    println!(
        "  {:<24} {:>12} {:>12} {:>12} {:>16}  change",
        "what-if", "cost delta", "spend delta", "lost delta", "unmet delta (GPU-mo)"
    );
    for (w, _) in outs {
        println!(
            "  {:<24} {:>12} {:>12} {:>12} {:>16.0}  {}",
            w.name,
            usd(w.cost_delta_usd),
            usd(w.spend_delta_usd),
            usd(w.lost_commitment_delta_usd),
            w.unmet_delta_h100e_gpu_months,
            w.change
        );
    }
}
