//! The traces shipped in `testdata/traces/` read as their READMEs describe
//! them, and a gzip-compressed trace reads exactly like its plain form.
//!
//! These tests need the in-repository data: a missing file fails them, so a
//! green run means the data was there and was read.

use std::io::Read;
use std::path::{Path, PathBuf};

use gf_trace::philly::{self, PhillyJob, Throughputs};
use gf_trace::{TraceFile, openb};

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/traces")
        .join(rel)
}

fn openb_csv(name: &str) -> PathBuf {
    testdata(&format!("alibaba-gpu-v2023-openb/csv/{name}.csv.gz"))
}

/// A fresh temporary folder for one test.
fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gf-trace-shipped-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Decompress `gz` into a plain file of the same name without `.gz`, so both
/// forms can be read side by side.
fn plain_copy(gz: &Path, tag: &str) -> PathBuf {
    let mut bytes = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(gz).unwrap())
        .read_to_end(&mut bytes)
        .unwrap();
    let plain = temp_dir(tag).join(gz.file_stem().unwrap());
    std::fs::write(&plain, bytes).unwrap();
    plain
}

#[test]
fn the_openb_node_list_has_the_readmes_nodes_and_gpus() {
    let nodes = openb::read_nodes(&openb_csv("openb_node_list_gpu_node")).unwrap();
    assert_eq!(nodes.len(), 1_213);
    assert_eq!(nodes.iter().map(|n| n.gpu).sum::<u32>(), 6_212);
}

#[test]
fn every_shipped_openb_pod_list_reads() {
    let dir = testdata("alibaba-gpu-v2023-openb/csv");
    let mut lists = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap().path();
        if !p.to_string_lossy().contains("pod_list") {
            continue;
        }
        let pods = openb::read_pods(&p).unwrap();
        assert!(pods.len() > 7_000, "{}: {} pods", p.display(), pods.len());
        lists += 1;
    }
    assert_eq!(lists, 17, "the FGD paper's 17 pod lists");
    let default = openb::read_pods(&openb_csv("openb_pod_list_default")).unwrap();
    assert_eq!(default.len(), 8_152);
    assert_eq!(default.iter().filter(|p| p.num_gpu > 0).count(), 7_064);
}

#[test]
fn gzip_and_plain_openb_lists_read_identically() {
    let gz = openb_csv("openb_node_list_gpu_node");
    let plain = plain_copy(&gz, "nodes");
    assert!(TraceFile::open(&gz).unwrap().is_gzip());
    assert!(!TraceFile::open(&plain).unwrap().is_gzip());
    assert_eq!(
        openb::read_nodes(&gz).unwrap(),
        openb::read_nodes(&plain).unwrap()
    );

    let gz = openb_csv("openb_pod_list_default");
    let plain = plain_copy(&gz, "pods");
    assert_eq!(
        openb::read_pods(&gz).unwrap(),
        openb::read_pods(&plain).unwrap()
    );
}

#[test]
fn gzip_and_plain_philly_traces_and_throughputs_read_identically() {
    let jobs = |p: &Path| -> Vec<PhillyJob> {
        philly::read_jobs(p).unwrap().map(Result::unwrap).collect()
    };
    let gz = testdata("gavel-philly-derived/msr/seed=0/11cb48.trace.gz");
    let plain = plain_copy(&gz, "philly");
    let from_gz = jobs(&gz);
    assert_eq!(from_gz.len(), 2_000);
    assert_eq!(from_gz, jobs(&plain));

    let gz = testdata("gavel-philly-derived/simulation_throughputs.json.gz");
    let plain = plain_copy(&gz, "throughputs");
    let tp = Throughputs::read(&gz).unwrap();
    assert!(
        tp.steps_per_s("v100", "ResNet-50 (batch size 64)", 1)
            .is_some()
    );
    assert_eq!(tp, Throughputs::read(&plain).unwrap());
}

#[test]
fn a_row_error_in_a_gz_file_names_the_file_and_the_decompressed_line() {
    // Rows count lines of the decompressed text, as `zcat FILE | sed -n 3p` does.
    let path = temp_dir("bad").join("pods.csv.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(
        &mut gz,
        b"name,cpu_milli,memory_mib,num_gpu,gpu_milli\np0,1,1,1,1000\np1,1,1,1,many\n",
    )
    .unwrap();
    std::fs::write(&path, gz.finish().unwrap()).unwrap();
    let e = openb::read_pods(&path).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}:3: error: column 'gpu_milli': expected a whole number in 0..=1000, found 'many'",
            path.display()
        )
    );
}
