//! Deadlines the controller keeps for a backend that stays silent: a
//! dispatch never reported started is taken back, and a stop never
//! confirmed is taken as done once its grace period runs out. A backend's
//! silence must not hold GPUs for ever.

use gf_model::protocol::{StopReason, StopSpec};

use crate::controller::Controller;
use crate::error::ControlError;
use crate::job::JobState;
use crate::protocol::Action;

impl Controller {
    /// Job `i`'s current dispatch or stop times out at `t` (replacing any
    /// deadline it had).
    pub(crate) fn set_deadline(&mut self, i: usize, t: i64) {
        self.clear_deadline(i);
        let j = &mut self.jobs[i];
        j.lv_mut().deadline = Some(t);
        self.deadlines.insert((t, i as u32, j.attempt));
    }

    /// Job `i` has no deadline any more: what it waited for came.
    pub(crate) fn clear_deadline(&mut self, i: usize) {
        let j = &mut self.jobs[i];
        if let Some(t) = j.live_mut().and_then(|l| l.deadline.take()) {
            self.deadlines.remove(&(t, i as u32, j.attempt));
        }
    }

    /// Expires dispatches that were never reported started and stops whose
    /// grace period ran out.
    pub(crate) fn expire(&mut self, now: i64, out: &mut Vec<Action>) -> Result<(), ControlError> {
        while let Some(&(t, i, attempt)) = self.deadlines.first() {
            if t > now {
                break;
            }
            self.deadlines.pop_first();
            let i = i as usize;
            if self
                .jobs
                .get(i)
                .is_none_or(|j| j.attempt != attempt || j.lv().deadline != Some(t))
            {
                continue;
            }
            self.jobs[i].lv_mut().deadline = None;
            match self.jobs[i].state {
                JobState::Placed | JobState::Restarting => {
                    let run = self.jobs[i].run();
                    out.push(Action::Stop(StopSpec {
                        run,
                        reason: StopReason::Release,
                        grace_s: 0,
                    }));
                    let why = format!(
                        "dispatch not started within {} s, waiting to be placed again",
                        self.cfg.dispatch_timeout_s
                    );
                    self.give_back(now, i)?;
                    self.requeue(i, why);
                }
                // The backend never confirmed: the grace period is the bound.
                JobState::Stopping => self.confirm_stop(now, i, false, out)?,
                _ => {}
            }
        }
        Ok(())
    }
}
