//! The persisted protocol, pinned by committed JSON: one fixture per
//! [`Event`] variant (each [`Report`] variant inside `Event::Backend`), per
//! [`Action`] variant, and an [`EventLog`] of a short realistic run, all
//! under `tests/fixtures/v1/`.
//!
//! Both directions are checked. Every committed file must deserialise and
//! re-serialise to the same JSON value, so logs written by an older build
//! keep reading; and the values built here must serialise to exactly the
//! committed files, so a change of the wire format shows up as a diff to
//! review rather than passing silently. After an intended change, regenerate
//! with `UPDATE_FIXTURES=1 cargo test -p gf-control --test fixtures` and
//! commit the files. A protocol change that breaks old files belongs under a
//! new version directory with a new `PROTOCOL_VERSION`.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::*;
use gf_control::{
    Action, CapacityCause, ControlError, Controller, Event, EventLog, FailureCategory, JobState,
    LogEntry, Report, RunKind, RunSpec, StopReason, StopSpec,
};
use gf_model::protocol::{DomainSlot, PROTOCOL_VERSION, RunPlacement, ShrinkSpec};
use gf_sched::CapacityIndex;
use serde::Serialize;
use serde::de::DeserializeOwned;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1")
}

/// The variant name of an event, with the report's for backend events. The
/// matches are exhaustive on purpose: a new variant does not compile until
/// it is named here, and then the coverage check below asks for a fixture.
fn event_variant(e: &Event) -> String {
    let s = match e {
        Event::JobSubmitted { .. } => "job_submitted",
        Event::JobCancelled { .. } => "job_cancelled",
        Event::ServiceSubmitted { .. } => "service_submitted",
        Event::ServiceRemoved { .. } => "service_removed",
        Event::DemandObserved { .. } => "demand_observed",
        Event::Backend(r) => {
            return format!(
                "backend_{}",
                match r {
                    Report::Started { .. } => "started",
                    Report::Checkpointed { .. } => "checkpointed",
                    Report::Finished { .. } => "finished",
                    Report::Failed { .. } => "failed",
                    Report::Lost { .. } => "lost",
                    Report::Stopped { .. } => "stopped",
                    Report::Refused { .. } => "refused",
                    Report::CapacityChanged { .. } => "capacity_changed",
                    Report::Unknown { .. } => "unknown",
                }
            );
        }
        Event::SpendReported { .. } => "spend_reported",
        Event::ScheduleTick => "schedule_tick",
        Event::AutoscaleTick => "autoscale_tick",
    };
    s.into()
}

/// Every variant name [`event_variant`] can return.
const EVENT_VARIANTS: [&str; 17] = [
    "job_submitted",
    "job_cancelled",
    "service_submitted",
    "service_removed",
    "demand_observed",
    "backend_started",
    "backend_checkpointed",
    "backend_finished",
    "backend_failed",
    "backend_lost",
    "backend_stopped",
    "backend_refused",
    "backend_capacity_changed",
    "backend_unknown",
    "spend_reported",
    "schedule_tick",
    "autoscale_tick",
];

fn action_variant(a: &Action) -> &'static str {
    match a {
        Action::Dispatch(RunSpec {
            kind: RunKind::Training { .. },
            ..
        }) => "dispatch_training",
        // A set of one is written as the single replica of protocol 1
        // always was, so logs from before replica sets read the same.
        Action::Dispatch(RunSpec {
            kind: RunKind::Replica { replicas: 1, .. },
            ..
        }) => "dispatch_replica",
        Action::Dispatch(RunSpec {
            kind: RunKind::Replica { .. },
            ..
        }) => "dispatch_replica_set",
        Action::Stop(_) => "stop",
        Action::Shrink(_) => "shrink",
        Action::Ended { .. } => "ended",
    }
}

const ACTION_VARIANTS: [&str; 6] = [
    "dispatch_training",
    "dispatch_replica",
    "dispatch_replica_set",
    "stop",
    "shrink",
    "ended",
];

/// One event of each kind, with every optional field present in at least
/// one of them.
fn events() -> Vec<Event> {
    let svc = chat_service();
    vec![
        job("pretrain-7b").gpus(16).priority(300).submit(1),
        Event::JobCancelled { job: 1 },
        Event::ServiceSubmitted {
            service: 0,
            spec: Box::new(svc),
            headroom: 1.25,
        },
        Event::ServiceRemoved { service: 0 },
        Event::DemandObserved {
            service: 0,
            rps_by_zone: vec![("us-east".into(), 30.0), ("eu-west".into(), 12.5)],
        },
        backend(Report::Started { run: run(1, 1) }),
        backend(Report::Checkpointed {
            run: run(1, 1),
            progress: progress(12.5, T0 + 3600),
        }),
        backend(Report::Finished { run: run(1, 2) }),
        backend(Report::Failed {
            run: run(1, 1),
            category: FailureCategory::Software,
            progress: Some(progress(12.5, T0 + 3600)),
        }),
        backend(Report::Lost {
            run: run(1, 2),
            progress: None,
        }),
        backend(Report::Stopped {
            run: run(1, 2),
            progress: Some(progress(25.0, T0 + 7200)),
        }),
        backend(Report::Refused {
            run: run(1, 3),
            reason: "partition gpu is drained".into(),
        }),
        backend(Report::CapacityChanged {
            cluster: C1.into(),
            domains: vec![0, 2],
            online: false,
            cause: CapacityCause::DomainFailure,
        }),
        backend(Report::Unknown {
            run: run(9, 4),
            cluster: C2.into(),
        }),
        Event::SpendReported {
            contract: "aws-commit".into(),
            usd: 125_000.5,
        },
        Event::ScheduleTick,
        Event::AutoscaleTick,
    ]
}

fn actions() -> Vec<Action> {
    vec![
        Action::Dispatch(RunSpec {
            run: run(1, 2),
            placement: RunPlacement {
                cluster: C1.into(),
                domains: vec![
                    DomainSlot {
                        index: 1,
                        gpus: 8,
                        spare: false,
                    },
                    DomainSlot {
                        index: 2,
                        gpus: 8,
                        spare: false,
                    },
                    DomainSlot {
                        index: 3,
                        gpus: 8,
                        spare: true,
                    },
                ],
                gpu_milli: None,
            },
            kind: RunKind::Training {
                spec: std::sync::Arc::new(job("pretrain-7b").gpus(16).priority(300).build_spec()),
                resume_gpu_h: 12.5,
                checkpoint_interval_s: 3600,
            },
        }),
        Action::Dispatch(RunSpec {
            run: run((1 << 62) + 3, 1),
            placement: RunPlacement {
                cluster: C2.into(),
                domains: vec![DomainSlot {
                    index: 0,
                    gpus: 1,
                    spare: false,
                }],
                gpu_milli: Some(500),
            },
            kind: RunKind::Replica {
                service: 0,
                replicas: 1,
            },
        }),
        Action::Dispatch(RunSpec {
            run: run((1 << 62) + 4, 1),
            placement: RunPlacement {
                cluster: C1.into(),
                domains: vec![
                    DomainSlot {
                        index: 0,
                        gpus: 8,
                        spare: false,
                    },
                    DomainSlot {
                        index: 1,
                        gpus: 16,
                        spare: false,
                    },
                ],
                gpu_milli: None,
            },
            kind: RunKind::Replica {
                service: 0,
                replicas: 3,
            },
        }),
        Action::Stop(StopSpec {
            run: run(1, 2),
            reason: StopReason::Preempt,
            grace_s: 120,
        }),
        Action::Shrink(ShrinkSpec {
            run: run((1 << 62) + 4, 1),
            domains: vec![DomainSlot {
                index: 1,
                gpus: 8,
                spare: false,
            }],
        }),
        Action::Ended {
            job: 1,
            state: JobState::Failed,
            reason: "retry budget for software interruptions spent".into(),
        },
    ]
}

/// A short realistic run, recorded from a live controller: two jobs and a
/// service placed, a crash restarted in place, a domain lost under a job
/// that is placed again and resumes, both jobs finishing, the domain
/// repaired. Reports answer what the controller actually dispatched.
fn realistic_log() -> EventLog {
    let topo = topology();
    let mut c = Controller::new(
        topo.clone(),
        CapacityIndex::all_online(&topo),
        policy(),
        1,
        cfg(),
    );
    let mut log = EventLog::new(topo.epoch);
    let mut feed = |at_s: i64, event: Event| -> Vec<Action> {
        let acts = c.handle(at_s, event.clone()).unwrap();
        log.entries.push(LogEntry { at_s, event });
        acts
    };
    feed(
        T0,
        job("pretrain")
            .gpus(16)
            .work(64.0)
            .providers(&["aws", "gcp"])
            .submit(1),
    );
    feed(T0, job("finetune").gpus(8).work(16.0).submit(2));
    feed(
        T0,
        Event::ServiceSubmitted {
            service: 0,
            spec: Box::new(chat_service()),
            headroom: 1.0,
        },
    );
    feed(
        T0,
        Event::DemandObserved {
            service: 0,
            rps_by_zone: vec![("us-east".into(), 10.0), ("eu-west".into(), 5.0)],
        },
    );
    let acts = feed(T0, Event::ScheduleTick);
    let placed: Vec<RunSpec> = dispatches(&acts).into_iter().cloned().collect();
    let of = |j: u64| placed.iter().find(|s| s.run.job == j).unwrap().clone();
    let (p1, p2) = (of(1), of(2));
    assert_eq!(placed.len(), 4, "two jobs and two replicas: {acts:?}");
    feed(T0 + 40, backend(Report::Started { run: run(1, 1) }));
    feed(T0 + 45, backend(Report::Started { run: run(2, 1) }));
    feed(
        T0 + 3640,
        backend(Report::Checkpointed {
            run: run(1, 1),
            progress: progress(16.0, T0 + 3640),
        }),
    );
    let acts = feed(
        T0 + 4000,
        backend(Report::Failed {
            run: run(2, 1),
            category: FailureCategory::Software,
            progress: Some(progress(8.0, T0 + 3645)),
        }),
    );
    assert_eq!(dispatches(&acts)[0].placement, p2.placement);
    feed(T0 + 4060, backend(Report::Started { run: run(2, 2) }));
    let lost = p1.placement.domains[0].index;
    feed(
        T0 + 5000,
        backend(Report::CapacityChanged {
            cluster: p1.placement.cluster.clone(),
            domains: vec![lost],
            online: false,
            cause: CapacityCause::GpuFailure,
        }),
    );
    // The autoscale tick runs the pass the lost capacity asked for.
    let acts = feed(T0 + 5000, Event::AutoscaleTick);
    assert!(
        dispatches(&acts).iter().any(|s| s.run == run(1, 2)),
        "{acts:?}"
    );
    feed(T0 + 5100, backend(Report::Started { run: run(1, 2) }));
    feed(T0 + 8000, backend(Report::Finished { run: run(2, 2) }));
    feed(
        T0 + 8600,
        backend(Report::Checkpointed {
            run: run(1, 2),
            progress: progress(32.0, T0 + 8600),
        }),
    );
    feed(
        T0 + 9000,
        backend(Report::CapacityChanged {
            cluster: p1.placement.cluster.clone(),
            domains: vec![lost],
            online: true,
            cause: CapacityCause::Repair,
        }),
    );
    feed(T0 + 15_000, backend(Report::Finished { run: run(1, 2) }));
    feed(T0 + 15_060, Event::ScheduleTick);
    assert_eq!(c.job(1).unwrap().state, JobState::Completed);
    assert_eq!(c.job(2).unwrap().state, JobState::Completed);
    log
}

/// Every fixture the constructed values make, by file name.
fn constructed() -> Vec<(String, String)> {
    fn pretty<T: Serialize>(v: &T) -> String {
        serde_json::to_string_pretty(v).unwrap() + "\n"
    }
    let mut out = Vec::new();
    for e in events() {
        out.push((format!("event_{}.json", event_variant(&e)), pretty(&e)));
    }
    for a in actions() {
        out.push((format!("action_{}.json", action_variant(&a)), pretty(&a)));
    }
    out.push(("event_log.json".into(), pretty(&realistic_log())));
    out
}

#[test]
fn the_fixtures_cover_every_variant_once() {
    let names: Vec<String> = events().iter().map(event_variant).collect();
    let set: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(set.len(), names.len(), "a variant twice: {names:?}");
    assert_eq!(set, EVENT_VARIANTS.into_iter().collect());
    let names: Vec<&str> = actions().iter().map(action_variant).collect();
    let set: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(set.len(), names.len(), "a variant twice: {names:?}");
    assert_eq!(set, ACTION_VARIANTS.into_iter().collect());
}

#[test]
fn constructed_values_serialise_to_exactly_the_committed_fixtures() {
    let update = std::env::var_os("UPDATE_FIXTURES").is_some_and(|v| v == "1");
    if update {
        std::fs::create_dir_all(dir()).unwrap();
    }
    let mut stale = Vec::new();
    for (name, json) in constructed() {
        let path = dir().join(&name);
        if update {
            std::fs::write(&path, &json).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(committed) if committed == json => {}
            Ok(committed) => stale.push(format!(
                "{name} differs:\n--- committed\n{committed}--- built now\n{json}"
            )),
            Err(e) => stale.push(format!("{name}: {e}")),
        }
    }
    assert!(
        stale.is_empty(),
        "fixtures out of date; if the change is intended, run \
         UPDATE_FIXTURES=1 cargo test -p gf-control --test fixtures and commit them:\n{}",
        stale.join("\n")
    );
}

/// Reads `text` as `T` and writes it again: the JSON value must survive.
fn round_trip<T: Serialize + DeserializeOwned>(name: &str, text: &str) {
    let value: serde_json::Value = serde_json::from_str(text).unwrap();
    let typed: T = serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("{name} no longer reads: {e}"));
    assert_eq!(
        serde_json::to_value(&typed).unwrap(),
        value,
        "{name} does not survive a round trip"
    );
}

#[test]
fn every_committed_fixture_reads_back_to_the_same_json() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("tests/fixtures/v1 is committed")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let (mut events, mut actions, mut logs) = (0, 0, 0);
    for path in &files {
        let name = path.file_name().unwrap().to_str().unwrap();
        let text = std::fs::read_to_string(path).unwrap();
        if name == "event_log.json" {
            round_trip::<EventLog>(name, &text);
            logs += 1;
        } else if name.starts_with("event_") {
            round_trip::<Event>(name, &text);
            events += 1;
        } else if name.starts_with("action_") {
            round_trip::<Action>(name, &text);
            actions += 1;
        } else {
            panic!("{name}: a fixture of no known type");
        }
    }
    // Never pass on an empty or half-deleted directory.
    assert_eq!(
        (events, actions, logs),
        (EVENT_VARIANTS.len(), ACTION_VARIANTS.len(), 1)
    );
}

fn committed_log() -> EventLog {
    let text = std::fs::read_to_string(dir().join("event_log.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn restore(log: &EventLog) -> Result<Controller, ControlError> {
    let topo = topology();
    let index = CapacityIndex::all_online(&topo);
    Controller::restore(topo, index, policy(), 1, cfg(), log)
}

#[test]
fn the_committed_log_restores_to_the_run_it_recorded() {
    let log = committed_log();
    assert_eq!(log.version, PROTOCOL_VERSION);
    let c = restore(&log).unwrap();
    let states: Vec<_> = c
        .jobs()
        .iter()
        .map(|j| (j.id, j.state, j.attempt))
        .collect();
    assert_eq!(
        states,
        vec![(1, JobState::Completed, 2), (2, JobState::Completed, 2)]
    );
    assert_eq!(c.job(1).unwrap().spare_swaps, 0);
    assert_eq!(c.job(1).unwrap().interruptions, [1, 0, 0]);
    assert_eq!(c.job(2).unwrap().interruptions, [0, 1, 0]);
    assert_eq!(c.services()[0].replicas, 2);
    // Only the two replicas hold GPUs.
    assert_eq!(c.scheduler().allocs().count(), 2);
}

#[test]
fn a_log_of_another_protocol_version_is_refused() {
    let mut log = committed_log();
    log.version = PROTOCOL_VERSION + 1;
    assert_eq!(
        restore(&log).err(),
        Some(ControlError::Version {
            expected: PROTOCOL_VERSION,
            found: PROTOCOL_VERSION + 1,
        })
    );
}

#[test]
fn a_log_of_another_topology_epoch_is_refused() {
    let mut log = committed_log();
    let epoch = topology().epoch;
    assert_eq!(log.topology_epoch, epoch);
    log.topology_epoch = epoch ^ 1;
    assert_eq!(
        restore(&log).err(),
        Some(ControlError::TopologyChanged {
            expected: epoch,
            found: epoch ^ 1,
        })
    );
}
