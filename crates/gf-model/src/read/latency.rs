//! Reads the `[latency]` section: round trips between latency zones.
//!
//! Each pair's shape is checked here (two different zones, a round trip
//! that is a number of milliseconds above zero); whether the zones exist and
//! whether a pair is listed twice needs the whole fleet and is checked in
//! `crate::validate::latency`.

use toml_span::value::{Value, ValueInner};

use crate::diag::Diagnostics;
use crate::latency::{DEFAULT_CROSS_ZONE_RTT_MS, DEFAULT_SAME_ZONE_RTT_MS, LatencySpec, ZoneRtt};
use crate::tbl::{Tbl, non_negative, positive, wanted};

/// Reads `[latency]`; `None` when it is not a table (reported).
pub(crate) fn read_latency(cx: &mut Diagnostics, v: Value<'_>) -> Option<LatencySpec> {
    let mut t = Tbl::new(cx, v, "[latency]")?;
    let same = t.or::<f64>(cx, "same_zone_rtt_ms", DEFAULT_SAME_ZONE_RTT_MS);
    non_negative(cx, &t, "same_zone_rtt_ms", same);
    let default = t.or::<f64>(cx, "default_rtt_ms", DEFAULT_CROSS_ZONE_RTT_MS);
    positive(cx, &t, "default_rtt_ms", default);
    let pairs = match t.take("pairs") {
        Some(mut v) => match v.take() {
            ValueInner::Array(items) => {
                items.into_iter().filter_map(|i| read_pair(cx, i)).collect()
            }
            other => {
                wanted(
                    cx,
                    v.span.start,
                    "an array of { zones = [\"us-east\", \"eu-west\"], rtt_ms = 90.0 }",
                    &other,
                );
                Vec::new()
            }
        },
        None => Vec::new(),
    };
    let locs = t.finish(cx);
    Some(LatencySpec {
        same_zone_rtt_ms: same,
        default_rtt_ms: default,
        pairs,
        locs,
    })
}

fn read_pair(cx: &mut Diagnostics, v: Value<'_>) -> Option<ZoneRtt> {
    let mut t = Tbl::new(cx, v, "a [latency] pair")?;
    let zones = t.req::<Vec<String>>(cx, "zones");
    let rtt = t.req::<f64>(cx, "rtt_ms");
    if let Some(r) = rtt {
        positive(cx, &t, "rtt_ms", r);
    }
    let zones = zones.and_then(|z| match <[String; 2]>::try_from(z) {
        Ok([a, b]) if a == b => {
            cx.error(
                t.at("zones"),
                format!(
                    "`zones` names `{a}` twice; a zone's own round trip is `same_zone_rtt_ms`"
                ),
            );
            None
        }
        Ok(pair) => Some(pair),
        Err(z) => {
            cx.error(
                t.at("zones"),
                format!(
                    "`zones` has {} entries; expected two zone names, e.g. zones = [\"us-east\", \"eu-west\"]",
                    z.len()
                ),
            );
            None
        }
    });
    let locs = t.finish(cx);
    Some(ZoneRtt {
        zones: zones?,
        rtt_ms: rtt?,
        locs,
    })
}
