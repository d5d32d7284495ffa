//! The twin's side of the loop: how its shells carry the controller's
//! actions to the world and bring its reports back.

use gf_backend::Backend;
use gf_model::protocol::Report;

use super::SimWorld;

/// How the twin's shells (the engine and the trace replay) carry the
/// controller's actions to the world and its reports back: one place, so
/// both run the loop the server runs against a real backend.
impl SimWorld {
    /// Carries out one action at `now`; a refused dispatch comes back as the
    /// report the controller must hear.
    pub(crate) fn carry(
        &mut self,
        now: i64,
        a: &gf_control::Action,
    ) -> Result<Option<gf_control::Event>, crate::SimError> {
        match a {
            gf_control::Action::Dispatch(spec) => {
                let r = gf_backend::ready(self.dispatch(now, spec))
                    .expect("the simulated world never waits");
                Ok(r.err().map(|e| {
                    gf_control::Event::Backend(Report::Refused {
                        run: spec.run,
                        reason: e.to_string(),
                    })
                }))
            }
            gf_control::Action::Stop(stop) => {
                gf_backend::ready(self.stop(now, stop))
                    .expect("the simulated world never waits")?;
                Ok(None)
            }
            gf_control::Action::Shrink(shrink) => {
                gf_backend::ready(self.shrink(now, shrink))
                    .expect("the simulated world never waits")?;
                Ok(None)
            }
            gf_control::Action::Ended { .. } => Ok(None),
        }
    }

    /// The reports of everything up to `now` not yet reported.
    pub(crate) fn reports(&mut self, now: i64) -> Result<Vec<Report>, crate::SimError> {
        Ok(gf_backend::ready(self.observe(now)).expect("the simulated world never waits")?)
    }
}
