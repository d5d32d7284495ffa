//! Printing to standard output that ends quietly when the reader goes away.
//!
//! `println!` panics when stdout is a closed pipe (`gigafleet simulate | head`),
//! which prints a backtrace at the user for doing something ordinary. Every
//! command prints through `outln!`/`out!` instead, which hand the write error
//! back as an `anyhow::Error`; `main` recognises a broken pipe in the chain and
//! exits 0 without a word, as ripgrep and coreutils' tools do.

/// `println!` that returns a broken pipe (or any write error) with `?`.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}

/// `print!` that returns a broken pipe (or any write error) with `?`.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*)?
    }};
}

pub(crate) use {out, outln};

/// Whether an error is the reader of stdout having gone away.
pub(crate) fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// A mistake in what the user gave a command (a flag, an output path, a
/// file with nothing the command can use): reported as an error with exit
/// status 2, as a file's own problems are; any other failure exits 1.
#[derive(Debug)]
pub(crate) struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Returns early with a [`BadInput`], formatted as `format!` would.
macro_rules! bad_input {
    ($($arg:tt)*) => {
        return Err(anyhow::Error::new($crate::out::BadInput(format!($($arg)*))))
    };
}

pub(crate) use bad_input;

/// Checks, before a long run, that the files of `--json` and `--report`
/// (when given) can be written when the run ends: see [`check_output`].
pub(crate) fn check_outputs(
    json: Option<&std::path::Path>,
    report: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    for (flag, path) in [("--json", json), ("--report", report)] {
        if let Some(p) = path {
            check_output(flag, p)?;
        }
    }
    Ok(())
}

/// Checks, before a long run, that the output file `path` given with `flag`
/// can be written when the run ends: its directory exists and it is not a
/// directory itself. A run of minutes that could not write its result
/// would otherwise end with nothing but an error.
fn check_output(flag: &str, path: &std::path::Path) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    if !dir.is_dir() {
        bad_input!(
            "{flag} {}: the directory {} does not exist; create it or name a file in one that does",
            path.display(),
            dir.display()
        );
    }
    if path.is_dir() {
        bad_input!(
            "{flag} {}: is a directory; name a file to write",
            path.display()
        );
    }
    Ok(())
}
