//! The engines behind one fleet, as one backend: each cluster is run by the
//! engine its fleet file names (`backend = { slurm = { ... } }`), and the
//! simulated world of the twin runs every cluster that names none.
//!
//! The reconcile loop speaks to one [`Backend`]; a fleet may mix engines
//! (two providers' Slurm clusters beside simulated capacity still to be
//! bought). So this router sends each dispatch to the engine of its
//! cluster, each stop to the engine its run was sent to, and merges what
//! the engines observe. The simulated world models the whole fleet, so what
//! it says of a cluster another engine runs (its failures, its ramps) is
//! not the truth of that cluster and is dropped here.
//!
//! The engines differ in one way the loop must know: the simulated world
//! lives in this process and dies with it, so a restarted server rebuilds
//! it by carrying the log's actions out again ([`Engines::replayed`]); a
//! real engine outlives the server and is reconciled instead, from the runs
//! it lists.

use std::collections::{HashMap, HashSet};

use gf_backend::{Backend, BackendError, ClusterCapacity};
use gf_model::protocol::{Report, RunId, RunSpec, ShrinkSpec, StopSpec};
use gf_sim::LiveWorld;
use gf_slurm::SlurmBackend;

/// The run a report says its engine holds no more: one that ended, or one
/// that engine refused to start.
pub fn released(r: &Report) -> Option<RunId> {
    r.run()
        .filter(|_| r.ends_run() || matches!(r, Report::Refused { .. }))
}

/// Which engine runs a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// The simulated world, in this process.
    Sim,
    /// Real Slurm clusters, through slurmrestd.
    Slurm,
}

/// Every engine of the fleet, routed by cluster.
pub struct Engines {
    sim: Option<LiveWorld>,
    slurm: Option<SlurmBackend>,
    /// The clusters Slurm runs, by full name; the others are simulated.
    slurm_clusters: HashSet<String>,
    /// The engine each run was sent to, until its end is reported.
    homes: HashMap<RunId, Engine>,
}

impl Engines {
    /// The engines over the simulated world (for the clusters naming no
    /// engine, if any) and Slurm (for `slurm_clusters`, if any).
    pub fn new(
        sim: Option<LiveWorld>,
        slurm: Option<SlurmBackend>,
        slurm_clusters: HashSet<String>,
    ) -> Engines {
        Engines {
            sim,
            slurm,
            slurm_clusters,
            homes: HashMap::new(),
        }
    }

    /// The engine of a cluster.
    pub fn engine_of(&self, cluster: &str) -> Engine {
        if self.slurm_clusters.contains(cluster) {
            Engine::Slurm
        } else {
            Engine::Sim
        }
    }

    /// The engine a run was sent to, if it was and has not ended.
    pub fn home(&self, run: RunId) -> Option<Engine> {
        self.homes.get(&run).copied()
    }

    /// Whether a restarted server rebuilds this engine's state by carrying
    /// the log's actions out again (the in-process simulated world), rather
    /// than by asking the engine what it runs.
    pub fn replayed(engine: Engine) -> bool {
        engine == Engine::Sim
    }

    /// Notes where a run goes, without sending it (a replayed dispatch of
    /// an engine that is reconciled instead).
    pub fn note_dispatch(&mut self, spec: &RunSpec) {
        let e = self.engine_of(&spec.placement.cluster);
        self.homes.insert(spec.run, e);
    }

    /// Notes a report the controller handled: a run whose end it tells is
    /// nobody's any more; a run reported unknown is where it was found.
    pub fn note_report(&mut self, r: &Report) {
        if let Report::Unknown { run, cluster } = r {
            // Its stop goes where it runs.
            let e = self.engine_of(cluster);
            self.homes.entry(*run).or_insert(e);
        } else if let Some(run) = released(r) {
            self.homes.remove(&run);
        }
    }

    /// Whether a report came from (or is about) the simulated world: the
    /// reports a rebuilt world produces again.
    pub fn is_sim_report(&self, r: &Report) -> bool {
        match r {
            Report::CapacityChanged { cluster, .. } => self.engine_of(cluster) == Engine::Sim,
            Report::Unknown { cluster, .. } => self.engine_of(cluster) == Engine::Sim,
            _ => r
                .run()
                .is_some_and(|run| self.home(run) != Some(Engine::Slurm)),
        }
    }

    /// The simulated world, if the fleet has simulated clusters.
    pub fn sim(&self) -> Option<&LiveWorld> {
        self.sim.as_ref()
    }

    /// The simulated world, mutable.
    pub fn sim_mut(&mut self) -> Option<&mut LiveWorld> {
        self.sim.as_mut()
    }

    /// Whether any cluster is run by a real engine.
    pub fn has_real(&self) -> bool {
        self.slurm.is_some()
    }

    /// What the simulated world reports up to `now`, less what it says of
    /// clusters other engines run.
    pub async fn observe_sim(&mut self, now: i64) -> Result<Vec<Report>, BackendError> {
        let Some(w) = self.sim.as_mut() else {
            return Ok(Vec::new());
        };
        let mut reports = w.observe(now).await?;
        reports.retain(|r| self.is_sim_report(r));
        Ok(reports)
    }

    /// The runs the real engines have now (nothing without one).
    pub async fn real_runs(&mut self, now: i64) -> Result<Vec<RunId>, BackendError> {
        match self.slurm.as_mut() {
            Some(s) => s.runs(now).await,
            None => Ok(Vec::new()),
        }
    }

    fn unserved(cluster: &str) -> BackendError {
        BackendError::UnknownCluster(cluster.to_string())
    }
}

impl Backend for Engines {
    async fn dispatch(&mut self, now: i64, run: &RunSpec) -> Result<(), BackendError> {
        let cluster = &run.placement.cluster;
        let r = match self.engine_of(cluster) {
            Engine::Sim => match self.sim.as_mut() {
                Some(w) => w.dispatch(now, run).await,
                None => Err(Engines::unserved(cluster)),
            },
            Engine::Slurm => match self.slurm.as_mut() {
                Some(s) => s.dispatch(now, run).await,
                None => Err(Engines::unserved(cluster)),
            },
        };
        if r.is_ok() {
            self.note_dispatch(run);
        }
        r
    }

    async fn stop(&mut self, now: i64, stop: &StopSpec) -> Result<(), BackendError> {
        // A run sent before this process started (and not yet reconciled)
        // has no home here: a real engine finds it by its tag.
        let home = self.home(stop.run).unwrap_or(if self.slurm.is_some() {
            Engine::Slurm
        } else {
            Engine::Sim
        });
        match (home, self.sim.as_mut(), self.slurm.as_mut()) {
            (Engine::Sim, Some(w), _) => w.stop(now, stop).await,
            (Engine::Slurm, _, Some(s)) => s.stop(now, stop).await,
            _ => Ok(()),
        }
    }

    async fn shrink(&mut self, now: i64, shrink: &ShrinkSpec) -> Result<(), BackendError> {
        match (
            self.home(shrink.run),
            self.sim.as_mut(),
            self.slurm.as_mut(),
        ) {
            (Some(Engine::Sim), Some(w), _) => w.shrink(now, shrink).await,
            (Some(Engine::Slurm), _, Some(s)) => s.shrink(now, shrink).await,
            // A run no engine here was given has nothing to shrink.
            _ => Ok(()),
        }
    }

    async fn observe(&mut self, now: i64) -> Result<Vec<Report>, BackendError> {
        let sim = self.observe_sim(now).await;
        let real = match self.slurm.as_mut() {
            Some(s) => Some(s.observe(now).await),
            None => None,
        };
        // One engine failing does not hide what the other reports.
        match (sim, real) {
            (Ok(mut a), Some(Ok(b))) => {
                a.extend(b);
                Ok(a)
            }
            (Ok(a), None) => Ok(a),
            (Ok(a), Some(Err(e))) if a.is_empty() && self.sim.is_none() => Err(e),
            (Ok(a), Some(Err(e))) => {
                tracing::warn!(error = %e, "Slurm observation failed");
                Ok(a)
            }
            (Err(e), _) => Err(e),
        }
    }

    async fn capacity(&mut self, now: i64) -> Result<Vec<ClusterCapacity>, BackendError> {
        let mut out = Vec::new();
        if let Some(w) = self.sim.as_mut() {
            let caps = w.capacity(now).await?;
            out.extend(
                caps.into_iter()
                    .filter(|c| !self.slurm_clusters.contains(&c.cluster)),
            );
        }
        if let Some(s) = self.slurm.as_mut() {
            out.extend(s.capacity(now).await?);
        }
        Ok(out)
    }

    async fn runs(&mut self, now: i64) -> Result<Vec<RunId>, BackendError> {
        let mut out = match self.sim.as_mut() {
            Some(w) => w.runs(now).await?,
            None => Vec::new(),
        };
        out.extend(self.real_runs(now).await?);
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use gf_backend::ready;
    use gf_model::protocol::{CapacityCause, DomainSlot, RunKind, RunPlacement};
    use gf_sched::Topology;

    use super::*;

    /// Two clusters, `aws/r/real` standing for a Slurm cluster and
    /// `gcp/s/sim` simulated, both ramping in at the start and failing
    /// often, so the simulated world has plenty to say of both.
    const FLEET: &str = r#"
version = 1
[[provider]]
name = "aws"
[[provider.region]]
name = "r"
power_mw = 1.0
zone = "z1"
[[provider.region.cluster]]
name = "real"
accelerator = "h100"
domains = 2
price = { model = "on-demand", usd_per_gpu_hour = 2.0 }
[[provider]]
name = "gcp"
[[provider.region]]
name = "s"
power_mw = 1.0
zone = "z2"
[[provider.region.cluster]]
name = "sim"
accelerator = "h100"
domains = 2
price = { model = "on-demand", usd_per_gpu_hour = 2.0 }
[scenario]
start = "2026-01-01"
horizon_days = 30
[scenario.failures]
domain_failures_per_domain_year = 200.0
"#;

    fn engines() -> (Engines, i64) {
        let doc = gf_model::parse_document("f.toml", FLEET).expect("the test fleet parses");
        let topo = Arc::new(Topology::from_document(&doc));
        let start = 1_767_225_600;
        let world = LiveWorld::new(&doc, topo, 7, start);
        let real = HashSet::from(["aws/r/real".to_string()]);
        (Engines::new(Some(world), None, real), start)
    }

    fn run_on(cluster: &str) -> RunSpec {
        RunSpec {
            run: RunId { job: 1, attempt: 1 },
            placement: RunPlacement {
                cluster: cluster.into(),
                domains: vec![DomainSlot {
                    index: 0,
                    gpus: 8,
                    spare: false,
                }],
                gpu_milli: None,
            },
            kind: RunKind::Replica {
                service: 1,
                replicas: 1,
            },
        }
    }

    #[test]
    fn the_simulated_world_speaks_only_for_the_clusters_it_runs() {
        let (mut e, start) = engines();
        // A month of the world's failures and ramps: none of what it says
        // of the real cluster comes through.
        let reports = ready(e.observe(start + 30 * 86_400))
            .expect("the world never waits")
            .expect("the world answers");
        let named = |r: &Report| match r {
            Report::CapacityChanged { cluster, .. } => Some(cluster.to_string()),
            _ => None,
        };
        let clusters: HashSet<String> = reports.iter().filter_map(named).collect();
        // The same world unfiltered did speak of the real cluster.
        let (mut raw, _) = engines();
        let world = raw.sim_mut().expect("a simulated world");
        let all = ready(world.observe(start + 30 * 86_400)).unwrap().unwrap();
        assert!(
            all.iter()
                .any(|r| named(r).as_deref() == Some("aws/r/real")),
            "{all:?}"
        );
        assert_eq!(
            clusters,
            HashSet::from(["gcp/s/sim".to_string()]),
            "{reports:?}"
        );
        assert!(reports.iter().any(|r| matches!(
            r,
            Report::CapacityChanged {
                cause: CapacityCause::DomainFailure,
                ..
            }
        )));
        let caps = ready(e.capacity(start)).unwrap().unwrap();
        assert!(caps.iter().all(|c| c.cluster == "gcp/s/sim"), "{caps:?}");
    }

    #[test]
    fn a_run_goes_to_the_engine_of_its_cluster_and_its_stop_follows_it() {
        let (mut e, start) = engines();
        assert_eq!(e.engine_of("aws/r/real"), Engine::Slurm);
        assert_eq!(e.engine_of("gcp/s/sim"), Engine::Sim);
        // No Slurm engine was given: the real cluster is served by nobody.
        assert_eq!(
            ready(e.dispatch(start, &run_on("aws/r/real"))).unwrap(),
            Err(BackendError::UnknownCluster("aws/r/real".into()))
        );
        assert_eq!(e.home(RunId { job: 1, attempt: 1 }), None);
        // On the simulated cluster it runs, and is found there again.
        let _ = ready(e.observe(start + 3600)).unwrap();
        let spec = run_on("gcp/s/sim");
        ready(e.dispatch(start + 3600, &spec))
            .unwrap()
            .expect("dispatched");
        assert_eq!(e.home(spec.run), Some(Engine::Sim));
        let listed = ready(e.runs(start + 3600)).unwrap().unwrap();
        assert_eq!(listed, vec![spec.run]);
        // Its end forgets where it went.
        e.note_report(&Report::Lost {
            run: spec.run,
            progress: None,
        });
        assert_eq!(e.home(spec.run), None);
    }
}
