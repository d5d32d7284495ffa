//! The report's sections, in the order [`super::render`] writes them: the
//! head, the headline figures, then one function per `<h2>` section.
//!
//! Each takes the summary and appends its HTML, so a section's markup and
//! the figures it reads sit together and apart from the others.

use std::fmt::Write;

use gf_sim::Summary;

use super::html::{esc, money, mw, num, pct, table};
use super::svg::{COLORS, Line, chart, stacked};
use crate::simulate::usd;

/// The document head (title, the inline style sheet) and the run's heading.
pub(super) fn head(h: &mut String, scenario: &str, s: &Summary) {
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>gigafleet simulate: {}</title><style>\
         body{{font:14px system-ui,sans-serif;margin:24px;max-width:1340px;color:#222}}\
         h1{{font-size:20px}}h2{{font-size:16px;margin-top:28px;border-bottom:1px solid #ccc}}\
         .g{{display:flex;flex-wrap:wrap;gap:12px}}svg{{background:#fafafa;border:1px solid #eee}}\
         .t{{font-size:13px;font-weight:600}}.a{{font-size:10px;fill:#555}}\
         table{{border-collapse:collapse;margin:8px 0}}td,th{{border:1px solid #ddd;padding:3px 8px;text-align:right}}\
         th{{background:#f2f2f2}}td:first-child,th:first-child{{text-align:left}}.k{{display:flex;gap:24px;flex-wrap:wrap}}\
         .k div{{background:#f5f7fa;padding:8px 14px;border-radius:6px}}.k b{{display:block;font-size:18px}}\
         </style></head><body>",
        esc(scenario)
    );
    let _ = write!(
        h,
        "<h1>{} — {} days from {}, policy <i>{}</i>, seed {}</h1>",
        esc(scenario),
        s.simulated_days,
        s.start,
        esc(&s.policy),
        s.seed
    );
}

/// The headline figures, one box each.
pub(super) fn kpis(h: &mut String, s: &Summary) {
    let kpis = [
        ("GPUs built", num(s.gpus as f64)),
        ("utilization", pct(s.utilization)),
        ("training goodput", pct(s.goodput)),
        (
            "jobs completed",
            format!("{} / {}", s.jobs_completed, s.jobs_submitted),
        ),
        ("queue wait p95", format!("{:.1} h", s.queue_wait_hours.p95)),
        ("interruptions", s.interruptions.to_string()),
        ("inference SLO", format!("{:.2}%", s.slo_attainment * 100.0)),
        ("cost", usd(s.cost_usd)),
        ("power peak", format!("{:.0} MW", s.power_peak_mw)),
    ];
    h.push_str("<div class=\"k\">");
    for (k, v) in kpis {
        let _ = write!(h, "<div>{}<b>{}</b></div>", esc(k), esc(&v));
    }
    h.push_str("</div>");
}

/// GPUs online and allocated over time, and the fleet's utilization.
pub(super) fn fleet(h: &mut String, s: &Summary) {
    let se = &s.series;
    let xs = &se.t_days;
    h.push_str("<h2>Fleet over time</h2><div class=\"g\">");
    h.push_str(&chart(
        "GPUs online and allocated",
        "GPUs",
        xs,
        &[
            Line {
                name: "online".into(),
                ys: &se.gpus_online.iter().map(|&x| x as f64).collect::<Vec<_>>(),
                color: COLORS[0],
                dashed: false,
            },
            Line {
                name: "allocated".into(),
                ys: &se
                    .gpus_allocated
                    .iter()
                    .map(|&x| x as f64)
                    .collect::<Vec<_>>(),
                color: COLORS[1],
                dashed: false,
            },
        ],
        num,
    ));
    h.push_str(&chart(
        "Fleet utilization",
        "allocated ÷ online",
        xs,
        &[Line {
            name: "utilization".into(),
            ys: &se.utilization,
            color: COLORS[2],
            dashed: false,
        }],
        pct,
    ));
    h.push_str("</div>");
}

/// Per site: power drawn against the envelope, utilization, GPUs online.
pub(super) fn sites(h: &mut String, s: &Summary) {
    let se = &s.series;
    let xs = &se.t_days;
    h.push_str("<h2>Sites: utilization, and power against the envelope</h2><div class=\"g\">");
    for (i, site) in se.sites.iter().enumerate() {
        let env = vec![site.envelope_mw; xs.len()];
        h.push_str(&chart(
            &format!("{} — power (MW)", site.name),
            "MW",
            xs,
            &[
                Line {
                    name: "drawn".into(),
                    ys: &site.power_mw,
                    color: COLORS[i % COLORS.len()],
                    dashed: false,
                },
                Line {
                    name: "envelope".into(),
                    ys: &env,
                    color: "#d62728",
                    dashed: true,
                },
            ],
            mw,
        ));
    }
    h.push_str("</div><div class=\"g\">");
    let util_lines: Vec<Line<'_>> = se
        .sites
        .iter()
        .enumerate()
        .map(|(i, site)| Line {
            name: site.name.clone(),
            ys: &site.utilization,
            color: COLORS[i % COLORS.len()],
            dashed: false,
        })
        .collect();
    h.push_str(&chart(
        "Utilization per site",
        "allocated ÷ online",
        xs,
        &util_lines,
        pct,
    ));
    let online_per_site: Vec<Vec<f64>> = se
        .sites
        .iter()
        .map(|s| s.gpus_online.iter().map(|&g| g as f64).collect())
        .collect();
    let online_lines: Vec<Line<'_>> = se
        .sites
        .iter()
        .enumerate()
        .map(|(i, site)| Line {
            name: site.name.clone(),
            ys: &online_per_site[i],
            color: COLORS[i % COLORS.len()],
            dashed: false,
        })
        .collect();
    h.push_str(&chart(
        "GPUs online per site (ramps, failures)",
        "GPUs",
        xs,
        &online_lines,
        num,
    ));
    h.push_str("</div>");
}

/// Spend against the pro-rata commitment per contract, and the contracts
/// table; nothing when the fleet has no contracts.
pub(super) fn contracts(h: &mut String, s: &Summary) {
    let se = &s.series;
    let xs = &se.t_days;
    if !se.contracts.is_empty() {
        h.push_str("<h2>Commitment burn per contract</h2><div class=\"g\">");
        for (i, c) in se.contracts.iter().enumerate() {
            h.push_str(&chart(
                &format!("{} — spend vs pro-rata commitment", c.name),
                "USD",
                xs,
                &[
                    Line {
                        name: "spent".into(),
                        ys: &c.spend_usd,
                        color: COLORS[i % COLORS.len()],
                        dashed: false,
                    },
                    Line {
                        name: "due pro rata".into(),
                        ys: &c.pro_rata_usd,
                        color: "#555",
                        dashed: true,
                    },
                ],
                money,
            ));
        }
        h.push_str("</div>");
        h.push_str(&table(
            &[
                "contract",
                "provider",
                "committed",
                "term",
                "spent",
                "due",
                "burn",
                "projected at term end",
                "projected shortfall",
            ],
            s.contracts
                .iter()
                .map(|(n, c)| {
                    vec![
                        n.clone(),
                        c.provider.clone(),
                        usd(c.committed_usd),
                        format!("{} – {}", c.start, c.end),
                        usd(c.spent_usd),
                        usd(c.pro_rata_due_usd),
                        pct(c.burn_ratio),
                        usd(c.projected_at_term_end_usd),
                        usd(c.projected_shortfall_usd),
                    ]
                })
                .collect(),
        ));
    }
}

/// The pending queue, inference SLO attainment and replicas, and the
/// queue-wait and per-service tables.
pub(super) fn queue_and_inference(h: &mut String, s: &Summary) {
    let se = &s.series;
    let xs = &se.t_days;
    h.push_str("<h2>Queue and inference</h2><div class=\"g\">");
    h.push_str(&chart(
        "Jobs waiting",
        "jobs",
        xs,
        &[Line {
            name: "pending".into(),
            ys: &se
                .pending_jobs
                .iter()
                .map(|&x| x as f64)
                .collect::<Vec<_>>(),
            color: COLORS[4],
            dashed: false,
        }],
        num,
    ));
    h.push_str(&chart(
        "Inference SLO attainment and replicas",
        "share of demand served in SLO",
        xs,
        &[Line {
            name: "SLO attainment".into(),
            ys: &se.slo_attainment,
            color: COLORS[2],
            dashed: false,
        }],
        pct,
    ));
    h.push_str(&chart(
        "Inference replicas",
        "replicas",
        xs,
        &[Line {
            name: "replicas".into(),
            ys: &se.replicas.iter().map(|&x| x as f64).collect::<Vec<_>>(),
            color: COLORS[9],
            dashed: false,
        }],
        num,
    ));
    h.push_str("</div>");
    h.push_str(&table(
        &["", "p50", "p95", "p99", "mean", "jobs"],
        vec![
            vec![
                "queue wait (h)".into(),
                format!("{:.2}", s.queue_wait_hours.p50),
                format!("{:.2}", s.queue_wait_hours.p95),
                format!("{:.2}", s.queue_wait_hours.p99),
                format!("{:.2}", s.queue_wait_hours.mean),
                s.queue_wait_hours.n.to_string(),
            ],
            vec![
                "completion time (h)".into(),
                format!("{:.2}", s.job_completion_hours.p50),
                format!("{:.2}", s.job_completion_hours.p95),
                format!("{:.2}", s.job_completion_hours.p99),
                format!("{:.2}", s.job_completion_hours.mean),
                s.job_completion_hours.n.to_string(),
            ],
        ],
    ));
    h.push_str(&table(
        &[
            "service",
            "SLO attainment",
            "replicas mean",
            "replicas peak",
            "replicas by zone at end",
        ],
        s.services
            .iter()
            .map(|(n, v)| {
                vec![
                    n.clone(),
                    format!("{:.2}%", v.slo_attainment * 100.0),
                    format!("{:.1}", v.replicas_mean),
                    v.replicas_peak.to_string(),
                    v.replicas_by_zone
                        .iter()
                        .map(|(z, n)| format!("{z}: {n}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                ]
            })
            .collect(),
    ));
}

/// Where training GPU-hours went, ETTR, and the large jobs.
pub(super) fn training(h: &mut String, s: &Summary) {
    let t = &s.training;
    h.push_str("<h2>Training goodput</h2>");
    h.push_str(&stacked(
        &format!(
            "Where training GPU-hours went (goodput {:.1}%)",
            s.goodput * 100.0
        ),
        &[
            ("useful", t.useful_gpu_hours),
            ("checkpoint", t.checkpoint_gpu_hours),
            ("restart", t.restart_gpu_hours),
            ("lost", t.lost_gpu_hours),
            ("hot spare", t.spare_gpu_hours),
        ],
    ));
    let _ = write!(
        h,
        "<p>ETTR of completed jobs: p50 {:.3}, mean {:.3} over {} jobs; {} interruptions absorbed by hot spares.</p>",
        t.ettr.p50, t.ettr.mean, t.ettr.n, t.hot_spare_swaps
    );
    if !t.large_jobs.is_empty() {
        h.push_str(&table(
            &[
                "large job",
                "GPUs",
                "state",
                "progress",
                "goodput",
                "ETTR",
                "interruptions",
                "checkpoint every (min)",
            ],
            t.large_jobs
                .iter()
                .map(|j| {
                    vec![
                        j.name.clone(),
                        j.gpus.to_string(),
                        j.state.clone(),
                        pct(j.progress),
                        pct(j.goodput),
                        format!("{:.3}", j.ettr),
                        j.interruptions.to_string(),
                        format!("{:.0}", j.checkpoint_interval_min),
                    ]
                })
                .collect(),
        ));
    }
}

/// Job interruptions by cause and the failures injected.
pub(super) fn interruptions(h: &mut String, s: &Summary) {
    h.push_str("<h2>Interruptions and failures</h2>");
    h.push_str(&table(
        &["job interruptions by cause", "count"],
        s.interruptions_by_cause
            .iter()
            .map(|(k, v)| vec![k.clone(), v.to_string()])
            .chain(std::iter::once(vec![
                "preemptions".into(),
                s.preemptions.to_string(),
            ]))
            .collect(),
    ));
    h.push_str(&table(
        &["failures injected", "count"],
        s.failures
            .iter()
            .map(|(k, v)| vec![k.clone(), v.to_string()])
            .collect(),
    ));
}

/// Usage by provider, site and accelerator.
pub(super) fn usage(h: &mut String, s: &Summary) {
    h.push_str("<h2>Providers, sites, accelerators</h2>");
    let usage_rows = |m: &std::collections::BTreeMap<String, gf_sim::metrics::Usage>| {
        m.iter()
            .map(|(n, u)| {
                vec![
                    n.clone(),
                    u.gpus.to_string(),
                    pct(u.utilization),
                    num(u.gpu_hours_allocated),
                    usd(u.cost_usd),
                ]
            })
            .collect::<Vec<_>>()
    };
    h.push_str(&table(
        &["provider", "GPUs", "utilization", "GPU-h allocated", "cost"],
        usage_rows(&s.providers),
    ));
    h.push_str(&table(
        &[
            "site",
            "zone",
            "GPUs",
            "utilization",
            "peak MW",
            "envelope MW",
            "cost",
        ],
        s.sites
            .iter()
            .map(|(n, x)| {
                vec![
                    n.clone(),
                    x.zone.clone(),
                    x.usage.gpus.to_string(),
                    pct(x.usage.utilization),
                    format!("{:.1}", x.power_peak_mw),
                    format!("{:.1}", x.envelope_mw),
                    usd(x.usage.cost_usd),
                ]
            })
            .collect(),
    ));
    h.push_str(&table(
        &[
            "accelerator",
            "GPUs",
            "utilization",
            "GPU-h allocated",
            "cost",
        ],
        usage_rows(&s.accelerators),
    ));
}

/// The policies side by side, when more than one run was given.
pub(super) fn policies(h: &mut String, runs: &[&Summary]) {
    if runs.len() > 1 {
        h.push_str("<h2>Policies compared (same scenario, same seed)</h2>");
        let mut head = vec!["policy"];
        head.extend([
            "utilization",
            "goodput",
            "completed",
            "queue p95 (h)",
            "preemptions",
            "cost",
            "peak MW",
            "SLO",
        ]);
        h.push_str(&table(
            &head,
            runs.iter()
                .map(|r| {
                    vec![
                        r.policy.clone(),
                        pct(r.utilization),
                        pct(r.goodput),
                        r.jobs_completed.to_string(),
                        format!("{:.2}", r.queue_wait_hours.p95),
                        r.preemptions.to_string(),
                        usd(r.cost_usd),
                        format!("{:.1}", r.power_peak_mw),
                        format!("{:.2}%", r.slo_attainment * 100.0),
                    ]
                })
                .collect(),
        ));
    }
}

/// The closing note and the end of the document.
pub(super) fn footer(h: &mut String, s: &Summary) {
    let _ = write!(
        h,
        "<p style=\"color:#777\">{} engine events. Generated by gigafleet simulate; the same scenario and seed give the same figures.</p></body></html>",
        s.events
    );
}
