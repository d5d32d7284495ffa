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

#![allow(dead_code)] // each test binary uses part of it

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use gf_model::protocol::{DomainSlot, RunId, RunKind, RunPlacement, RunSpec};
use gf_model::{ExecSpec, JobSpec};
use gf_slurm::{ClusterConfig, SlurmBackend};

/// The variables slurm-up.sh wrote.
pub fn env() -> &'static BTreeMap<String, String> {
    static ENV: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let path = std::env::var("GF_SLURM_ENV").unwrap_or_else(|_| {
            panic!(
                "GF_SLURM_ENV is not set: the Slurm tests run against the real clusters that \
                 scripts/test.sh starts (scripts/slurm-up.sh); run them through scripts/test.sh, \
                 or run scripts/slurm-up.sh and export GF_SLURM_ENV=/tmp/gf-slurm/env"
            )
        });
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "cannot read {path} ({e}): the Slurm clusters are not up; scripts/test.sh starts \
                 them with scripts/slurm-up.sh"
            )
        });
        text.lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    })
}

/// One of the two clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Id {
    /// One 4-GPU node per domain.
    A,
    /// Two 4-GPU nodes per domain.
    B,
}

impl Id {
    pub fn letter(self) -> &'static str {
        match self {
            Id::A => "a",
            Id::B => "b",
        }
    }

    fn var(self, what: &str) -> String {
        let key = format!("GF_SLURM_{}_{what}", self.letter().to_uppercase());
        env()
            .get(&key)
            .unwrap_or_else(|| panic!("{key} missing from the env file of scripts/slurm-up.sh"))
            .clone()
    }

    pub fn nodes_per_domain(self) -> u32 {
        match self {
            Id::A => 1,
            Id::B => 2,
        }
    }

    pub fn domains(self) -> u32 {
        4 / self.nodes_per_domain()
    }

    pub fn domain_gpus(self) -> u32 {
        4 * self.nodes_per_domain()
    }

    /// The fleet cluster's full name.
    pub fn cluster(self) -> String {
        format!("slurm/{}/gpu", self.letter())
    }

    /// Slurm's own commands, pointed at this cluster.
    pub fn cmd(self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", self.var("CONF"));
        c
    }

    pub fn user(self) -> String {
        self.var("USER")
    }

    /// A directory the jobs' user can write.
    pub fn workdir(self) -> String {
        self.var("WORKDIR")
    }

    /// The cluster's `[[provider.region]]`, its backend as a user writes it.
    fn region(self, gpus_per_node: u32) -> String {
        format!(
            r#"
[[provider.region]]
name = "{r}"
power_mw = 1.0
zone = "zone-{r}"
[[provider.region.cluster]]
name = "gpu"
accelerator = "h100"
domain_gpus = {dg}
domains = {d}
price = {{ model = "on-demand", usd_per_gpu_hour = 2.0 }}
backend = {{ slurm = {{ url = "{url}", partition = "{p}", user = "{u}", token_file = "{tf}", nodes = "{nodes}", nodes_per_domain = {npd}, gpus_per_node = {gpus_per_node} }} }}
"#,
            r = self.letter(),
            dg = gpus_per_node * self.nodes_per_domain(),
            d = self.domains(),
            url = self.var("URL"),
            p = self.var("PARTITION"),
            u = self.var("USER"),
            tf = self.var("TOKEN_FILE"),
            nodes = self.var("NODES"),
            npd = self.nodes_per_domain(),
        )
    }
}

/// A fleet file whose clusters are the given Slurm clusters, the GPUs per
/// node as given (4 is the truth).
pub fn fleet(ids: &[Id], gpus_per_node: u32) -> String {
    let mut s = "version = 1\n[[provider]]\nname = \"slurm\"\n".to_string();
    for id in ids {
        s.push_str(&id.region(gpus_per_node));
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
        accelerators: vec!["h100".into()],
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
    RunSpec {
        run: RunId { job, attempt: 1 },
        placement: RunPlacement {
            cluster: id.cluster(),
            domains: domains
                .iter()
                .map(|&index| DomainSlot {
                    index,
                    gpus: id.domain_gpus(),
                    spare: false,
                })
                .collect(),
            gpu_milli: None,
        },
        kind: RunKind::Training {
            spec: Arc::new(spec),
            resume_gpu_h: 0.0,
            checkpoint_interval_s: 600,
        },
    }
}

pub fn command(c: &str) -> ExecSpec {
    ExecSpec {
        command: Some(c.into()),
        ..ExecSpec::default()
    }
}

/// Runs a command to success, or panics with its output.
pub fn ok(mut c: Command) -> String {
    let out = c.output().expect("Slurm's commands are installed");
    assert!(
        out.status.success(),
        "{c:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls `f` every 100 ms until it holds, for at most `s` seconds.
pub fn poll(s: u64, what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(s);
    while !f() {
        assert!(Instant::now() < end, "not within {s} s: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Slurm jobs of the test user in the given states, as `id name state`.
fn jobs_in(id: Id, states: &str) -> Vec<String> {
    let mut c = id.cmd("squeue");
    c.args(["-h", "-u", &id.user(), "-t", states, "-o", "%i %j %T"]);
    ok(c).lines().map(str::to_string).collect()
}

/// Slurm jobs of the test user not over yet (completing included).
pub fn active_jobs(id: Id) -> Vec<String> {
    jobs_in(id, "PD,R,CG,S")
}

/// Slurm jobs carrying a run's tag that are pending or running (not
/// cancelled and completing).
pub fn jobs_tagged(id: Id, run: RunId) -> usize {
    let t = gf_slurm::tag::tag(run);
    jobs_in(id, "PD,R,S")
        .iter()
        .filter(|l| l.split(' ').nth(1) == Some(t.as_str()))
        .count()
}

/// The cluster as it was started: no job of the test user, every node idle.
pub fn reset(id: Id) {
    let mut c = id.cmd("scancel");
    c.args(["-u", &id.user()]);
    ok(c);
    poll(30, "the test user's jobs to end", || {
        active_jobs(id).is_empty()
    });
    poll(30, "every node idle", || {
        let mut c = id.cmd("sinfo");
        c.args(["-h", "-N", "-o", "%N %t"]);
        let states = ok(c);
        let mut idle = true;
        for (node, state) in states.lines().filter_map(|l| l.split_once(' ')) {
            idle &= state == "idle";
            if state.starts_with("drain") || state.starts_with("down") {
                let mut c = id.cmd("scontrol");
                c.args(["update", &format!("nodename={node}"), "state=resume"]);
                let _ = c.output();
            }
        }
        idle
    });
}

/// A tokio runtime for a test's futures (reqwest needs one).
pub fn drive<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(f)
}
