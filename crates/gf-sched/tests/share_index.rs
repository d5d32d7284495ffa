//! Properties of the GPU-sharing index and scheduler: allocation and release
//! restore state exactly, capacity is never exceeded, and the scheduler is a
//! function of its seed.

use gf_sched::share::{
    ModelSet, ModelTable, NodeSpec, NodeState, PodSpec, Policy, ShareIndex, ShareScheduler,
    TypicalPods,
};
use proptest::prelude::*;

fn cluster(shapes: &[(u8, u8)]) -> Vec<NodeSpec> {
    let mut models = ModelTable::new();
    shapes
        .iter()
        .map(|&(gpus, model)| {
            let name = ["A", "B", "C"][usize::from(model % 3)];
            let gpus = [0u32, 1, 2, 4, 8][usize::from(gpus % 5)];
            NodeSpec::named(&mut models, 32_000, 64_000, gpus, Some(name)).unwrap()
        })
        .collect()
}

fn pod_strategy() -> impl Strategy<Value = PodSpec> {
    (
        0u64..8_000,
        0u64..16_000,
        prop_oneof![Just(0u32), Just(1), Just(2), Just(4), Just(8)],
        prop_oneof![Just(1000u32), 50u32..1000],
        prop_oneof![Just(ModelSet::Any), (1u64..8).prop_map(ModelSet::OneOf)],
    )
        .prop_map(|(cpu, mem, num, milli, models)| {
            let milli = if num > 1 { 1000 } else { milli };
            PodSpec::new(cpu, mem, num, milli, models).unwrap()
        })
}

fn used_milli(nodes: &[NodeState]) -> u64 {
    nodes
        .iter()
        .map(|n| u64::from(n.gpus) * 1000 - n.total_gpu_left())
        .sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn releasing_everything_restores_the_empty_index(
        shapes in prop::collection::vec((0u8..5, 0u8..3), 1..12),
        pods in prop::collection::vec(pod_strategy(), 1..80),
        policy in prop::sample::select(Policy::ALL.to_vec()),
        seed in 0u64..1000,
        release_order in prop::collection::vec(any::<prop::sample::Index>(), 80),
    ) {
        let nodes = cluster(&shapes);
        let empty = ShareIndex::new(nodes.clone());
        let typical = TypicalPods::from_workload(&pods, 95);
        let mut s = ShareScheduler::new(policy, empty.clone(), typical, seed);
        let mut placed = Vec::new();
        for p in &pods {
            if let Some(pl) = s.place(p) {
                placed.push(pl);
            }
            // Capacity is never exceeded and the allocated total adds up.
            for (n, spec) in s.index().nodes().iter().zip(nodes.iter()) {
                prop_assert!(n.cpu_left <= spec.cpu_milli);
                prop_assert!(n.gpus_left().iter().all(|&g| g <= 1000));
            }
            prop_assert_eq!(used_milli(s.index().nodes()), s.index().allocated_gpu_milli());
        }
        // Release in a shuffled order.
        for idx in release_order {
            if placed.is_empty() {
                break;
            }
            let pl = placed.swap_remove(idx.index(placed.len()));
            s.release(&pl).unwrap();
        }
        for pl in placed.drain(..) {
            s.release(&pl).unwrap();
        }
        for (after, before) in s.index().nodes().iter().zip(empty.nodes()) {
            prop_assert_eq!(after.cpu_left, before.cpu_left);
            prop_assert_eq!(after.mem_left, before.mem_left);
            prop_assert_eq!(after.gpu_left, before.gpu_left);
            prop_assert_eq!(after.affinity, before.affinity);
        }
        prop_assert_eq!(s.index().allocated_gpu_milli(), 0);
        prop_assert!(s.cluster_frag().is_finite());
    }

    #[test]
    fn allocate_then_release_is_the_identity(
        shapes in prop::collection::vec((0u8..5, 0u8..3), 1..6),
        pre in prop::collection::vec(pod_strategy(), 0..20),
        pod in pod_strategy(),
    ) {
        let mut ix = ShareIndex::new(cluster(&shapes));
        for p in &pre {
            if let Some(n) = (0..ix.len() as u32).find(|&n| ix.node(n).unwrap().fits(p)) {
                ix.allocate(n, p, None).unwrap();
            }
        }
        let before: Vec<NodeState> = ix.nodes().to_vec();
        let allocated = ix.allocated_gpu_milli();
        if let Some(n) = (0..ix.len() as u32).find(|&n| ix.node(n).unwrap().fits(&pod)) {
            let pl = ix.allocate(n, &pod, None).unwrap();
            prop_assert_eq!(pl.total_gpu_milli(), pod.total_gpu_milli());
            ix.release(&pl).unwrap();
            for (a, b) in ix.nodes().iter().zip(&before) {
                prop_assert_eq!((a.cpu_left, a.mem_left, a.gpu_left, a.affinity),
                                (b.cpu_left, b.mem_left, b.gpu_left, b.affinity));
            }
            prop_assert_eq!(ix.allocated_gpu_milli(), allocated);
        } else {
            // A pod that fits nowhere is refused everywhere, and nothing changes.
            for n in 0..ix.len() as u32 {
                prop_assert!(ix.allocate(n, &pod, None).is_err());
            }
            prop_assert_eq!(ix.nodes(), &before[..]);
        }
    }

    #[test]
    fn same_seed_same_placements(
        shapes in prop::collection::vec((0u8..5, 0u8..3), 1..10),
        pods in prop::collection::vec(pod_strategy(), 1..60),
        policy in prop::sample::select(Policy::ALL.to_vec()),
        seed in 0u64..1000,
    ) {
        let run = || {
            let typical = TypicalPods::from_workload(&pods, 95);
            let mut s = ShareScheduler::new(policy, ShareIndex::new(cluster(&shapes)), typical, seed);
            pods.iter().map(|p| s.place(p)).collect::<Vec<_>>()
        };
        prop_assert_eq!(run(), run());
    }
}
