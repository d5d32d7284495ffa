//! The planning instance: a fleet file's `[plan]` compiled into dense,
//! month-indexed arrays (sites, supply units, demands, contracts), so that the
//! model builder reads numbers only and a what-if is an edit of arrays, not of
//! the user's document.
//!
//! Every supply of GPUs is a *unit*: an existing cluster, an option on one, a
//! candidate contract or capacity a what-if adds. A unit has one site, one
//! accelerator, one price and at most one contract; what differs is where its
//! capacity comes from ([`Source`]).

pub use gf_model::plan::DemandKind;
use gf_model::plan::PlanSpec;
use gf_model::{Catalog, Date, Document, PriceModel, Vendor, region_matches};

use crate::PlanError;

/// One site: a power envelope and a latency zone.
#[derive(Debug, Clone)]
pub struct Site {
    /// `provider/region`.
    pub name: String,
    /// Its provider.
    pub provider: String,
    /// Latency zone.
    pub zone: String,
    /// Facility power available to GPUs and CPUs per month, MW.
    pub envelope_mw: Vec<f64>,
}

/// Where a unit's capacity comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// An existing cluster (its ramp).
    Cluster,
    /// An expansion option: index into [`Instance::options`].
    Option(usize),
    /// A candidate contract: index into [`Instance::candidates`].
    Candidate(usize),
    /// Capacity a what-if adds, paid per use.
    Added,
}

/// One supply of GPUs.
#[derive(Debug, Clone)]
pub struct Unit {
    /// `provider/region/cluster`, or the option's or candidate's name.
    pub name: String,
    /// Index into [`Instance::sites`].
    pub site: usize,
    /// Provider name.
    pub provider: String,
    /// Accelerator name.
    pub accelerator: String,
    /// Who makes it.
    pub vendor: Vendor,
    /// Training throughput per GPU, H100 = 1.
    pub train: f64,
    /// Inference throughput per GPU, H100 = 1.
    pub infer: f64,
    /// Facility power per GPU, kW.
    pub power_kw: f64,
    /// Reserved (paid whether used or not) or paid per use.
    pub reserved: bool,
    /// USD per GPU-hour.
    pub usd_per_gpu_hour: f64,
    /// Index into [`Instance::contracts`] its spend counts against.
    pub contract: Option<usize>,
    /// GPUs online per month from the cluster's ramp (zero for options and candidates).
    pub base_gpus: Vec<f64>,
    /// GPUs billed per month when reserved: the ramp, even when a what-if
    /// cuts what is delivered (take-or-pay).
    pub billed_gpus: Vec<f64>,
    /// Where the capacity comes from.
    pub source: Source,
}

/// An expansion option, compiled.
#[derive(Debug, Clone)]
pub struct OptionDef {
    /// Its name.
    pub name: String,
    /// The cluster it expands, `provider/region/cluster`.
    pub cluster: String,
    /// Index of its own unit.
    pub unit: usize,
    /// GPUs added.
    pub gpus: f64,
    /// Months from exercise to online.
    pub lead: u32,
    /// Months it may be exercised in (indices of the horizon).
    pub window: Vec<usize>,
    /// One-off fee, USD.
    pub fee_usd: f64,
    /// Months reserved once online (`None`: to the horizon's end).
    pub term: Option<u32>,
    /// May be exercised in part.
    pub divisible: bool,
    /// Share of the GPUs paid for that is delivered (a what-if may cut it).
    pub delivered: f64,
    /// The unit of the cluster it expands.
    pub parent: usize,
    /// Its GPUs join the parent's capacity row (the parent is reserved too,
    /// so a GPU costs the same to use in either): no use variables of its own,
    /// which keeps a model with thousands of options small.
    pub merged: bool,
}

/// A candidate contract, compiled.
#[derive(Debug, Clone)]
pub struct CandidateDef {
    /// Its name.
    pub name: String,
    /// Index of its own unit.
    pub unit: usize,
    /// Months of the term inside the horizon.
    pub months: Vec<usize>,
    /// Smallest size worth signing.
    pub min_gpus: f64,
    /// Largest size on offer.
    pub max_gpus: f64,
    /// MW the contract brings to its site at full size.
    pub power_mw: f64,
    /// Share of the GPUs paid for that is delivered (a what-if may cut it).
    pub delivered: f64,
}

/// A spend commitment, compiled to the months of the horizon it covers.
#[derive(Debug, Clone)]
pub struct Contract {
    /// Its name.
    pub name: String,
    /// Its provider.
    pub provider: String,
    /// Committed spend over the whole term, USD.
    pub committed_usd: f64,
    /// Whether month `t` of the horizon is inside the term.
    pub active: Vec<bool>,
    /// The share of the commitment falling inside the horizon, USD (pro rata by month).
    pub due_usd: f64,
    /// Whether the term ends inside the horizon (otherwise `due_usd` is pro rata).
    pub ends_inside: bool,
}

/// Which supply may serve a demand.
#[derive(Debug, Clone)]
pub enum Filter {
    /// Training: accelerators (empty: any) and providers (empty: any).
    Training {
        /// Accepted accelerators.
        accelerators: Vec<String>,
        /// Accepted providers.
        providers: Vec<String>,
    },
    /// One zone of a service: requests per second per GPU by accelerator,
    /// the regions it may run in, accepted providers.
    Inference {
        /// Requests per second one GPU serves, by accelerator.
        rps_per_gpu: Vec<(String, f64)>,
        /// `provider/region` or `region` filters (empty: any).
        regions: Vec<String>,
        /// Accepted providers.
        providers: Vec<String>,
    },
    /// CPU cores from pools of accepted providers.
    Cpu {
        /// Accepted providers.
        providers: Vec<String>,
    },
}

/// Which supply a demand may use, and what one GPU of it is worth.
#[derive(Debug, Clone)]
pub struct Arc {
    /// Index into [`Instance::units`], or into [`Instance::cpu_pools`] for CPU demand.
    pub unit: usize,
    /// Demand served by one GPU (or core).
    pub per_gpu: f64,
}

/// One row of demand: a training class, one zone of a service, or CPU cores.
#[derive(Debug, Clone)]
pub struct Demand {
    /// `name` or `name@zone` for a service's zone.
    pub name: String,
    /// The `[[plan.demand]]` it comes from.
    pub curve: String,
    /// Training, inference or cpu.
    pub kind: DemandKind,
    /// What it asks for per month (H100-equivalent GPUs, rps or cores).
    pub asked: Vec<f64>,
    /// Who may serve it.
    pub filter: Filter,
    /// USD per unit of demand per hour unmet.
    pub penalty_usd_per_hour: f64,
    /// H100-equivalent GPUs per unit of demand (1 for training, cores for cpu).
    pub h100e_per_unit: f64,
    /// Counts toward the diversification limits of critical capacity.
    pub critical: bool,
    /// Must be served in full.
    pub hard: bool,
    /// The zone of an inference demand.
    pub zone: Option<String>,
}

/// CPU cores at a site.
#[derive(Debug, Clone)]
pub struct CpuPoolDef {
    /// Index into [`Instance::sites`].
    pub site: usize,
    /// Cores.
    pub cores: f64,
    /// USD per core-hour used.
    pub usd_per_core_hour: f64,
    /// MW per busy core.
    pub mw_per_core: f64,
}

/// Diversification limits, shares in (0, 1].
#[derive(Debug, Clone, Copy)]
pub struct Shares {
    /// Per provider, of critical capacity.
    pub provider: f64,
    /// Per GPU vendor, of critical capacity.
    pub vendor: f64,
    /// Per provider, of inference.
    pub provider_inference: f64,
    /// Per GPU vendor, of inference.
    pub vendor_inference: f64,
    /// First month the limits apply.
    pub from_month: usize,
}

/// The compiled planning problem.
#[derive(Debug, Clone)]
pub struct Instance {
    /// First day of each month of the horizon, and one past the end.
    pub month_starts: Vec<Date>,
    /// Hours of each month.
    pub hours: Vec<f64>,
    /// Sites.
    pub sites: Vec<Site>,
    /// Supply units.
    pub units: Vec<Unit>,
    /// Expansion options.
    pub options: Vec<OptionDef>,
    /// Candidate contracts.
    pub candidates: Vec<CandidateDef>,
    /// Spend commitments.
    pub contracts: Vec<Contract>,
    /// Demand rows.
    pub demands: Vec<Demand>,
    /// CPU pools.
    pub cpu_pools: Vec<CpuPoolDef>,
    /// Diversification limits.
    pub shares: Shares,
    /// Relative MIP gap.
    pub mip_gap: f64,
}

impl Instance {
    /// Months in the horizon.
    pub fn months(&self) -> usize {
        self.hours.len()
    }

    /// `YYYY-MM` of month `t`.
    pub fn month_label(&self, t: usize) -> String {
        let (y, m, _) = self.month_starts[t].ymd();
        format!("{y:04}-{m:02}")
    }

    /// The month index a date falls in; before the start is negative.
    pub fn month_of(&self, d: Date) -> i64 {
        month_index(self.month_starts[0], d)
    }

    /// Compiles a validated document that has a `[plan]` section.
    pub fn from_document(doc: &Document) -> Result<Instance, PlanError> {
        let plan = doc.plan.as_ref().ok_or(PlanError::NoPlan)?;
        let catalog = Catalog::with_overrides(&doc.accelerators);
        let (y, m, _) = plan.start.ymd();
        let first = Date::from_ymd(y, m, 1).unwrap_or(plan.start);
        let n = plan.months as usize;
        let month_starts: Vec<Date> = (0..=n as u32).map(|k| first.add_months(k)).collect();
        let hours: Vec<f64> = month_starts
            .windows(2)
            .map(|w| f64::from(w[1].days() - w[0].days()) * 24.0)
            .collect();
        let mut inst = Instance {
            month_starts,
            hours,
            sites: Vec::new(),
            units: Vec::new(),
            options: Vec::new(),
            candidates: Vec::new(),
            contracts: Vec::new(),
            demands: Vec::new(),
            cpu_pools: Vec::new(),
            shares: Shares {
                provider: plan.max_provider_share,
                vendor: plan.max_vendor_share,
                provider_inference: plan.max_provider_share_inference,
                vendor_inference: plan.max_vendor_share_inference,
                from_month: plan
                    .diversify_from
                    .map_or(0, |d| month_index(first, d).max(0) as usize),
            },
            mip_gap: plan.mip_gap,
        };
        inst.add_contracts(doc);
        inst.add_sites_and_clusters(doc, plan, &catalog)?;
        inst.add_options(plan)?;
        inst.add_candidates(plan, &catalog)?;
        inst.add_cpu_pools(plan)?;
        inst.add_demands(doc, plan, &catalog)?;
        Ok(inst)
    }

    fn add_contracts(&mut self, doc: &Document) {
        for c in &doc.contracts {
            let s = self.month_of(c.start);
            let e = self.month_of(c.end());
            let active: Vec<bool> = (0..self.months() as i64).map(|t| t >= s && t < e).collect();
            let inside = active.iter().filter(|&&a| a).count() as f64;
            self.contracts.push(Contract {
                name: c.name.clone(),
                provider: c.provider.clone(),
                committed_usd: c.committed_usd,
                due_usd: c.committed_usd * inside / f64::from(c.term_months.max(1)),
                ends_inside: e <= self.months() as i64,
                active,
            });
        }
    }

    fn contract_index(&self, name: &str) -> Option<usize> {
        self.contracts.iter().position(|c| c.name == name)
    }

    /// The envelope per month from `[[plan.site]]` steps, or a constant.
    fn envelope(&self, plan: &PlanSpec, site: &str, constant: f64) -> Vec<f64> {
        match plan.sites.iter().find(|s| s.site == site) {
            None => vec![constant; self.months()],
            Some(s) => (0..self.months())
                .map(|t| {
                    let d = self.month_starts[t];
                    s.power
                        .iter()
                        .rev()
                        .find(|p| p.date <= d)
                        .map_or(0.0, |p| p.mw)
                })
                .collect(),
        }
    }

    fn add_sites_and_clusters(
        &mut self,
        doc: &Document,
        plan: &PlanSpec,
        catalog: &Catalog,
    ) -> Result<(), PlanError> {
        for p in &doc.providers {
            for r in &p.regions {
                let name = format!("{}/{}", p.name, r.name);
                let envelope_mw = self.envelope(plan, &name, r.power_mw);
                self.sites.push(Site {
                    name,
                    provider: p.name.clone(),
                    zone: r.zone.clone(),
                    envelope_mw,
                });
                let site = self.sites.len() - 1;
                for c in &r.clusters {
                    let acc = accelerator(catalog, &c.accelerator)?;
                    let dg = f64::from(gf_model::domain_gpus(catalog, c));
                    let base_gpus: Vec<f64> = (0..self.months())
                        .map(|t| {
                            let d = self.month_starts[t];
                            let domains = if c.ramp.is_empty() {
                                c.domains
                            } else {
                                c.ramp
                                    .iter()
                                    .rev()
                                    .find(|s| s.date <= d)
                                    .map_or(0, |s| s.domains)
                            };
                            f64::from(domains.min(c.domains)) * dg
                        })
                        .collect();
                    self.units.push(Unit {
                        name: format!("{}/{}/{}", p.name, r.name, c.name),
                        site,
                        provider: p.name.clone(),
                        accelerator: c.accelerator.clone(),
                        vendor: acc.vendor,
                        train: acc.train_throughput,
                        infer: acc.infer_throughput,
                        power_kw: acc.power_kw,
                        reserved: c.price.model == PriceModel::Reserved,
                        usd_per_gpu_hour: c.price.usd_per_gpu_hour,
                        contract: c
                            .price
                            .contract
                            .as_deref()
                            .and_then(|k| self.contract_index(k)),
                        billed_gpus: base_gpus.clone(),
                        base_gpus,
                        source: Source::Cluster,
                    });
                }
            }
        }
        // Sites that only candidate contracts bring.
        for k in &plan.candidates {
            let name = format!("{}/{}", k.provider, k.site);
            if self.site_index(&name).is_none() {
                let envelope_mw = self.envelope(plan, &name, 0.0);
                self.sites.push(Site {
                    name,
                    provider: k.provider.clone(),
                    zone: k.zone.clone().unwrap_or_default(),
                    envelope_mw,
                });
            }
        }
        Ok(())
    }

    /// The index of a site by `provider/region`.
    pub fn site_index(&self, name: &str) -> Option<usize> {
        self.sites.iter().position(|s| s.name == name)
    }

    fn add_options(&mut self, plan: &PlanSpec) -> Result<(), PlanError> {
        for o in &plan.options {
            let Some(ci) = self.units.iter().position(|u| u.name == o.cluster) else {
                return Err(PlanError::Unknown(format!("cluster `{}`", o.cluster)));
            };
            let from = o.exercise_from.unwrap_or(self.month_starts[0]);
            let (a, b) = (self.month_of(from).max(0), self.month_of(o.exercise_by));
            let window: Vec<usize> = (a..=b)
                .filter(|&t| t >= 0 && (t + i64::from(o.lead_months)) < self.months() as i64)
                .map(|t| t as usize)
                .collect();
            let mut u = self.units[ci].clone();
            u.name = o.name.clone();
            u.reserved = true;
            u.usd_per_gpu_hour = o.usd_per_gpu_hour.unwrap_or(u.usd_per_gpu_hour);
            u.base_gpus = vec![0.0; self.months()];
            u.billed_gpus = vec![0.0; self.months()];
            u.source = Source::Option(self.options.len());
            self.units.push(u);
            self.options.push(OptionDef {
                name: o.name.clone(),
                cluster: o.cluster.clone(),
                unit: self.units.len() - 1,
                gpus: o.gpus as f64,
                lead: o.lead_months,
                window,
                fee_usd: o.fee_usd,
                term: o.term_months,
                divisible: o.divisible,
                delivered: 1.0,
                parent: ci,
                merged: self.units[ci].reserved,
            });
        }
        Ok(())
    }

    fn add_candidates(&mut self, plan: &PlanSpec, catalog: &Catalog) -> Result<(), PlanError> {
        for k in &plan.candidates {
            let acc = accelerator(catalog, &k.accelerator)?;
            let site_name = format!("{}/{}", k.provider, k.site);
            let site = self
                .site_index(&site_name)
                .ok_or_else(|| PlanError::Unknown(format!("site `{site_name}`")))?;
            let s = self.month_of(k.start);
            let e = self.month_of(k.start.add_months(k.term_months));
            let months: Vec<usize> = (s.max(0)..e.min(self.months() as i64))
                .map(|t| t as usize)
                .collect();
            self.units.push(Unit {
                name: k.name.clone(),
                site,
                provider: k.provider.clone(),
                accelerator: k.accelerator.clone(),
                vendor: acc.vendor,
                train: acc.train_throughput,
                infer: acc.infer_throughput,
                power_kw: acc.power_kw,
                reserved: true,
                usd_per_gpu_hour: k.usd_per_gpu_hour,
                contract: None,
                base_gpus: vec![0.0; self.months()],
                billed_gpus: vec![0.0; self.months()],
                source: Source::Candidate(self.candidates.len()),
            });
            self.candidates.push(CandidateDef {
                name: k.name.clone(),
                unit: self.units.len() - 1,
                months,
                min_gpus: k.min_gpus as f64,
                max_gpus: k.max_gpus as f64,
                power_mw: k.power_mw,
                delivered: 1.0,
            });
        }
        Ok(())
    }

    fn add_cpu_pools(&mut self, plan: &PlanSpec) -> Result<(), PlanError> {
        for c in &plan.cpu_pools {
            let site = self
                .site_index(&c.site)
                .ok_or_else(|| PlanError::Unknown(format!("site `{}`", c.site)))?;
            self.cpu_pools.push(CpuPoolDef {
                site,
                cores: c.cores as f64,
                usd_per_core_hour: c.usd_per_core_hour,
                mw_per_core: c.watts_per_core / 1e6,
            });
        }
        Ok(())
    }

    fn add_demands(
        &mut self,
        doc: &Document,
        plan: &PlanSpec,
        catalog: &Catalog,
    ) -> Result<(), PlanError> {
        for d in &plan.demand {
            let curve: Vec<f64> = (0..self.months())
                .map(|t| curve_at(&d.curve, self.month_starts[t]))
                .collect();
            let penalty = d
                .unmet_usd_per_gpu_hour
                .unwrap_or(plan.unmet_usd_per_gpu_hour);
            match d.kind {
                DemandKind::Training => {
                    self.demands.push(Demand {
                        name: d.name.clone(),
                        curve: d.name.clone(),
                        kind: d.kind,
                        asked: curve,
                        filter: Filter::Training {
                            accelerators: d.accelerators.clone(),
                            providers: d.providers.clone(),
                        },
                        penalty_usd_per_hour: penalty,
                        h100e_per_unit: 1.0,
                        critical: d.critical,
                        hard: d.hard,
                        zone: None,
                    });
                }
                DemandKind::Inference => {
                    let sname = d.service.as_deref().unwrap_or_default();
                    let s = doc
                        .services
                        .iter()
                        .find(|s| s.name == sname)
                        .ok_or_else(|| PlanError::Unknown(format!("service `{sname}`")))?;
                    // Requests per second one GPU serves, per accelerator, and the
                    // best of them per H100-equivalent: unmet requests are priced
                    // as the fewest H100-equivalent GPUs that would have served them.
                    let gpr = f64::from(s.gpus_per_replica.max(1));
                    let mut rps_per_h100e: f64 = 0.0;
                    for (a, tp) in &s.throughput {
                        if let Some(acc) = catalog.get(a) {
                            rps_per_h100e = rps_per_h100e.max(tp / gpr / acc.infer_throughput);
                        }
                    }
                    let rps_per_h100e = rps_per_h100e.max(1e-9);
                    let rps_per_gpu: Vec<(String, f64)> = s
                        .throughput
                        .iter()
                        .map(|(a, tp)| (a.clone(), tp / gpr))
                        .collect();
                    for z in &s.demand {
                        self.demands.push(Demand {
                            name: format!("{}@{}", d.name, z.zone),
                            curve: d.name.clone(),
                            kind: d.kind,
                            asked: curve.iter().map(|f| f * z.rps).collect(),
                            filter: Filter::Inference {
                                rps_per_gpu: rps_per_gpu.clone(),
                                regions: s.regions.clone(),
                                providers: d.providers.clone(),
                            },
                            penalty_usd_per_hour: penalty / rps_per_h100e,
                            h100e_per_unit: 1.0 / rps_per_h100e,
                            critical: true,
                            hard: d.hard,
                            zone: Some(z.zone.clone()),
                        });
                    }
                }
                DemandKind::Cpu => {
                    self.demands.push(Demand {
                        name: d.name.clone(),
                        curve: d.name.clone(),
                        kind: d.kind,
                        asked: curve,
                        filter: Filter::Cpu {
                            providers: d.providers.clone(),
                        },
                        penalty_usd_per_hour: penalty,
                        h100e_per_unit: 0.0,
                        critical: false,
                        hard: d.hard,
                        zone: None,
                    });
                }
            }
        }
        Ok(())
    }
}

impl Instance {
    /// Who may serve demand `d`, and how much one GPU (or core) serves.
    pub fn arcs(&self, d: &Demand) -> Vec<Arc> {
        let any = |list: &[String], x: &str| list.is_empty() || list.iter().any(|y| y == x);
        match &d.filter {
            Filter::Training {
                accelerators,
                providers,
            } => self
                .units
                .iter()
                .enumerate()
                .filter(|(_, u)| any(accelerators, &u.accelerator) && any(providers, &u.provider))
                .map(|(i, u)| Arc {
                    unit: i,
                    per_gpu: u.train,
                })
                .collect(),
            Filter::Inference {
                rps_per_gpu,
                regions,
                providers,
            } => self
                .units
                .iter()
                .enumerate()
                .filter_map(|(i, u)| {
                    let site = &self.sites[u.site];
                    let (_, rps) = rps_per_gpu.iter().find(|(a, _)| *a == u.accelerator)?;
                    let (p, r) = site.name.split_once('/')?;
                    let allowed =
                        regions.is_empty() || regions.iter().any(|x| region_matches(x, p, r));
                    (Some(&site.zone) == d.zone.as_ref() && allowed && any(providers, &u.provider))
                        .then_some(Arc {
                            unit: i,
                            per_gpu: *rps,
                        })
                })
                .collect(),
            Filter::Cpu { providers } => self
                .cpu_pools
                .iter()
                .enumerate()
                .filter(|(_, c)| any(providers, &self.sites[c.site].provider))
                .map(|(i, _)| Arc {
                    unit: i,
                    per_gpu: 1.0,
                })
                .collect(),
        }
    }
}

pub(crate) fn accelerator<'a>(
    catalog: &'a Catalog,
    name: &str,
) -> Result<&'a gf_model::Accelerator, PlanError> {
    catalog
        .get(name)
        .ok_or_else(|| PlanError::Unknown(format!("accelerator `{name}`")))
}

/// Months from the month of `a` to the month of `b`.
pub fn month_index(a: Date, b: Date) -> i64 {
    let (ya, ma, _) = a.ymd();
    let (yb, mb, _) = b.ymd();
    (i64::from(yb) - i64::from(ya)) * 12 + i64::from(mb) - i64::from(ma)
}

/// A curve's value on day `d`: linear between points, flat outside them.
pub fn curve_at(points: &[gf_model::plan::CurvePoint], d: Date) -> f64 {
    let Some(first) = points.first() else {
        return 0.0;
    };
    if d <= first.date {
        return first.value;
    }
    for w in points.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if d <= b.date {
            let span = f64::from(b.date.days() - a.date.days()).max(1.0);
            let f = f64::from(d.days() - a.date.days()) / span;
            return a.value + (b.value - a.value) * f;
        }
    }
    points.last().map_or(0.0, |p| p.value)
}
