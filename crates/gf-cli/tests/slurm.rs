//! `gigafleet serve` driving two real Slurm clusters (started by
//! `scripts/slurm-up.sh`, standing for two providers' regions), end to end
//! through the CLI:
//! - each job lands on the cheaper cluster that can take it, a real batch
//!   script runs there and its output file appears, and cancel works;
//! - stopping one cluster's slurmctld makes its running job re-placed on
//!   the other once the cluster counts as down, and starting it again runs
//!   nothing twice (the old run is killed, the new one kept) and puts no
//!   work back on it before its hold-off has passed;
//! - a server that dies right after submitting a run to Slurm, before it
//!   wrote anything more, adopts the run when it restarts instead of
//!   submitting it again, and so does one SIGKILLed while the run runs.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use common::{Api, Server, rt};
use gf_slurm_test::{Id, active_jobs, poll, reset};
use serde_json::Value;

/// The tests of this file use both clusters: one at a time.
static CLUSTERS: Mutex<()> = Mutex::new(());

/// The fleet: cluster `a` (4 domains of 4 GPUs) at $2/GPU-hour from one
/// provider, `b` (2 domains of 8) at $3 from another; each counts as down
/// after 5 s without an answer.
fn fleet(dir: &Path) -> std::path::PathBuf {
    let region = |provider: &str, id: Id, price: f64| {
        format!(
            "\n[[provider]]\nname = \"{provider}\"\n{}",
            id.region(4, price, "down_after_s = 5")
        )
    };
    let src = format!(
        "version = 1\n\n[[team]]\nname = \"research\"\n{}{}",
        region("aws", Id::A, 2.0),
        region("gcp", Id::B, 3.0)
    );
    let p = dir.join("fleet.toml");
    std::fs::write(&p, src).unwrap();
    p
}

/// A job file: `gpus` GPUs running `command` in the clusters' work
/// directory.
fn job_file(dir: &Path, name: &str, gpus: u32, command: &str) -> String {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(
        &p,
        format!(
            r#"version = 1
[[job]]
name = "{name}"
team = "research"
gpus = {gpus}
accelerators = ["h100"]
work_gpu_hours = 1.0
[job.exec]
command = "{command}"
workdir = "{workdir}"
"#,
            workdir = Id::A.workdir(),
        ),
    )
    .unwrap();
    p.to_str().unwrap().to_string()
}

fn cli(srv: &Server, token: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_gigafleet"))
        .args(args)
        .args(["--server", &srv.url, "--token", token])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gigafleet {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Submits a job file with the CLI; the job's id.
fn submit(srv: &Server, token: &str, file: &str) -> u64 {
    let out = cli(srv, token, &["submit", file, "--json"]);
    let v: Vec<Value> = serde_json::from_str(&out).unwrap();
    v[0]["id"].as_u64().unwrap()
}

/// Active Slurm jobs (pending, running, completing) that are run `attempt`
/// of gigafleet job `job`, on a cluster.
fn runs_of(id: Id, job: u64, attempt: u32) -> usize {
    let suffix = format!("-{job}.{attempt}");
    active_jobs(id)
        .iter()
        .filter(|l| {
            l.split(' ')
                .nth(1)
                .is_some_and(|n| n.starts_with("gf-") && n.ends_with(&suffix))
        })
        .count()
}

/// Active Slurm jobs of any run of gigafleet job `job`, on both clusters.
fn all_runs_of(job: u64) -> usize {
    (1..=8)
        .map(|a| runs_of(Id::A, job, a) + runs_of(Id::B, job, a))
        .sum()
}

fn on(v: &Value, cluster: &str) -> bool {
    v["cluster"].as_str() == Some(cluster)
}

#[test]
fn serve_places_runs_cancels_and_fails_over_between_two_slurm_clusters() {
    let _held = CLUSTERS.lock().unwrap_or_else(|p| p.into_inner());
    reset(Id::A);
    reset(Id::B);
    let tmp = tempfile::tempdir().unwrap();
    let fleet = fleet(tmp.path());
    let srv = Server::start(&fleet, &tmp.path().join("data"), &[]);
    let admin = srv.admin.clone().expect("an admin token at first start");
    let api = Api::new(&srv.url, Some(&admin));
    let rt = rt();

    // A real script on the cheaper cluster: its output file appears, with
    // the run's tag gigafleet gave it.
    let out = format!("{}/e2e-{}.out", Id::A.workdir(), std::process::id());
    let _ = std::fs::remove_file(&out);
    let hello = submit(
        &srv,
        &admin,
        &job_file(
            tmp.path(),
            "hello",
            4,
            &format!("echo hello from $GF_RUN > {out}"),
        ),
    );
    let v = rt.block_on(api.wait_job(hello, 60, |v| v["state"] == "completed"));
    assert_eq!(v["attempt"], 1, "{v}");
    let text = std::fs::read_to_string(&out).expect("the script wrote its output file");
    assert!(
        text.starts_with("hello from gf-") && text.trim_end().ends_with(&format!("-{hello}.1")),
        "{text}"
    );

    // A gang filling the cheaper cluster, then one that only the dearer
    // one can take now.
    let long = submit(&srv, &admin, &job_file(tmp.path(), "long", 16, "sleep 600"));
    let v = rt.block_on(api.wait_job(long, 60, |v| v["state"] == "running"));
    assert!(on(&v, "aws/a/gpu"), "the cheaper cluster: {v}");
    assert_eq!(runs_of(Id::A, long, 1), 1);
    let other = submit(&srv, &admin, &job_file(tmp.path(), "other", 4, "sleep 600"));
    let v = rt.block_on(api.wait_job(other, 60, |v| v["state"] == "running"));
    assert!(on(&v, "gcp/b/gpu"), "a is full, b can take it: {v}");
    assert_eq!(runs_of(Id::B, other, 1), 1);

    // Cancel: the Slurm job goes.
    cli(&srv, &admin, &["cancel", &other.to_string()]);
    rt.block_on(api.wait_job(other, 60, |v| v["state"] == "cancelled"));
    poll(30, "the cancelled job to leave Slurm", || {
        all_runs_of(other) == 0
    });

    // a's slurmctld stops: once a has not answered for 5 s it counts as
    // down, and the long gang is placed again, on b, as attempt 2.
    Id::A.ctld("stop");
    let v = rt.block_on(api.wait_job(long, 90, |v| {
        v["attempt"] == 2 && v["state"] == "running" && on(v, "gcp/b/gpu")
    }));
    assert_eq!(runs_of(Id::B, long, 2), 1, "{v}");

    // a comes back: its old run is killed, the new one kept; nothing runs
    // twice and nothing is placed a third time.
    Id::A.ctld("start");
    poll(60, "the first run to be stopped on a", || {
        runs_of(Id::A, long, 1) == 0
    });
    for _ in 0..20 {
        assert_eq!(all_runs_of(long), 1, "exactly one run of the long gang");
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    // a answers and its nodes are idle, but it is held out of placement
    // for a while after its outage: a small job that would fit there waits
    // rather than go back to it.
    let probe = submit(&srv, &admin, &job_file(tmp.path(), "probe", 4, "true"));
    std::thread::sleep(std::time::Duration::from_secs(3));
    let (_, v) = rt.block_on(api.get(&format!("/v1/jobs/{probe}")));
    assert_eq!(
        (v["state"].as_str(), v["attempt"].as_u64()),
        (Some("pending"), Some(0)),
        "{v}"
    );
    cli(&srv, &admin, &["cancel", &probe.to_string()]);
    let (_, v) = rt.block_on(api.get(&format!("/v1/jobs/{long}")));
    assert_eq!(v["attempt"], 2, "{v}");
    assert!(on(&v, "gcp/b/gpu") && v["state"] == "running", "{v}");
    let (_, v) = rt.block_on(api.get(&format!("/v1/jobs/{hello}")));
    assert_eq!(
        (v["state"].as_str(), v["attempt"].as_u64()),
        (Some("completed"), Some(1))
    );

    cli(&srv, &admin, &["cancel", &long.to_string()]);
    rt.block_on(api.wait_job(long, 60, |v| v["state"] == "cancelled"));
    poll(30, "every job to leave Slurm", || {
        active_jobs(Id::A).is_empty() && active_jobs(Id::B).is_empty()
    });
}

#[test]
fn a_server_that_dies_right_after_submitting_adopts_the_run_and_never_submits_it_again() {
    let _held = CLUSTERS.lock().unwrap_or_else(|p| p.into_inner());
    reset(Id::A);
    reset(Id::B);
    let tmp = tempfile::tempdir().unwrap();
    let fleet = fleet(tmp.path());
    let data = tmp.path().join("data");
    let data_s = data.to_str().unwrap();

    // The server aborts at the first run it submits to Slurm, before it
    // writes anything more.
    let mut srv = Server::start_env(
        &fleet,
        &["--data-dir", data_s],
        &[],
        &[("GF_FAILPOINT", "after-real-dispatch")],
    );
    let admin = srv.admin.clone().expect("an admin token at first start");
    let job = submit(
        &srv,
        &admin,
        &job_file(tmp.path(), "adopt-me", 4, "sleep 15"),
    );
    assert!(srv.exited(60), "the failpoint stops the server");
    poll(30, "the submitted run to be in Slurm", || {
        runs_of(Id::A, job, 1) == 1
    });

    // Restarted: the run is adopted (attempt 1, the same Slurm job).
    let mut srv = Server::start(&fleet, &data, &[]);
    let api = Api::new(&srv.url, Some(&admin));
    let rt = rt();
    let v = rt.block_on(api.wait_job(job, 60, |v| {
        v["state"] == "running" || v["state"] == "completed"
    }));
    assert_eq!(v["attempt"], 1, "adopted, not placed again: {v}");
    assert_eq!(all_runs_of(job), 1);

    // SIGKILLed while it runs and restarted: still that one run, which
    // finishes as attempt 1.
    srv.kill();
    let srv = Server::start(&fleet, &data, &[]);
    let api = Api::new(&srv.url, Some(&admin));
    let v = rt.block_on(api.wait_job(job, 60, |v| v["terminal"] == true));
    assert_eq!(
        (v["state"].as_str(), v["attempt"].as_u64()),
        (Some("completed"), Some(1)),
        "{v}"
    );
    assert_eq!(all_runs_of(job), 0);
    for a in 2..=3 {
        assert_eq!(runs_of(Id::A, job, a) + runs_of(Id::B, job, a), 0);
    }
}
