//! The FGD paper's static-packing experiment, as a pure function: the
//! experiment protocol behind `gigafleet replay openb`.
//!
//! It lives in the twin rather than in gf-sched because it is an experiment,
//! not a placement rule: tuning the workload to 130% of the cluster's
//! capacity, shuffling it and seeding the draws are how the paper measured
//! its policies, and nothing in production places pods that way. gf-sched
//! keeps the share index and the six policies; this module drives them.
//! Like the rest of gf-sim it reads no files: the caller converts a trace
//! into [`NodeSpec`]s and [`PodSpec`]s (gf-cli does, with gf-trace).
//!
//! The protocol is the one of the reference simulator
//! (hkust-adsl/kubernetes-scheduler-simulator, `pkg/simulator/core.go` and
//! `simulator.go`, analysed by `experiments/analysis/merge_*_discrete.py`):
//!
//! 1. the typical pods are taken from the workload as given (before tuning);
//! 2. the pods are shuffled with the seed;
//! 3. the workload is "tuned" to `tune` x the cluster's GPU capacity: if it
//!    asks for less, pods drawn uniformly (with replacement) from the original
//!    list are appended until the next draw would overshoot; if it asks for
//!    more, pods at uniformly drawn positions are removed until it fits;
//! 4. pods arrive one by one and never leave; a pod that fits nowhere fails
//!    and is not retried;
//! 5. after every arrival the allocated and arrived milli-GPU are recorded;
//!    the curve's point k is the mean allocation ratio over the arrivals at
//!    which arrived GPU demand, rounded to a whole percent of capacity, is k
//!    (or k-1..=k+1 when none is).
//!
//! One deliberate quirk is kept: the reference checks the overshoot of a
//! tuning draw with the pod's per-GPU milli-GPU but adds its total, so a
//! multi-GPU draw can overshoot the target. Seeds drive a ChaCha generator,
//! not Go's `math/rand`, so runs match the published ones in distribution,
//! not pod for pod.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use gf_sched::share::frag::{DEFAULT_POPULARITY_PERCENT, TypicalPods};
use gf_sched::share::spec::MILLI_PER_GPU;
use gf_sched::share::{NodeSpec, PodSpec, Policy, ShareIndex, ShareScheduler};

/// Points on the allocation curve: arrived demand 0..=130% of capacity.
pub const CURVE_POINTS: usize = 131;

/// The published experiments' tuning ratio.
pub const DEFAULT_TUNE: f64 = 1.3;

/// The published experiments' seeds.
pub const PUBLISHED_SEEDS: std::ops::RangeInclusive<u64> = 42..=51;

/// One experiment's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplayConfig {
    /// The placement policy.
    pub policy: Policy,
    /// Seeds the shuffle, the tuning draws and the tie-breaks.
    pub seed: u64,
    /// Arrived GPU demand to reach, as a multiple of cluster GPU capacity;
    /// 0 or less keeps the workload as it is.
    pub tune: f64,
    /// Share of tasks the typical pods must cover, percent.
    pub popularity_percent: u32,
}

impl ReplayConfig {
    /// The published settings for `policy` and `seed`.
    pub fn new(policy: Policy, seed: u64) -> Self {
        Self {
            policy,
            seed,
            tune: DEFAULT_TUNE,
            popularity_percent: DEFAULT_POPULARITY_PERCENT,
        }
    }
}

/// What one experiment measured.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayResult {
    /// The settings it ran with.
    pub config: ReplayConfig,
    /// GPUs in the cluster.
    pub total_gpus: u64,
    /// Pods that arrived (after tuning).
    pub pods_arrived: usize,
    /// Pods that fit nowhere.
    pub pods_failed: usize,
    /// Of those, pods that asked for GPUs.
    pub gpu_pods_failed: usize,
    /// Milli-GPU asked for by all arrived pods.
    pub arrived_gpu_milli: u64,
    /// Milli-GPU allocated at the end.
    pub allocated_gpu_milli: u64,
    /// Expected fragmented milli-GPU at the end.
    pub frag_gpu_milli: f64,
    /// Allocation ratio (% of cluster GPUs) at arrived demand 0..=130%.
    pub curve: Vec<Option<f64>>,
    /// Fragmented GPUs as % of cluster GPUs, same points.
    pub frag_curve: Vec<Option<f64>>,
    /// Fragmented share of idle GPUs, %, same points.
    pub frag_ratio_curve: Vec<Option<f64>>,
}

impl ReplayResult {
    /// The allocation ratio at `percent` arrived demand.
    pub fn allocation_ratio_at(&self, percent: usize) -> Option<f64> {
        self.curve.get(percent).copied().flatten()
    }

    /// The allocation ratio at 130% arrived demand, the paper's headline.
    pub fn allocation_ratio_at_130(&self) -> Option<f64> {
        self.allocation_ratio_at(130)
    }
}

/// The arrival order of the protocol's steps 2 and 3, as indices into
/// `workload`.
pub fn arrivals(workload: &[PodSpec], cluster_gpu_milli: u64, seed: u64, tune: f64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..workload.len()).collect();
    order.shuffle(&mut rng);
    if tune <= 0.0 || workload.is_empty() {
        return order;
    }
    let target = tune * cluster_gpu_milli as f64;
    let mut total: u64 = workload.iter().map(PodSpec::total_gpu_milli).sum();
    if (total as f64) > target {
        while (total as f64) > target && !order.is_empty() {
            let i = rng.random_range(0..order.len());
            total -= workload[order.remove(i)].total_gpu_milli();
        }
    } else {
        loop {
            let i = rng.random_range(0..workload.len());
            let pod = &workload[i];
            if (total + u64::from(pod.gpu_milli)) as f64 > target {
                break;
            }
            total += pod.total_gpu_milli();
            order.push(i);
        }
    }
    order
}

/// Run one experiment of the protocol on empty `nodes`. `workload` is in
/// submission order (the reference sorts pods by name before shuffling).
pub fn replay(nodes: &[NodeSpec], workload: &[PodSpec], config: &ReplayConfig) -> ReplayResult {
    let typical = TypicalPods::from_workload(workload, config.popularity_percent);
    let index = ShareIndex::new(nodes.to_vec());
    let total_gpus = index.total_gpus();
    let capacity = total_gpus * u64::from(MILLI_PER_GPU);
    let order = arrivals(workload, capacity, config.seed, config.tune);
    let mut sched = ShareScheduler::new(config.policy, index, typical, config.seed);
    let shapes: Vec<_> = workload.iter().map(|p| sched.shape(p)).collect();

    let weight = sched.typical().weight_sum();
    let mut curves = CurveBuilder::new(total_gpus);
    let mut arrived = 0u64;
    let (mut failed, mut gpu_failed) = (0usize, 0usize);
    for &i in &order {
        let pod = &workload[i];
        arrived += pod.total_gpu_milli();
        if sched.place_shape(shapes[i]).is_none() {
            failed += 1;
            if pod.wants_gpu() {
                gpu_failed += 1;
            }
        }
        let allocated = sched.index().allocated_gpu_milli();
        let idle = (capacity - allocated) as f64 * weight;
        curves.record(arrived, allocated, sched.cluster_frag(), idle);
    }
    let (curve, frag_curve, frag_ratio_curve) = curves.finish();
    ReplayResult {
        config: *config,
        total_gpus,
        pods_arrived: order.len(),
        pods_failed: failed,
        gpu_pods_failed: gpu_failed,
        arrived_gpu_milli: arrived,
        allocated_gpu_milli: sched.index().allocated_gpu_milli(),
        frag_gpu_milli: sched.cluster_frag(),
        curve,
        frag_curve,
        frag_ratio_curve,
    }
}

/// Rounds the way the reference's pandas analysis does (round half to even).
#[inline]
fn round2(x: f64) -> f64 {
    (x * 100.0).round_ties_even() / 100.0
}

/// Per-percent sums of the recorded arrivals.
struct CurveBuilder {
    total_gpus: f64,
    count: Vec<u32>,
    alloc: Vec<f64>,
    frag: Vec<f64>,
    ratio: Vec<f64>,
}

impl CurveBuilder {
    fn new(total_gpus: u64) -> Self {
        // Arrivals may overshoot 130%; one spare bucket serves the k+1 fallback.
        let n = CURVE_POINTS + 1;
        Self {
            total_gpus: total_gpus as f64,
            count: vec![0; n],
            alloc: vec![0.0; n],
            frag: vec![0.0; n],
            ratio: vec![0.0; n],
        }
    }

    fn record(&mut self, arrived: u64, allocated: u64, frag: f64, idle: f64) {
        if self.total_gpus == 0.0 {
            return;
        }
        let bucket = (arrived as f64 / self.total_gpus / 10.0).round_ties_even();
        if bucket < 0.0 || bucket as usize >= self.count.len() {
            return;
        }
        let b = bucket as usize;
        self.count[b] += 1;
        self.alloc[b] += round2(allocated as f64 / self.total_gpus / 10.0);
        self.frag[b] += frag;
        self.ratio[b] += if idle > 0.0 {
            round2(100.0 * frag / idle)
        } else {
            0.0
        };
    }

    #[allow(clippy::type_complexity)]
    fn finish(self) -> (Vec<Option<f64>>, Vec<Option<f64>>, Vec<Option<f64>>) {
        let mut curve = Vec::with_capacity(CURVE_POINTS);
        let mut frag = Vec::with_capacity(CURVE_POINTS);
        let mut ratio = Vec::with_capacity(CURVE_POINTS);
        for k in 0..CURVE_POINTS {
            let range = if self.count[k] > 0 {
                k..=k
            } else {
                k.saturating_sub(1)..=k + 1
            };
            let n: u32 = self.count[range.clone()].iter().sum();
            if n == 0 {
                curve.push(None);
                frag.push(None);
                ratio.push(None);
                continue;
            }
            let n = f64::from(n);
            let sum = |v: &[f64]| v[range.clone()].iter().sum::<f64>() / n;
            curve.push(Some(round2(sum(&self.alloc))));
            frag.push(Some(round2(
                100.0 * sum(&self.frag) / 1000.0 / self.total_gpus,
            )));
            ratio.push(Some(sum(&self.ratio)));
        }
        (curve, frag, ratio)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gf_sched::share::{ModelSet, ModelTable};

    fn small() -> (Vec<NodeSpec>, Vec<PodSpec>) {
        let mut t = ModelTable::new();
        let m = t.intern("G2").unwrap();
        let nodes = (0..10)
            .map(|i| NodeSpec::new(32_000, 128_000, [1, 2, 4, 8][i % 4], Some(m)).unwrap())
            .collect();
        let pods = (0..40)
            .map(|i| {
                let (num, milli) = [(1, 250), (1, 1000), (2, 1000), (0, 0), (1, 500)][i % 5];
                PodSpec::new(2000, 4000, num, milli, ModelSet::Any).unwrap()
            })
            .collect();
        (nodes, pods)
    }

    #[test]
    fn tuning_reaches_the_target_without_overshooting_a_share() {
        let (nodes, pods) = small();
        let capacity: u64 = nodes.iter().map(NodeSpec::gpu_milli).sum();
        let order = arrivals(&pods, capacity, 42, 1.3);
        let total: u64 = order.iter().map(|&i| pods[i].total_gpu_milli()).sum();
        assert!(total as f64 <= 1.3 * capacity as f64 + 1000.0);
        assert!(total as f64 > 1.3 * capacity as f64 - 1000.0);
        // Tuning down removes pods until the demand fits.
        let order = arrivals(&pods, capacity / 4, 42, 1.0);
        let total: u64 = order.iter().map(|&i| pods[i].total_gpu_milli()).sum();
        assert!(total <= capacity / 4);
    }

    #[test]
    fn replay_is_deterministic_and_reaches_130() {
        let (nodes, pods) = small();
        for policy in Policy::ALL {
            let cfg = ReplayConfig::new(policy, 7);
            let a = replay(&nodes, &pods, &cfg);
            let b = replay(&nodes, &pods, &cfg);
            assert_eq!(a, b);
            assert!(a.allocation_ratio_at_130().is_some(), "{policy}");
            assert!(a.curve.iter().filter(|p| p.is_some()).count() > 10);
            assert!(a.allocated_gpu_milli <= a.total_gpus * 1000);
        }
    }
}
