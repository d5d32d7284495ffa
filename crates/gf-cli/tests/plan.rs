//! `gigafleet plan` as a user runs it: the seeds' portfolio planned to JSON,
//! a what-if reported as a difference, located input errors, and an
//! infeasible plan explained in the fleet's words.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gigafleet"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the binary runs")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gf-plan-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn json(path: &PathBuf) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

const EXAMPLE: &str = "examples/plan-2026-2032.toml";

#[test]
fn the_seeds_portfolio_plans_to_json() {
    let out = tmp("p.json");
    let o = run(&[
        "plan",
        EXAMPLE,
        "--json",
        out.to_str().unwrap(),
        "--lead-time-probes",
        "1",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v = json(&out);
    assert_eq!(v["months"].as_array().unwrap().len(), 84);
    assert_eq!(v["months"][0], "2026-01");
    assert_eq!(v["months"][83], "2032-12");
    // The total is its parts.
    let c = &v["cost"];
    let parts: f64 = [
        "reserved_usd",
        "on_demand_usd",
        "options_usd",
        "candidates_usd",
        "cpu_usd",
        "lost_commitment_usd",
        "unmet_penalty_usd",
    ]
    .iter()
    .map(|k| c[k].as_f64().unwrap())
    .sum();
    let total = c["total_usd"].as_f64().unwrap();
    assert!((total - parts).abs() <= 8.0, "{total} vs {parts}");
    // Every contract of the file has its burn, every option its decision.
    for k in ["aws-38b", "azure-250b", "oracle-300b"] {
        let b = &v["contracts"][k];
        let due = b["due_in_horizon_usd"].as_f64().unwrap();
        let spent = b["spent_usd"].as_f64().unwrap();
        let lost = b["lost_usd"].as_f64().unwrap();
        assert!((lost - (due - spent).max(0.0)).abs() <= 2.0, "{k}: {b}");
        assert_eq!(b["cumulative_spend_usd"].as_array().unwrap().len(), 84);
    }
    let options: Vec<&str> = v["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(options, vec!["aws-2027-expansion", "azure-fairwater-2"]);
    // The AWS option cannot bring GPUs before 2027 (exercise from July 2026, six months' lead).
    if let Some(m) = v["options"][0]["online_month"].as_str() {
        assert!(m >= "2027-01", "{m}");
    }
    // Power never exceeds an envelope.
    for (site, p) in v["power"].as_object().unwrap() {
        let used = p["used_mw"].as_array().unwrap();
        let env = p["envelope_mw"].as_array().unwrap();
        for (u, e) in used.iter().zip(env) {
            assert!(u.as_f64().unwrap() <= e.as_f64().unwrap() + 1e-3, "{site}");
        }
    }
    // Sites that bind have a value of one more MW.
    let first = &v["power_runs_out"][0]["site"];
    let binding = v["power"][first.as_str().unwrap()]["binding_months"]
        .as_array()
        .unwrap();
    assert!(!binding.is_empty());
    assert!(v["solve_seconds"].as_f64().unwrap() > 0.0);
}

#[test]
fn the_same_file_gives_the_same_json() {
    let (a, b) = (tmp("a.json"), tmp("b.json"));
    for p in [&a, &b] {
        let o = run(&[
            "plan",
            EXAMPLE,
            "--json",
            p.to_str().unwrap(),
            "--lead-time-probes",
            "0",
        ]);
        assert!(o.status.success());
    }
    let strip = |mut v: Value| {
        let o = v.as_object_mut().unwrap();
        o.remove("wall_seconds");
        o.remove("solve_seconds");
        v
    };
    assert_eq!(strip(json(&a)), strip(json(&b)));
}

#[test]
fn a_what_if_is_reported_against_the_base_plan() {
    let out = tmp("w.json");
    let o = run(&[
        "plan",
        EXAMPLE,
        "--json",
        out.to_str().unwrap(),
        "--lead-time-probes",
        "0",
        "--what-if",
        "oracle-6mo-late",
        "--what-if",
        "demand_factor=1.3",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v = json(&out);
    let w = v["what_ifs"].as_array().unwrap();
    assert_eq!(w.len(), 2);
    assert_eq!(w[0]["change"], "site oracle/abilene delayed 6 months");
    // Six months without the Oracle site leaves more demand unserved.
    assert!(
        w[0]["unmet_delta_h100e_gpu_months"].as_f64().unwrap() > 0.0,
        "{}",
        w[0]
    );
    // More demand never costs less.
    assert!(w[1]["cost_delta_usd"].as_f64().unwrap() > 0.0);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("oracle-6mo-late"), "{stdout}");
}

#[test]
fn bad_input_is_located() {
    let f = tmp("bad.toml");
    let src = std::fs::read_to_string(root().join(EXAMPLE))
        .unwrap()
        .replace("max_provider_share = 0.45", "max_provider_share = 4.5");
    std::fs::write(&f, &src).unwrap();
    let o = run(&["plan", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let line = src
        .lines()
        .position(|l| l.starts_with("max_provider_share"))
        .unwrap()
        + 1;
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(":{line}:22: error: `max_provider_share` is 4.5")),
        "{err}"
    );
    let o = run(&["plan", EXAMPLE, "--what-if", "no-such-what-if"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown what-if `no-such-what-if`"));
}

#[test]
fn an_infeasible_plan_is_explained_in_the_fleets_words() {
    let f = tmp("hard.toml");
    std::fs::write(
        &f,
        r#"version = 1
[[provider]]
name = "a"
[[provider.region]]
name = "r1"
power_mw = 0.918
zone = "us"
[[provider.region.cluster]]
name = "c1"
accelerator = "h100"
domains = 100
price = { model = "on-demand", usd_per_gpu_hour = 2.0 }
[plan]
start = "2026-01-01"
months = 3
unmet_usd_per_gpu_hour = 5.0
[[plan.demand]]
name = "must-train"
kind = "training"
hard = true
curve = [{ date = "2026-01-01", value = 1000.0 }]
"#,
    )
    .unwrap();
    let o = run(&["plan", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("demand `must-train` in 2026-01..2026-03: short by up to 400"),
        "{err}"
    );
    assert!(
        err.contains("site `a/r1` is at its power envelope (0.9 MW)"),
        "{err}"
    );
}
