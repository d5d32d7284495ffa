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
    if let Some(doc) = &doc {
        crate::validate::validate(&mut cx, doc, fleet);
        crate::plan::check_plan(&mut cx, doc);
    }
    match doc {
        Some(doc) if !cx.has_errors() => Ok(doc),
        _ => Err(cx.into_sorted()),
    }
}
