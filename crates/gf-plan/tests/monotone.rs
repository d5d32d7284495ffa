//! What-if monotonicity, property-tested on small random fleets: less power
//! or less capacity never lowers the cost of the best plan, and more demand
//! never lowers it either (each shrinks the set of feasible plans).

mod common;
use common::*;
use gf_model::Catalog;
use gf_model::plan::WhatIf;
use proptest::prelude::*;

fn what_if() -> WhatIf {
    gf_model::parse_what_if("t", "demand_factor=1", &doc(&fleet(&Fleet::small()))).unwrap()
}

#[derive(Debug, Clone)]
struct Fleet {
    clusters: Vec<(u32, f64, bool, f64)>,
    demand: f64,
    penalty: f64,
    committed: f64,
    option_gpus: u64,
}

impl Fleet {
    fn small() -> Fleet {
        Fleet {
            clusters: vec![(10, 2.0, false, 1.0)],
            demand: 100.0,
            penalty: 3.0,
            committed: 0.0,
            option_gpus: 0,
        }
    }
}

fn fleet(f: &Fleet) -> String {
    let mut s = String::from("version = 1\n");
    if f.committed > 0.0 {
        s.push_str(&format!(
            "[[contract]]\nname = \"k\"\nprovider = \"p0\"\ncommitted_usd = {}\nstart = \"2026-01-01\"\nterm_months = 3\n",
            f.committed
        ));
    }
    for (i, &(domains, price, reserved, mw)) in f.clusters.iter().enumerate() {
        let contract = if i == 0 && f.committed > 0.0 {
            ", contract = \"k\""
        } else {
            ""
        };
        let model = if reserved { "reserved" } else { "on-demand" };
        s.push_str(&site(
            &format!("p{i}"),
            mw,
            domains,
            &format!("{{ model = \"{model}\", usd_per_gpu_hour = {price}{contract} }}"),
        ));
    }
    s.push_str(
        &flat_plan(3, f.penalty, f.demand, false)
            .replace("unmet_usd", "max_provider_share = 0.8\nunmet_usd"),
    );
    if f.option_gpus > 0 {
        s.push_str(&format!(
            "[[plan.option]]\nname = \"o\"\ncluster = \"p0/r1/c1\"\ngpus = {}\nlead_months = 1\nexercise_by = \"2026-02-01\"\nusd_per_gpu_hour = 1.5\ndivisible = true\n",
            f.option_gpus
        ));
    }
    s
}

fn fleets() -> impl Strategy<Value = Fleet> {
    (
        prop::collection::vec((1u32..40, 0.5f64..4.0, any::<bool>(), 0.05f64..1.0), 2..4),
        50.0f64..1500.0,
        0.5f64..6.0,
        prop_oneof![Just(0.0), 1e4f64..2e6],
        prop_oneof![Just(0u64), 8u64..400],
    )
        .prop_map(
            |(clusters, demand, penalty, committed, option_gpus)| Fleet {
                clusters,
                demand,
                penalty,
                committed,
                option_gpus,
            },
        )
}

fn cost(src: &str, w: Option<&WhatIf>) -> f64 {
    let mut inst = instance(src);
    if let Some(w) = w {
        inst.apply(w, &Catalog::builtin()).unwrap();
    }
    gf_plan::objective(&inst).unwrap()
}

fn no_lower(after: f64, before: f64) -> bool {
    after >= before - 1e-6 * before.abs().max(1.0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn less_power_never_lowers_cost(f in fleets(), cut in 0.01f64..0.9) {
        let src = fleet(&f);
        let base = cost(&src, None);
        let mut w = what_if();
        w.power_site = Some("p0/r1".into());
        w.power_delta_mw = -cut;
        let after = cost(&src, Some(&w));
        prop_assert!(no_lower(after, base), "{after} < {base}");
    }

    #[test]
    fn less_capacity_never_lowers_cost(f in fleets(), share in 0.05f64..1.0) {
        let src = fleet(&f);
        let base = cost(&src, None);
        let mut w = what_if();
        w.cut_provider = Some("p0".into());
        w.cut_share = share;
        let after = cost(&src, Some(&w));
        prop_assert!(no_lower(after, base), "{after} < {base}");
    }

    #[test]
    fn more_demand_never_lowers_cost(f in fleets(), factor in 1.0f64..3.0) {
        let src = fleet(&f);
        let base = cost(&src, None);
        let mut w = what_if();
        w.demand_factor = factor;
        let after = cost(&src, Some(&w));
        prop_assert!(no_lower(after, base), "{after} < {base}");
    }

    #[test]
    fn the_same_input_gives_the_same_plan(f in fleets()) {
        let src = fleet(&f);
        prop_assert_eq!(plan(&src), plan(&src));
    }
}
