//! How `gigafleet serve` is configured: the fleet, where state is kept,
//! where to listen, which engine runs the work and how fast time goes.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Where durable state is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// Embedded SQLite in this directory (the default).
    DataDir(PathBuf),
    /// PostgreSQL at this URL (several replicas may share it).
    Postgres(String),
}

/// Which engine runs the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendConfig {
    /// Each cluster's engine as the fleet file names it (`backend = {
    /// slurm = { ... } }`); the simulated world runs the clusters that name
    /// none.
    Fleet,
    /// The simulated world runs every cluster, whatever engine the fleet
    /// file names: a dry run of a real fleet.
    Sim,
}

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The fleet file's path (for messages).
    pub fleet_path: String,
    /// The fleet file's text.
    pub fleet_src: String,
    /// Durable state.
    pub store: StoreConfig,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The engine.
    pub backend: BackendConfig,
    /// Seconds of the control plane's clock per wall-clock second; `None`
    /// is 60 when every cluster is simulated and 1 (real time) when a real
    /// engine runs any, which is the only scale they take.
    pub time_scale: Option<f64>,
    /// Seed of the simulated world (kept in the store at first start).
    pub seed: u64,
    /// Scheduling policy name (`default`, `first-fit`, `best-fit`, `cheapest`).
    pub policy: String,
    /// Largest request body taken, bytes.
    pub max_body_bytes: usize,
    /// Submissions in flight at once before new ones get 429.
    pub max_inflight_submissions: usize,
    /// Most write requests one store transaction commits; `None` is the
    /// store's default (group commit), `Some(1)` one transaction and one
    /// fsync per request (the baseline `gigafleet bench ingest` measures).
    pub store_max_group: Option<usize>,
}

/// The clock's scale when every cluster is simulated and none is given.
pub const SIM_TIME_SCALE: f64 = 60.0;

impl ServeConfig {
    /// A configuration with the defaults for everything but the fleet and
    /// the store.
    pub fn new(fleet_path: String, fleet_src: String, store: StoreConfig) -> ServeConfig {
        ServeConfig {
            fleet_path,
            fleet_src,
            store,
            listen: SocketAddr::from(([127, 0, 0, 1], 8470)),
            backend: BackendConfig::Fleet,
            time_scale: None,
            seed: 1,
            policy: "default".to_string(),
            max_body_bytes: 1 << 20,
            max_inflight_submissions: 8192,
            store_max_group: None,
        }
    }
}
