//! Small instances whose optimum is known by hand: the plan and its cost
//! are asserted exactly, with the arithmetic written beside each.

use gf_model::Document;
use gf_plan::Plan;

fn doc(src: &str) -> Document {
    match gf_model::parse_document("t.toml", src) {
        Ok(d) => d,
        Err(e) => panic!(
            "{}",
            e.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

fn plan(src: &str) -> Plan {
    gf_plan::plan_document(&doc(src)).unwrap()
}

/// Two on-demand H100 clusters of 800 GPUs each, one site each, power to spare.
const TWO_CLUSTERS: &str = r#"
version = 1
[[provider]]
name = "a"
[[provider.region]]
name = "r1"
power_mw = 100.0
zone = "us"
[[provider.region.cluster]]
name = "c1"
accelerator = "h100"
domains = 100
price = { model = "on-demand", usd_per_gpu_hour = 2.0 }
[[provider]]
name = "b"
[[provider.region]]
name = "r2"
power_mw = 100.0
zone = "us"
[[provider.region.cluster]]
name = "c2"
accelerator = "h100"
domains = 100
price = { model = "on-demand", usd_per_gpu_hour = 3.0 }
[plan]
start = "2026-01-01"
months = 2
unmet_usd_per_gpu_hour = 5.0
[[plan.demand]]
name = "train"
kind = "training"
curve = [{ date = "2026-01-01", value = 1000.0 }]
"#;

// January has 744 hours, February 2026 672: 1,416 hours in all.
const HOURS: f64 = 744.0 + 672.0;

#[test]
fn the_cheaper_cluster_fills_first_and_the_dearer_one_takes_the_rest() {
    let p = plan(TWO_CLUSTERS);
    assert_eq!(p.capacity.used_by_provider["a"], vec![800.0, 800.0]);
    assert_eq!(p.capacity.used_by_provider["b"], vec![200.0, 200.0]);
    // 800 GPUs at $2 and 200 at $3 for 1,416 hours.
    assert_eq!(p.cost.total_usd, (800.0 * 2.0 + 200.0 * 3.0) * HOURS);
    assert_eq!(p.cost.unmet_penalty_usd, 0.0);
    assert!(p.shortfalls.is_empty());
}

#[test]
fn demand_above_capacity_falls_short_at_the_penalty() {
    let src = TWO_CLUSTERS.replace("value = 1000.0", "value = 2000.0");
    let p = plan(&src);
    // All 1,600 GPUs serve; 400 H100-equivalents are short each month.
    assert_eq!(p.demand["train"].unmet, vec![400.0, 400.0]);
    assert_eq!(p.cost.unmet_penalty_usd, 400.0 * 5.0 * HOURS);
    assert_eq!(
        p.cost.total_usd,
        (800.0 * 2.0 + 800.0 * 3.0 + 400.0 * 5.0) * HOURS
    );
}

#[test]
fn a_penalty_below_the_price_leaves_the_dear_cluster_idle() {
    let src = TWO_CLUSTERS.replace(
        "unmet_usd_per_gpu_hour = 5.0",
        "unmet_usd_per_gpu_hour = 2.5",
    );
    let p = plan(&src);
    // Serving from b costs $3 a GPU-hour, not serving $2.50: b stays idle.
    assert_eq!(p.capacity.used_by_provider["a"], vec![800.0, 800.0]);
    assert!(!p.capacity.used_by_provider.contains_key("b"));
    assert_eq!(p.demand["train"].unmet, vec![200.0, 200.0]);
}

#[test]
fn a_penalty_equal_to_the_price_serves_the_demand() {
    // At $3 serving from b and not serving cost the same; the tie-break serves.
    let src = TWO_CLUSTERS.replace(
        "unmet_usd_per_gpu_hour = 5.0",
        "unmet_usd_per_gpu_hour = 3.0",
    );
    let p = plan(&src);
    assert_eq!(p.capacity.used_by_provider["b"], vec![200.0, 200.0]);
    assert_eq!(p.cost.unmet_penalty_usd, 0.0);
}

#[test]
fn an_all_or_nothing_option_is_exercised_when_it_pays() {
    // 800 reserved H100 at $1; an option of 400 more at $1.50, exercised in
    // January at the latest, online a month later. Demand is 1,000.
    let src = r#"
version = 1
[[provider]]
name = "a"
[[provider.region]]
name = "r1"
power_mw = 100.0
zone = "us"
[[provider.region.cluster]]
name = "c1"
accelerator = "h100"
domains = 100
price = { model = "reserved", usd_per_gpu_hour = 1.0 }
[plan]
start = "2026-01-01"
months = 3
unmet_usd_per_gpu_hour = 5.0
[[plan.demand]]
name = "train"
kind = "training"
curve = [{ date = "2026-01-01", value = 1000.0 }]
[[plan.option]]
name = "more"
cluster = "a/r1/c1"
gpus = 400
lead_months = 1
exercise_by = "2026-01-31"
usd_per_gpu_hour = 1.5
"#;
    let p = plan(src);
    let o = &p.options[0];
    assert!(o.exercised);
    assert_eq!(o.exercise_month.as_deref(), Some("2026-01"));
    assert_eq!(o.online_month.as_deref(), Some("2026-02"));
    // February (672 h) and March (744 h) of 400 GPUs at $1.50.
    assert_eq!(o.cost_usd, 400.0 * 1.5 * (672.0 + 744.0));
    assert_eq!(
        p.capacity.used_by_provider["a"],
        vec![800.0, 1000.0, 1000.0]
    );
    assert_eq!(p.demand["train"].unmet, vec![200.0, 0.0, 0.0]);
    let reserved = 800.0 * 1.0 * (744.0 + 672.0 + 744.0);
    let penalty = 200.0 * 5.0 * 744.0;
    assert_eq!(p.cost.total_usd, reserved + o.cost_usd + penalty);
    assert_eq!(p.model.integers, 1);
}

#[test]
fn an_option_that_does_not_pay_is_left() {
    // The same option at $6 a GPU-hour costs more than the $5 penalty it saves.
    let p = plan(
        &(TWO_CLUSTERS.replace("value = 1000.0", "value = 2000.0")
            + r#"
[[plan.option]]
name = "dear"
cluster = "a/r1/c1"
gpus = 400
lead_months = 0
exercise_by = "2026-01-31"
usd_per_gpu_hour = 6.0
"#),
    );
    assert!(!p.options[0].exercised);
    assert_eq!(p.cost.options_usd, 0.0);
}
