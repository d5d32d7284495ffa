//! The simulated world's truth about one run of a training job: how long it
//! takes, when its checkpoints land, and what an interruption throws away.
//!
//! A run is a restart phase (detection, start-up, initialisation, reading the
//! last checkpoint), then cycles of `interval` seconds of compute followed by
//! a blocking stall of `ckpt_cost` seconds, until the work is done. A
//! checkpoint is durable `persist` seconds after its stall ends (the
//! background write to storage); one kept in peers' memory is durable at
//! once, unless the failure took the peers too. Only the world knows this;
//! the controller learns it from the reports the world sends.

/// The plan of one run, fixed when it is dispatched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunPlan {
    /// Dispatch time, seconds since the epoch.
    pub start_s: i64,
    /// Seconds of restart (checkpoint read and initialisation) before compute.
    pub restart_s: i64,
    /// Seconds of compute between checkpoints.
    pub interval_s: i64,
    /// Seconds training stalls for one checkpoint.
    pub ckpt_cost_s: i64,
    /// Seconds after a stall before that checkpoint is on durable storage.
    pub persist_s: i64,
    /// Compute seconds left when the run starts.
    pub compute_left_s: i64,
}

/// What a run achieved when it stopped at some time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunOutcome {
    /// Compute seconds saved by checkpoints (or completed).
    pub saved_s: i64,
    /// Seconds spent writing checkpoints.
    pub ckpt_s: i64,
    /// Seconds of restart phase spent.
    pub restart_s: i64,
    /// Seconds since the last checkpoint that are lost.
    pub lost_s: i64,
    /// When the last checkpoint was complete (or the compute began).
    pub last_ckpt_s: i64,
}

impl RunPlan {
    fn cycle(&self) -> i64 {
        self.interval_s.max(1) + self.ckpt_cost_s
    }

    /// Checkpoints written before the work completes (none after the last
    /// compute: the final state is the result).
    fn ckpts_to_finish(&self) -> i64 {
        if self.compute_left_s <= 0 {
            0
        } else {
            (self.compute_left_s - 1) / self.interval_s.max(1)
        }
    }

    /// When the work completes if nothing interrupts it.
    pub fn finish_at(&self) -> i64 {
        self.start_s
            + self.restart_s
            + self.compute_left_s
            + self.ckpts_to_finish() * self.ckpt_cost_s
    }

    /// The run computes at `t` (rather than restarting or stalled for a
    /// checkpoint): what its GPUs' power draw follows.
    pub fn computing_at(&self, t: i64) -> bool {
        let compute_start = self.start_s + self.restart_s;
        if t < compute_start || t >= self.finish_at() {
            return false;
        }
        let e = t - compute_start;
        e / self.cycle() >= self.ckpts_to_finish() || e % self.cycle() < self.interval_s.max(1)
    }

    /// Stalls completed by `t`.
    fn stalls_by(&self, t: i64) -> i64 {
        let compute_start = self.start_s + self.restart_s;
        if t <= compute_start {
            0
        } else {
            ((t - compute_start) / self.cycle()).min(self.ckpts_to_finish())
        }
    }

    /// What the run has achieved if it stops at `t` (before its finish),
    /// resuming from the last checkpoint on storage.
    pub fn stopped_at(&self, t: i64) -> RunOutcome {
        self.stopped_keeping(t, false)
    }

    /// What the run has achieved if it stops at `t` (before its finish):
    /// every stall taken is spent, but only checkpoints that became durable
    /// by `t` are kept — on storage `persist_s` after their stall, or at once
    /// when `in_memory` (a copy in peers' memory that survived).
    pub fn stopped_keeping(&self, t: i64, in_memory: bool) -> RunOutcome {
        let compute_start = self.start_s + self.restart_s;
        if t <= compute_start {
            return RunOutcome {
                restart_s: (t - self.start_s).max(0),
                last_ckpt_s: compute_start.min(t),
                ..RunOutcome::default()
            };
        }
        let delay = if in_memory { 0 } else { self.persist_s };
        let stalls = self.stalls_by(t);
        let kept = self.stalls_by(t - delay);
        let saved_s = kept * self.interval_s.max(1);
        let ckpt_s = stalls * self.ckpt_cost_s;
        RunOutcome {
            saved_s,
            ckpt_s,
            restart_s: self.restart_s,
            lost_s: t - compute_start - saved_s - ckpt_s,
            last_ckpt_s: if kept > 0 {
                compute_start + kept * self.cycle() + delay
            } else {
                compute_start
            },
        }
    }

    /// What the run achieved if asked to stop at `asked` and it writes a
    /// checkpoint of everything computed so far before stopping at `done`
    /// (a graceful stop whose grace covers the checkpoint): nothing is lost,
    /// the write counts as checkpoint time.
    pub fn stopped_with_checkpoint(&self, asked: i64, done: i64) -> RunOutcome {
        // The final checkpoint holds everything computed, so whether the
        // earlier ones had reached storage does not matter.
        let mut o = self.stopped_keeping(asked, true);
        let compute_start = self.start_s + self.restart_s;
        if asked > compute_start {
            let kept = o.lost_s.min(self.interval_s.max(1));
            o.saved_s += kept;
            o.ckpt_s += o.lost_s - kept;
            o.lost_s = 0;
        }
        o.ckpt_s += (done - asked).max(0);
        o.last_ckpt_s = done;
        o
    }

    /// What the run achieved when it completes.
    pub fn completed(&self) -> RunOutcome {
        let n = self.ckpts_to_finish();
        RunOutcome {
            saved_s: self.compute_left_s,
            ckpt_s: n * self.ckpt_cost_s,
            restart_s: self.restart_s,
            lost_s: 0,
            last_ckpt_s: self.finish_at(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> RunPlan {
        RunPlan {
            start_s: 1000,
            restart_s: 600,
            interval_s: 3600,
            ckpt_cost_s: 300,
            persist_s: 0,
            compute_left_s: 3 * 3600 + 10,
        }
    }

    #[test]
    fn finish_counts_checkpoints_between_compute_only() {
        // 3 full intervals + 10 s: three checkpoints, then the last 10 s.
        assert_eq!(plan().finish_at(), 1000 + 600 + 3 * 3600 + 10 + 3 * 300);
    }

    #[test]
    fn an_interruption_loses_the_time_since_the_last_checkpoint() {
        let p = plan();
        let t = 1000 + 600 + 3900 + 1234;
        let o = p.stopped_at(t);
        assert_eq!(o.saved_s, 3600);
        assert_eq!(o.last_ckpt_s, 1000 + 600 + 3900);
        assert_eq!(o.lost_s, 1234);
        // Allocated time splits exactly into its parts.
        assert_eq!(o.restart_s + o.saved_s + o.ckpt_s + o.lost_s, t - p.start_s);
    }

    #[test]
    fn a_failure_during_the_persist_loses_that_checkpoint() {
        let p = RunPlan {
            persist_s: 120,
            ..plan()
        };
        let cs = 1000 + 600;
        // 60 s after the second stall ends: the second checkpoint is still
        // being written, so the run resumes from the first.
        let t = cs + 2 * 3900 + 60;
        let o = p.stopped_at(t);
        assert_eq!(o.saved_s, 3600);
        assert_eq!(o.ckpt_s, 600);
        assert_eq!(o.lost_s, 3600 + 60);
        assert_eq!(o.last_ckpt_s, cs + 3900 + 120);
        assert_eq!(o.restart_s + o.saved_s + o.ckpt_s + o.lost_s, t - p.start_s);
        // A copy in peers' memory survives it.
        let m = p.stopped_keeping(t, true);
        assert_eq!((m.saved_s, m.lost_s), (7200, 60));
        // Once the write lands, storage has it too.
        assert_eq!(p.stopped_at(t + 61).saved_s, 7200);
    }
}
