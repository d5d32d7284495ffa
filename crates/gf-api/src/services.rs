//! Inference services on the wire: creation (the fields of a `[[service]]`
//! table), an update of demand and bounds, and a service as it runs.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Demand from one latency zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ZoneDemand {
    /// The users' latency zone (a zone of the fleet).
    pub zone: String,
    /// Requests per second from it, at least 0.
    pub rps: f64,
}

/// A service to create: the same fields as a `[[service]]` table of a work
/// file. `team` may be left out: the token's team is taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceCreate {
    /// Its name, unique among live services.
    pub name: String,
    /// Its team; must be the token's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// The model served.
    pub model: String,
    /// Priority against training (default 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// GPUs per replica.
    pub gpus_per_replica: u32,
    /// Requests per second one replica serves, by accelerator name.
    pub throughput: std::collections::BTreeMap<String, f64>,
    /// Demand by zone.
    pub demand: Vec<ZoneDemand>,
    /// Latency SLO, milliseconds: round trip, queueing and service
    /// together.
    pub latency_slo_ms: f64,
    /// Milliseconds a replica takes to serve one request with no queue in
    /// front of it (absent: a thousand over the throughput).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_ms: Option<f64>,
    /// Regions it may run in; empty means any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    /// Providers it must spread over, at least.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_providers: Option<u32>,
    /// Largest share of its replicas on one provider (0-1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_share_per_provider: Option<f64>,
    /// Replicas at least.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_replicas: Option<u32>,
    /// Replicas at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replicas: Option<u32>,
}

/// A change to a running service: its demand now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceUpdate {
    /// Demand by zone, replacing what was observed before.
    pub demand: Vec<ZoneDemand>,
}

/// A service as it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceView {
    /// Its id.
    pub id: u32,
    /// Its name.
    pub name: String,
    /// Its team.
    pub team: String,
    /// Deleted (its replicas are stopped).
    pub deleted: bool,
    /// The controller's view: `replicas`, `replicas_by_zone`, `demand_rps`
    /// and `served_within_slo_rps` (empty until the controller sized it).
    pub status: serde_json::Value,
    /// What was submitted.
    pub spec: serde_json::Value,
}

/// Every service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceList {
    /// By id.
    pub services: Vec<ServiceView>,
}
