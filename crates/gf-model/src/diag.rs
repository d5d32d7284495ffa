//! Diagnostics in the form compilers use, `PATH:LINE:COL: error: MESSAGE`, so
//! that editors and terminals can jump to the place and a user sees every
//! problem of a file in one run.

use std::fmt;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The file is rejected.
    Error,
    /// The file is accepted, but something looks wrong.
    Warning,
}

/// One problem at one place of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file as the user named it.
    pub path: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub col: u32,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong and what would be accepted; lowercase, no final period.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.path, self.line, self.col, sev, self.message
        )
    }
}

/// The diagnostics of one file, with what is needed to turn byte offsets into lines.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    path: String,
    line_starts: Vec<usize>,
    src_len: usize,
    src: String,
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// An empty list for the file `path` whose text is `src`.
    pub fn new(path: &str, src: &str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        Diagnostics {
            path: path.to_string(),
            line_starts,
            src_len: src.len(),
            src: src.to_string(),
            items: Vec::new(),
        }
    }

    /// The 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.src_len);
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let col = self
            .src
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line as u32 + 1, col as u32 + 1)
    }

    /// Records an error at a byte offset.
    pub fn error(&mut self, offset: usize, message: impl Into<String>) {
        self.push(offset, Severity::Error, message.into());
    }

    /// Records a warning at a byte offset.
    pub fn warning(&mut self, offset: usize, message: impl Into<String>) {
        self.push(offset, Severity::Warning, message.into());
    }

    fn push(&mut self, offset: usize, severity: Severity, message: String) {
        let (line, col) = self.line_col(offset);
        self.items.push(Diagnostic {
            path: self.path.clone(),
            line,
            col,
            severity,
            message,
        });
    }

    /// How many diagnostics were recorded, errors and warnings: a check
    /// that would only repeat what an earlier one said compares it before
    /// and after.
    pub fn count(&self) -> usize {
        self.items.len()
    }

    /// True when at least one error was recorded.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    /// The diagnostics in the order of the file.
    pub fn into_sorted(mut self) -> Vec<Diagnostic> {
        // A stable sort keeps two problems at one place in the order they were found.
        self.items.sort_by_key(|d| (d.line, d.col));
        self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_lines_and_columns() {
        let d = Diagnostics::new("f.toml", "a = 1\nbé = 2\n");
        assert_eq!(d.line_col(0), (1, 1));
        assert_eq!(d.line_col(6), (2, 1));
        // `é` is two bytes but one column.
        assert_eq!(d.line_col(9), (2, 3));
        assert_eq!(d.line_col(1000), (3, 1));
    }
}
