//! The fleet on the wire: clusters with their capacity, sites with their
//! power, contracts with their burn, the server's health, and the
//! snapshot query.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// One cluster now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClusterView {
    /// `provider/region/cluster`.
    pub name: String,
    /// Its accelerator.
    pub accelerator: String,
    /// reserved, on-demand or spot (as fleet files spell them).
    pub price_model: String,
    /// USD per GPU-hour.
    pub usd_per_gpu_hour: f64,
    /// NVLink domains in all, and GPUs per domain.
    pub domains: u32,
    /// GPUs per NVLink domain.
    pub domain_gpus: u32,
    /// GPUs online now.
    pub online_gpus: u64,
    /// GPUs allocated now.
    pub allocated_gpus: u64,
}

/// One site (a provider's region) now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SiteView {
    /// `provider/region`.
    pub name: String,
    /// Its power envelope, MW.
    pub envelope_mw: f64,
    /// Drawn by allocated GPUs now, MW.
    pub drawn_mw: f64,
}

/// The fleet now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FleetView {
    /// The control plane's clock, RFC 3339.
    pub at: String,
    /// Clusters.
    pub clusters: Vec<ClusterView>,
    /// Sites.
    pub sites: Vec<SiteView>,
    /// Jobs waiting to be placed.
    pub pending_jobs: u64,
}

/// A contract now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ContractView {
    /// Its name.
    pub name: String,
    /// Its provider.
    pub provider: String,
    /// Committed spend, USD.
    pub committed_usd: f64,
    /// Spent so far as billing last reported, USD.
    pub spent_usd: f64,
    /// First day, `YYYY-MM-DD`.
    pub start: String,
    /// Term, months.
    pub term_months: u32,
}

/// The server's view of itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HealthView {
    /// `ok` once the controller is restored and the backend answers.
    pub status: String,
    /// This replica runs the controller.
    pub leader: bool,
    /// The last log entry the controller handled.
    pub handled_seq: u64,
    /// The last log entry written.
    pub log_seq: u64,
    /// The backend answered its last call.
    pub backend_reachable: bool,
    /// The control plane's clock, RFC 3339.
    pub at: String,
}

/// What `GET /v1/snapshot` takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
pub struct SnapshotQuery {
    /// Days the scenario runs forward from now (1-3650, default 7).
    #[serde(default)]
    #[param(minimum = 1, maximum = 3650)]
    pub horizon_days: Option<u32>,
}
