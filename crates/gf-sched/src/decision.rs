//! What the scheduler answers: a placement, a placement that needs victims
//! preempted first, or "no fit" with the reasons counted by cause. "No fit"
//! is a result, not an error: `gigafleet explain` shows it to the user.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::request::WorkId;
use crate::topology::{ClusterOrd, DomainOrd};

/// The rule that rejected a cluster, in the order the pipeline applies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// The cluster's accelerator is not one the work accepts.
    Accelerator,
    /// The work may not run at this provider or region.
    Scope,
    /// Spot capacity, and the work is not spot-tolerant.
    Spot,
    /// The team's quota for this accelerator would be exceeded.
    Quota,
    /// A domain of the cluster has too little CPU or host memory for the work.
    Host,
    /// The cluster has fewer GPUs online than the gang (ramp not there yet, or failures).
    NotOnline,
    /// Not enough free GPUs online in the cluster.
    Capacity,
    /// The site's power envelope would be exceeded.
    Power,
    /// A service's spread rule (`min_providers`, `max_share_per_provider`).
    Spread,
    /// Skipped: enough feasible candidates were already scored.
    NotScored,
}

impl Cause {
    /// Every cause, in pipeline order.
    pub const ALL: [Cause; 10] = [
        Cause::Accelerator,
        Cause::Scope,
        Cause::Spot,
        Cause::Quota,
        Cause::Host,
        Cause::NotOnline,
        Cause::Capacity,
        Cause::Power,
        Cause::Spread,
        Cause::NotScored,
    ];

    /// Short name used in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Accelerator => "accelerator not accepted",
            Cause::Scope => "provider/region not allowed",
            Cause::Spot => "spot not allowed",
            Cause::Quota => "team quota exceeded",
            Cause::Host => "CPU or memory per domain",
            Cause::NotOnline => "not enough GPUs online",
            Cause::Capacity => "not enough free GPUs",
            Cause::Power => "site power envelope",
            Cause::Spread => "service spread rule",
            Cause::NotScored => "not scored (candidate cap)",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A share of one GPU: which carved GPU of the placement's one domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedGpu {
    /// The carved GPU's slot, or `None` to carve a new one from the domain's free GPUs.
    pub slot: Option<u16>,
    /// Thousandths of the GPU taken.
    pub milli: u32,
}

/// Where a gang goes: one cluster, some GPUs of some domains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    /// The cluster.
    pub cluster: ClusterOrd,
    /// `(domain, gpus)` pairs, domains distinct.
    pub parts: Vec<(DomainOrd, u32)>,
    /// For a share of one GPU (then `parts` is one domain, one GPU).
    pub share: Option<SharedGpu>,
    /// The total score that won (higher is better; policy-specific scale).
    pub score: f64,
}

impl Placement {
    /// GPUs placed.
    pub fn gpus(&self) -> u32 {
        self.parts.iter().map(|p| p.1).sum()
    }
}

/// A running allocation chosen to make room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Victim {
    /// The work preempted.
    pub work: WorkId,
    /// GPUs it frees.
    pub gpus: u32,
    /// GPU-hours of work lost since its last checkpoint.
    pub lost_gpu_hours: f64,
}

/// The answer for one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// Place it here.
    Placed(Placement),
    /// Preempt these first, then place it here.
    Preempt {
        /// The placement once the victims are gone.
        placement: Placement,
        /// The victims, fewest GPU-hours lost.
        victims: Vec<Victim>,
    },
    /// Nothing fits now.
    NoFit,
}

/// One cluster's verdict, kept when an explanation is asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Verdict {
    /// Rejected by a rule.
    Rejected(Cause),
    /// Feasible, with its score and the score's terms by name.
    Scored(f64, Vec<(Cow<'static, str>, f64)>),
}

/// Why the decision came out as it did.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Explanation {
    /// Clusters examined.
    pub considered: u32,
    /// Clusters feasible.
    pub feasible: u32,
    /// Clusters rejected, by cause (indexed like [`Cause::ALL`]).
    pub rejected: [u32; 10],
    /// Per-cluster verdicts (only when asked for).
    pub clusters: Vec<(ClusterOrd, Verdict)>,
}

impl Explanation {
    /// Count of clusters rejected for `c`.
    pub fn rejected_for(&self, c: Cause) -> u32 {
        self.rejected[c as usize]
    }

    /// The causes with non-zero counts, most frequent first.
    pub fn causes(&self) -> Vec<(Cause, u32)> {
        let mut v: Vec<(Cause, u32)> = Cause::ALL
            .iter()
            .map(|&c| (c, self.rejected[c as usize]))
            .filter(|&(_, n)| n > 0)
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }
}

/// A decision: the outcome and its explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The request it answers.
    pub work: WorkId,
    /// What to do.
    pub outcome: Outcome,
    /// Why.
    pub explanation: Explanation,
}

impl Decision {
    /// The placement, if any.
    pub fn placement(&self) -> Option<&Placement> {
        match &self.outcome {
            Outcome::Placed(p) | Outcome::Preempt { placement: p, .. } => Some(p),
            Outcome::NoFit => None,
        }
    }
}
