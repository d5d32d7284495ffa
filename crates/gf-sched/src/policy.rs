//! Policies are values: a named strategy and its weights, so the simulator
//! and `replay` can run the same workload under several and compare.

use std::fmt;

/// Weights of the default multi-objective score; each term is in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    /// Lower effective cost per unit of work (price / throughput).
    pub cost: f64,
    /// Reserved capacity that is paid for whether used or not.
    pub paid_anyway: f64,
    /// Contracts behind their commitment schedule.
    pub commitment: f64,
    /// Power headroom left at the site.
    pub power: f64,
    /// Packing that keeps whole NVLink domains free for large gangs.
    pub packing: f64,
    /// The work's own accelerator preference order.
    pub preference: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            cost: 3.0,
            paid_anyway: 2.0,
            commitment: 1.5,
            power: 0.5,
            packing: 1.0,
            preference: 1.0,
        }
    }
}

/// How clusters are ranked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Strategy {
    /// The first feasible cluster in fleet-file order.
    FirstFit,
    /// The feasible cluster left with the fewest free GPUs.
    BestFit,
    /// The lowest list price per unit of work.
    Cheapest,
    /// The weighted sum of every score term.
    MultiObjective(Weights),
}

/// A scheduling policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Name shown in output.
    pub name: String,
    /// How clusters are ranked.
    pub strategy: Strategy,
    /// How many feasible clusters are scored before the best is taken.
    pub candidates: Candidates,
    /// May preempt lower-priority preemptible work.
    pub preemption: bool,
}

impl Policy {
    /// Names accepted on the command line.
    pub const NAMES: [&'static str; 4] = ["default", "first-fit", "best-fit", "cheapest"];

    /// The policy of that name, with its default settings.
    pub fn named(name: &str) -> Option<Policy> {
        let strategy = match name {
            "default" => Strategy::MultiObjective(Weights::default()),
            "first-fit" => Strategy::FirstFit,
            "best-fit" => Strategy::BestFit,
            "cheapest" => Strategy::Cheapest,
            _ => return None,
        };
        Some(Policy {
            name: name.to_string(),
            strategy,
            candidates: Candidates::Auto,
            preemption: true,
        })
    }
}

/// How many feasible clusters a decision scores: the bound that keeps one
/// decision in microseconds on fleets of hundreds of clusters (the idea of
/// Kubernetes' `percentageOfNodesToScore`). Clusters are visited in a
/// rotation that starts at a seeded hash of the request, so no cluster is
/// always skipped and one seed always decides the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Candidates {
    /// Score every feasible cluster.
    All,
    /// Stop after this many feasible clusters.
    AtMost(u32),
    /// All up to 64 clusters; beyond, the larger of 64 and a tenth of them.
    Auto,
}

impl Candidates {
    /// The cap for a fleet of `n` clusters (`u32::MAX`: none).
    pub fn cap(self, n: u32) -> u32 {
        match self {
            Candidates::All => u32::MAX,
            Candidates::AtMost(k) => k.max(1),
            Candidates::Auto if n <= 64 => u32::MAX,
            Candidates::Auto => (n / 10).max(64),
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy::named("default").unwrap_or(Policy {
            name: "default".into(),
            strategy: Strategy::MultiObjective(Weights::default()),
            candidates: Candidates::Auto,
            preemption: true,
        })
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}
