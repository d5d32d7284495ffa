//! gf-slurm-test (dev only): the two real Slurm clusters
//! `scripts/slurm-up.sh` starts, as the tests of every crate that drives
//! them see them (gf-slurm's backend tests, gf-cli's end-to-end tests of
//! `serve`): their variables (from the env
//! file `scripts/test.sh` exports as `GF_SLURM_ENV`), their fleet-file
//! backend tables, and the operator's side through Slurm's own commands
//! (list, cancel, resume, stop and start slurmctld).
//!
//! The two clusters differ in their mapping on purpose: `a` has one 4-GPU
//! node per domain (4 domains), `b` two 4-GPU nodes per domain (2 domains of
//! 8 GPUs).
//!
//! A crate of its own rather than a module of gf-testkit: gf-slurm's tests
//! use it, and gf-slurm may not depend on the scheduler gf-testkit builds
//! on, not even for tests.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

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
    /// `a` or `b`.
    pub fn letter(self) -> &'static str {
        match self {
            Id::A => "a",
            Id::B => "b",
        }
    }

    /// A variable slurm-up.sh wrote for this cluster.
    pub fn var(self, what: &str) -> String {
        let key = format!("GF_SLURM_{}_{what}", self.letter().to_uppercase());
        env()
            .get(&key)
            .unwrap_or_else(|| panic!("{key} missing from the env file of scripts/slurm-up.sh"))
            .clone()
    }

    /// Slurm nodes per NVLink domain.
    pub fn nodes_per_domain(self) -> u32 {
        match self {
            Id::A => 1,
            Id::B => 2,
        }
    }

    /// NVLink domains.
    pub fn domains(self) -> u32 {
        4 / self.nodes_per_domain()
    }

    /// GPUs per domain.
    pub fn domain_gpus(self) -> u32 {
        4 * self.nodes_per_domain()
    }

    /// Slurm's own commands, pointed at this cluster.
    pub fn cmd(self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", self.var("CONF"));
        c
    }

    /// The user jobs run as.
    pub fn user(self) -> String {
        self.var("USER")
    }

    /// A directory the jobs' user can write.
    pub fn workdir(self) -> String {
        self.var("WORKDIR")
    }

    /// The cluster's `backend = { slurm = { ... } }` as a user writes it,
    /// with the GPUs per node as given (4 is the truth) and any further
    /// `key = value` pairs of the table.
    pub fn backend_table(self, gpus_per_node: u32, extra: &str) -> String {
        let extra = if extra.is_empty() {
            String::new()
        } else {
            format!(", {extra}")
        };
        format!(
            r#"backend = {{ slurm = {{ url = "{url}", partition = "{p}", user = "{u}", token_file = "{tf}", nodes = "{nodes}", nodes_per_domain = {npd}, gpus_per_node = {gpus_per_node}{extra} }} }}"#,
            url = self.var("URL"),
            p = self.var("PARTITION"),
            u = self.var("USER"),
            tf = self.var("TOKEN_FILE"),
            nodes = self.var("NODES"),
            npd = self.nodes_per_domain(),
        )
    }

    /// The cluster's `[[provider.region]]` (region named by its letter,
    /// one cluster `gpu` of H100s at `price` per GPU-hour), its backend
    /// table as [`Id::backend_table`] writes it; it goes under a
    /// `[[provider]]`.
    pub fn region(self, gpus_per_node: u32, price: f64, extra: &str) -> String {
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
price = {{ model = "on-demand", usd_per_gpu_hour = {price} }}
{backend}
"#,
            r = self.letter(),
            dg = gpus_per_node * self.nodes_per_domain(),
            d = self.domains(),
            backend = self.backend_table(gpus_per_node, extra),
        )
    }

    /// Stops (SIGTERM: it saves its state), kills (SIGKILL) or starts
    /// slurmctld, through `scripts/slurm-ctld.sh`.
    pub fn ctld(self, what: &str) {
        script("slurm-ctld.sh", &[self.letter(), what]);
    }
}

/// Runs one of the project's Slurm scripts (`scripts/NAME`) on the test
/// clusters.
pub fn script(name: &str, args: &[&str]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts")
        .join(name);
    let env_file = std::env::var("GF_SLURM_ENV").unwrap_or_default();
    let dir = std::path::Path::new(&env_file)
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    let _ = env();
    let mut c = Command::new("bash");
    c.arg(path).args(args).env("GF_SLURM_DIR", dir);
    ok(c);
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
pub fn jobs_in(id: Id, states: &str) -> Vec<String> {
    let mut c = id.cmd("squeue");
    c.args(["-h", "-u", &id.user(), "-t", states, "-o", "%i %j %T"]);
    ok(c).lines().map(str::to_string).collect()
}

/// Slurm jobs of the test user not over yet (completing included).
pub fn active_jobs(id: Id) -> Vec<String> {
    jobs_in(id, "PD,R,CG,S")
}

/// Slurm jobs named `name` (a run's tag) that are pending or running (not
/// cancelled and completing).
pub fn jobs_named(id: Id, name: &str) -> usize {
    jobs_in(id, "PD,R,S")
        .iter()
        .filter(|l| l.split(' ').nth(1) == Some(name))
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
