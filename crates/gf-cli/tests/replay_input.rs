//! `gigafleet replay` on bad input: every case exits with its usual code for
//! bad input (1 for `openb`, 2 for `philly`), never a panic (101) or an abort,
//! and says on standard error which flag, file or row is wrong and what would
//! be accepted.
//!
//! Each input is a few lines written to a temporary directory. The binary
//! runs under a 2 GB address-space limit and a 60-second timeout, so a
//! regression to unbounded memory or an endless loop fails the test quickly
//! instead of taking the machine with it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const NODE_HEADER: &str = "sn,cpu_milli,memory_mib,gpu,model";
const POD_HEADER: &str = "name,cpu_milli,memory_mib,num_gpu,gpu_milli";

/// A throughput table in Gavel's layout with three workers, each measuring
/// job type `A` alone on one GPU.
const THROUGHPUTS: &str = r#"{
  "k80": {"('A', 1)": {"null": 1.0}},
  "p100": {"('A', 1)": {"null": 2.0}},
  "v100": {"('A', 1)": {"null": 4.0}}
}"#;

/// A job of type `A`: 100 steps on one GPU, arriving at 0 (the 7-field layout).
const JOB: &str = "A\tcmd\t-step\t1\t100\t0\t1\n";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fresh directory for one test's inputs.
fn dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gf-replay-input-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_owned()
}

/// Runs `gigafleet replay ARGS` with memory and time bounded.
fn replay(args: &[&str]) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg(r#"ulimit -v 2000000 && exec timeout 60 "$0" replay "$@""#)
        .arg(env!("CARGO_BIN_EXE_gigafleet"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("bash runs the binary")
}

/// Asserts that the run exited with `code` and that its standard error
/// contains every one of `wants`; returns standard error.
fn refused(o: &Output, code: i32, wants: &[&str]) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(
        o.status.code(),
        Some(code),
        "expected exit {code} (not a panic, abort or timeout); stderr:\n{err}"
    );
    for w in wants {
        assert!(err.contains(w), "stderr lacks `{w}`:\n{err}");
    }
    err
}

/// `replay openb` on `nodes` and `pods` for one seed, plus `extra` flags.
fn openb(nodes: &str, pods: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "openb", "--nodes", nodes, "--pods", pods, "--policy", "fgd", "--seed", "1",
    ];
    args.extend_from_slice(extra);
    replay(&args)
}

/// `replay philly` on `trace` and `throughputs`, plus `extra` flags.
fn philly(trace: &str, throughputs: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "philly",
        "--trace",
        trace,
        "--throughputs",
        throughputs,
        "--policy",
        "fifo",
    ];
    args.extend_from_slice(extra);
    replay(&args)
}

/// A node list of one 8-GPU V100M16 server, and a pod list of one whole-GPU pod.
fn small_openb(d: &Path) -> (String, String) {
    (
        write(
            d,
            "nodes.csv",
            &format!("{NODE_HEADER}\nn0,64000,262144,8,V100M16\n"),
        ),
        write(
            d,
            "pods.csv",
            &format!("{POD_HEADER}\np0,1000,1024,1,1000\n"),
        ),
    )
}

#[test]
fn the_small_inputs_replay_cleanly() {
    // The inputs the other tests break, unbroken: each refusal below is the
    // broken part's doing.
    let d = dir("clean");
    let (nodes, pods) = small_openb(&d);
    let o = openb(&nodes, &pods, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let trace = write(&d, "a.trace", JOB);
    let tp = write(&d, "tp.json", THROUGHPUTS);
    let o = philly(&trace, &tp, &["--gpus", "8"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("| fifo | 1 | 0 |"));
    // The fleet holds whole servers; the summary names what was built.
    let o = philly(&trace, &tp, &["--gpus", "12"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("on 16 GPUs (2 servers of 8; --gpus 12 rounded up to whole servers)"),
        "{out}"
    );
}

#[test]
fn philly_refuses_a_trace_with_no_jobs() {
    let d = dir("nojobs");
    let tp = write(&d, "tp.json", THROUGHPUTS);
    let trace = write(&d, "a.trace", JOB);
    let empty = write(&d, "empty.trace", "\n");
    let o = replay(&["philly", "--trace", &trace, &empty, "--throughputs", &tp]);
    refused(
        &o,
        2,
        &[&format!(
            "{empty}: error: the trace has no jobs; expected one tab-separated row per job"
        )],
    );
}

#[test]
fn philly_refuses_servers_of_no_gpu_and_clusters_out_of_range() {
    let d = dir("gpus");
    let trace = write(&d, "a.trace", JOB);
    let tp = write(&d, "tp.json", THROUGHPUTS);
    let cases: [(&[&str], &str); 5] = [
        (
            &["--gpus-per-server", "0"],
            "error: --gpus-per-server 0: expected 1..=500",
        ),
        (
            &["--gpus", "16", "--gpus-per-server", "32"],
            "error: --gpus-per-server 32: expected 1..=16",
        ),
        (
            &["--gpus", "4096", "--gpus-per-server", "2048"],
            "error: --gpus-per-server 2048: expected 1..=1024",
        ),
        (
            &["--gpus", "0"],
            "error: --gpus 0: expected a number of GPUs in 1..=1000000",
        ),
        (
            &["--gpus", "4294967295"],
            "error: --gpus 4294967295: expected a number of GPUs in 1..=1000000",
        ),
    ];
    for (flags, want) in cases {
        refused(&philly(&trace, &tp, flags), 2, &[want]);
    }
}

#[test]
fn openb_caps_the_seeds_of_a_sweep() {
    let d = dir("seeds");
    let (nodes, pods) = small_openb(&d);
    for range in ["1..18446744073709551615", "0..4000000000", "0..=100000"] {
        let o = replay(&[
            "openb", "--nodes", &nodes, "--pods", &pods, "--sweep", "--policy", "fgd", "--seed",
            range,
        ]);
        refused(
            &o,
            1,
            &[&format!(
                "error: --seed {range}: more than 100000 seeds in all; expected at most 100000"
            )],
        );
    }
    // Within the seed cap, the runs of all six policies are capped too.
    let o = replay(&[
        "openb", "--nodes", &nodes, "--pods", &pods, "--sweep", "--policy", "all", "--seed",
        "1..50000",
    ]);
    refused(
        &o,
        1,
        &[
            "--sweep: 1 pod lists x 6 policies x 50000 seeds is 300000 runs; expected at most 100000",
        ],
    );
}

#[test]
fn openb_refuses_a_pod_list_that_asks_for_no_gpu() {
    let d = dir("nogpu");
    let (nodes, _) = small_openb(&d);
    let pods = write(&d, "cpu.csv", &format!("{POD_HEADER}\np0,1000,1000,0,0\n"));
    refused(
        &openb(&nodes, &pods, &[]),
        1,
        &[&format!(
            "{pods}: error: the pod list asks for no GPU (every pod has num_gpu 0); expected at least one pod with num_gpu 1 or more"
        )],
    );
    // Rows that ask for GPUs without a share, or a share of no GPU, are
    // named by row rather than read as CPU-only pods.
    let pods = write(
        &d,
        "nomilli.csv",
        &format!("{POD_HEADER}\np0,1000,1000,1,1000\np1,1000,1000,1,0\n"),
    );
    refused(
        &openb(&nodes, &pods, &[]),
        1,
        &[&format!(
            "{pods}:3: error: column 'gpu_milli': a pod with num_gpu 1 needs the share of each GPU in 1..=1000, found 0"
        )],
    );
    let pods = write(
        &d,
        "nonum.csv",
        &format!("{POD_HEADER}\np0,1000,1000,0,500\n"),
    );
    refused(
        &openb(&nodes, &pods, &[]),
        1,
        &[&format!(
            "{pods}:2: error: column 'gpu_milli': a pod with num_gpu 0 asks for no GPU, so gpu_milli must be 0, found 500"
        )],
    );
}

#[test]
fn openb_bounds_tune() {
    let d = dir("tune");
    let (nodes, pods) = small_openb(&d);
    for (flags, shown) in [
        (vec!["--tune", "1e6"], "1000000.0"),
        (vec!["--tune", "1e300"], "1e300"),
        (vec!["--tune", "0"], "0.0"),
        (vec!["--tune", "-1"], "-1.0"),
        (vec!["--tune=-1"], "-1.0"),
        (vec!["--tune", "NaN"], "NaN"),
    ] {
        refused(
            &openb(&nodes, &pods, &flags),
            1,
            &[&format!(
                "error: --tune {shown}: expected a multiple of the cluster's GPU capacity in (0, 10]"
            )],
        );
    }
    // Within the bound, a list of tiny GPU shares tuned to a large cluster
    // would still grow to millions of pods: that is refused too.
    let mut big = String::from(NODE_HEADER);
    for i in 0..300 {
        big.push_str(&format!("\nn{i},64000,262144,8,V100M16"));
    }
    let big = write(&d, "big.csv", &big);
    let tiny = write(&d, "tiny.csv", &format!("{POD_HEADER}\np0,1,1,1,1\n"));
    refused(
        &openb(&big, &tiny, &[]),
        1,
        &[&format!(
            "{tiny}: error: tuned to 1.3 x the 2400 GPUs of {big}, the pod list would grow to about 3120000 pods, more than the 2000000 a run holds"
        )],
    );
}

#[test]
fn openb_refuses_node_lists_without_gpus_and_pods_for_models_it_lacks() {
    let d = dir("models");
    let (nodes, pods) = small_openb(&d);
    let cpu = write(
        &d,
        "cpu.csv",
        &format!("{NODE_HEADER}\nn0,64000,262144,0,\n"),
    );
    refused(
        &openb(&cpu, &pods, &[]),
        1,
        &[&format!(
            "{cpu}: error: the node list has no GPU: every node has gpu 0; expected at least one node with gpu 1 or more"
        )],
    );
    let spec = write(
        &d,
        "spec.csv",
        &format!("{POD_HEADER},gpu_spec\np0,1000,1024,1,1000,\np1,1000,1024,1,1000,A100|H100\n"),
    );
    refused(
        &openb(&nodes, &spec, &[]),
        1,
        &[&format!(
            "{spec}:3: error: column 'gpu_spec': no node of {nodes} has model A100|H100; expected an empty field (any model) or one or more of V100M16"
        )],
    );
    // One known model among unknown ones is a pod this cluster can hold.
    let some = write(
        &d,
        "some.csv",
        &format!("{POD_HEADER},gpu_spec\np0,1000,1024,1,1000,A100|V100M16\n"),
    );
    let o = openb(&nodes, &some, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let times = write(
        &d,
        "times.csv",
        &format!("{POD_HEADER},creation_time,deletion_time\np0,1000,1024,1,1000,10,5\n"),
    );
    refused(
        &openb(&nodes, &times, &[]),
        1,
        &[&format!(
            "{times}:2: error: column 'deletion_time': 5 is before creation_time 10; expected a time at or after creation_time"
        )],
    );
}

#[test]
fn openb_names_an_empty_list_once() {
    let d = dir("empty");
    let (nodes, pods) = small_openb(&d);
    let empty_nodes = write(&d, "n_hdr.csv", &format!("{NODE_HEADER}\n"));
    let err = refused(
        &openb(&empty_nodes, &pods, &[]),
        1,
        &[&format!(
            "{empty_nodes}: error: the node list has no nodes; expected a header line, then one row per node"
        )],
    );
    assert_eq!(err.matches("error:").count(), 1, "{err}");
    let empty_pods = write(&d, "p_hdr.csv", &format!("{POD_HEADER}\n"));
    let err = refused(
        &openb(&nodes, &empty_pods, &[]),
        1,
        &[&format!(
            "{empty_pods}: error: the pod list has no pods; expected a header line, then one row per pod"
        )],
    );
    assert_eq!(err.matches("error:").count(), 1, "{err}");
}

#[test]
fn philly_bounds_arrivals_and_names_the_row() {
    let d = dir("arrival");
    let tp = write(&d, "tp.json", THROUGHPUTS);
    let trace = write(
        &d,
        "late.trace",
        &format!("{JOB}A\tcmd\t-step\t1\t100\t1e19\t1\n"),
    );
    refused(
        &philly(&trace, &tp, &[]),
        2,
        &[&format!(
            "{trace}:2: error: column arrival_time_s (field 6) is `1e19`; expected seconds in 0..=315360000 (ten years)"
        )],
    );
}

#[test]
fn philly_refuses_jobs_that_could_never_finish() {
    // Such a job was neither completed nor "never fit": it vanished from the
    // summary. Now the row is refused, naming the field and the bound.
    let d = dir("forever");
    let tp = write(&d, "tp.json", THROUGHPUTS);
    let trace = write(
        &d,
        "steps.trace",
        &format!("{JOB}A\tcmd\t-step\t1\t1e300\t0\t1\n"),
    );
    refused(
        &philly(&trace, &tp, &[]),
        2,
        &[&format!(
            "{trace}:2: error: column total_steps (field 5) is `1e300`; expected a whole number of steps in 1..=9007199254740992"
        )],
    );
    let trace = write(
        &d,
        "long.trace",
        &format!("{JOB}A\tcmd\t-step\t1\t1000000000000000\t0\t1\n"),
    );
    refused(
        &philly(&trace, &tp, &[]),
        2,
        &[
            &format!(
                "{trace}:2: error: `A` (1000000000000000 steps on a 1-GPU gang) would run 2.500e14 s alone at 4.000e0 steps/s on v100"
            ),
            "expected at most 315360000 s (ten years)",
        ],
    );
    let slow = write(
        &d,
        "slow.json",
        r#"{"v100": {"('A', 1)": {"null": 1e-300}}}"#,
    );
    let trace = write(&d, "a.trace", JOB);
    refused(
        &philly(&trace, &slow, &[]),
        2,
        &[&format!(
            "{trace}:1: error: `A` (100 steps on a 1-GPU gang) would run 1.000e302 s alone at 1.000e-300 steps/s on v100 (the entry for this gang in {slow})"
        )],
    );
}

#[test]
fn philly_names_an_unknown_worker_and_a_negative_throughput() {
    let d = dir("worker");
    let tp = write(&d, "tp.json", THROUGHPUTS);
    let trace = write(&d, "a.trace", JOB);
    refused(
        &philly(&trace, &tp, &["--worker", "V100"]),
        2,
        &[&format!(
            "error: --worker: unknown worker `V100`; the table {tp} has: k80, p100, v100"
        )],
    );
    let neg = write(&d, "neg.json", r#"{"v100": {"('A', 1)": {"null": -2.0}}}"#);
    refused(
        &philly(&trace, &neg, &[]),
        2,
        &[&format!(
            "{neg}:1: error: worker type `v100`, key `('A', 1)`: the throughput alone (field `null`) is `-2.0`; expected steps per second >= 0"
        )],
    );
    // A measured 0 (the shipped table's mark for a job that does not run on
    // a worker) is no figure: the job is named by row, not dropped.
    let zero = write(&d, "zero.json", r#"{"v100": {"('A', 1)": {"null": 0.0}}}"#);
    refused(
        &philly(&trace, &zero, &[]),
        2,
        &[&format!(
            "{trace}:1: error: column job_type: no throughput for `A` on v100 at any gang size up to 1"
        )],
    );
}
