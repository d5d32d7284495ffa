//! The control plane's clock: seconds since the epoch, running
//! `time_scale` times faster than the wall clock for the simulated backend.
//!
//! It is monotone within a process, and a restart continues from the last
//! time written to the log (an accelerated clock would otherwise jump by
//! the downtime times the scale, and the simulated world with it).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Seconds since the epoch on the wall clock.
pub fn wall_epoch_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The control plane's clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall0: Instant,
    virt0: f64,
    scale: f64,
}

impl Clock {
    /// A clock that reads `virt0` now and runs `scale` times the wall clock.
    pub fn new(virt0: f64, scale: f64) -> Clock {
        Clock {
            wall0: Instant::now(),
            virt0,
            scale,
        }
    }

    /// Now, seconds since the epoch.
    pub fn now_s(&self) -> i64 {
        (self.virt0 + self.wall0.elapsed().as_secs_f64() * self.scale).floor() as i64
    }

    /// Clock seconds per wall second.
    pub fn scale(&self) -> f64 {
        self.scale
    }
}

/// RFC 3339 (UTC, whole seconds) for seconds since the epoch.
pub fn rfc3339(t: i64) -> String {
    let day = t.div_euclid(86_400);
    let s = t.rem_euclid(86_400);
    let date = gf_model::Date::from_epoch_seconds(day * 86_400);
    format!("{date}T{:02}:{:02}:{:02}Z", s / 3600, (s / 60) % 60, s % 60)
}
