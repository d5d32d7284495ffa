//! Reading files for the commands: a file that cannot be read or parsed
//! becomes compiler-style diagnostics, printed once, with exit code 2.

use std::process::ExitCode;

use gf_model::{Diagnostic, Document};

/// A file that failed to read or validate.
pub struct Invalid(pub Vec<Diagnostic>);

/// Reads and validates `path`, checking workloads against `fleet` if given.
pub fn read(path: &str, fleet: Option<&Document>) -> Result<Document, Invalid> {
    let src = std::fs::read_to_string(path).map_err(|e| {
        Invalid(vec![Diagnostic {
            path: path.to_string(),
            line: 1,
            col: 1,
            severity: gf_model::Severity::Error,
            message: format!("cannot read file: {e}"),
        }])
    })?;
    gf_model::parse_document_with(path, &src, fleet).map_err(Invalid)
}

/// Prints the diagnostics to stderr and returns exit code 2.
pub fn report(inv: &Invalid) -> ExitCode {
    for d in &inv.0 {
        eprintln!("{d}");
    }
    let n = inv
        .0
        .iter()
        .filter(|d| d.severity == gf_model::Severity::Error)
        .count();
    eprintln!("{n} error{}", if n == 1 { "" } else { "s" });
    ExitCode::from(2)
}

/// Reads a fleet file, which must describe at least one provider.
pub fn read_fleet(path: &str) -> Result<Document, Invalid> {
    let doc = read(path, None)?;
    if !doc.is_fleet() {
        return Err(Invalid(vec![Diagnostic {
            path: path.to_string(),
            line: 1,
            col: 1,
            severity: gf_model::Severity::Error,
            message: "this file describes no fleet; a fleet file has at least one [[provider]]"
                .into(),
        }]));
    }
    Ok(doc)
}
