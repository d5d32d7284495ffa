//! Checks that relate several entities of a file (or a workload to its
//! fleet): unique names, references that resolve, ramps within the built
//! capacity, gangs that fit some cluster, priorities within the team's limit.
//! Each problem points at the field that causes it.

mod backend;
mod latency;
pub(crate) mod plan;
mod scenario;

use std::collections::{BTreeMap, BTreeSet};

use crate::catalog::Catalog;
use crate::diag::Diagnostics;
use crate::spec::*;

pub(crate) fn validate(cx: &mut Diagnostics, doc: &Document, fleet: Option<&Document>) {
    // The fleet a workload is checked against: the file itself when it holds one.
    let fleet = if doc.is_fleet() { Some(doc) } else { fleet };
    let mut extra = fleet.map(|f| f.accelerators.clone()).unwrap_or_default();
    extra.extend(doc.accelerators.iter().cloned());
    let catalog = Catalog::with_overrides(&extra);

    unique(
        cx,
        "accelerator",
        doc.accelerators.iter().map(|a| (a.name.as_str(), 0)),
    );
    unique(
        cx,
        "provider",
        doc.providers
            .iter()
            .map(|p| (p.name.as_str(), p.locs.of("name"))),
    );
    for p in &doc.providers {
        unique(
            cx,
            "region",
            p.regions
                .iter()
                .map(|r| (r.name.as_str(), r.locs.of("name"))),
        );
        for r in &p.regions {
            unique(
                cx,
                "cluster",
                r.clusters
                    .iter()
                    .map(|c| (c.name.as_str(), c.locs.of("name"))),
            );
        }
    }
    unique(
        cx,
        "contract",
        doc.contracts
            .iter()
            .map(|c| (c.name.as_str(), c.locs.of("name"))),
    );
    unique(
        cx,
        "team",
        doc.teams
            .iter()
            .map(|t| (t.name.as_str(), t.locs.of("name"))),
    );
    unique(
        cx,
        "job",
        doc.jobs
            .iter()
            .map(|j| (j.name.as_str(), j.locs.of("name"))),
    );
    unique(
        cx,
        "service",
        doc.services
            .iter()
            .map(|s| (s.name.as_str(), s.locs.of("name"))),
    );

    let providers: BTreeSet<&str> = doc.providers.iter().map(|p| p.name.as_str()).collect();
    let contracts: BTreeMap<&str, &ContractSpec> =
        doc.contracts.iter().map(|c| (c.name.as_str(), c)).collect();

    for c in &doc.contracts {
        if doc.is_fleet() && !c.provider.is_empty() && !providers.contains(c.provider.as_str()) {
            cx.error(
                c.locs.of("provider") as usize,
                format!(
                    "contract `{}` names unknown provider `{}`; known providers: {}",
                    c.name,
                    c.provider,
                    join(&providers)
                ),
            );
        }
    }

    let mut size = FleetSize::default();
    for p in &doc.providers {
        for r in &p.regions {
            for c in &r.clusters {
                check_cluster(cx, &catalog, &contracts, p, c);
                backend::check_backend(cx, &catalog, c);
                size.add(cx, &catalog, c);
            }
        }
    }

    for t in &doc.teams {
        for a in t.quota.keys() {
            if catalog.get(a).is_none() {
                cx.error(
                    t.locs.of("quota") as usize,
                    format!(
                        "quota names unknown accelerator `{a}`; known accelerators: {}",
                        catalog.names()
                    ),
                );
            }
        }
    }

    let teams: Option<BTreeMap<&str, &TeamSpec>> = fleet
        .filter(|f| !f.teams.is_empty())
        .map(|f| f.teams.iter().map(|t| (t.name.as_str(), t)).collect());
    for j in &doc.jobs {
        check_job(cx, &catalog, teams.as_ref(), fleet, j);
    }
    for s in &doc.services {
        check_service(cx, &catalog, teams.as_ref(), fleet, s);
    }
    // The scenario's generators name teams, accelerators, services and zones.
    scenario::check_scenario(cx, doc);
    // The latency table names zones the regions declare.
    latency::check_latency(cx, doc);
}

/// The most NVLink domains one fleet may hold: the capacity index keeps a few
/// words per domain, so this bounds its memory to a few hundred MiB. It is
/// three times the 20M-GPU benchmark fleet (1.39M domains).
pub const MAX_FLEET_DOMAINS: u64 = 1 << 22;
/// The most GPUs one fleet may hold: over three times the 20M-GPU (30 GW)
/// benchmark fleet, the seeds' whole portfolio.
pub const MAX_FLEET_GPUS: u64 = 1 << 26;
/// The most GPUs one NVLink domain may hold (NVL576 is the largest announced).
pub const MAX_DOMAIN_GPUS: u32 = 1024;

/// Running totals of a fleet's size, so that a file the index could not hold
/// in memory is refused at validation with the cluster that crosses the
/// limit, not aborted later by the allocator.
#[derive(Default)]
struct FleetSize {
    domains: u64,
    gpus: u64,
    reported: bool,
}

impl FleetSize {
    fn add(&mut self, cx: &mut Diagnostics, catalog: &Catalog, c: &ClusterSpec) {
        let per_domain = domain_gpus(catalog, c);
        if per_domain > MAX_DOMAIN_GPUS {
            cx.error(
                c.locs.of("domain_gpus") as usize,
                format!(
                    "`domain_gpus = {per_domain}` is more than the {MAX_DOMAIN_GPUS} GPUs an NVLink domain may hold"
                ),
            );
        }
        self.domains += u64::from(c.domains);
        self.gpus += u64::from(c.domains) * u64::from(per_domain.min(MAX_DOMAIN_GPUS));
        if self.reported || (self.domains <= MAX_FLEET_DOMAINS && self.gpus <= MAX_FLEET_GPUS) {
            return;
        }
        self.reported = true;
        cx.error(
            c.locs.of("domains") as usize,
            format!(
                "with cluster `{}` the fleet holds {} domains and {} GPUs; a fleet may hold at most {} domains and {} GPUs (split it into several fleets)",
                c.name, self.domains, self.gpus, MAX_FLEET_DOMAINS, MAX_FLEET_GPUS
            ),
        );
    }
}

fn join(names: &BTreeSet<&str>) -> String {
    names.iter().copied().collect::<Vec<_>>().join(", ")
}

fn unique<'a>(cx: &mut Diagnostics, what: &str, names: impl Iterator<Item = (&'a str, u32)>) {
    let mut seen = BTreeSet::new();
    // A provider's, region's or cluster's name is a segment of a cluster's
    // full name, `provider/region/cluster`: an empty one or one with a `/`
    // would make two clusters one name (`aws` + `us/east` and `aws/us` +
    // `east`) or name none.
    let segment = matches!(what, "provider" | "region" | "cluster");
    for (n, at) in names {
        if segment && (n.is_empty() || n.contains('/') || n.chars().any(char::is_whitespace)) {
            cx.error(
                at as usize,
                format!(
                    "{what} name `{n}` is part of clusters' full names (provider/region/cluster): \
                     give one that is not empty and has no `/` or spaces, e.g. `us-east-1`"
                ),
            );
        }
        if !seen.insert(n) {
            cx.error(
                at as usize,
                format!("duplicate {what} name `{n}`; names must be unique"),
            );
        }
    }
}

fn check_cluster(
    cx: &mut Diagnostics,
    catalog: &Catalog,
    contracts: &BTreeMap<&str, &ContractSpec>,
    p: &ProviderSpec,
    c: &ClusterSpec,
) {
    if !c.accelerator.is_empty() && catalog.get(&c.accelerator).is_none() {
        cx.error(
            c.locs.of("accelerator") as usize,
            format!(
                "unknown accelerator `{}`; known accelerators: {} (or add an [[accelerator]])",
                c.accelerator,
                catalog.names()
            ),
        );
    }
    if c.domains == 0 {
        cx.error(
            c.locs.of("domains") as usize,
            "`domains` must be at least 1",
        );
    }
    if let Some(step) = c.ramp.iter().find(|s| s.domains > c.domains) {
        cx.error(
            c.locs.of("ramp") as usize,
            format!(
                "ramp step on {} brings {} domains online but the cluster has `domains = {}`",
                step.date, step.domains, c.domains
            ),
        );
    }
    if let Some(name) = &c.price.contract {
        match contracts.get(name.as_str()) {
            None => cx.error(
                c.locs.of("price") as usize,
                format!(
                    "price names unknown contract `{name}`; known contracts: {}",
                    contracts.keys().copied().collect::<Vec<_>>().join(", ")
                ),
            ),
            Some(k) if k.provider != p.name => cx.error(
                c.locs.of("price") as usize,
                format!(
                    "contract `{name}` is with `{}`, not with this cluster's provider `{}`",
                    k.provider, p.name
                ),
            ),
            Some(_) => {}
        }
    }
}

fn check_accelerators<'a>(
    cx: &mut Diagnostics,
    catalog: &Catalog,
    at: u32,
    names: impl Iterator<Item = &'a str>,
) {
    for a in names {
        if catalog.get(a).is_none() {
            cx.error(
                at as usize,
                format!(
                    "unknown accelerator `{a}`; known accelerators: {}",
                    catalog.names()
                ),
            );
        }
    }
}

fn check_team(
    cx: &mut Diagnostics,
    teams: Option<&BTreeMap<&str, &TeamSpec>>,
    locs: &Locs,
    team: &str,
    priority: u32,
) {
    let Some(teams) = teams else { return };
    if team.is_empty() {
        return; // missing, and already reported as such
    }
    match teams.get(team) {
        None => cx.error(
            locs.of("team") as usize,
            format!(
                "unknown team `{team}`; known teams: {}",
                teams.keys().copied().collect::<Vec<_>>().join(", ")
            ),
        ),
        Some(t) if priority > t.max_priority => cx.error(
            locs.of("priority") as usize,
            format!(
                "priority {priority} is above team `{team}`'s max_priority {}",
                t.max_priority
            ),
        ),
        Some(_) => {}
    }
}

/// Clusters a placement may use: accelerator among `accels`, provider and region allowed.
fn allowed_clusters<'f>(
    fleet: &'f Document,
    accels: &[&str],
    providers: &[String],
    regions: &[String],
) -> Vec<(&'f ProviderSpec, &'f RegionSpec, &'f ClusterSpec)> {
    fleet
        .clusters()
        .filter(|(p, r, c)| {
            accels.contains(&c.accelerator.as_str())
                && (providers.is_empty() || providers.contains(&p.name))
                && (regions.is_empty()
                    || regions.iter().any(|x| region_matches(x, &p.name, &r.name)))
        })
        .collect()
}

/// True when a region filter `x` (`provider/region` or `region`) names region `r` of `p`.
pub fn region_matches(x: &str, provider: &str, region: &str) -> bool {
    match x.split_once('/') {
        Some((p, r)) => p == provider && r == region,
        None => x == region,
    }
}

fn check_job(
    cx: &mut Diagnostics,
    catalog: &Catalog,
    teams: Option<&BTreeMap<&str, &TeamSpec>>,
    fleet: Option<&Document>,
    j: &JobSpec,
) {
    let before = cx.count();
    check_accelerators(
        cx,
        catalog,
        j.locs.of("accelerators"),
        j.accelerators.iter().map(|s| s.as_str()),
    );
    let mut said = cx.count() - before;
    check_team(cx, teams, &j.locs, &j.team, j.priority);
    let Some(fleet) = fleet else { return };
    let before = cx.count();
    check_scope(cx, fleet, &j.locs, &j.providers, &j.regions);
    said += cx.count() - before;
    let accels: Vec<&str> = j.accelerators.iter().map(|s| s.as_str()).collect();
    let clusters = allowed_clusters(fleet, &accels, &j.providers, &j.regions);
    if clusters.is_empty() {
        // An empty or unknown accelerator list, or an unknown provider or
        // region, was reported above; a "largest: 0 GPUs" would only
        // mislead. Otherwise say what is true: nothing matches.
        if said == 0 && !accels.is_empty() {
            cx.error(
                j.locs.of("accelerators") as usize,
                format!(
                    "no cluster of the fleet has {} within the providers and regions it may use",
                    accels.join(" or ")
                ),
            );
        }
        return;
    }
    let largest = largest_gpus(catalog, &clusters).unwrap_or(0);
    if (j.gpus as u64) > largest && !accels.iter().any(|a| catalog.get(a).is_none()) {
        cx.error(
            j.locs.of("gpus") as usize,
            format!(
                "gang of {} GPUs is larger than any cluster it may run on (largest: {largest} GPUs); a gang never spans clusters",
                j.gpus
            ),
        );
    }
}

/// The GPUs of the largest of `clusters`: the largest gang (or replica)
/// that can run on them, since a gang never spans clusters.
fn largest_gpus(
    catalog: &Catalog,
    clusters: &[(&ProviderSpec, &RegionSpec, &ClusterSpec)],
) -> Option<u64> {
    clusters
        .iter()
        .map(|(_, _, c)| c.domains as u64 * domain_gpus(catalog, c) as u64)
        .max()
}

fn check_scope(
    cx: &mut Diagnostics,
    fleet: &Document,
    locs: &Locs,
    providers: &[String],
    regions: &[String],
) {
    for p in providers {
        if !fleet.providers.iter().any(|x| x.name == *p) {
            cx.error(
                locs.of("providers") as usize,
                format!(
                    "unknown provider `{p}`; known providers: {}",
                    fleet
                        .providers
                        .iter()
                        .map(|x| x.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }
    for x in regions {
        let found = fleet.providers.iter().any(|p| {
            p.regions
                .iter()
                .any(|r| region_matches(x, &p.name, &r.name))
        });
        if !found {
            cx.error(
                locs.of("regions") as usize,
                format!("unknown region `{x}`; write `provider/region` or `region` of the fleet"),
            );
        }
    }
}

/// The domain size of a cluster: its own, or its accelerator's usual one.
pub fn domain_gpus(catalog: &Catalog, c: &ClusterSpec) -> u32 {
    c.domain_gpus
        .or_else(|| catalog.get(&c.accelerator).map(|a| a.domain_gpus))
        .unwrap_or(8)
}

fn check_service(
    cx: &mut Diagnostics,
    catalog: &Catalog,
    teams: Option<&BTreeMap<&str, &TeamSpec>>,
    fleet: Option<&Document>,
    s: &ServiceSpec,
) {
    check_accelerators(
        cx,
        catalog,
        s.locs.of("throughput"),
        s.throughput.keys().map(|k| k.as_str()),
    );
    check_team(cx, teams, &s.locs, &s.team, s.priority);
    let Some(fleet) = fleet else { return };
    check_scope(cx, fleet, &s.locs, &[], &s.regions);
    let accels = s.accelerators();
    let clusters = allowed_clusters(fleet, &accels, &[], &s.regions);
    // A replica is a gang like a job's: it must fit in one cluster.
    if let Some(largest) = largest_gpus(catalog, &clusters)
        && u64::from(s.gpus_per_replica) > largest
    {
        cx.error(
            s.locs.of("gpus_per_replica") as usize,
            format!(
                "a replica of {} GPUs is larger than any cluster it may run on (largest: {largest} GPUs); a replica never spans clusters",
                s.gpus_per_replica
            ),
        );
    }
    let providers: BTreeSet<&str> = clusters.iter().map(|(p, _, _)| p.name.as_str()).collect();
    if (providers.len() as u32) < s.min_providers {
        cx.error(
            s.locs.of("min_providers") as usize,
            format!(
                "`min_providers = {}` but only {} provider(s) offer its accelerators in its regions: {}",
                s.min_providers,
                providers.len(),
                join(&providers)
            ),
        );
    }
    let zones: BTreeSet<&str> = fleet
        .providers
        .iter()
        .flat_map(|p| p.regions.iter().map(|r| r.zone.as_str()))
        .collect();
    for d in &s.demand {
        if !zones.contains(d.zone.as_str()) {
            cx.error(
                s.locs.of("demand") as usize,
                format!(
                    "demand from unknown zone `{}`; the fleet's zones are: {}",
                    d.zone,
                    join(&zones)
                ),
            );
        }
    }
}
