//! How fast the openb readers turn the default pod list and the GPU node
//! list into records: the parser alone over the decompressed bytes in
//! memory, and the whole path from the shipped `.csv.gz` file.
//!
//! Reading is a small part of a replay (the default list reads in
//! milliseconds, a replay takes tens of them), but a sweep reads 17 lists and
//! a reader swap must not make it slower; this is the before/after figure.

// criterion_group! generates a public function without a doc comment.
#![allow(missing_docs)]

use std::io::Read;
use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gf_trace::{TraceFile, openb};

fn csv_gz(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/traces/alibaba-gpu-v2023-openb/csv")
        .join(format!("{name}.csv.gz"))
}

/// The decompressed text of a shipped list; a missing file fails the bench.
fn plain_bytes(path: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    TraceFile::open(path)
        .unwrap_or_else(|e| panic!("{e}"))
        .read_to_end(&mut bytes)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
}

fn read(c: &mut Criterion) {
    let nodes_gz = csv_gz("openb_node_list_gpu_node");
    let pods_gz = csv_gz("openb_pod_list_default");
    let nodes = plain_bytes(&nodes_gz);
    let pods = plain_bytes(&pods_gz);
    let mut group = c.benchmark_group("openb_read");

    // Throughput in bytes of CSV text, so the plain and gz figures compare.
    group.throughput(Throughput::Bytes(nodes.len() as u64));
    group.bench_function("nodes_in_memory", |b| {
        b.iter(|| {
            let r = openb::NodeReader::new(&nodes[..], Path::new("nodes.csv")).unwrap();
            let v: Vec<openb::OpenbNode> = r.map(Result::unwrap).collect();
            assert_eq!(v.len(), 1_213);
            v
        })
    });
    group.bench_function("nodes_from_gz_file", |b| {
        b.iter(|| openb::read_nodes(&nodes_gz).unwrap())
    });

    group.throughput(Throughput::Bytes(pods.len() as u64));
    group.bench_function("pods_in_memory", |b| {
        b.iter(|| {
            let r = openb::PodReader::new(&pods[..], Path::new("pods.csv")).unwrap();
            let v: Vec<openb::OpenbPod> = r.map(Result::unwrap).collect();
            assert_eq!(v.len(), 8_152);
            v
        })
    });
    group.bench_function("pods_from_gz_file", |b| {
        b.iter(|| openb::read_pods(&pods_gz).unwrap())
    });
    group.finish();
}

criterion_group!(benches, read);
criterion_main!(benches);
