//! The HTML report of `gigafleet plan --report`: one self-contained file
//! (inline CSS and SVG, no script, nothing fetched at view time) with the
//! charts a capacity planner reads first — capacity by provider against
//! demand, power per site against its envelope, commitment burn per
//! contract, what-if costs — and the tables behind them.

use std::fmt::Write;

use gf_plan::{Plan, WhatIfOut};

use super::plan_verify::Verify;
use crate::simulate::usd;

const COLORS: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

struct Line<'a> {
    name: String,
    ys: &'a [f64],
    dashed: bool,
}

fn short(x: f64) -> String {
    let a = x.abs();
    if a >= 1e9 {
        format!("{:.1}B", x / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", x / 1e6)
    } else if a >= 1e3 {
        format!("{:.0}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

/// A line chart over the plan's months; the y axis starts at zero.
fn chart(title: &str, months: &[String], lines: &[Line<'_>]) -> String {
    let (w, h, l, r, t, b) = (720.0, 260.0, 64.0, 12.0, 40.0, 30.0);
    let n = months.len().max(2) as f64 - 1.0;
    let y_max = lines
        .iter()
        .flat_map(|l| l.ys.iter().copied())
        .fold(1e-9, f64::max)
        * 1.08;
    let px = |i: f64| l + (w - l - r) * i / n;
    let py = |y: f64| h - b - (h - t - b) * y / y_max;
    let mut s = format!(
        r#"<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" xmlns="http://www.w3.org/2000/svg" role="img"><title>{0}</title><text x="{l}" y="14" class="t">{0}</text>"#,
        esc(title)
    );
    for k in 0..=4 {
        let y = y_max * f64::from(k) / 4.0;
        let _ = write!(
            s,
            r##"<line x1="{l}" x2="{}" y1="{p:.1}" y2="{p:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" class="a" text-anchor="end">{}</text>"##,
            w - r,
            l - 4.0,
            py(y) + 4.0,
            short(y),
            p = py(y)
        );
    }
    let step = (months.len() / 8).max(1);
    for (i, m) in months.iter().enumerate().step_by(step) {
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{}" class="a" text-anchor="middle">{}</text>"#,
            px(i as f64),
            h - b + 14.0,
            esc(m)
        );
    }
    for (i, line) in lines.iter().enumerate() {
        let c = COLORS[i % COLORS.len()];
        let mut d = String::new();
        for (k, &y) in line.ys.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1}",
                if k == 0 { "M" } else { "L" },
                px(k as f64),
                py(y)
            );
        }
        let dash = if line.dashed {
            r#" stroke-dasharray="5,4""#
        } else {
            ""
        };
        let _ = write!(
            s,
            r#"<path d="{d}" fill="none" stroke="{c}" stroke-width="1.6"{dash}/>"#
        );
        let lx = l + 8.0 + (i % 4) as f64 * 160.0;
        let ly = 26.0 + (i / 4) as f64 * 11.0;
        let _ = write!(
            s,
            r#"<rect x="{lx}" y="{:.1}" width="10" height="3" fill="{c}"/><text x="{:.1}" y="{:.1}" class="a">{}</text>"#,
            ly - 3.0,
            lx + 14.0,
            ly + 1.0,
            esc(&line.name)
        );
    }
    s.push_str("</svg>");
    s
}

/// Horizontal bars, one per row, positive right and negative left of zero.
fn bars(title: &str, rows: &[(String, f64)]) -> String {
    let (w, row_h, l) = (720.0, 20.0, 200.0);
    let h = 24.0 + row_h * rows.len() as f64;
    let m = rows.iter().map(|r| r.1.abs()).fold(1e-9, f64::max);
    let zero = l + (w - l - 90.0) / 2.0;
    let half = (w - l - 90.0) / 2.0;
    let mut s = format!(
        r#"<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" xmlns="http://www.w3.org/2000/svg" role="img"><title>{0}</title><text x="0" y="14" class="t">{0}</text>"#,
        esc(title)
    );
    for (i, (name, v)) in rows.iter().enumerate() {
        let y = 22.0 + row_h * i as f64;
        let bw = half * v.abs() / m;
        let x = if *v >= 0.0 { zero } else { zero - bw };
        let c = if *v >= 0.0 { "#d62728" } else { "#2ca02c" };
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" class="a" text-anchor="end">{}</text><rect x="{x:.1}" y="{y:.1}" width="{bw:.1}" height="14" fill="{c}"/><text x="{:.1}" y="{:.1}" class="a">{}</text>"#,
            l - 6.0,
            y + 11.0,
            esc(name),
            zero + half + 6.0,
            y + 11.0,
            esc(&usd(*v))
        );
    }
    s.push_str("</svg>");
    s
}

fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = String::from("<table><tr>");
    for h in head {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    s.push_str("</tr>");
    for r in rows {
        s.push_str("<tr>");
        for c in r {
            let _ = write!(s, "<td>{}</td>", esc(c));
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>");
    s
}

/// Renders the report.
pub fn render(
    path: &str,
    p: &Plan,
    whatifs: &[(WhatIfOut, Plan)],
    verify: Option<&Verify>,
) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>gigafleet plan: {0}</title><style>body{{font:14px system-ui,sans-serif;margin:24px;max-width:1000px}}table{{border-collapse:collapse;margin:8px 0 20px}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}th{{background:#f4f4f4}}td:first-child{{text-align:left}}.t{{font-size:13px;font-weight:600}}.a{{font-size:10px;fill:#444}}</style></head><body><h1>Capacity plan: {0}</h1><p>{1} months, {2} to {3}; {4}; total cost {5}.</p>",
        esc(path),
        p.months.len(),
        esc(p.months.first().map_or("", String::as_str)),
        esc(p.months.last().map_or("", String::as_str)),
        esc(&p.status),
        esc(&usd(p.cost.total_usd))
    );
    let c = &p.cost;
    s.push_str("<h2>Cost</h2>");
    s.push_str(&table(
        &["part", "USD"],
        &[
            ("reserved capacity", c.reserved_usd),
            ("capacity paid per use", c.on_demand_usd),
            ("options exercised", c.options_usd),
            ("contracts signed", c.candidates_usd),
            ("CPU for agentic work", c.cpu_usd),
            ("commitment lost", c.lost_commitment_usd),
            ("penalty on unmet demand", c.unmet_penalty_usd),
            ("total", c.total_usd),
        ]
        .iter()
        .map(|(k, v)| vec![k.to_string(), usd(*v)])
        .collect::<Vec<_>>(),
    ));
    s.push_str("<h2>Capacity and demand</h2>");
    let lines: Vec<Line<'_>> = p
        .capacity
        .used_by_provider
        .iter()
        .map(|(k, v)| Line {
            name: k.clone(),
            ys: v,
            dashed: false,
        })
        .chain(p.capacity.online_by_provider.iter().map(|(k, v)| Line {
            name: format!("{k} online"),
            ys: v,
            dashed: true,
        }))
        .collect();
    s.push_str(&chart(
        "GPUs in use (solid) and online (dashed) by provider",
        &p.months,
        &lines,
    ));
    let demand: Vec<Line<'_>> = p
        .demand
        .iter()
        .filter(|(_, d)| d.kind == "training")
        .flat_map(|(k, d)| {
            [
                Line {
                    name: format!("{k} asked"),
                    ys: &d.asked[..],
                    dashed: true,
                },
                Line {
                    name: format!("{k} served"),
                    ys: &d.served[..],
                    dashed: false,
                },
            ]
        })
        .collect();
    if !demand.is_empty() {
        s.push_str(&chart(
            "Training demand, H100-equivalent GPUs: asked (dashed) and served",
            &p.months,
            &demand,
        ));
    }
    let acc: Vec<Line<'_>> = p
        .capacity
        .used_by_accelerator
        .iter()
        .map(|(k, v)| Line {
            name: k.clone(),
            ys: v,
            dashed: false,
        })
        .collect();
    s.push_str(&chart("GPUs in use by accelerator", &p.months, &acc));
    if !p.shortfalls.is_empty() {
        s.push_str("<h3>Largest shortfalls</h3>");
        s.push_str(&table(
            &["demand", "month", "unmet", "unit"],
            &p.shortfalls
                .iter()
                .take(15)
                .map(|x| {
                    vec![
                        x.demand.clone(),
                        x.month.clone(),
                        format!("{:.0}", x.unmet),
                        x.unit.clone(),
                    ]
                })
                .collect::<Vec<_>>(),
        ));
    }
    s.push_str("<h2>Power</h2>");
    let mut sites: Vec<&String> = p.power_runs_out.iter().map(|x| &x.site).collect();
    for k in p.power.keys() {
        if !sites.contains(&k) {
            sites.push(k);
        }
    }
    for chunk in sites.chunks(3).take(4) {
        let lines: Vec<Line<'_>> = chunk
            .iter()
            .flat_map(|k| {
                let pw = &p.power[*k];
                [
                    Line {
                        name: format!("{k} MW"),
                        ys: &pw.used_mw[..],
                        dashed: false,
                    },
                    Line {
                        name: format!("{k} envelope"),
                        ys: &pw.envelope_mw[..],
                        dashed: true,
                    },
                ]
            })
            .collect();
        s.push_str(&chart(
            "Power drawn against the envelope, MW",
            &p.months,
            &lines,
        ));
    }
    s.push_str(&table(
        &[
            "site",
            "power first binds",
            "months binding",
            "value of 1 more MW (horizon)",
        ],
        &p.power_runs_out
            .iter()
            .map(|x| {
                let pw = &p.power[&x.site];
                vec![
                    x.site.clone(),
                    x.month.clone(),
                    pw.binding_months.len().to_string(),
                    usd(pw.value_per_mw_horizon_usd),
                ]
            })
            .collect::<Vec<_>>(),
    ));
    s.push_str("<h2>Commitments</h2>");
    let burn: Vec<Line<'_>> = p
        .contracts
        .iter()
        .flat_map(|(k, c)| {
            [
                Line {
                    name: format!("{k} spent"),
                    ys: &c.cumulative_spend_usd[..],
                    dashed: false,
                },
                Line {
                    name: format!("{k} due"),
                    ys: &c.cumulative_due_usd[..],
                    dashed: true,
                },
            ]
        })
        .collect();
    if !burn.is_empty() {
        s.push_str(&chart(
            "Commitment burn: spend to date (solid) against pro-rata due (dashed), USD",
            &p.months,
            &burn,
        ));
    }
    s.push_str(&table(
        &[
            "contract",
            "committed",
            "due in plan",
            "spent",
            "lost",
            "burn",
        ],
        &p.contracts
            .iter()
            .map(|(k, c)| {
                vec![
                    k.clone(),
                    usd(c.committed_usd),
                    usd(c.due_in_horizon_usd),
                    usd(c.spent_usd),
                    usd(c.lost_usd),
                    format!("{:.0}%", c.burn_ratio * 100.0),
                ]
            })
            .collect::<Vec<_>>(),
    ));
    s.push_str("<h2>Options and candidate contracts</h2>");
    s.push_str(&table(
        &[
            "option",
            "cluster",
            "exercise",
            "online",
            "GPUs",
            "cost",
            "one more month of lead time",
        ],
        &p.options
            .iter()
            .map(|o| {
                let lt = p
                    .lead_time
                    .iter()
                    .find(|l| l.option == o.name)
                    .map_or("-".into(), |l| usd(l.cost_of_one_more_month_usd));
                vec![
                    o.name.clone(),
                    o.cluster.clone(),
                    o.exercise_month.clone().unwrap_or_else(|| "no".into()),
                    o.online_month.clone().unwrap_or_else(|| "-".into()),
                    format!("{:.0}", o.gpus),
                    usd(o.cost_usd),
                    lt,
                ]
            })
            .collect::<Vec<_>>(),
    ));
    if !p.candidates.is_empty() {
        s.push_str(&table(
            &["candidate contract", "signed", "GPUs", "cost"],
            &p.candidates
                .iter()
                .map(|k| {
                    vec![
                        k.name.clone(),
                        if k.signed { "yes" } else { "no" }.into(),
                        format!("{:.0}", k.gpus),
                        usd(k.cost_usd),
                    ]
                })
                .collect::<Vec<_>>(),
        ));
    }
    if !whatifs.is_empty() {
        s.push_str("<h2>What-ifs against the base plan</h2>");
        let rows: Vec<(String, f64)> = whatifs
            .iter()
            .map(|(w, _)| (w.name.clone(), w.cost_delta_usd))
            .collect();
        s.push_str(&bars(
            "Cost delta against the base plan (red: dearer)",
            &rows,
        ));
        s.push_str(&table(
            &[
                "what-if",
                "change",
                "cost delta",
                "spend delta",
                "lost delta",
                "unmet delta (H100e GPU-months)",
                "options changed",
            ],
            &whatifs
                .iter()
                .map(|(w, _)| {
                    vec![
                        w.name.clone(),
                        w.change.clone(),
                        usd(w.cost_delta_usd),
                        usd(w.spend_delta_usd),
                        usd(w.lost_commitment_delta_usd),
                        format!("{:.0}", w.unmet_delta_h100e_gpu_months),
                        w.options_changed.join("; "),
                    ]
                })
                .collect::<Vec<_>>(),
        ));
    }
    if let Some(v) = verify {
        s.push_str("<h2>Twin check</h2>");
        let _ = write!(
            s,
            "<p>{} days of each sampled month run through the digital twin (the production scheduler in virtual time), capacity and demand scaled down by the factor shown.</p>",
            v.days_per_month
        );
        s.push_str(&table(
            &[
                "month",
                "scale",
                "plan training GPUs",
                "twin training GPUs",
                "served",
                "plan rps",
                "SLO attainment",
                "verdict",
            ],
            &v.months
                .iter()
                .map(|m| {
                    vec![
                        m.month.clone(),
                        format!("{:.0}", m.scale),
                        format!("{:.0}", m.planned_training_gpus),
                        format!("{:.0}", m.simulated_training_gpus),
                        format!("{:.1}%", m.training_served * 100.0),
                        format!("{:.0}", m.planned_inference_rps),
                        format!("{:.1}%", m.inference_slo_attainment * 100.0),
                        m.verdict.clone(),
                    ]
                })
                .collect::<Vec<_>>(),
        ));
    }
    s.push_str("</body></html>\n");
    s
}
