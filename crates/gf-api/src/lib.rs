//! gf-api is the wire of gigafleet's HTTP API v1: what a client sends and
//! what the server answers, as plain serde types with their OpenAPI
//! schemas (utoipa). The server (gf-server) and the CLI client (gf-cli)
//! both speak through these types, so the two can never disagree about a
//! field.
//!
//! Architecture invariant: wire types only. No handler, no IO, no
//! knowledge of the controller or the store; the one place where an
//! [`ErrorCode`] becomes an HTTP status is [`ErrorCode::status`].

pub mod error;
pub mod fleet;
pub mod jobs;
pub mod services;
pub mod teams;

pub use error::{ApiError, ErrorCode, Problem};
pub use fleet::{ClusterView, ContractView, FleetView, HealthView, SiteView, SnapshotQuery};
pub use jobs::{
    CauseCount, EventView, ExecSubmit, ExplainView, JobList, JobSubmit, JobView, PlacementView,
    SlotView,
};
pub use services::{ServiceCreate, ServiceList, ServiceUpdate, ServiceView, ZoneDemand};
pub use teams::{TeamList, TeamView, TokenCreate, TokenCreated, TokenList, TokenView};

/// The API's version, the first segment of every resource path.
pub const API_VERSION: &str = "v1";
