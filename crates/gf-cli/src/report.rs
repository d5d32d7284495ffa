//! The HTML report of `gigafleet simulate --report`: one self-contained file
//! (inline CSS and SVG, no script, nothing fetched at view time) with the
//! charts a platform team reads first — utilization and power per site
//! against the envelope, commitment burn per contract, the queue, goodput,
//! SLO attainment — and the tables behind them.

use std::fmt::Write;

use gf_sim::Summary;

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

/// One line of a chart.
struct Line<'a> {
    name: String,
    ys: &'a [f64],
    color: &'static str,
    dashed: bool,
}

/// A line chart as inline SVG; x is days, the y axis starts at zero.
fn chart(
    title: &str,
    y_label: &str,
    xs: &[f64],
    lines: &[Line<'_>],
    y_fmt: fn(f64) -> String,
) -> String {
    let (w, h, l, r, t, b) = (640.0, 240.0, 64.0, 12.0, 28.0, 34.0);
    let x_max = xs.iter().copied().fold(1e-9, f64::max);
    let y_max = lines
        .iter()
        .flat_map(|l| l.ys.iter().copied())
        .fold(1e-9, f64::max)
        * 1.08;
    let px = |x: f64| l + (w - l - r) * x / x_max;
    let py = |y: f64| h - b - (h - t - b) * y / y_max;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" xmlns="http://www.w3.org/2000/svg" role="img"><title>{}</title>"#,
        esc(title)
    );
    let _ = write!(s, r#"<text x="{l}" y="16" class="t">{}</text>"#, esc(title));
    for k in 0..=4 {
        let y = y_max * k as f64 / 4.0;
        let _ = write!(
            s,
            r##"<line x1="{l}" x2="{}" y1="{py:.1}" y2="{py:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" class="a" text-anchor="end">{}</text>"##,
            w - r,
            l - 4.0,
            py(y) + 4.0,
            y_fmt(y),
            py = py(y)
        );
    }
    for k in 0..=5 {
        let x = x_max * k as f64 / 5.0;
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{}" class="a" text-anchor="middle">{:.0}</text>"#,
            px(x),
            h - b + 14.0,
            x
        );
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" class="a" text-anchor="middle">days ({})</text>"#,
        (l + w - r) / 2.0,
        h - 4.0,
        esc(y_label)
    );
    for (i, line) in lines.iter().enumerate() {
        let mut d = String::new();
        for (k, (&x, &y)) in xs.iter().zip(line.ys).enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1}",
                if k == 0 { "M" } else { "L" },
                px(x),
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
            r#"<path d="{d}" fill="none" stroke="{}" stroke-width="1.6"{dash}/>"#,
            line.color
        );
        let lx = l + 8.0 + (i % 3) as f64 * 190.0;
        let ly = t + 12.0 + (i / 3) as f64 * 13.0;
        let _ = write!(
            s,
            r#"<rect x="{lx}" y="{:.1}" width="10" height="3" fill="{}"/><text x="{:.1}" y="{:.1}" class="a">{}</text>"#,
            ly - 3.0,
            line.color,
            lx + 14.0,
            ly + 1.0,
            esc(&line.name)
        );
    }
    s.push_str("</svg>");
    s
}

/// A horizontal stacked bar of parts of a whole.
fn stacked(title: &str, parts: &[(&str, f64)]) -> String {
    let total: f64 = parts.iter().map(|p| p.1).sum::<f64>().max(1e-9);
    let (w, h) = (640.0, 74.0);
    let mut s = format!(
        r#"<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" xmlns="http://www.w3.org/2000/svg"><text x="0" y="14" class="t">{}</text>"#,
        esc(title)
    );
    let mut x = 0.0;
    for (i, (name, v)) in parts.iter().enumerate() {
        let pw = w * v / total;
        let c = COLORS[i % COLORS.len()];
        let _ = write!(
            s,
            r#"<rect x="{x:.1}" y="22" width="{pw:.1}" height="22" fill="{c}"><title>{}: {:.1}%</title></rect>"#,
            esc(name),
            100.0 * v / total
        );
        let lx = i as f64 * (w / parts.len() as f64);
        let _ = write!(
            s,
            r#"<rect x="{lx:.1}" y="56" width="10" height="10" fill="{c}"/><text x="{:.1}" y="65" class="a">{} {:.1}%</text>"#,
            lx + 14.0,
            esc(name),
            100.0 * v / total
        );
        x += pw;
    }
    s.push_str("</svg>");
    s
}

fn pct(y: f64) -> String {
    format!("{:.0}%", y * 100.0)
}

fn num(y: f64) -> String {
    if y >= 1e6 {
        format!("{:.1}M", y / 1e6)
    } else if y >= 1e3 {
        format!("{:.0}k", y / 1e3)
    } else {
        format!("{y:.0}")
    }
}

fn mw(y: f64) -> String {
    format!("{y:.0}")
}

fn money(y: f64) -> String {
    usd(y)
}

fn table(head: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut s = String::from("<table><tr>");
    for h in head {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    s.push_str("</tr>");
    for r in rows {
        s.push_str("<tr>");
        for c in r {
            let _ = write!(s, "<td>{}</td>", esc(&c));
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>");
    s
}

/// Renders the report of one or more runs of the same scenario (one per policy).
pub fn render(scenario: &str, runs: &[&Summary]) -> String {
    let s = runs[0];
    let se = &s.series;
    let xs = &se.t_days;
    let mut h = String::new();
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

    h.push_str("<h2>Sites: utilization, and power against the envelope</h2><div class=\"g\">");
    for (i, site) in se.sites.iter().enumerate() {
        let env = vec![site.envelope_mw; xs.len()];
        let online_mw: Vec<f64> = site.gpus_online.iter().map(|&g| g as f64).collect();
        let _ = online_mw;
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
    let _ = write!(
        h,
        "<p style=\"color:#777\">{} engine events. Generated by gigafleet simulate; the same scenario and seed give the same figures.</p></body></html>",
        s.events
    );
    h
}
