//! The restore property: a controller rebuilt from the event log of a live
//! one, at any point of its life, is indistinguishable from it. Random event
//! streams over a small fleet — submissions of various sizes and priorities,
//! cancels (of unknown jobs too), ticks, capacity going off and on, a
//! service's demand, and backend reports that answer what was actually
//! dispatched and stopped — run through a live controller while its log is
//! recorded. At a random cut the log is written to JSON and read back, a
//! controller is restored from it, and the rest of the stream goes to both:
//! every answer (actions or error) and the final state must be identical.

mod common;

use common::*;
use gf_control::{
    Action, CapacityCause, ControlConfig, ControlError, Controller, Event, EventLog,
    FailureCategory, LogEntry, Report, RunId, RunKind, RunPlacement, RunSpec,
};
use gf_model::protocol::DomainSlot;
use gf_model::scenario::RetryBudget;
use gf_sched::CapacityIndex;
use proptest::prelude::*;

/// One step of a generated stream. Steps that answer runs are resolved
/// against what the backend model holds when they come up, so every report
/// is one a backend could really send.
#[derive(Debug, Clone)]
enum Step {
    /// Time passes, seconds.
    Advance(i64),
    /// A job is submitted: gang size 0 stands for half a GPU, `providers`
    /// picks aws, gcp or both.
    Submit {
        gpus: u32,
        priority: u32,
        work: f64,
        providers: u8,
    },
    /// Cancels the `n`th job submitted (past the last: a job never seen).
    Cancel(usize),
    /// The scheduling timer fires.
    ScheduleTick,
    /// The autoscaling timer fires.
    AutoscaleTick,
    /// The backend answers one of its runs; `choice` picks the answer.
    Answer { pick: usize, choice: u8 },
    /// Domains of a cluster go offline or come back: `domains` is a bit set.
    Capacity {
        cluster: bool,
        domains: u8,
        online: bool,
        cause: usize,
    },
    /// The service's demand in each zone, requests per second.
    Demand { us: f64, eu: f64 },
    /// The backend finds a run it was never told about.
    Unknown { job: u64, attempt: u32 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0i64..700).prop_map(Step::Advance),
        3 => (
            prop::sample::select(vec![0u32, 1, 4, 8, 16, 24, 32]),
            prop::sample::select(vec![10u32, 100, 500]),
            prop::sample::select(vec![4.0f64, 40.0, 400.0]),
            0u8..3,
        )
            .prop_map(|(gpus, priority, work, providers)| Step::Submit {
                gpus,
                priority,
                work,
                providers,
            }),
        1 => (0usize..24).prop_map(Step::Cancel),
        2 => Just(Step::ScheduleTick),
        1 => Just(Step::AutoscaleTick),
        6 => (any::<usize>(), any::<u8>()).prop_map(|(pick, choice)| Step::Answer { pick, choice }),
        1 => (any::<bool>(), 1u8..16, any::<bool>(), 0usize..CapacityCause::ALL.len()).prop_map(
            |(cluster, domains, online, cause)| Step::Capacity {
                cluster,
                domains,
                online,
                cause,
            }
        ),
        1 => (0.0f64..40.0, 0.0f64..40.0).prop_map(|(us, eu)| Step::Demand { us, eu }),
        1 => (1u64..24, 1u32..4).prop_map(|(job, attempt)| Step::Unknown { job, attempt }),
    ]
}

/// Where a run is, as the backend sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Dispatched,
    Running,
    Stopping,
}

#[derive(Debug, Clone)]
struct BackendRun {
    run: RunId,
    phase: Phase,
    /// Work kept by its last checkpoint, and its total (0 for a replica).
    done: f64,
    work: f64,
    placement: RunPlacement,
    /// When a stop asked of it must have taken effect.
    stop_by: Option<i64>,
}

/// A backend that does what it is told and reports it: runs start, save
/// checkpoints, finish, crash, vanish, and stop when asked.
#[derive(Debug, Default)]
struct Backend {
    runs: Vec<BackendRun>,
}

impl Backend {
    /// A run dispatched while another run of its job is still going, or on
    /// GPUs a run still holds (not yet stopped, its grace not yet over), is
    /// a run twice or a collision on the hardware.
    fn check_room(&self, now: i64, s: &RunSpec) -> Result<(), String> {
        let alive = |r: &&BackendRun| r.stop_by.is_none_or(|t| now < t);
        if let Some(r) = self
            .runs
            .iter()
            .filter(alive)
            .find(|r| r.run.job == s.run.job)
        {
            return Err(format!("{} dispatched while {} still runs", s.run, r.run));
        }
        // Thousandths of a GPU, so that shares of one add up.
        let milli = |p: &RunPlacement, d: &DomainSlot| p.gpu_milli.unwrap_or(d.gpus * 1000);
        for d in &s.placement.domains {
            let held: u32 = self
                .runs
                .iter()
                .filter(alive)
                .filter(|r| r.placement.cluster == s.placement.cluster)
                .flat_map(|r| r.placement.domains.iter().map(|x| (&r.placement, x)))
                .filter(|(_, x)| x.index == d.index)
                .map(|(p, x)| milli(p, x))
                .sum();
            if held + milli(&s.placement, d) > 8000 {
                return Err(format!(
                    "{} dispatched on {}#{} where {held} thousandths of its GPUs are still held",
                    s.run, s.placement.cluster, d.index
                ));
            }
        }
        Ok(())
    }

    fn apply(&mut self, now: i64, acts: &[Action]) -> Result<(), String> {
        for a in acts {
            match a {
                Action::Dispatch(s) => {
                    let (done, work) = match &s.kind {
                        RunKind::Training {
                            spec, resume_gpu_h, ..
                        } => (*resume_gpu_h, spec.work_gpu_hours),
                        RunKind::Replica { .. } => (0.0, 0.0),
                    };
                    self.check_room(now, s)?;
                    self.runs.push(BackendRun {
                        run: s.run,
                        phase: Phase::Dispatched,
                        done,
                        work,
                        placement: s.placement.clone(),
                        stop_by: None,
                    });
                }
                // Every stop leaves the run to be confirmed later (a stop
                // with no grace is then a stale confirmation).
                Action::Stop(s) => {
                    if let Some(r) = self.runs.iter_mut().find(|r| r.run == s.run) {
                        r.phase = Phase::Stopping;
                        let by = now + s.grace_s;
                        r.stop_by = Some(r.stop_by.map_or(by, |t| t.min(by)));
                    }
                }
                // The shrunk replicas' GPUs are free at once.
                Action::Shrink(sh) => {
                    if let Some(r) = self.runs.iter_mut().find(|r| r.run == sh.run) {
                        for x in &sh.domains {
                            if let Some(d) =
                                r.placement.domains.iter_mut().find(|d| d.index == x.index)
                            {
                                d.gpus = d.gpus.saturating_sub(x.gpus);
                            }
                        }
                        r.placement.domains.retain(|d| d.gpus > 0);
                    }
                }
                Action::Ended { .. } => {}
            }
        }
        Ok(())
    }

    /// The report of one of its runs, chosen by `pick`, at `now`.
    fn answer(&mut self, now: i64, pick: usize, choice: u8) -> Option<Report> {
        if self.runs.is_empty() {
            return None;
        }
        let k = pick % self.runs.len();
        let r = &mut self.runs[k];
        let run = r.run;
        let kept = Some(progress(r.done, now));
        let (report, ends) = match (r.phase, choice % 8) {
            (Phase::Dispatched, 0) => (
                Report::Refused {
                    run,
                    reason: "full".into(),
                },
                true,
            ),
            (Phase::Dispatched, _) => {
                r.phase = Phase::Running;
                (Report::Started { run }, false)
            }
            (Phase::Running, 0..=2) => {
                r.done = (r.done + r.work / 4.0).min(r.work);
                (
                    Report::Checkpointed {
                        run,
                        progress: progress(r.done, now),
                    },
                    false,
                )
            }
            (Phase::Running, 3) => (Report::Finished { run }, true),
            (Phase::Running, 4 | 5) => (
                Report::Failed {
                    run,
                    category: FailureCategory::ALL[choice as usize % 3],
                    progress: kept.filter(|_| choice.is_multiple_of(2)),
                },
                true,
            ),
            (Phase::Running, 6) => (
                Report::Lost {
                    run,
                    progress: None,
                },
                true,
            ),
            (Phase::Running, _) => (
                Report::Stopped {
                    run,
                    progress: kept,
                },
                true,
            ),
            (Phase::Stopping, 0) => (Report::Finished { run }, true),
            (Phase::Stopping, _) => (
                Report::Stopped {
                    run,
                    progress: kept,
                },
                true,
            ),
        };
        if ends {
            self.runs.swap_remove(k);
        }
        Some(report)
    }
}

fn config() -> ControlConfig {
    ControlConfig {
        hot_spare_min_gpus: 16,
        hot_spare_domains: 1,
        retry: RetryBudget {
            hardware: 3,
            software: 2,
            preemption: 3,
        },
        ..cfg()
    }
}

fn new_controller() -> Controller {
    let topo = topology();
    let index = CapacityIndex::all_online(&topo);
    Controller::new(topo, index, policy(), 7, config())
}

/// Turns generated steps into events, keeping the backend model and the
/// clock in step with what the controller answered.
struct Driver {
    now: i64,
    backend: Backend,
    submitted: u64,
}

impl Driver {
    /// The event of one step, or none (time passing).
    fn event(&mut self, s: &Step) -> Option<Event> {
        Some(match *s {
            Step::Advance(dt) => {
                self.now += dt;
                return None;
            }
            Step::Submit {
                gpus,
                priority,
                work,
                providers,
            } => {
                self.submitted += 1;
                let p: &[&str] = match providers {
                    0 => &["aws"],
                    1 => &["gcp"],
                    _ => &["aws", "gcp"],
                };
                // Gang size 0 stands for half of one GPU.
                let mut j = job(&format!("j{}", self.submitted))
                    .gpus(gpus.max(1))
                    .priority(priority)
                    .work(work)
                    .providers(p);
                if gpus == 0 {
                    j.0.gpu_milli = Some(500);
                }
                j.submit(self.submitted)
            }
            Step::Cancel(n) => Event::JobCancelled { job: n as u64 + 1 },
            Step::ScheduleTick => Event::ScheduleTick,
            Step::AutoscaleTick => Event::AutoscaleTick,
            Step::Answer { pick, choice } => match self.backend.answer(self.now, pick, choice) {
                Some(r) => backend(r),
                None => Event::ScheduleTick,
            },
            Step::Capacity {
                cluster,
                domains,
                online,
                cause,
            } => backend(Report::CapacityChanged {
                cluster: if cluster { C2 } else { C1 }.into(),
                domains: (0..4).filter(|d| domains & (1 << d) != 0).collect(),
                online,
                cause: CapacityCause::ALL[cause],
            }),
            Step::Demand { us, eu } => Event::DemandObserved {
                service: 0,
                rps_by_zone: vec![("us-east".into(), us), ("eu-west".into(), eu)],
            },
            Step::Unknown { job, attempt } => backend(Report::Unknown {
                run: run(job, attempt),
                cluster: C1.into(),
            }),
        })
    }
}

fn restore(log: &EventLog) -> Controller {
    let topo = topology();
    let index = CapacityIndex::all_online(&topo);
    Controller::restore(topo, index, policy(), 7, config(), log).unwrap()
}

/// What the controller's own bookkeeping must keep: a job holds GPUs
/// exactly while it holds a run, as many as its placement names, and the
/// scheduler holds at least those.
fn invariants(c: &Controller) -> Result<(), String> {
    let mut held = 0;
    for j in c.jobs() {
        let holds = j.state.holds_run();
        let placed = j.placement().map_or(0, |p| p.gpus());
        if holds != (j.alloc_gpus() > 0) || j.alloc_gpus() != placed {
            return Err(format!(
                "job {} is {:?} holding {} GPUs, placed on {placed}",
                j.id,
                j.state,
                j.alloc_gpus()
            ));
        }
        held += holds as usize;
    }
    let allocs = c.scheduler().allocs().count();
    if allocs < held {
        return Err(format!("{held} jobs hold runs on {allocs} allocations"));
    }
    Ok(())
}

/// What must be identical between the live controller and the restored one.
fn state(c: &Controller) -> String {
    format!(
        "{:?}\n{:?}\nallocs {} pending {} preemptions {}",
        c.jobs(),
        c.services(),
        c.scheduler().allocs().count(),
        c.pending(),
        c.preemptions()
    )
}

fn check(service: bool, steps: &[Step], cut: f64) -> Result<(), TestCaseError> {
    let mut live = new_controller();
    let mut log = EventLog::new(live.topology().epoch);
    let mut driver = Driver {
        now: T0,
        backend: Backend::default(),
        submitted: 0,
    };
    let cut = (cut * steps.len() as f64) as usize;
    let mut restored: Option<Controller> = None;
    // What happened, for the message of a failure.
    let mut transcript: Vec<String> = Vec::new();
    let first = service.then(|| Event::ServiceSubmitted {
        service: 0,
        spec: Box::new(chat_service()),
        headroom: 1.0,
    });
    for k in 0..=steps.len() {
        if k == cut + 1 && restored.is_none() {
            // Persist the prefix and read it back, as a store would.
            let json = serde_json::to_string(&log).unwrap();
            let back: EventLog = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(&back, &log);
            restored = Some(restore(&back));
            prop_assert_eq!(state(restored.as_ref().unwrap()), state(&live));
        }
        // Step 0 is the service's submission, if any.
        let ev = match k.checked_sub(1) {
            None => match &first {
                Some(e) => e.clone(),
                None => continue,
            },
            Some(i) => match driver.event(&steps[i]) {
                Some(e) => e,
                None => continue,
            },
        };
        let now = driver.now;
        let got = live.handle(now, ev.clone());
        log.entries.push(LogEntry {
            at_s: now,
            event: ev.clone(),
        });
        if let Some(r) = &mut restored {
            let again = r.handle(now, ev.clone());
            prop_assert_eq!(&again, &got, "event {:?} at {}", ev, now);
        }
        transcript.push(format!("{now} {ev:?}\n  -> {got:?}"));
        if let Err(e) = invariants(&live).and_then(|()| match &got {
            Ok(acts) => driver.backend.apply(now, acts),
            // A scheduler fault is a controller bug, never the caller's.
            Err(e @ ControlError::Sched(_)) => Err(format!("{e}")),
            Err(_) => Ok(()),
        }) {
            let from = transcript.len().saturating_sub(24);
            return Err(TestCaseError::fail(format!(
                "{e}\nlast events:\n{}",
                transcript[from..].join("\n")
            )));
        }
    }
    let r = match restored {
        Some(r) => r,
        None => restore(&log),
    };
    prop_assert_eq!(state(&r), state(&live));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn a_restored_controller_is_indistinguishable_from_the_live_one(
        service in any::<bool>(),
        steps in prop::collection::vec(step(), 1..160),
        cut in 0.0f64..=1.0,
    ) {
        check(service, &steps, cut)?;
    }
}
