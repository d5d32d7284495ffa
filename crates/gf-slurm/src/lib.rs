//! gf-slurm runs gigafleet's placed work on real Slurm clusters, through
//! slurmrestd with JWT authentication: [`SlurmBackend`] implements
//! gf-backend's `Backend` trait and passes its conformance suite against
//! real Slurm daemons (see `tests/`, started by `scripts/slurm-up.sh`).
//!
//! gigafleet decides which cluster and which NVLink domains; Slurm runs the
//! processes. A placement becomes one batch job on exactly the nodes of the
//! chosen domains ([`submit`](crate::submit)), named with the run's tag
//! ([`tag`]) so that it can be found again after any crash; Slurm's job and
//! node states become reports ([`SlurmBackend`]).
//!
//! Layout: [`api`](crate::api) holds the version-neutral view of jobs, nodes
//! and errors; `v0_0_38` is the one module that knows slurmrestd 22.05's
//! wire format (a `v0_0_40` goes beside it); `client` is the HTTP side
//! (reqwest with rustls), [`token`] keeps the JWT fresh and [`config`]
//! resolves the fleet file's `backend = { slurm = { ... } }`.
//!
//! Architecture invariant: like every backend, it carries decisions and
//! never makes them; it depends on gf-model and gf-backend only, never on
//! gf-sched or gf-control. It is the layer that brings an HTTP client and
//! needs a tokio runtime to be driven; gf-backend stays runtime-free so the
//! twin never compiles one.

mod api;
mod backend;
mod client;
pub mod config;
mod error;
mod submit;
pub mod tag;
pub mod token;
mod v0_0_38;

pub use backend::SlurmBackend;
pub use config::ClusterConfig;
pub use error::SlurmError;
pub use token::TokenSource;
