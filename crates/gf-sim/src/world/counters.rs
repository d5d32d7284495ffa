//! What the world counts while it runs: failures injected by kind, training
//! runs interrupted by cause, stops and power peaks.
//!
//! Every kind is a named field, reached through an exhaustive `match`,
//! rather than a slot of an array indexed by a constant or by an enum's
//! discriminant: a new failure kind or capacity cause then fails to compile
//! until it is counted, instead of landing in another's slot or past the end.

use gf_model::protocol::CapacityCause;

/// What the world counts while it runs.
#[derive(Debug, Clone, Default)]
pub struct WorldCounters {
    /// Failures injected, by kind.
    pub failures: FailureCounts,
    /// Training runs killed, by why.
    pub interruptions: InterruptionCounts,
    /// Runs asked to stop for preemption.
    pub preemptions: u64,
    /// Hot-spare domains that failed idle: their runs went on.
    pub spares_lost: u64,
    /// Replicas stopped.
    pub replica_stops: u64,
    /// Times an allocation pushed a site over its envelope.
    pub power_violations: u64,
    /// Peak watts per site.
    pub site_peak_w: Vec<u64>,
    /// Peak watts of the fleet.
    pub peak_w: u64,
}

/// Failures injected, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailureCounts {
    /// GPU faults in hardware: the GPU's host (an 8-GPU server) or compute
    /// tray (a rack-scale domain) goes out for repair.
    pub gpu_hardware: u64,
    /// Of those, compute trays of rack-scale domains swapped.
    pub tray: u64,
    /// GPU faults in software: the run on the GPU crashes, the GPU stays up.
    pub gpu_software: u64,
    /// Whole NVLink domains that failed.
    pub domain: u64,
    /// Cluster outages (fabric, storage).
    pub cluster_outage: u64,
    /// Region outages.
    pub region_outage: u64,
    /// Spot capacity the provider took back.
    pub spot_reclaim: u64,
}

impl FailureCounts {
    /// Each kind under its name in the summary.
    pub fn named(&self) -> [(&'static str, u64); 7] {
        [
            ("gpu_hardware", self.gpu_hardware),
            ("gpu_hardware_tray", self.tray),
            ("gpu_software", self.gpu_software),
            ("domain", self.domain),
            ("cluster_outage", self.cluster_outage),
            ("region_outage", self.region_outage),
            ("spot_reclaim", self.spot_reclaim),
        ]
    }
}

/// Training runs killed, by the capacity change that killed them or by a
/// software fault.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InterruptionCounts {
    /// Killed by a ramp step taking capacity away.
    pub ramp: u64,
    /// Killed by a GPU (host, rack) failure.
    pub gpu_failure: u64,
    /// Killed by an NVLink domain failure.
    pub domain_failure: u64,
    /// Killed by a cluster outage.
    pub cluster_outage: u64,
    /// Killed by a region outage.
    pub region_outage: u64,
    /// Killed by a spot reclaim.
    pub spot_reclaim: u64,
    /// Killed by a repair (never in practice: repairs bring capacity back).
    pub repair: u64,
    /// Crashed on a software fault, the hardware intact.
    pub software: u64,
}

impl InterruptionCounts {
    /// The counter of runs killed by `cause`.
    pub fn of_cause(&mut self, cause: CapacityCause) -> &mut u64 {
        match cause {
            CapacityCause::Ramp => &mut self.ramp,
            CapacityCause::GpuFailure => &mut self.gpu_failure,
            CapacityCause::DomainFailure => &mut self.domain_failure,
            CapacityCause::ClusterOutage => &mut self.cluster_outage,
            CapacityCause::RegionOutage => &mut self.region_outage,
            CapacityCause::SpotReclaim => &mut self.spot_reclaim,
            CapacityCause::Repair => &mut self.repair,
        }
    }

    /// Runs killed by `cause`.
    pub fn by_cause(&self, cause: CapacityCause) -> u64 {
        // The counts are `Copy`: reading through a copy keeps the mapping
        // from cause to field in one match, `of_cause`'s.
        let mut counts = *self;
        *counts.of_cause(cause)
    }

    /// Every interruption, whatever its cause.
    pub fn total(&self) -> u64 {
        CapacityCause::ALL
            .iter()
            .map(|&c| self.by_cause(c))
            .sum::<u64>()
            + self.software
    }
}
