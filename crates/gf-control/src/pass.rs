//! The scheduling pass: the queue, highest priority first, offered to the
//! scheduler until a bounded number of jobs in a row found no room.

use gf_sched::{Outcome, Request, WorkId};

use crate::controller::{Controller, QueueKey};
use crate::error::ControlError;
use crate::protocol::Action;

impl Controller {
    /// One pass over the queue, highest priority first; stops after
    /// `max_pass_misses` jobs in a row found no room.
    ///
    /// Within a pass capacity only shrinks and priorities only fall, so once a
    /// gang of some kind (accelerators, scope, spot, team, no sharing or host
    /// needs) finds no room, every gang of that kind at least as large will
    /// not either: those are skipped without asking the scheduler and do not
    /// count as misses, so the small work behind a blocked large gang is
    /// still reached (backfill).
    pub(crate) fn pass(&mut self, now: i64, out: &mut Vec<Action>) -> Result<(), ControlError> {
        self.dirty = false;
        let mut missed: Vec<(MissKey, u32)> = Vec::new();
        let mut misses = 0;
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
            let i = key.2 as usize;
            let Some(req) = self.jobs[i].req.clone() else {
                self.queue.remove(&key);
                continue;
            };
            let kind = MissKey::of(&req);
            if let Some(k) = &kind
                && missed.iter().any(|(m, g)| m == k && *g <= req.gpus)
            {
                continue;
            }
            let d = self.sched.decide(now, &req, false);
            match d.outcome {
                Outcome::NoFit => {
                    if let Some(k) = kind {
                        match missed.iter_mut().find(|(m, _)| *m == k) {
                            Some((_, g)) => *g = (*g).min(req.gpus),
                            None => missed.push((k, req.gpus)),
                        }
                    }
                    self.jobs[i].reason = match d.explanation.causes().first() {
                        Some((c, n)) => format!("no fit: {c} ({n} clusters)"),
                        None => "no fit: no cluster accepts it".into(),
                    };
                    misses += 1;
                    if misses >= self.cfg.max_pass_misses {
                        break;
                    }
                }
                Outcome::Placed(p) => {
                    misses = 0;
                    let a = self.sched.commit(now, &req, &p)?;
                    self.queue.remove(&key);
                    self.place(now, i, a, out);
                }
                Outcome::Preempt { placement, victims } => {
                    misses = 0;
                    let victims: Vec<WorkId> = victims.iter().map(|v| v.work).collect();
                    if !self.reserve(now, i, placement, &victims, out)? {
                        self.jobs[i].reason =
                            "waiting for preempted work to finish stopping".into();
                    }
                }
            }
        }
        Ok(())
    }
}

/// What makes two gangs compete for the same room in a scheduling pass.
#[derive(Debug, Clone, PartialEq)]
struct MissKey {
    accels: Vec<u16>,
    sites: Option<Vec<bool>>,
    spot_ok: bool,
    team: Option<u32>,
}

impl MissKey {
    /// The key of a whole-GPU request without host needs; `None` for the
    /// rest, which are always asked (a share or a host need fits differently).
    fn of(req: &Request) -> Option<Self> {
        (req.gpu_milli >= 1000 && req.cpu_milli_per_gpu == 0 && req.memory_mib_per_gpu == 0).then(
            || MissKey {
                accels: req.accels.clone(),
                sites: req.sites.clone(),
                spot_ok: req.spot_ok,
                team: req.team,
            },
        )
    }
}
