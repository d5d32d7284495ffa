//! The report's charts as inline SVG: line charts over simulated days and
//! a stacked bar of parts of a whole.
//!
//! The report must open offline and print as it looks, so the charts are
//! drawn here as plain SVG text rather than by a script at view time.

use std::fmt::Write;

use super::html::esc;

/// The palette, in the order series are given colours.
pub(super) const COLORS: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// One line of a chart.
pub(super) struct Line<'a> {
    /// The legend's label.
    pub(super) name: String,
    /// One value per x.
    pub(super) ys: &'a [f64],
    /// Stroke colour.
    pub(super) color: &'static str,
    /// Dashed, for a reference line (an envelope, a commitment).
    pub(super) dashed: bool,
}

/// A line chart as inline SVG; x is days, the y axis starts at zero.
pub(super) fn chart(
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
pub(super) fn stacked(title: &str, parts: &[(&str, f64)]) -> String {
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
