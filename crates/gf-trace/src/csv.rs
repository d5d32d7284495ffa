//! The comma-separated layer under the openb readers: a header line naming
//! the columns, then one record per line, each error naming the file and row.
//!
//! Splitting is the `csv` crate's (a tested state machine that reuses one
//! record buffer); this module adds what the traces need on top: columns
//! looked up by header name, a field count checked against the header, and
//! messages in the `PATH:ROW: error: MESSAGE` form that name the column and
//! what it would accept. The traces have no quoted fields, so quoting is off
//! and a quote is reported rather than read as part of a value.
//!
//! Rows are counted here, not taken from the crate's record positions: a
//! record's position is where the reader stood after the previous record,
//! before the blank lines it skipped, so it can name the wrong line. With
//! quoting off and `\n` as the terminator every record is exactly one line,
//! and the reader's line counter, one more than the newlines consumed, gives
//! the true line once we know whether the record ended at a newline or at
//! the end of the file.

use std::io::{self, BufRead, Read};
use std::path::{Path, PathBuf};

use csv::{ErrorKind, StringRecord};

use crate::error::TraceError;

/// Reads a header, then rows one at a time into a reused record.
pub(crate) struct CsvLines<R> {
    reader: csv::Reader<SeesEnd<R>>,
    path: PathBuf,
    header: Vec<String>,
    record: StringRecord,
    row: u64,
}

impl<R: BufRead> CsvLines<R> {
    /// Read the header line.
    pub(crate) fn new(reader: R, path: &Path) -> Result<Self, TraceError> {
        let reader = csv::ReaderBuilder::new()
            // The header is read as a record, so its problems get the same
            // messages as a row's.
            .has_headers(false)
            // Field counts are checked here, against the header, with a
            // message that names both counts.
            .flexible(true)
            .quoting(false)
            // Only `\n` ends a record, so a CRLF line is one record (its `\r`
            // is dropped in `field`) and the line counter is exact.
            .terminator(csv::Terminator::Any(b'\n'))
            .from_reader(SeesEnd {
                inner: reader,
                at_end: false,
            });
        let mut this = Self {
            reader,
            path: path.to_owned(),
            header: Vec::new(),
            record: StringRecord::new(),
            row: 1,
        };
        if !this.read_record()? {
            return Err(this.error("the file is empty; expected a header line naming the columns"));
        }
        this.header = this
            .record
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}').trim().to_owned())
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
            if !self.read_record()? {
                return Ok(false);
            }
            // The csv crate skips empty lines; a line of spaces is blank too.
            if self.record.len() == 1 && self.record[0].trim().is_empty() {
                continue;
            }
            if self.record.len() != self.header.len() {
                return Err(self.error(&format!(
                    "expected {} fields as named by the header, found {}",
                    self.header.len(),
                    self.record.len()
                )));
            }
            return Ok(true);
        }
    }

    /// The text of field `i` of the current row, without the `\r` of a
    /// CRLF line end.
    pub(crate) fn field(&self, i: usize) -> &str {
        match self.record.get(i) {
            Some(f) if i + 1 == self.record.len() => f.strip_suffix('\r').unwrap_or(f),
            Some(f) => f,
            None => "",
        }
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

    /// A number field without the ASCII spaces around it. ASCII only: numbers
    /// are ASCII, and `str::trim`'s Unicode check costs more per call than
    /// splitting the row does, on the six or more numbers of every row.
    fn number_text(&self, i: usize) -> &str {
        self.field(i).trim_ascii()
    }

    /// A non-negative whole number in column `i` named `name`.
    pub(crate) fn u64_at(&self, i: usize, name: &str) -> Result<u64, TraceError> {
        let text = self.number_text(i);
        text.parse::<u64>().map_err(|_| {
            self.error(&format!(
                "column '{name}': expected a whole number >= 0, found '{}'",
                shorten(text)
            ))
        })
    }

    /// Like [`CsvLines::u64_at`], but an empty field is `None`.
    pub(crate) fn opt_u64_at(&self, i: usize, name: &str) -> Result<Option<u64>, TraceError> {
        if self.number_text(i).is_empty() {
            Ok(None)
        } else {
            self.u64_at(i, name).map(Some)
        }
    }

    /// A whole number in `range` in column `i` named `name`.
    pub(crate) fn u32_in(&self, i: usize, name: &str, max: u32) -> Result<u32, TraceError> {
        let text = self.number_text(i);
        match text.parse::<u64>() {
            Ok(v) if v <= u64::from(max) => Ok(v as u32),
            _ => Err(self.error(&format!(
                "column '{name}': expected a whole number in 0..={max}, found '{}'",
                shorten(text)
            ))),
        }
    }

    /// Read the next record, noting its line; `Ok(false)` at the end.
    fn read_record(&mut self) -> Result<bool, TraceError> {
        let result = self.reader.read_record(&mut self.record);
        if !matches!(result, Ok(false)) {
            // The record's line: the newlines consumed so far, plus one, less
            // the newline that ended it unless the file ended it instead.
            let consumed_plus_one = self.reader.position().line();
            let ended_by_newline = !self.reader.get_ref().at_end;
            self.row = consumed_plus_one - u64::from(ended_by_newline);
        }
        match result {
            Ok(more) => {
                if more && self.record.as_slice().contains('"') {
                    return Err(self.error(
                        "quoted fields are not supported; expected plain comma-separated values",
                    ));
                }
                Ok(more)
            }
            Err(e) => Err(self.read_error(e)),
        }
    }

    fn read_error(&self, e: csv::Error) -> TraceError {
        let text = e.to_string();
        match e.into_kind() {
            ErrorKind::Io(source) => TraceError::Io {
                path: self.path.clone(),
                source,
            },
            ErrorKind::Utf8 { .. } => self.error("the line is not valid UTF-8"),
            // With quoting off and flexible field counts the crate reports
            // nothing else while reading; say what it said all the same.
            _ => self.error(&format!("cannot read the row: {text}")),
        }
    }
}

/// The reader under the csv crate, noting when it reached the end of input.
///
/// The crate asks for more input only while a record is unfinished, so the
/// end having been reached during a read means the record just read was
/// ended by the end of the file, not by a newline.
struct SeesEnd<R> {
    inner: R,
    at_end: bool,
}

impl<R: Read> Read for SeesEnd<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.at_end = true;
        }
        Ok(n)
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
