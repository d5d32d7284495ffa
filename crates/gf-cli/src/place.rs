//! `gigafleet place`: the decision for each job or service of a file on a
//! fleet that is empty or loaded with running work, and why.

use crate::out::{bad_input, out, outln};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use gf_model::Date;
use gf_sched::explain::{domain_name, render_decision};
use gf_sched::{
    CapacityIndex, Decision, OnPreempt, Outcome, PlanInput, Policy, ReplicaCounts, Request,
    Scheduler, ServiceRequest, Topology, Verdict,
};
use serde_json::{Value, json};

use crate::load;

#[derive(Args)]
pub struct PlaceArgs {
    /// The fleet file.
    #[arg(long)]
    fleet: String,
    /// A workload file: its jobs and services are placed in file order.
    #[arg(long)]
    job: String,
    /// Place only the job or service of this name.
    #[arg(long)]
    name: Option<String>,
    /// A workload file placed first and treated as running.
    #[arg(long)]
    load: Option<String>,
    /// How long the loaded work has been running, minutes (sets the work lost since each job's last checkpoint).
    #[arg(long, default_value_t = 95.0)]
    load_age_min: f64,
    /// Decide as of this day: capacity ramps apply and contracts are read at it.
    #[arg(long)]
    at: Option<String>,
    /// Scheduling policy: default, first-fit, best-fit, cheapest.
    #[arg(long, default_value = "default")]
    policy: String,
    /// Seed for tie-breaking.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Show every cluster's verdict and score.
    #[arg(long)]
    explain: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(a: PlaceArgs) -> anyhow::Result<ExitCode> {
    let fleet = match load::read_fleet(&a.fleet) {
        Ok(d) => d,
        Err(inv) => return Ok(load::report(&inv)),
    };
    let work = match load::read(&a.job, Some(&fleet)) {
        Ok(d) => d,
        Err(inv) => return Ok(load::report(&inv)),
    };
    let loaded = match &a.load {
        Some(p) => match load::read(p, Some(&fleet)) {
            Ok(d) => Some(d),
            Err(inv) => return Ok(load::report(&inv)),
        },
        None => None,
    };
    let Some(policy) = Policy::named(&a.policy) else {
        bad_input!(
            "unknown policy `{}`; expected one of: {}",
            a.policy,
            Policy::NAMES.join(", ")
        );
    };
    // An age is minutes of running work, up to a year: a negative or NaN
    // age made every loss zero and changed the victims without a word.
    if !(0.0..=525_600.0).contains(&a.load_age_min) {
        bad_input!(
            "--load-age-min {}: expected minutes from 0 to 525600 (a year)",
            a.load_age_min
        );
    }
    // Nothing to place is a mistake in the command, not an empty answer.
    let matches = |n: &str| a.name.as_deref().is_none_or(|w| w == n);
    if !work.jobs.iter().any(|j| matches(&j.name))
        && !work.services.iter().any(|s| matches(&s.name))
    {
        let mut held: Vec<&str> = work.jobs.iter().map(|j| j.name.as_str()).collect();
        held.extend(work.services.iter().map(|s| s.name.as_str()));
        let what = match &a.name {
            Some(n) => format!("no job or service named `{n}`"),
            None => "no job or service".to_string(),
        };
        bad_input!(
            "{}: {what} to place; {}",
            a.job,
            if held.is_empty() {
                "give a file with [[job]] or [[service]] tables".to_string()
            } else {
                format!("it holds: {}", held.join(", "))
            }
        );
    }
    let topo = Arc::new(Topology::from_document(&fleet));
    let (index, now) = match &a.at {
        Some(s) => {
            let day: Date = match s.parse() {
                Ok(d) => d,
                Err(e) => bad_input!("--at: {e}"),
            };
            let mut ix = CapacityIndex::new(&topo);
            for c in &topo.clusters {
                for d in 0..c.online_domains_on(day) {
                    ix.set_online(&topo, c.first_domain + d, true);
                }
            }
            (ix, day.epoch_seconds())
        }
        None => {
            let latest = topo
                .clusters
                .iter()
                .filter_map(|c| c.ramp.last().map(|r| r.0))
                .max();
            let first_contract = fleet.contracts.iter().map(|c| c.start).min();
            let day = latest.max(first_contract).unwrap_or_default();
            (CapacityIndex::all_online(&topo), day.epoch_seconds())
        }
    };
    let mut sched = Scheduler::with_index(Arc::clone(&topo), index, policy, a.seed);
    let mut names: Vec<String> = Vec::new();
    if let Some(l) = &loaded {
        let age = (a.load_age_min * 60.0) as i64;
        for j in &l.jobs {
            let id = names.len() as u64;
            names.push(j.name.clone());
            let req = Request::from_job(&topo, id, j)?;
            let d = sched.decide(now - age, &req, false);
            if let Some(p) = d.placement() {
                let aid = sched.commit(now - age, &req, p)?;
                let since = if req.checkpoint_interval_s > 0 {
                    age % req.checkpoint_interval_s
                } else {
                    age
                };
                sched.checkpointed(aid, now - since);
            }
        }
    }
    let mut out_json = Vec::new();
    let mut text = String::new();
    let mut placed_all = true;
    for j in work
        .jobs
        .iter()
        .filter(|j| a.name.as_ref().is_none_or(|n| *n == j.name))
    {
        let id = names.len() as u64;
        names.push(j.name.clone());
        let req = Request::from_job(&topo, id, j)?;
        let d = sched.decide(now, &req, a.explain);
        placed_all &= d.placement().is_some();
        let lookup = |w: u64| {
            names
                .get(w as usize)
                .cloned()
                .unwrap_or_else(|| format!("work {w}"))
        };
        text.push_str(&render_decision(
            &topo,
            &format!("job {}", j.name),
            &d,
            a.explain,
            &lookup,
        ));
        out_json.push(decision_json(&topo, &names, &j.name, "job", &d, a.explain));
        let _ = sched.apply(now, &req, &d)?;
    }
    for s in work
        .services
        .iter()
        .filter(|s| a.name.as_ref().is_none_or(|n| *n == s.name))
    {
        let base = (names.len() as u64) << 20;
        let svc = ServiceRequest::from_spec(&topo, base, s)?;
        // A one-shot plan from no replicas, by the planner the controller
        // autoscales with: demand as the file gives it, no headroom, and
        // victims released at once so the plan shows where replicas go.
        let out = sched.plan_replicas(
            now,
            &PlanInput {
                svc: &svc,
                current: &ReplicaCounts::new(&topo, &svc),
                demand: &svc.demand,
                headroom: 1.0,
                first_id: base,
                on_preempt: OnPreempt::Commit,
                explain: a.explain,
            },
        )?;
        let mut per_provider = std::collections::BTreeMap::<&str, u32>::new();
        let mut reps = Vec::new();
        for r in &out.added {
            if let Some(p) = out.decision_of(r).placement() {
                let c = &topo.clusters[p.cluster as usize];
                *per_provider
                    .entry(topo.providers[c.provider as usize].as_str())
                    .or_default() += 1;
                reps.push(json!({"cluster": c.name, "gpus": p.gpus()}));
            }
        }
        let ok = out.replicas >= s.min_replicas && out.providers >= s.min_providers;
        placed_all &= ok;
        text.push_str(&format!(
            "service {}: {} replica{} of {} GPUs on {} provider{} ({}); unserved {:.0} req/s\n",
            s.name,
            out.replicas,
            if out.replicas == 1 { "" } else { "s" },
            s.gpus_per_replica,
            out.providers,
            if out.providers == 1 { "" } else { "s" },
            per_provider
                .iter()
                .map(|(p, n)| format!("{p} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
            out.unserved_rps
        ));
        let mut by_cluster = std::collections::BTreeMap::<&str, u32>::new();
        for r in &out.added {
            if let Some(p) = out.decision_of(r).placement() {
                *by_cluster
                    .entry(topo.clusters[p.cluster as usize].name.as_ref())
                    .or_default() += 1;
            }
        }
        for (c, n) in &by_cluster {
            text.push_str(&format!("  {n} on {c}\n"));
        }
        if let Some(ex) = &out.stopped {
            let causes: Vec<String> = ex
                .causes()
                .iter()
                .map(|(c, n)| format!("{c} {n}"))
                .collect();
            text.push_str(&format!(
                "  next replica did not fit; rejected: {}\n",
                causes.join(", ")
            ));
        }
        out_json.push(json!({
            "name": s.name, "kind": "service", "replicas": reps, "providers": out.providers,
            "replicas_by_provider": per_provider, "unserved_rps": out.unserved_rps,
            "min_replicas_met": ok,
        }));
    }
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&Value::Array(out_json))?);
    } else {
        out!("{text}");
    }
    // Exit 0 when everything found a place, 3 when something did not: scripts can tell.
    Ok(if placed_all {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

fn decision_json(
    topo: &Topology,
    names: &[String],
    name: &str,
    kind: &str,
    d: &Decision,
    explain: bool,
) -> Value {
    let (outcome, victims) = match &d.outcome {
        Outcome::Placed(_) => ("placed", Vec::new()),
        Outcome::Preempt { victims, .. } => (
            "preempt",
            victims
                .iter()
                .map(|v| {
                    json!({
                        "name": names.get(v.work as usize).cloned().unwrap_or_default(),
                        "gpus": v.gpus,
                        "lost_gpu_hours": v.lost_gpu_hours,
                    })
                })
                .collect(),
        ),
        Outcome::NoFit => ("no-fit", Vec::new()),
    };
    let ex = &d.explanation;
    let rejected: serde_json::Map<String, Value> = ex
        .causes()
        .iter()
        .map(|(c, n)| (c.as_str().to_string(), json!(n)))
        .collect();
    let mut v = json!({
        "name": name,
        "kind": kind,
        "outcome": outcome,
        "considered": ex.considered,
        "feasible": ex.feasible,
        "rejected": rejected,
    });
    if let Some(p) = d.placement() {
        v["cluster"] = json!(topo.clusters[p.cluster as usize].name);
        v["gpus"] = json!(p.gpus());
        v["domains"] = p
            .parts
            .iter()
            .map(|&(dom, g)| json!({"domain": domain_name(topo, dom), "gpus": g}))
            .collect();
    }
    if !victims.is_empty() {
        v["victims"] = Value::Array(victims);
    }
    if explain {
        v["clusters"] = ex
            .clusters
            .iter()
            .map(|(c, verdict)| {
                let name = &topo.clusters[*c as usize].name;
                match verdict {
                    Verdict::Rejected(cause) => json!({"cluster": name, "rejected": cause.as_str()}),
                    Verdict::Scored(t, terms) => json!({
                        "cluster": name,
                        "score": t,
                        "terms": terms.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                    }),
                }
            })
            .collect();
    }
    v
}
