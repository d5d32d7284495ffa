//! Test support shared by the crates' tests and benchmarks: fluent builders
//! for fleets and jobs (`job("a").gpus(72)`), a synthetic fleet of any size,
//! and the one `check` renderer that snapshot tests compare against.
//!
//! Dev-only: nothing in production depends on it.

use std::collections::BTreeMap;
use std::sync::Arc;

use gf_model::{
    ClusterSpec, ContractSpec, Date, Document, JobSpec, Locs, PriceModel, PriceSpec, ProviderSpec,
    RegionSpec, TeamSpec,
};
use gf_sched::explain::{domain_ranges, render_decision};
use gf_sched::{Policy, Request, Scheduler, Topology};

/// A fleet under construction.
#[derive(Default)]
pub struct FleetBuilder {
    doc: Document,
}

/// Starts a fleet.
pub fn fleet() -> FleetBuilder {
    FleetBuilder {
        doc: Document {
            version: 1,
            ..Document::default()
        },
    }
}

impl FleetBuilder {
    /// Adds a provider; following `region` calls go to it.
    pub fn provider(mut self, name: &str) -> Self {
        self.doc.providers.push(ProviderSpec {
            name: name.into(),
            regions: Vec::new(),
            locs: Locs::default(),
        });
        self
    }

    /// Adds a region to the last provider; following `cluster` calls go to it.
    pub fn region(mut self, name: &str, power_mw: f64, zone: &str) -> Self {
        let p = self.doc.providers.last_mut().expect("provider() first");
        p.regions.push(RegionSpec {
            name: name.into(),
            power_mw,
            zone: zone.into(),
            clusters: Vec::new(),
            locs: Locs::default(),
        });
        self
    }

    /// Adds an on-demand cluster to the last region.
    pub fn cluster(self, name: &str, accel: &str, domains: u32, usd: f64) -> Self {
        self.cluster_with(name, accel, domains, PriceModel::OnDemand, usd, None)
    }

    /// Adds a cluster with a price model and fabric blocks.
    pub fn cluster_with(
        mut self,
        name: &str,
        accel: &str,
        domains: u32,
        model: PriceModel,
        usd: f64,
        domains_per_block: Option<u32>,
    ) -> Self {
        let r = self
            .doc
            .providers
            .last_mut()
            .and_then(|p| p.regions.last_mut())
            .expect("region() first");
        r.clusters.push(ClusterSpec {
            name: name.into(),
            accelerator: accel.into(),
            domain_gpus: None,
            domains,
            domains_per_block,
            cpu_milli_per_domain: None,
            memory_mib_per_domain: None,
            ramp: Vec::new(),
            price: PriceSpec {
                model,
                usd_per_gpu_hour: usd,
                interruption_rate_per_hour: if model == PriceModel::Spot { 0.01 } else { 0.0 },
                contract: None,
            },
            backend: None,
            locs: Locs::default(),
        });
        self
    }

    /// Gives the last cluster CPU millicores and memory per domain.
    pub fn host(mut self, cpu_milli: u64, memory_mib: Option<u64>) -> Self {
        let c = self
            .doc
            .providers
            .last_mut()
            .and_then(|p| p.regions.last_mut())
            .and_then(|r| r.clusters.last_mut())
            .expect("cluster() first");
        c.cpu_milli_per_domain = Some(cpu_milli);
        c.memory_mib_per_domain = memory_mib;
        self
    }

    /// Adds a team with a quota per accelerator.
    pub fn team(mut self, name: &str, quota: &[(&str, u64)]) -> Self {
        self.doc.teams.push(TeamSpec {
            name: name.into(),
            quota: quota.iter().map(|(a, q)| ((*a).to_string(), *q)).collect(),
            weight: 1.0,
            max_priority: 1000,
            locs: Locs::default(),
        });
        self
    }

    /// Adds a contract.
    pub fn contract(
        mut self,
        name: &str,
        provider: &str,
        usd: f64,
        start: &str,
        months: u32,
    ) -> Self {
        self.doc.contracts.push(ContractSpec {
            name: name.into(),
            provider: provider.into(),
            committed_usd: usd,
            start: start.parse().expect("a valid date"),
            term_months: months,
            locs: Locs::default(),
        });
        self
    }

    /// The document.
    pub fn build(self) -> Document {
        self.doc
    }
}

/// A job under construction.
pub struct JobBuilder {
    spec: JobSpec,
}

/// Starts a job of 8 GPUs on any of the built-in NVIDIA accelerators.
pub fn job(name: &str) -> JobBuilder {
    JobBuilder {
        spec: JobSpec {
            name: name.into(),
            team: "default".into(),
            priority: 0,
            gpus: 8,
            accelerators: ["gb200", "gb300", "h100", "h200", "b200"]
                .map(String::from)
                .into(),
            work_gpu_hours: 100.0,
            checkpoint_interval_min: Some(60.0),
            checkpoint_cost_min: 5.0,
            checkpoint_persist_min: None,
            checkpoint_in_memory: None,
            replica_group_gpus: None,
            partial_restart: None,
            providers: Vec::new(),
            regions: Vec::new(),
            preemptible: true,
            spot: false,
            gpu_milli: None,
            cpu_milli_per_gpu: 0,
            memory_mib_per_gpu: 0,
            exec: Default::default(),
            locs: Locs::default(),
        },
    }
}

impl JobBuilder {
    /// Gang size.
    pub fn gpus(mut self, n: u32) -> Self {
        self.spec.gpus = n;
        self
    }
    /// Accepted accelerators, preferred first.
    pub fn accels(mut self, a: &[&str]) -> Self {
        self.spec.accelerators = a.iter().map(|s| (*s).to_string()).collect();
        self
    }
    /// Priority.
    pub fn priority(mut self, p: u32) -> Self {
        self.spec.priority = p;
        self
    }
    /// Owning team.
    pub fn team(mut self, t: &str) -> Self {
        self.spec.team = t.into();
        self
    }
    /// Not preemptible.
    pub fn critical(mut self) -> Self {
        self.spec.preemptible = false;
        self
    }
    /// May use spot.
    pub fn spot(mut self) -> Self {
        self.spec.spot = true;
        self
    }
    /// Checkpoint interval, minutes.
    pub fn checkpoint_min(mut self, m: f64) -> Self {
        self.spec.checkpoint_interval_min = Some(m);
        self
    }
    /// Allowed providers.
    pub fn providers(mut self, p: &[&str]) -> Self {
        self.spec.providers = p.iter().map(|s| (*s).to_string()).collect();
        self
    }
    /// The spec.
    pub fn build(self) -> JobSpec {
        self.spec
    }
}

/// A synthetic multi-cloud NVL72 + HGX fleet of about `total_gpus` GPUs:
/// four providers, three regions each, clusters of about 50k GPUs (at least
/// eight clusters), power envelopes with ~10% headroom over full draw.
pub fn synthetic_fleet(total_gpus: u64) -> Document {
    let n_clusters = (total_gpus / 50_000).clamp(8, 400);
    let per_cluster = total_gpus / n_clusters;
    let providers = ["aws", "azure", "oracle", "gcp"];
    let accels = [
        ("gb200", 72u32, 2.2),
        ("gb300", 72, 2.33),
        ("h100", 8, 1.53),
        ("h200", 8, 1.53),
    ];
    let regions_per_provider = 3;
    let mut doc = Document {
        version: 1,
        ..Document::default()
    };
    let mut i = 0u64;
    for (pi, p) in providers.iter().enumerate() {
        let mut regions = Vec::new();
        for r in 0..regions_per_provider {
            regions.push(RegionSpec {
                name: format!("r{r}"),
                power_mw: 0.0,
                zone: ["us-east", "us-west", "eu-west"][r].into(),
                clusters: Vec::new(),
                locs: Locs::default(),
            });
        }
        doc.providers.push(ProviderSpec {
            name: (*p).into(),
            regions,
            locs: Locs::default(),
        });
        let _ = pi;
    }
    let slots = providers.len() * regions_per_provider;
    while i < n_clusters {
        let slot = (i as usize) % slots;
        let (acc, dg, kw) = accels[(i as usize / slots + slot) % accels.len()];
        let domains = (per_cluster / dg as u64).max(1) as u32;
        let model = match i % 5 {
            0..=2 => PriceModel::Reserved,
            3 => PriceModel::OnDemand,
            _ => PriceModel::Spot,
        };
        let r =
            &mut doc.providers[slot / regions_per_provider].regions[slot % regions_per_provider];
        r.power_mw += domains as f64 * dg as f64 * kw * 1.1 / 1000.0;
        r.clusters.push(ClusterSpec {
            name: format!("c{i}"),
            accelerator: acc.into(),
            domain_gpus: None,
            domains,
            domains_per_block: Some(32),
            cpu_milli_per_domain: None,
            memory_mib_per_domain: None,
            ramp: Vec::new(),
            price: PriceSpec {
                model,
                usd_per_gpu_hour: 1.5 + (i % 7) as f64 * 0.35,
                interruption_rate_per_hour: if model == PriceModel::Spot {
                    0.005
                } else {
                    0.0
                },
                contract: None,
            },
            backend: None,
            locs: Locs::default(),
        });
        i += 1;
    }
    for p in &mut doc.providers {
        p.regions.retain(|r| !r.clusters.is_empty());
    }
    doc.providers.retain(|p| !p.regions.is_empty());
    doc
}

/// A scheduler over a document with every domain online.
pub fn scheduler(doc: &Document, policy: &str, seed: u64) -> Scheduler {
    let topo = Arc::new(Topology::from_document(doc));
    Scheduler::new(topo, Policy::named(policy).expect("a known policy"), seed)
}

/// Places `jobs` in order (committing each) and renders every decision as
/// text, the form snapshot tests compare.
pub fn check_placements(doc: &Document, jobs: &[JobSpec], policy: &str) -> String {
    let mut s = scheduler(doc, policy, 7);
    let topo = Arc::clone(s.topology());
    let names: BTreeMap<u64, String> = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| (i as u64, j.name.clone()))
        .collect();
    let lookup = |w: u64| names.get(&w).cloned().unwrap_or_default();
    let mut out = String::new();
    for (i, j) in jobs.iter().enumerate() {
        let req = Request::from_job(&topo, i as u64, j).expect("known accelerators");
        let d = s.decide(day("2026-06-01"), &req, false);
        out.push_str(&render_decision(&topo, &j.name, &d, false, &lookup));
        if let Some(p) = d.placement() {
            out.push_str(&format!("  domains {}\n", domain_ranges(&topo, &p.parts)));
        }
        s.apply(day("2026-06-01"), &req, &d)
            .expect("a fresh decision applies");
    }
    out
}

/// Seconds since the epoch at the start of a day written `YYYY-MM-DD`.
pub fn day(s: &str) -> i64 {
    s.parse::<Date>().expect("a valid date").epoch_seconds()
}

/// The dispatch of a training run of `spec` on whole domains (`index`, each
/// with `gpus_per_domain` GPUs, none a spare) of cluster `cluster`, from the
/// start of its work, checkpointing every 10 minutes: what a backend's
/// tests dispatch.
pub fn training_run(
    run: gf_model::protocol::RunId,
    cluster: &str,
    domains: &[u32],
    gpus_per_domain: u32,
    spec: JobSpec,
) -> gf_model::protocol::RunSpec {
    use gf_model::protocol::{DomainSlot, RunKind, RunPlacement, RunSpec};
    RunSpec {
        run,
        placement: RunPlacement {
            cluster: cluster.into(),
            domains: domains
                .iter()
                .map(|&index| DomainSlot {
                    index,
                    gpus: gpus_per_domain,
                    spare: false,
                })
                .collect(),
            gpu_milli: None,
        },
        kind: RunKind::Training {
            spec: Arc::new(spec),
            resume_gpu_h: 0.0,
            checkpoint_interval_s: 600,
        },
    }
}
