//! A site's power envelope binds, and its dual is the value of one more MW:
//! checked against the arithmetic by hand and against re-solving with the
//! envelope one MW larger.

mod common;
use common::*;

const H: f64 = 744.0;

/// 800 H100 at 1.53 kW, but 0.918 MW of power: 600 of them can run.
fn tight() -> String {
    format!(
        "version = 1\n{}{}",
        site(
            "a",
            0.918,
            100,
            r#"{ model = "on-demand", usd_per_gpu_hour = 2.0 }"#
        ),
        flat_plan(1, 5.0, 1000.0, false)
    )
}

#[test]
fn the_envelope_caps_the_gpus_that_run() {
    let p = plan(&tight());
    assert_eq!(p.capacity.used_by_provider["a"], vec![600.0]);
    assert_eq!(p.demand["train"].unmet, vec![400.0]);
    assert_eq!(p.power["a/r1"].used_mw, vec![0.918]);
    assert_eq!(p.power["a/r1"].binding_months, vec!["2026-01".to_string()]);
    assert_eq!(p.power_runs_out[0].site, "a/r1");
}

#[test]
fn one_more_mw_is_worth_the_penalty_saved_less_the_price_paid() {
    let p = plan(&tight());
    // One MW runs 1000 / 1.53 more GPUs, each saving $5 of penalty for $2 of
    // price, for 744 hours.
    let by_hand = 1000.0 / 1.53 * (5.0 - 2.0) * H;
    let v = p.power["a/r1"].value_per_mw_usd[0];
    assert!((v - by_hand).abs() / by_hand < 1e-3, "{v} vs {by_hand}");
    assert_eq!(p.power["a/r1"].value_per_mw_horizon_usd, v);
}

#[test]
fn the_dual_matches_re_solving_with_a_little_more_power() {
    // A tenth of a MW (65 GPUs) stays below the cluster's 200 idle GPUs, so
    // the basis does not change and the difference is the dual exactly.
    let inst = instance(&tight());
    let base = gf_plan::objective(&inst).unwrap();
    let mut more = inst.clone();
    more.sites[0].envelope_mw[0] += 0.1;
    let fd = (base - gf_plan::objective(&more).unwrap()) / 0.1;
    let p = gf_plan::solve(&inst, &mut |_| {}).unwrap();
    let dual = p.power["a/r1"].value_per_mw_usd[0];
    assert!(
        (dual - fd).abs() <= 1.0,
        "dual {dual} vs finite difference {fd}"
    );
}

#[test]
fn a_slack_envelope_is_worth_nothing() {
    let src = tight().replace("power_mw = 0.918", "power_mw = 10.0");
    let p = plan(&src);
    assert!(p.power["a/r1"].binding_months.is_empty());
    assert_eq!(p.power["a/r1"].value_per_mw_horizon_usd, 0.0);
    assert!(p.power_runs_out.is_empty());
}

#[test]
fn the_duals_of_a_plan_with_yes_no_decisions_come_from_the_fixed_lp() {
    // An all-or-nothing option of 400 GPUs at $1 that the plan takes: the
    // power row's dual must still be there, from the LP with it fixed.
    let src = format!(
        "version = 1\n{}{}{}",
        site(
            "a",
            0.918,
            100,
            r#"{ model = "on-demand", usd_per_gpu_hour = 2.0 }"#
        ),
        flat_plan(2, 5.0, 1000.0, false),
        r#"
[[plan.option]]
name = "more"
cluster = "a/r1/c1"
gpus = 400
lead_months = 0
exercise_by = "2026-01-31"
usd_per_gpu_hour = 1.0
"#
    );
    let p = plan(&src);
    assert!(p.model.integers >= 1);
    assert!(p.options[0].exercised);
    // Power still binds at 600 GPUs; the cheaper option GPUs run first.
    assert_eq!(p.power["a/r1"].used_mw, vec![0.918, 0.918]);
    let v = p.power["a/r1"].value_per_mw_usd[0];
    // The marginal GPU is the $2 on-demand one (the option's 400 are billed anyway).
    let by_hand = 1000.0 / 1.53 * (5.0 - 2.0) * H;
    assert!((v - by_hand).abs() / by_hand < 1e-3, "{v} vs {by_hand}");
}
