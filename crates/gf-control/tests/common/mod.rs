//! What the controller's integration tests share: a small two-provider
//! fleet, a configuration whose arithmetic is easy to follow, a job builder
//! that names only what a test cares about, and short names for reports.

// Each test crate uses a different part of this module.
#![allow(dead_code)]

use std::sync::Arc;

use gf_control::{Action, ControlConfig, Controller, Event, Progress, Report, RunId, RunSpec};
use gf_model::scenario::CheckpointPolicy;
use gf_model::{JobSpec, ServiceSpec};
use gf_sched::{CapacityIndex, Policy, Topology};

/// Two providers in two zones, one cluster of four 8-GPU H100 domains each.
pub const FLEET: &str = r#"
version = 1
[[team]]
name = "t"
[[provider]]
name = "aws"
[[provider.region]]
name = "r1"
power_mw = 100.0
zone = "us-east"
[[provider.region.cluster]]
name = "c1"
accelerator = "h100"
domains = 4
price = { model = "on-demand", usd_per_gpu_hour = 2.0 }
[[provider]]
name = "gcp"
[[provider.region]]
name = "r2"
power_mw = 100.0
zone = "eu-west"
[[provider.region.cluster]]
name = "c2"
accelerator = "h100"
domains = 4
price = { model = "on-demand", usd_per_gpu_hour = 2.0 }
"#;

/// The full names of the two clusters.
pub const C1: &str = "aws/r1/c1";
/// The second provider's cluster.
pub const C2: &str = "gcp/r2/c2";

/// 2026-01-01, seconds since the epoch.
pub const T0: i64 = 1_767_225_600;

/// Fixed hourly checkpoints and no hot spares, so only the tests about
/// spares see them.
pub fn cfg() -> ControlConfig {
    ControlConfig {
        checkpoint: CheckpointPolicy::Fixed,
        fixed_interval_s: 3600.0,
        hot_spare_min_gpus: u32::MAX,
        ..ControlConfig::default()
    }
}

/// The fleet compiled.
pub fn topology() -> Arc<Topology> {
    let doc = gf_model::parse_document("fleet.toml", FLEET).unwrap();
    Arc::new(Topology::from_document(&doc))
}

/// The policy every test uses.
pub fn policy() -> Policy {
    Policy::named("first-fit").unwrap()
}

/// A controller over the fleet, every domain online.
pub fn controller(cfg: ControlConfig) -> Controller {
    let topo = topology();
    let index = CapacityIndex::all_online(&topo);
    Controller::new(topo, index, policy(), 1, cfg)
}

/// A job under construction.
pub struct Job(pub JobSpec);

/// An 8-GPU H100 job of 80 GPU-hours on aws at priority 100.
pub fn job(name: &str) -> Job {
    Job(JobSpec {
        name: name.into(),
        team: "t".into(),
        priority: 100,
        gpus: 8,
        accelerators: ["h100".to_string()].into(),
        work_gpu_hours: 80.0,
        checkpoint_interval_min: None,
        checkpoint_cost_min: 5.0,
        checkpoint_persist_min: None,
        checkpoint_in_memory: None,
        replica_group_gpus: None,
        partial_restart: None,
        providers: vec!["aws".into()],
        regions: Vec::new(),
        preemptible: true,
        spot: false,
        gpu_milli: None,
        cpu_milli_per_gpu: 0,
        memory_mib_per_gpu: 0,
        exec: Default::default(),
        locs: Default::default(),
    })
}

impl Job {
    /// Gang size.
    pub fn gpus(mut self, g: u32) -> Self {
        self.0.gpus = g;
        self
    }
    /// Priority.
    pub fn priority(mut self, p: u32) -> Self {
        self.0.priority = p;
        self
    }
    /// Work, reference GPU-hours.
    pub fn work(mut self, h: f64) -> Self {
        self.0.work_gpu_hours = h;
        self
    }
    /// Allowed providers.
    pub fn providers(mut self, p: &[&str]) -> Self {
        self.0.providers = p.iter().map(|s| (*s).to_string()).collect();
        self
    }
    /// The submission event.
    pub fn submit(self, id: u64) -> Event {
        Event::JobSubmitted {
            job: id,
            spec: std::sync::Arc::new(self.0),
        }
    }
}

/// A chat service of 8-GPU replicas serving 10 rps each, on at least two
/// providers with at most three quarters of the replicas on one.
pub fn chat_service() -> ServiceSpec {
    ServiceSpec {
        name: "chat".into(),
        team: "t".into(),
        model: "m".into(),
        priority: 800,
        gpus_per_replica: 8,
        throughput: [("h100".to_string(), 10.0)].into_iter().collect(),
        demand: vec![],
        latency_slo_ms: 100.0,
        service_ms: None,
        regions: Vec::new(),
        min_providers: 2,
        max_share_per_provider: 0.75,
        min_replicas: 1,
        max_replicas: 100,
        gpu_milli: None,
        cpu_milli_per_gpu: 0,
        memory_mib_per_gpu: 0,
        locs: Default::default(),
    }
}

/// Run `attempt` of `job`.
pub fn run(job: u64, attempt: u32) -> RunId {
    RunId { job, attempt }
}

/// Progress kept at `done_gpu_h`, checkpointed at `at_s`.
pub fn progress(done_gpu_h: f64, at_s: i64) -> Progress {
    Progress { done_gpu_h, at_s }
}

/// A backend report as an event.
pub fn backend(r: Report) -> Event {
    Event::Backend(r)
}

/// The runs dispatched among `actions`, in order.
pub fn dispatches(actions: &[Action]) -> Vec<&RunSpec> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Dispatch(s) => Some(s),
            _ => None,
        })
        .collect()
}

impl Job {
    /// The spec as built.
    pub fn build_spec(self) -> JobSpec {
        self.0
    }
}
