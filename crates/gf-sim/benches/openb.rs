//! One full FGD-paper experiment on the default openb pod list (about 10.9k
//! pods after tuning, on 1,213 nodes), per policy. The reference simulator
//! needs minutes for one; the target here is well under a second.
//!
//! The traces are in the repository (`testdata/traces/alibaba-gpu-v2023-openb`);
//! without them the bench fails rather than measure nothing.

// criterion_group! generates a public function without a doc comment.
#![allow(missing_docs)]

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use gf_sched::share::{ModelTable, NodeSpec, PodSpec, Policy};
use gf_sim::openb::{ReplayConfig, replay};
use gf_trace::openb;

fn load() -> (Vec<NodeSpec>, Vec<PodSpec>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/traces/alibaba-gpu-v2023-openb/csv");
    let nodes_path = dir.join("openb_node_list_gpu_node.csv.gz");
    let pods_path = dir.join("openb_pod_list_default.csv.gz");
    let mut models = ModelTable::new();
    let nodes = openb::read_nodes(&nodes_path)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|n| {
            NodeSpec::named(
                &mut models,
                n.cpu_milli,
                n.memory_mib,
                n.gpu,
                n.model.as_deref(),
            )
        })
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let mut pods = openb::read_pods(&pods_path).unwrap_or_else(|e| panic!("{e}"));
    pods.sort_by(|a, b| a.name.cmp(&b.name));
    let pods = pods
        .iter()
        .map(|p| {
            PodSpec::named(
                &models,
                p.cpu_milli,
                p.memory_mib,
                p.num_gpu,
                p.gpu_milli,
                p.gpu_spec.iter().map(String::as_str),
            )
        })
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    (nodes, pods)
}

fn openb_default(c: &mut Criterion) {
    let (nodes, pods) = load();
    let mut group = c.benchmark_group("openb_default_experiment");
    group.sample_size(10);
    for policy in Policy::ALL {
        group.bench_function(policy.name(), |b| {
            b.iter(|| replay(&nodes, &pods, &ReplayConfig::new(policy, 42)))
        });
    }
    group.finish();
}

criterion_group!(benches, openb_default);
criterion_main!(benches);
