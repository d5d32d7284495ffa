//! A Slurm cluster as the backend uses it: the fleet file's
//! `backend = { slurm = { ... } }` resolved into node names in domain order,
//! GPUs per node and a token source, under the cluster's full name.

use std::path::PathBuf;
use std::time::Duration;

use gf_model::{BackendSpec, Catalog, Document};

use crate::error::SlurmError;
use crate::token::TokenSource;

/// How long a call may take: more than slurmrestd's own wait for an absent
/// slurmctld (`MessageTimeout`, 10 s by default) so that its answer, not
/// ours, says what happened.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// One Slurm cluster behind one fleet cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The fleet cluster's full name, `provider/region/cluster`.
    pub name: String,
    /// slurmrestd's base URL.
    pub url: String,
    /// The slurmrestd API version (`v0.0.38`).
    pub api: String,
    /// The partition jobs go to.
    pub partition: String,
    /// The Slurm user jobs run as.
    pub user: String,
    /// Where the JWT comes from.
    pub token: TokenSource,
    /// Node names in domain order: domain `i` is
    /// `nodes[i * nodes_per_domain..(i + 1) * nodes_per_domain]`.
    pub nodes: Vec<String>,
    /// Slurm nodes per NVLink domain.
    pub nodes_per_domain: u32,
    /// GPUs per Slurm node.
    pub gpus_per_node: u32,
    /// How long one call may take.
    pub timeout: Duration,
    /// How long the cluster may go without answering before it is
    /// reported down.
    pub down_after: Duration,
    /// The working directory of a job that names none (it must exist on the
    /// nodes and be writable by the user).
    pub default_workdir: String,
}

impl ClusterConfig {
    /// NVLink domains of the cluster.
    pub fn domains(&self) -> u32 {
        (self.nodes.len() as u32) / self.nodes_per_domain.max(1)
    }

    /// The nodes of domain `i`.
    pub fn domain_nodes(&self, i: u32) -> &[String] {
        let n = self.nodes_per_domain as usize;
        &self.nodes[i as usize * n..(i as usize + 1) * n]
    }

    /// Every cluster of a (validated) fleet document that names a Slurm
    /// backend, with tokens from the environment or files.
    pub fn from_document(doc: &Document) -> Result<Vec<ClusterConfig>, SlurmError> {
        let catalog = Catalog::with_overrides(&doc.accelerators);
        let mut out = Vec::new();
        for (p, r, c) in doc.clusters() {
            let Some(BackendSpec::Slurm(s)) = &c.backend else {
                continue;
            };
            let name = format!("{}/{}/{}", p.name, r.name, c.name);
            let config = |message: String| SlurmError::Config {
                cluster: name.clone(),
                message,
            };
            let nodes = s.nodes.expand().map_err(config)?;
            let token = match (&s.token_env, &s.token_file) {
                (Some(var), _) => TokenSource::Fixed {
                    token: std::env::var(var).map_err(|_| {
                        config(format!(
                            "token_env names `{var}`, which is not set in the server's environment"
                        ))
                    })?,
                    origin: format!("${var}"),
                },
                (None, Some(file)) => TokenSource::File(PathBuf::from(file)),
                (None, None) => return Err(config("no token_env nor token_file".into())),
            };
            let domain_gpus = gf_model::domain_gpus(&catalog, c);
            out.push(ClusterConfig {
                name: name.clone(),
                url: s.url.clone(),
                api: s.api.clone(),
                partition: s.partition.clone(),
                user: s.user.clone(),
                token,
                nodes,
                nodes_per_domain: s.nodes_per_domain,
                gpus_per_node: s.node_gpus(domain_gpus),
                timeout: DEFAULT_TIMEOUT,
                down_after: Duration::from_secs(u64::from(s.down_after_s)),
                default_workdir: "/tmp".into(),
            });
        }
        Ok(out)
    }
}
