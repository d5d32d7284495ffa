//! Starting a dispatched run: checking its placement against the world's
//! domains (taking over its ghost's, see [`super::ghosts`]), and fixing the
//! truth of a training run when it is dispatched — its restart phase
//! (detection, initialisation, reading the checkpoint; a partial restart of
//! one replica group), checkpoint cadence and the compute it has left.

use std::sync::Arc;

use gf_backend::BackendError;
use gf_model::PartialRestart;
use gf_model::protocol::{RunKind, RunSpec};

use super::run::RunPlan;
use super::{HOUR, SimRun, SimWorld, TAKEN, WorldEv, replicas};
use gf_model::protocol::Report;

impl SimWorld {
    /// Starts a dispatched run. A job has one run here at a time: a
    /// dispatch of another attempt while one lives is refused. When the
    /// job's last run was interrupted this instant (its ghost still holds
    /// its domains), the domains the new run keeps are taken over as they
    /// are, untouched; only those it gives up or adds are moved. A gang of
    /// 911 domains that lost one restarts by touching two, not 1,822.
    pub(super) fn start(&mut self, spec: &RunSpec) -> Result<(), BackendError> {
        let job = spec.run.job;
        let held = self.runs.slot(job);
        if let Some(r) = held.and_then(|s| self.runs.at(s)).filter(|r| !r.ghost) {
            if r.attempt == spec.run.attempt {
                return Ok(());
            }
            return Err(BackendError::Refused(format!(
                "job {job} still has run attempt {} here",
                r.attempt
            )));
        }
        let topo = Arc::clone(&self.topo);
        // The cluster of the last start, when it is this one again (a string
        // compare rather than hashing the name): it came from the same
        // lookup, so it is the cluster that lookup would give.
        let name = &spec.placement.cluster;
        let c = match topo.clusters.get(self.last_cluster as usize) {
            Some(cl) if cl.name == *name => self.last_cluster,
            _ => topo
                .cluster_by_name(name)
                .ok_or_else(|| BackendError::UnknownCluster(name.to_string()))?,
        };
        self.last_cluster = c;
        let cl = &topo.clusters[c as usize];
        // The slot of its ghost, when its restart takes the ghost's place.
        let ghost = match held.map(|s| (s, self.runs.at(s))) {
            Some((s, Some(r))) if r.ghost && r.cluster == c => Some(s),
            Some((s, Some(r))) if r.ghost => {
                if let Some(r) = self.runs.remove(s) {
                    self.unlist_all(s, &r.parts);
                }
                None
            }
            _ => None,
        };
        let stamp = ghost.map_or(0, |s| self.mark_ghost(s));
        let shared = spec.placement.gpu_milli.is_some();
        let mut parts = super::Parts::with_capacity(spec.placement.domains.len());
        let mut spares = Vec::new();
        for s in &spec.placement.domains {
            let d = topo.domain_of(c, s.index).ok_or_else(|| {
                BackendError::Refused(format!("{} has no domain {}", cl.name, s.index))
            })?;
            let whole = if shared { 0 } else { s.gpus };
            if s.spare {
                spares.push(d);
            }
            if let Some(gs) = ghost {
                let m = &mut self.marks[d as usize];
                if *m == (stamp, whole) {
                    // The ghost's share of it, taken over as it is: a
                    // ghost's domains are up (a domain going down evicts
                    // it), so there is nothing to check. On a domain it
                    // shares, the run goes last among its runs, as a run
                    // that arrives does (the order a GPU's failure is
                    // matched to its run by); on one it fills alone, it
                    // is already last, and the domain is not touched.
                    m.1 = TAKEN;
                    parts.push((d, whole));
                    if whole < cl.domain_gpus {
                        self.doms[d as usize].relist_last(&mut self.spill, gs);
                    }
                    continue;
                }
                if m.0 == stamp && m.1 != TAKEN {
                    m.0 = 0;
                    self.evict_ghost(gs, d);
                }
            }
            self.evict_ghosts_on(d, job);
            if !self.doms[d as usize].built || self.doms[d as usize].down > 0 {
                return Err(BackendError::Refused(format!(
                    "domain {} of {} is offline",
                    s.index, cl.name
                )));
            }
            if self.doms[d as usize].used + whole > cl.domain_gpus {
                return Err(BackendError::Refused(format!(
                    "domain {} of {} has {} GPUs free, {} asked",
                    s.index,
                    cl.name,
                    cl.domain_gpus - self.doms[d as usize].used,
                    s.gpus
                )));
            }
            parts.push((d, whole));
        }
        let gpus: u32 = parts.iter().map(|p| p.1).sum();
        if let RunKind::Replica { replicas, .. } = spec.kind {
            replicas::check_set(&cl.name, replicas, gpus, &parts)?;
        }
        let train = self.topo.accels[cl.accel as usize].train;
        let load_s = match &spec.kind {
            RunKind::Replica { service, .. } => {
                self.model_load_s.get(service).copied().unwrap_or(0)
            }
            RunKind::Training { .. } => 0,
        };
        let (plan, working, rate, resume, in_memory, group_gpus) = match &spec.kind {
            RunKind::Training {
                spec: job,
                resume_gpu_h,
                checkpoint_interval_s,
            } => {
                let working = job.gpus;
                let rate = working as f64 * train / HOUR;
                let ckpt_cost_s = (job.checkpoint_cost_min * 60.0) as i64;
                let persist_s = job
                    .checkpoint_persist_min
                    .map_or(self.practice.persist_s, |m| m * 60.0)
                    .max(0.0)
                    .round() as i64;
                // Restart: detection (after a failure), start-up,
                // initialisation growing with the gang, and reading the
                // checkpoint (as long as its stall: from storage's cache or
                // a peer's memory). Re-placement is the time between the
                // failure and this dispatch, the controller's doing.
                // A partial restart initialises the failed replica group
                // only, and copies a peer group's state (as long as a stall)
                // where a whole restart reads the checkpoint.
                let group = job.replica_group_gpus.unwrap_or(self.practice.group_gpus);
                let group_gpus = if group > 0 && working >= 2 * group {
                    group
                } else {
                    0
                };
                let failed = self.interrupted.remove(&spec.run.job);
                let partial = matches!(failed, Some((true, _))) && group_gpus > 0;
                let (detect_s, init_gpus) = match failed {
                    Some(_) if partial => (self.practice.detect_s, group_gpus),
                    Some(_) => (self.practice.detect_s, working),
                    None => (0.0, working),
                };
                let init_s = self.practice.init_s_per_gpu * init_gpus as f64;
                let mut restart_s = self.restart_overhead_s as i64
                    + (detect_s + init_s).round() as i64
                    + if spec.run.attempt > 1 { ckpt_cost_s } else { 0 };
                let mode = job.partial_restart.unwrap_or(self.practice.partial);
                let mut resume = *resume_gpu_h;
                if let (true, PartialRestart::Continue, Some((_, at))) = (partial, mode, failed) {
                    // The surviving groups trained on since the failure at
                    // (N − g)/N of the gang's rate, through the re-placement
                    // wait and the failed group's restart. Work is linear in
                    // time: the wait's share is credited as progress (and as
                    // useful GPU time the survivors held), and the restart
                    // costs the gang g/N of its length.
                    let (n, g) = (working as f64, group_gpus as f64);
                    let wait = (self.now - at).max(0) as f64;
                    let survivors_s = (n - g) / n * wait;
                    resume = (resume + survivors_s * rate).min(job.work_gpu_hours);
                    let t = self.truth.entry(spec.run.job);
                    t.alloc_gpu_s += survivors_s * n;
                    t.useful_gpu_s += survivors_s * n;
                    restart_s = (restart_s as f64 * g / n).round() as i64;
                }
                let left_h = (job.work_gpu_hours - resume).max(0.0);
                let compute_left_s = (left_h / rate.max(1e-12)).ceil().max(1.0) as i64;
                let plan = RunPlan {
                    start_s: self.now,
                    restart_s,
                    interval_s: *checkpoint_interval_s,
                    ckpt_cost_s,
                    persist_s,
                    compute_left_s,
                };
                let in_memory = job.checkpoint_in_memory.unwrap_or(self.practice.in_memory);
                (Some(plan), working, rate, resume, in_memory, group_gpus)
            }
            RunKind::Replica { .. } => (None, 0, 0.0, 0.0, false, 0),
        };
        // The new run's slot: its ghost's, or a free one. A ghost's slot
        // stays listed on the domains the restart took over.
        let s = match ghost {
            Some(s) => {
                if let Some(old) = self.runs.at(s) {
                    for &(d, g) in &old.parts {
                        if self.marks[d as usize] != (stamp, TAKEN) {
                            let dom = &mut self.doms[d as usize];
                            dom.unlist(&mut self.spill, s);
                            dom.used -= g;
                        }
                    }
                }
                Some(s)
            }
            None => None,
        };
        let s = s.unwrap_or_else(|| self.runs.vacant());
        for &(d, g) in &parts {
            if ghost.is_some() && self.marks[d as usize] == (stamp, TAKEN) {
                continue;
            }
            let dom = &mut self.doms[d as usize];
            dom.push(&mut self.spill, s);
            dom.used += g;
        }
        self.alloc_change(c, gpus as i64);
        if let Some(p) = plan {
            let t = p.finish_at();
            if t < self.end_s {
                self.push(t, WorldEv::Finish(spec.run, s));
            }
        }
        self.runs.put(
            s,
            SimRun {
                job,
                attempt: spec.run.attempt,
                ghost: false,
                cluster: c,
                since: self.now,
                parts,
                gpus,
                working,
                plan,
                rate_h_per_s: rate,
                resume_gpu_h: resume,
                reported_h: resume,
                stopping: false,
                saving_since: None,
                in_memory,
                spares,
                group_gpus,
                peer_recovery: false,
                memory_lost: false,
                service: match &spec.kind {
                    RunKind::Replica { service, .. } => Some(*service),
                    RunKind::Training { .. } => None,
                },
                replicas: match spec.kind {
                    RunKind::Replica { replicas, .. } => replicas,
                    RunKind::Training { .. } => 0,
                },
                serving: false,
            },
        );
        if load_s > 0 {
            // A replica is started (and reported so) once its model is in.
            self.push(self.now + load_s, WorldEv::Ready(spec.run));
        } else {
            // Only a replica set serves: a training run has nothing to tally.
            if matches!(spec.kind, RunKind::Replica { .. }) {
                self.serve(spec.run);
            }
            self.pending.push(Report::Started { run: spec.run });
        }
        Ok(())
    }
}
