//! Inference that can miss its SLO for real reasons: a replica serves only
//! once its backend reports it started, after loading its model; each
//! request waits in an M/M/c queue at its replica's load; demand follows the
//! shape of the Azure LLM inference trace 2024 (conversation: a daily swing
//! of 0.55, weekends at half, minute-to-minute bursts of 8%); and attainment
//! is the share of requests within the SLO minute by minute, not a sample
//! after each scaling decision. Replicas added as demand rises serve late,
//! and a replica run near saturation queues, and attainment shows both.
//!
//! `cargo test -p gf-sim --test inference -- --nocapture` prints the table
//! of docs/fidelity.md.

use gf_sched::Policy;
use gf_sim::{Sim, SimOptions, Summary};

fn src(load_s: f64, headroom: f64) -> String {
    format!(
        r#"
version = 1
[[team]]
name = "t"
[[provider]]
name = "aws"
[[provider.region]]
name = "east"
power_mw = 20.0
zone = "us-east"
[[provider.region.cluster]]
name = "hgx"
accelerator = "h100"
domains = 400
price = {{ model = "on-demand", usd_per_gpu_hour = 3.0 }}
[[provider]]
name = "gcp"
[[provider.region]]
name = "east"
power_mw = 20.0
zone = "us-east"
[[provider.region.cluster]]
name = "a3"
accelerator = "h100"
domains = 400
price = {{ model = "on-demand", usd_per_gpu_hour = 3.0 }}
[[service]]
name = "chat"
team = "t"
model = "m"
gpus_per_replica = 8
throughput = {{ h100 = 40.0 }}
service_ms = 100.0
demand = [ {{ zone = "us-east", rps = 10000.0 }} ]
latency_slo_ms = 1000.0
min_providers = 2
max_share_per_provider = 0.6
[scenario]
start = "2026-01-05"
horizon_days = 7
schedule_interval_min = 5
zone_utc_offset_h = {{ us-east = -5.0 }}
[[scenario.inference]]
service = "chat"
diurnal_amplitude = 0.55
weekend_factor = 0.5
burst_cv = 0.08
headroom = {headroom}
model_load_s = {load_s}
[scenario.failures]
gpu_interruptions_per_gpu_day = 0
domain_failures_per_domain_year = 0
cluster_outages_per_year = 0
region_outages_per_year = 0
"#
    )
}

fn run(load_s: f64, headroom: f64) -> Summary {
    let d = gf_model::parse_document("inference.toml", &src(load_s, headroom))
        .unwrap_or_else(|e| panic!("{e:?}"));
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

const LOADS: [f64; 3] = [0.0, 84.0, 600.0];
const HEADROOMS: [f64; 3] = [1.0, 1.15, 1.3];

#[test]
fn model_load_time_costs_attainment_and_headroom_buys_it_back() {
    let mut at = [[0.0f64; 3]; 3];
    println!("| replicas load in | headroom 1.0 | headroom 1.15 | headroom 1.3 |");
    println!("|---|---|---|---|");
    for (i, &load) in LOADS.iter().enumerate() {
        let mut row = format!("| {load} s |");
        for (j, &h) in HEADROOMS.iter().enumerate() {
            let s = run(load, h);
            at[i][j] = s.slo_attainment;
            let c = &s.services["chat"];
            row += &format!(" {:.4} ({:.0} ms) |", c.slo_attainment, c.mean_latency_ms);
        }
        println!("{row}");
    }
    for j in 0..3 {
        // Loading longer never helps, and ten minutes of it costs.
        assert!(at[0][j] >= at[1][j] && at[1][j] >= at[2][j], "{at:?}");
    }
    assert!(at[2][0] < at[0][0] - 0.005, "{at:?}");
    for row in &at {
        // Sized to the hour's demand with no headroom, replicas run near
        // saturation as the hour's demand rises and bursts: requests queue.
        assert!(row[0] < 0.99, "{at:?}");
        // Headroom buys it back.
        assert!(row[2] > row[0] + 0.005, "{at:?}");
    }
}
