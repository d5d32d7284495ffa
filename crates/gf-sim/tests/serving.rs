//! The latency model of inference requests against the queue it stands for,
//! and the round trips of the fleet's `[latency]` table at work.
//!
//! A replica is an M/M/c queue; the closed form of the share of requests
//! within a latency budget is checked against a request-by-request
//! simulation of that queue (first come, first served), so a slip in the
//! Erlang C or hypoexponential arithmetic shows. Then the whole twin: users
//! in one zone, replicas only in another; a near zone (11 ms, East US ↔ East
//! US 2) meets a tight SLO that a far one (229 ms, East US ↔ Southeast Asia)
//! cannot, both in where the planner may put replicas and in what the
//! requests get.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use gf_sched::Policy;
use gf_sim::serving::{mean_sojourn_s, p_within};
use gf_sim::{Sim, SimOptions, Summary};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp};

/// Sojourn times of `n` requests through an FCFS queue of `c` servers.
fn simulate_queue(c: usize, mu: f64, lambda: f64, n: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (arrive, serve) = (Exp::new(lambda).unwrap(), Exp::new(mu).unwrap());
    // When each server is next free, in integer nanoseconds for a total order.
    let mut free: BinaryHeap<Reverse<u64>> = (0..c).map(|_| Reverse(0)).collect();
    let mut t = 0.0f64;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        t += arrive.sample(&mut rng);
        let Reverse(f) = free.pop().unwrap();
        let start = t.max(f as f64 / 1e9);
        let end = start + serve.sample(&mut rng);
        free.push(Reverse((end * 1e9) as u64));
        out.push(end - t);
    }
    out
}

#[test]
fn the_closed_form_matches_a_simulated_replica() {
    // (slots, per-slot rate, arrivals): one slot; a batching replica at 85%
    // load; many slots at 90%.
    for (k, &(c, mu, lambda)) in [(1u32, 10.0, 7.0), (8, 2.0, 13.6), (32, 0.5, 14.4)]
        .iter()
        .enumerate()
    {
        // Warm-up dropped: the queue starts empty, the closed form is the
        // steady state.
        let xs = simulate_queue(c as usize, mu, lambda, 400_000, 7 + k as u64);
        let xs = &xs[20_000..];
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let want_mean = mean_sojourn_s(c, mu, lambda);
        assert!(
            (mean - want_mean).abs() < 0.03 * want_mean,
            "c={c}: simulated mean {mean:.4} s vs closed form {want_mean:.4} s"
        );
        for q in [0.5, 1.0, 2.0, 4.0] {
            let t = q / mu;
            let share = xs.iter().filter(|&&x| x <= t).count() as f64 / xs.len() as f64;
            let want = p_within(c, mu, lambda, t);
            assert!(
                (share - want).abs() < 0.01,
                "c={c}, t={t:.3}: simulated {share:.4} vs closed form {want:.4}"
            );
        }
    }
}

/// Users in `us-east`; replicas may only run in `site_zone`, which is
/// `rtt_ms` away.
fn two_zones(site_zone: &str, rtt_ms: f64, slo_ms: f64) -> Summary {
    let src = format!(
        r#"
version = 1
[latency]
pairs = [ {{ zones = ["us-east", "{site_zone}"], rtt_ms = {rtt_ms} }} ]
[[team]]
name = "t"
[[provider]]
name = "aws"
[[provider.region]]
name = "users"
power_mw = 1.0
zone = "us-east"
[[provider.region.cluster]]
name = "tiny"
accelerator = "h100"
domains = 1
price = {{ model = "on-demand", usd_per_gpu_hour = 3.0 }}
[[provider.region]]
name = "far"
power_mw = 20.0
zone = "{site_zone}"
[[provider.region.cluster]]
name = "hgx"
accelerator = "h100"
domains = 400
price = {{ model = "on-demand", usd_per_gpu_hour = 3.0 }}
[[service]]
name = "chat"
team = "t"
model = "m"
gpus_per_replica = 8
throughput = {{ h100 = 100.0 }}
service_ms = 20.0
demand = [ {{ zone = "us-east", rps = 200.0 }} ]
latency_slo_ms = {slo_ms}
regions = ["far"]
[scenario]
start = "2026-01-05"
horizon_days = 2
schedule_interval_min = 5
[[scenario.inference]]
service = "chat"
diurnal_amplitude = 0.0
headroom = 1.3
[scenario.failures]
gpu_interruptions_per_gpu_day = 0
domain_failures_per_domain_year = 0
cluster_outages_per_year = 0
region_outages_per_year = 0
"#
    );
    let d = gf_model::parse_document("zones.toml", &src).unwrap_or_else(|e| panic!("{e:?}"));
    let mut sim = Sim::new(
        &d,
        &SimOptions {
            seed: 1,
            policy: Policy::named("default").unwrap(),
            until: None,
        },
    )
    .unwrap();
    sim.run(&mut |_| {}).unwrap();
    sim.summary()
}

#[test]
fn a_far_zone_misses_a_tight_slo_that_a_near_one_meets() {
    // 150 ms leaves the near zone 139 ms for queueing and a 20 ms service
    // (two slots of a 100 requests/s replica); the far zone's round trip
    // alone is over it.
    let near = two_zones("us-east-2", 11.0, 150.0);
    let far = two_zones("asia-southeast", 229.0, 150.0);
    let n = &near.services["chat"];
    let f = &far.services["chat"];
    assert!(n.slo_attainment > 0.95, "near: {n:?}");
    assert!(f.slo_attainment < 0.05, "far: {f:?}");
    // The planner sizes the near zone for the demand; it does not size a
    // zone that cannot serve it, and keeps only the service's minimum there.
    assert!(n.replicas_peak >= 3, "near: {n:?}");
    assert!(f.replicas_peak <= 1, "far: {f:?}");
    // The latency is the round trip plus the queue: the near zone's mean
    // sits above 11 + 20 ms.
    assert!(
        n.mean_latency_ms > 31.0 && n.mean_latency_ms < 60.0,
        "near: {n:?}"
    );
    // A looser SLO lets the far zone serve too, every request paying 229 ms.
    let loose = two_zones("asia-southeast", 229.0, 400.0);
    let l = &loose.services["chat"];
    assert!(l.slo_attainment > 0.95, "loose: {l:?}");
    assert!(l.mean_latency_ms > 249.0, "loose: {l:?}");
}
