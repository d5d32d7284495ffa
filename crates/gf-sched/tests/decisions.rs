//! Decisions are part of the persisted protocol (an explain answer, a log of
//! why): v1 JSON fixtures of each outcome — placed with the per-cluster
//! verdicts and scores, preemption with its victims, no fit with its causes —
//! are committed and checked both ways, so a change that breaks a stored
//! decision is caught. `UPDATE_FIXTURES=1` rewrites them.

use std::path::PathBuf;

use gf_model::PriceModel;
use gf_sched::{Decision, Outcome, Request};
use gf_testkit::{fleet, job, scheduler};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/v1/{name}.json"))
}

/// The decision serialises to exactly the committed file, and the file
/// reads back to the same decision.
fn check(name: &str, d: &Decision) {
    let json = serde_json::to_string_pretty(d).unwrap() + "\n";
    let path = fixture(name);
    if std::env::var_os("UPDATE_FIXTURES").is_some() {
        std::fs::write(&path, &json).unwrap();
    }
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_FIXTURES=1 writes it)", path.display()));
    assert_eq!(json, committed, "{name} no longer serialises as committed");
    let back: Decision = serde_json::from_str(&committed).unwrap();
    assert_eq!(&back, d, "{name} does not read back");
}

#[test]
fn placed_no_fit_and_preempt_decisions_are_stable_v1() {
    let doc = fleet()
        .provider("aws")
        .region("east", 20.0, "us-east")
        .cluster_with("nvl", "gb200", 2, PriceModel::Reserved, 4.0, None)
        .build();
    let mut s = scheduler(&doc, "default", 7);
    let topo = s.topology().clone();
    let low = Request::from_job(&topo, 1, &job("low").gpus(144).priority(100).build()).unwrap();
    let placed = s.decide(0, &low, true);
    assert!(matches!(placed.outcome, Outcome::Placed(_)));
    check("decision_placed", &placed);
    s.commit(0, &low, placed.placement().unwrap()).unwrap();

    let other = Request::from_job(&topo, 2, &job("same").gpus(72).priority(100).build()).unwrap();
    let no_fit = s.decide(0, &other, true);
    assert!(matches!(no_fit.outcome, Outcome::NoFit));
    check("decision_no_fit", &no_fit);

    let high = Request::from_job(&topo, 3, &job("high").gpus(72).priority(900).build()).unwrap();
    let preempt = s.decide(3600, &high, true);
    assert!(matches!(preempt.outcome, Outcome::Preempt { .. }));
    check("decision_preempt", &preempt);
}
