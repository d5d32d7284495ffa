//! gf-server is the live control plane's IO shell: `gigafleet serve`.
//!
//! It wraps the same controller (gf-control) and scheduler (gf-sched) that
//! the digital twin runs, with a durable store (gf-store), a backend
//! (gf-backend: each cluster's engine as the fleet file names it — Slurm
//! through gf-slurm — and the simulated world of gf-sim for the clusters
//! that name none; [`engines`] routes between them) and the HTTP API
//! (axum, wire types in gf-api). One reconcile loop ([`reconcile`]) is the
//! only caller of the controller: API handlers ([`routes`]) only append
//! commands to the store's event log or read the store, so reads never wait
//! behind submissions or dispatches, and the log is the whole truth a
//! restarted server (or another replica, on PostgreSQL) rebuilds the
//! controller from.
//!
//! Architecture invariant: no decision is made here. What to run where,
//! when to retry, when to stop are the controller's; this crate carries
//! its actions out and writes down what happened. No `anyhow`: errors are
//! typed and mapped to HTTP codes in one place ([`fail`]).

pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod engines;
pub mod fail;
pub mod failpoint;
pub mod logfmt;
pub mod metrics;
pub mod openapi;
pub mod reconcile;
pub mod routes;
pub mod shared;
pub mod views;
pub mod wire;

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use gf_control::{ControlConfig, Controller};
use gf_model::Document;
use gf_sched::{CapacityIndex, Policy, Topology};
use gf_sim::LiveWorld;
use gf_slurm::tag::Tags;
use gf_slurm::{ClusterConfig, SlurmBackend, SlurmError};
use gf_store::{Store, StoreError, TeamRow, TokenRow};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};

use crate::app::App;
use crate::auth::TokenCache;
use crate::clock::{Clock, wall_epoch_s};
pub use crate::config::{BackendConfig, SIM_TIME_SCALE, ServeConfig, StoreConfig};
use crate::engines::Engines;
use crate::metrics::Metrics;
use crate::reconcile::{LoopError, Reconciler};
use crate::shared::Shared;

/// Why `serve` could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The fleet file is invalid (its diagnostics, one per line).
    #[error("{0}")]
    Fleet(String),
    /// The store refused or failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The data belongs to another fleet.
    #[error(
        "the store holds the state of another fleet (topology epoch {stored:016x}, this file's is {file:016x}); serve it with the fleet file it was created with, or use another --data-dir / database"
    )]
    OtherFleet {
        /// The stored epoch.
        stored: u64,
        /// The file's.
        file: u64,
    },
    /// Listening or serving failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The reconcile loop stopped on a fault.
    #[error("reconcile loop: {0}")]
    Loop(#[from] LoopError),
    /// An unknown scheduling policy.
    #[error("unknown policy `{0}`; known: {known}", known = Policy::NAMES.join(", "))]
    Policy(String),
    /// A real engine the fleet names cannot be used (its configuration,
    /// or its nodes do not match the fleet file).
    #[error("{0}")]
    Backend(String),
    /// A time scale other than 1 with a real engine.
    #[error(
        "--time-scale {0} with real clusters: a fleet with a real engine (Slurm) runs in real time; leave --time-scale out or give 1 (or --backend sim for a dry run)"
    )]
    TimeScale(f64),
}

/// The real engines of a fleet, resolved and checked once at start.
struct Real {
    slurm: Vec<ClusterConfig>,
}

impl Real {
    /// The Slurm clusters the fleet names (none with `--backend sim`),
    /// their node mapping checked against what slurmrestd reports. A cluster
    /// that does not answer is let be (it is reported down once it stays
    /// silent); a mapping that does not match is an error.
    async fn resolve(cfg: &ServeConfig, doc: &Document) -> Result<Real, ServerError> {
        if cfg.backend == BackendConfig::Sim {
            return Ok(Real { slurm: Vec::new() });
        }
        let slurm = ClusterConfig::from_document(doc)
            .map_err(|e| ServerError::Backend(format!("{}: {e}", cfg.fleet_path)))?;
        if slurm.is_empty() {
            return Ok(Real { slurm });
        }
        let mut b = SlurmBackend::new(slurm.clone())
            .map_err(|e| ServerError::Backend(format!("{}: {e}", cfg.fleet_path)))?;
        if let Err(problems) = b.check(wall_epoch_s() as i64).await {
            let mut fatal = Vec::new();
            for p in problems {
                match p {
                    SlurmError::Unreachable { .. } => {
                        tracing::warn!(problem = %p, "a Slurm cluster does not answer at start");
                        eprintln!("gigafleet: warning: {p}");
                    }
                    p => fatal.push(format!("{}: {p}", cfg.fleet_path)),
                }
            }
            if !fatal.is_empty() {
                return Err(ServerError::Backend(fatal.join("\n")));
            }
        }
        Ok(Real { slurm })
    }

    /// The clock's scale: real engines run in real time.
    fn time_scale(&self, asked: Option<f64>) -> Result<f64, ServerError> {
        match asked {
            Some(s) if !self.slurm.is_empty() && (s - 1.0).abs() > f64::EPSILON => {
                Err(ServerError::TimeScale(s))
            }
            Some(s) => Ok(s),
            None if self.slurm.is_empty() => Ok(SIM_TIME_SCALE),
            None => Ok(1.0),
        }
    }

    /// Fresh engines for one term of leadership: the simulated world for
    /// the clusters no real engine runs (none if there are none).
    fn engines(
        &self,
        doc: &Document,
        topo: &Arc<Topology>,
        seed: u64,
        start: i64,
        tags: &Tags,
    ) -> Engines {
        let names: HashSet<String> = self.slurm.iter().map(|c| c.name.clone()).collect();
        let sim = (topo.clusters.len() > names.len())
            .then(|| LiveWorld::new(doc, Arc::clone(topo), seed, start));
        let slurm = (!self.slurm.is_empty()).then(|| {
            SlurmBackend::new(self.slurm.clone())
                .expect("the same configuration built at start")
                .with_tags(tags.clone())
        });
        Engines::new(sim, slurm, names)
    }
}

/// Where the API listens: an address to bind, or a listener bound already.
enum Listen {
    Addr(std::net::SocketAddr),
    Bound(TcpListener),
}

/// Reads the fleet, opens the store and serves until interrupted.
pub async fn serve(cfg: ServeConfig) -> Result<(), ServerError> {
    let listen = Listen::Addr(cfg.listen);
    start(cfg, listen, shutdown()).await
}

/// Like [`serve`], on a listener the caller has bound (`cfg.listen` is not
/// used), until `stop` resolves: then the API stops taking connections,
/// finishes the requests it has, and this returns. Lets a caller run the
/// server in-process on a port it knows (the ingest benchmark).
pub async fn serve_on<F>(
    cfg: ServeConfig,
    listener: TcpListener,
    stop: F,
) -> Result<(), ServerError>
where
    F: Future<Output = ()> + Send + 'static,
{
    start(cfg, Listen::Bound(listener), stop).await
}

async fn start<F>(cfg: ServeConfig, listen: Listen, stop: F) -> Result<(), ServerError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let doc = gf_model::parse_document(&cfg.fleet_path, &cfg.fleet_src).map_err(|ds| {
        ServerError::Fleet(
            ds.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })?;
    if !doc.is_fleet() {
        return Err(ServerError::Fleet(format!(
            "{}:1:1: error: this file describes no fleet; a fleet file has at least one [[provider]]",
            cfg.fleet_path
        )));
    }
    match &cfg.store {
        StoreConfig::DataDir(dir) => {
            let mut o = gf_store::Options::default();
            if let Some(g) = cfg.store_max_group {
                o.max_group = g;
            }
            let store = gf_store::SqliteStore::open_with(dir, o)?;
            run(cfg, doc, store, listen, stop).await
        }
        StoreConfig::Postgres(url) => {
            let mut o = gf_store::PgOptions::default();
            if let Some(g) = cfg.store_max_group {
                o.max_group = g;
            }
            let store = gf_store::PgStore::connect_with(url, o).await?;
            run(cfg, doc, store, listen, stop).await
        }
    }
}

/// What the first start of a deployment fixed for good.
struct Founding {
    /// The simulated world's seed.
    seed: u64,
    /// The simulated world's start, seconds since the epoch.
    start: i64,
    /// The deployment's name: the tags of its runs on real engines carry
    /// it, so that another deployment's jobs are never taken for its own.
    name: String,
}

/// The first-start bookkeeping, kept in the store's metadata: which fleet,
/// which seed and start of the simulated world, the deployment's name, the
/// admin token.
async fn first_start<S: Store>(
    store: &S,
    topo: &Topology,
    doc: &Document,
    cfg: &ServeConfig,
) -> Result<Founding, ServerError> {
    let epoch = format!("{:016x}", topo.epoch);
    store.set_meta("fleet_epoch", &epoch, true).await?;
    let stored = store.meta("fleet_epoch").await?.unwrap_or_default();
    if stored != epoch {
        return Err(ServerError::OtherFleet {
            stored: u64::from_str_radix(&stored, 16).unwrap_or(0),
            file: topo.epoch,
        });
    }
    store
        .set_meta("sim_seed", &cfg.seed.to_string(), true)
        .await?;
    let seed = store
        .meta("sim_seed")
        .await?
        .and_then(|s| s.parse().ok())
        .unwrap_or(cfg.seed);
    let now = wall_epoch_s() as i64;
    store
        .set_meta("sim_start_s", &now.to_string(), true)
        .await?;
    let start = store
        .meta("sim_start_s")
        .await?
        .and_then(|s| s.parse().ok())
        .unwrap_or(now);
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).map_err(|e| ServerError::Io(std::io::Error::other(e.to_string())))?;
    let name = auth::hex(&b);
    store.set_meta("deployment", &name, true).await?;
    let name = store.meta("deployment").await?.unwrap_or(name);
    for t in &doc.teams {
        store
            .put_team(TeamRow {
                name: t.name.clone(),
                quota_json: serde_json::to_string(&t.quota).unwrap_or_default(),
                weight: t.weight,
                max_priority: t.max_priority,
            })
            .await?;
    }
    if store.set_meta("admin_token", "issued", true).await? {
        let secret = auth::new_secret()
            .map_err(|e| ServerError::Io(std::io::Error::other(e.to_string())))?;
        store
            .add_token(TokenRow {
                sha256: auth::hash(&secret),
                team: None,
                label: "admin (first start)".into(),
                created_at_s: now,
                revoked: false,
            })
            .await?;
        // Printed once; only its hash is kept.
        eprintln!("gigafleet: admin token (shown once, keep it): {secret}");
    }
    Ok(Founding { seed, start, name })
}

/// The clock: a real engine runs on the wall clock; the simulated one
/// continues from the last time the log holds.
async fn clock<S: Store>(store: &S, scale: f64, start: i64) -> Result<Clock, ServerError> {
    if (scale - 1.0).abs() < f64::EPSILON {
        return Ok(Clock::new(wall_epoch_s(), 1.0));
    }
    let last = store.last_seq().await?;
    let at = if last == 0 {
        start
    } else {
        store
            .read_log(last - 1, 1)
            .await?
            .first()
            .map_or(start, |r| r.at_s)
    };
    Ok(Clock::new(at.max(start) as f64, scale))
}

async fn run<S: Store, F>(
    cfg: ServeConfig,
    doc: Document,
    store: S,
    listen: Listen,
    stop: F,
) -> Result<(), ServerError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let policy =
        Policy::named(&cfg.policy).ok_or_else(|| ServerError::Policy(cfg.policy.clone()))?;
    let topo = Arc::new(Topology::from_document(&doc));
    let real = Real::resolve(&cfg, &doc).await?;
    let scale = real.time_scale(cfg.time_scale)?;
    let doc = Arc::new(doc);
    let Founding { seed, start, name } = first_start(&store, &topo, &doc, &cfg).await?;
    let tags = Tags::named(&name).ok_or_else(|| {
        ServerError::Backend(format!(
            "the store names this deployment `{name}`, which is not 1 to 16 lowercase letters and digits"
        ))
    })?;
    let clock = clock(&store, scale, start).await?;
    let shared = Arc::new(Shared::default());
    let metrics = Arc::new(Metrics::new());
    let (qtx, mut qrx) = mpsc::channel(256);
    let app = App {
        store: store.clone(),
        doc: Arc::clone(&doc),
        topo: Arc::clone(&topo),
        clock,
        shared: Arc::clone(&shared),
        metrics: Arc::clone(&metrics),
        queries: qtx,
        inflight: Arc::new(Semaphore::new(cfg.max_inflight_submissions)),
        tokens: Arc::new(TokenCache::default()),
    };
    let listener = match listen {
        Listen::Addr(a) => TcpListener::bind(a).await?,
        Listen::Bound(l) => l,
    };
    tracing::info!(addr = %listener.local_addr()?, "listening");
    eprintln!("gigafleet: listening on http://{}", listener.local_addr()?);
    let router = routes::router(app, cfg.max_body_bytes);
    let http = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(stop)
            .await
    });
    let control = async move {
        loop {
            let Some(fence) = store.acquire_leadership().await? else {
                shared.set_leader(false);
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            };
            shared.set_leader(true);
            let cc = control_config(&doc, clock.scale());
            let ctl = Controller::new(
                Arc::clone(&topo),
                CapacityIndex::new(&topo),
                policy.clone(),
                seed,
                cc,
            );
            let engines = real.engines(&doc, &topo, seed, start, &tags);
            let mut r = Reconciler::new(
                store.clone(),
                fence,
                ctl,
                engines,
                Arc::clone(&doc),
                clock,
                start,
                Arc::clone(&shared),
                Arc::clone(&metrics),
            );
            let restored = r.restore().await?;
            tracing::info!(
                entries = restored.entries,
                fresh = restored.fresh_reports,
                held_real = restored.held_real,
                "controller restored from the log"
            );
            match r.run(qrx).await {
                Err(LoopError::Deposed) => {
                    shared.set_leader(false);
                    shared.set_ready(false);
                    tracing::warn!("deposed; waiting to lead again");
                    let (_tx, rx) = mpsc::channel(1);
                    qrx = rx;
                }
                Err(e) => return Err(ServerError::Loop(e)),
                Ok(()) => return Ok(()),
            }
        }
    };
    tokio::select! {
        r = control => r,
        r = http => match r {
            Ok(r) => r.map_err(ServerError::Io),
            Err(e) => Err(ServerError::Io(std::io::Error::other(e.to_string()))),
        },
    }
}

/// Wall seconds a backend's report may take to reach the controller: the
/// loop observes the backend every round and ticks at least every 2 s.
const OBSERVE_LATENCY_WALL_S: f64 = 10.0;

/// The controller's configuration from the fleet file's `[scenario]`
/// (checkpoint policy, failure rates it plans for, retry budgets, hot
/// spares), the defaults without one: the same settings the twin uses.
///
/// Two differences. A dispatch may take, on the controller's clock, the
/// run's start-up plus the time the loop takes to observe the start, which
/// at an accelerated clock is hours; a dispatch timeout shorter than that
/// would give up on every run that is starting as it should. And a cluster
/// back from an outage is held out of placement for [`OUTAGE_HOLDOFF_S`]
/// (the twin, with the default of 0, uses returning capacity at once).
pub fn control_config(doc: &Document, time_scale: f64) -> ControlConfig {
    let (mut cc, startup_s) = match &doc.scenario {
        Some(sc) => (
            gf_sim::control_config(sc),
            sc.checkpoint.restart_overhead_min * 60.0,
        ),
        None => (
            ControlConfig::default(),
            gf_model::scenario::CheckpointSpec::default().restart_overhead_min * 60.0,
        ),
    };
    let latency_s = OBSERVE_LATENCY_WALL_S * time_scale;
    cc.dispatch_timeout_s = cc
        .dispatch_timeout_s
        .max((startup_s + latency_s).ceil() as i64);
    if cc.outage_holdoff_s == 0 {
        cc.outage_holdoff_s = OUTAGE_HOLDOFF_S;
    }
    // An ended job's record leaves the controller once its last state is
    // written to the store, which answers for it from then on: a control
    // plane that runs for months would otherwise hold every job it ever
    // ran (and look through all of them for the waiting ones each round).
    cc.keep_ended_jobs = false;
    cc
}

/// Seconds a cluster back from an outage is held out of placement by the
/// live control plane: long enough that a cluster flapping on one fault is
/// not handed work again at each return.
pub const OUTAGE_HOLDOFF_S: i64 = 600;

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
