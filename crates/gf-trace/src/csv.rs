//! A small streaming reader for the plain comma-separated files of public
//! traces: a header line naming the columns, then one record per line.
//!
//! The traces we read have no quoted fields, so a hand reader is enough and
//! keeps the dependency list short; a quote is reported, not misread.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::error::TraceError;

/// Reads a header, then rows one at a time into a reused buffer.
pub(crate) struct CsvLines<R> {
    reader: R,
    path: PathBuf,
    row: u64,
    header: Vec<String>,
    line: String,
    bytes: Vec<u8>,
    fields: Vec<(usize, usize)>,
}

impl<R: BufRead> CsvLines<R> {
    /// Read the header line.
    pub(crate) fn new(reader: R, path: &Path) -> Result<Self, TraceError> {
        let mut this = Self {
            reader,
            path: path.to_owned(),
            row: 0,
            header: Vec::new(),
            line: String::new(),
            bytes: Vec::new(),
            fields: Vec::new(),
        };
        if !this.read_line()? {
            this.row = 1;
            return Err(this.error("the file is empty; expected a header line naming the columns"));
        }
        this.split()?;
        this.header = (0..this.fields.len())
            .map(|i| {
                this.field(i)
                    .trim_start_matches('\u{feff}')
                    .trim()
                    .to_owned()
            })
            .collect();
        Ok(this)
    }

    /// The position of a column the format requires.
    pub(crate) fn require(&self, name: &str, all: &[&str]) -> Result<usize, TraceError> {
        self.column(name).ok_or_else(|| TraceError::Row {
            path: self.path.clone(),
            row: 1,
            message: format!(
                "missing column '{name}'; the header must name {}",
                all.join(", ")
            ),
        })
    }

    /// The position of a column, if the header names it.
    pub(crate) fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// Advance to the next non-blank row; `Ok(false)` at the end.
    pub(crate) fn next_row(&mut self) -> Result<bool, TraceError> {
        loop {
            if !self.read_line()? {
                return Ok(false);
            }
            if self.line.trim().is_empty() {
                continue;
            }
            self.split()?;
            if self.fields.len() != self.header.len() {
                return Err(self.error(&format!(
                    "expected {} fields as named by the header, found {}",
                    self.header.len(),
                    self.fields.len()
                )));
            }
            return Ok(true);
        }
    }

    /// The text of field `i` of the current row.
    pub(crate) fn field(&self, i: usize) -> &str {
        self.fields
            .get(i)
            .map_or("", |&(a, b)| self.line.get(a..b).unwrap_or(""))
    }

    /// The 1-based line number of the current row.
    pub(crate) fn row(&self) -> u64 {
        self.row
    }

    /// A row error at the current line.
    pub(crate) fn error(&self, message: &str) -> TraceError {
        TraceError::Row {
            path: self.path.clone(),
            row: self.row,
            message: message.to_owned(),
        }
    }

    /// A non-negative whole number in column `i` named `name`.
    pub(crate) fn u64_at(&self, i: usize, name: &str) -> Result<u64, TraceError> {
        let text = self.field(i).trim();
        text.parse::<u64>().map_err(|_| {
            self.error(&format!(
                "column '{name}': expected a whole number >= 0, found '{}'",
                shorten(text)
            ))
        })
    }

    /// Like [`CsvLines::u64_at`], but an empty field is `None`.
    pub(crate) fn opt_u64_at(&self, i: usize, name: &str) -> Result<Option<u64>, TraceError> {
        if self.field(i).trim().is_empty() {
            Ok(None)
        } else {
            self.u64_at(i, name).map(Some)
        }
    }

    /// A whole number in `range` in column `i` named `name`.
    pub(crate) fn u32_in(&self, i: usize, name: &str, max: u32) -> Result<u32, TraceError> {
        let text = self.field(i).trim();
        match text.parse::<u64>() {
            Ok(v) if v <= u64::from(max) => Ok(v as u32),
            _ => Err(self.error(&format!(
                "column '{name}': expected a whole number in 0..={max}, found '{}'",
                shorten(text)
            ))),
        }
    }

    fn read_line(&mut self) -> Result<bool, TraceError> {
        self.bytes.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.bytes)
            .map_err(|source| TraceError::Io {
                path: self.path.clone(),
                source,
            })?;
        if n == 0 {
            return Ok(false);
        }
        self.row += 1;
        self.line.clear();
        match std::str::from_utf8(&self.bytes) {
            Ok(s) => self.line.push_str(s.trim_end_matches(['\n', '\r'])),
            Err(_) => return Err(self.error("the line is not valid UTF-8")),
        }
        Ok(true)
    }

    fn split(&mut self) -> Result<(), TraceError> {
        if self.line.contains('"') {
            return Err(self
                .error("quoted fields are not supported; expected plain comma-separated values"));
        }
        self.fields.clear();
        let mut start = 0;
        for (i, c) in self.line.char_indices() {
            if c == ',' {
                self.fields.push((start, i));
                start = i + 1;
            }
        }
        self.fields.push((start, self.line.len()));
        Ok(())
    }
}

/// Long junk is cut so an error message stays one readable line.
fn shorten(text: &str) -> String {
    const MAX: usize = 40;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(MAX).collect();
        format!("{cut}...")
    }
}
