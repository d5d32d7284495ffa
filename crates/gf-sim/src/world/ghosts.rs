//! Restart in place: an interrupted training run's ghost. A gang that loses
//! one of its hundreds of NVLink domains (or crashes with its hardware
//! intact) is usually restarted at once on the same domains, less the lost
//! one, plus a spare. Ending the run frees every domain and the restart
//! takes them all again: two touches of each of up to 911 domains for a
//! change of two. Instead the ended run stays listed on its domains as a
//! ghost until the world's next step; the restart dispatched in its place
//! takes over the domains it keeps untouched and moves only the rest, and
//! whatever no restart took is freed at the next step. Nothing but the
//! restart sees a ghost: lookups of live runs skip it, and a dispatch or an
//! outage that needs one of its domains evicts it from that domain.

use gf_model::protocol::{JobId, RunId};
use gf_sched::DomainOrd;

use super::{SimRun, SimWorld, Slot};

impl SimWorld {
    /// The slot of the live run `run`, if the world has it.
    pub(super) fn live_slot(&self, run: RunId) -> Option<Slot> {
        let s = self.runs.slot(run.job)?;
        self.runs
            .at(s)
            .filter(|r| r.attempt == run.attempt && !r.ghost)
            .map(|_| s)
    }

    /// The live run `run`, if the world has it.
    pub(super) fn run(&self, run: RunId) -> Option<&SimRun> {
        self.runs
            .get(run.job)
            .filter(|r| r.attempt == run.attempt && !r.ghost)
    }

    /// The live run `run`, to change.
    pub(super) fn run_mut(&mut self, run: RunId) -> Option<&mut SimRun> {
        self.runs
            .get_mut(run.job)
            .filter(|r| r.attempt == run.attempt && !r.ghost)
    }

    /// The live run in slot `s` (one a domain lists).
    pub(super) fn listed(&self, s: Slot) -> Option<RunId> {
        self.runs.at(s).filter(|r| !r.ghost).map(|r| RunId {
            job: r.job,
            attempt: r.attempt,
        })
    }

    /// Frees the domains of every ghost no restart took over.
    pub(super) fn sweep_ghosts(&mut self) {
        while let Some(job) = self.ghosts.pop() {
            let Some(s) = self.runs.slot(job) else {
                continue;
            };
            if !self.runs.at(s).is_some_and(|r| r.ghost) {
                continue;
            }
            if let Some(r) = self.runs.remove(s) {
                self.unlist_all(s, &r.parts);
            }
        }
    }

    /// Takes run `s` off each of `parts`' domains.
    pub(super) fn unlist_all(&mut self, s: Slot, parts: &[(DomainOrd, u32)]) {
        for &(d, g) in parts {
            let dom = &mut self.doms[d as usize];
            dom.unlist(&mut self.spill, s);
            dom.used -= g;
        }
    }

    /// Takes the ghost in slot `s` off domain `d` (another run needs the
    /// GPUs, or the domain went down); false when it is not a ghost.
    pub(super) fn evict_ghost(&mut self, s: Slot, d: DomainOrd) -> bool {
        let Some(r) = self.runs.at_mut(s).filter(|r| r.ghost) else {
            return false;
        };
        let g = match r.parts.iter().position(|p| p.0 == d) {
            Some(k) => r.parts.remove(k).1,
            None => 0,
        };
        r.spares.retain(|&x| x != d);
        let dom = &mut self.doms[d as usize];
        dom.unlist(&mut self.spill, s);
        dom.used -= g;
        true
    }

    /// Marks the domains of the ghost in slot `s` with a fresh stamp (and
    /// its GPUs on each), for its restart to recognise the ones it keeps.
    pub(super) fn mark_ghost(&mut self, s: Slot) -> u32 {
        if self.marks.is_empty() {
            self.marks = vec![(0, 0); self.doms.len()];
        }
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.marks.fill((0, 0));
            self.stamp = 1;
        }
        if let Some(r) = self.runs.at(s) {
            for &(d, g) in &r.parts {
                self.marks[d as usize] = (self.stamp, g);
            }
        }
        self.stamp
    }

    /// Takes every ghost but `keep`'s off domain `d`.
    pub(super) fn evict_ghosts_on(&mut self, d: DomainOrd, keep: JobId) {
        if self.ghosts.is_empty() {
            return;
        }
        let mut k = 0;
        while let Some(s) = self.doms[d as usize].run_at(&self.spill, k) {
            if self.runs.at(s).is_some_and(|r| r.ghost && r.job != keep) {
                self.evict_ghost(s, d);
            } else {
                k += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use gf_backend::{Backend, ready};
    use gf_model::protocol::{FailureCategory, Report, RunId, RunSpec};
    use gf_sched::Topology;

    use super::SimWorld;

    const T0: i64 = 1_767_225_600;

    /// One cluster of four 8-GPU domains, all online, nothing failing.
    fn world() -> SimWorld {
        let src = "version = 1\n[[provider]]\nname = \"p\"\n[[provider.region]]\nname = \"r\"\n\
                   power_mw = 5.0\nzone = \"z\"\n[[provider.region.cluster]]\nname = \"c\"\n\
                   accelerator = \"h100\"\ndomains = 4\n\
                   price = { model = \"on-demand\", usd_per_gpu_hour = 3.0 }\n";
        let doc = gf_model::parse_document("fleet.toml", src).expect("fleet parses");
        let mut w = SimWorld::quiet(Arc::new(Topology::from_document(&doc)), T0, T0 + 86_400);
        while w.next_at() == Some(T0) {
            w.step();
        }
        w
    }

    /// Attempt `attempt` of job `job`: a gang on `domains` (whole domains).
    fn gang(job: u64, attempt: u32, domains: &[u32]) -> RunSpec {
        let spec = gf_testkit::job(&format!("j{job}"))
            .gpus(8 * domains.len() as u32)
            .accels(&["h100"])
            .build();
        gf_testkit::training_run(RunId { job, attempt }, "p/r/c", domains, 8, spec)
    }

    fn dispatch(w: &mut SimWorld, spec: &RunSpec) -> Result<(), gf_backend::BackendError> {
        let now = w.now();
        ready(w.dispatch(now, spec)).expect("the world never waits")
    }

    /// GPUs used and jobs listed on each domain.
    fn occupancy(w: &SimWorld) -> Vec<(u32, Vec<u64>)> {
        w.doms
            .iter()
            .map(|d| {
                let jobs = d.runs(&w.spill).iter();
                (d.used, jobs.map(|&s| w.runs.at(s).unwrap().job).collect())
            })
            .collect()
    }

    #[test]
    fn a_restart_in_place_keeps_the_domains_it_keeps_and_moves_the_rest() {
        let mut w = world();
        dispatch(&mut w, &gang(1, 1, &[0, 1, 2])).unwrap();
        w.crash(RunId { job: 1, attempt: 1 }, FailureCategory::Software);
        assert!(w.pending.iter().any(|r| matches!(r, Report::Failed { .. })));
        // The restart gives domain 0 up and takes domain 3.
        dispatch(&mut w, &gang(1, 2, &[1, 2, 3])).unwrap();
        assert_eq!(
            occupancy(&w),
            vec![(0, vec![]), (8, vec![1]), (8, vec![1]), (8, vec![1])]
        );
        assert!(w.runs.get(1).is_some_and(|r| !r.ghost && r.attempt == 2));
        // Nothing is left for the next step to free.
        w.advance(T0 + 1);
        assert_eq!(
            occupancy(&w)[1..],
            [(8, vec![1]), (8, vec![1]), (8, vec![1])]
        );
    }

    #[test]
    fn a_ghost_no_restart_takes_is_freed_at_the_next_step() {
        let mut w = world();
        dispatch(&mut w, &gang(1, 1, &[0, 1])).unwrap();
        w.crash(RunId { job: 1, attempt: 1 }, FailureCategory::Hardware);
        // Once its end is observed, the ghost is not a run the world has.
        let now = w.now();
        let reports = ready(w.observe(now)).unwrap().unwrap();
        assert!(reports.iter().any(|r| matches!(r, Report::Failed { .. })));
        assert_eq!(ready(w.runs(now)).unwrap().unwrap(), vec![]);
        w.advance(T0 + 1);
        assert!(w.runs.is_empty());
        assert!(
            occupancy(&w)
                .iter()
                .all(|(used, runs)| *used == 0 && runs.is_empty())
        );
    }

    #[test]
    fn another_job_may_take_a_ghosts_domain_at_once() {
        let mut w = world();
        dispatch(&mut w, &gang(1, 1, &[0, 1])).unwrap();
        w.crash(RunId { job: 1, attempt: 1 }, FailureCategory::Software);
        // The controller gave job 1's GPUs to job 2 in the same instant.
        dispatch(&mut w, &gang(2, 1, &[1, 2])).unwrap();
        assert_eq!(occupancy(&w)[1], (8, vec![2]));
        // Job 1 restarts on what is left of its domains and another.
        dispatch(&mut w, &gang(1, 2, &[0, 3])).unwrap();
        assert_eq!(
            occupancy(&w),
            vec![(8, vec![1]), (8, vec![2]), (8, vec![2]), (8, vec![1])]
        );
    }

    #[test]
    fn an_outage_takes_a_ghost_off_its_domain() {
        let mut w = world();
        dispatch(&mut w, &gang(1, 1, &[0, 1])).unwrap();
        w.crash(RunId { job: 1, attempt: 1 }, FailureCategory::Software);
        w.doms[1].down += 1;
        w.kill_on(&[1], gf_model::protocol::CapacityCause::DomainFailure);
        assert_eq!(occupancy(&w)[1], (0, vec![]));
        // A restart on the lost domain is refused; the ghost's other domain
        // is still there for one that is not.
        assert!(dispatch(&mut w, &gang(1, 2, &[0, 1])).is_err());
        dispatch(&mut w, &gang(1, 2, &[0, 2])).unwrap();
        assert_eq!(
            occupancy(&w)[..3],
            [(8, vec![1]), (0, vec![]), (8, vec![1])]
        );
    }

    #[test]
    fn a_second_attempt_while_the_first_runs_is_refused() {
        let mut w = world();
        dispatch(&mut w, &gang(1, 1, &[0])).unwrap();
        // The same attempt again is the same run: nothing changes.
        dispatch(&mut w, &gang(1, 1, &[0])).unwrap();
        let e = dispatch(&mut w, &gang(1, 2, &[1])).unwrap_err();
        assert!(e.to_string().contains("still has run attempt 1"), "{e}");
        assert_eq!(occupancy(&w)[..2], [(8, vec![1]), (0, vec![])]);
    }
}
