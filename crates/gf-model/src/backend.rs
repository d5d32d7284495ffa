//! How a cluster of the fleet is run: the engine behind it (a Slurm cluster
//! reached through slurmrestd) and how its NVLink domains map to that
//! engine's hosts.
//!
//! The scheduler places work on domains by their index within a cluster; a
//! real engine knows hosts by name. This module is the bridge, written in the
//! fleet file beside the cluster it describes, so that the domains the
//! scheduler picked become a Slurm node list without any other lookup. It is
//! its own concern, apart from the fleet's capacity and price, and only the
//! backends (and `validate`) read it; the scheduler and the twin ignore it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::locs::Locs;

/// The engine that runs a cluster's work. Written in the fleet file as
/// `backend = { slurm = { ... } }`; a cluster without one is run by the
/// simulated world (or whatever engine the server is given).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum BackendSpec {
    /// A Slurm cluster reached through slurmrestd.
    Slurm(SlurmSpec),
}

/// The slurmrestd OpenAPI plugin versions gigafleet speaks.
pub const SLURM_API_VERSIONS: [&str; 1] = ["v0.0.38"];

/// A Slurm cluster behind one gigafleet cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlurmSpec {
    /// slurmrestd's base URL, e.g. `https://slurm.example.com:6820`.
    pub url: String,
    /// The slurmrestd OpenAPI plugin version to speak; `v0.0.38` (Slurm 22.05).
    #[serde(default = "default_api")]
    pub api: String,
    /// The partition jobs are submitted to.
    pub partition: String,
    /// The Slurm user jobs run as (slurmrestd's `X-SLURM-USER-NAME`).
    pub user: String,
    /// An environment variable of the server holding the user's JWT
    /// (`scontrol token`); fixed for the server's life.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    /// A file holding the user's JWT, read again whenever it changes, so a
    /// job that runs `scontrol token` periodically keeps the server's token
    /// fresh. Exactly one of `token_env` and `token_file` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
    /// The cluster's Slurm node names in domain order: an explicit list or a
    /// pattern such as `gpu-[001-128]`.
    pub nodes: NodeNames,
    /// Slurm nodes per NVLink domain (1 for an HGX server, 18 for an NVL72
    /// rack of 4-GPU trays).
    #[serde(default = "one_node")]
    pub nodes_per_domain: u32,
    /// GPUs per Slurm node (its `gres=gpu:N`); without it, the domain's GPUs
    /// divided by `nodes_per_domain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus_per_node: Option<u32>,
    /// Seconds the cluster may go without answering before the backend
    /// reports it down (every domain offline, a cluster outage), so that
    /// the controller re-places its work elsewhere. Shorter than this is a
    /// blip: nothing is known to have happened to the runs there.
    #[serde(default = "default_down_after")]
    pub down_after_s: u32,
    #[serde(skip)]
    #[schemars(skip)]
    #[allow(missing_docs)]
    pub locs: Locs,
}

fn default_api() -> String {
    SLURM_API_VERSIONS[0].to_string()
}

/// Seconds without an answer before a Slurm cluster counts as down, when
/// the fleet file does not say: several slurmrestd timeouts
/// (`MessageTimeout` is 10 s by default), so one slow answer is not an
/// outage.
pub const DEFAULT_DOWN_AFTER_S: u32 = 60;

fn default_down_after() -> u32 {
    DEFAULT_DOWN_AFTER_S
}

fn one_node() -> u32 {
    1
}

impl SlurmSpec {
    /// GPUs per node for a cluster whose domains hold `domain_gpus`.
    pub fn node_gpus(&self, domain_gpus: u32) -> u32 {
        self.gpus_per_node
            .unwrap_or(domain_gpus / self.nodes_per_domain.max(1))
    }
}

/// Slurm node names: a list, or a pattern with one bracketed range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum NodeNames {
    /// A pattern such as `gpu-[001-128]` or `a[1-4,7]`: a prefix, one
    /// bracketed comma-separated list of numbers and ranges (zero padding
    /// kept), and a suffix.
    Pattern(String),
    /// The names, one by one, in domain order.
    List(Vec<String>),
}

impl NodeNames {
    /// The names in domain order, or what is wrong with the pattern.
    pub fn expand(&self) -> Result<Vec<String>, String> {
        match self {
            NodeNames::List(names) => Ok(names.clone()),
            NodeNames::Pattern(p) => expand_pattern(p),
        }
    }
}

/// The most node names a pattern may expand to, so that a typo such as
/// `gpu-[1-99999999]` is an error rather than an allocation.
pub const MAX_PATTERN_NODES: u64 = 1 << 20;

/// Expands `prefix[ranges]suffix`; a pattern without brackets is one name.
pub fn expand_pattern(p: &str) -> Result<Vec<String>, String> {
    let Some(open) = p.find('[') else {
        if p.contains(']') || p.is_empty() {
            return Err(format!(
                "node pattern `{p}` is not a name nor `prefix[1-4]`"
            ));
        }
        return Ok(vec![p.to_string()]);
    };
    let close = p[open..]
        .find(']')
        .map(|i| open + i)
        .ok_or_else(|| format!("node pattern `{p}` has `[` without `]`"))?;
    let (prefix, body, suffix) = (&p[..open], &p[open + 1..close], &p[close + 1..]);
    if suffix.contains('[') || suffix.contains(']') || prefix.contains(']') {
        return Err(format!(
            "node pattern `{p}` has more than one bracket; write one range, e.g. gpu-[001-128]"
        ));
    }
    let mut out = Vec::new();
    for part in body.split(',') {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let num = |s: &str| -> Result<u64, String> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "node pattern `{p}`: `{part}` is not a number nor a range such as 001-128"
                ));
            }
            s.parse::<u64>()
                .map_err(|_| format!("node pattern `{p}`: `{s}` is too large"))
        };
        let (a, b) = (num(lo)?, num(hi)?);
        if b < a {
            return Err(format!("node pattern `{p}`: range `{part}` runs backwards"));
        }
        if out.len() as u64 + (b - a + 1) > MAX_PATTERN_NODES {
            return Err(format!(
                "node pattern `{p}` names more than {MAX_PATTERN_NODES} nodes"
            ));
        }
        // A range written with leading zeros keeps its width (`001-128`).
        let width = if lo.len() > 1 && lo.starts_with('0') {
            lo.len()
        } else {
            0
        };
        for i in a..=b {
            out.push(format!("{prefix}{i:0width$}{suffix}"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_expand_with_their_padding() {
        assert_eq!(
            expand_pattern("gpu-[001-003]").unwrap(),
            ["gpu-001", "gpu-002", "gpu-003"]
        );
        assert_eq!(
            expand_pattern("n[8-10,12]x").unwrap(),
            ["n8x", "n9x", "n10x", "n12x"]
        );
        assert_eq!(expand_pattern("solo").unwrap(), ["solo"]);
    }

    #[test]
    fn bad_patterns_say_what_is_wrong() {
        for (p, want) in [
            ("gpu-[1-4", "without `]`"),
            ("gpu-[4-1]", "runs backwards"),
            ("gpu-[a-b]", "is not a number"),
            ("g[1-2]-[1-2]", "more than one bracket"),
            ("g[1-99999999]", "more than"),
            ("", "not a name"),
        ] {
            let e = expand_pattern(p).unwrap_err();
            assert!(e.contains(want), "{p}: {e}");
        }
    }
}
