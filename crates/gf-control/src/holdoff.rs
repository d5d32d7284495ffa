//! Holding a cluster that just came back from an outage out of placement
//! for a while, in the spirit of SkyPilot's `EAGER_NEXT_REGION`: a cluster
//! or region that failed often fails again soon (a flapping fabric, a
//! control plane restarted into the same fault), and the work it lost has
//! been placed elsewhere already; putting new work straight back on it
//! risks losing that too. So its domains, reported back online, count as
//! online only once the hold-off (`ControlConfig::outage_holdoff_s`) has
//! passed since they came back. A domain that fails again meanwhile simply
//! stays offline.
//!
//! This is the controller's decision, made from the backends' reports and
//! replayed from the log like every other: the backend reports the truth
//! (the domains are up), the controller decides not to use them yet.

use std::collections::{BTreeMap, BTreeSet};

use gf_model::protocol::CapacityCause;
use gf_sched::{ClusterOrd, DomainOrd};

/// The clusters back from an outage and the domains held out of placement.
#[derive(Debug, Default)]
pub(crate) struct Holdoff {
    /// Clusters whose last capacity loss was an outage (of the cluster or
    /// its region), whose next returns are held off.
    outaged: BTreeSet<ClusterOrd>,
    /// Domains back online but held out, with the time they may be used.
    held: BTreeMap<DomainOrd, i64>,
}

impl Holdoff {
    /// Notes domains going offline: an outage marks their cluster; a held
    /// domain that goes down again is no longer waiting to be used.
    pub(crate) fn offline(&mut self, cluster: ClusterOrd, d: DomainOrd, cause: CapacityCause) {
        self.held.remove(&d);
        if matches!(
            cause,
            CapacityCause::ClusterOutage | CapacityCause::RegionOutage
        ) {
            self.outaged.insert(cluster);
        }
    }

    /// Whether a domain reported back online is held out (until `now +
    /// holdoff_s`) rather than used at once: it is when its cluster came
    /// back from an outage and a hold-off is configured. A ramp step (new
    /// capacity) is never held.
    pub(crate) fn hold(
        &mut self,
        now: i64,
        cluster: ClusterOrd,
        d: DomainOrd,
        cause: CapacityCause,
        holdoff_s: i64,
    ) -> bool {
        if holdoff_s <= 0 || cause == CapacityCause::Ramp || !self.outaged.contains(&cluster) {
            return false;
        }
        self.held.insert(d, now + holdoff_s);
        true
    }

    /// The held domains whose hold-off has passed by `now`, released; a
    /// cluster none of whose domains is still held is not marked any more.
    pub(crate) fn due(
        &mut self,
        now: i64,
        cluster_of: impl Fn(DomainOrd) -> ClusterOrd,
    ) -> Vec<DomainOrd> {
        if self.held.is_empty() {
            return Vec::new();
        }
        let due: Vec<DomainOrd> = self
            .held
            .iter()
            .filter(|&(_, &t)| t <= now)
            .map(|(&d, _)| d)
            .collect();
        for d in &due {
            self.held.remove(d);
        }
        let still: BTreeSet<ClusterOrd> = self.held.keys().map(|&d| cluster_of(d)).collect();
        for d in &due {
            let c = cluster_of(*d);
            if !still.contains(&c) {
                self.outaged.remove(&c);
            }
        }
        due
    }

    /// Whether a domain is held out now.
    #[cfg(test)]
    pub(crate) fn is_held(&self, d: DomainOrd) -> bool {
        self.held.contains_key(&d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_holds_the_return_off_and_a_ramp_or_a_domain_failure_does_not() {
        let mut h = Holdoff::default();
        let cluster_of = |d: DomainOrd| if d < 4 { 0 } else { 1 };
        // A domain failure is not an outage: its repair is used at once.
        h.offline(0, 1, CapacityCause::DomainFailure);
        assert!(!h.hold(10, 0, 1, CapacityCause::Repair, 600));
        // An outage of cluster 0: its domains come back held for 600 s.
        h.offline(0, 2, CapacityCause::ClusterOutage);
        h.offline(0, 3, CapacityCause::ClusterOutage);
        assert!(h.hold(100, 0, 2, CapacityCause::Repair, 600));
        assert!(h.hold(100, 0, 3, CapacityCause::Repair, 600));
        assert!(!h.hold(100, 0, 3, CapacityCause::Ramp, 600) || h.is_held(3));
        assert!(
            !h.hold(100, 1, 5, CapacityCause::Repair, 600),
            "another cluster"
        );
        assert!(
            !h.hold(100, 0, 2, CapacityCause::Repair, 0),
            "no hold-off configured"
        );
        h.hold(100, 0, 2, CapacityCause::Repair, 600);
        // Domain 3 fails again while held: it stays offline, unheld.
        h.offline(0, 3, CapacityCause::DomainFailure);
        assert!(!h.is_held(3));
        assert!(h.due(699, cluster_of).is_empty());
        assert_eq!(h.due(700, cluster_of), vec![2]);
        // Released: the cluster's next repair is used at once.
        assert!(!h.hold(800, 0, 2, CapacityCause::Repair, 600));
    }
}
