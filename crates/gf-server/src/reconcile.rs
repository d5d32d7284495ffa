//! The reconcile loop: the only caller of the controller.
//!
//! Everything that happens reaches the controller through the store's event
//! log, in the log's order: the API appends submissions and cancels, this
//! loop appends the backend's reports and its own timer ticks, and it reads
//! the log back and hands each entry to the controller at the entry's time
//! (never earlier than the entry before it). The controller's actions are
//! carried out on the backend at once; what comes back (a refusal now, a
//! report later) is appended to the log and so handled in its turn. The
//! log is therefore a complete record of the controller's inputs, and a
//! restarted server rebuilds the same controller by replaying it.
//!
//! The simulated backend lives in this process and dies with it, so on
//! restart it is rebuilt the same way: the replay carries every action to a
//! new world at the time it was first carried out. That world then produces
//! again every report the old one had produced; those already logged are
//! recognised (they are a prefix of what it produces) and dropped, the rest
//! are logged now. So a dispatch is never carried out twice on a world that
//! already runs it, and no report is handled twice.
//!
//! A real engine (Slurm) outlives the server, so its actions are not carried
//! out again in a replay. The replay finds which of its runs the controller
//! holds (dispatched, no end logged), and the engine is asked which runs it
//! has: a run it has is adopted (handed to the engine again, which finds it
//! by its tag and submits nothing), a run it lacks is reported lost (or
//! stopped, when a stop was asked) so the controller places it again. A run
//! it has that the controller does not hold is reported unknown by the
//! engine and stopped by the controller. So a crash between a submission
//! and anything written after it never runs the work twice. If the engine
//! does not answer at restart, this is retried every round until it does.
//!
//! A stop an engine could not be reached for is kept and sent again until
//! it is taken: a cluster that stopped answering must not, when it comes
//! back, go on running work the controller has placed elsewhere.
//!
//! After each batch the loop writes what changed of each job onto its row
//! (the read model the API serves), publishes the fleet's state, and
//! answers the questions only the controller can (`explain`).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gf_api::{ClusterView, ExplainView, FleetView, SiteView};
use gf_backend::{Backend, BackendError};
use gf_control::{Action, Controller, Event, JobInfo, JobState};
use gf_model::Document;
use gf_model::protocol::{JobId, Report, RunId, RunSpec, StopSpec};
use gf_sched::Request;
use gf_store::{Fence, JobUpdate, Seq, Store, StoreError};
use tokio::sync::{mpsc, oneshot};

use crate::clock::{Clock, rfc3339};
use crate::engines::{self, Engines};
use crate::failpoint;
use crate::logfmt::{self, Logged};
use crate::metrics::Metrics;
use crate::shared::Shared;
use crate::views;

/// Entries read from the log at once.
const PAGE: usize = 2048;
/// Most log events or job rows one store request of the loop writes. The
/// store's writer commits requests in groups, the submissions of the API
/// among them; a pass that placed thousands of jobs, written as one
/// request, held every submission queued behind it for tens of
/// milliseconds (the API's p99), where requests of this size take well
/// under a millisecond each and let the submissions through in between
/// (64 against 128: p99 9.6-10.0 against 9.7-10.5 ms; docs/performance.md).
const WRITE_CHUNK: usize = 64;
/// Least wall time between two schedule ticks the loop writes.
const TICK_MIN: Duration = Duration::from_millis(200);
/// Most wall time between two schedule ticks (overdue stops and dispatches
/// expire on ticks).
const TICK_MAX: Duration = Duration::from_secs(2);
/// Wall time between two publications of the fleet's state.
const FLEET_EVERY: Duration = Duration::from_secs(1);
/// Wall time between two tries of the stops and the adoption a real
/// engine did not answer.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// A question only the controller can answer.
pub enum Query {
    /// Why a job is where it is.
    Explain {
        /// The job.
        job: JobId,
        /// Where the answer goes (`None`: no such job).
        reply: oneshot::Sender<Option<ExplainView>>,
    },
}

/// Why the loop stopped.
#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    /// Another replica leads now; this one must not write.
    #[error("deposed: another replica leads")]
    Deposed,
    /// The log holds an entry this server cannot read.
    #[error(transparent)]
    BadEntry(#[from] logfmt::BadEntry),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// The controller, its backend and the loop's own bookkeeping.
pub struct Reconciler<S: Store> {
    store: S,
    fence: Fence,
    ctl: Controller,
    engines: Engines,
    clock: Clock,
    /// The controller's time: that of the last entry handled.
    now: i64,
    handled: Seq,
    /// Events to append (reports, refusals, ticks), in order.
    outbox: Vec<Logged>,
    /// Jobs whose row may be stale.
    touched: Vec<JobId>,
    /// What was last written of each job: state, attempt, reason, cluster.
    projected: HashMap<JobId, (JobState, u32, String)>,
    /// Records of ended jobs the controller handed out, kept until their
    /// last state is written (then the store's row is the job's record).
    ended: HashMap<JobId, JobInfo>,
    last_tick: Instant,
    last_fleet: Instant,
    /// Entries other than ticks handled since the last tick.
    activity: bool,
    next_autoscale: i64,
    next_spend: i64,
    autoscale_every_s: i64,
    /// Spend per contract as billing last reported it.
    spend: BTreeMap<String, f64>,
    /// What was last written of each service's status.
    services_projected: HashMap<u32, String>,
    /// The real engines' runs the replay found held, still to be adopted
    /// or reported lost (the engines had not answered yet).
    adopt: Option<Held>,
    /// Stops a real engine could not be reached for, to send again.
    stop_retry: Vec<StopSpec>,
    last_retry: Instant,
    shared: Arc<Shared>,
    metrics: Arc<Metrics>,
}

/// The runs of real engines a replay found the controller holding: sent,
/// with no end logged.
#[derive(Debug, Default)]
struct Held {
    /// Each run's dispatch, as the controller made it.
    runs: BTreeMap<RunId, RunSpec>,
    /// The stops asked of them.
    stops: BTreeMap<RunId, StopSpec>,
}

impl Held {
    /// Forgets a run whose end the controller was told.
    fn ended(&mut self, r: &Report) {
        if let Some(run) = engines::released(r) {
            self.runs.remove(&run);
            self.stops.remove(&run);
        }
    }
}

/// What a replay tracks beside the controller.
#[derive(Default)]
struct Replay {
    /// Dispatches the rebuilt simulated world refused, not yet logged.
    refusals: Vec<RunId>,
    /// Runs of real engines held.
    held: Held,
}

/// What the replay of a log found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Restored {
    /// Entries replayed.
    pub entries: u64,
    /// Reports the rebuilt world produced that were not logged yet.
    pub fresh_reports: usize,
    /// Logged reports the rebuilt world did not produce again (0 unless the
    /// world diverged).
    pub unmatched_reports: usize,
    /// Runs of real engines the controller holds, to adopt or report lost.
    pub held_real: usize,
}

/// What reconciling the real engines after a restart did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Adopted {
    /// Runs the engines had, adopted.
    pub adopted: usize,
    /// Runs they lacked, reported lost or stopped.
    pub lost: usize,
}

impl<S: Store> Reconciler<S> {
    /// A loop over a new controller and world; call [`Reconciler::restore`]
    /// before [`Reconciler::run`].
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: S,
        fence: Fence,
        ctl: Controller,
        engines: Engines,
        doc: Arc<Document>,
        clock: Clock,
        start_s: i64,
        shared: Arc<Shared>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let autoscale_every_s = doc
            .scenario
            .as_ref()
            .map_or(300, |s| (s.autoscale_interval_min * 60.0).max(1.0) as i64);
        Reconciler {
            store,
            fence,
            ctl,
            engines,
            clock,
            now: start_s,
            handled: 0,
            outbox: Vec::new(),
            touched: Vec::new(),
            projected: HashMap::new(),
            ended: HashMap::new(),
            last_tick: Instant::now(),
            last_fleet: Instant::now() - FLEET_EVERY,
            activity: true,
            next_autoscale: start_s,
            next_spend: start_s,
            autoscale_every_s,
            spend: BTreeMap::new(),
            services_projected: HashMap::new(),
            adopt: None,
            stop_retry: Vec::new(),
            last_retry: Instant::now(),
            shared,
            metrics,
        }
    }

    /// The controller's time now.
    pub fn now(&self) -> i64 {
        self.now
    }

    /// Replays the whole log: the controller handles every entry again and
    /// the simulated world is rebuilt by carrying the actions out again.
    /// Reports the rebuilt world produces beyond those logged are queued
    /// for the log. The real engines are then reconciled (see the module's
    /// doc), now if they answer, else in the rounds to come.
    pub async fn restore(&mut self) -> Result<Restored, LoopError> {
        let mut logged_reports: VecDeque<Report> = VecDeque::new();
        let mut replay = Replay::default();
        let mut out = Restored::default();
        loop {
            let recs = self.store.read_log(self.handled, PAGE).await?;
            if recs.is_empty() {
                break;
            }
            for rec in recs {
                self.handled = rec.seq;
                self.now = self.now.max(rec.at_s);
                let l = logfmt::decode(&rec)?;
                if let Event::Backend(r) = &l.event {
                    replay.held.ended(r);
                    if l.observed && self.engines.is_sim_report(r) {
                        logged_reports.push_back(r.clone());
                    }
                    if let Report::Refused { run, .. } = r
                        && let Some(i) = replay.refusals.iter().position(|x| x == run)
                    {
                        replay.refusals.swap_remove(i);
                    }
                }
                self.apply(l.event, Some(&mut replay)).await;
                out.entries += 1;
            }
        }
        // The new world has produced every report of the old one, in the
        // same order; the logged ones are its prefix.
        let again = self.engines.observe_sim(self.now).await.unwrap_or_default();
        for r in again {
            if logged_reports.front() == Some(&r) {
                logged_reports.pop_front();
            } else {
                out.fresh_reports += 1;
                self.outbox.push(Logged {
                    observed: true,
                    event: Event::Backend(r),
                });
            }
        }
        out.unmatched_reports = logged_reports.len();
        if out.unmatched_reports > 0 {
            tracing::warn!(
                unmatched = out.unmatched_reports,
                "the rebuilt simulated world did not produce every logged report again"
            );
        }
        // Refusals the old process met but did not live to log.
        for run in replay.refusals {
            self.outbox.push(Logged::of(Event::Backend(Report::Refused {
                run,
                reason: "refused before the control plane restarted".into(),
            })));
        }
        out.held_real = replay.held.runs.len();
        if self.engines.has_real() {
            self.adopt = Some(replay.held);
            self.adopt_held().await;
        }
        self.touched.extend(self.ctl.jobs().iter().map(|j| j.id));
        self.project().await?;
        self.publish_fleet().await;
        self.shared.set_handled(self.handled, self.now);
        Ok(out)
    }

    /// Reconciles the real engines with the runs the replay found held:
    /// adopts what they have, reports lost what they lack. Does nothing
    /// (and is tried again later) while they do not answer.
    async fn adopt_held(&mut self) -> Option<Adopted> {
        self.adopt.as_ref()?;
        let have: BTreeSet<RunId> = match self.engines.real_runs(self.now).await {
            Ok(v) => v.into_iter().collect(),
            Err(e) => {
                tracing::warn!(error = %e, "the real engines do not answer; their runs are reconciled once they do");
                return None;
            }
        };
        let held = self.adopt.take().unwrap_or_default();
        let mut out = Adopted::default();
        let mut again = Held::default();
        for (run, spec) in held.runs {
            let stop = held.stops.get(&run).cloned();
            if !have.contains(&run) {
                // Never submitted (the crash came first), or ended and
                // forgotten while no server watched: either way it does not
                // run, and its end is unknown.
                out.lost += 1;
                let r = match stop {
                    Some(_) => Report::Stopped {
                        run,
                        progress: None,
                    },
                    None => Report::Lost {
                        run,
                        progress: None,
                    },
                };
                self.outbox.push(Logged::of(Event::Backend(r)));
                continue;
            }
            // The engine finds the run by its tag and follows it again.
            match self.engines.dispatch(self.now, &spec).await {
                Ok(()) => {
                    out.adopted += 1;
                    if let Some(stop) = stop {
                        self.send_stop(stop).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(run = %run, error = %e, "adoption failed; tried again");
                    if let Some(stop) = stop {
                        again.stops.insert(run, stop);
                    }
                    again.runs.insert(run, spec);
                }
            }
        }
        if !again.runs.is_empty() {
            self.adopt = Some(again);
        }
        tracing::info!(
            adopted = out.adopted,
            lost = out.lost,
            "real engines reconciled with the restored controller"
        );
        Some(out)
    }

    /// Sends a stop; one the engine could not be reached for is kept and
    /// sent again.
    async fn send_stop(&mut self, stop: StopSpec) {
        match self.engines.stop(self.now, &stop).await {
            Ok(()) => {}
            Err(BackendError::Unavailable(e)) => {
                tracing::warn!(run = %stop.run, error = %e, "stop not delivered; sent again later");
                if !self.stop_retry.iter().any(|s| s.run == stop.run) {
                    self.stop_retry.push(stop);
                }
            }
            Err(e) => tracing::warn!(run = %stop.run, error = %e, "stop failed"),
        }
    }

    /// Sends again the stops and the adoption the real engines did not
    /// answer, at most once a [`RETRY_EVERY`].
    async fn retry(&mut self) {
        if (self.stop_retry.is_empty() && self.adopt.is_none())
            || self.last_retry.elapsed() < RETRY_EVERY
        {
            return;
        }
        self.last_retry = Instant::now();
        for stop in std::mem::take(&mut self.stop_retry) {
            self.send_stop(stop).await;
        }
        self.adopt_held().await;
    }

    /// Runs until deposed or the store fails for good.
    pub async fn run(mut self, mut queries: mpsc::Receiver<Query>) -> Result<(), LoopError> {
        self.shared.set_ready(true);
        let mut store_errors = 0u32;
        loop {
            match self.round(&mut queries).await {
                Ok(()) => store_errors = 0,
                Err(LoopError::Store(StoreError::Fenced(_))) => return Err(LoopError::Deposed),
                Err(LoopError::Store(e)) => {
                    // A passing fault (a busy store, a dropped connection):
                    // nothing was handled twice, since `handled` moves only
                    // with what was read. Back off and go on.
                    store_errors += 1;
                    tracing::warn!(error = %e, "reconcile round failed; retrying");
                    let ms = 50u64 << store_errors.min(6);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One round: handle what is new, observe, write, tick, wait.
    async fn round(&mut self, queries: &mut mpsc::Receiver<Query>) -> Result<(), LoopError> {
        let recs = self.store.read_log(self.handled, PAGE).await?;
        let got = recs.len();
        for rec in recs {
            self.handled = rec.seq;
            self.now = self.now.max(rec.at_s);
            let l = logfmt::decode(&rec)?;
            if !matches!(l.event, Event::ScheduleTick | Event::AutoscaleTick) {
                self.activity = true;
            }
            self.metrics.event(logfmt::kind(&l.event));
            self.apply(l.event, None).await;
        }
        if got > 0 {
            self.shared.set_handled(self.handled, self.now);
        }
        self.retry().await;
        match self.engines.observe(self.now).await {
            Ok(reports) => {
                self.shared.set_backend_ok(true);
                self.outbox.extend(reports.into_iter().map(|r| Logged {
                    observed: true,
                    event: Event::Backend(r),
                }));
            }
            Err(e) => {
                self.shared.set_backend_ok(false);
                tracing::warn!(error = %e, "backend observe failed");
            }
        }
        self.timers();
        self.flush().await?;
        self.project().await?;
        if self.last_fleet.elapsed() >= FLEET_EVERY {
            self.publish_fleet().await;
        }
        while let Ok(q) = queries.try_recv() {
            self.answer(q);
        }
        if got == 0 && self.outbox.is_empty() {
            // Nothing new: wait for the API to append something, a
            // question, or the next tick.
            let wait = TICK_MIN;
            tokio::select! {
                _ = self.shared.appended() => {}
                q = queries.recv() => if let Some(q) = q { self.answer(q) },
                _ = tokio::time::sleep(wait) => {}
            }
        }
        Ok(())
    }

    /// Hands one event to the controller and carries its actions out. In a
    /// replay (`replay` given) a refused dispatch is remembered rather than
    /// logged, since the log may hold it already, and the actions for real
    /// engines are not carried out again but noted for reconciling.
    async fn apply(&mut self, ev: Event, mut replay: Option<&mut Replay>) {
        if let Some(j) = logfmt::job_of(&ev) {
            self.touched.push(j);
        }
        if let Event::Backend(r) = &ev {
            self.engines.note_report(r);
            if let Some(held) = self.adopt.as_mut() {
                held.ended(r);
            }
        }
        if let Event::SpendReported { contract, usd } = &ev {
            self.spend.insert(contract.clone(), *usd);
        }
        let actions = match self.ctl.handle(self.now, ev) {
            Ok(a) => a,
            Err(e) => {
                // A caller's fault the controller refused (a cancel of a job
                // that ended meanwhile): it changed nothing.
                tracing::debug!(error = %e, "event refused by the controller");
                return;
            }
        };
        // The jobs the event moved without an action naming them (the
        // waiting jobs whose reason a scheduling pass rewrote).
        self.touched.extend_from_slice(self.ctl.moved());
        // Each was touched by its `Ended` action below.
        for j in self.ctl.take_ended() {
            self.ended.insert(j.id, j);
        }
        for a in actions {
            match a {
                Action::Dispatch(spec) => {
                    if spec.run.job < (1 << 62) {
                        self.touched.push(spec.run.job);
                    }
                    let engine = self.engines.engine_of(&spec.placement.cluster);
                    if let Some(rp) = replay.as_deref_mut()
                        && !Engines::replayed(engine)
                    {
                        self.engines.note_dispatch(&spec);
                        rp.held.runs.insert(spec.run, spec);
                        continue;
                    }
                    let t0 = Instant::now();
                    let r = self.engines.dispatch(self.now, &spec).await;
                    self.metrics.dispatch_latency(t0.elapsed());
                    match r {
                        Err(e) => match replay.as_deref_mut() {
                            Some(rp) => rp.refusals.push(spec.run),
                            None => self.outbox.push(Logged::of(Event::Backend(Report::Refused {
                                run: spec.run,
                                reason: e.to_string(),
                            }))),
                        },
                        Ok(()) if !Engines::replayed(engine) => {
                            // Where the crash-adoption test stops the
                            // server: submitted, nothing written after.
                            failpoint::hit("after-real-dispatch");
                        }
                        Ok(()) => {}
                    }
                }
                Action::Stop(stop) => {
                    if stop.run.job < (1 << 62) {
                        self.touched.push(stop.run.job);
                    }
                    if let Some(rp) = replay.as_deref_mut() {
                        match self.engines.home(stop.run) {
                            // The rebuilt world is told, as the old one was.
                            Some(e) if Engines::replayed(e) => {
                                if let Err(e) = self.engines.stop(self.now, &stop).await {
                                    tracing::warn!(run = %stop.run, error = %e, "stop failed");
                                }
                            }
                            // A real engine was told then; if the run is
                            // still held, it is told again once reconciled.
                            Some(_) if rp.held.runs.contains_key(&stop.run) => {
                                rp.held.stops.insert(stop.run, stop);
                            }
                            // A run of a real engine no longer held, or one
                            // no engine was given: nothing to rebuild.
                            _ => {}
                        }
                        continue;
                    }
                    self.send_stop(stop).await;
                }
                Action::Shrink(shrink) => {
                    // Only the simulated world runs replica sets: the
                    // rebuilt one is told again, as the old one was.
                    if replay.is_some()
                        && !self.engines.home(shrink.run).is_some_and(Engines::replayed)
                    {
                        continue;
                    }
                    if let Err(e) = self.engines.shrink(self.now, &shrink).await {
                        tracing::warn!(run = %shrink.run, error = %e, "shrink failed");
                    }
                }
                Action::Ended { job, .. } => self.touched.push(job),
            }
        }
    }

    /// Queues the timer events that are due.
    fn timers(&mut self) {
        let now = self.clock.now_s().max(self.now);
        let since = self.last_tick.elapsed();
        let world_due = self
            .engines
            .sim()
            .and_then(|w| w.world().next_at())
            .is_some_and(|t| t <= now);
        if since >= TICK_MAX || (since >= TICK_MIN && (self.activity || world_due)) {
            self.outbox.push(Logged::of(Event::ScheduleTick));
            self.last_tick = Instant::now();
            self.activity = false;
        }
        if now >= self.next_spend
            && !self.ctl.topology().contracts.is_empty()
            && let Some(world) = self.engines.sim_mut()
        {
            for k in 0..self.ctl.topology().contracts.len() {
                let usd = world.contract_spend(k);
                let contract = self.ctl.topology().contracts[k].name.clone();
                self.outbox
                    .push(Logged::of(Event::SpendReported { contract, usd }));
            }
            self.next_spend = now + 86_400;
        }
        if now >= self.next_autoscale && !self.ctl.services().is_empty() {
            self.outbox.push(Logged::of(Event::AutoscaleTick));
            self.next_autoscale = now + self.autoscale_every_s;
        }
    }

    /// Appends the outbox to the log, as this leader, [`WRITE_CHUNK`]
    /// events to a store request: what is appended is always a prefix of
    /// the outbox, which the controller reads back in order, so a round
    /// cut short by a failure leaves the log as if the rest had come later.
    async fn flush(&mut self) -> Result<(), LoopError> {
        let at = self.clock.now_s().max(self.now);
        while !self.outbox.is_empty() {
            let n = self.outbox.len().min(WRITE_CHUNK);
            let events: Vec<String> = self.outbox[..n].iter().map(Logged::to_json).collect();
            self.store.append(Some(self.fence), at, events).await?;
            self.outbox.drain(..n);
        }
        Ok(())
    }

    /// Writes what changed of the touched jobs onto their rows: those the
    /// events and actions named, and those the controller says it moved
    /// without naming (the waiting jobs a scheduling pass gave a new
    /// reason), so that a round costs what changed, not the queue's depth.
    async fn project(&mut self) -> Result<(), LoopError> {
        if self.touched.is_empty() {
            return Ok(());
        }
        let mut ids = std::mem::take(&mut self.touched);
        ids.sort_unstable();
        ids.dedup();
        let mut updates = Vec::new();
        let mut keys = Vec::new();
        for id in ids {
            // A job the controller no longer holds, nor waits to have
            // written, ended and was written: its row is final.
            let Some(j) = self.ctl.job(id).or_else(|| self.ended.get(&id)) else {
                continue;
            };
            let key = (j.state, j.attempt, j.reason.to_string());
            if self.projected.get(&id) == Some(&key) {
                continue;
            }
            keys.push((id, key));
            updates.push(JobUpdate {
                id,
                state: j.state.as_str().to_string(),
                terminal: j.state.is_terminal(),
                attempt: j.attempt,
                cluster: j
                    .cluster()
                    .map(|c| self.ctl.topology().clusters[c as usize].name.to_string()),
                reason: j.reason.to_string(),
                detail_json: views::job_detail(j).to_string(),
                at_s: self.now,
            });
        }
        // [`WRITE_CHUNK`] rows to a store request. A row counts as written
        // once its request is committed; on a failure what is not written
        // stays touched, for the next round.
        while !updates.is_empty() {
            let n = updates.len().min(WRITE_CHUNK);
            let chunk: Vec<JobUpdate> = updates.drain(..n).collect();
            if let Err(e) = self.store.update_jobs(Some(self.fence), chunk).await {
                self.touched.extend(keys.iter().map(|(id, _)| *id));
                return Err(e.into());
            }
            self.projected.extend(keys.drain(..n));
        }
        // Every ended record was touched, so its last state is written now:
        // it and what was noted of it go (its row no longer changes).
        for (id, _) in self.ended.drain() {
            self.projected.remove(&id);
        }
        Ok(())
    }

    /// Publishes the fleet's state for the API (in memory, and in the store
    /// for the other replicas).
    async fn publish_fleet(&mut self) {
        self.last_fleet = Instant::now();
        let topo = self.ctl.topology();
        let ix = self.ctl.scheduler().index();
        let clusters = topo
            .clusters
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let online = ix.cluster_online(i as u32);
                ClusterView {
                    name: c.name.to_string(),
                    accelerator: topo.accels[c.accel as usize].name.clone(),
                    price_model: views::price_model(c.price_model).to_string(),
                    usd_per_gpu_hour: c.usd_per_gpu_hour,
                    domains: c.n_domains,
                    domain_gpus: c.domain_gpus,
                    online_gpus: online,
                    allocated_gpus: online.saturating_sub(ix.cluster_free(i as u32)),
                }
            })
            .collect();
        let sites = topo
            .sites
            .iter()
            .enumerate()
            .map(|(i, s)| SiteView {
                name: s.name.clone(),
                envelope_mw: ix.site_envelope_w(i as u32) as f64 / 1e6,
                drawn_mw: ix.site_drawn_w(i as u32) as f64 / 1e6,
            })
            .collect();
        let view = FleetView {
            at: rfc3339(self.now),
            clusters,
            sites,
            pending_jobs: self.ctl.pending() as u64,
        };
        let spend = self.spend.clone();
        let json = serde_json::json!({ "fleet": &view, "spend": &spend }).to_string();
        self.shared.set_fleet(view, spend);
        if let Err(e) = self.store.set_meta("fleet_view", &json, false).await {
            tracing::debug!(error = %e, "fleet view not stored");
        }
        let gpus: Vec<(String, u64, u64)> = topo
            .clusters
            .iter()
            .enumerate()
            .map(|(i, c)| {
                (
                    c.name.to_string(),
                    ix.cluster_online(i as u32),
                    ix.cluster_free(i as u32),
                )
            })
            .collect();
        let power: Vec<(String, f64)> = topo
            .sites
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), ix.site_drawn_w(i as u32) as f64))
            .collect();
        self.metrics.fleet(self.ctl.pending() as i64, &gpus, &power);
        self.metrics
            .records_held(self.ctl.jobs().held() + self.ended.len());
        self.project_services().await;
    }

    /// Writes each service's replicas by zone and the demand it serves
    /// within its SLO onto its row, when they changed.
    async fn project_services(&mut self) {
        let zones = &self.ctl.topology().zones;
        let mut changed = Vec::new();
        for s in self.ctl.services() {
            let slo = self.ctl.slo(s.id);
            let by_zone: BTreeMap<&str, u32> = s
                .by_zone
                .iter()
                .map(|&(z, n)| (zones[z as usize].as_str(), n))
                .collect();
            let detail = serde_json::json!({
                "replicas": s.replicas,
                "replicas_by_zone": by_zone,
                "demand_rps": slo.demand_rps,
                "served_within_slo_rps": slo.served_rps,
            })
            .to_string();
            if self.services_projected.get(&s.id) != Some(&detail) {
                changed.push((s.id, detail));
            }
        }
        for (id, detail) in changed {
            let r = self
                .store
                .update_service_detail(Some(self.fence), id, detail.clone(), self.now)
                .await;
            match r {
                Ok(()) => {
                    self.services_projected.insert(id, detail);
                }
                Err(e) => tracing::debug!(service = id, error = %e, "service status not stored"),
            }
        }
    }

    fn answer(&self, q: Query) {
        match q {
            Query::Explain { job, reply } => {
                let _gone = reply.send(self.explain(job));
            }
        }
    }

    /// Why a job is where it is, from the scheduler's view now.
    fn explain(&self, id: JobId) -> Option<ExplainView> {
        let j = self.ctl.job(id)?;
        let mut v = views::explain_base(j, self.ctl.topology());
        if matches!(j.state, JobState::Pending | JobState::Interrupted) {
            let topo = self.ctl.topology();
            match Request::from_job(topo, id, &j.spec) {
                Ok(req) => {
                    let d = self.ctl.scheduler().decide(self.now, &req, true);
                    views::explain_decision(&mut v, &d, topo);
                }
                Err(e) => v.summary = format!("it cannot be placed: {e}"),
            }
        }
        Some(v)
    }
}
