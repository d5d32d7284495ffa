//! Choosing the NVLink domains of a gang inside one cluster: as few domains
//! and fabric blocks as possible, never splitting a gang that one domain can
//! hold, taking the fullest domain that fits so whole domains stay free.
//! A share of one GPU goes on the carved GPU with the least room that holds
//! it, or carves one from the fullest domain with a free GPU.

use crate::decision::SharedGpu;
use crate::index::CapacityIndex;
use crate::request::Request;
use crate::topology::{ClusterOrd, DomainOrd, Topology};

/// How many domains a search for host resources looks at before giving up
/// on one domain: bounds the worst case when CPU or memory is short.
const HOST_SCAN: usize = 256;

/// `(domain, gpus)` parts and, for a share of one GPU, which carved GPU.
pub type Fit = (Vec<(DomainOrd, u32)>, Option<SharedGpu>);

/// Where a request goes inside cluster `c`, or `None` when it does not fit.
pub fn pick(topo: &Topology, ix: &CapacityIndex, c: ClusterOrd, req: &Request) -> Option<Fit> {
    let (cpu, mem) = (req.cpu_milli_per_gpu, req.memory_mib_per_gpu);
    if !req.is_fractional() {
        return pick_domains_with(topo, ix, c, req.gpus, cpu, mem).map(|p| (p, None));
    }
    let milli = req.gpu_milli;
    if let Some((d, slot)) = ix.best_shared(topo, c, milli, cpu, mem, HOST_SCAN) {
        return Some((
            vec![(d, 1)],
            Some(SharedGpu {
                slot: Some(slot),
                milli,
            }),
        ));
    }
    let parts = pick_domains_with(topo, ix, c, 1, cpu, mem)?;
    Some((parts, Some(SharedGpu { slot: None, milli })))
}

/// The `(domain, gpus)` parts for `g` GPUs in cluster `c`, or `None` when the
/// cluster has fewer than `g` free GPUs online.
pub fn pick_domains(
    topo: &Topology,
    ix: &CapacityIndex,
    c: ClusterOrd,
    g: u32,
) -> Option<Vec<(DomainOrd, u32)>> {
    pick_domains_with(topo, ix, c, g, 0, 0)
}

/// [`pick_domains`] for work that needs `cpu` millicores and `mem` MiB of
/// host memory per GPU, on the domain that holds the GPU.
pub fn pick_domains_with(
    topo: &Topology,
    ix: &CapacityIndex,
    c: ClusterOrd,
    g: u32,
    cpu: u64,
    mem: u64,
) -> Option<Vec<(DomainOrd, u32)>> {
    if ix.cluster_free(c) < g as u64 || g == 0 {
        return None;
    }
    let cl = &topo.clusters[c as usize];
    let dg = cl.domain_gpus;
    // Host resources only matter when the cluster counts them and the work asks.
    let host = (cpu > 0 && cl.cpu_milli_per_domain != u64::MAX)
        || (mem > 0 && cl.memory_mib_per_domain != u64::MAX);
    let fits =
        |d: DomainOrd, n: u32| !host || ix.host_fits(topo, d, n as u64 * cpu, n as u64 * mem);
    // One domain holds it: best fit. Taking from the bucket's end keeps the
    // choice deterministic for a given history.
    if g <= dg && !host {
        if let Some(k) = ix.best_fit_bucket(c, g) {
            let d = *ix.bucket(c, k).last()?;
            return Some(vec![(d, g)]);
        }
    } else if g <= dg {
        // The fullest domain that holds the GPUs and has the host resources.
        let mut k = g;
        let mut seen = 0;
        while let Some(b) = ix.best_fit_bucket(c, k) {
            for &d in ix.bucket(c, b).iter().rev() {
                if fits(d, g) {
                    return Some(vec![(d, g)]);
                }
                seen += 1;
                if seen >= HOST_SCAN {
                    break;
                }
            }
            if seen >= HOST_SCAN || b >= dg {
                break;
            }
            k = b + 1;
        }
    }
    let mut parts: Vec<(DomainOrd, u32)> = Vec::with_capacity((g / dg + 2) as usize);
    let mut left = g;
    // Whole domains first, from as few fabric blocks as possible.
    let want_whole = (g / dg).min(ix.cluster_whole_free(c));
    if want_whole > 0 {
        take_whole(
            ix,
            cl.first_block,
            cl.n_blocks,
            want_whole,
            dg,
            !g.is_multiple_of(dg),
            &mut parts,
        );
        left -= want_whole * dg;
    }
    if left == 0 {
        return Some(parts);
    }
    // The remainder: the fullest partial domain that holds it...
    if left < dg
        && let Some(k) = ix.best_fit_bucket(c, left).filter(|&k| k < dg)
        && let Some(&d) = ix.bucket(c, k).last().filter(|&&d| fits(d, left))
    {
        parts.push((d, left));
        return Some(parts);
    }
    // ...or a whole domain not yet taken, preferably in a block already used...
    if left <= dg
        && ix.cluster_whole_free(c) > want_whole
        && let Some(d) = spare_whole(topo, ix, cl.first_block, cl.n_blocks, &parts)
    {
        parts.push((d, left));
        return Some(parts);
    }
    // ...or, when the cluster is fragmented, the emptiest partial domains first.
    for k in (1..dg).rev() {
        for &d in ix.bucket(c, k).iter().rev() {
            let n = k.min(left);
            if !fits(d, n) {
                continue;
            }
            parts.push((d, n));
            left -= n;
            if left == 0 {
                return Some(parts);
            }
        }
    }
    // Whole domains beyond the first pass (only when partials ran out).
    for b in cl.first_block..cl.first_block + cl.n_blocks {
        for &d in ix.block_whole_free(b) {
            if left == 0 {
                break;
            }
            if parts.iter().any(|p| p.0 == d) {
                continue;
            }
            let n = dg.min(left);
            parts.push((d, n));
            left -= n;
        }
    }
    (left == 0).then_some(parts)
}

/// Takes `n` whole-free domains: from the single block that holds them with
/// the least to spare (best fit), else from the fullest blocks first.
fn take_whole(
    ix: &CapacityIndex,
    first_block: u32,
    n_blocks: u32,
    n: u32,
    dg: u32,
    remainder: bool,
    parts: &mut Vec<(DomainOrd, u32)>,
) {
    let blocks = first_block..first_block + n_blocks;
    let need_in_one = n + u32::from(remainder);
    let single = blocks
        .clone()
        .map(|b| (ix.block_whole_free(b).len() as u32, b))
        .filter(|&(k, _)| k >= need_in_one)
        .min();
    let single = single.or_else(|| {
        blocks
            .clone()
            .map(|b| (ix.block_whole_free(b).len() as u32, b))
            .filter(|&(k, _)| k >= n)
            .min()
    });
    let mut left = n;
    let mut take_from = |b: u32| {
        for &d in ix.block_whole_free(b) {
            if left == 0 {
                return;
            }
            parts.push((d, dg));
            left -= 1;
        }
    };
    // One block holds them (the common case): no list of blocks is built.
    if let Some((_, b)) = single {
        take_from(b);
        return;
    }
    let mut order: Vec<(u32, u32)> = blocks
        .map(|b| (ix.block_whole_free(b).len() as u32, b))
        .filter(|&(k, _)| k > 0)
        .collect();
    order.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, b) in order {
        take_from(b);
    }
}

/// A whole-free domain not in `parts`, from a block `parts` already uses if possible.
fn spare_whole(
    topo: &Topology,
    ix: &CapacityIndex,
    first_block: u32,
    n_blocks: u32,
    parts: &[(DomainOrd, u32)],
) -> Option<DomainOrd> {
    // The domains taken and their blocks, sorted once: asked of every
    // block and every whole-free domain met, a scan of `parts` each time
    // made a gang of hundreds of domains quadratic.
    let mut taken: Vec<DomainOrd> = parts.iter().map(|p| p.0).collect();
    taken.sort_unstable();
    let mut taken_blocks: Vec<u32> = taken
        .iter()
        .map(|&d| topo.domain_block[d as usize])
        .collect();
    taken_blocks.sort_unstable();
    taken_blocks.dedup();
    let used = |d: DomainOrd| taken.binary_search(&d).is_ok();
    let in_use = |b: &u32| taken_blocks.binary_search(b).is_ok();
    // The blocks in use in block order, then the others in block order: two
    // walks over the blocks rather than a sorted copy of them.
    let blocks = first_block..first_block + n_blocks;
    blocks
        .clone()
        .filter(in_use)
        .chain(blocks.filter(|b| !in_use(b)))
        .flat_map(|b| ix.block_whole_free(b).iter().copied())
        .find(|&d| !used(d))
}
