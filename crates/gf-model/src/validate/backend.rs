//! The arithmetic of a cluster's node mapping: the Slurm nodes it lists are
//! exactly its domains times the nodes per domain, and a domain's nodes hold
//! exactly its GPUs. Checked here rather than when reading, because the
//! domain size may come from the catalog or an `[[accelerator]]` of the file.

use crate::backend::BackendSpec;
use crate::catalog::Catalog;
use crate::diag::Diagnostics;
use crate::spec::ClusterSpec;

use super::domain_gpus;

pub(super) fn check_backend(cx: &mut Diagnostics, catalog: &Catalog, c: &ClusterSpec) {
    let Some(BackendSpec::Slurm(s)) = &c.backend else {
        return;
    };
    let Ok(nodes) = s.nodes.expand() else {
        // A pattern that does not expand was reported when it was read.
        return;
    };
    let want = u64::from(c.domains) * u64::from(s.nodes_per_domain);
    if nodes.len() as u64 != want {
        cx.error(
            s.locs.of("nodes") as usize,
            format!(
                "`nodes` names {} Slurm nodes but cluster `{}` has {} domains × {} nodes per domain = {want}",
                nodes.len(),
                c.name,
                c.domains,
                s.nodes_per_domain
            ),
        );
    }
    let dg = domain_gpus(catalog, c);
    match s.gpus_per_node {
        Some(g) if u64::from(g) * u64::from(s.nodes_per_domain) != u64::from(dg) => cx.error(
            s.locs.of("gpus_per_node") as usize,
            format!(
                "{g} GPUs per node × {} nodes per domain = {} GPUs, but a domain of cluster `{}` has {dg}",
                s.nodes_per_domain,
                u64::from(g) * u64::from(s.nodes_per_domain),
                c.name
            ),
        ),
        None if !dg.is_multiple_of(s.nodes_per_domain) => cx.error(
            s.locs.of("nodes_per_domain") as usize,
            format!(
                "a domain of cluster `{}` has {dg} GPUs, which {} nodes cannot share evenly; set `gpus_per_node` or another `nodes_per_domain`",
                c.name, s.nodes_per_domain
            ),
        ),
        _ => {}
    }
}
