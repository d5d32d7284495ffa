//! The checks of a `[plan]` that relate it to the rest of the document:
//! sites, clusters, services, accelerators and providers it names, and names
//! that must be unique. Each problem points at the field that causes it.

use crate::catalog::Catalog;
use crate::diag::Diagnostics;
use crate::spec::Document;

use crate::plan::WhatIf;

/// Checks the names a plan uses against the rest of the document: sites,
/// clusters, services, accelerators and providers, and that names are unique.
pub(crate) fn check_plan(cx: &mut Diagnostics, doc: &Document) {
    let Some(p) = &doc.plan else {
        return;
    };
    let catalog = Catalog::with_overrides(&doc.accelerators);
    let sites: Vec<String> = doc
        .providers
        .iter()
        .flat_map(|p| {
            p.regions
                .iter()
                .map(move |r| format!("{}/{}", p.name, r.name))
        })
        .collect();
    let clusters: Vec<String> = doc
        .clusters()
        .map(|(p, r, c)| format!("{}/{}/{}", p.name, r.name, c.name))
        .collect();
    let providers: Vec<&str> = doc.providers.iter().map(|p| p.name.as_str()).collect();
    let site_ok = |cx: &mut Diagnostics, s: &str, at: u32, extra: &[String]| {
        if !sites.iter().any(|x| x == s) && !extra.iter().any(|x| x == s) {
            cx.error(
                at as usize,
                format!(
                    "unknown site `{s}`; write `provider/region`, one of: {}",
                    sites.join(", ")
                ),
            );
        }
    };
    let candidate_sites: Vec<String> = p
        .candidates
        .iter()
        .map(|c| format!("{}/{}", c.provider, c.site))
        .collect();
    let mut names: Vec<String> = Vec::new();
    let mut unique = |cx: &mut Diagnostics, n: &'static str, name: &str, at: u32| {
        let key = format!("{n}:{name}");
        if names.contains(&key) {
            cx.error(at as usize, format!("{n} `{name}` is defined twice"));
        } else {
            names.push(key);
        }
    };
    let acc_ok = |cx: &mut Diagnostics, a: &str, at: u32| {
        if catalog.get(a).is_none() {
            cx.error(
                at as usize,
                format!(
                    "unknown accelerator `{a}`; expected one of: {}",
                    catalog.names()
                ),
            );
        }
    };
    let provider_ok = |cx: &mut Diagnostics, x: &str, at: u32| {
        if !providers.contains(&x) {
            cx.error(
                at as usize,
                format!(
                    "unknown provider `{x}`; expected one of: {}",
                    providers.join(", ")
                ),
            );
        }
    };
    for d in &p.demand {
        unique(cx, "demand", &d.name, d.locs.of("name"));
        for a in &d.accelerators {
            acc_ok(cx, a, d.locs.of("accelerators"));
        }
        for x in &d.providers {
            provider_ok(cx, x, d.locs.of("providers"));
        }
        if let Some(s) = &d.service
            && !doc.services.iter().any(|x| &x.name == s)
        {
            let known: Vec<&str> = doc.services.iter().map(|s| s.name.as_str()).collect();
            cx.error(
                d.locs.of("service") as usize,
                format!(
                    "unknown service `{s}`; expected one of the [[service]] names: {}",
                    if known.is_empty() {
                        "(none in this file)".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            );
        }
    }
    for s in &p.sites {
        unique(cx, "site", &s.site, s.locs.of("site"));
        site_ok(cx, &s.site, s.locs.of("site"), &candidate_sites);
    }
    for o in &p.options {
        unique(cx, "option", &o.name, o.locs.of("name"));
        if !clusters.iter().any(|c| c == &o.cluster) {
            cx.error(
                o.locs.of("cluster") as usize,
                format!(
                    "unknown cluster `{}`; write `provider/region/cluster`, one of: {}",
                    o.cluster,
                    clusters.join(", ")
                ),
            );
        }
    }
    for c in &p.candidates {
        unique(cx, "candidate contract", &c.name, c.locs.of("name"));
        provider_ok(cx, &c.provider, c.locs.of("provider"));
        acc_ok(cx, &c.accelerator, c.locs.of("accelerator"));
        let site = format!("{}/{}", c.provider, c.site);
        if !sites.contains(&site) && c.zone.is_none() {
            cx.error(
                c.locs.of("site") as usize,
                format!(
                    "`{site}` is a new site; give its latency `zone` and the `power_mw` it brings"
                ),
            );
        }
    }
    for c in &p.cpu_pools {
        site_ok(cx, &c.site, c.locs.of("site"), &candidate_sites);
    }
    for w in &p.what_ifs {
        unique(cx, "what-if", &w.name, w.locs.of("name"));
        check_what_if(cx, doc, w);
    }
}

/// Checks a what-if's names against the document (also for command-line ones).
pub(crate) fn check_what_if(cx: &mut Diagnostics, doc: &Document, w: &WhatIf) {
    let sites: Vec<String> = doc
        .providers
        .iter()
        .flat_map(|p| {
            p.regions
                .iter()
                .map(move |r| format!("{}/{}", p.name, r.name))
        })
        .chain(doc.plan.iter().flat_map(|p| {
            p.candidates
                .iter()
                .map(|c| format!("{}/{}", c.provider, c.site))
        }))
        .collect();
    for (k, s) in [("delay_site", &w.delay_site), ("power_site", &w.power_site)] {
        if let Some(s) = s
            && !sites.contains(s)
        {
            cx.error(
                w.locs.of(k) as usize,
                format!(
                    "unknown site `{s}`; write `provider/region`, one of: {}",
                    sites.join(", ")
                ),
            );
        }
    }
    // A cut may take a site's envelope to zero, never below.
    if let Some(site) = &w.power_site
        && let Some(mw) = doc
            .providers
            .iter()
            .flat_map(|p| p.regions.iter().map(move |r| (p, r)))
            .find(|(p, r)| format!("{}/{}", p.name, r.name) == *site)
            .map(|(_, r)| r.power_mw)
        && mw + w.power_delta_mw < 0.0
    {
        cx.error(
            w.locs.of("power_delta_mw") as usize,
            format!(
                "`power_delta_mw = {}` would leave `{site}` a negative envelope ({mw} MW now); \
                 it must be at least {}",
                w.power_delta_mw, -mw
            ),
        );
    }
    if let Some(x) = &w.cut_provider
        && !doc.providers.iter().any(|p| &p.name == x)
    {
        let known: Vec<&str> = doc.providers.iter().map(|p| p.name.as_str()).collect();
        cx.error(
            w.locs.of("cut_provider") as usize,
            format!(
                "unknown provider `{x}`; expected one of: {}",
                known.join(", ")
            ),
        );
    }
    if let Some(a) = &w.add_accelerator {
        let catalog = Catalog::with_overrides(&doc.accelerators);
        if catalog.get(a).is_none() {
            cx.error(
                w.locs.of("add_accelerator") as usize,
                format!(
                    "unknown accelerator `{a}`; expected one of: {}",
                    catalog.names()
                ),
            );
        }
    }
}
