//! The HTML report of `gigafleet simulate --report`: one self-contained file
//! (inline CSS and SVG, no script, nothing fetched at view time) with the
//! charts a platform team reads first — utilization and power per site
//! against the envelope, commitment burn per contract, the queue, goodput,
//! SLO attainment — and the tables behind them.
//!
//! [`render`] only lists the sections in the order a reader meets them; each
//! section is a function of [`sections`], drawn with the SVG charts of
//! [`svg`] and the tables and number formats of [`html`], so a section can
//! be changed without reading the other four hundred lines.

mod html;
mod sections;
mod svg;

use gf_sim::Summary;

/// Renders the report of one or more runs of the same scenario (one per policy).
pub fn render(scenario: &str, runs: &[&Summary]) -> String {
    let s = runs[0];
    let mut h = String::new();
    sections::head(&mut h, scenario, s);
    sections::kpis(&mut h, s);
    sections::fleet(&mut h, s);
    sections::sites(&mut h, s);
    sections::contracts(&mut h, s);
    sections::queue_and_inference(&mut h, s);
    sections::training(&mut h, s);
    sections::interruptions(&mut h, s);
    sections::usage(&mut h, s);
    sections::policies(&mut h, runs);
    sections::footer(&mut h, s);
    h
}
