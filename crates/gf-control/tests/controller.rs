//! Controller tests driven by lists of events, asserting the actions that
//! come back with the backend's reports as the truth: the lifecycle from
//! dispatch to the reported finish, resuming from the last reported
//! checkpoint, retry budgets, hot-spare repair, preemption and cancellation
//! that wait for the stop to be confirmed (or its grace to pass), refused and
//! timed-out dispatches, stale and unknown reports, errors that change
//! nothing, and service scaling.

mod common;

use common::*;
use gf_control::{
    Action, CapacityCause, ControlConfig, ControlError, Controller, Event, FailureCategory,
    JobState, Report, RunKind, RunPlacement, RunSpec, StopReason, StopSpec,
};
use gf_model::protocol::{DomainSlot, ShrinkSpec};
use gf_model::scenario::RetryBudget;
use gf_sched::{CapacityIndex, Policy, Topology};
use std::sync::Arc;

/// Handles an event that must be accepted.
fn h(c: &mut Controller, now: i64, ev: Event) -> Vec<Action> {
    c.handle(now, ev).unwrap()
}

/// Domains `(index, gpus, spare)` of a cluster, as a placement.
fn placement(cluster: &str, domains: &[(u32, u32, bool)]) -> RunPlacement {
    RunPlacement {
        cluster: cluster.into(),
        domains: domains
            .iter()
            .map(|&(index, gpus, spare)| DomainSlot { index, gpus, spare })
            .collect(),
        gpu_milli: None,
    }
}

/// The progress a training dispatch resumes from.
fn resume(s: &RunSpec) -> f64 {
    match &s.kind {
        RunKind::Training { resume_gpu_h, .. } => *resume_gpu_h,
        RunKind::Replica { .. } => panic!("a replica, not a training run: {s:?}"),
    }
}

fn stop(job: u64, attempt: u32, reason: StopReason, grace_s: i64) -> Action {
    Action::Stop(StopSpec {
        run: run(job, attempt),
        reason,
        grace_s,
    })
}

fn offline(cluster: &str, domains: &[u32], cause: CapacityCause) -> Event {
    backend(Report::CapacityChanged {
        cluster: cluster.into(),
        domains: domains.to_vec(),
        online: false,
        cause,
    })
}

/// Submits, places and starts job `id` at `T0`; returns its first dispatch.
fn started(c: &mut Controller, id: u64, j: Job) -> RunSpec {
    assert!(h(c, T0, j.submit(id)).is_empty());
    let acts = h(c, T0, Event::ScheduleTick);
    let d = dispatches(&acts);
    assert_eq!(d.len(), 1, "{acts:?}");
    let spec = d[0].clone();
    assert!(h(c, T0 + 30, backend(Report::Started { run: spec.run })).is_empty());
    assert_eq!(c.job(id).unwrap().state, JobState::Running);
    spec
}

#[test]
fn an_ended_job_releases_its_spec_only_when_asked_and_keeps_its_size_and_work() {
    for keep in [true, false] {
        let mut c = controller(ControlConfig {
            keep_ended_specs: keep,
            ..cfg()
        });
        for id in 1..=3 {
            started(&mut c, id, job(&format!("j{id}")).gpus(8).work(40.0));
        }
        for id in 1..=2 {
            h(
                &mut c,
                T0 + 3600,
                backend(Report::Finished { run: run(id, 1) }),
            );
        }
        let (a, b, live) = (c.job(1).unwrap(), c.job(2).unwrap(), c.job(3).unwrap());
        for j in [a, b] {
            assert_eq!(j.state, JobState::Completed);
            assert_eq!((j.gpus, j.work_gpu_hours), (8, 40.0));
        }
        // A job still running keeps its whole spec either way.
        assert_eq!((live.spec.name.as_str(), live.spec.gpus), ("j3", 8));
        if keep {
            assert_eq!((a.spec.name.as_str(), a.spec.gpus), ("j1", 8));
            assert_eq!(b.spec.work_gpu_hours, 40.0);
        } else {
            // Released: one empty spec shared by every ended job.
            assert!(Arc::ptr_eq(&a.spec, &b.spec));
            assert_eq!((a.spec.name.as_str(), a.spec.gpus), ("", 0));
        }
    }
}

#[test]
fn an_ended_record_is_handed_out_only_when_asked_and_once_nothing_waits_on_it() {
    for keep in [true, false] {
        let mut c = controller(ControlConfig {
            keep_ended_specs: keep,
            keep_ended_jobs: keep,
            ..cfg()
        });
        for id in 1..=3 {
            started(&mut c, id, job(&format!("j{id}")).gpus(8).work(40.0));
        }
        for id in [2, 1] {
            let ev = backend(Report::Finished { run: run(id, 1) });
            assert!(matches!(
                &h(&mut c, T0 + 3600, ev)[..],
                [Action::Ended { .. }]
            ));
        }
        // A cancelled run keeps its record while its stop is awaited.
        let acts = h(&mut c, T0 + 3700, Event::JobCancelled { job: 3 });
        assert_eq!(acts, vec![stop(3, 1, StopReason::Cancel, 60)]);
        assert_eq!(c.job(3).unwrap().state, JobState::Stopping);
        let stopped = Report::Stopped {
            run: run(3, 1),
            progress: None,
        };
        let acts = h(&mut c, T0 + 3710, backend(stopped));
        assert!(matches!(&acts[..], [Action::Ended { .. }]), "{acts:?}");
        assert_eq!(c.jobs().len(), 3);
        let ended: Vec<_> = c.take_ended().collect();
        if keep {
            assert!(ended.is_empty());
            assert_eq!(c.jobs().held(), 3);
            assert_eq!(c.job(1).unwrap().state, JobState::Completed);
            continue;
        }
        // Handed out in the order the jobs ended, with what the summary reads.
        let got: Vec<_> = ended.iter().map(|j| (j.id, j.state, j.gpus)).collect();
        assert_eq!(
            got,
            vec![
                (2, JobState::Completed, 8),
                (1, JobState::Completed, 8),
                (3, JobState::Cancelled, 8)
            ]
        );
        assert!(
            ended
                .iter()
                .all(|j| !j.has_live_part() && j.end_s.is_some())
        );
        assert!(c.take_ended().next().is_none());
        assert_eq!((c.jobs().held(), c.jobs().iter().count()), (0, 0));
        assert!(c.job(1).is_none());
        // Its id stays known: a resubmission is a duplicate, a cancel and a
        // late report change nothing, and nothing new is handed out.
        assert!(h(&mut c, T0 + 4000, job("again").gpus(8).submit(1)).is_empty());
        assert!(h(&mut c, T0 + 4000, Event::JobCancelled { job: 2 }).is_empty());
        let late = backend(Report::Finished { run: run(1, 1) });
        assert!(h(&mut c, T0 + 4000, late).is_empty());
        assert!(h(&mut c, T0 + 4000, Event::ScheduleTick).is_empty());
        assert_eq!((c.jobs().len(), c.jobs().held()), (3, 0));
        assert!(c.take_ended().next().is_none());
        // Its GPUs went back: a new job takes them.
        started(&mut c, 4, job("j4").gpus(24));
        assert_eq!(c.jobs().held(), 1);
    }
}

#[test]
fn a_job_is_placed_runs_checkpoints_and_completes_when_reported_finished() {
    let mut c = controller(cfg());
    let spec = job("a").gpus(16).build_spec();
    assert!(h(&mut c, T0, job("a").gpus(16).submit(1)).is_empty());
    let acts = h(&mut c, T0, Event::ScheduleTick);
    assert_eq!(
        acts,
        vec![Action::Dispatch(RunSpec {
            run: run(1, 1),
            placement: placement(C1, &[(0, 8, false), (1, 8, false)]),
            kind: RunKind::Training {
                spec: std::sync::Arc::new(spec),
                resume_gpu_h: 0.0,
                checkpoint_interval_s: 3600,
            },
        })]
    );
    let j = c.job(1).unwrap();
    assert_eq!(
        (j.state, j.alloc_gpus(), j.attempt),
        (JobState::Placed, 16, 1)
    );
    assert!(h(&mut c, T0 + 30, backend(Report::Started { run: run(1, 1) })).is_empty());
    assert_eq!(c.job(1).unwrap().state, JobState::Running);
    let p = progress(40.0, T0 + 3630);
    let ck = Report::Checkpointed {
        run: run(1, 1),
        progress: p,
    };
    assert!(h(&mut c, T0 + 3630, backend(ck)).is_empty());
    assert_eq!(c.job(1).unwrap().progress, p);
    assert_eq!(c.job(1).unwrap().state, JobState::Running);
    let acts = h(
        &mut c,
        T0 + 5 * 3600,
        backend(Report::Finished { run: run(1, 1) }),
    );
    assert_eq!(
        acts,
        vec![Action::Ended {
            job: 1,
            state: JobState::Completed,
            reason: String::new(),
        }]
    );
    let j = c.job(1).unwrap();
    assert_eq!(j.state, JobState::Completed);
    assert_eq!(j.end_s, Some(T0 + 5 * 3600));
    assert_eq!(j.progress.done_gpu_h, 80.0);
    assert!(!j.has_live_part(), "an ended job keeps no live part");
    assert_eq!(c.scheduler().allocs().count(), 0);
}

#[test]
fn a_run_does_not_end_before_its_backend_says_so() {
    let mut c = controller(cfg());
    started(&mut c, 1, job("a"));
    // A checkpoint holding all the work is still not a finish.
    let ck = Report::Checkpointed {
        run: run(1, 1),
        progress: progress(80.0, T0 + 36_000),
    };
    assert!(h(&mut c, T0 + 36_000, backend(ck)).is_empty());
    // Ten years on, with ticks in between, the run is still running.
    let late = T0 + 10 * 365 * 86_400;
    assert!(h(&mut c, late, Event::ScheduleTick).is_empty());
    assert!(h(&mut c, late, Event::AutoscaleTick).is_empty());
    let j = c.job(1).unwrap();
    assert_eq!(j.state, JobState::Running);
    assert_eq!(j.end_s, None);
    assert_eq!(c.scheduler().allocs().count(), 1);
}

#[test]
fn an_interruption_resumes_from_the_last_reported_checkpoint() {
    let mut c = controller(cfg());
    let first = started(&mut c, 1, job("a").work(800.0));
    // First-fit packs a lone small gang at the cluster's end.
    assert_eq!(first.placement, placement(C1, &[(3, 8, false)]));
    for (k, done) in [(1, 8.0), (2, 16.0)] {
        let ck = Report::Checkpointed {
            run: run(1, 1),
            progress: progress(done, T0 + k * 3900),
        };
        assert!(h(&mut c, T0 + k * 3900, backend(ck)).is_empty());
    }
    // An older checkpoint reported late does not undo a newer one.
    let old = Report::Checkpointed {
        run: run(1, 1),
        progress: progress(8.0, T0 + 3900),
    };
    assert!(h(&mut c, T0 + 8000, backend(old)).is_empty());
    // The domain fails well after the last checkpoint: what the run did
    // since is lost, whatever it was, because no backend reported it kept.
    let t = T0 + 2 * 3900 + 1000;
    let acts = h(&mut c, t, offline(C1, &[3], CapacityCause::GpuFailure));
    assert_eq!(acts, vec![stop(1, 1, StopReason::Release, 0)]);
    let j = c.job(1).unwrap();
    assert_eq!(j.state, JobState::Interrupted);
    assert_eq!(j.interruptions, [1, 0, 0]);
    assert_eq!(j.progress.done_gpu_h, 16.0);
    assert_eq!(c.pending(), 1);
    let acts = h(&mut c, t + 60, Event::ScheduleTick);
    let d = dispatches(&acts);
    assert_eq!(d.len(), 1, "{acts:?}");
    assert_eq!(d[0].run, run(1, 2));
    assert_eq!(resume(d[0]), 16.0);
    // Domain 3 is offline: the restart goes elsewhere.
    assert_ne!(d[0].placement, first.placement);
    assert_eq!(&*d[0].placement.cluster, C1);
    assert_eq!(c.job(1).unwrap().state, JobState::Restarting);
    assert!(h(&mut c, t + 90, backend(Report::Started { run: run(1, 2) })).is_empty());
    assert_eq!(c.job(1).unwrap().state, JobState::Running);
}

#[test]
fn a_lost_run_resumes_from_the_progress_its_report_carries() {
    let mut c = controller(cfg());
    started(&mut c, 1, job("a").work(800.0));
    let lost = Report::Lost {
        run: run(1, 1),
        progress: Some(progress(24.0, T0 + 10_000)),
    };
    assert!(h(&mut c, T0 + 11_000, backend(lost)).is_empty());
    assert_eq!(c.job(1).unwrap().state, JobState::Interrupted);
    assert_eq!(c.job(1).unwrap().interruptions, [1, 0, 0]);
    let acts = h(&mut c, T0 + 11_060, Event::ScheduleTick);
    let d = dispatches(&acts);
    assert_eq!((d.len(), d[0].run), (1, run(1, 2)));
    assert_eq!(resume(d[0]), 24.0);
}

#[test]
fn a_failed_run_restarts_in_place_until_its_retry_budget_is_spent() {
    let mut c = controller(ControlConfig {
        retry: RetryBudget {
            hardware: 10,
            software: 1,
            preemption: 10,
        },
        ..cfg()
    });
    let first = started(&mut c, 1, job("a"));
    let cat = FailureCategory::Software;
    let failed = Report::Failed {
        run: run(1, 1),
        category: cat,
        progress: Some(progress(8.0, T0 + 3600)),
    };
    let acts = h(&mut c, T0 + 4000, backend(failed.clone()));
    // A software crash restarts in place: the same GPUs, the next attempt,
    // from the checkpoint the failure report carried.
    let d = dispatches(&acts);
    assert_eq!(acts.len(), 1, "{acts:?}");
    assert_eq!(d[0].run, run(1, 2));
    assert_eq!(d[0].placement, first.placement);
    assert_eq!(resume(d[0]), 8.0);
    assert_eq!(c.job(1).unwrap().state, JobState::Restarting);
    // A report about the old attempt is stale and ignored.
    assert!(h(&mut c, T0 + 4100, backend(failed)).is_empty());
    assert_eq!(c.job(1).unwrap().interruptions, [0, 1, 0]);
    assert!(
        h(
            &mut c,
            T0 + 4200,
            backend(Report::Started { run: run(1, 2) })
        )
        .is_empty()
    );
    let acts = h(
        &mut c,
        T0 + 5000,
        backend(Report::Failed {
            run: run(1, 2),
            category: cat,
            progress: None,
        }),
    );
    assert_eq!(
        acts,
        vec![Action::Ended {
            job: 1,
            state: JobState::Failed,
            reason: "retry budget for software interruptions spent".into(),
        }]
    );
    assert_eq!(c.job(1).unwrap().state, JobState::Failed);
    assert_eq!(c.scheduler().allocs().count(), 0);
}

#[test]
fn a_finished_report_for_a_stale_attempt_is_ignored() {
    let mut c = controller(cfg());
    started(&mut c, 1, job("a"));
    let failed = Report::Failed {
        run: run(1, 1),
        category: FailureCategory::Software,
        progress: None,
    };
    assert_eq!(
        dispatches(&h(&mut c, T0 + 100, backend(failed)))[0].run,
        run(1, 2)
    );
    assert!(
        h(
            &mut c,
            T0 + 200,
            backend(Report::Finished { run: run(1, 1) })
        )
        .is_empty()
    );
    let j = c.job(1).unwrap();
    assert_eq!((j.state, j.attempt), (JobState::Restarting, 2));
    assert_eq!(c.scheduler().allocs().count(), 1);
    assert!(
        h(
            &mut c,
            T0 + 300,
            backend(Report::Started { run: run(1, 2) })
        )
        .is_empty()
    );
    let acts = h(
        &mut c,
        T0 + 400,
        backend(Report::Finished { run: run(1, 2) }),
    );
    assert!(matches!(
        acts.as_slice(),
        [Action::Ended {
            job: 1,
            state: JobState::Completed,
            ..
        }]
    ));
}

#[test]
fn a_hot_spare_takes_a_failed_domains_place_without_requeueing() {
    let mut c = controller(ControlConfig {
        hot_spare_min_gpus: 16,
        hot_spare_domains: 1,
        ..cfg()
    });
    let first = started(&mut c, 1, job("big").gpus(16));
    assert_eq!(
        first.placement,
        placement(C1, &[(0, 8, false), (1, 8, false), (2, 8, true)])
    );
    assert_eq!(first.placement.working_gpus(), 16);
    let ck = Report::Checkpointed {
        run: run(1, 1),
        progress: progress(16.0, T0 + 3630),
    };
    h(&mut c, T0 + 3630, backend(ck));
    let acts = h(
        &mut c,
        T0 + 5000,
        offline(C1, &[0], CapacityCause::DomainFailure),
    );
    assert_eq!(acts.len(), 2, "{acts:?}");
    assert_eq!(acts[0], stop(1, 1, StopReason::Release, 0));
    // The spare is now a working domain, and the pool is refilled from the
    // cluster's last free domain.
    let d = dispatches(&acts);
    assert_eq!(d[0].run, run(1, 2));
    assert_eq!(
        d[0].placement,
        placement(C1, &[(1, 8, false), (2, 8, false), (3, 8, true)])
    );
    assert_eq!(resume(d[0]), 16.0);
    let j = c.job(1).unwrap();
    assert_eq!(j.state, JobState::Restarting);
    assert_eq!((j.spare_swaps, j.alloc_gpus()), (1, 24));
    assert_eq!(j.interruptions, [1, 0, 0]);
    assert_eq!(c.pending(), 0);
    h(
        &mut c,
        T0 + 5100,
        backend(Report::Started { run: run(1, 2) }),
    );
    // A second failure swaps the refilled spare in; nothing is free to
    // refill it again.
    let acts = h(
        &mut c,
        T0 + 6000,
        offline(C1, &[1], CapacityCause::DomainFailure),
    );
    assert_eq!(
        dispatches(&acts)[0].placement,
        placement(C1, &[(2, 8, false), (3, 8, false)])
    );
    h(
        &mut c,
        T0 + 6100,
        backend(Report::Started { run: run(1, 3) }),
    );
    // A third finds no spare left: the gang is requeued whole.
    let acts = h(
        &mut c,
        T0 + 7000,
        offline(C1, &[2], CapacityCause::DomainFailure),
    );
    assert_eq!(acts, vec![stop(1, 3, StopReason::Release, 0)]);
    assert_eq!(c.job(1).unwrap().state, JobState::Interrupted);
    assert_eq!(c.pending(), 1);
    assert_eq!(c.scheduler().allocs().count(), 0);
}

/// A low-priority job fills aws; a high-priority one arrives and preempts
/// it. Returns the actions of the tick that preempts.
fn preempting() -> (Controller, Vec<Action>) {
    let mut c = controller(cfg());
    started(&mut c, 1, job("low").gpus(32).priority(10));
    assert!(
        h(
            &mut c,
            T0 + 50,
            job("high").gpus(16).priority(500).submit(2)
        )
        .is_empty()
    );
    let acts = h(&mut c, T0 + 60, Event::ScheduleTick);
    (c, acts)
}

#[test]
fn preemption_waits_for_the_victim_to_stop_before_dispatching() {
    let (mut c, acts) = preempting();
    // The victim is asked to stop, and the preemptor is not dispatched yet.
    assert_eq!(acts, vec![stop(1, 1, StopReason::Preempt, 120)]);
    let (low, high) = (c.job(1).unwrap(), c.job(2).unwrap());
    assert_eq!((low.state, low.alloc_gpus()), (JobState::Stopping, 32));
    assert_eq!((high.state, high.alloc_gpus()), (JobState::Reserved, 0));
    assert_eq!(c.preemptions(), 1);
    assert_eq!(c.scheduler().allocs().count(), 1);
    // Ticks meanwhile neither stop the victim again nor place the preemptor.
    assert!(h(&mut c, T0 + 90, Event::ScheduleTick).is_empty());
    // The victim saves a checkpoint and stops: the preemptor takes the room.
    let stopped = Report::Stopped {
        run: run(1, 1),
        progress: Some(progress(4.0, T0 + 100)),
    };
    let acts = h(&mut c, T0 + 100, backend(stopped));
    let d = dispatches(&acts);
    assert_eq!(acts.len(), 1, "{acts:?}");
    assert_eq!(d[0].run, run(2, 1));
    assert_eq!(
        d[0].placement,
        placement(C1, &[(0, 8, false), (1, 8, false)])
    );
    let low = c.job(1).unwrap();
    assert_eq!(low.state, JobState::Interrupted);
    assert_eq!(low.interruptions, [0, 0, 1]);
    assert_eq!(low.progress.done_gpu_h, 4.0);
    assert_eq!(c.job(2).unwrap().state, JobState::Placed);
    assert_eq!(c.pending(), 1);
    // The victim does not fit beside it, and is not placed.
    assert!(dispatches(&h(&mut c, T0 + 160, Event::ScheduleTick)).is_empty());
    // Once the preemptor ends, the victim resumes from what it kept.
    h(
        &mut c,
        T0 + 200,
        backend(Report::Started { run: run(2, 1) }),
    );
    h(
        &mut c,
        T0 + 300,
        backend(Report::Finished { run: run(2, 1) }),
    );
    let acts = h(&mut c, T0 + 360, Event::ScheduleTick);
    let d = dispatches(&acts);
    assert_eq!(d[0].run, run(1, 2));
    assert_eq!(resume(d[0]), 4.0);
}

#[test]
fn preemption_goes_ahead_when_the_grace_period_passes_without_a_report() {
    let (mut c, acts) = preempting();
    assert_eq!(acts, vec![stop(1, 1, StopReason::Preempt, 120)]);
    // One second before the grace runs out, nothing has changed.
    assert!(h(&mut c, T0 + 60 + 119, Event::ScheduleTick).is_empty());
    assert_eq!(c.job(1).unwrap().state, JobState::Stopping);
    // The grace is checked on every event, not only on ticks.
    let acts = h(
        &mut c,
        T0 + 60 + 120,
        Event::SpendReported {
            contract: "none".into(),
            usd: 0.0,
        },
    );
    let d = dispatches(&acts);
    assert_eq!(acts.len(), 1, "{acts:?}");
    assert_eq!(d[0].run, run(2, 1));
    assert_eq!(c.job(1).unwrap().state, JobState::Interrupted);
    // A stop confirmed after the fact is stale.
    let late = Report::Stopped {
        run: run(1, 1),
        progress: None,
    };
    assert!(h(&mut c, T0 + 400, backend(late)).is_empty());
    assert_eq!(c.job(1).unwrap().interruptions, [0, 0, 1]);
}

#[test]
fn cancelling_a_running_job_waits_for_the_stop() {
    let mut c = controller(cfg());
    started(&mut c, 1, job("a"));
    let acts = h(&mut c, T0 + 100, Event::JobCancelled { job: 1 });
    assert_eq!(acts, vec![stop(1, 1, StopReason::Cancel, 60)]);
    assert_eq!(c.job(1).unwrap().state, JobState::Stopping);
    assert_eq!(c.scheduler().allocs().count(), 1);
    // Cancelling again asks nothing more.
    assert!(h(&mut c, T0 + 110, Event::JobCancelled { job: 1 }).is_empty());
    let stopped = Report::Stopped {
        run: run(1, 1),
        progress: None,
    };
    let acts = h(&mut c, T0 + 120, backend(stopped));
    assert_eq!(
        acts,
        vec![Action::Ended {
            job: 1,
            state: JobState::Cancelled,
            reason: "cancelled by its owner".into(),
        }]
    );
    assert_eq!(c.scheduler().allocs().count(), 0);
    // Duplicate deliveries change nothing: a job never runs twice.
    assert!(h(&mut c, T0 + 200, job("a").submit(1)).is_empty());
    assert!(h(&mut c, T0 + 200, Event::ScheduleTick).is_empty());
    assert!(h(&mut c, T0 + 200, Event::JobCancelled { job: 1 }).is_empty());
}

#[test]
fn a_cancel_ends_the_job_when_the_grace_passes_without_a_report() {
    let mut c = controller(cfg());
    started(&mut c, 1, job("a"));
    h(&mut c, T0 + 100, Event::JobCancelled { job: 1 });
    assert!(h(&mut c, T0 + 159, Event::ScheduleTick).is_empty());
    assert_eq!(c.job(1).unwrap().state, JobState::Stopping);
    let acts = h(&mut c, T0 + 160, Event::ScheduleTick);
    assert!(matches!(
        acts.as_slice(),
        [Action::Ended {
            job: 1,
            state: JobState::Cancelled,
            ..
        }]
    ));
    assert_eq!(c.scheduler().allocs().count(), 0);
}

#[test]
fn cancelling_a_pending_job_ends_it_at_once() {
    let mut c = controller(cfg());
    h(&mut c, T0, job("huge").gpus(64).submit(1));
    assert!(h(&mut c, T0, Event::ScheduleTick).is_empty());
    assert_eq!(c.job(1).unwrap().state, JobState::Pending);
    assert!(c.job(1).unwrap().reason.starts_with("no fit"));
    let acts = h(&mut c, T0 + 10, Event::JobCancelled { job: 1 });
    assert!(matches!(
        acts.as_slice(),
        [Action::Ended {
            job: 1,
            state: JobState::Cancelled,
            ..
        }]
    ));
    assert_eq!(c.pending(), 0);
}

#[test]
fn a_refused_dispatch_requeues_the_job_with_the_reason() {
    let mut c = controller(cfg());
    h(&mut c, T0, job("a").submit(1));
    let acts = h(&mut c, T0, Event::ScheduleTick);
    assert_eq!(dispatches(&acts)[0].run, run(1, 1));
    let refused = Report::Refused {
        run: run(1, 1),
        reason: "partition drained".into(),
    };
    assert!(h(&mut c, T0 + 5, backend(refused)).is_empty());
    let j = c.job(1).unwrap();
    assert!(
        !j.state.holds_run() && !j.state.is_terminal(),
        "{:?}",
        j.state
    );
    assert!(j.reason.contains("partition drained"), "{}", j.reason);
    assert_eq!(j.alloc_gpus(), 0);
    assert_eq!(c.pending(), 1);
    assert_eq!(c.scheduler().allocs().count(), 0);
    // The next pass places it again, as a new attempt.
    let acts = h(&mut c, T0 + 60, Event::ScheduleTick);
    let d = dispatches(&acts);
    assert_eq!(d.len(), 1, "{acts:?}");
    assert_eq!(d[0].run, run(1, 2));
    assert_eq!(c.job(1).unwrap().interruptions, [0, 0, 0]);
}

#[test]
fn a_dispatch_never_reported_started_times_out() {
    let mut c = controller(cfg());
    h(&mut c, T0, job("a").submit(1));
    h(&mut c, T0, Event::ScheduleTick);
    assert!(h(&mut c, T0 + 599, Event::ScheduleTick).is_empty());
    assert_eq!(c.job(1).unwrap().state, JobState::Placed);
    // At the timeout the allocation is given up and the job placed again in
    // the same tick.
    let acts = h(&mut c, T0 + 600, Event::ScheduleTick);
    assert_eq!(acts.len(), 2, "{acts:?}");
    assert_eq!(acts[0], stop(1, 1, StopReason::Release, 0));
    assert_eq!(dispatches(&acts)[0].run, run(1, 2));
    // The first attempt starting late is stale.
    assert!(
        h(
            &mut c,
            T0 + 601,
            backend(Report::Started { run: run(1, 1) })
        )
        .is_empty()
    );
    assert_eq!(c.job(1).unwrap().state, JobState::Restarting);
}

#[test]
fn a_timed_out_dispatch_is_placed_again_on_what_is_left() {
    let mut c = controller(cfg());
    h(&mut c, T0, job("a").submit(1));
    h(&mut c, T0, Event::ScheduleTick);
    assert!(
        h(
            &mut c,
            T0 + 1,
            offline(C1, &[0, 1, 2], CapacityCause::ClusterOutage)
        )
        .is_empty()
    );
    let acts = h(&mut c, T0 + 600, Event::ScheduleTick);
    // Domain 3, the only one left online, was freed by the timeout and
    // taken again.
    assert_eq!(acts[0], stop(1, 1, StopReason::Release, 0));
    assert_eq!(
        dispatches(&acts)[0].placement,
        placement(C1, &[(3, 8, false)])
    );
}

#[test]
fn cancelling_an_unknown_job_is_an_error_and_changes_nothing() {
    let mut c = controller(cfg());
    h(&mut c, T0, job("a").submit(1));
    h(&mut c, T0, Event::ScheduleTick);
    let before = format!("{:?}", c.jobs());
    // Even with the dispatch overdue, the refused event expires nothing: the
    // stop it would have asked for is not lost with the error.
    assert_eq!(
        c.handle(T0 + 700, Event::JobCancelled { job: 42 }),
        Err(ControlError::UnknownJob(42))
    );
    assert_eq!(format!("{:?}", c.jobs()), before);
    let acts = h(&mut c, T0 + 701, Event::ScheduleTick);
    assert_eq!(acts[0], stop(1, 1, StopReason::Release, 0));
}

#[test]
fn a_capacity_report_naming_an_unknown_cluster_or_domain_is_an_error() {
    let mut c = controller(cfg());
    started(&mut c, 1, job("a"));
    let before = format!("{:?}", c.jobs());
    assert_eq!(
        c.handle(
            T0 + 100,
            offline("aws/r1/nope", &[0], CapacityCause::Repair)
        ),
        Err(ControlError::UnknownCluster("aws/r1/nope".into()))
    );
    assert_eq!(
        c.handle(T0 + 100, offline(C1, &[0, 9], CapacityCause::DomainFailure)),
        Err(ControlError::UnknownDomain {
            cluster: C1.into(),
            index: 9,
        })
    );
    // Domain 0, listed before the bad index, was not taken offline either.
    assert_eq!(format!("{:?}", c.jobs()), before);
    assert_eq!(c.job(1).unwrap().state, JobState::Running);
}

#[test]
fn an_unknown_run_is_stopped_and_a_known_one_is_left_alone() {
    let mut c = controller(cfg());
    started(&mut c, 1, job("a"));
    let acts = h(
        &mut c,
        T0 + 100,
        backend(Report::Unknown {
            run: run(77, 3),
            cluster: C1.into(),
        }),
    );
    assert_eq!(acts, vec![stop(77, 3, StopReason::Release, 0)]);
    // A stale attempt of a known job is unknown too.
    let acts = h(
        &mut c,
        T0 + 100,
        backend(Report::Unknown {
            run: run(1, 7),
            cluster: C1.into(),
        }),
    );
    assert_eq!(acts, vec![stop(1, 7, StopReason::Release, 0)]);
    let current = Report::Unknown {
        run: run(1, 1),
        cluster: C1.into(),
    };
    assert!(h(&mut c, T0 + 100, backend(current)).is_empty());
    assert_eq!(c.job(1).unwrap().state, JobState::Running);
}

#[test]
fn a_service_scales_with_its_demand_across_providers() {
    let mut c = controller(cfg());
    chat_with_demand(&mut c, 30.0, 10.0);
    let acts = h(&mut c, T0, Event::AutoscaleTick);
    let d = dispatches(&acts);
    // The replicas one plan places on one cluster are one set, one run.
    assert_eq!((acts.len(), d.len()), (2, 2), "{acts:?}");
    for s in &d {
        assert_eq!(s.run.attempt, 1);
        assert_eq!(s.gpus_per_replica(), Some(8));
    }
    let on = |cl: &str| -> u32 {
        d.iter()
            .filter(|s| *s.placement.cluster == *cl)
            .map(|s| set_size(s))
            .sum()
    };
    assert_eq!((on(C1), on(C2)), (3, 1), "each zone served from itself");
    assert_eq!(c.services()[0].replicas, 4);
    // A replica serves once its backend reports it started (model loaded).
    assert_eq!(c.slo(0).served_rps, 0.0);
    for s in &d {
        h(&mut c, T0, backend(Report::Started { run: s.run }));
    }
    let slo = c.slo(0);
    assert_eq!(slo.demand_rps, 40.0);
    assert_eq!(slo.served_rps, 40.0);
    let runs: Vec<_> = d.iter().map(|s| s.run).collect();
    h(
        &mut c,
        T0 + 3600,
        Event::DemandObserved {
            service: 0,
            rps_by_zone: vec![("us-east".into(), 5.0), ("eu-west".into(), 5.0)],
        },
    );
    let acts = h(&mut c, T0 + 3600, Event::AutoscaleTick);
    // The SLO (100 ms) is tighter than a cross-zone hop, so each zone keeps
    // the one replica that covers its 5 rps: us-east drops two of its three,
    // by shrinking its set (the set serves on with one).
    assert_eq!(acts.len(), 1, "{acts:?}");
    let Action::Shrink(sh) = &acts[0] else {
        panic!("expected a shrink, got {acts:?}");
    };
    let east = d.iter().find(|s| &*s.placement.cluster == C1).unwrap();
    assert_eq!(sh.run, east.run);
    assert!(runs.contains(&sh.run));
    assert_eq!(sh.domains.iter().map(|x| x.gpus).sum::<u32>(), 16);
    for x in &sh.domains {
        assert!(east.placement.domains.iter().any(|y| y.index == x.index));
    }
    assert_eq!(c.services()[0].replicas, 2);
    assert_eq!(c.services()[0].by_zone, vec![(0, 1), (1, 1)]);
    assert_eq!(c.slo(0).served_rps, 10.0);
}

#[test]
fn a_zone_served_only_by_slower_accelerators_gets_enough_of_them() {
    // us-east has GB200 only (aws), eu-west H200 only (azure and gcp).
    let fleet = r#"
version = 1
[[team]]
name = "t"
[[provider]]
name = "aws"
[[provider.region]]
name = "east"
power_mw = 100.0
zone = "us-east"
[[provider.region.cluster]]
name = "nvl"
accelerator = "gb200"
domains = 2
price = { model = "on-demand", usd_per_gpu_hour = 4.0 }
[[provider]]
name = "azure"
[[provider.region]]
name = "sweden"
power_mw = 100.0
zone = "eu-west"
[[provider.region.cluster]]
name = "hgx"
accelerator = "h200"
domains = 16
price = { model = "on-demand", usd_per_gpu_hour = 3.0 }
[[provider]]
name = "gcp"
[[provider.region]]
name = "netherlands"
power_mw = 100.0
zone = "eu-west"
[[provider.region.cluster]]
name = "a3"
accelerator = "h200"
domains = 16
price = { model = "on-demand", usd_per_gpu_hour = 3.0 }
"#;
    let topo = Arc::new(Topology::from_document(
        &gf_model::parse_document("fleet.toml", fleet).unwrap(),
    ));
    let index = CapacityIndex::all_online(&topo);
    let mut c = Controller::new(topo, index, Policy::named("default").unwrap(), 1, cfg());
    let mut spec = chat_service();
    spec.throughput = [("gb200".to_string(), 20.0), ("h200".to_string(), 8.0)]
        .into_iter()
        .collect();
    h(
        &mut c,
        T0,
        Event::ServiceSubmitted {
            service: 0,
            spec: Box::new(spec),
            headroom: 1.25,
        },
    );
    h(
        &mut c,
        T0,
        Event::DemandObserved {
            service: 0,
            rps_by_zone: vec![("us-east".into(), 100.0), ("eu-west".into(), 60.0)],
        },
    );
    let acts = h(&mut c, T0, Event::AutoscaleTick);
    let d = dispatches(&acts);
    assert_eq!(d.len(), acts.len(), "only dispatches: {acts:?}");
    assert!(
        d.iter()
            .all(|s| matches!(s.kind, RunKind::Replica { service: 0, .. }))
    );
    let on = |cl: &str| -> u32 {
        d.iter()
            .filter(|s| *s.placement.cluster == *cl)
            .map(|s| set_size(s))
            .sum()
    };
    // us-east: 100 × 1.25 / 20 = 6.25, so 7 GB200 replicas; eu-west:
    // 60 × 1.25 / 8 = 9.375, so 10 H200 replicas over its two clusters.
    // Sizing by the fastest accelerator would give 200 / 20 = 10 in all.
    assert_eq!(on("aws/east/nvl"), 7, "{d:?}");
    assert_eq!(
        on("azure/sweden/hgx") + on("gcp/netherlands/a3"),
        10,
        "{d:?}"
    );
    assert_eq!(c.services()[0].by_zone, vec![(0, 7), (1, 10)]);
    for s in &d {
        h(&mut c, T0, backend(Report::Started { run: s.run }));
    }
    let slo = c.slo(0);
    assert_eq!((slo.demand_rps, slo.served_rps), (160.0, 160.0));
    // Sized right, the next tick leaves it alone.
    assert!(h(&mut c, T0 + 300, Event::AutoscaleTick).is_empty());
}

#[test]
fn a_pass_reaches_small_work_behind_many_blocked_gangs() {
    // 24 of 32 GPUs busy; 30 gangs of 16 wait ahead of one job of 8. After
    // the first 16 misses, the other 29 are known not to fit and are skipped
    // without counting against the pass's miss budget (24), so the 8 runs.
    let mut c = controller(cfg());
    started(&mut c, 1, job("busy").gpus(24).work(1e6));
    for i in 0..30 {
        h(
            &mut c,
            T0,
            job(&format!("big{i}")).gpus(16).priority(90).submit(10 + i),
        );
    }
    h(&mut c, T0, job("small").gpus(8).priority(80).submit(99));
    let acts = h(&mut c, T0 + 60, Event::ScheduleTick);
    let d = dispatches(&acts);
    assert_eq!(acts.len(), 1, "{acts:?}");
    assert_eq!(d[0].run, run(99, 1));
    assert_eq!(d[0].placement, placement(C1, &[(3, 8, false)]));
}

#[test]
fn a_pass_lists_the_waiting_jobs_whose_reason_it_changed_and_only_those() {
    // 24 of 32 GPUs busy: two gangs of 16 cannot fit, one of 8 can.
    let mut c = controller(cfg());
    started(&mut c, 1, job("busy").gpus(24).work(1e6));
    h(&mut c, T0, job("a").gpus(16).priority(90).submit(10));
    h(&mut c, T0, job("b").gpus(16).priority(90).submit(11));
    // A submission names its job; nothing else moved.
    assert!(c.moved().is_empty(), "{:?}", c.moved());
    h(&mut c, T0, job("c").gpus(8).priority(80).submit(12));
    let acts = h(&mut c, T0 + 60, Event::ScheduleTick);
    // The placed job is named by its dispatch; the two that wait got a
    // reason in place of "waiting for the next scheduling pass".
    assert_eq!(dispatches(&acts)[0].run, run(12, 1));
    let mut moved = c.moved().to_vec();
    moved.sort_unstable();
    moved.dedup();
    assert_eq!(moved, vec![10, 11]);
    for id in [10, 11] {
        let j = c.job(id).unwrap();
        assert_eq!(j.state, JobState::Pending);
        assert!(j.reason.starts_with("no fit"), "{}", j.reason);
    }
    // The next pass finds them where they were, for the same reason.
    let acts = h(&mut c, T0 + 120, Event::ScheduleTick);
    assert!(acts.is_empty(), "{acts:?}");
    assert!(c.moved().is_empty(), "{:?}", c.moved());
    // A preemption moves its preemptor into a reservation with no action
    // naming it: listed.
    let (c, _) = preempting();
    assert_eq!(c.job(2).unwrap().state, JobState::Reserved);
    assert!(c.moved().contains(&2), "{:?}", c.moved());
}

#[test]
fn a_stopping_run_whose_domain_fails_is_killed_at_once() {
    // The victim of a preemption is stopping with 120 s of grace when a
    // domain under it goes away: it is requeued at once, so it must be
    // killed at once too, or its next attempt could run beside it.
    let (mut c, acts) = preempting();
    assert_eq!(acts, vec![stop(1, 1, StopReason::Preempt, 120)]);
    let acts = h(
        &mut c,
        T0 + 70,
        offline(C1, &[3], CapacityCause::DomainFailure),
    );
    assert_eq!(acts[0], stop(1, 1, StopReason::Release, 0));
    let low = c.job(1).unwrap();
    assert_eq!(low.state, JobState::Interrupted);
    assert_eq!(low.alloc_gpus(), 0);
    // The room it left goes to the preemptor, which waited for it.
    let d = dispatches(&acts);
    assert_eq!(d.len(), 1, "{acts:?}");
    assert_eq!(d[0].run, run(2, 1));
}

#[test]
fn a_domain_lost_under_a_reservation_and_its_victims_is_handled_whole() {
    // Two 4-GPU victims share domain 3 and are preempted for one 8-GPU job;
    // the second has stopped, so its GPUs are held for the preemptor. Then
    // domain 3 fails: the first victim's end commits the reservation, which
    // releases the held GPUs while the outage is still being handled.
    let mut c = controller(cfg());
    let mut fixed = job("fixed").gpus(24);
    fixed.0.preemptible = false;
    h(&mut c, T0, fixed.submit(1));
    h(&mut c, T0, job("va").gpus(4).priority(10).submit(2));
    h(&mut c, T0, job("vb").gpus(4).priority(10).submit(3));
    let acts = h(&mut c, T0, Event::ScheduleTick);
    let d = dispatches(&acts);
    assert_eq!(d[1].placement, placement(C1, &[(3, 4, false)]));
    assert_eq!(d[2].placement, placement(C1, &[(3, 4, false)]));
    for s in d {
        h(&mut c, T0 + 1, backend(Report::Started { run: s.run }));
    }
    h(&mut c, T0 + 2, job("p").gpus(8).priority(500).submit(4));
    let acts = h(&mut c, T0 + 3, Event::ScheduleTick);
    assert_eq!(
        acts,
        vec![
            stop(2, 1, StopReason::Preempt, 120),
            stop(3, 1, StopReason::Preempt, 120)
        ]
    );
    let stopped = Report::Stopped {
        run: run(3, 1),
        progress: None,
    };
    assert!(h(&mut c, T0 + 4, backend(stopped)).is_empty());
    assert_eq!(c.job(4).unwrap().state, JobState::Reserved);
    let acts = h(
        &mut c,
        T0 + 5,
        offline(C1, &[3], CapacityCause::DomainFailure),
    );
    assert_eq!(acts, vec![stop(2, 1, StopReason::Release, 0)]);
    for id in [2, 3] {
        assert_eq!(c.job(id).unwrap().state, JobState::Interrupted);
    }
    // The reserved room is gone: the preemptor waits to be placed again.
    assert_eq!(c.job(4).unwrap().state, JobState::Pending);
    assert_eq!(c.scheduler().allocs().count(), 1);
}

#[test]
fn an_outage_of_several_domains_under_a_gang_is_one_interruption() {
    // The gang holds domains 0 and 1 with 2 as its spare; 0 and 1 fail in
    // one report. The spare cannot cover both: the gang is requeued whole,
    // once, without first restarting on a domain that is failing too.
    let mut c = controller(ControlConfig {
        hot_spare_min_gpus: 16,
        hot_spare_domains: 1,
        ..cfg()
    });
    started(&mut c, 1, job("big").gpus(16));
    let acts = h(
        &mut c,
        T0 + 5000,
        offline(C1, &[0, 1], CapacityCause::ClusterOutage),
    );
    assert_eq!(acts, vec![stop(1, 1, StopReason::Release, 0)]);
    let j = c.job(1).unwrap();
    assert_eq!(j.state, JobState::Interrupted);
    assert_eq!((j.interruptions, j.spare_swaps), ([1, 0, 0], 0));
    assert_eq!(c.scheduler().allocs().count(), 0);
}

#[test]
fn two_spares_cover_two_domains_failing_together() {
    let mut c = controller(ControlConfig {
        hot_spare_min_gpus: 16,
        hot_spare_domains: 2,
        ..cfg()
    });
    let first = started(&mut c, 1, job("big").gpus(16));
    assert_eq!(
        first.placement,
        placement(
            C1,
            &[(0, 8, false), (1, 8, false), (2, 8, true), (3, 8, true)]
        )
    );
    let acts = h(
        &mut c,
        T0 + 5000,
        offline(C1, &[0, 1], CapacityCause::ClusterOutage),
    );
    assert_eq!(acts.len(), 2, "{acts:?}");
    assert_eq!(acts[0], stop(1, 1, StopReason::Release, 0));
    let d = dispatches(&acts);
    assert_eq!(d[0].run, run(1, 2));
    assert_eq!(
        d[0].placement,
        placement(C1, &[(2, 8, false), (3, 8, false)])
    );
    let j = c.job(1).unwrap();
    assert_eq!((j.interruptions, j.spare_swaps), ([1, 0, 0], 1));
    assert_eq!(c.pending(), 0);
}

#[test]
fn a_replica_on_a_failed_domain_is_stopped_and_replaced() {
    let mut c = controller(cfg());
    chat_with_demand(&mut c, 10.0, 10.0);
    let acts = h(&mut c, T0, Event::AutoscaleTick);
    let d = dispatches(&acts);
    let on_c1 = d.iter().find(|s| &*s.placement.cluster == C1).unwrap();
    let (lost, domain) = (on_c1.run, on_c1.placement.domains[0].index);
    // The backend finding a replica the controller placed is not unknown.
    let known = Report::Unknown {
        run: lost,
        cluster: C1.into(),
    };
    assert!(h(&mut c, T0 + 10, backend(known)).is_empty());
    let acts = h(
        &mut c,
        T0 + 60,
        offline(C1, &[domain], CapacityCause::DomainFailure),
    );
    assert_eq!(acts, vec![stop(lost.job, 1, StopReason::Release, 0)]);
    assert_eq!(c.services()[0].replicas, 1);
    let acts = h(&mut c, T0 + 120, Event::ScheduleTick);
    let d = dispatches(&acts);
    assert_eq!(d.len(), 1, "{acts:?}");
    assert_eq!(
        d[0].kind,
        RunKind::Replica {
            service: 0,
            replicas: 1
        }
    );
    assert_ne!(d[0].run, lost);
    assert_eq!(c.services()[0].replicas, 2);
}

#[test]
fn a_replica_set_loses_only_the_replicas_of_a_failed_domain() {
    let mut c = controller(cfg());
    chat_with_demand(&mut c, 30.0, 10.0);
    let acts = h(&mut c, T0, Event::AutoscaleTick);
    let d = dispatches(&acts);
    let set = d.iter().find(|s| &*s.placement.cluster == C1).unwrap();
    assert_eq!(set_size(set), 3);
    assert_eq!(
        set.placement.domains.len(),
        3,
        "one replica per 8-GPU domain"
    );
    for s in &d {
        h(&mut c, T0, backend(Report::Started { run: s.run }));
    }
    assert_eq!(c.slo(0).served_rps, 40.0);
    let failed = set.placement.domains[1].index;
    let acts = h(
        &mut c,
        T0 + 60,
        offline(C1, &[failed], CapacityCause::DomainFailure),
    );
    // The set is shrunk by the failed domain's replica, not stopped.
    assert_eq!(
        acts,
        vec![Action::Shrink(ShrinkSpec {
            run: set.run,
            domains: vec![DomainSlot {
                index: failed,
                gpus: 8,
                spare: false
            }],
        })]
    );
    assert_eq!(c.services()[0].replicas, 3);
    assert_eq!(c.slo(0).served_rps, 30.0);
    let on_failed = c
        .scheduler()
        .allocs()
        .filter(|(_, a)| a.parts.iter().any(|p| p.0 == failed))
        .count();
    assert_eq!(on_failed, 0, "the failed domain's GPUs are released");
    // The next pass places the lost replica again, as a set of one.
    let acts = h(&mut c, T0 + 120, Event::ScheduleTick);
    let d = dispatches(&acts);
    assert_eq!(d.len(), 1, "{acts:?}");
    assert_eq!(set_size(d[0]), 1);
    assert_eq!(c.services()[0].replicas, 4);
}

/// Replicas in a replica set's dispatch.
fn set_size(s: &RunSpec) -> u32 {
    match s.kind {
        RunKind::Replica { replicas, .. } => replicas,
        RunKind::Training { .. } => panic!("a training run, not a replica set: {s:?}"),
    }
}

#[test]
fn cancelling_a_reserved_job_ends_it_and_its_victims_still_stop() {
    let (mut c, _) = preempting();
    assert_eq!(c.job(2).unwrap().state, JobState::Reserved);
    let acts = h(&mut c, T0 + 70, Event::JobCancelled { job: 2 });
    assert!(matches!(
        acts.as_slice(),
        [Action::Ended {
            job: 2,
            state: JobState::Cancelled,
            ..
        }]
    ));
    // The victim was asked to stop and does; nothing waits for its room.
    let stopped = Report::Stopped {
        run: run(1, 1),
        progress: None,
    };
    assert!(dispatches(&h(&mut c, T0 + 80, backend(stopped))).is_empty());
    assert_eq!(c.job(1).unwrap().state, JobState::Interrupted);
    let acts = h(&mut c, T0 + 90, Event::ScheduleTick);
    assert_eq!(dispatches(&acts)[0].run, run(1, 2));
}

#[test]
fn a_failed_hot_spare_costs_its_gang_nothing() {
    let mut c = controller(ControlConfig {
        hot_spare_min_gpus: 16,
        hot_spare_domains: 1,
        ..cfg()
    });
    let first = started(&mut c, 1, job("big").gpus(16));
    assert_eq!(
        first.placement,
        placement(C1, &[(0, 8, false), (1, 8, false), (2, 8, true)])
    );
    // The idle spare's rack fails: no stop, no restart, no retry charged.
    let acts = h(
        &mut c,
        T0 + 5000,
        offline(C1, &[2], CapacityCause::GpuFailure),
    );
    assert!(acts.is_empty(), "{acts:?}");
    let j = c.job(1).unwrap();
    assert_eq!(j.state, JobState::Running);
    assert_eq!((j.attempt, j.alloc_gpus(), j.spares_lost), (1, 16, 1));
    assert_eq!(j.interruptions, [0, 0, 0]);
    // Its next restart (a software crash, restarted in place) refills the
    // pool from the free domain 3.
    let crash = Report::Failed {
        run: run(1, 1),
        category: FailureCategory::Software,
        progress: None,
    };
    let acts = h(&mut c, T0 + 6000, backend(crash));
    assert_eq!(
        dispatches(&acts)[0].placement,
        placement(C1, &[(0, 8, false), (1, 8, false), (3, 8, true)])
    );
}

#[test]
fn a_cluster_back_from_an_outage_is_held_out_of_placement_for_the_holdoff() {
    let mut c = controller(ControlConfig {
        outage_holdoff_s: 600,
        ..cfg()
    });
    let first = started(&mut c, 1, job("a").gpus(8).providers(&[]));
    let failed = first.placement.cluster.clone();
    let other = if &*failed == C1 { C2 } else { C1 };
    // The cluster goes down: the run is killed and placed on the other.
    let acts = h(
        &mut c,
        T0 + 100,
        offline(&failed, &[0, 1, 2, 3], CapacityCause::ClusterOutage),
    );
    assert_eq!(acts, vec![stop(1, 1, StopReason::Release, 0)]);
    let acts = h(&mut c, T0 + 101, Event::ScheduleTick);
    assert_eq!(&*dispatches(&acts)[0].placement.cluster, other);
    h(
        &mut c,
        T0 + 102,
        backend(Report::Started { run: run(1, 2) }),
    );
    // It answers again at T0 + 200, but is held out for 600 s: a gang that
    // only a whole empty cluster can take waits.
    let back = backend(Report::CapacityChanged {
        cluster: failed.clone(),
        domains: vec![0, 1, 2, 3],
        online: true,
        cause: CapacityCause::Repair,
    });
    h(&mut c, T0 + 200, back);
    h(
        &mut c,
        T0 + 201,
        job("whole").gpus(32).providers(&[]).submit(2),
    );
    for t in [T0 + 202, T0 + 500, T0 + 799] {
        let acts = h(&mut c, t, Event::ScheduleTick);
        assert!(dispatches(&acts).is_empty(), "placed at {t}: {acts:?}");
    }
    assert_eq!(c.job(2).unwrap().state, JobState::Pending);
    let acts = h(&mut c, T0 + 800, Event::ScheduleTick);
    let d = dispatches(&acts);
    assert_eq!(d.len(), 1, "{acts:?}");
    assert_eq!((d[0].run, &*d[0].placement.cluster), (run(2, 1), &*failed));
}

#[test]
fn without_a_holdoff_a_cluster_back_from_an_outage_is_used_at_once() {
    let mut c = controller(cfg());
    let first = started(&mut c, 1, job("a").gpus(8).providers(&[]));
    let failed = first.placement.cluster.clone();
    h(
        &mut c,
        T0 + 100,
        offline(&failed, &[0, 1, 2, 3], CapacityCause::ClusterOutage),
    );
    h(&mut c, T0 + 101, Event::ScheduleTick);
    let back = backend(Report::CapacityChanged {
        cluster: failed.clone(),
        domains: vec![0, 1, 2, 3],
        online: true,
        cause: CapacityCause::Repair,
    });
    h(&mut c, T0 + 200, back);
    h(
        &mut c,
        T0 + 201,
        job("whole").gpus(32).providers(&[]).submit(2),
    );
    let acts = h(&mut c, T0 + 202, Event::ScheduleTick);
    assert_eq!(dispatches(&acts)[0].placement.cluster, failed);
}

/// Submits the chat service at headroom 1 with `us_east` and `eu_west`
/// requests per second of demand.
fn chat_with_demand(c: &mut Controller, us_east: f64, eu_west: f64) {
    h(
        c,
        T0,
        Event::ServiceSubmitted {
            service: 0,
            spec: Box::new(chat_service()),
            headroom: 1.0,
        },
    );
    h(
        c,
        T0,
        Event::DemandObserved {
            service: 0,
            rps_by_zone: vec![("us-east".into(), us_east), ("eu-west".into(), eu_west)],
        },
    );
}
