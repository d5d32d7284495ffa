//! Only hard demand can make a plan infeasible; when it does, the error names
//! the demand, the months and the limits in the way, in the fleet's words.

mod common;
use common::*;
use gf_plan::PlanError;

fn infeasible(src: &str) -> gf_plan::Infeasibility {
    match gf_plan::plan_document(&doc(src)) {
        Err(PlanError::Infeasible(i)) => i,
        other => panic!("expected infeasible, got {other:?}"),
    }
}

#[test]
fn hard_demand_beyond_a_power_envelope_names_the_site_and_month() {
    let src = format!(
        "version = 1\n{}{}",
        site(
            "a",
            0.918,
            100,
            r#"{ model = "on-demand", usd_per_gpu_hour = 2.0 }"#
        ),
        flat_plan(2, 5.0, 1000.0, true)
    );
    let why = infeasible(&src);
    assert_eq!(why.conflicts.len(), 1);
    let c = &why.conflicts[0];
    assert_eq!(c.demand, "train");
    assert_eq!(c.months, "2026-01..2026-02");
    assert_eq!(c.short, 400.0);
    assert_eq!(
        c.limits,
        vec!["site `a/r1` is at its power envelope (0.9 MW)".to_string()]
    );
    let text = why.to_string();
    assert!(text.contains("demand `train` in 2026-01..2026-02: short by up to 400"));
}

#[test]
fn hard_demand_beyond_a_cluster_names_the_cluster() {
    let src = format!(
        "version = 1\n{}{}",
        site(
            "a",
            100.0,
            100,
            r#"{ model = "on-demand", usd_per_gpu_hour = 2.0 }"#
        ),
        flat_plan(1, 5.0, 1000.0, true)
    );
    let c = &infeasible(&src).conflicts[0];
    assert_eq!(
        c.limits,
        vec!["cluster `a/r1/c1` is fully used (800 GPUs online)".to_string()]
    );
}

#[test]
fn hard_demand_with_a_share_limit_names_the_provider() {
    // Two providers of 800 GPUs; no provider above 50%: 1,600 could serve, but
    // b has only 200, so a may hold 200 too.
    let src = format!(
        "version = 1\n{}{}{}",
        site(
            "a",
            100.0,
            100,
            r#"{ model = "on-demand", usd_per_gpu_hour = 2.0 }"#
        ),
        site(
            "b",
            100.0,
            25,
            r#"{ model = "on-demand", usd_per_gpu_hour = 2.0 }"#
        ),
        flat_plan(1, 5.0, 1000.0, true).replace(
            "unmet_usd_per_gpu_hour = 5",
            "max_provider_share = 0.5\nunmet_usd_per_gpu_hour = 5"
        )
    );
    let c = &infeasible(&src).conflicts[0];
    assert!(
        c.limits.contains(
            &"provider `a` is at its share limit of 50% of critical capacity".to_string()
        ),
        "{:?}",
        c.limits
    );
    assert!(
        c.limits
            .contains(&"cluster `b/r1/c1` is fully used (200 GPUs online)".to_string())
    );
}

#[test]
fn hard_demand_nobody_may_serve_says_so() {
    let src = format!(
        "version = 1\n{}{}",
        site(
            "a",
            100.0,
            100,
            r#"{ model = "on-demand", usd_per_gpu_hour = 2.0 }"#
        ),
        flat_plan(1, 5.0, 10.0, true).replace(
            "kind = \"training\"",
            "kind = \"training\"\naccelerators = [\"gb300\"]"
        )
    );
    let c = &infeasible(&src).conflicts[0];
    assert_eq!(
        c.limits,
        vec!["no cluster runs an accelerator it accepts, at a provider it accepts".to_string()]
    );
}

#[test]
fn the_same_demand_priced_instead_of_hard_plans() {
    let src = format!(
        "version = 1\n{}{}",
        site(
            "a",
            0.918,
            100,
            r#"{ model = "on-demand", usd_per_gpu_hour = 2.0 }"#
        ),
        flat_plan(2, 5.0, 1000.0, false)
    );
    let p = plan(&src);
    assert_eq!(p.demand["train"].unmet, vec![400.0, 400.0]);
}
