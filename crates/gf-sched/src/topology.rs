//! The fleet compiled for the scheduler: every provider, site, cluster, fabric
//! block, NVLink domain, contract and team gets a dense ordinal, so that the
//! hot path indexes arrays instead of hashing names.

use std::sync::Arc;

use gf_model::{Catalog, Date, Document, PriceModel, Vendor, domain_gpus, region_matches};

/// Dense ordinal of a cluster.
pub type ClusterOrd = u32;
/// Dense ordinal of an NVLink domain (fleet-wide).
pub type DomainOrd = u32;
/// Dense ordinal of a site (provider region).
pub type SiteOrd = u32;

/// What an accelerator means to the scheduler.
#[derive(Debug, Clone)]
pub struct AccelInfo {
    /// Catalog name.
    pub name: String,
    /// Maker.
    pub vendor: Vendor,
    /// Relative training throughput.
    pub train: f64,
    /// Relative inference throughput.
    pub infer: f64,
    /// Facility watts per GPU at load, rounded so power sums are exact integers.
    pub watts: u64,
}

/// A site: one power envelope.
#[derive(Debug, Clone)]
pub struct Site {
    /// `provider/region`.
    pub name: String,
    /// Region name alone.
    pub region: String,
    /// Provider ordinal.
    pub provider: u32,
    /// Power envelope, watts.
    pub envelope_w: u64,
    /// Latency zone ordinal.
    pub zone: u32,
}

/// A cluster: one fabric of one accelerator type.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// `provider/region/cluster`. Shared: every placement a backend is
    /// told names its cluster, millions a year, and a count is cheaper to
    /// copy than a string.
    pub name: Arc<str>,
    /// Its site.
    pub site: SiteOrd,
    /// Its provider.
    pub provider: u32,
    /// Accelerator ordinal (catalog position).
    pub accel: u16,
    /// GPUs per NVLink domain.
    pub domain_gpus: u32,
    /// First domain ordinal; the cluster's domains are contiguous.
    pub first_domain: DomainOrd,
    /// Number of domains built.
    pub n_domains: u32,
    /// Domains per fabric block (the whole cluster is one block when the file gives none).
    pub domains_per_block: u32,
    /// First block ordinal; blocks are contiguous.
    pub first_block: u32,
    /// Number of blocks.
    pub n_blocks: u32,
    /// How it is paid for.
    pub price_model: PriceModel,
    /// US dollars per GPU-hour.
    pub usd_per_gpu_hour: f64,
    /// Spot reclaims per GPU-hour.
    pub spot_rate_per_hour: f64,
    /// The contract its spend counts against: the one its price names, else
    /// the first contract of its provider (a provider commitment is burned by
    /// spend of any price model there).
    pub contract: Option<u32>,
    /// Domains online from each date (sorted); empty means all online from the start.
    pub ramp: Vec<(Date, u32)>,
    /// CPU millicores per domain (`u64::MAX`: not a constraint).
    pub cpu_milli_per_domain: u64,
    /// Host memory per domain, MiB (`u64::MAX`: not a constraint).
    pub memory_mib_per_domain: u64,
}

impl Cluster {
    /// GPUs built.
    pub fn gpus(&self) -> u64 {
        self.n_domains as u64 * self.domain_gpus as u64
    }

    /// Domains online on a day, by the ramp.
    pub fn online_domains_on(&self, day: Date) -> u32 {
        if self.ramp.is_empty() {
            return self.n_domains;
        }
        self.ramp
            .iter()
            .take_while(|(d, _)| *d <= day)
            .last()
            .map_or(0, |&(_, n)| n.min(self.n_domains))
    }
}

/// A contract: committed spend over a term.
#[derive(Debug, Clone)]
pub struct Contract {
    /// Name.
    pub name: String,
    /// Provider ordinal.
    pub provider: u32,
    /// Committed spend, USD.
    pub committed_usd: f64,
    /// Term start, seconds since the epoch.
    pub start_s: i64,
    /// Term end, seconds since the epoch.
    pub end_s: i64,
}

/// A team.
#[derive(Debug, Clone)]
pub struct Team {
    /// Name.
    pub name: String,
    /// Quota per accelerator ordinal (`u64::MAX` when unlimited).
    pub quota: Vec<u64>,
    /// Fair-share weight.
    pub weight: f64,
    /// Highest priority allowed.
    pub max_priority: u32,
}

/// The fleet, compiled.
#[derive(Debug, Clone)]
pub struct Topology {
    /// The catalog the fleet uses.
    pub catalog: Catalog,
    /// Accelerators by ordinal.
    pub accels: Vec<AccelInfo>,
    /// Provider names by ordinal.
    pub providers: Vec<String>,
    /// Latency zones by ordinal.
    pub zones: Vec<String>,
    /// Round trip from users of zone `a` to a site of zone `b`,
    /// milliseconds, at `a × zones + b` (the fleet's `[latency]` table).
    pub zone_rtt_ms: Vec<f64>,
    /// Sites by ordinal.
    pub sites: Vec<Site>,
    /// Clusters by ordinal.
    pub clusters: Vec<Cluster>,
    /// Contracts by ordinal.
    pub contracts: Vec<Contract>,
    /// Teams by ordinal.
    pub teams: Vec<Team>,
    /// Cluster of each domain.
    pub domain_cluster: Vec<ClusterOrd>,
    /// Block of each domain.
    pub domain_block: Vec<u32>,
    /// Cluster of each block.
    pub block_cluster: Vec<ClusterOrd>,
    /// Cluster ordinals by full name, for reports that name clusters.
    by_name: rustc_hash::FxHashMap<String, ClusterOrd>,
    /// A hash of what ordinals and domain indices mean (clusters by name,
    /// their accelerator, domain size and count, in order): a persisted log
    /// written under another epoch would be misread, so it is refused.
    pub epoch: u64,
}

impl Topology {
    /// Compiles a validated fleet document.
    pub fn from_document(doc: &Document) -> Self {
        let catalog = Catalog::with_overrides(&doc.accelerators);
        let accels = catalog
            .entries()
            .iter()
            .map(|a| AccelInfo {
                name: a.name.clone(),
                vendor: a.vendor,
                train: a.train_throughput,
                infer: a.infer_throughput,
                watts: (a.power_kw * 1000.0).round() as u64,
            })
            .collect();
        let providers: Vec<String> = doc.providers.iter().map(|p| p.name.clone()).collect();
        let mut zones: Vec<String> = Vec::new();
        let mut t = Topology {
            accels,
            providers,
            zones: Vec::new(),
            zone_rtt_ms: Vec::new(),
            sites: Vec::new(),
            clusters: Vec::new(),
            by_name: rustc_hash::FxHashMap::default(),
            epoch: 0,
            contracts: Vec::new(),
            teams: Vec::new(),
            domain_cluster: Vec::new(),
            domain_block: Vec::new(),
            block_cluster: Vec::new(),
            catalog: catalog.clone(),
        };
        t.contracts = doc
            .contracts
            .iter()
            .map(|c| Contract {
                name: c.name.clone(),
                provider: t
                    .providers
                    .iter()
                    .position(|p| *p == c.provider)
                    .unwrap_or(0) as u32,
                committed_usd: c.committed_usd,
                start_s: c.start.epoch_seconds(),
                end_s: c.end().epoch_seconds(),
            })
            .collect();
        for (pi, p) in doc.providers.iter().enumerate() {
            for r in &p.regions {
                let zone = match zones.iter().position(|z| *z == r.zone) {
                    Some(z) => z,
                    None => {
                        zones.push(r.zone.clone());
                        zones.len() - 1
                    }
                } as u32;
                let site = t.sites.len() as SiteOrd;
                t.sites.push(Site {
                    name: format!("{}/{}", p.name, r.name),
                    region: r.name.clone(),
                    provider: pi as u32,
                    envelope_w: (r.power_mw * 1e6).round() as u64,
                    zone,
                });
                for c in &r.clusters {
                    let ord = t.clusters.len() as ClusterOrd;
                    let dg = domain_gpus(&catalog, c);
                    let per_block = c.domains_per_block.unwrap_or(c.domains.max(1)).max(1);
                    let n_blocks = c.domains.div_ceil(per_block);
                    let first_domain = t.domain_cluster.len() as DomainOrd;
                    let first_block = t.block_cluster.len() as u32;
                    for d in 0..c.domains {
                        t.domain_cluster.push(ord);
                        t.domain_block.push(first_block + d / per_block);
                    }
                    for _ in 0..n_blocks {
                        t.block_cluster.push(ord);
                    }
                    t.clusters.push(Cluster {
                        name: format!("{}/{}/{}", p.name, r.name, c.name).into(),
                        site,
                        provider: pi as u32,
                        accel: catalog.index_of(&c.accelerator).unwrap_or(0) as u16,
                        domain_gpus: dg,
                        first_domain,
                        n_domains: c.domains,
                        domains_per_block: per_block,
                        first_block,
                        n_blocks,
                        price_model: c.price.model,
                        usd_per_gpu_hour: c.price.usd_per_gpu_hour,
                        spot_rate_per_hour: c.price.interruption_rate_per_hour,
                        // A cloud commitment is burned by spend of any price
                        // model at its provider: a cluster that names no
                        // contract counts against its provider's first one.
                        contract: c
                            .price
                            .contract
                            .as_ref()
                            .and_then(|n| doc.contracts.iter().position(|k| k.name == *n))
                            .or_else(|| doc.contracts.iter().position(|k| k.provider == p.name))
                            .map(|i| i as u32),
                        ramp: c.ramp.iter().map(|s| (s.date, s.domains)).collect(),
                        cpu_milli_per_domain: c.cpu_milli_per_domain.unwrap_or(u64::MAX),
                        memory_mib_per_domain: c.memory_mib_per_domain.unwrap_or(u64::MAX),
                    });
                }
            }
        }
        let nz = zones.len();
        t.zone_rtt_ms = (0..nz * nz)
            .map(|i| doc.latency.rtt_ms(&zones[i / nz], &zones[i % nz]))
            .collect();
        t.zones = zones;
        t.teams = doc
            .teams
            .iter()
            .map(|tm| Team {
                name: tm.name.clone(),
                quota: catalog
                    .entries()
                    .iter()
                    .map(|a| tm.quota.get(&a.name).copied().unwrap_or(u64::MAX))
                    .collect(),
                weight: tm.weight,
                max_priority: tm.max_priority,
            })
            .collect();
        t.by_name = t
            .clusters
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.to_string(), i as ClusterOrd))
            .collect();
        t.epoch = t.compute_epoch();
        t
    }

    /// FNV-1a over the meaning of every ordinal: stable across runs and
    /// builds (no `Hash` of std, whose output may change between releases).
    fn compute_epoch(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for &b in bytes {
                h ^= b as u64;
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
            h ^= 0xff;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        };
        for c in &self.clusters {
            eat(c.name.as_bytes());
            eat(self.accels[c.accel as usize].name.as_bytes());
            eat(&c.domain_gpus.to_le_bytes());
            eat(&c.n_domains.to_le_bytes());
        }
        for s in &self.sites {
            eat(s.name.as_bytes());
        }
        for k in &self.contracts {
            eat(k.name.as_bytes());
        }
        for t in &self.teams {
            eat(t.name.as_bytes());
        }
        h
    }

    /// Round trip from users of zone `users` to a site of zone `site`,
    /// milliseconds.
    pub fn rtt_ms(&self, users: u32, site: u32) -> f64 {
        let n = self.zones.len();
        self.zone_rtt_ms
            .get(users as usize * n + site as usize)
            .copied()
            .unwrap_or(gf_model::latency::DEFAULT_CROSS_ZONE_RTT_MS)
    }

    /// The cluster ordinal of a full name (`provider/region/cluster`).
    pub fn cluster_by_name(&self, name: &str) -> Option<ClusterOrd> {
        self.by_name.get(name).copied()
    }

    /// The domain ordinal of a cluster's domain index, if it has that many.
    pub fn domain_of(&self, c: ClusterOrd, index: u32) -> Option<DomainOrd> {
        let cl = self.clusters.get(c as usize)?;
        (index < cl.n_domains).then(|| cl.first_domain + index)
    }

    /// Facility watts one GPU of cluster `c` draws at load.
    pub fn watts_per_gpu(&self, c: ClusterOrd) -> u64 {
        self.accels[self.clusters[c as usize].accel as usize].watts
    }

    /// Total GPUs built.
    pub fn total_gpus(&self) -> u64 {
        self.clusters.iter().map(Cluster::gpus).sum()
    }

    /// Number of NVLink domains.
    pub fn n_domains(&self) -> usize {
        self.domain_cluster.len()
    }

    /// Accelerator ordinal by name.
    pub fn accel(&self, name: &str) -> Option<u16> {
        self.accels
            .iter()
            .position(|a| a.name == name)
            .map(|i| i as u16)
    }

    /// Team ordinal by name.
    pub fn team(&self, name: &str) -> Option<u32> {
        self.teams
            .iter()
            .position(|t| t.name == name)
            .map(|i| i as u32)
    }

    /// Cluster ordinal by full name (`provider/region/cluster`).
    pub fn cluster(&self, name: &str) -> Option<ClusterOrd> {
        self.cluster_by_name(name)
    }

    /// Sites a `providers`/`regions` filter allows (both empty: all).
    pub fn allowed_sites(&self, providers: &[String], regions: &[String]) -> Vec<bool> {
        self.sites
            .iter()
            .map(|s| {
                let pname = &self.providers[s.provider as usize];
                (providers.is_empty() || providers.iter().any(|p| p == pname))
                    && (regions.is_empty()
                        || regions.iter().any(|x| region_matches(x, pname, &s.region)))
            })
            .collect()
    }
}
