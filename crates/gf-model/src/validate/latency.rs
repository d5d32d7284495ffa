//! Checks the `[latency]` table against the fleet: every zone it names is a
//! zone some region declares, and no pair is listed twice (which of two
//! figures would count would depend on the order of the file).

use std::collections::BTreeSet;

use crate::diag::Diagnostics;
use crate::spec::Document;

/// Checks the zones of the latency table, reported where each was written.
pub(crate) fn check_latency(cx: &mut Diagnostics, doc: &Document) {
    let pairs = &doc.latency.pairs;
    if pairs.is_empty() || !doc.is_fleet() {
        return;
    }
    let zones: BTreeSet<&str> = doc
        .providers
        .iter()
        .flat_map(|p| p.regions.iter().map(|r| r.zone.as_str()))
        .collect();
    let mut seen: BTreeSet<(&str, &str)> = BTreeSet::new();
    for p in pairs {
        let at = p.locs.of("zones") as usize;
        for z in &p.zones {
            if !zones.contains(z.as_str()) {
                cx.error(
                    at,
                    format!(
                        "unknown zone `{z}` in a [latency] pair; the fleet's zones are: {}",
                        zones.iter().copied().collect::<Vec<_>>().join(", ")
                    ),
                );
            }
        }
        let (a, b) = (p.zones[0].as_str(), p.zones[1].as_str());
        let key = if a <= b { (a, b) } else { (b, a) };
        if !seen.insert(key) {
            cx.error(
                at,
                format!("the round trip between `{a}` and `{b}` is given twice; keep one"),
            );
        }
    }
}
