//! gf-model is gigafleet's vocabulary: the words that the fleet file, the
//! workload files, the scheduler, the simulator, the API and the CLI share.
//!
//! It holds the accelerator catalog, the fleet and workload specs, their TOML
//! file format and the compiler-style validation of that format. It does no IO
//! beyond parsing a string it is handed, reads no clock and is not async, so
//! every layer above may depend on it.

pub mod backend;
pub mod catalog;
pub mod chunked;
pub mod diag;
pub mod ids;
pub mod latency;
mod locs;
pub mod parse;
pub mod plan;
pub mod protocol;
mod read;
pub mod scenario;
pub mod spec;
mod tbl;
pub mod units;
mod validate;

pub use backend::{BackendSpec, NodeNames, SlurmSpec};
pub use catalog::{Accelerator, Catalog, Vendor};
pub use diag::{Diagnostic, Diagnostics, Severity};
pub use latency::{LatencySpec, ZoneRtt};
pub use parse::{parse_document, parse_document_with, parse_tree_with, parse_what_if};
pub use scenario::ScenarioSpec;
pub use spec::*;
pub use units::Date;
pub use validate::{
    MAX_DOMAIN_GPUS, MAX_FLEET_DOMAINS, MAX_FLEET_GPUS, domain_gpus, region_matches,
};
