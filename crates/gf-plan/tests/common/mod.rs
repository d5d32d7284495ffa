//! Helpers shared by the planner's tests: a small fleet written as TOML, so
//! each test reads like the file a user would write.

#![allow(dead_code)]

use gf_model::Document;
use gf_plan::{Instance, Plan};

/// Parses a document, failing the test with the diagnostics.
pub fn doc(src: &str) -> Document {
    match gf_model::parse_document("t.toml", src) {
        Ok(d) => d,
        Err(e) => panic!(
            "{}",
            e.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

/// Plans a document.
pub fn plan(src: &str) -> Plan {
    gf_plan::plan_document(&doc(src)).unwrap()
}

/// Compiles a document into an instance.
pub fn instance(src: &str) -> Instance {
    Instance::from_document(&doc(src)).unwrap()
}

/// One provider with one site and one cluster of `domains` HGX H100 servers
/// (8 GPUs, 1.53 kW each GPU).
pub fn site(provider: &str, power_mw: f64, domains: u32, price: &str) -> String {
    format!(
        r#"
[[provider]]
name = "{provider}"
[[provider.region]]
name = "r1"
power_mw = {power_mw}
zone = "us"
[[provider.region.cluster]]
name = "c1"
accelerator = "h100"
domains = {domains}
price = {price}
"#
    )
}

/// A `[plan]` of `months` months from January 2026 with a flat training demand.
pub fn flat_plan(months: u32, penalty: f64, demand: f64, hard: bool) -> String {
    format!(
        r#"
[plan]
start = "2026-01-01"
months = {months}
unmet_usd_per_gpu_hour = {penalty}
[[plan.demand]]
name = "train"
kind = "training"
hard = {hard}
curve = [{{ date = "2026-01-01", value = {demand} }}]
"#
    )
}
