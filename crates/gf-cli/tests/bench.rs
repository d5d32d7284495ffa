//! `gigafleet bench ingest` as a smoke test: a short run by count (not a
//! timed test; the figures themselves are recorded in docs/performance.md)
//! whose JSON report is whole and whose acknowledged submissions are all in
//! the store, for group commit and for one transaction each.

mod common;

use std::process::Command;

use common::fleet_file;
use serde_json::Value;

#[test]
fn a_short_ingest_run_reports_sane_figures_and_every_acknowledged_job_is_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = fleet_file(tmp.path());
    let out = Command::new(env!("CARGO_BIN_EXE_gigafleet"))
        .args(["bench", "ingest", "--fleet"])
        .arg(&fleet)
        .args([
            "--count",
            "200",
            "--connections",
            "8",
            "--json",
            "--tmp-dir",
        ])
        .arg(tmp.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["store"], "sqlite");
    assert_eq!(r["connections"], 8);
    let runs = r["runs"].as_array().unwrap();
    let configs: Vec<&str> = runs.iter().map(|f| f["config"].as_str().unwrap()).collect();
    assert_eq!(configs, ["group_commit", "one_tx_each"]);
    assert_eq!(runs[1]["max_group"], 1);
    for f in runs {
        assert_eq!(f["acknowledged"], 200, "{f}");
        assert_eq!(f["errors"], 0, "{f}");
        assert_eq!(f["stored"], 200, "durable: {f}");
        let ms = |k: &str| f[k].as_f64().unwrap();
        assert!(ms("per_second") > 0.0, "{f}");
        assert!(ms("p50_ms") > 0.0, "{f}");
        assert!(
            ms("p50_ms") <= ms("p99_ms") && ms("p99_ms") <= ms("p999_ms"),
            "{f}"
        );
        assert!(ms("p999_ms") <= ms("max_ms"), "{f}");
    }
    assert!(r["ratio"].as_f64().unwrap() > 0.0, "{r}");
    // The temporary data directories are gone with the run.
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("gf-bench-ingest-")
        })
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
