//! A reader that goes away is not a crash: every printing command, its stdout
//! a pipe whose reading end is already closed, exits 0 without a panic or a
//! backtrace (as `gigafleet simulate … | head` must).

use std::path::PathBuf;
use std::process::{Command, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the binary with stdout a pipe nobody reads: the reading end is closed
/// before the process starts, so its first write meets a broken pipe.
fn into_closed_pipe(args: &[&str]) {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_gigafleet"))
        .args(args)
        .current_dir(root())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .expect("the binary runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
}

#[test]
fn validate_into_a_closed_pipe() {
    into_closed_pipe(&["validate", "examples/small-fleet.toml"]);
}

#[test]
fn place_into_a_closed_pipe() {
    into_closed_pipe(&[
        "place",
        "--fleet",
        "examples/small-fleet.toml",
        "--job",
        "examples/jobs.toml",
        "--explain",
    ]);
    into_closed_pipe(&[
        "place",
        "--fleet",
        "examples/small-fleet.toml",
        "--job",
        "examples/jobs.toml",
        "--json",
    ]);
}

#[test]
fn schema_into_a_closed_pipe() {
    into_closed_pipe(&["schema"]);
}

#[test]
fn simulate_into_a_closed_pipe() {
    into_closed_pipe(&[
        "simulate",
        "examples/multicloud-2026.toml",
        "--until",
        "2026-01-08",
        "--compare",
        "default,first-fit",
    ]);
}

#[test]
fn replay_openb_into_a_closed_pipe() {
    let t = "testdata/traces/alibaba-gpu-v2023-openb/csv";
    let nodes = format!("{t}/openb_node_list_gpu_node.csv.gz");
    let pods = format!("{t}/openb_pod_list_default.csv.gz");
    into_closed_pipe(&[
        "replay", "openb", "--nodes", &nodes, "--pods", &pods, "--policy", "fgd", "--seed", "42",
    ]);
}

#[test]
fn replay_philly_into_a_closed_pipe() {
    let p = "testdata/traces/gavel-philly-derived";
    let trace = format!("{p}/msr/seed=0/0e4a51.trace.gz");
    let tput = format!("{p}/simulation_throughputs.json.gz");
    into_closed_pipe(&[
        "replay",
        "philly",
        "--trace",
        &trace,
        "--throughputs",
        &tput,
        "--policy",
        "fifo,sjf",
    ]);
}
