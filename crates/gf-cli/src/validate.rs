//! `gigafleet validate`: every problem of every file, compiler-style.

use crate::out::outln;
use std::process::ExitCode;

use clap::Args;

use crate::load;

#[derive(Args)]
pub struct ValidateArgs {
    /// Files to check (fleet, workload or scenario).
    #[arg(required = true)]
    paths: Vec<String>,
    /// Check workloads against this fleet (teams, clusters, gang sizes).
    #[arg(long)]
    fleet: Option<String>,
}

pub fn run(a: ValidateArgs) -> anyhow::Result<ExitCode> {
    let fleet = match &a.fleet {
        Some(f) => match load::read_fleet(f) {
            Ok(d) => Some(d),
            Err(inv) => return Ok(load::report(&inv)),
        },
        None => None,
    };
    let mut all = Vec::new();
    for p in &a.paths {
        match load::read(p, fleet.as_ref()) {
            Ok(doc) => {
                let clusters = doc.clusters().count();
                let catalog = gf_model::Catalog::with_overrides(&doc.accelerators);
                let gpus: u64 = doc
                    .clusters()
                    .map(|(_, _, c)| c.domains as u64 * gf_model::domain_gpus(&catalog, c) as u64)
                    .sum();
                let mut parts = Vec::new();
                if doc.is_fleet() {
                    parts.push(format!(
                        "{} providers, {clusters} clusters, {gpus} GPUs",
                        doc.providers.len()
                    ));
                }
                if !doc.jobs.is_empty() {
                    parts.push(format!("{} jobs", doc.jobs.len()));
                }
                if !doc.services.is_empty() {
                    parts.push(format!("{} services", doc.services.len()));
                }
                if doc.scenario.is_some() {
                    parts.push("a scenario".into());
                }
                if parts.is_empty() {
                    parts.push("empty".into());
                }
                outln!("{p}: ok ({})", parts.join("; "));
            }
            Err(inv) => all.extend(inv.0),
        }
    }
    if all.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(load::report(&load::Invalid(all)))
    }
}
