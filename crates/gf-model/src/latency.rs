//! The fleet file's `[latency]` section: network round-trip times between
//! the users of one latency zone and the sites of another.
//!
//! Published inter-region round trips differ by a factor of twenty (Azure's
//! network latency statistics: East US ↔ East US 2 about 11 ms, East US ↔
//! West US about 73 ms, East US ↔ West Europe about 90 ms, East US ↔
//! Southeast Asia about 229 ms), so one constant for every hop either keeps
//! a service from using a near zone or lets it use a far one. A fleet names
//! its own zones, so the table lives in its file; a pair it does not list
//! takes `default_rtt_ms`. The planner asks it whether a zone's spare
//! replicas may serve another zone within a service's SLO, and the twin adds
//! it to every request's latency.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::locs::Locs;

/// Round trip between two zones not listed in the table, milliseconds: the
/// single cross-zone figure gigafleet used before the table (an
/// intercontinental hop such as East US ↔ West Europe, 90 ms, with margin).
pub const DEFAULT_CROSS_ZONE_RTT_MS: f64 = 150.0;

/// Round trip between users and a site of their own zone, milliseconds:
/// Azure's statistics give 1-2 ms between availability zones and ~11 ms
/// between neighbouring regions (East US ↔ East US 2); users' last mile adds
/// more, so 10 ms is an assumption on the side of the metro hop.
pub const DEFAULT_SAME_ZONE_RTT_MS: f64 = 10.0;

/// Round-trip times between latency zones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencySpec {
    /// Users to a site of their own zone, milliseconds.
    pub same_zone_rtt_ms: f64,
    /// Any pair of zones the table does not list, milliseconds.
    pub default_rtt_ms: f64,
    /// Round trips between pairs of zones (symmetric).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pairs: Vec<ZoneRtt>,
    #[serde(skip)]
    #[schemars(skip)]
    #[allow(missing_docs)]
    pub locs: Locs,
}

/// The round trip between two zones, either way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ZoneRtt {
    /// The two zones.
    pub zones: [String; 2],
    /// Round-trip time, milliseconds.
    pub rtt_ms: f64,
    #[serde(skip)]
    #[schemars(skip)]
    #[allow(missing_docs)]
    pub locs: Locs,
}

impl Default for LatencySpec {
    fn default() -> Self {
        LatencySpec {
            same_zone_rtt_ms: DEFAULT_SAME_ZONE_RTT_MS,
            default_rtt_ms: DEFAULT_CROSS_ZONE_RTT_MS,
            pairs: Vec::new(),
            locs: Locs::default(),
        }
    }
}

impl LatencySpec {
    /// True when nothing differs from the defaults (the section is left out
    /// when a document is written back).
    pub fn is_default(&self) -> bool {
        self.same_zone_rtt_ms == DEFAULT_SAME_ZONE_RTT_MS
            && self.default_rtt_ms == DEFAULT_CROSS_ZONE_RTT_MS
            && self.pairs.is_empty()
    }

    /// Round trip between users of zone `a` and a site of zone `b`.
    pub fn rtt_ms(&self, a: &str, b: &str) -> f64 {
        if a == b {
            return self.same_zone_rtt_ms;
        }
        self.pairs
            .iter()
            .find(|p| (p.zones[0] == a && p.zones[1] == b) || (p.zones[0] == b && p.zones[1] == a))
            .map_or(self.default_rtt_ms, |p| p.rtt_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listed_pair_is_symmetric_and_the_rest_take_the_defaults() {
        let l = LatencySpec {
            pairs: vec![ZoneRtt {
                zones: ["us-east".into(), "eu-west".into()],
                rtt_ms: 90.0,
                locs: Locs::default(),
            }],
            ..LatencySpec::default()
        };
        assert_eq!(l.rtt_ms("us-east", "eu-west"), 90.0);
        assert_eq!(l.rtt_ms("eu-west", "us-east"), 90.0);
        assert_eq!(l.rtt_ms("us-east", "asia-east"), DEFAULT_CROSS_ZONE_RTT_MS);
        assert_eq!(l.rtt_ms("asia-east", "asia-east"), DEFAULT_SAME_ZONE_RTT_MS);
    }
}
