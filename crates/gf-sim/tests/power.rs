//! Power as a site's meter reads it: an online GPU that computes nothing
//! still draws its idle floor, a computing one its load, and the site's PUE
//! scales both. A 16,384-GPU gang stalled by a restart or a checkpoint is
//! then a drop of megawatts (Llama 3 reports swings of tens of MW).

use gf_sched::Policy;
use gf_sim::{Sim, SimOptions, Summary};

fn src(pue: f64) -> String {
    format!(
        r#"
version = 1
[[team]]
name = "t"
[[provider]]
name = "meta"
[[provider.region]]
name = "dc"
power_mw = 40.0
zone = "us"
[[provider.region.cluster]]
name = "h100"
accelerator = "h100"
domains = 2100
price = {{ model = "reserved", usd_per_gpu_hour = 2.0 }}
[[job]]
name = "frontier"
team = "t"
gpus = 16384
accelerators = ["h100"]
work_gpu_hours = 7864320.0
checkpoint_cost_min = 5.0
preemptible = false
[scenario]
start = "2024-01-01"
horizon_days = 2
sample_hours = 0.02
schedule_interval_min = 1
[scenario.failures]
domain_failures_per_domain_year = 0
cluster_outages_per_year = 0
region_outages_per_year = 0
hot_spare_domains = 0
[scenario.power]
metered = true
idle_share = 0.3
site_pue = {{ "meta/dc" = {pue} }}
"#
    )
}

fn run(pue: f64) -> Summary {
    let d = gf_model::parse_document("power.toml", &src(pue)).unwrap_or_else(|e| panic!("{e:?}"));
    let mut sim = Sim::new(
        &d,
        &SimOptions {
            seed: 2,
            policy: Policy::named("default").unwrap(),
            until: None,
        },
    )
    .unwrap();
    sim.run(&mut |_| {}).unwrap();
    sim.summary()
}

#[test]
fn a_stalled_16k_gang_is_a_drop_of_megawatts() {
    let s = run(1.2);
    let m = s.power_metered.clone().unwrap();
    // 16,800 H100s at 1.53 kW each (PUE 1.2): 25.7 MW at load, 7.7 MW idle.
    // The gang computes most of the time; its stalls (checkpoints every
    // ~40 minutes, restarts after failures) fall to the idle floor.
    let gang_swing = 16_384.0 * 1.53e-3 * 0.7;
    assert!(m.peak_mw > 7.7 + gang_swing - 0.5, "{m:?}");
    assert!(m.min_mw < 7.7 + 0.5, "{m:?}");
    assert!(m.peak_mw - m.min_mw > 15.0, "{m:?}");
    // The admission figure counts the allocated gang at load throughout.
    assert!((s.power_peak_mw - 16_384.0 * 1.53e-3).abs() < 0.5);
}

#[test]
fn the_sites_pue_scales_what_its_meter_reads() {
    let (a, b) = (run(1.2), run(1.5));
    let (ma, mb) = (a.power_metered.unwrap(), b.power_metered.unwrap());
    assert!(
        (mb.mean_mw / ma.mean_mw - 1.5 / 1.2).abs() < 1e-3,
        "{ma:?} {mb:?}"
    );
}
