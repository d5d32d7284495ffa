//! The front door of the file format: read a file, then check it.
//!
//! Reading (`crate::read`) and checking (`crate::validate`) depend on the
//! types only and never on each other; this module runs one after the other,
//! so that a file is reported in one go: every reading problem and, when the
//! file could be read, every check across entities.

use crate::diag::{Diagnostic, Diagnostics};
use crate::spec::Document;

/// Parses and validates one file on its own (with the built-in catalog only
/// and no fleet to check workloads against).
pub fn parse_document(path: &str, src: &str) -> Result<Document, Vec<Diagnostic>> {
    parse_document_with(path, src, None)
}

/// Parses and validates one file; `fleet`, when given, is the fleet that its
/// workloads will run on (its catalog, teams and clusters are checked against).
pub fn parse_document_with(
    path: &str,
    src: &str,
    fleet: Option<&Document>,
) -> Result<Document, Vec<Diagnostic>> {
    let mut cx = Diagnostics::new(path, src);
    let doc = crate::read::read_document(&mut cx, src);
    checked(cx, doc, fleet)
}

/// [`parse_document_with`] for a tree a caller built rather than TOML text
/// (the API's JSON bodies): `root` is what `toml_span::parse` would have
/// returned for `src`, and its spans only place the diagnostics in `src`.
/// A body that is read without errors needs no text at all (empty spans
/// and an empty `src`); the API writes the text out only to locate the
/// problems of one that is not.
pub fn parse_tree_with(
    path: &str,
    src: &str,
    root: toml_span::Value<'_>,
    fleet: Option<&Document>,
) -> Result<Document, Vec<Diagnostic>> {
    let mut cx = Diagnostics::new(path, src);
    let doc = crate::read::read_root(&mut cx, root);
    checked(cx, doc, fleet)
}

/// The document read, once validated; the diagnostics when anything is
/// wrong.
fn checked(
    mut cx: Diagnostics,
    doc: Option<Document>,
    fleet: Option<&Document>,
) -> Result<Document, Vec<Diagnostic>> {
    if let Some(doc) = &doc {
        crate::validate::validate(&mut cx, doc, fleet);
        crate::validate::plan::check_plan(&mut cx, doc);
    }
    match doc {
        Some(doc) if !cx.has_errors() => Ok(doc),
        _ => Err(cx.into_sorted()),
    }
}

/// Reads a what-if written on the command line as `key=value,key=value`
/// (the keys of `[[plan.what_if]]`, without `name`), e.g.
/// `delay_site=oracle/abilene,delay_months=6`. Problems are reported against
/// `label`, one line per pair, and its names are checked against `doc`.
pub fn parse_what_if(
    label: &str,
    spec: &str,
    doc: &Document,
) -> Result<crate::plan::WhatIf, Vec<Diagnostic>> {
    // The spec is turned into one line of TOML per pair, so that the file's
    // reader (and its messages) apply; a pair's line is its position.
    let mut toml = format!("name = {}\n", quote(spec));
    for pair in spec.split(',') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (k.trim(), v.trim());
        let bare_key = !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        let key = if bare_key { k.to_string() } else { quote(k) };
        let numeric = v.parse::<f64>().is_ok() && !v.is_empty();
        let value = if numeric {
            v.trim_start_matches('+').to_string()
        } else {
            quote(v)
        };
        toml.push_str(&format!("{key} = {value}\n"));
    }
    let mut cx = Diagnostics::new(label, &toml);
    let root = match toml_span::parse(&toml) {
        Ok(v) => v,
        Err(e) => {
            cx.error(e.span.start, format!("invalid what-if: {e}"));
            return Err(on_the_command_line(spec, cx.into_sorted()));
        }
    };
    let w = crate::read::plan::read_what_if(&mut cx, root);
    if let Some(w) = &w {
        crate::validate::plan::check_what_if(&mut cx, doc, w);
    }
    match w {
        Some(w) if !cx.has_errors() => Ok(w),
        _ => Err(on_the_command_line(spec, cx.into_sorted())),
    }
}

/// Places the diagnostics of a what-if's TOML lines on what the user
/// typed: line 1, the column where the pair starts in `spec`, and the pair
/// named in the message (the TOML's own lines and columns mean nothing to
/// them, and with several `--what-if` the pair says which one it was).
fn on_the_command_line(spec: &str, ds: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut starts = Vec::new();
    let mut at = 0;
    for pair in spec.split(',') {
        starts.push((at, pair));
        at += pair.len() + 1;
    }
    ds.into_iter()
        .map(|mut d| {
            // Line 1 is the name (the whole spec); line 2 on, one pair each.
            let (col, what) = match (d.line as usize).checked_sub(2).and_then(|i| starts.get(i)) {
                Some(&(at, pair)) => (at + 1, pair),
                None => (1, spec),
            };
            d.line = 1;
            d.col = col as u32;
            d.message = format!("`{what}`: {}", d.message);
            d
        })
        .collect()
}

fn quote(s: &str) -> String {
    let mut q = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            c if c.is_control() => {}
            c => q.push(c),
        }
    }
    q.push('"');
    q
}
