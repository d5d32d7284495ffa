//! gf-backend's conformance suite, unchanged, against each of the two real
//! Slurm clusters scripts/slurm-up.sh starts: the Slurm backend is a backend
//! like the simulated world, held to the same checks.
//!
//! Each check holds its cluster (the checks of one cluster run one after
//! another, the two clusters side by side) and starts from a cluster with no
//! job of the test user and every node idle.

mod common;

use std::sync::MutexGuard;
use std::time::Duration;

use common::{Id, command, job, now, run_on};
use gf_backend::Backend;
use gf_backend::conformance::Harness;
use gf_model::protocol::{RunId, RunSpec};
use gf_slurm::SlurmBackend;

struct Slurm {
    id: Id,
    b: SlurmBackend,
    /// Another gigafleet (a crashed one's leftovers): starts foreign runs.
    other: SlurmBackend,
    _held: MutexGuard<'static, ()>,
}

fn make(id: Id) -> Slurm {
    let held = common::lock(id);
    common::reset(id);
    Slurm {
        id,
        b: common::backend(id),
        other: common::backend(id),
        _held: held,
    }
}

impl Drop for Slurm {
    fn drop(&mut self) {
        // Long runs a check leaves (a foreign one, a lost one's node) are
        // not the next check's business; it waits for them in `reset`.
        let mut c = self.id.cmd("scancel");
        c.args(["-u", &self.id.user()]);
        let _ = c.output();
    }
}

impl Harness for Slurm {
    type B = SlurmBackend;

    fn backend(&mut self) -> &mut SlurmBackend {
        &mut self.b
    }

    fn now(&self) -> i64 {
        now()
    }

    fn short_run(&self, n: u64) -> RunSpec {
        run_on(self.id, job(n), &[0], command("sleep 1"))
    }

    fn long_run(&self, n: u64) -> RunSpec {
        // A domain by job, so that two long runs of one check both fit.
        let d = (n % u64::from(self.id.domains())) as u32;
        run_on(self.id, job(n), &[d], command("sleep 120"))
    }

    fn impossible_run(&self, n: u64) -> RunSpec {
        run_on(self.id, job(n), &[99], command("true"))
    }

    async fn wait(&mut self, s: i64) {
        tokio::time::sleep(Duration::from_secs(s as u64)).await;
    }

    async fn lose(&mut self, run: RunId) {
        // Its node goes down under it, as a host that reboots: Slurm ends
        // the job NODE_FAIL (and, with ReturnToService=2, takes the node
        // back once its slurmd answers).
        let mut c = self.id.cmd("squeue");
        c.args(["-h", "-n", &gf_slurm::tag::tag(run), "-o", "%N"]);
        let nodes = common::ok(c);
        let nodes = nodes.trim();
        assert!(!nodes.is_empty(), "run {run} runs on no node");
        let mut c = self.id.cmd("scontrol");
        c.args([
            "update",
            &format!("nodename={nodes}"),
            "state=down",
            "reason=gigafleet-test-lose",
        ]);
        common::ok(c);
    }

    async fn foreign(&mut self, run: &RunSpec) {
        self.other
            .dispatch(now(), run)
            .await
            .expect("the other gigafleet starts its run");
    }

    fn patience_s(&self) -> i64 {
        30
    }
}

mod a {
    use super::*;
    gf_backend::backend_conformance_suite!(make(Id::A), common::drive);
}

mod b {
    use super::*;
    gf_backend::backend_conformance_suite!(make(Id::B), common::drive);
}
