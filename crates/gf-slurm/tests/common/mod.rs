//! What the Slurm tests share: the two real clusters `scripts/slurm-up.sh`
//! started (found through the env file `scripts/test.sh` exports as
//! `GF_SLURM_ENV`), a fleet file naming them, one lock per cluster so that
//! tests which break a cluster do not run beside tests that use it, and the
//! operator's side (cancel everything, drain a node) through Slurm's own
//! commands.
//!
//! The two clusters differ in their mapping on purpose: `a` has one 4-GPU
//! node per domain (4 domains), `b` two 4-GPU nodes per domain (2 domains of
//! 8 GPUs).

#![allow(dead_code, unused_imports)] // each test binary uses part of it

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::SystemTime;

use gf_model::protocol::{DomainSlot, RunId, RunKind, RunPlacement, RunSpec};
use gf_model::{ExecSpec, JobSpec};
use gf_slurm::{ClusterConfig, SlurmBackend};

pub use gf_slurm_test::{Id, active_jobs, ok, poll, reset};

/// The fleet cluster's full name of a test cluster.
pub fn cluster(id: Id) -> String {
    format!("slurm/{}/gpu", id.letter())
}

/// Slurm jobs carrying a run's tag that are pending or running.
pub fn jobs_tagged(id: Id, run: RunId) -> usize {
    gf_slurm_test::jobs_named(id, &gf_slurm::tag::tag(run))
}

/// A fleet file whose clusters are the given Slurm clusters, the GPUs per
/// node as given (4 is the truth).
pub fn fleet(ids: &[Id], gpus_per_node: u32) -> String {
    let mut s = "version = 1\n[[provider]]\nname = \"slurm\"\n".to_string();
    for id in ids {
        s.push_str(&id.region(gpus_per_node, 2.0, ""));
    }
    s
}

/// A backend over the given clusters, built from a fleet file as the
/// server builds it.
pub fn backend_with(ids: &[Id], gpus_per_node: u32) -> SlurmBackend {
    let src = fleet(ids, gpus_per_node);
    let doc = gf_model::parse_document("fleet.toml", &src)
        .unwrap_or_else(|e| panic!("the test fleet does not parse: {e:?}\n{src}"));
    let mut clusters = ClusterConfig::from_document(&doc).expect("clusters resolve");
    for c in &mut clusters {
        c.default_workdir = ids[0].workdir();
    }
    SlurmBackend::new(clusters).expect("backend builds")
}

pub fn backend(id: Id) -> SlurmBackend {
    backend_with(&[id], 4)
}

/// A backend over one cluster whose token comes from `source`.
pub fn backend_with_token(id: Id, source: gf_slurm::TokenSource) -> SlurmBackend {
    let doc = gf_model::parse_document("fleet.toml", &fleet(&[id], 4)).expect("fleet parses");
    let mut clusters = ClusterConfig::from_document(&doc).expect("clusters resolve");
    clusters[0].token = source;
    SlurmBackend::new(clusters).expect("backend builds")
}

/// A fresh JWT for the test user from `scontrol token`, valid `lifespan_s`.
pub fn token(id: Id, lifespan_s: u32) -> String {
    let mut c = id.cmd("scontrol");
    c.args([
        "token",
        &format!("username={}", id.user()),
        &format!("lifespan={lifespan_s}"),
    ]);
    ok(c).trim().to_string()
}

/// Holds a cluster for one test: checks that break or reset it do not run
/// beside checks that use it. A test that failed holding it does not stop
/// the others.
pub fn lock(id: Id) -> MutexGuard<'static, ()> {
    static LOCKS: [Mutex<()>; 2] = [Mutex::new(()), Mutex::new(())];
    let m = &LOCKS[id as usize];
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Job ids of this test process: the clusters may still hold finished jobs
/// of an earlier run of the tests (for `MinJobAge`), whose tags must not be
/// taken for this run's.
pub fn job(n: u64) -> u64 {
    static BASE: OnceLock<u64> = OnceLock::new();
    *BASE.get_or_init(|| now() as u64 * 1000) + n
}

/// A run of `command` on whole domains of a cluster.
pub fn run_on(id: Id, job: u64, domains: &[u32], exec: ExecSpec) -> RunSpec {
    let gpus = domains.len() as u32 * id.domain_gpus();
    let spec = JobSpec {
        name: format!("test-{job}"),
        team: "t".into(),
        priority: 0,
        gpus,
        accelerators: ["h100".to_string()].into(),
        work_gpu_hours: 1.0,
        checkpoint_interval_min: None,
        checkpoint_cost_min: 1.0,
        checkpoint_persist_min: None,
        checkpoint_in_memory: None,
        replica_group_gpus: None,
        partial_restart: None,
        providers: Vec::new(),
        regions: Vec::new(),
        preemptible: true,
        spot: false,
        gpu_milli: None,
        cpu_milli_per_gpu: 0,
        memory_mib_per_gpu: 0,
        exec,
        locs: Default::default(),
    };
    gf_testkit::training_run(
        RunId { job, attempt: 1 },
        &cluster(id),
        domains,
        id.domain_gpus(),
        spec,
    )
}

pub fn command(c: &str) -> ExecSpec {
    ExecSpec {
        command: Some(c.into()),
        ..ExecSpec::default()
    }
}

/// A tokio runtime for a test's futures (reqwest needs one).
pub fn drive<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(f)
}
