//! Decisions rendered as text a person reads: where the work went and why,
//! or why nothing fits, counted by cause. The CLI prints it and the snapshot
//! tests compare it, so both speak the same words.

use std::fmt::Write as _;

use crate::decision::{Decision, Outcome, Placement, Verdict};
use crate::request::WorkId;
use crate::topology::Topology;

/// `cluster#local-index` of a domain.
pub fn domain_name(topo: &Topology, d: u32) -> String {
    let c = &topo.clusters[topo.domain_cluster[d as usize] as usize];
    format!("{}#{}", c.name, d - c.first_domain)
}

/// Domains as local indices, consecutive runs of equal GPU counts folded:
/// `#0-15:72 #40:8`.
pub fn domain_ranges(topo: &Topology, parts: &[(u32, u32)]) -> String {
    let mut v: Vec<(u32, u32)> = parts
        .iter()
        .map(|&(d, g)| {
            let c = &topo.clusters[topo.domain_cluster[d as usize] as usize];
            (d - c.first_domain, g)
        })
        .collect();
    v.sort_unstable();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let (start, g) = v[i];
        let mut j = i;
        while j + 1 < v.len() && v[j + 1].0 == v[j].0 + 1 && v[j + 1].1 == g {
            j += 1;
        }
        if j > i {
            out.push(format!("#{start}-{}:{g}", v[j].0));
        } else {
            out.push(format!("#{start}:{g}"));
        }
        i = j + 1;
    }
    out.join(" ")
}

/// A one-line summary of where a placement's GPUs are.
pub fn placement_summary(topo: &Topology, p: &Placement) -> String {
    let c = &topo.clusters[p.cluster as usize];
    if let Some(sh) = p.share {
        let how = if sh.slot.is_some() {
            "a GPU already shared"
        } else {
            "a newly shared GPU"
        };
        return format!(
            "{}/1000 of {how} on {} in domain {}",
            sh.milli,
            c.name,
            domain_ranges(topo, &p.parts)
        );
    }
    let whole = p.parts.iter().filter(|x| x.1 == c.domain_gpus).count();
    let mut blocks: Vec<u32> = p
        .parts
        .iter()
        .map(|x| topo.domain_block[x.0 as usize])
        .collect();
    blocks.sort_unstable();
    blocks.dedup();
    format!(
        "{} GPUs on {} in {} domain{} ({} whole) across {} fabric block{}",
        p.gpus(),
        c.name,
        p.parts.len(),
        if p.parts.len() == 1 { "" } else { "s" },
        whole,
        blocks.len(),
        if blocks.len() == 1 { "" } else { "s" },
    )
}

/// The decision as text; with `explain`, one line per cluster.
pub fn render_decision(
    topo: &Topology,
    name: &str,
    d: &Decision,
    explain: bool,
    work_name: &dyn Fn(WorkId) -> String,
) -> String {
    let mut s = String::new();
    match &d.outcome {
        Outcome::Placed(p) => {
            let _ = writeln!(s, "{name}: placed: {}", placement_summary(topo, p));
        }
        Outcome::Preempt { placement, victims } => {
            let _ = writeln!(
                s,
                "{name}: placed after preemption: {}",
                placement_summary(topo, placement)
            );
            let lost: f64 = victims.iter().map(|v| v.lost_gpu_hours).sum();
            let _ = writeln!(
                s,
                "  preempts {} job{} losing {:.1} GPU-hours since their last checkpoints:",
                victims.len(),
                if victims.len() == 1 { "" } else { "s" },
                lost
            );
            for v in victims {
                let _ = writeln!(
                    s,
                    "    {} ({} GPUs, {:.1} GPU-hours lost)",
                    work_name(v.work),
                    v.gpus,
                    v.lost_gpu_hours
                );
            }
        }
        Outcome::NoFit => {
            let _ = writeln!(s, "{name}: no fit");
        }
    }
    let ex = &d.explanation;
    let causes: Vec<String> = ex
        .causes()
        .iter()
        .map(|(c, n)| format!("{c} {n}"))
        .collect();
    let _ = writeln!(
        s,
        "  {} cluster{} considered, {} feasible{}{}",
        ex.considered,
        if ex.considered == 1 { "" } else { "s" },
        ex.feasible,
        if causes.is_empty() {
            ""
        } else {
            "; rejected: "
        },
        causes.join(", ")
    );
    if explain {
        for (c, v) in &ex.clusters {
            let name = &topo.clusters[*c as usize].name;
            match v {
                Verdict::Rejected(cause) => {
                    let _ = writeln!(s, "    {name}: rejected: {cause}");
                }
                Verdict::Scored(total, terms) => {
                    let t: Vec<String> = terms.iter().map(|(k, v)| format!("{k} {v:.3}")).collect();
                    let _ = writeln!(s, "    {name}: score {total:.3} ({})", t.join(", "));
                }
            }
        }
        if let Some(p) = d.placement() {
            let c = &topo.clusters[p.cluster as usize];
            let _ = writeln!(
                s,
                "    domains of {}: {}",
                c.name,
                domain_ranges(topo, &p.parts)
            );
        }
    }
    s
}
