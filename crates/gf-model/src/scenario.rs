//! The `[scenario]` section of a file: what the digital twin simulates on top
//! of the fleet and the work — horizon, workload generators, failures.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml_span::Value;

use crate::diag::Diagnostics;
use crate::parse::Tbl;
use crate::spec::Locs;
use crate::units::Date;

/// A simulation scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    /// First simulated day.
    pub start: Date,
    /// Days simulated.
    pub horizon_days: u32,
    #[serde(skip)]
    #[schemars(skip)]
    #[allow(missing_docs)]
    pub locs: Locs,
}

pub(crate) fn read_scenario(cx: &mut Diagnostics, v: Value<'_>) -> Option<ScenarioSpec> {
    let mut t = Tbl::new(cx, v, "[scenario]")?;
    let start = t.req::<Date>(cx, "start");
    let horizon_days = t.req::<u32>(cx, "horizon_days");
    let locs = t.finish(cx);
    Some(ScenarioSpec {
        start: start?,
        horizon_days: horizon_days?,
        locs,
    })
}
