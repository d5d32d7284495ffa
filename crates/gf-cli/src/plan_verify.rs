//! `gigafleet plan --verify`: closes the loop between the planner and the
//! twin. For a few sampled months the plan's capacity (what it uses, cluster
//! by cluster, and each site's envelope) and the demand it says it serves
//! become a scenario file, which the twin (gf-sim, the production scheduler
//! in virtual time) runs for two days; the report says, month by month,
//! whether that demand was served.
//!
//! All knowledge of the twin lives in this file, and the twin is reached only
//! through the text of a scenario and the public `Sim` API that `gigafleet
//! simulate` uses, so a redesign of gf-sim touches this glue alone. A plan
//! for millions of GPUs is scaled down (capacity, power and demand divided by
//! one factor, NVLink domains of 8) so that each month simulates in well
//! under a second; the factor is reported.

use std::fmt::Write;

use anyhow::Context;
use gf_plan::instance::{DemandKind, Filter};
use gf_plan::{Instance, Plan};
use gf_sim::{Sim, SimOptions};
use serde::Serialize;

/// GPUs the scaled fleet of one sampled month holds at most.
const TARGET_GPUS: f64 = 16_000.0;
/// Days simulated per sampled month.
const DAYS: u32 = 2;
/// Share of planned demand the twin must serve for a month to pass.
const PASS: f64 = 0.95;

/// The verification of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct Verify {
    /// Days simulated per sampled month.
    pub days_per_month: u32,
    /// Each sampled month.
    pub months: Vec<VerifyMonth>,
    /// Whether every sampled month passed.
    pub all_served: bool,
}

/// One sampled month.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyMonth {
    /// `YYYY-MM`.
    pub month: String,
    /// Capacity and demand were divided by this.
    pub scale: f64,
    /// Training GPUs the plan uses (unscaled).
    pub planned_training_gpus: f64,
    /// Training GPUs the twin kept busy on average (unscaled).
    pub simulated_training_gpus: f64,
    /// Simulated / planned training GPUs.
    pub training_served: f64,
    /// Inference requests/s the plan serves (unscaled).
    pub planned_inference_rps: f64,
    /// Share of inference demand the twin served within its SLO.
    pub inference_slo_attainment: f64,
    /// Peak power over the site envelopes, as counted by the twin.
    pub power_envelope_violations: u64,
    /// `served` or `short`.
    pub verdict: String,
}

fn sampled(n: usize) -> Vec<usize> {
    let mut v: Vec<usize> = [0, n / 3, 2 * n / 3, n.saturating_sub(1)]
        .into_iter()
        .filter(|&t| t < n)
        .collect();
    v.dedup();
    v
}

fn q(s: &str) -> String {
    format!("{s:?}")
}

/// Verifies the plan (see the module doc).
pub fn verify(
    doc: &gf_model::Document,
    inst: &Instance,
    plan: &Plan,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<Verify> {
    let mut months = Vec::new();
    for t in sampled(inst.months()) {
        progress(&format!(
            "verify: simulating {} for {DAYS} days",
            inst.month_label(t)
        ));
        if let Some(m) = verify_month(doc, inst, plan, t)? {
            months.push(m);
        }
    }
    let all_served = months.iter().all(|m| m.verdict == "served");
    Ok(Verify {
        days_per_month: DAYS,
        months,
        all_served,
    })
}

fn verify_month(
    doc: &gf_model::Document,
    inst: &Instance,
    plan: &Plan,
    t: usize,
) -> anyhow::Result<Option<VerifyMonth>> {
    let used = |name: &str| {
        plan.capacity
            .used_by_cluster
            .get(name)
            .map_or(0.0, |v| v[t])
    };
    let total: f64 = inst.units.iter().map(|u| used(&u.name)).sum();
    if total <= 0.0 {
        return Ok(None);
    }
    let scale = (total / TARGET_GPUS).max(1.0);
    let start = inst.month_starts[t];
    let mut src = String::from("version = 1\n[[team]]\nname = \"plan\"\nmax_priority = 1000\n");
    // The file's own catalog entries, so every accelerator it names is known.
    for a in &doc.accelerators {
        let _ = write!(
            src,
            "[[accelerator]]\nname = {}\nvendor = {}\nhbm_gib = {}\ntrain_throughput = {}\ninfer_throughput = {}\npower_kw = {}\ndomain_gpus = {}\n",
            q(&a.name),
            q(a.vendor.as_str()),
            a.hbm_gib,
            a.train_throughput,
            a.infer_throughput,
            a.power_kw,
            a.domain_gpus
        );
    }
    // Sites and clusters: what the plan uses, each site's envelope of the month.
    for (si, site) in inst.sites.iter().enumerate() {
        let units: Vec<_> = inst
            .units
            .iter()
            .filter(|u| u.site == si && used(&u.name) > 0.0)
            .collect();
        if units.is_empty() {
            continue;
        }
        let (provider, region) = site.name.split_once('/').unwrap_or(("p", &site.name));
        let _ = write!(
            src,
            "[[provider]]\nname = {}\n[[provider.region]]\nname = {}\npower_mw = {}\nzone = {}\n",
            q(provider),
            q(region),
            (site.envelope_mw[t] / scale).max(0.001),
            q(&site.zone)
        );
        for (k, u) in units.iter().enumerate() {
            let domains = (used(&u.name) / scale / 8.0).ceil().max(1.0);
            let _ = write!(
                src,
                "[[provider.region.cluster]]\nname = \"c{k}\"\naccelerator = {}\ndomain_gpus = 8\ndomains = {domains}\nprice = {{ model = \"on-demand\", usd_per_gpu_hour = {} }}\n",
                q(&u.accelerator),
                u.usd_per_gpu_hour
            );
        }
    }
    // Merging regions of one provider into one [[provider]] is needed: a
    // provider name may appear once, so sites are regrouped by provider.
    let src = regroup(&src);
    let mut body = String::new();
    let mut planned_training = 0.0;
    let mut planned_rps = 0.0;
    let mut job = 0;
    let fleet_accs: Vec<&str> = inst.units.iter().map(|u| u.accelerator.as_str()).collect();
    for d in &inst.demands {
        let gpus = plan
            .capacity
            .used_by_demand
            .get(&d.name)
            .map_or(0.0, |v| v[t]);
        if gpus <= 0.0 {
            continue;
        }
        match (&d.filter, d.kind) {
            (Filter::Training { accelerators, .. }, DemandKind::Training) => {
                planned_training += gpus;
                let accs: Vec<String> = if accelerators.is_empty() {
                    let mut v: Vec<String> = fleet_accs.iter().map(|s| s.to_string()).collect();
                    v.sort();
                    v.dedup();
                    v
                } else {
                    accelerators.clone()
                };
                let n = (gpus / scale / 8.0).floor() as u64;
                let list = accs.iter().map(|a| q(a)).collect::<Vec<_>>().join(", ");
                for _ in 0..n {
                    job += 1;
                    // Long enough to run through the simulated days.
                    let _ = write!(
                        body,
                        "[[job]]\nname = \"train-{job}\"\nteam = \"plan\"\ngpus = 8\naccelerators = [{list}]\nwork_gpu_hours = {}\n",
                        8 * 24 * DAYS * 4
                    );
                }
            }
            (Filter::Inference { .. }, DemandKind::Inference) => {
                planned_rps += plan.demand.get(&d.name).map_or(0.0, |x| x.served[t]);
            }
            _ => {}
        }
    }
    // Services: each inference curve's service, with the demand the plan serves.
    let mut services = Vec::new();
    for s in &doc.services {
        let mut zones = String::new();
        for d in inst
            .demands
            .iter()
            .filter(|d| d.kind == DemandKind::Inference)
        {
            let Some(zone) = &d.zone else { continue };
            let from_service = doc.plan.as_ref().is_some_and(|p| {
                p.demand
                    .iter()
                    .any(|x| x.name == d.curve && x.service.as_deref() == Some(&s.name))
            });
            let rps = plan.demand.get(&d.name).map_or(0.0, |x| x.served[t]) / scale;
            if from_service && rps > 0.0 {
                let _ = write!(zones, "{{ zone = {}, rps = {rps} }}, ", q(zone));
            }
        }
        if zones.is_empty() {
            continue;
        }
        // The replicas the plan's GPUs make, so the twin starts at the
        // planned size instead of scaling up from one.
        let gpus: f64 = inst
            .demands
            .iter()
            .filter(|d| {
                doc.plan.as_ref().is_some_and(|p| {
                    p.demand
                        .iter()
                        .any(|x| x.name == d.curve && x.service.as_deref() == Some(&s.name))
                })
            })
            .map(|d| {
                plan.capacity
                    .used_by_demand
                    .get(&d.name)
                    .map_or(0.0, |v| v[t])
            })
            .sum();
        let replicas = (gpus / scale / f64::from(s.gpus_per_replica.max(1))).floor() as u64;
        let tp = s
            .throughput
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = write!(
            body,
            "[[service]]\nname = {}\nteam = \"plan\"\nmodel = {}\ngpus_per_replica = {}\nthroughput = {{ {tp} }}\ndemand = [{zones}]\nlatency_slo_ms = {}\nmin_replicas = {}\nmax_replicas = 1000000\n",
            q(&s.name),
            q(&s.model),
            s.gpus_per_replica,
            s.latency_slo_ms,
            replicas.max(1)
        );
        services.push(s.name.clone());
    }
    let mut scenario =
        format!("[scenario]\nstart = \"{start}\"\nhorizon_days = {DAYS}\nsample_hours = 6.0\n");
    for s in &services {
        let _ = write!(
            scenario,
            "[[scenario.inference]]\nservice = {}\ndiurnal_amplitude = 0.0\nheadroom = 1.0\n",
            q(s)
        );
    }
    let text = format!("{src}{body}{scenario}");
    let sdoc = gf_model::parse_document("verify.toml", &text).map_err(|e| {
        anyhow::anyhow!(
            "the verification scenario does not validate (a bug in the glue): {}",
            e.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        )
    })?;
    let opts = SimOptions {
        seed: 1,
        policy: gf_sched::Policy::named("default").context("default policy")?,
        until: None,
    };
    let mut sim = Sim::new(&sdoc, &opts)?;
    sim.run(&mut |_| {})?;
    let sum = sim.summary();
    let hours = f64::from(DAYS) * 24.0;
    let simulated = sum.training.allocated_gpu_hours / hours * scale;
    // Whole 8-GPU jobs: the plan's GPUs rounded down to them is what was offered.
    let offered: f64 = (planned_training / scale / 8.0).floor() * 8.0 * scale;
    let training_served = if offered > 0.0 {
        (simulated / offered).min(1.0)
    } else {
        1.0
    };
    let slo = if services.is_empty() {
        1.0
    } else {
        sum.slo_attainment
    };
    Ok(Some(VerifyMonth {
        month: inst.month_label(t),
        scale: (scale * 10.0).round() / 10.0,
        planned_training_gpus: planned_training.round(),
        simulated_training_gpus: simulated.round(),
        training_served: (training_served * 1e4).round() / 1e4,
        planned_inference_rps: planned_rps.round(),
        inference_slo_attainment: slo,
        power_envelope_violations: sum.power_envelope_violations,
        verdict: if training_served >= PASS && slo >= PASS {
            "served"
        } else {
            "short"
        }
        .into(),
    }))
}

/// Regroups `[[provider]]` blocks so that each provider appears once with
/// all its regions (the fleet format wants unique provider names).
fn regroup(src: &str) -> String {
    let (head, rest) = src.split_at(src.find("[[provider]]").unwrap_or(src.len()));
    let mut order: Vec<String> = Vec::new();
    let mut regions: std::collections::BTreeMap<String, String> = Default::default();
    for block in rest.split("[[provider]]\n").filter(|b| !b.is_empty()) {
        let (first, body) = block.split_once('\n').unwrap_or((block, ""));
        let name = first.trim_start_matches("name = ").to_string();
        if !order.contains(&name) {
            order.push(name.clone());
        }
        regions.entry(name).or_default().push_str(body);
    }
    let mut out = head.to_string();
    for n in order {
        let _ = write!(out, "[[provider]]\nname = {n}\n{}", regions[&n]);
    }
    out
}

/// Prints the verification table.
pub fn print(v: &Verify) {
    println!();
    println!(
        "  twin check ({} days per sampled month): {}",
        v.days_per_month,
        if v.all_served {
            "the scheduler served what the plan serves"
        } else {
            "some month fell short"
        }
    );
    println!(
        "  {:<8} {:>7} {:>14} {:>14} {:>8} {:>14} {:>8}  verdict",
        "month", "scale", "plan train", "twin train", "served", "plan rps", "SLO"
    );
    for m in &v.months {
        println!(
            "  {:<8} {:>7.0} {:>14.0} {:>14.0} {:>7.1}% {:>14.0} {:>7.1}%  {}",
            m.month,
            m.scale,
            m.planned_training_gpus,
            m.simulated_training_gpus,
            m.training_served * 100.0,
            m.planned_inference_rps,
            m.inference_slo_attainment * 100.0,
            m.verdict
        );
    }
}
