//! The one error type of gf-trace: where in which file, and what was wrong.

use std::path::PathBuf;

/// Why a trace could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The file could not be opened or read.
    #[error("{}: error: cannot read: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file as a whole is unusable, though every row reads: it has no
    /// rows, or together they ask for something no run can do.
    #[error("{}: error: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong and what would be accepted.
        message: String,
    },
    /// A row (or the header) is malformed.
    #[error("{}:{row}: error: {message}", path.display())]
    Row {
        /// The file.
        path: PathBuf,
        /// The 1-based line number; the header is line 1.
        row: u64,
        /// What is wrong, naming the column and what would be accepted.
        message: String,
    },
}

impl TraceError {
    /// The 1-based line number of a row error.
    pub fn row(&self) -> Option<u64> {
        match self {
            TraceError::Row { row, .. } => Some(*row),
            TraceError::Io { .. } | TraceError::File { .. } => None,
        }
    }
}
