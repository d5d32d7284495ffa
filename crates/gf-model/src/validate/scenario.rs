//! Checks the names a scenario uses against the rest of its document.
//!
//! These run after reading, like the fleet's cross-entity checks, because a
//! generator may name a team or a service written further down the file.

use crate::diag::Diagnostics;
use crate::spec::Document;

/// Checks the names a scenario uses against the rest of the document: the
/// teams and accelerators of training generators, the services of inference
/// generators, the zones given an offset. Reported at the line and column
/// where each name was written.
pub(crate) fn check_scenario(cx: &mut Diagnostics, doc: &Document) {
    let Some(sc) = &doc.scenario else {
        return;
    };
    let catalog = crate::catalog::Catalog::with_overrides(&doc.accelerators);
    let teams: Vec<&str> = doc.teams.iter().map(|t| t.name.as_str()).collect();
    let mut names: Vec<&str> = Vec::new();
    for g in &sc.training {
        if names.contains(&g.name.as_str()) {
            cx.error(
                g.locs.of("name") as usize,
                format!("training generator `{}` is defined twice", g.name),
            );
        }
        names.push(&g.name);
        if !teams.is_empty() && !teams.contains(&g.team.as_str()) {
            cx.error(
                g.locs.of("team") as usize,
                format!(
                    "unknown team `{}`; expected one of: {}",
                    g.team,
                    teams.join(", ")
                ),
            );
        }
        for a in &g.accelerators {
            if catalog.get(a).is_none() {
                cx.error(
                    g.locs.of("accelerators") as usize,
                    format!(
                        "unknown accelerator `{a}`; expected one of: {}",
                        catalog.names()
                    ),
                );
            }
        }
        if let Some(p) = g
            .providers
            .iter()
            .find(|p| !doc.providers.iter().any(|q| q.name == **p))
        {
            cx.error(
                g.locs.of("providers") as usize,
                format!("unknown provider `{p}` in `providers`"),
            );
        }
    }
    for g in &sc.inference {
        if !doc.services.iter().any(|s| s.name == g.service) {
            let known: Vec<&str> = doc.services.iter().map(|s| s.name.as_str()).collect();
            cx.error(
                g.locs.of("service") as usize,
                format!(
                    "unknown service `{}`; expected one of: {}",
                    g.service,
                    if known.is_empty() {
                        "(no [[service]] in this file)".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            );
        }
    }
    let zones: Vec<&str> = doc
        .providers
        .iter()
        .flat_map(|p| p.regions.iter().map(|r| r.zone.as_str()))
        .chain(
            doc.services
                .iter()
                .flat_map(|s| s.demand.iter().map(|d| d.zone.as_str())),
        )
        .collect();
    for z in sc.zone_utc_offset_h.keys() {
        if !zones.contains(&z.as_str()) {
            cx.error(
                sc.locs.of("zone_utc_offset_h") as usize,
                format!("`zone_utc_offset_h` names zone `{z}`, which no region or demand uses"),
            );
        }
    }
    let sites: Vec<String> = doc
        .providers
        .iter()
        .flat_map(|p| {
            p.regions
                .iter()
                .map(move |r| format!("{}/{}", p.name, r.name))
        })
        .collect();
    for site in sc.power.site_pue.keys() {
        if !sites.contains(site) {
            cx.error(
                sc.power.locs.of("site_pue") as usize,
                format!(
                    "`site_pue` names site `{site}`; expected `provider/region`, one of: {}",
                    sites.join(", ")
                ),
            );
        }
    }
}
