//! Controller tests driven by lists of events, asserting the actions that
//! come back: the lifecycle, checkpoint accounting, retry budgets, hot-spare
//! repair, preemption, cancellation and service scaling.

use std::sync::Arc;

use gf_control::{Action, CapacityCause, ControlConfig, Controller, Event, JobState};
use gf_model::scenario::{CheckpointPolicy, RetryBudget};
use gf_model::{JobSpec, ServiceSpec};
use gf_sched::{CapacityIndex, Policy, Topology};

const FLEET: &str = r#"
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

const T0: i64 = 1_767_225_600; // 2026-01-01

fn cfg() -> ControlConfig {
    ControlConfig {
        checkpoint: CheckpointPolicy::Fixed,
        fixed_interval_s: 3600.0,
        restart_overhead_s: 600.0,
        hot_spare_min_gpus: u32::MAX,
        ..ControlConfig::default()
    }
}

fn controller(cfg: ControlConfig) -> Controller {
    let doc = gf_model::parse_document("fleet.toml", FLEET).unwrap();
    let topo = Arc::new(Topology::from_document(&doc));
    let index = CapacityIndex::all_online(&topo);
    Controller::new(topo, index, Policy::named("first-fit").unwrap(), 1, cfg)
}

/// A job fluent builder, so each test names only what it cares about.
struct Job(JobSpec);

fn job(name: &str) -> Job {
    Job(JobSpec {
        name: name.into(),
        team: "t".into(),
        priority: 100,
        gpus: 8,
        accelerators: vec!["h100".into()],
        work_gpu_hours: 80.0,
        checkpoint_interval_min: None,
        checkpoint_cost_min: 5.0,
        providers: vec!["aws".into()],
        regions: Vec::new(),
        preemptible: true,
        spot: false,
        gpu_milli: None,
        cpu_milli_per_gpu: 0,
        memory_mib_per_gpu: 0,
        locs: Default::default(),
    })
}

impl Job {
    fn gpus(mut self, g: u32) -> Self {
        self.0.gpus = g;
        self
    }
    fn priority(mut self, p: u32) -> Self {
        self.0.priority = p;
        self
    }
    fn work(mut self, h: f64) -> Self {
        self.0.work_gpu_hours = h;
        self
    }
    fn submit(self, id: u64) -> Event {
        Event::JobSubmitted {
            job: id,
            spec: Box::new(self.0),
        }
    }
}

fn dispatched(actions: &[Action]) -> Vec<(u64, u32, u32)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Dispatch {
                job, attempt, gpus, ..
            } => Some((*job, *attempt, *gpus)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_job_is_placed_runs_and_completes() {
    let mut c = controller(cfg());
    assert!(c.handle(T0, job("a").gpus(16).submit(1)).is_empty());
    let acts = c.handle(T0, Event::ScheduleTick);
    assert_eq!(dispatched(&acts), vec![(1, 1, 16)]);
    assert_eq!(c.job(1).unwrap().state, JobState::Placed);
    c.handle(T0, Event::JobStarted { job: 1, attempt: 1 });
    assert_eq!(c.job(1).unwrap().state, JobState::Running);
    let plan = c.job(1).unwrap().plan.unwrap();
    // 80 H100-hours on 16 H100s: 5 h of compute, 4 checkpoints between.
    assert_eq!(plan.compute_left_s, 5 * 3600);
    assert_eq!(plan.finish_at(), T0 + 600 + 5 * 3600 + 4 * 300);
    let acts = c.handle(plan.finish_at(), Event::JobFinished { job: 1, attempt: 1 });
    assert_eq!(
        acts,
        vec![Action::Ended {
            job: 1,
            state: JobState::Completed
        }]
    );
    let st = c.job(1).unwrap().stats;
    assert_eq!(st.useful_gpu_s, 16.0 * 5.0 * 3600.0);
    let parts = st.useful_gpu_s + st.ckpt_gpu_s + st.restart_gpu_s + st.lost_gpu_s + st.spare_gpu_s;
    assert!((st.alloc_gpu_s - parts).abs() < 1e-6);
}

#[test]
fn an_interruption_loses_the_time_since_the_last_checkpoint_plus_the_restart() {
    let mut c = controller(cfg());
    c.handle(T0, job("a").gpus(8).work(800.0).submit(1));
    c.handle(T0, Event::ScheduleTick);
    c.handle(T0, Event::JobStarted { job: 1, attempt: 1 });
    let plan = c.job(1).unwrap().plan.unwrap();
    let d = c.scheduler().alloc(0).unwrap().parts[0].0;
    // Two full cycles (1 h compute + 5 min checkpoint each) after the 10 min
    // start-up, then 1,000 s more: those 1,000 s are lost.
    let t = T0 + 600 + 2 * 3900 + 1000;
    let acts = c.handle(
        t,
        Event::CapacityChanged {
            domains: vec![d],
            online: false,
            cause: CapacityCause::GpuFailure,
        },
    );
    assert!(matches!(
        acts.as_slice(),
        [Action::Release {
            job: 1,
            attempt: 1,
            gpus: 8,
            cause: CapacityCause::GpuFailure,
            ..
        }]
    ));
    let j = c.job(1).unwrap();
    assert_eq!(j.state, JobState::Interrupted);
    assert_eq!(j.stats.last_lost_s, 1000);
    assert_eq!(j.stats.interruptions, [1, 0, 0]);
    assert_eq!(plan.stopped_at(t).last_ckpt_s, t - 1000);
    // Kept work: two intervals of 8 H100s.
    assert!((j.done_gpu_h - 16.0).abs() < 1e-9);
    let acts = c.handle(t + 60, Event::ScheduleTick);
    assert_eq!(dispatched(&acts), vec![(1, 2, 8)]);
    let j = c.job(1).unwrap();
    assert_eq!(j.state, JobState::Restarting);
    // The restart reads the checkpoint (5 min) on top of the 10 min overhead.
    assert_eq!(j.plan.unwrap().restart_s, 600 + 300);
    assert_eq!(j.plan.unwrap().compute_left_s, (800 - 16) * 3600 / 8);
}

#[test]
fn a_spent_retry_budget_fails_the_job() {
    let mut c = controller(ControlConfig {
        retry: RetryBudget {
            hardware: 10,
            software: 1,
            preemption: 10,
        },
        ..cfg()
    });
    c.handle(T0, job("a").submit(1));
    c.handle(T0, Event::ScheduleTick);
    let cat = gf_control::FailureCategory::Software;
    let acts = c.handle(
        T0 + 100,
        Event::JobFailed {
            job: 1,
            attempt: 1,
            category: cat,
        },
    );
    // A software crash restarts in place: the same GPUs, the next attempt.
    assert_eq!(dispatched(&acts), vec![(1, 2, 8)]);
    // A report about the old attempt is stale and ignored.
    assert!(
        c.handle(
            T0 + 150,
            Event::JobFailed {
                job: 1,
                attempt: 1,
                category: cat
            }
        )
        .is_empty()
    );
    let acts = c.handle(
        T0 + 200,
        Event::JobFailed {
            job: 1,
            attempt: 2,
            category: cat,
        },
    );
    assert!(acts.contains(&Action::Ended {
        job: 1,
        state: JobState::Failed
    }));
    assert_eq!(c.job(1).unwrap().state, JobState::Failed);
    assert_eq!(c.scheduler().allocs().count(), 0);
}

#[test]
fn a_hot_spare_takes_a_failed_domains_place_without_requeueing() {
    let mut c = controller(ControlConfig {
        hot_spare_min_gpus: 16,
        hot_spare_domains: 1,
        ..cfg()
    });
    c.handle(T0, job("big").gpus(16).submit(1));
    let acts = c.handle(T0, Event::ScheduleTick);
    assert_eq!(dispatched(&acts), vec![(1, 1, 24)]);
    let d = c.scheduler().alloc(0).unwrap().parts[0].0;
    let acts = c.handle(
        T0 + 5000,
        Event::CapacityChanged {
            domains: vec![d],
            online: false,
            cause: CapacityCause::DomainFailure,
        },
    );
    assert!(matches!(
        acts[0],
        Action::Shrink {
            job: 1,
            gpus: 8,
            ..
        }
    ));
    assert_eq!(dispatched(&acts), vec![(1, 2, 16)]);
    let j = c.job(1).unwrap();
    assert_eq!(j.state, JobState::Restarting);
    assert_eq!(j.stats.spare_swaps, 1);
    assert_eq!(c.pending(), 0);
    // A second failure finds no spare left: the gang is requeued whole.
    let d2 = c.scheduler().alloc(0).unwrap().parts[0].0;
    let acts = c.handle(
        T0 + 6000,
        Event::CapacityChanged {
            domains: vec![d2],
            online: false,
            cause: CapacityCause::DomainFailure,
        },
    );
    assert!(matches!(
        acts[0],
        Action::Release {
            job: 1,
            attempt: 2,
            gpus: 16,
            ..
        }
    ));
    assert_eq!(c.pending(), 1);
}

#[test]
fn higher_priority_work_preempts_and_the_victim_is_requeued() {
    let mut c = controller(cfg());
    c.handle(T0, job("low").gpus(32).priority(10).submit(1));
    c.handle(T0, Event::ScheduleTick);
    c.handle(T0, job("high").gpus(16).priority(500).submit(2));
    let acts = c.handle(T0 + 10, Event::ScheduleTick);
    assert!(matches!(
        acts[0],
        Action::Preempt {
            job: 1,
            attempt: 1,
            gpus: 32,
            ..
        }
    ));
    assert_eq!(dispatched(&acts), vec![(2, 1, 16)]);
    assert_eq!(c.job(1).unwrap().state, JobState::Interrupted);
    assert_eq!(c.job(1).unwrap().stats.interruptions, [0, 0, 1]);
    assert_eq!(c.preemptions(), 1);
}

#[test]
fn cancelling_a_running_job_frees_its_gpus() {
    let mut c = controller(cfg());
    c.handle(T0, job("a").submit(1));
    c.handle(T0, Event::ScheduleTick);
    let acts = c.handle(T0 + 100, Event::JobCancelled { job: 1 });
    assert!(matches!(
        acts[0],
        Action::Cancel {
            job: 1,
            attempt: 1,
            gpus: 8,
            ..
        }
    ));
    assert_eq!(
        acts[1],
        Action::Ended {
            job: 1,
            state: JobState::Cancelled
        }
    );
    assert_eq!(c.scheduler().allocs().count(), 0);
    // Duplicate deliveries change nothing: a job never runs twice.
    assert!(c.handle(T0 + 200, job("a").submit(1)).is_empty());
    assert!(c.handle(T0 + 200, Event::ScheduleTick).is_empty());
}

#[test]
fn a_service_scales_with_its_demand_across_providers() {
    let mut c = controller(cfg());
    let spec = ServiceSpec {
        name: "chat".into(),
        team: "t".into(),
        model: "m".into(),
        priority: 800,
        gpus_per_replica: 8,
        throughput: [("h100".to_string(), 10.0)].into_iter().collect(),
        demand: vec![],
        latency_slo_ms: 100.0,
        regions: Vec::new(),
        min_providers: 2,
        max_share_per_provider: 0.75,
        min_replicas: 1,
        max_replicas: 100,
        gpu_milli: None,
        cpu_milli_per_gpu: 0,
        memory_mib_per_gpu: 0,
        locs: Default::default(),
    };
    c.handle(
        T0,
        Event::ServiceSubmitted {
            service: 0,
            spec: Box::new(spec),
            headroom: 1.0,
        },
    );
    c.handle(
        T0,
        Event::DemandObserved {
            service: 0,
            rps_by_zone: vec![(0, 30.0), (1, 10.0)],
        },
    );
    let acts = c.handle(T0, Event::AutoscaleTick);
    let Action::Scale {
        started, replicas, ..
    } = &acts[0]
    else {
        panic!("expected a scale action, got {acts:?}");
    };
    assert_eq!(*replicas, 4);
    assert_eq!(started.len(), 4);
    let slo = c.slo(0);
    assert_eq!(slo.demand_rps, 40.0);
    assert_eq!(slo.served_rps, 40.0, "each zone served from itself");
    c.handle(
        T0 + 3600,
        Event::DemandObserved {
            service: 0,
            rps_by_zone: vec![(0, 5.0), (1, 5.0)],
        },
    );
    let acts = c.handle(T0 + 3600, Event::AutoscaleTick);
    let Action::Scale {
        stopped, replicas, ..
    } = &acts[0]
    else {
        panic!("expected a scale action, got {acts:?}");
    };
    assert_eq!((*replicas, stopped.len()), (1, 3));
}

#[test]
fn a_pass_reaches_small_work_behind_many_blocked_gangs() {
    // 24 of 32 GPUs busy; 30 gangs of 16 wait ahead of one job of 8. After
    // the first 16 misses, the other 29 are known not to fit and are skipped
    // without counting against the pass's miss budget (24), so the 8 runs.
    let mut c = controller(cfg());
    c.handle(T0, job("busy").gpus(24).work(1e6).submit(1));
    let acts = c.handle(T0, Event::ScheduleTick);
    assert_eq!(dispatched(&acts), vec![(1, 1, 24)]);
    c.handle(T0, Event::JobStarted { job: 1, attempt: 1 });
    for i in 0..30 {
        c.handle(
            T0,
            job(&format!("big{i}")).gpus(16).priority(90).submit(10 + i),
        );
    }
    c.handle(T0, job("small").gpus(8).priority(80).submit(99));
    let acts = c.handle(T0 + 60, Event::ScheduleTick);
    assert_eq!(dispatched(&acts), vec![(99, 1, 8)]);
}
