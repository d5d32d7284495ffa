//! The simulated world passes the Backend conformance suite, the same suite
//! the Slurm backend runs: it is a backend like any other, not a special
//! case the controller is written around.

use std::sync::Arc;

use gf_backend::conformance::Harness;
use gf_model::JobSpec;
use gf_model::protocol::{DomainSlot, RunId, RunKind, RunPlacement, RunSpec};
use gf_sched::Topology;
use gf_sim::SimWorld;

const FLEET: &str = r#"
version = 1
[[provider]]
name = "aws"
[[provider.region]]
name = "east"
power_mw = 5.0
zone = "us-east"
[[provider.region.cluster]]
name = "hgx"
accelerator = "h100"
domains = 4
price = { model = "on-demand", usd_per_gpu_hour = 3.0 }
"#;

const T0: i64 = 1_767_225_600; // 2026-01-01

struct World {
    w: SimWorld,
}

fn world() -> World {
    let doc = gf_model::parse_document("fleet.toml", FLEET).expect("fleet parses");
    let topo = Arc::new(Topology::from_document(&doc));
    let mut w = SimWorld::quiet(topo, T0, T0 + 30 * 86_400);
    // Bring the ramp at the start online, as the twin's first step does.
    while w.next_at() == Some(T0) {
        w.step();
    }
    World { w }
}

fn run(job: u64, domain: u32, work_gpu_hours: f64) -> RunSpec {
    let spec = JobSpec {
        name: format!("j{job}"),
        team: "".into(),
        priority: 100,
        gpus: 8,
        accelerators: ["h100".to_string()].into(),
        work_gpu_hours,
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
        exec: Default::default(),
        locs: Default::default(),
    };
    RunSpec {
        run: RunId { job, attempt: 1 },
        placement: RunPlacement {
            cluster: "aws/east/hgx".into(),
            domains: vec![DomainSlot {
                index: domain,
                gpus: 8,
                spare: false,
            }],
            gpu_milli: None,
        },
        kind: RunKind::Training {
            spec: Arc::new(spec),
            resume_gpu_h: 0.0,
            checkpoint_interval_s: 600,
        },
    }
}

impl Harness for World {
    type B = SimWorld;

    fn backend(&mut self) -> &mut SimWorld {
        &mut self.w
    }

    fn now(&self) -> i64 {
        self.w.now()
    }

    fn short_run(&self, job: u64) -> RunSpec {
        run(job, 0, 8.0)
    }

    fn long_run(&self, job: u64) -> RunSpec {
        // Domains 1-3 by job, so that two long runs of one check both fit.
        run(job, 1 + (job % 3) as u32, 1e6)
    }

    fn impossible_run(&self, job: u64) -> RunSpec {
        run(job, 99, 8.0)
    }

    async fn wait(&mut self, s: i64) {
        let target = self.w.now() + s;
        while self.w.next_at().is_some_and(|t| t <= target) {
            self.w.step();
        }
        self.w.advance(target);
    }

    async fn lose(&mut self, run: RunId) {
        self.w.lose(run);
    }

    async fn foreign(&mut self, run: &RunSpec) {
        self.w.inject_foreign(run);
    }

    fn patience_s(&self) -> i64 {
        6 * 3600
    }
}

fn drive<T>(f: impl std::future::Future<Output = T>) -> T {
    gf_backend::ready(f).expect("the simulated world never waits")
}

gf_backend::backend_conformance_suite!(world(), drive);

/// The world embedded in `serve` keeps no job's truth: nothing there takes
/// one, so each would stay for the server's life. The twin's world keeps a
/// finished job's until the engine takes it.
#[test]
fn the_live_world_keeps_no_truth_the_twins_world_keeps_each_until_taken() {
    use gf_backend::Backend;
    use gf_model::protocol::Report;

    let doc = gf_model::parse_document("fleet.toml", FLEET).expect("fleet parses");
    let topo = Arc::new(Topology::from_document(&doc));
    let finished = |reports: Vec<Report>| {
        reports
            .iter()
            .any(|r| matches!(r, Report::Finished { run } if run.job == 1))
    };

    let mut live = gf_sim::LiveWorld::new(&doc, Arc::clone(&topo), 7, T0);
    drive(live.dispatch(T0 + 60, &run(1, 0, 8.0))).expect("dispatched");
    let reports = drive(live.observe(T0 + 6 * 3600)).expect("observed");
    assert!(finished(reports), "the 1-hour run finished within 6 hours");
    assert_eq!(live.world().truths_held(), 0);

    let mut twin = world();
    drive(twin.w.dispatch(T0 + 60, &run(1, 0, 8.0))).expect("dispatched");
    // The twin's engine steps its world between events; `wait` does here.
    drive(twin.wait(6 * 3600));
    let reports = drive(twin.w.observe(twin.now())).expect("observed");
    assert!(finished(reports), "the 1-hour run finished within 6 hours");
    assert_eq!(twin.w.truths_held(), 1);
    assert!(twin.w.take_truth(1).is_some_and(|t| t.useful_gpu_s > 0.0));
    assert_eq!(twin.w.truths_held(), 0);
}
