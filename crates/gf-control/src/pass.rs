//! The scheduling pass: the queue, highest priority first, offered to the
//! scheduler until a bounded number of jobs in a row found no room.

use gf_sched::{Outcome, Request, WorkId};

use gf_model::protocol::StopReason;

use crate::controller::{Controller, QueueKey};
use crate::error::ControlError;
use crate::job::JobState;
use crate::protocol::Action;
use crate::queue::QueueOrder;

impl Controller {
    /// One pass over the whole queue, in queue order.
    ///
    /// Within a pass capacity only shrinks, so once a gang of some kind
    /// (accelerators, scope, spot, team, no sharing or host needs) finds no
    /// room at some priority — not even by preemption — every gang of that
    /// kind at least as large and at most as important will not either.
    /// Those are skipped without asking the scheduler, so a pass asks the
    /// scheduler at most once per (kind, size, priority) that misses, plus
    /// once per job it places: it reaches every job that can fit, and a deep
    /// queue of work that cannot costs a walk over the queue, not a decision
    /// per job. (This replaces a fixed lookahead of 24 misses in a row, which
    /// left most of a deep queue unasked.)
    pub(crate) fn pass(&mut self, now: i64, out: &mut Vec<Action>) -> Result<(), ControlError> {
        self.dirty = false;
        self.shadow = None;
        // Under Tiresias the ranking decides who runs, preempting if need be.
        let keep = match self.cfg.queue {
            QueueOrder::TiresiasLas { .. } => {
                let keep = self.las_keep(now);
                let out_of_set: Vec<usize> = keep
                    .iter()
                    .enumerate()
                    .filter(|&(i, &k)| {
                        !k && matches!(
                            self.jobs[i].state,
                            JobState::Placed | JobState::Running | JobState::Restarting
                        )
                    })
                    .map(|(i, _)| i)
                    .collect();
                for i in out_of_set {
                    self.preemptions += 1;
                    self.request_stop(now, i, StopReason::Preempt, None, out);
                }
                Some(keep)
            }
            _ => None,
        };
        if self.cfg.queue == QueueOrder::FairShare {
            return self.fair_pass(now, out);
        }
        let head_blocks = self.cfg.queue.head_blocks();
        let mut missed: Vec<(MissKey, Vec<(u32, u32)>)> = Vec::new();
        let mut cursor: Option<QueueKey> = None;
        loop {
            let next = match cursor {
                None => self.queue.iter().next().copied(),
                Some(c) => self
                    .queue
                    .range((std::ops::Bound::Excluded(c), std::ops::Bound::Unbounded))
                    .next()
                    .copied(),
            };
            let Some(key) = next else { break };
            cursor = Some(key);
            if keep.as_ref().is_some_and(|k| !k[key.2 as usize]) {
                continue;
            }
            if !self.offer(now, key, &mut missed, out)? && head_blocks {
                break;
            }
        }
        Ok(())
    }

    /// Offers the scheduler one queued job, unless a job of its kind no
    /// larger and no less important already missed in this pass. False
    /// when it found no room.
    pub(crate) fn offer(
        &mut self,
        now: i64,
        key: QueueKey,
        missed: &mut Vec<(MissKey, Vec<(u32, u32)>)>,
        out: &mut Vec<Action>,
    ) -> Result<bool, ControlError> {
        let i = key.2 as usize;
        let Some(req) = self.jobs[i].lv().req.as_ref() else {
            self.dequeue(i);
            return Ok(true);
        };
        let kinded = MissKey::applies(req);
        let dominated = kinded
            && missed.iter().any(|(m, frontier)| {
                m.matches(req)
                    && frontier
                        .iter()
                        .any(|&(g, p)| g <= req.gpus && p >= req.priority)
            });
        if dominated {
            if !self.jobs[i].reason.starts_with("no fit") {
                self.set_reason(
                    i,
                    "no fit: a job of its kind no larger found no room".into(),
                );
            }
            return Ok(false);
        }
        let d = self.sched.decide(now, req, false);
        match d.outcome {
            Outcome::NoFit => {
                if kinded {
                    let miss = (req.gpus, req.priority);
                    match missed.iter_mut().find(|(m, _)| m.matches(req)) {
                        Some((_, f)) => f.push(miss),
                        None => missed.push((MissKey::of(req), vec![miss])),
                    }
                }
                let why = match d.explanation.causes().first() {
                    Some((c, n)) => format!("no fit: {c} ({n} clusters)").into(),
                    None => "no fit: no cluster accepts it".into(),
                };
                self.set_reason(i, why);
                if self.cfg.easy_backfill && self.shadow.is_none() {
                    self.reserve_for_head(now, i);
                }
                return Ok(false);
            }
            Outcome::Placed(p) => {
                if !self.backfill_allows(now, i, &p) {
                    self.set_reason(
                        i,
                        "held back: its cluster's room is reserved for a job that waits longer"
                            .into(),
                    );
                    return Ok(false);
                }
                let Some(req) = self.jobs[i].lv().req.as_ref() else {
                    return Ok(true);
                };
                let a = self.sched.commit_owned(now, req, p)?;
                self.dequeue(i);
                self.place(now, i, a, out);
            }
            Outcome::Preempt { placement, victims } => {
                let victims: Vec<WorkId> = victims.iter().map(|v| v.work).collect();
                if !self.reserve(now, i, placement, &victims, out)? {
                    self.set_reason(i, "waiting for preempted work to finish stopping".into());
                }
            }
        }
        Ok(true)
    }
}

/// What makes two gangs compete for the same room in a scheduling pass.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MissKey {
    accels: gf_sched::Accels,
    sites: Option<Vec<bool>>,
    spot_ok: bool,
    team: Option<u32>,
}

impl MissKey {
    /// Whole-GPU requests without host needs have a kind; the rest are
    /// always asked (a share or a host need fits differently).
    fn applies(req: &Request) -> bool {
        req.gpu_milli >= 1000 && req.cpu_milli_per_gpu == 0 && req.memory_mib_per_gpu == 0
    }

    /// The kind of a request (one allocation, taken only on a miss).
    fn of(req: &Request) -> Self {
        MissKey {
            accels: req.accels.clone(),
            sites: req.sites.clone(),
            spot_ok: req.spot_ok,
            team: req.team,
        }
    }

    /// Whether `req` is of this kind, without building its key.
    fn matches(&self, req: &Request) -> bool {
        self.accels == req.accels
            && self.sites == req.sites
            && self.spot_ok == req.spot_ok
            && self.team == req.team
    }
}
