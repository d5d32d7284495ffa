//! The life of a training job: submission, dispatch, what the backend's
//! reports mean for it, stops that wait for their confirmation, the
//! reservation a preemptor holds while its victims stop, and losses of
//! capacity under a run.
//!
//! The backend's reports are the truth: a run is running when its backend
//! says it started, ends when its backend says it ended, and keeps what its
//! last reported checkpoint holds. The controller decides what follows:
//! restart in place, on a hot spare, elsewhere, or not at all.

use std::borrow::Cow;
use std::sync::Arc;

use gf_model::JobSpec;
use gf_model::protocol::{
    CapacityCause, DomainSlot, FailureCategory, JobId, Progress, RunId, RunKind, RunPlacement,
    RunSpec, StopReason, StopSpec,
};
use gf_model::scenario::CheckpointPolicy;
use gf_sched::{Alloc, AllocId, DomainOrd, Request, SchedError};
use smallvec::SmallVec;

use crate::controller::{Controller, Owner};
use crate::error::ControlError;
use crate::job::{JobInfo, JobState, Live, Reservation, Stop};
use crate::protocol::Action;
use crate::run::young_daly_interval_s;

impl Controller {
    /// The checkpoint interval of a job whose GPUs each see `per_gpu_s`
    /// interruptions per second.
    fn interval_for(&self, spec: &JobSpec, per_gpu_s: f64) -> i64 {
        if let Some(m) = spec.checkpoint_interval_min {
            return (m * 60.0).max(1.0) as i64;
        }
        let s = match self.cfg.checkpoint {
            CheckpointPolicy::Fixed => self.cfg.fixed_interval_s,
            CheckpointPolicy::YoungDaly => {
                let rate = per_gpu_s * spec.gpus as f64;
                let mtbf = if rate > 0.0 {
                    1.0 / rate
                } else {
                    f64::INFINITY
                };
                // Never checkpoint less often than once a day: an unbounded
                // interval would make every preemption lose the whole run.
                young_daly_interval_s(spec.checkpoint_cost_min * 60.0, mtbf).min(86_400.0)
            }
        };
        s.max(60.0) as i64
    }

    pub(crate) fn submit(
        &mut self,
        now: i64,
        id: JobId,
        spec: Arc<JobSpec>,
        out: &mut Vec<Action>,
    ) {
        if self.by_id.contains_key(&id) {
            // A resubmission of a known job is a duplicate delivery: jobs never run twice.
            return;
        }
        let interval_s = self.interval_for(&spec, self.cfg.interruptions_per_gpu_s);
        let idx = self.jobs.len() as u32;
        self.seq += 1;
        let mut job = JobInfo {
            id,
            state: JobState::Pending,
            attempt: 0,
            submitted_s: now,
            first_start_s: None,
            end_s: None,
            interval_s,
            progress: Progress {
                done_gpu_h: 0.0,
                at_s: now,
            },
            reason: "waiting for the next scheduling pass".into(),
            interruptions: [0; 3],
            spare_swaps: 0,
            spares_lost: 0,
            attained_gpu_s: 0.0,
            live: Some(Box::new(Live {
                seq: self.seq,
                ..Live::default()
            })),
            gpus: spec.gpus,
            work_gpu_hours: spec.work_gpu_hours,
            spec,
        };
        match Request::from_job(&self.topo, id, &job.spec) {
            Ok(mut req) => {
                // Hot spares are not part of the request: they are whole
                // domains of the cluster the gang lands on, topped up from
                // free capacity at every dispatch (`top_up_spares`).
                req.checkpoint_interval_s = interval_s;
                job.lv_mut().req = Some(req);
                self.by_id.insert(id, idx);
                self.jobs.push(job);
                self.enqueue(idx as usize);
            }
            Err(e) => {
                self.by_id.insert(id, idx);
                self.jobs.push(job);
                self.end(now, idx as usize, JobState::Failed, e.to_string(), out);
            }
        }
    }

    /// Puts job `i` in the queue under the queue order's key now.
    pub(crate) fn enqueue(&mut self, i: usize) {
        let j = &self.jobs[i];
        let key = (self.cfg.queue.rank(j), j.lv().seq, i as u32);
        if let Some(old) = self.jobs[i].lv_mut().qkey.replace(key) {
            self.queue.remove(&old);
        }
        self.queue.insert(key);
        self.dirty = true;
    }

    /// Takes job `i` out of the queue.
    pub(crate) fn dequeue(&mut self, i: usize) {
        if let Some(k) = self.jobs[i].live_mut().and_then(|l| l.qkey.take()) {
            self.queue.remove(&k);
        }
    }

    pub(crate) fn cancel(
        &mut self,
        now: i64,
        id: JobId,
        out: &mut Vec<Action>,
    ) -> Result<(), ControlError> {
        let i = self.by_id.get(&id).ok_or(ControlError::UnknownJob(id))? as usize;
        // A record handed out is of a job that ended.
        let Some(j) = self.jobs.get(i) else {
            return Ok(());
        };
        let why = "cancelled by its owner".to_string();
        match j.state {
            s if s.is_terminal() => {}
            JobState::Pending | JobState::Interrupted => {
                self.dequeue(i);
                self.end(now, i, JobState::Cancelled, why, out);
            }
            JobState::Reserved => {
                if let Some(r) = self.jobs[i].live_mut().and_then(|l| l.reservation.take()) {
                    for a in r.held {
                        self.release(a)?;
                    }
                }
                self.dirty = true;
                self.end(now, i, JobState::Cancelled, why, out);
            }
            JobState::Stopping => {
                // Already stopping (preempted): it ends as cancelled once stopped.
                if let Some(s) = &mut self.jobs[i].lv_mut().stop {
                    s.reason = StopReason::Cancel;
                }
            }
            JobState::Placed | JobState::Running | JobState::Restarting => {
                self.request_stop(now, i, StopReason::Cancel, None, out);
            }
            JobState::Completed | JobState::Failed | JobState::Cancelled => {}
        }
        Ok(())
    }

    /// Asks the backend to stop job `i`'s run; its GPUs stay held meanwhile.
    pub(crate) fn request_stop(
        &mut self,
        now: i64,
        i: usize,
        reason: StopReason,
        for_job: Option<u32>,
        out: &mut Vec<Action>,
    ) {
        let grace_s = match reason {
            StopReason::Cancel => self.cfg.cancel_grace_s,
            StopReason::Preempt => self.cfg.preempt_grace_s,
            StopReason::Release => 0,
        };
        self.clear_deadline(i);
        let j = &mut self.jobs[i];
        j.state = JobState::Stopping;
        j.lv_mut().stop = Some(Stop { reason, for_job });
        j.reason = match reason {
            StopReason::Preempt => "preempted, stopping".into(),
            _ => "stopping".into(),
        };
        let run = j.run();
        self.set_deadline(i, now + grace_s);
        out.push(Action::Stop(StopSpec {
            run,
            reason,
            grace_s,
        }));
    }

    /// Releases job `i`'s allocation and forgets where it ran.
    pub(crate) fn give_back(&mut self, now: i64, i: usize) -> Result<Option<Alloc>, ControlError> {
        self.stop_clock(now, i);
        self.clear_deadline(i);
        let alloc = self.jobs[i].live_mut().and_then(|l| {
            l.cluster = None;
            l.placement = None;
            l.alloc_gpus = 0;
            l.alloc.take()
        });
        self.dirty = true;
        match alloc {
            Some(a) => Ok(Some(self.release(a)?)),
            None => Ok(None),
        }
    }

    /// Adds the current run's time since it was reported started to the
    /// job's attained service (what Tiresias ranks by).
    fn stop_clock(&mut self, now: i64, i: usize) {
        let j = &mut self.jobs[i];
        if let Some(t) = j.live_mut().and_then(|l| l.run_started_s.take()) {
            let gpu_s = (now - t).max(0) as f64 * f64::from(j.spec.gpus);
            j.attained_gpu_s += gpu_s;
            if let Some(c) = j.lv().cluster {
                self.rates.ran(c, gpu_s);
            }
        }
    }

    /// Job `i`'s run was interrupted by something the controller did not ask
    /// for: the estimate of its cluster's rate learns of it.
    fn observe_interruption(&mut self, i: usize) {
        if let Some(c) = self.jobs[i].lv().cluster {
            self.rates.interrupted(c);
        }
    }

    /// Back into the queue without charging a retry budget.
    pub(crate) fn requeue(&mut self, i: usize, why: String) {
        let j = &mut self.jobs[i];
        j.state = if j.attempt == 0 {
            JobState::Pending
        } else {
            JobState::Interrupted
        };
        j.reason = why.into();
        self.moved.push(j.id);
        self.enqueue(i);
    }

    /// Sets why job `i` is where it is, noting the job when that changed.
    pub(crate) fn set_reason(&mut self, i: usize, why: Cow<'static, str>) {
        let j = &mut self.jobs[i];
        if j.reason != why {
            j.reason = why;
            self.moved.push(j.id);
        }
    }

    pub(crate) fn end(
        &mut self,
        now: i64,
        i: usize,
        state: JobState,
        reason: String,
        out: &mut Vec<Action>,
    ) {
        let j = &mut self.jobs[i];
        j.state = state;
        j.end_s = Some(now);
        j.reason = reason.clone().into();
        // Only a job that may still be placed needs its request, and an
        // ended one nothing else of its live part.
        if let Some(l) = j.live_mut() {
            l.req = None;
        }
        j.retire();
        if !self.cfg.keep_ended_specs {
            j.spec = Arc::clone(&self.released_spec);
        }
        if !self.cfg.keep_ended_jobs {
            self.ending.push(i as u32);
        }
        out.push(Action::Ended {
            job: j.id,
            state,
            reason,
        });
    }

    /// The placement a backend is told: cluster and domains by name and
    /// index, the last whole domains of a gang beyond its size marked spares.
    fn run_placement(&self, a: &Alloc, working: u32) -> RunPlacement {
        let cl = &self.topo.clusters[a.cluster as usize];
        let mut spare_left = a.gpus.saturating_sub(working);
        let mut domains: Vec<DomainSlot> = a
            .parts
            .iter()
            .map(|&(d, g)| DomainSlot {
                index: d - cl.first_domain,
                gpus: g,
                spare: false,
            })
            .collect();
        for s in domains.iter_mut().rev() {
            if s.gpus > spare_left {
                break;
            }
            spare_left -= s.gpus;
            s.spare = true;
        }
        RunPlacement {
            cluster: cl.name.clone(),
            domains,
            gpu_milli: a.share.map(|(_, m)| m),
        }
    }

    /// The placement of allocation `a` as a backend is told it.
    pub(crate) fn placement_of(&self, a: AllocId) -> RunPlacement {
        match self.sched.alloc(a) {
            Some(al) => self.run_placement(al, al.gpus),
            None => RunPlacement {
                cluster: "".into(),
                domains: Vec::new(),
                gpu_milli: None,
            },
        }
    }

    /// Job `i` holds allocation `a`: starts its next run there.
    pub(crate) fn place(&mut self, now: i64, i: usize, a: AllocId, out: &mut Vec<Action>) {
        self.track(a, Owner::Job(i as u32));
        let (cluster, gpus) = self.sched.alloc(a).map_or((0, 0), |x| (x.cluster, x.gpus));
        let j = &mut self.jobs[i];
        let l = j.lv_mut();
        l.alloc = Some(a);
        l.cluster = Some(cluster);
        l.alloc_gpus = gpus;
        self.dispatch(now, i, out);
    }

    /// Starts a new run of job `i` on the allocation it holds, resuming
    /// from its last reported checkpoint.
    fn dispatch(&mut self, now: i64, i: usize, out: &mut Vec<Action>) {
        self.stop_clock(now, i);
        let Some(a) = self.jobs[i].lv().alloc else {
            return;
        };
        self.top_up_spares(i, a);
        let Some(al) = self.sched.alloc(a) else {
            return;
        };
        let placement = self.run_placement(al, self.jobs[i].spec.gpus);
        if self.cfg.interval_from_observed {
            // The interval of every run is chosen from what was observed
            // on the cluster it goes to, up to now.
            let per_gpu_s = self.rates.per_gpu_s(al.cluster);
            self.jobs[i].interval_s = self.interval_for(&self.jobs[i].spec, per_gpu_s);
        }
        self.clear_deadline(i);
        let j = &mut self.jobs[i];
        j.attempt += 1;
        j.state = if j.attempt == 1 {
            JobState::Placed
        } else {
            JobState::Restarting
        };
        j.first_start_s.get_or_insert(now);
        j.reason = Cow::Borrowed("");
        j.lv_mut().placement = Some(placement.clone());
        let spec = RunSpec {
            run: j.run(),
            placement,
            kind: RunKind::Training {
                spec: Arc::clone(&j.spec),
                resume_gpu_h: j.progress.done_gpu_h,
                checkpoint_interval_s: j.interval_s,
            },
        };
        self.set_deadline(i, now + self.cfg.dispatch_timeout_s);
        out.push(Action::Dispatch(spec));
    }

    pub(crate) fn started(&mut self, now: i64, run: RunId) {
        if run.job >= crate::scale::REPLICA_BASE {
            self.replica_started(run.job);
            return;
        }
        let Some(i) = self.current(run.job, run.attempt) else {
            return;
        };
        if matches!(self.jobs[i].state, JobState::Placed | JobState::Restarting) {
            self.clear_deadline(i);
            self.jobs[i].state = JobState::Running;
            self.jobs[i].lv_mut().run_started_s = Some(now);
        }
    }

    fn keep(&mut self, i: usize, p: Option<Progress>) {
        let Some(p) = p else { return };
        let j = &mut self.jobs[i];
        if p.done_gpu_h >= j.progress.done_gpu_h {
            j.progress = p;
            if let Some(a) = j.lv().alloc {
                self.sched.checkpointed(a, p.at_s);
            }
        }
    }

    pub(crate) fn checkpointed(&mut self, run: RunId, p: Progress) {
        if let Some(i) = self.current(run.job, run.attempt) {
            self.keep(i, Some(p));
        }
    }

    pub(crate) fn finished(
        &mut self,
        now: i64,
        run: RunId,
        out: &mut Vec<Action>,
    ) -> Result<(), ControlError> {
        let Some(i) = self.current(run.job, run.attempt) else {
            return Ok(());
        };
        let work = self.jobs[i].work_gpu_hours;
        self.keep(
            i,
            Some(Progress {
                done_gpu_h: work,
                at_s: now,
            }),
        );
        if self.jobs[i].state == JobState::Stopping {
            return self.confirm_stop(now, i, true, out);
        }
        self.give_back(now, i)?;
        self.end(now, i, JobState::Completed, String::new(), out);
        Ok(())
    }

    pub(crate) fn failed(
        &mut self,
        now: i64,
        run: RunId,
        cat: FailureCategory,
        p: Option<Progress>,
        out: &mut Vec<Action>,
    ) -> Result<(), ControlError> {
        let Some(i) = self.current(run.job, run.attempt) else {
            return Ok(());
        };
        self.keep(i, p);
        if self.jobs[i].state == JobState::Stopping {
            return self.confirm_stop(now, i, false, out);
        }
        self.observe_interruption(i);
        if !self.charge(i, cat) {
            self.give_back(now, i)?;
            self.fail(now, i, cat, out);
            return Ok(());
        }
        // The hardware is intact: restart in place from the last checkpoint.
        self.dispatch(now, i, out);
        Ok(())
    }

    /// A run ended without finishing: lost by its backend (hosts gone,
    /// counted as hardware) or stopped without being asked (the backend took
    /// it away, counted as preemption). A run that was asked to stop is
    /// simply confirmed stopped.
    pub(crate) fn gone(
        &mut self,
        now: i64,
        run: RunId,
        p: Option<Progress>,
        unasked: FailureCategory,
        out: &mut Vec<Action>,
    ) -> Result<(), ControlError> {
        let Some(i) = self.current(run.job, run.attempt) else {
            return Ok(());
        };
        self.keep(i, p);
        if self.jobs[i].state == JobState::Stopping {
            return self.confirm_stop(now, i, false, out);
        }
        self.observe_interruption(i);
        self.give_back(now, i)?;
        self.requeue_or_fail(now, i, unasked, out);
        Ok(())
    }

    pub(crate) fn refused(
        &mut self,
        now: i64,
        run: RunId,
        reason: &str,
        _out: &mut Vec<Action>,
    ) -> Result<(), ControlError> {
        let Some(i) = self.current(run.job, run.attempt) else {
            return Ok(());
        };
        if !matches!(self.jobs[i].state, JobState::Placed | JobState::Restarting) {
            return Ok(());
        }
        self.give_back(now, i)?;
        self.requeue(
            i,
            format!("refused by its backend ({reason}), waiting to be placed again"),
        );
        Ok(())
    }

    /// Job `i`'s run is over after a stop was asked of it (confirmed, or
    /// ended on its own, or its grace ran out): its GPUs go to the
    /// reservation that waits for them, if any, and the job goes on as the
    /// stop's reason says.
    pub(crate) fn confirm_stop(
        &mut self,
        now: i64,
        i: usize,
        finished: bool,
        out: &mut Vec<Action>,
    ) -> Result<(), ControlError> {
        let stop = self.jobs[i].live_mut().and_then(|l| l.stop.take());
        self.clear_deadline(i);
        let alloc = self.jobs[i].lv().alloc;
        let waiting_for = stop.as_ref().and_then(|s| s.for_job).filter(|&p| {
            self.jobs[p as usize].state == JobState::Reserved
                && self.jobs[p as usize].lv().reservation.is_some()
        });
        match (waiting_for, alloc) {
            (Some(p), Some(a)) => {
                self.jobs[i].lv_mut().alloc = None;
                self.give_back(now, i)?;
                self.set_owner(a, Some(Owner::Held(p)));
                if let Some(r) = &mut self.jobs[p as usize].lv_mut().reservation {
                    r.held.push(a);
                    r.waiting = r.waiting.saturating_sub(1);
                }
            }
            _ => {
                self.give_back(now, i)?;
            }
        }
        let reason = stop.map_or(StopReason::Release, |s| s.reason);
        if finished {
            self.end(now, i, JobState::Completed, String::new(), out);
        } else {
            match reason {
                StopReason::Cancel => self.end(
                    now,
                    i,
                    JobState::Cancelled,
                    "cancelled by its owner".into(),
                    out,
                ),
                StopReason::Preempt => {
                    self.requeue_or_fail(now, i, FailureCategory::Preemption, out)
                }
                StopReason::Release => {
                    self.requeue(i, "released, waiting to be placed again".into())
                }
            }
        }
        if let Some(p) = waiting_for
            && self.jobs[p as usize]
                .lv()
                .reservation
                .as_ref()
                .is_some_and(|r| r.waiting == 0)
        {
            self.commit_reservation(now, p as usize, out)?;
        }
        Ok(())
    }

    /// Every victim of job `p`'s reservation has stopped: the room they held
    /// becomes its allocation.
    pub(crate) fn commit_reservation(
        &mut self,
        now: i64,
        p: usize,
        out: &mut Vec<Action>,
    ) -> Result<(), ControlError> {
        let Some(r) = self.jobs[p].live_mut().and_then(|l| l.reservation.take()) else {
            return Ok(());
        };
        for a in r.held {
            self.release(a)?;
        }
        let Some(req) = self.jobs[p].lv().req.clone() else {
            return Ok(());
        };
        // The victims' GPUs were held, but not the site's power headroom:
        // work placed meanwhile on the same site may have used it up.
        let site = self.topo.clusters[r.placement.cluster as usize].site;
        let watts = self.topo.watts_per_gpu(r.placement.cluster) * r.placement.gpus() as u64;
        let ix = self.sched.index();
        if ix.site_drawn_w(site) + watts > ix.site_envelope_w(site) {
            self.requeue(
                p,
                "reserved room no longer fits its site's power envelope, waiting to be placed again"
                    .into(),
            );
            return Ok(());
        }
        match self.sched.commit(now, &req, &r.placement) {
            Ok(a) => {
                self.place(now, p, a, out);
                Ok(())
            }
            // Capacity under the reservation went away meanwhile.
            Err(SchedError::Stale { .. }) => {
                self.requeue(
                    p,
                    "reserved room went offline, waiting to be placed again".into(),
                );
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Asks victims to stop for job `p`, which waits with `placement`
    /// reserved; places it at once when nothing needs to stop. False when a
    /// victim is already stopping for someone else (the job stays queued).
    pub(crate) fn reserve(
        &mut self,
        now: i64,
        p: usize,
        placement: gf_sched::Placement,
        victims: &[gf_sched::WorkId],
        out: &mut Vec<Action>,
    ) -> Result<bool, ControlError> {
        let mut jobs = Vec::new();
        let mut replicas = Vec::new();
        for &w in victims {
            if let Some(v) = self.by_id.get(&w) {
                let v = v as usize;
                if !self.jobs.get(v).is_some_and(|j| {
                    matches!(
                        j.state,
                        JobState::Placed | JobState::Running | JobState::Restarting
                    )
                }) {
                    return Ok(false);
                }
                jobs.push(v);
            } else if let Some(a) = self.sched.alloc_of(w) {
                replicas.push(a);
            } else {
                return Ok(false);
            }
        }
        self.dequeue(p);
        // Hold the part of the room that is free now, so that work placed
        // while the victims stop cannot take those GPUs or the site's power
        // headroom the placement counted on. The victims' part is held by
        // the victims until they stop, then by the reservation.
        let mut held = Vec::new();
        if let Some(req) = &self.jobs[p].lv().req
            && !req.is_fractional()
        {
            let ix = self.sched.index();
            let parts: Vec<(DomainOrd, u32)> = placement
                .parts
                .iter()
                .map(|&(d, g)| (d, g.min(ix.free(d))))
                .filter(|&(_, g)| g > 0)
                .collect();
            if !parts.is_empty() {
                let mut hold = req.clone();
                hold.gpus = parts.iter().map(|x| x.1).sum();
                hold.preemptible = false;
                let room = gf_sched::Placement {
                    cluster: placement.cluster,
                    parts,
                    share: None,
                    score: 0.0,
                };
                let a = self.sched.commit(now, &hold, &room)?;
                self.track(a, Owner::Held(p as u32));
                held.push(a);
            }
        }
        self.jobs[p].state = JobState::Reserved;
        self.jobs[p].reason = "waiting for preempted work to stop".into();
        self.moved.push(self.jobs[p].id);
        self.jobs[p].lv_mut().reservation = Some(Box::new(Reservation {
            placement,
            waiting: jobs.len() as u32,
            held,
        }));
        for a in replicas {
            self.preempt_replica(a, p as u32, out);
        }
        for v in jobs {
            self.preemptions += 1;
            self.request_stop(now, v, StopReason::Preempt, Some(p as u32), out);
        }
        if self.jobs[p]
            .lv()
            .reservation
            .as_ref()
            .is_some_and(|r| r.waiting == 0)
        {
            self.commit_reservation(now, p, out)?;
        }
        Ok(true)
    }

    /// Counts an interruption against the budget; true when the job may go on.
    fn charge(&mut self, i: usize, cat: FailureCategory) -> bool {
        let j = &mut self.jobs[i];
        let k = cat as usize;
        j.interruptions[k] += 1;
        let budget = match cat {
            FailureCategory::Hardware => self.cfg.retry.hardware,
            FailureCategory::Software => self.cfg.retry.software,
            FailureCategory::Preemption => self.cfg.retry.preemption,
        };
        j.interruptions[k] <= budget
    }

    fn fail(&mut self, now: i64, i: usize, cat: FailureCategory, out: &mut Vec<Action>) {
        let why = format!("retry budget for {} interruptions spent", cat.as_str());
        self.end(now, i, JobState::Failed, why, out);
    }

    fn requeue_or_fail(&mut self, now: i64, i: usize, cat: FailureCategory, out: &mut Vec<Action>) {
        if !self.charge(i, cat) {
            self.fail(now, i, cat, out);
            return;
        }
        self.requeue(
            i,
            format!("interrupted ({}), waiting to restart", cat.as_str()),
        );
    }

    pub(crate) fn capacity(
        &mut self,
        now: i64,
        domains: &[DomainOrd],
        online: bool,
        cause: CapacityCause,
        out: &mut Vec<Action>,
    ) -> Result<(), ControlError> {
        let failed = matches!(
            cause,
            CapacityCause::GpuFailure | CapacityCause::DomainFailure
        );
        for &d in domains {
            if self.sched.index().is_online(d) != online {
                let c = self.topo.domain_cluster[d as usize];
                self.rates.domain_flipped(now, c, d, online, failed);
            }
        }
        if online {
            for &d in domains {
                let c = self.topo.domain_cluster[d as usize];
                let holdoff_s = self.cfg.outage_holdoff_s;
                if !self.holdoff.hold(now, c, d, cause, holdoff_s) {
                    self.sched.set_domain_online(d, true);
                }
            }
            self.dirty = true;
            return Ok(());
        }
        for &d in domains {
            let c = self.topo.domain_cluster[d as usize];
            self.holdoff.offline(c, d, cause);
        }
        // Every domain of the report goes offline before any run is
        // handled, so that a gang under several of them sees all it lost at
        // once (rather than swapping a spare in on a domain that goes next).
        for &d in domains {
            self.sched.set_domain_online(d, false);
        }
        // Sorted, so a gang finds what it lost without asking every part.
        let mut lost = domains.to_vec();
        lost.sort_unstable();
        for &d in domains {
            // A copy, since handling an allocation changes the list.
            for a in self.allocs_on_domain(d) {
                // Handling one allocation can release a later one of this
                // list (a victim's end commits the reservation that held the
                // other's GPUs): releasing it again would be a scheduler
                // fault in the middle of the outage, so skip what is gone.
                if !self.sched.holders(d).contains(&a) {
                    continue;
                }
                match self.owners.get(a as usize).copied().flatten() {
                    Some(Owner::Job(j)) => {
                        self.lose_domain(now, j as usize, (a, d, &lost), cause, out)?
                    }
                    Some(Owner::Replica(s)) => self.lose_replica(s as usize, a, d, out)?,
                    // Held for a reservation: its commit finds the room gone.
                    Some(Owner::Held(_)) => {}
                    None => {
                        self.release(a)?;
                    }
                }
            }
        }
        self.dirty = true;
        Ok(())
    }

    /// Hot-spare domains job `i` should hold on cluster `c`: whole domains
    /// of the accelerator it was placed on, a fixed count or as many as
    /// Little's law says are out for repair at once.
    fn spare_target(&self, i: usize, c: gf_sched::ClusterOrd) -> u32 {
        let gpus = self.jobs[i].spec.gpus;
        if gpus < self.cfg.hot_spare_min_gpus {
            return 0;
        }
        let dg = self.topo.clusters[c as usize].domain_gpus.max(1);
        match self.rates.domains_down(c, gpus.div_ceil(dg)) {
            Some(l) if self.cfg.spares_by_littles_law => {
                (l + 2.0 * l.sqrt()).ceil().max(1.0) as u32
            }
            _ => self.cfg.hot_spare_domains,
        }
    }

    /// Tops job `i`'s allocation `a` up to its hot-spare domains from whole
    /// free domains of its cluster (what a fleet team does after a swap:
    /// the pool is refilled, not spent down). Best effort: a full cluster
    /// leaves the gang with fewer spares, never a failed dispatch.
    fn top_up_spares(&mut self, i: usize, a: AllocId) {
        let Some(c) = self.sched.alloc(a).map(|al| al.cluster) else {
            return;
        };
        let target = self.spare_target(i, c);
        if target == 0 {
            return;
        }
        let Some(al) = self.sched.alloc(a) else {
            return;
        };
        let dg = self.topo.clusters[c as usize].domain_gpus;
        let have = al.gpus.saturating_sub(self.jobs[i].spec.gpus) / dg;
        let mut need = target.saturating_sub(have) as usize;
        if need == 0 || al.share.is_some() {
            return;
        }
        // Lowest domains first: next to the gang when it was packed low.
        // Each pick is the lowest free whole domain above the last one
        // tried: the order of a sorted copy of the bucket without copying
        // or sorting a cluster's free domains for one or two spares (taking
        // a domain changes the bucket only at that domain).
        let mut after: Option<DomainOrd> = None;
        while need > 0 {
            let next = self
                .sched
                .index()
                .bucket(c, dg)
                .iter()
                .copied()
                .filter(|&d| after.is_none_or(|x| d > x))
                .min();
            let Some(d) = next else { break };
            after = Some(d);
            if matches!(self.sched.add_part(a, d, dg), Ok(true)) {
                self.sched.track_part(a, d);
                self.jobs[i].lv_mut().alloc_gpus += dg;
                need -= 1;
            }
        }
    }

    /// The domains of `gone` are all hot spares of job `i`'s current run.
    fn only_spares(&self, i: usize, gone: &[(DomainOrd, u32)]) -> bool {
        let Some(p) = &self.jobs[i].lv().placement else {
            return false;
        };
        let Some(c) = self.jobs[i].lv().cluster else {
            return false;
        };
        let first = self.topo.clusters[c as usize].first_domain;
        // The spares are the placement's last domains (`run_placement` marks
        // them from the end): only those are looked at, not a gang's
        // hundreds of domains per domain gone.
        let spares = || p.domains.iter().rev().take_while(|s| s.spare);
        !gone.is_empty()
            && gone
                .iter()
                .all(|&(d, _)| spares().any(|s| s.index == d - first))
    }

    /// A domain under job `i` failed, and the run with it: a hot spare takes
    /// its place if the gang still has enough GPUs without it (the job
    /// restarts on the rest from its last checkpoint, not re-queued);
    /// otherwise the gang is given up and queued again.
    /// `lost`: the report's domains, sorted.
    fn lose_domain(
        &mut self,
        now: i64,
        i: usize,
        (a, d, lost): (AllocId, DomainOrd, &[DomainOrd]),
        cause: CapacityCause,
        out: &mut Vec<Action>,
    ) -> Result<(), ControlError> {
        // Every domain of the report under the gang counts, not only `d`,
        // and the spares must cover them all. Those are its offline ones: a
        // gang gives up or releases what it loses, so it holds no domain an
        // earlier report took (asking each part's state read hundreds of
        // domains per failure under a frontier gang).
        let ix = self.sched.index();
        let parts = self.sched.alloc(a).map_or(&[][..], |x| &x.parts[..]);
        let gone: SmallVec<[(DomainOrd, u32); 4]> = (parts.iter().copied())
            .filter(|p| p.0 == d || lost.binary_search(&p.0).is_ok())
            .collect();
        debug_assert!(parts.iter().all(|p| ix.is_online(p.0) || gone.contains(p)));
        // Only idle spares failed: the run goes on (its backend drops them
        // too), and the next dispatch refills the pool.
        if self.jobs[i].state != JobState::Stopping && self.only_spares(i, &gone) {
            let first = self.jobs[i]
                .cluster()
                .map_or(0, |c| self.topo.clusters[c as usize].first_domain);
            for &(g, n) in &gone {
                self.sched.release_part(a, g)?;
                let j = &mut self.jobs[i];
                let l = j.lv_mut();
                l.alloc_gpus -= n;
                if let Some(p) = &mut l.placement {
                    p.domains.retain(|s| s.index != g - first);
                }
            }
            self.jobs[i].spares_lost += 1;
            self.dirty = true;
            return Ok(());
        }
        // The run is over as far as the controller is concerned, so it is
        // killed now even when a stop with a grace period was already asked
        // of it: otherwise its job, requeued at once below, could have its
        // next attempt dispatched while this one still runs out its grace.
        let run = self.jobs[i].run();
        out.push(Action::Stop(StopSpec {
            run,
            reason: StopReason::Release,
            grace_s: 0,
        }));
        if self.jobs[i].state == JobState::Stopping {
            return self.confirm_stop(now, i, false, out);
        }
        self.observe_interruption(i);
        let need = self.jobs[i].spec.gpus;
        let lost: u32 = gone.iter().map(|p| p.1).sum();
        if lost > 0 && self.jobs[i].lv().alloc_gpus.saturating_sub(lost) >= need {
            for (g, _) in gone {
                self.sched.release_part(a, g)?;
            }
            self.jobs[i].lv_mut().alloc_gpus -= lost;
            self.jobs[i].spare_swaps += 1;
            if !self.charge(i, cause.category()) {
                self.give_back(now, i)?;
                self.fail(now, i, cause.category(), out);
                return Ok(());
            }
            self.dispatch(now, i, out);
            return Ok(());
        }
        self.give_back(now, i)?;
        self.requeue_or_fail(now, i, cause.category(), out);
        Ok(())
    }
}
