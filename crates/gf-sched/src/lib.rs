//! gf-sched is placement as a pure function: a fleet snapshot, the work to
//! place, the previous plan and a seed go in; a plan and an explanation come
//! out. No IO, no clock, no async: the controller (live or simulated) calls it.
//!
//! The layers, bottom up: [`topology`] compiles the fleet into dense
//! ordinals; [`index`] keeps free capacity per NVLink domain, fabric block,
//! cluster and site; [`pipeline`] holds the rules (filters, then scorers);
//! [`prepared`] keeps their answers per request shape, refreshed from the
//! index's log of changes;
//! [`pack`] chooses the domains of a gang inside the winning cluster;
//! [`scheduler`] ties them into `decide` / `commit` / `release`, with
//! preemption; [`service`] spreads inference replicas; [`schedule`] is the
//! batch form used to re-plan.

mod changes;
pub mod decision;
pub mod explain;
pub mod index;
pub mod pack;
pub mod pipeline;
pub mod policy;
pub mod prepared;
pub mod request;
pub mod scheduler;
pub mod service;
pub mod share;
pub mod topology;

use std::collections::BTreeMap;

pub use decision::{Cause, Decision, Explanation, Outcome, Placement, SharedGpu, Verdict, Victim};
pub use index::CapacityIndex;
pub use policy::{Candidates, Policy, Strategy, Weights};
pub use prepared::Prepared;
pub use request::{Accels, Request, RequestError, WorkId, WorkKind};
pub use scheduler::{Alloc, AllocId, SchedError, Scheduler};
pub use service::{
    AddedReplica, OnPreempt, PlanInput, ReplicaCounts, ReplicaGroup, ReplicaPlan, ServiceRequest,
};
pub use topology::{ClusterOrd, DomainOrd, Topology};

/// Where each unit of work runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Placements by work id.
    pub placements: BTreeMap<WorkId, Placement>,
}

/// Plans `pending` on top of what `sched` already runs.
///
/// Work that the previous plan placed keeps its placement while it still
/// fits (placements are sticky: re-planning never moves running work for a
/// marginally better score); the rest is decided highest priority first,
/// ties by id. Planning again from the returned plan moves nothing.
pub fn schedule(
    mut sched: Scheduler,
    now: i64,
    pending: &[Request],
    previous: &Plan,
) -> (Plan, Vec<Decision>, Scheduler) {
    let mut order: Vec<&Request> = pending.iter().collect();
    order.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.id.cmp(&b.id)));
    let mut plan = Plan::default();
    let mut decisions = Vec::with_capacity(order.len());
    // Kept placements first, so new work cannot take their room.
    let mut rest = Vec::new();
    for r in order {
        match previous.placements.get(&r.id) {
            Some(p) if sched.commit(now, r, p).is_ok() => {
                plan.placements.insert(r.id, p.clone());
                decisions.push(Decision {
                    work: r.id,
                    outcome: Outcome::Placed(p.clone()),
                    explanation: Explanation::default(),
                });
            }
            _ => rest.push(r),
        }
    }
    for r in rest {
        let d = sched.decide(now, r, false);
        if let Ok(Some(_)) = sched.apply(now, r, &d) {
            if let Outcome::Preempt { victims, .. } = &d.outcome {
                for v in victims {
                    plan.placements.remove(&v.work);
                }
            }
            if let Some(p) = d.placement() {
                plan.placements.insert(r.id, p.clone());
            }
        }
        decisions.push(d);
    }
    (plan, decisions, sched)
}
