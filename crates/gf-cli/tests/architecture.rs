//! The dependency-direction guard: fails when a crate gains a dependency
//! that DESIGN.md forbids (tokio reaching gf-sched, anyhow in a library, a
//! lower layer depending on a higher one). It reads `cargo metadata`, so it
//! sees transitive dependencies too.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

/// `crate -> what it must never depend on, even transitively (normal deps only)`.
fn rules() -> Vec<(&'static str, Vec<&'static str>)> {
    let pure = vec![
        "tokio",
        "anyhow",
        "gf-sim",
        "gf-server",
        "gf-cli",
        "gf-store",
        "gf-backend",
        "gf-slurm",
        "gf-trace",
        "gf-testkit",
        "gf-slurm-test",
        "reqwest",
        "hyper",
        "axum",
        "rusqlite",
        "sqlx",
    ];
    vec![
        (
            "gf-model",
            [pure.clone(), vec!["gf-sched", "gf-control", "gf-plan"]].concat(),
        ),
        (
            "gf-sched",
            [pure.clone(), vec!["gf-control", "gf-plan"]].concat(),
        ),
        ("gf-control", [pure.clone(), vec!["gf-plan"]].concat()),
        (
            "gf-plan",
            [pure.clone(), vec!["gf-sched", "gf-control"]].concat(),
        ),
        (
            "gf-sim",
            vec![
                "tokio",
                "gf-store",
                "gf-server",
                "gf-cli",
                "anyhow",
                "gf-testkit",
                "gf-slurm",
                "reqwest",
                "hyper",
            ],
        ),
        (
            "gf-trace",
            vec![
                "tokio",
                "gf-store",
                "gf-server",
                "gf-cli",
                "anyhow",
                "gf-sched",
                "gf-control",
                "gf-sim",
            ],
        ),
        (
            "gf-store",
            vec!["gf-sched", "gf-control", "gf-sim", "gf-server", "gf-cli"],
        ),
        // gf-backend stays runtime-free: the twin implements its trait and
        // must never compile an HTTP client or tokio through it.
        (
            "gf-backend",
            vec![
                "gf-sched",
                "gf-control",
                "gf-sim",
                "gf-server",
                "gf-cli",
                "gf-slurm",
                "tokio",
                "reqwest",
                "hyper",
            ],
        ),
        (
            "gf-slurm",
            vec![
                "gf-sched",
                "gf-control",
                "gf-sim",
                "gf-server",
                "gf-cli",
                "anyhow",
                "gf-slurm-test",
            ],
        ),
        // The dev-only crates are for tests: no shipped crate builds on them.
        (
            "gf-server",
            vec!["anyhow", "gf-cli", "gf-testkit", "gf-slurm-test"],
        ),
        (
            "gf-api",
            vec![
                "tokio",
                "axum",
                "anyhow",
                "gf-sched",
                "gf-control",
                "gf-store",
                "gf-sim",
                "gf-server",
                "gf-cli",
            ],
        ),
    ]
}

/// The triple of the machine the tests run on, from `rustc -vV`.
fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc).arg("-vV").output().expect("rustc runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_string()
}

/// The workspace's dependency graph as Cargo resolves it for this host.
fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Only the host's dependencies: those the build has already downloaded.
    // Without the filter Cargo resolves every target platform's, which a
    // fresh machine never fetched (and --offline then fails on them).
    let host = host_triple();
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .args(["--filter-platform", &host])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("metadata is JSON")
}

/// Every rule broken in `meta`, as "crate depends on banned".
fn violations(meta: &Value) -> Vec<String> {
    let names: BTreeMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    // Normal (non-dev, non-build) dependency edges by package name.
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().unwrap() {
        let from = names[node["id"].as_str().unwrap()];
        for dep in node["deps"].as_array().unwrap() {
            let normal = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].is_null());
            if normal {
                edges
                    .entry(from)
                    .or_default()
                    .insert(names[dep["pkg"].as_str().unwrap()]);
            }
        }
    }
    let mut violations = Vec::new();
    for (krate, banned) in rules() {
        if !edges.contains_key(krate) && !names.values().any(|n| *n == krate) {
            continue; // not built yet
        }
        let mut seen = BTreeSet::new();
        let mut stack = vec![krate];
        while let Some(c) = stack.pop() {
            for &d in edges.get(c).into_iter().flatten() {
                if seen.insert(d) {
                    stack.push(d);
                }
            }
        }
        for b in banned {
            if seen.contains(b) {
                violations.push(format!("{krate} depends on {b}"));
            }
        }
    }
    violations
}

#[test]
fn no_crate_depends_on_what_design_md_forbids() {
    let v = violations(&metadata());
    assert!(v.is_empty(), "forbidden dependencies: {v:#?}");
}

/// The guard itself can fail: the real graph with one forbidden edge added
/// (gf-model, through a dependency of its own, on tokio) is caught.
#[test]
fn a_forbidden_transitive_dependency_is_caught() {
    let mut meta = metadata();
    let model_id = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "gf-model")
        .map(|p| p["id"].clone())
        .unwrap();
    meta["packages"].as_array_mut().unwrap().extend([
        serde_json::json!({"id": "fake-mid", "name": "fake-mid"}),
        serde_json::json!({"id": "fake-tokio", "name": "tokio"}),
    ]);
    let normal = serde_json::json!([{"kind": null}]);
    let nodes = meta["resolve"]["nodes"].as_array_mut().unwrap();
    nodes.push(
        serde_json::json!({"id": "fake-mid", "deps": [{"pkg": "fake-tokio", "dep_kinds": normal}]}),
    );
    nodes.push(serde_json::json!({"id": "fake-tokio", "deps": []}));
    let model = nodes.iter_mut().find(|n| n["id"] == model_id).unwrap();
    model["deps"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"pkg": "fake-mid", "dep_kinds": normal}));
    let v = violations(&meta);
    assert!(
        v.contains(&"gf-model depends on tokio".to_string()),
        "{v:?}"
    );
}
