//! Fair share between teams (the `fair-share` queue order): within a
//! priority, the next job offered capacity is the oldest of the team whose
//! GPUs in use, divided by its weight, are lowest — Kueue's fair sharing,
//! with each team a cohort member whose weight sets its share. Shares move
//! as the pass places work, so a team that just got GPUs waits its turn
//! behind teams further below their share, and a team alone borrows all
//! the room the others leave (nothing is held idle for an absent team).

use std::collections::{BTreeMap, VecDeque};

use crate::controller::{Controller, QueueKey};
use crate::error::ControlError;
use crate::protocol::Action;

impl Controller {
    /// GPUs team `t` holds now over its weight.
    fn share(&self, team: Option<u32>) -> f64 {
        let Some(t) = team else {
            return 0.0;
        };
        let used: u64 = (0..self.topo.accels.len())
            .map(|a| self.sched.team_used(t, a as u16))
            .sum();
        used as f64 / self.topo.teams[t as usize].weight.max(1e-9)
    }

    /// One pass over the queue in fair-share order.
    pub(crate) fn fair_pass(
        &mut self,
        now: i64,
        out: &mut Vec<Action>,
    ) -> Result<(), ControlError> {
        // Each team's waiting jobs, in queue order (priority, then age).
        let mut by_team: BTreeMap<Option<u32>, VecDeque<QueueKey>> = BTreeMap::new();
        for &k in &self.queue {
            let team = self.jobs[k.2 as usize]
                .lv()
                .req
                .as_ref()
                .and_then(|r| r.team);
            by_team.entry(team).or_default().push_back(k);
        }
        let mut shares: BTreeMap<Option<u32>, f64> =
            by_team.keys().map(|&t| (t, self.share(t))).collect();
        let mut missed = Vec::new();
        loop {
            // The most important head; among equals, the team furthest
            // below its share, then the older job.
            let next = by_team
                .iter()
                .filter_map(|(t, q)| q.front().map(|k| (k.0, shares[t], k.1, *t)))
                .min_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
            let Some((_, _, _, team)) = next else { break };
            let Some(key) = by_team.get_mut(&team).and_then(VecDeque::pop_front) else {
                break;
            };
            let before = self.jobs[key.2 as usize].alloc_gpus();
            self.offer(now, key, &mut missed, out)?;
            let got = self.jobs[key.2 as usize]
                .alloc_gpus()
                .saturating_sub(before);
            if got > 0
                && let Some(t) = team
            {
                let w = self.topo.teams[t as usize].weight.max(1e-9);
                *shares.entry(team).or_default() += got as f64 / w;
            }
        }
        Ok(())
    }
}
