//! Commitment burn: a use-it-or-lose-it contract is used first when burning
//! it is cheaper than forgoing it, and what cannot be burned is reported lost.

mod common;
use common::*;

// January 2026: 744 hours.
const H: f64 = 744.0;

fn fleet(committed: f64) -> String {
    format!(
        r#"version = 1
[[contract]]
name = "ka"
provider = "a"
committed_usd = {committed}
start = "2026-01-01"
term_months = 1
{}{}{}"#,
        site(
            "a",
            100.0,
            100,
            r#"{ model = "on-demand", usd_per_gpu_hour = 3.0, contract = "ka" }"#
        ),
        site(
            "b",
            100.0,
            100,
            r#"{ model = "on-demand", usd_per_gpu_hour = 2.0 }"#
        ),
        flat_plan(1, 10.0, 1000.0, false)
    )
}

#[test]
fn without_a_commitment_the_cheaper_cluster_fills_first() {
    let p = plan(&fleet(0.0));
    assert_eq!(p.capacity.used_by_provider["b"], vec![800.0]);
    assert_eq!(p.capacity.used_by_provider["a"], vec![200.0]);
    assert_eq!(p.cost.total_usd, (800.0 * 2.0 + 200.0 * 3.0) * H);
}

#[test]
fn a_commitment_is_burned_first_when_it_would_otherwise_be_lost() {
    // $3 x 600 GPUs x 744 h is committed: those 600 GPU-months on `a` cost
    // nothing more than losing the commitment would, so `a` serves 600 and
    // the cheaper `b` only the remaining 400.
    let committed = 3.0 * 600.0 * H;
    let p = plan(&fleet(committed));
    assert_eq!(p.capacity.used_by_provider["a"], vec![600.0]);
    assert_eq!(p.capacity.used_by_provider["b"], vec![400.0]);
    let k = &p.contracts["ka"];
    assert_eq!(k.spent_usd, committed);
    assert_eq!(k.lost_usd, 0.0);
    assert_eq!(k.burn_ratio, 1.0);
    assert_eq!(p.cost.total_usd, committed + 400.0 * 2.0 * H);
}

#[test]
fn a_commitment_larger_than_its_cluster_can_burn_is_partly_lost() {
    // 1,000 GPUs' worth is committed but `a` has 800: 200 GPU-months of
    // commitment are lost, and `b` serves the 200 GPUs `a` cannot.
    let committed = 3.0 * 1000.0 * H;
    let p = plan(&fleet(committed));
    assert_eq!(p.capacity.used_by_provider["a"], vec![800.0]);
    assert_eq!(p.capacity.used_by_provider["b"], vec![200.0]);
    let k = &p.contracts["ka"];
    assert_eq!(k.spent_usd, 3.0 * 800.0 * H);
    assert_eq!(k.lost_usd, 3.0 * 200.0 * H);
    assert_eq!(k.burn_ratio, 0.8);
    assert_eq!(p.cost.lost_commitment_usd, 3.0 * 200.0 * H);
    assert_eq!(p.cost.total_usd, committed + 200.0 * 2.0 * H);
}

#[test]
fn a_reserved_cluster_burns_its_contract_whether_used_or_not() {
    let src = format!(
        r#"version = 1
[[contract]]
name = "ka"
provider = "a"
committed_usd = 1000000.0
start = "2026-01-01"
term_months = 1
{}{}"#,
        site(
            "a",
            100.0,
            100,
            r#"{ model = "reserved", usd_per_gpu_hour = 1.0, contract = "ka" }"#
        ),
        flat_plan(1, 10.0, 100.0, false)
    );
    let p = plan(&src);
    // 800 GPUs x $1 x 744 h are billed though only 100 are used.
    assert_eq!(p.contracts["ka"].spent_usd, 800.0 * H);
    assert_eq!(p.contracts["ka"].lost_usd, 1_000_000.0 - 800.0 * H);
    assert_eq!(p.capacity.used_by_provider["a"], vec![100.0]);
}
