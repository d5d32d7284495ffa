//! Frontier goodput against the model it must agree with: one 16,384-GPU job
//! at the Llama 3 interruption rate, run by the production controller on the
//! simulated world, reaches the effective training time ratio (ETTR) Daly's
//! model expects for its checkpoint and restart costs — both for the 2023
//! practice (a 5-minute blocking checkpoint, a 15-minute restart) and for
//! today's (a 10-second stall, a 2-minute restart) — and the Young/Daly
//! interval beats half and double of itself.
//!
//! Nothing here is tuned to the twin: the expected values come from Daly's
//! formula with the costs the scenario states, and the twin's ETTR from the
//! world's account of what each GPU-second bought.

use gf_model::Document;
use gf_model::scenario::LLAMA3_INTERRUPTIONS_PER_GPU_DAY;
use gf_sched::Policy;
use gf_sim::{Sim, SimOptions, Summary};
use proptest::prelude::*;

const DAY_S: f64 = 86_400.0;

/// Checkpoint and restart costs of one setting, as the scenario states them.
#[derive(Debug, Clone, Copy)]
struct Practice {
    /// Blocking stall per checkpoint, seconds.
    stall_s: f64,
    /// Start-up overhead of every run, seconds.
    overhead_s: f64,
    /// Detection of a failure, seconds.
    detect_s: f64,
    /// Initialisation per 1,000 GPUs, seconds.
    init_s_per_1k: f64,
}

impl Practice {
    /// 2023: a 5-minute blocking checkpoint and a 15-minute restart (10
    /// minutes of start-up plus 5 reading the checkpoint).
    const Y2023: Practice = Practice {
        stall_s: 300.0,
        overhead_s: 600.0,
        detect_s: 0.0,
        init_s_per_1k: 0.0,
    };
    /// Today: a 10-second stall and a 2-minute restart (30 s detection,
    /// 3 s of initialisation per 1,000 GPUs, 31 s start-up, 10 s read).
    const TODAY: Practice = Practice {
        stall_s: 10.0,
        overhead_s: 31.0,
        detect_s: 30.0,
        init_s_per_1k: 3.0,
    };

    /// Seconds from a failure's detection-to-compute for a gang of `gpus`
    /// (the world's restart phase after an interruption).
    fn restart_s(&self, gpus: u32) -> f64 {
        self.overhead_s
            + (self.detect_s + self.init_s_per_1k * gpus as f64 / 1000.0).round()
            + self.stall_s
    }
}

/// One job of `gpus` H100s alone on a cluster with room to re-place it, for
/// `days` of compute, the fleet failing at the Llama 3 rate (GPUs only,
/// 78% hardware: the host is out for repair and the job waits for the next
/// scheduling pass, every minute, to be placed again).
fn scenario(gpus: u32, days: f64, p: Practice, interval_min: Option<f64>, hw: f64) -> Document {
    let domains = gpus.div_ceil(8) + 160;
    let interval = interval_min.map_or(String::new(), |m| {
        format!("checkpoint_interval_min = {m}\n")
    });
    let src = format!(
        r#"
version = 1
[[team]]
name = "t"
[[provider]]
name = "meta"
[[provider.region]]
name = "dc"
power_mw = 2000.0
zone = "us"
[[provider.region.cluster]]
name = "h100"
accelerator = "h100"
domains = {domains}
price = {{ model = "reserved", usd_per_gpu_hour = 2.0 }}
[[job]]
name = "frontier"
team = "t"
gpus = {gpus}
accelerators = ["h100"]
work_gpu_hours = {work}
checkpoint_cost_min = {cost}
{interval}preemptible = false
[scenario]
start = "2024-01-01"
horizon_days = {horizon}
sample_hours = 24
schedule_interval_min = 1
autoscale_interval_min = 1440
[scenario.failures]
hardware_share = {hw}
domain_failures_per_domain_year = 0
cluster_outages_per_year = 0
region_outages_per_year = 0
hot_spare_domains = 0
retry_budget = {{ hardware = 100000, software = 100000, preemption = 100000 }}
[scenario.checkpoint]
restart_overhead_min = {overhead}
detect_s = {detect}
init_s_per_1k_gpus = {init}
"#,
        work = gpus as f64 * days * 24.0,
        cost = p.stall_s / 60.0,
        horizon = (days * 2.5).ceil() as u32,
        overhead = p.overhead_s / 60.0,
        detect = p.detect_s,
        init = p.init_s_per_1k,
    );
    gf_model::parse_document("goodput.toml", &src).unwrap_or_else(|e| panic!("{e:?}"))
}

fn run(d: &Document, seed: u64) -> Summary {
    let mut sim = Sim::new(
        d,
        &SimOptions {
            seed,
            policy: Policy::named("default").unwrap(),
            until: None,
        },
    )
    .unwrap();
    sim.run(&mut |_| {}).unwrap();
    sim.summary()
}

/// Daly's (2006) complete model of the wall time to compute one segment of
/// `tau` seconds followed by a checkpoint of `delta`, under exponential
/// failures of mean `m` and a restart of `r` (itself exposed to failures):
/// `m · e^(r/m) · (e^((tau+delta)/m) − 1)`. The expected ETTR is `tau` over it.
fn daly_ettr(tau: f64, delta: f64, r: f64, m: f64) -> f64 {
    tau / (m * (r / m).exp() * ((tau + delta) / m).exp_m1())
}

/// The job's ETTR in the twin, and the interval the controller chose.
fn twin_ettr(s: &Summary) -> (f64, f64) {
    let j = &s.training.large_jobs[0];
    assert_eq!(j.state, "completed", "{j:?}");
    (j.ettr, j.checkpoint_interval_min * 60.0)
}

/// The twin's mean ETTR over seeds against Daly's expectation for the same
/// costs. A hardware failure waits for the next pass (uniform over the
/// minute between passes): half a minute more restart on average.
fn check_against_daly(p: Practice) {
    let gpus = 16_384;
    let d = scenario(gpus, 30.0, p, None, 0.78);
    let m = DAY_S / (LLAMA3_INTERRUPTIONS_PER_GPU_DAY * gpus as f64);
    let r = p.restart_s(gpus) + 0.78 * 30.0;
    let seeds = 1..=4u64;
    let mut sum = 0.0;
    let mut expected = 0.0;
    for seed in seeds.clone() {
        let s = run(&d, seed);
        let (ettr, tau) = twin_ettr(&s);
        expected = daly_ettr(tau, p.stall_s, r, m);
        eprintln!("seed {seed}: twin {ettr:.4}, Daly {expected:.4} (interval {tau} s)");
        sum += ettr;
    }
    let mean = sum / seeds.count() as f64;
    assert!(
        (mean - expected).abs() < 0.015,
        "mean ETTR {mean:.4} vs Daly's {expected:.4} for {p:?}"
    );
}

#[test]
fn a_16k_gpu_run_with_2023_checkpoints_matches_daly() {
    check_against_daly(Practice::Y2023);
}

#[test]
fn a_16k_gpu_run_with_todays_checkpoints_matches_daly() {
    check_against_daly(Practice::TODAY);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// Young/Daly's interval gives more effective training time than half
    /// or double of it, whatever the checkpoint cost and failure rate, on
    /// the same seed (so the three runs see the same failure times).
    #[test]
    fn young_daly_beats_half_and_double(
        stall_s in 60.0f64..600.0,
        rate_mult in 2.0f64..8.0,
        seed in 1u64..1000,
    ) {
        // A 4,096-GPU job at several times the Llama 3 rate with software
        // faults only (restarts in place): a mean time between failures of
        // 1.5 to 6 hours, a few hundred failures over the run.
        let gpus = 4096u32;
        let p = Practice { stall_s, overhead_s: 300.0, detect_s: 0.0, init_s_per_1k: 0.0 };
        let m = DAY_S / (LLAMA3_INTERRUPTIONS_PER_GPU_DAY * rate_mult * gpus as f64);
        let tau = gf_control::young_daly_interval_s(stall_s, m);
        let ettr = |k: f64| {
            let src = scenario(gpus, 40.0, p, Some(tau * k / 60.0), 0.0);
            let mut d = src;
            d.scenario.as_mut().unwrap().failures.gpu_interruptions_per_gpu_day =
                LLAMA3_INTERRUPTIONS_PER_GPU_DAY * rate_mult;
            twin_ettr(&run(&d, seed)).0
        };
        let (best, half, double) = (ettr(1.0), ettr(0.5), ettr(2.0));
        prop_assert!(best > half && best > double, "{best} vs half {half}, double {double}");
    }
}

/// The controller is never told the injected rate: it starts from the
/// published Llama 3 rate and learns the rest from the interruptions its
/// backend reports. At four times that rate its estimate lands on the truth
/// and its intervals follow Young/Daly for the true rate, half as long as
/// the prior's.
#[test]
fn the_controller_learns_the_rate_it_is_never_told() {
    let gpus = 16_384;
    let mut d = scenario(gpus, 20.0, Practice::TODAY, None, 0.78);
    let sc = d.scenario.as_mut().unwrap();
    sc.failures.gpu_interruptions_per_gpu_day = 4.0 * LLAMA3_INTERRUPTIONS_PER_GPU_DAY;
    let s = run(&d, 3);
    let r = &s.training.interruption_rates["meta/dc/h100"];
    let ratio = r.estimated_per_gpu_day / r.injected_per_gpu_day;
    assert!((ratio - 1.0).abs() < 0.1, "{r:?}");
    let m_true = DAY_S / (4.0 * LLAMA3_INTERRUPTIONS_PER_GPU_DAY * gpus as f64);
    let want = gf_control::young_daly_interval_s(10.0, m_true);
    let (_, tau) = twin_ettr(&s);
    assert!(
        (tau / want - 1.0).abs() < 0.1,
        "interval {tau} s, Young/Daly {want} s"
    );
    // The same run told the truth by an oracle chooses the same interval.
    d.scenario.as_mut().unwrap().checkpoint.oracle_rates = true;
    let (_, oracle) = twin_ettr(&run(&d, 3));
    assert!(
        (tau / oracle - 1.0).abs() < 0.1,
        "learnt {tau} s, oracle {oracle} s"
    );
}

/// Partial restart: a 16,384-GPU job in replica groups of 1,024 GPUs loses
/// no compute to a failure that spares the other groups, and restarts only
/// the failed group's initialisation. Its ETTR is then the stall's share
/// and the restarts' alone, `τ/(τ+C) / (1 + λR)` with `R` the partial
/// restart, well above the whole-gang restart's.
#[test]
fn partial_restart_loses_no_compute_and_restarts_one_group() {
    let gpus = 16_384;
    let p = Practice::TODAY;
    let whole = scenario(gpus, 30.0, p, None, 0.78);
    let mut part = whole.clone();
    part.scenario
        .as_mut()
        .unwrap()
        .checkpoint
        .replica_group_gpus = 1024;
    let (w, s) = (run(&whole, 5), run(&part, 5));
    assert!(s.training.lost_gpu_hours < 1e-6, "{:?}", s.training);
    assert!(w.training.lost_gpu_hours > 1000.0, "{:?}", w.training);
    let (ettr, tau) = twin_ettr(&s);
    let m = DAY_S / (LLAMA3_INTERRUPTIONS_PER_GPU_DAY * gpus as f64);
    let r = p.overhead_s
        + (p.detect_s + p.init_s_per_1k * 1024.0 / 1000.0).round()
        + p.stall_s
        + 0.78 * 30.0;
    let expected = tau / (tau + p.stall_s) / (1.0 + r / m);
    assert!(
        (ettr - expected).abs() < 0.015,
        "twin {ettr}, model {expected}"
    );
    assert!(ettr > twin_ettr(&w).0 + 0.02);
}

/// Hot spares buy back the re-placement wait: with scheduling passes every
/// ten minutes a gang whose rack fails waits five minutes on average for
/// the next pass, unless a spare rack takes the failed one's place at once.
/// The ETTR with spares is the ETTR without them with that wait removed for
/// every swap the run reports.
#[test]
fn spares_save_the_re_placement_wait_of_every_swap() {
    let gpus = 16_384;
    let mut none = scenario(gpus, 30.0, Practice::TODAY, None, 0.78);
    none.scenario.as_mut().unwrap().schedule_interval_min = 10.0;
    let mut spares = none.clone();
    let f = &mut spares.scenario.as_mut().unwrap().failures;
    f.hot_spare_min_gpus = 1;
    f.hot_spare_domains = 2;
    let (mut got, mut want, mut base) = (0.0, 0.0, 0.0);
    for seed in 1..=3u64 {
        let (n, s) = (run(&none, seed), run(&spares, seed));
        let useful_s = |x: &Summary| x.training.useful_gpu_hours * 3600.0 / gpus as f64;
        let wall_none = useful_s(&n) / twin_ettr(&n).0;
        let swaps = s.training.hot_spare_swaps as f64;
        assert!(swaps > 100.0, "{swaps}");
        want += useful_s(&s) / (wall_none - swaps * 300.0);
        got += twin_ettr(&s).0;
        base += twin_ettr(&n).0;
    }
    let (got, want, base) = (got / 3.0, want / 3.0, base / 3.0);
    assert!(
        (got - want).abs() < 0.01,
        "with spares {got}, predicted {want}"
    );
    assert!(got > base + 0.01, "with spares {got}, without {base}");
}

/// Partial restart with the rest continuing: the surviving replica groups
/// train on through the re-placement wait and the failed group's restart,
/// so a failure costs the gang the failed group's share `g/N` of the wait
/// `w` and the restart `R`, not all of them: the ETTR is
/// `τ/(τ+C) / (1 + λ(w+R)·g/N)`, above the waiting mode's.
#[test]
fn partial_restart_with_the_rest_continuing_costs_one_groups_share() {
    let (gpus, group) = (16_384u32, 1024u32);
    let p = Practice::TODAY;
    let mut wait = scenario(gpus, 30.0, p, None, 0.78);
    wait.scenario
        .as_mut()
        .unwrap()
        .checkpoint
        .replica_group_gpus = group;
    let mut cont = wait.clone();
    cont.scenario.as_mut().unwrap().checkpoint.partial_restart = gf_model::PartialRestart::Continue;
    let (w, c) = (run(&wait, 5), run(&cont, 5));
    assert!(c.training.lost_gpu_hours < 1e-6, "{:?}", c.training);
    let (ettr, tau) = twin_ettr(&c);
    let m = DAY_S / (LLAMA3_INTERRUPTIONS_PER_GPU_DAY * gpus as f64);
    // Restart and re-placement wait (half a one-minute pass for a hardware
    // failure), as in the waiting mode's test, at the failed group's share.
    let r = p.overhead_s
        + (p.detect_s + p.init_s_per_1k * group as f64 / 1000.0).round()
        + p.stall_s
        + 0.78 * 30.0;
    let cost = r * group as f64 / gpus as f64;
    let expected = tau / (tau + p.stall_s) / (1.0 + cost / m);
    assert!(
        (ettr - expected).abs() < 0.015,
        "twin {ettr}, model {expected}"
    );
    assert!(
        ettr > twin_ettr(&w).0 + 0.003,
        "continue {ettr}, wait {}",
        twin_ettr(&w).0
    );
}
