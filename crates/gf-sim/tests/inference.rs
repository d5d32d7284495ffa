//! Inference that can miss its SLO for real reasons: a replica serves only
//! once its backend reports it started, after loading its model, and
//! attainment is measured at every scheduling tick against the demand of
//! that instant, not sampled once after each scaling decision. Replicas
//! added as demand rises then serve late, and attainment shows it.

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
throughput = {{ h100 = 4.0 }}
demand = [ {{ zone = "us-east", rps = 1000.0 }} ]
latency_slo_ms = 100.0
min_providers = 2
max_share_per_provider = 0.6
[scenario]
start = "2026-01-01"
horizon_days = 7
schedule_interval_min = 5
zone_utc_offset_h = {{ us-east = -5.0 }}
[[scenario.inference]]
service = "chat"
diurnal_amplitude = 0.6
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

#[test]
fn model_load_time_costs_attainment_and_headroom_buys_it_back() {
    let instant = run(0.0, 1.0).slo_attainment;
    let loading = run(600.0, 1.0).slo_attainment;
    let padded = run(600.0, 1.3).slo_attainment;
    // Sized to the hour's demand with no headroom, a rising hour is short
    // even with instant replicas; ten minutes of loading makes it worse.
    assert!(instant < 0.999, "{instant}");
    assert!(loading < instant - 0.005, "{loading} vs {instant}");
    // Headroom covers the rise and the load.
    assert!(padded > loading + 0.005, "{padded} vs {loading}");
}
