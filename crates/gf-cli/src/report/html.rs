//! The report's HTML pieces that are not charts: escaping, tables, and the
//! number formats shared by chart axes and table cells.
//!
//! Kept apart from the sections so that every figure in the report is
//! formatted one way, whichever chart or table shows it.

use std::fmt::Write;

use crate::simulate::usd;

/// Escapes text for an HTML element or a quoted attribute.
pub(super) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A table with a header row; every cell is escaped.
pub(super) fn table(head: &[&str], rows: Vec<Vec<String>>) -> String {
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

/// A ratio as a whole percent.
pub(super) fn pct(y: f64) -> String {
    format!("{:.0}%", y * 100.0)
}

/// A count, shortened to thousands or millions when large.
pub(super) fn num(y: f64) -> String {
    if y >= 1e6 {
        format!("{:.1}M", y / 1e6)
    } else if y >= 1e3 {
        format!("{:.0}k", y / 1e3)
    } else {
        format!("{y:.0}")
    }
}

/// Megawatts, whole.
pub(super) fn mw(y: f64) -> String {
    format!("{y:.0}")
}

/// US dollars, as the rest of `simulate` prints them (a `fn` pointer for the
/// chart axes).
pub(super) fn money(y: f64) -> String {
    usd(y)
}
