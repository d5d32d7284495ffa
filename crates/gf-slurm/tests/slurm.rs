//! The Slurm backend against the two real clusters, beyond the conformance
//! suite: a real batch script runs where it was placed and writes its output
//! file; a stop gives the job its grace; what Slurm can never run is
//! refused; a failing script is a software failure; a crash between submit
//! and record is healed by the tag; a host that stops answering loses its
//! run and its domain; nodes that stay down show in capacity;
//! slurmctld stopped makes every call unavailable (never lost) and,
//! restarted, runs nothing twice; slurmctld killed (SIGKILL) and restarted
//! from an older state is caught running a job again and kept to one run.

mod common;

use std::collections::BTreeMap;

use common::{Id, command, drive, job, jobs_tagged, now, ok, run_on};
use gf_backend::{Backend, BackendError};
use gf_model::ExecSpec;
use gf_model::protocol::{
    CapacityCause, FailureCategory, Report, RunId, RunSpec, StopReason, StopSpec,
};
use gf_slurm::{SlurmBackend, SlurmError};
use gf_slurm_test::script;

/// Observes until a report satisfies `want` (at most `s` seconds),
/// returning every report seen.
async fn until(
    b: &mut SlurmBackend,
    s: i64,
    what: &str,
    want: impl Fn(&Report) -> bool,
) -> Vec<Report> {
    let end = now() + s;
    let mut seen = Vec::new();
    loop {
        let got = b.observe(now()).await.expect("observe");
        let hit = got.iter().any(&want);
        seen.extend(got);
        if hit {
            return seen;
        }
        assert!(now() < end, "no {what} within {s} s; saw {seen:?}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

fn started(run: RunId) -> impl Fn(&Report) -> bool {
    move |r| matches!(r, Report::Started { run: x } if *x == run)
}

fn stop(run: RunId, grace_s: i64) -> StopSpec {
    StopSpec {
        run,
        reason: StopReason::Cancel,
        grace_s,
    }
}

fn count(seen: &[Report], f: impl Fn(&Report) -> bool) -> usize {
    seen.iter().filter(|r| f(r)).count()
}

#[test]
fn a_batch_script_runs_on_its_nodes_and_writes_its_output() {
    let id = Id::B;
    let _held = common::lock(id);
    common::reset(id);
    let spec_run = RunId {
        job: job(1),
        attempt: 1,
    };
    let out = format!("{}/{}.out", id.workdir(), gf_slurm::tag::tag(spec_run));
    let _ = std::fs::remove_file(&out);
    let exec = ExecSpec {
        script: Some(
            "#!/bin/sh\necho \"$GREETING from $GF_RUN gpus=$CUDA_VISIBLE_DEVICES nodes=$SLURM_JOB_NODELIST\"\n"
                .into(),
        ),
        env: BTreeMap::from([("GREETING".to_string(), "hello".to_string())]),
        workdir: Some(id.workdir()),
        output: Some(out.clone()),
        ..ExecSpec::default()
    };
    // Domain 1 of cluster b is its nodes 3 and 4.
    let spec = run_on(id, spec_run.job, &[1], exec);
    drive(async {
        let mut b = common::backend(id);
        b.dispatch(now(), &spec).await.expect("dispatch");
        let seen = until(
            &mut b,
            30,
            "finished",
            |r| matches!(r, Report::Finished { run } if *run == spec.run),
        )
        .await;
        assert_eq!(count(&seen, started(spec.run)), 1, "{seen:?}");
    });
    let text = std::fs::read_to_string(&out).expect("the job wrote its output file");
    assert_eq!(
        text.trim(),
        format!(
            "hello from {} gpus=0,1,2,3 nodes=gfb-[3-4]",
            gf_slurm::tag::tag(spec_run)
        )
    );
}

#[test]
fn a_failing_script_is_a_software_failure() {
    let id = Id::B;
    let _held = common::lock(id);
    common::reset(id);
    let spec = run_on(id, job(2), &[0], command("exit 3"));
    drive(async {
        let mut b = common::backend(id);
        b.dispatch(now(), &spec).await.expect("dispatch");
        until(&mut b, 30, "failed", |r| {
            matches!(r, Report::Failed { run, category: FailureCategory::Software, .. } if *run == spec.run)
        })
        .await;
    });
}

#[test]
fn a_stop_gives_the_job_its_grace() {
    let id = Id::B;
    let _held = common::lock(id);
    common::reset(id);
    let saved = format!("{}/saved-{}", id.workdir(), job(3));
    let ready = format!("{}/ready-{}", id.workdir(), job(3));
    let _ = std::fs::remove_file(&saved);
    // It says when its trap is set: a SIGTERM while Slurm still launches
    // the batch step fails the launch instead.
    let script =
        format!("trap 'echo saved > {saved}; exit 0' TERM; touch {ready}; sleep 120 & wait");
    let spec = run_on(id, job(3), &[0], command(&script));
    drive(async {
        let mut b = common::backend(id);
        b.dispatch(now(), &spec).await.expect("dispatch");
        until(&mut b, 30, "started", started(spec.run)).await;
        common::poll(30, "the script to set its trap", || {
            std::path::Path::new(&ready).exists()
        });
        let asked = now();
        b.stop(now(), &stop(spec.run, 60)).await.expect("stop");
        let seen = until(
            &mut b,
            30,
            "stopped",
            |r| matches!(r, Report::Stopped { run, .. } if *run == spec.run),
        )
        .await;
        // It saved and exited on SIGTERM, well before the grace ran out.
        assert!(now() - asked < 30);
        assert!(
            !seen.iter().any(|r| matches!(r, Report::Finished { .. })),
            "{seen:?}"
        );
    });
    assert_eq!(std::fs::read_to_string(&saved).unwrap().trim(), "saved");
    assert_eq!(jobs_tagged(id, spec.run), 0);
}

#[test]
fn a_pending_run_stops_at_once_whatever_its_grace() {
    let id = Id::B;
    let _held = common::lock(id);
    common::reset(id);
    let holder = run_on(id, job(13), &[0], command("sleep 120"));
    let waiting = run_on(id, job(14), &[0], command("sleep 120"));
    drive(async {
        let mut b = common::backend(id);
        b.dispatch(now(), &holder).await.expect("dispatch");
        until(&mut b, 30, "started", started(holder.run)).await;
        b.dispatch(now(), &waiting).await.expect("dispatch");
        // Slurm refuses a signal to a pending job (2020); it has nothing to
        // save, so it is cancelled.
        b.stop(now(), &stop(waiting.run, 60))
            .await
            .expect("stop of a pending run");
        let seen = until(
            &mut b,
            10,
            "stopped",
            |r| matches!(r, Report::Stopped { run, .. } if *run == waiting.run),
        )
        .await;
        assert_eq!(count(&seen, started(waiting.run)), 0, "{seen:?}");
        b.stop(now(), &stop(holder.run, 0)).await.expect("stop");
    });
}

#[test]
fn what_slurm_can_never_run_is_refused_and_the_mapping_check_says_why() {
    let id = Id::A;
    let _held = common::lock(id);
    common::reset(id);
    // This fleet file says 8 GPUs per node; Slurm's nodes have 4.
    let mut b = common::backend_with(&[id], 8);
    let spec = run_on(id, job(4), &[0], command("true"));
    let spec = RunSpec {
        placement: gf_model::protocol::RunPlacement {
            domains: vec![gf_model::protocol::DomainSlot {
                index: 0,
                gpus: 8,
                spare: false,
            }],
            ..spec.placement
        },
        ..spec
    };
    drive(async {
        for _ in 0..2 {
            // Slurm answers 2014 and still takes a job number; the second
            // dispatch does not take that job for the run.
            match b.dispatch(now(), &spec).await {
                Err(BackendError::Refused(m)) => {
                    assert!(m.contains("node configuration is not available"), "{m}")
                }
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
        let problems = b.check(now()).await.unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(matches!(&problems[0], SlurmError::Mapping { message, .. }
            if message.contains("has 4 GPUs in its GRES, the mapping gives it 8")));
        common::backend(id)
            .check(now())
            .await
            .expect("the true mapping checks");
    });
}

#[test]
fn a_crash_between_submit_and_record_is_healed_by_the_tag() {
    let id = Id::A;
    let _held = common::lock(id);
    common::reset(id);
    let spec = run_on(id, job(5), &[1], command("sleep 120"));
    drive(async {
        let mut before = common::backend(id);
        before.dispatch(now(), &spec).await.expect("dispatch");
        // The server dies before recording the dispatch; a new one starts.
        drop(before);
        let mut after = common::backend(id);
        let runs = after.runs(now()).await.expect("runs");
        assert!(runs.contains(&spec.run), "{runs:?}");
        after.dispatch(now(), &spec).await.expect("re-dispatch");
        assert_eq!(jobs_tagged(id, spec.run), 1, "submitted twice");
        let seen = until(&mut after, 30, "started", started(spec.run)).await;
        assert!(
            !seen.iter().any(|r| matches!(r, Report::Unknown { .. })),
            "an adopted run is no stranger: {seen:?}"
        );
        after.stop(now(), &stop(spec.run, 0)).await.expect("stop");
    });
}

#[test]
fn a_run_that_ended_while_no_server_watched_is_adopted_with_its_end() {
    let id = Id::B;
    let _held = common::lock(id);
    common::reset(id);
    let spec = run_on(id, job(12), &[1], command("sleep 1"));
    let name = gf_slurm::tag::tag(spec.run);
    drive(async {
        let mut before = common::backend(id);
        before.dispatch(now(), &spec).await.expect("dispatch");
        drop(before);
        common::poll(30, "the job to complete", || {
            let mut c = id.cmd("squeue");
            c.args(["-h", "-t", "CD", "-n", &name, "-o", "%i"]);
            !ok(c).trim().is_empty()
        });
        let mut after = common::backend(id);
        let runs = after.runs(now()).await.expect("runs");
        assert!(runs.contains(&spec.run), "{runs:?}");
        after.dispatch(now(), &spec).await.expect("adopt");
        let seen = until(
            &mut after,
            30,
            "finished",
            |r| matches!(r, Report::Finished { run } if *run == spec.run),
        )
        .await;
        assert_eq!(count(&seen, started(spec.run)), 1, "{seen:?}");
        let runs = after.runs(now()).await.expect("runs");
        assert!(
            !runs.contains(&spec.run),
            "reported ended, still listed: {runs:?}"
        );
    });
    let mut c = id.cmd("squeue");
    c.args(["-h", "-t", "all", "-n", &name, "-o", "%i"]);
    assert_eq!(ok(c).lines().count(), 1, "submitted twice");
}

#[test]
fn another_users_job_is_never_gigafleets_whatever_its_name() {
    let id = Id::B;
    let _held = common::lock(id);
    common::reset(id);
    let run = RunId {
        job: job(16),
        attempt: 1,
    };
    let name = gf_slurm::tag::tag(run);
    // root's job, named like a gigafleet run.
    let mut c = id.cmd("sbatch");
    c.args([
        "--parsable",
        "-J",
        &name,
        "-D",
        "/tmp",
        "-o",
        "/dev/null",
        "--wrap",
        "sleep 60",
    ]);
    let slurm_id = ok(c).trim().to_string();
    // Cancelled however the test ends: it is not the test user's, so no
    // reset would.
    struct Cancel(Id, String);
    impl Drop for Cancel {
        fn drop(&mut self) {
            let mut c = self.0.cmd("scancel");
            c.arg(&self.1);
            let _ = c.output();
        }
    }
    let _cancel = Cancel(id, slurm_id.clone());
    drive(async {
        let mut b = common::backend(id);
        let seen = b.observe(now()).await.expect("observe");
        assert!(!seen.iter().any(|r| r.run() == Some(run)), "{seen:?}");
        let runs = b.runs(now()).await.expect("runs");
        assert!(!runs.contains(&run), "{runs:?}");
        b.stop(now(), &stop(run, 0)).await.expect("stop");
    });
    let mut c = id.cmd("squeue");
    c.args(["-h", "-j", &slurm_id, "-o", "%T"]);
    let state = ok(c);
    assert!(
        ["PENDING", "RUNNING"].contains(&state.trim()),
        "gigafleet stopped another user's job: {state}"
    );
}

#[test]
fn an_expired_token_is_named_and_a_renewed_token_file_is_picked_up() {
    let id = Id::B;
    let _held = common::lock(id);
    let path = std::env::temp_dir().join(format!("gf-slurm-token-{}", job(11)));
    // What `scontrol token` prints, as a cron job would write it.
    std::fs::write(&path, common::token(id, 1)).unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let mut b = common::backend_with_token(id, gf_slurm::TokenSource::File(path.clone()));
    drive(async {
        match b.observe(now()).await {
            Err(BackendError::Unavailable(m)) => assert!(
                m.contains("expired") && m.contains(&path.display().to_string()),
                "{m}"
            ),
            other => panic!("an expired token must be named, got {other:?}"),
        }
        std::fs::write(&path, common::token(id, 600)).unwrap();
        b.observe(now()).await.expect("the renewed token is used");
    });
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn nodes_that_stay_down_are_reported_and_left_out_of_capacity() {
    let id = Id::A;
    let _held = common::lock(id);
    common::reset(id);
    drive(async {
        let mut b = common::backend(id);
        b.observe(now()).await.expect("observe");
        let mut c = id.cmd("scontrol");
        c.args([
            "update",
            "nodename=gfa-3",
            "state=drain",
            "reason=gigafleet-test",
        ]);
        ok(c);
        until(&mut b, 30, "domain 2 offline", |r| {
            matches!(r, Report::CapacityChanged { domains, online: false, cause: CapacityCause::DomainFailure, .. } if domains == &[2])
        })
        .await;
        let caps = b.capacity(now()).await.expect("capacity");
        assert_eq!(caps[0].online, [0, 1, 3]);
        let mut c = id.cmd("scontrol");
        c.args(["update", "nodename=gfa-3", "state=resume"]);
        ok(c);
        until(&mut b, 30, "domain 2 back", |r| {
            matches!(r, Report::CapacityChanged { domains, online: true, cause: CapacityCause::Repair, .. } if domains == &[2])
        })
        .await;
    });
}

#[test]
fn a_host_that_stops_answering_loses_its_run_and_its_domain() {
    let id = Id::B;
    let _held = common::lock(id);
    common::reset(id);
    // Domain 1 of cluster b is nodes gfb-3 and gfb-4; gfb-4's slurmd dies.
    let spec = run_on(id, job(15), &[1], command("sleep 120"));
    drive(async {
        let mut b = common::backend(id);
        b.dispatch(now(), &spec).await.expect("dispatch");
        let mut seen = until(&mut b, 30, "started", started(spec.run)).await;
        script("slurm-node.sh", &["b", "gfb-4", "stop"]);
        // slurmctld notices after SlurmdTimeout (10 s here).
        seen.extend(
            until(&mut b, 60, "domain 1 offline", |r| {
                matches!(r, Report::CapacityChanged { domains, online: false, .. } if domains == &[1])
            })
            .await,
        );
        let caps = b.capacity(now()).await.expect("capacity");
        assert_eq!(caps[0].online, [0], "{caps:?}");
        if !seen
            .iter()
            .any(|r| matches!(r, Report::Lost { run, .. } if *run == spec.run))
        {
            until(
                &mut b,
                30,
                "lost",
                |r| matches!(r, Report::Lost { run, .. } if *run == spec.run),
            )
            .await;
        }
        script("slurm-node.sh", &["b", "gfb-4", "start"]);
        until(&mut b, 60, "domain 1 back", |r| {
            matches!(r, Report::CapacityChanged { domains, online: true, cause: CapacityCause::Repair, .. } if domains == &[1])
        })
        .await;
    });
}

#[test]
fn slurmctld_down_is_unavailable_not_lost_and_nothing_runs_twice_after() {
    // One backend serves both clusters, as a server with two Slurm regions;
    // a's slurmctld goes down, b carries on.
    let _a = common::lock(Id::A);
    let _b = common::lock(Id::B);
    common::reset(Id::A);
    common::reset(Id::B);
    let spec = run_on(Id::A, job(6), &[0], command("sleep 120"));
    let other = run_on(Id::A, job(7), &[1], command("sleep 120"));
    let on_b = run_on(Id::B, job(10), &[0], command("sleep 120"));
    let mut seen = Vec::new();
    drive(async {
        let mut b = common::backend_with(&[Id::A, Id::B], 4);
        b.dispatch(now(), &spec).await.expect("dispatch");
        seen.extend(until(&mut b, 30, "started", started(spec.run)).await);
        Id::A.ctld("stop");
        let unavailable = |r: Result<(), BackendError>, what: &str| match r {
            Err(BackendError::Unavailable(_)) => {}
            other => panic!("{what} with slurmctld down: expected unavailable, got {other:?}"),
        };
        unavailable(
            common::backend(Id::A).observe(now()).await.map(drop),
            "observe of a alone",
        );
        unavailable(b.dispatch(now(), &other).await, "dispatch");
        unavailable(b.stop(now(), &stop(spec.run, 0)).await, "stop");
        unavailable(b.runs(now()).await.map(drop), "runs");
        let caps = b.capacity(now()).await.expect("capacity answers");
        assert!(!caps[0].reachable && caps[0].online.is_empty(), "{caps:?}");
        assert!(caps[1].reachable && caps[1].online == [0, 1], "{caps:?}");
        // b is not held up: its run starts and is reported while a is down.
        b.dispatch(now(), &on_b).await.expect("dispatch on b");
        seen.extend(until(&mut b, 60, "started on b", started(on_b.run)).await);
        Id::A.ctld("start");
        // Back: the run still runs, once; a dispatch of it (a controller
        // that restarted meanwhile) submits nothing.
        let mut fresh = common::backend(Id::A);
        fresh.dispatch(now(), &spec).await.expect("re-dispatch");
        assert_eq!(jobs_tagged(Id::A, spec.run), 1);
        for _ in 0..4 {
            seen.extend(b.observe(now()).await.expect("observe after restart"));
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        assert!(
            !seen.iter().any(|r| r.ends_run()),
            "nothing ended, nothing was lost: {seen:?}"
        );
        assert_eq!(count(&seen, started(spec.run)), 1, "{seen:?}");
        // b refuses a's calls until one of its observations reaches a
        // again, and a slurmctld slow to come back (on a loaded machine)
        // can outlast the loop above and put a's next probe 5 s away: a
        // controller retries what was refused as unavailable, and so does
        // this, observing in between, for a bounded time.
        for run in [spec.run, on_b.run] {
            let end = now() + 60;
            loop {
                match b.stop(now(), &stop(run, 0)).await {
                    Ok(()) => break,
                    Err(BackendError::Unavailable(why)) => {
                        assert!(now() < end, "stop still refused after 60 s: {why}");
                        b.observe(now()).await.expect("observe while a comes back");
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    }
                    Err(e) => panic!("stop: {e:?}"),
                }
            }
        }
    });
}

#[test]
fn slurmctld_killed_and_restarted_from_an_old_state_keeps_one_run() {
    let id = Id::A;
    let _held = common::lock(id);
    common::reset(id);
    // `first` holds domain 3 while `second` waits for it, long enough for
    // slurmctld to save its state with `second` pending; `first` is then
    // stopped and `second` starts; slurmctld is killed at once, before it
    // saves again, and restarts from the older state.
    let first = run_on(id, job(8), &[3], command("sleep 120"));
    let second = run_on(id, job(9), &[3], command("sleep 120"));
    let mut seen = Vec::new();
    let mut first_back = false;
    drive(async {
        let mut b = common::backend(id);
        b.dispatch(now(), &first).await.expect("dispatch first");
        seen.extend(until(&mut b, 30, "first started", started(first.run)).await);
        b.dispatch(now(), &second).await.expect("dispatch second");
        tokio::time::sleep(std::time::Duration::from_secs(4)).await;
        b.stop(now(), &stop(first.run, 0))
            .await
            .expect("stop first");
        seen.extend(until(&mut b, 30, "second started", started(second.run)).await);
        id.ctld("kill");
        id.ctld("start");
        // Slurm may run `first` again (it ended) and forget `second`;
        // whatever it does, gigafleet keeps at most one run of each.
        let end = now() + 8;
        while now() < end {
            // Slurm's view before gigafleet acts on it.
            first_back |= jobs_tagged(id, first.run) > 0;
            match b.observe(now()).await {
                Ok(r) => seen.extend(r),
                Err(BackendError::Unavailable(_)) => {}
                Err(e) => panic!("observe: {e}"),
            }
            for run in [first.run, second.run] {
                assert!(jobs_tagged(id, run) <= 1, "two jobs of {run}: {seen:?}");
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
    });
    // Which way Slurm went depends on when it last saved its state.
    eprintln!(
        "after the SIGKILL: {seen:?}; the stopped run came back: {first_back}; active: {:?}",
        common::active_jobs(id)
    );
    for run in [first.run, second.run] {
        assert!(
            count(&seen, started(run)) <= 1,
            "{run} started twice: {seen:?}"
        );
    }
    // `first` was stopped: nothing of it runs. `second` runs once, or was
    // reported lost and runs nowhere.
    assert_eq!(jobs_tagged(id, first.run), 0, "{seen:?}");
    let second_over = seen
        .iter()
        .any(|r| r.run() == Some(second.run) && r.ends_run());
    assert_eq!(
        jobs_tagged(id, second.run),
        usize::from(!second_over),
        "{seen:?}"
    );
}
