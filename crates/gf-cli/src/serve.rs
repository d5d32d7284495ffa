//! `gigafleet serve`: the live control plane (gf-server) on a fleet file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use gf_server::{BackendConfig, ServeConfig, StoreConfig};

/// Engines `serve` can drive.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BackendArg {
    /// Each cluster's engine as the fleet file names it (`backend = { slurm
    /// = { ... } }`); the simulated world runs the clusters that name none.
    Fleet,
    /// The digital twin's simulated world for every cluster, whatever the
    /// fleet file names: a dry run, in accelerated real time.
    Sim,
}

#[derive(Args)]
pub struct ServeArgs {
    /// The fleet file.
    #[arg(long)]
    fleet: String,
    /// Keep state in embedded SQLite in this directory (the default: ./gigafleet-data).
    #[arg(long, conflicts_with = "database")]
    data_dir: Option<PathBuf>,
    /// Keep state in PostgreSQL (postgres://...); several replicas may share it.
    #[arg(long)]
    database: Option<String>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8470")]
    listen: SocketAddr,
    /// The engines that run the work.
    #[arg(long, value_enum, default_value = "fleet")]
    backend: BackendArg,
    /// Control-plane seconds per wall-clock second: 60 by default when
    /// every cluster is simulated; a fleet with a real engine runs at 1.
    #[arg(long)]
    time_scale: Option<f64>,
    /// Seed of the simulated world (kept at first start).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Scheduling policy: default, first-fit, best-fit, cheapest.
    #[arg(long, default_value = "default")]
    policy: String,
}

pub fn run(a: ServeArgs) -> anyhow::Result<ExitCode> {
    let src = std::fs::read_to_string(&a.fleet)
        .with_context(|| format!("cannot read the fleet file {}", a.fleet))?;
    if let Some(s) = a.time_scale
        && !(s.is_finite() && s > 0.0 && s <= 1e6)
    {
        anyhow::bail!("--time-scale must be a number in (0, 1000000]");
    }
    let store = match (a.database, a.data_dir) {
        (Some(url), _) => StoreConfig::Postgres(url),
        (None, Some(d)) => StoreConfig::DataDir(d),
        (None, None) => StoreConfig::DataDir(PathBuf::from("gigafleet-data")),
    };
    let mut cfg = ServeConfig::new(a.fleet.clone(), src, store);
    cfg.listen = a.listen;
    cfg.backend = match a.backend {
        BackendArg::Fleet => BackendConfig::Fleet,
        BackendArg::Sim => BackendConfig::Sim,
    };
    cfg.time_scale = a.time_scale;
    cfg.seed = a.seed;
    cfg.policy = a.policy;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match rt.block_on(gf_server::serve(cfg)) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(gf_server::ServerError::Fleet(d) | gf_server::ServerError::Backend(d)) => {
            eprintln!("{d}");
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(e.into()),
    }
}
