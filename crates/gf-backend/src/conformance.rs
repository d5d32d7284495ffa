//! The Backend conformance suite: one set of checks that every backend
//! passes unchanged — dispatch and observe round trips, idempotent dispatch
//! and stop, refusal, a lost run, a run the controller does not know, the
//! runs listed for a restarted controller — in the way Quickwit's `metastore_test_suite!` runs one suite over every
//! metastore. A backend's tests provide a [`Harness`] (how to make time pass
//! and how to break things on that backend) and invoke
//! [`backend_conformance_suite!`](crate::backend_conformance_suite).

use std::future::Future;

use gf_model::protocol::{JobId, Report, RunId, RunSpec, ShrinkSpec, StopReason, StopSpec};

use crate::{Backend, BackendError};

/// What the suite needs of a backend under test beyond the trait.
pub trait Harness {
    /// The backend.
    type B: Backend;
    /// The backend under test.
    fn backend(&mut self) -> &mut Self::B;
    /// Now, seconds since the epoch, as the backend lives it.
    fn now(&self) -> i64;
    /// A run that starts and finishes within [`Harness::patience_s`].
    fn short_run(&self, job: JobId) -> RunSpec;
    /// A run still running after [`Harness::patience_s`].
    fn long_run(&self, job: JobId) -> RunSpec;
    /// A run the backend must refuse (hosts it does not have).
    fn impossible_run(&self, job: JobId) -> RunSpec;
    /// Lets about `s` seconds pass, virtual or real.
    fn wait(&mut self, s: i64) -> impl Future<Output = ()>;
    /// Makes a running run vanish without a capacity report (its hosts
    /// rebooted, the engine lost it).
    fn lose(&mut self, run: RunId) -> impl Future<Output = ()>;
    /// Starts a run tagged as gigafleet's behind the controller's back.
    fn foreign(&mut self, run: &RunSpec) -> impl Future<Output = ()>;
    /// Seconds within which a report is expected.
    fn patience_s(&self) -> i64;
}

/// Observes until a report satisfies `want`, collecting everything seen;
/// an error once patience runs out.
async fn until<H: Harness>(
    h: &mut H,
    seen: &mut Vec<Report>,
    what: &str,
    want: impl Fn(&Report) -> bool,
) -> Result<(), String> {
    let step = (h.patience_s() / 50).max(1);
    let deadline = h.now() + h.patience_s();
    loop {
        let now = h.now();
        let got = h
            .backend()
            .observe(now)
            .await
            .map_err(|e| format!("observe failed: {e}"))?;
        let hit = got.iter().any(&want);
        seen.extend(got);
        if hit {
            return Ok(());
        }
        if h.now() >= deadline {
            return Err(format!(
                "no {what} report within {} s; saw {seen:?}",
                h.patience_s()
            ));
        }
        h.wait(step).await;
    }
}

fn is_started(run: RunId) -> impl Fn(&Report) -> bool {
    move |r| matches!(r, Report::Started { run: x } if *x == run)
}

/// Dispatches a run the backend can hold and waits for it to be reported
/// started; returns every report seen on the way.
async fn start<H: Harness>(h: &mut H, spec: &RunSpec) -> Result<Vec<Report>, String> {
    let now = h.now();
    h.backend()
        .dispatch(now, spec)
        .await
        .map_err(|e| format!("dispatch refused a run it can hold: {e}"))?;
    let mut seen = Vec::new();
    until(h, &mut seen, "started", is_started(spec.run)).await?;
    Ok(seen)
}

/// A run dispatched is reported started, then finished.
pub async fn dispatch_start_finish<H: Harness>(h: &mut H) -> Result<(), String> {
    let spec = h.short_run(101);
    let mut seen = start(h, &spec).await?;
    until(
        h,
        &mut seen,
        "finished",
        |r| matches!(r, Report::Finished { run } if *run == spec.run),
    )
    .await
}

/// Dispatching the same run twice starts it once.
pub async fn dispatch_is_idempotent<H: Harness>(h: &mut H) -> Result<(), String> {
    let spec = h.short_run(102);
    let now = h.now();
    h.backend()
        .dispatch(now, &spec)
        .await
        .map_err(|e| e.to_string())?;
    h.backend()
        .dispatch(now, &spec)
        .await
        .map_err(|e| format!("a repeated dispatch must be accepted, not {e}"))?;
    let mut seen = Vec::new();
    until(
        h,
        &mut seen,
        "finished",
        |r| matches!(r, Report::Finished { run } if *run == spec.run),
    )
    .await?;
    let started = seen.iter().filter(|r| is_started(spec.run)(r)).count();
    if started != 1 {
        return Err(format!("run reported started {started} times: {seen:?}"));
    }
    Ok(())
}

/// A run the backend cannot hold is refused, at once or by a report.
pub async fn refusal<H: Harness>(h: &mut H) -> Result<(), String> {
    let spec = h.impossible_run(103);
    let now = h.now();
    match h.backend().dispatch(now, &spec).await {
        Err(BackendError::Refused(_) | BackendError::UnknownCluster(_)) => Ok(()),
        Err(e) => Err(format!("an impossible run should be refused, not {e}")),
        Ok(()) => {
            let mut seen = Vec::new();
            until(
                h,
                &mut seen,
                "refused",
                |r| matches!(r, Report::Refused { run, .. } if *run == spec.run),
            )
            .await
        }
    }
}

/// A stop takes effect and is reported; the run does not finish after it.
pub async fn stop_round_trip<H: Harness>(h: &mut H) -> Result<(), String> {
    let spec = h.long_run(104);
    let mut seen = start(h, &spec).await?;
    let stop = StopSpec {
        run: spec.run,
        reason: StopReason::Preempt,
        grace_s: 0,
    };
    let now = h.now();
    h.backend()
        .stop(now, &stop)
        .await
        .map_err(|e| format!("stop failed: {e}"))?;
    until(
        h,
        &mut seen,
        "stopped",
        |r| matches!(r, Report::Stopped { run, .. } if *run == spec.run),
    )
    .await?;
    if seen
        .iter()
        .any(|r| matches!(r, Report::Finished { run } if *run == spec.run))
    {
        return Err(format!("a stopped run reported finished: {seen:?}"));
    }
    Ok(())
}

/// Stopping twice, or stopping a run never dispatched, is fine.
pub async fn stop_is_idempotent<H: Harness>(h: &mut H) -> Result<(), String> {
    let spec = h.long_run(105);
    let mut seen = start(h, &spec).await?;
    let stop = StopSpec {
        run: spec.run,
        reason: StopReason::Cancel,
        grace_s: 0,
    };
    let now = h.now();
    h.backend()
        .stop(now, &stop)
        .await
        .map_err(|e| e.to_string())?;
    h.backend()
        .stop(now, &stop)
        .await
        .map_err(|e| format!("a second stop must succeed, not {e}"))?;
    let never = StopSpec {
        run: RunId {
            job: 999_999,
            attempt: 1,
        },
        ..stop
    };
    h.backend()
        .stop(now, &never)
        .await
        .map_err(|e| format!("stopping an unknown run must succeed, not {e}"))?;
    until(
        h,
        &mut seen,
        "stopped",
        |r| matches!(r, Report::Stopped { run, .. } if *run == spec.run),
    )
    .await?;
    let stops = seen
        .iter()
        .filter(|r| matches!(r, Report::Stopped { run, .. } if *run == spec.run))
        .count();
    if stops != 1 {
        return Err(format!("one run reported stopped {stops} times"));
    }
    Ok(())
}

/// Shrinking a replica set the backend does not have is fine and changes
/// nothing it runs.
pub async fn shrink_is_idempotent<H: Harness>(h: &mut H) -> Result<(), String> {
    let spec = h.long_run(110);
    start(h, &spec).await?;
    let now = h.now();
    let never = ShrinkSpec {
        run: RunId {
            job: 999_998,
            attempt: 1,
        },
        domains: spec.placement.domains.clone(),
    };
    for step in ["first", "second"] {
        h.backend()
            .shrink(now, &never)
            .await
            .map_err(|e| format!("the {step} shrink of an unknown run must succeed, not {e}"))?;
    }
    let runs = listed(h, "after a shrink of an unknown run").await?;
    if !runs.contains(&spec.run) {
        return Err(format!(
            "run {} is no longer listed after a shrink of another run",
            spec.run
        ));
    }
    Ok(())
}

/// A run whose hosts vanish is reported lost.
pub async fn lost_run<H: Harness>(h: &mut H) -> Result<(), String> {
    let spec = h.long_run(106);
    let mut seen = start(h, &spec).await?;
    h.lose(spec.run).await;
    until(
        h,
        &mut seen,
        "lost",
        |r| matches!(r, Report::Lost { run, .. } if *run == spec.run),
    )
    .await
}

/// A tagged run the controller never dispatched is reported as unknown.
pub async fn unknown_run<H: Harness>(h: &mut H) -> Result<(), String> {
    let spec = h.long_run(107);
    h.foreign(&spec).await;
    let mut seen = Vec::new();
    until(
        h,
        &mut seen,
        "unknown",
        |r| matches!(r, Report::Unknown { run, .. } if *run == spec.run),
    )
    .await
}

/// The runs the backend lists, or an error naming the step.
async fn listed<H: Harness>(h: &mut H, step: &str) -> Result<Vec<RunId>, String> {
    let now = h.now();
    h.backend()
        .runs(now)
        .await
        .map_err(|e| format!("runs failed {step}: {e}"))
}

/// Stops a run at once and waits for the stop to be reported.
async fn stop_now<H: Harness>(h: &mut H, run: RunId, seen: &mut Vec<Report>) -> Result<(), String> {
    let stop = StopSpec {
        run,
        reason: StopReason::Release,
        grace_s: 0,
    };
    let now = h.now();
    h.backend()
        .stop(now, &stop)
        .await
        .map_err(|e| format!("stop of {run} failed: {e}"))?;
    until(
        h,
        seen,
        "stopped",
        move |r| matches!(r, Report::Stopped { run: x, .. } if *x == run),
    )
    .await
}

/// `runs` lists what runs, dispatched or not (what a restarted controller
/// reconciles against), and forgets a run once its end is reported; a
/// listed run the controller never dispatched can be stopped.
pub async fn runs_lists_live_runs<H: Harness>(h: &mut H) -> Result<(), String> {
    let mine = h.long_run(108);
    let mut seen = start(h, &mine).await?;
    let theirs = h.long_run(109);
    h.foreign(&theirs).await;
    let runs = listed(h, "with two runs running").await?;
    for (what, run) in [("a dispatched", mine.run), ("a foreign", theirs.run)] {
        if !runs.contains(&run) {
            return Err(format!("{what} running run {run} is not listed: {runs:?}"));
        }
    }
    if !runs.is_sorted() {
        return Err(format!("runs are not in run order: {runs:?}"));
    }
    for run in [mine.run, theirs.run] {
        stop_now(h, run, &mut seen).await?;
        let runs = listed(h, "after a stop was reported").await?;
        if runs.contains(&run) {
            return Err(format!(
                "run {run} still listed after its stop was reported: {runs:?}"
            ));
        }
    }
    Ok(())
}

/// The backend lists the clusters it serves as reachable, with capacity.
pub async fn capacity_lists_clusters<H: Harness>(h: &mut H) -> Result<(), String> {
    let now = h.now();
    let caps = h
        .backend()
        .capacity(now)
        .await
        .map_err(|e| format!("capacity failed: {e}"))?;
    if caps.is_empty() {
        return Err("no clusters listed".into());
    }
    if let Some(c) = caps
        .iter()
        .find(|c| !c.reachable || c.online.is_empty() || c.domain_gpus == 0)
    {
        return Err(format!("cluster listed without capacity: {c:?}"));
    }
    Ok(())
}

/// Generates one `#[test]` per conformance check. `$make` builds a fresh
/// [`Harness`]; `$drive` runs a future to completion (`gf_backend::ready`
/// followed by `unwrap` for a backend that never waits, a runtime's
/// `block_on` for one that does).
#[macro_export]
macro_rules! backend_conformance_suite {
    ($make:expr, $drive:expr) => {
        $crate::backend_conformance_suite!(@tests $make, $drive;
            dispatch_start_finish, dispatch_is_idempotent, refusal, stop_round_trip,
            stop_is_idempotent, shrink_is_idempotent, lost_run, unknown_run,
            capacity_lists_clusters, runs_lists_live_runs);
    };
    (@tests $make:expr, $drive:expr; $($name:ident),*) => {
        $(
            #[test]
            fn $name() {
                let mut h = $make;
                let r: Result<(), String> = $drive($crate::conformance::$name(&mut h));
                if let Err(e) = r {
                    panic!("conformance check {} failed: {e}", stringify!($name));
                }
            }
        )*
    };
}
