//! The digital twin's invariants on small scenarios: determinism,
//! conservation of GPU-hours and of jobs, and the power envelope under ramps
//! and failures. Goodput against Daly's model is `goodput.rs`.

use gf_model::Document;
use gf_sched::Policy;
use gf_sim::{Sim, SimOptions, Summary};

/// A small two-provider fleet with a ramp, a power-tight site, spot
/// capacity, a contract, training generators and a service.
const SMALL: &str = r#"
version = 1
[[contract]]
name = "k"
provider = "aws"
committed_usd = 20_000_000.0
start = "2026-01-01"
term_months = 12
[[team]]
name = "r"
[[provider]]
name = "aws"
[[provider.region]]
name = "east"
power_mw = 2.0
zone = "us-east"
[[provider.region.cluster]]
name = "nvl"
accelerator = "gb200"
domains = 16
ramp = [ { date = "2026-01-01", domains = 6 }, { date = "2026-01-10", domains = 16 } ]
price = { model = "reserved", usd_per_gpu_hour = 3.0, contract = "k" }
[[provider]]
name = "gcp"
[[provider.region]]
name = "eu"
power_mw = 0.5
zone = "eu-west"
[[provider.region.cluster]]
name = "hgx"
accelerator = "h100"
domains = 40
price = { model = "on-demand", usd_per_gpu_hour = 3.0 }
[[provider.region.cluster]]
name = "spot"
accelerator = "h100"
domains = 20
price = { model = "spot", usd_per_gpu_hour = 1.5, interruption_rate_per_hour = 0.01 }
[[service]]
name = "chat"
team = "r"
model = "m"
gpus_per_replica = 8
throughput = { gb200 = 20.0, h100 = 4.0 }
demand = [ { zone = "us-east", rps = 100.0 }, { zone = "eu-west", rps = 40.0 } ]
latency_slo_ms = 100.0
min_providers = 2
max_share_per_provider = 0.8
[scenario]
start = "2026-01-01"
horizon_days = 20
sample_hours = 6
zone_utc_offset_h = { us-east = -5.0, eu-west = 1.0 }
[[scenario.training]]
name = "res"
team = "r"
priority = 300
arrivals_per_day = 60
accelerators = ["gb200", "h100"]
sizes = [ { gpus = 8, share = 0.6 }, { gpus = 64, share = 0.3 }, { gpus = 288, share = 0.1 } ]
hours_median = 10
[[scenario.training]]
name = "ev"
team = "r"
priority = 100
arrivals_per_day = 30
accelerators = ["h100"]
sizes = [ { gpus = 8, share = 1 } ]
hours_median = 3
spot = true
[[scenario.inference]]
service = "chat"
growth_per_year = 3.0
[scenario.failures]
# Ten times the Llama 3 rate and frequent outages, so a short run sees them all.
gpu_interruptions_per_gpu_day = 0.00474
cluster_outages_per_year = 20
region_outages_per_year = 10
hot_spare_min_gpus = 288
hot_spare_domains = 1
"#;

fn doc(src: &str) -> Document {
    gf_model::parse_document("t.toml", src).unwrap()
}

fn run(d: &Document, seed: u64, policy: &str) -> (Summary, Sim) {
    let mut sim = Sim::new(
        d,
        &SimOptions {
            seed,
            policy: Policy::named(policy).unwrap(),
            until: None,
        },
    )
    .unwrap();
    sim.run(&mut |_| {}).unwrap();
    (sim.summary(), sim)
}

#[test]
fn same_seed_same_bytes_other_seed_other_result() {
    let d = doc(SMALL);
    let a = serde_json::to_string(&run(&d, 7, "default").0).unwrap();
    let b = serde_json::to_string(&run(&d, 7, "default").0).unwrap();
    assert_eq!(a, b);
    let c = serde_json::to_string(&run(&d, 8, "default").0).unwrap();
    assert_ne!(a, c);
}

#[test]
fn gpu_hours_and_jobs_are_conserved() {
    let d = doc(SMALL);
    for policy in ["default", "best-fit"] {
        let (s, sim) = run(&d, 3, policy);
        assert!(s.jobs_submitted > 500, "{}", s.jobs_submitted);
        assert!(s.interruptions > 0 && s.preemptions + s.interruptions > 0);
        // The clusters' allocated GPU-hours (integrated from the engine's
        // own counters) equal the sum over jobs plus the replicas.
        let by_parts = s.training.allocated_gpu_hours + s.inference_gpu_hours;
        assert!(
            (s.gpu_hours_allocated - by_parts).abs() <= 1e-6 * s.gpu_hours_allocated + 0.05,
            "{policy}: clusters {} vs jobs+replicas {by_parts}",
            s.gpu_hours_allocated
        );
        // A job's allocation splits exactly into what it bought.
        let t = &s.training;
        let parts = t.useful_gpu_hours
            + t.checkpoint_gpu_hours
            + t.restart_gpu_hours
            + t.lost_gpu_hours
            + t.spare_gpu_hours;
        assert!((t.allocated_gpu_hours - parts).abs() < 0.05 + 1e-6 * parts);
        // Every job is accounted for, and a waiting one says why.
        let pending: u64 = s.jobs_pending.values().sum();
        assert_eq!(
            s.jobs_completed + s.jobs_failed + s.jobs_cancelled + s.jobs_running + pending,
            s.jobs_submitted
        );
        for j in sim.controller().jobs() {
            // An ended job's record has let go of its live part (a year of
            // a 20M-GPU fleet holds millions of them); a job that may still
            // run keeps it.
            assert_eq!(
                j.has_live_part(),
                !j.state.is_terminal(),
                "{} is {:?}",
                j.spec.name,
                j.state
            );
            if matches!(
                j.state,
                gf_control::JobState::Pending | gf_control::JobState::Interrupted
            ) {
                assert!(
                    !j.reason.is_empty(),
                    "{} waits without a reason",
                    j.spec.name
                );
            }
        }
        // The scheduler's own books agree with the engine's.
        sim.controller()
            .scheduler()
            .index()
            .check_consistent(sim.controller().topology())
            .unwrap();
    }
}

#[test]
fn power_envelope_holds_under_ramps_and_failures() {
    let d = doc(SMALL);
    for seed in 1..=3 {
        let (s, _) = run(&d, seed, "default");
        assert_eq!(s.power_envelope_violations, 0);
        for (name, site) in &s.sites {
            assert!(
                site.power_peak_mw <= site.envelope_mw + 1e-9,
                "{name}: {} MW over {} MW",
                site.power_peak_mw,
                site.envelope_mw
            );
        }
        // The tight EU site is actually bound by power, not by GPUs.
        assert!(s.sites["gcp/eu"].power_peak_mw > 0.45);
    }
}

#[test]
fn until_stops_early_and_policies_compare_on_the_same_world() {
    let d = doc(SMALL);
    let mut sim = Sim::new(
        &d,
        &SimOptions {
            seed: 5,
            policy: Policy::named("cheapest").unwrap(),
            until: gf_model::Date::from_ymd(2026, 1, 5),
        },
    )
    .unwrap();
    sim.run(&mut |_| {}).unwrap();
    let s = sim.summary();
    assert_eq!(s.simulated_days, 4.0);
    // Arrivals and failures come from their own streams: another policy sees the same ones.
    let (a, _) = run(&d, 5, "default");
    let (b, _) = run(&d, 5, "first-fit");
    assert_eq!(a.jobs_submitted, b.jobs_submitted);
    assert_eq!(a.failures["cluster_outage"], b.failures["cluster_outage"]);
}
