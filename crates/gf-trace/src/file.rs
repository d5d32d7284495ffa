//! Opening a trace file, plain or gzip-compressed, as one buffered reader.
//!
//! Public traces are large and compress about sevenfold, so the repository
//! ships them gzipped; a user's own copy may be plain. Readers should not
//! care which, so a file is recognised by its first two bytes (the gzip magic
//! `1f 8b`), not by its name: a renamed or mislabelled file still reads, and
//! no CSV, TSV or JSON text starts with those bytes.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;

use crate::error::TraceError;

/// The first two bytes of every gzip member (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A trace file opened for reading, decompressed on the fly when it is gzip.
pub struct TraceFile(Inner);

/// The file with its first bytes, read to recognise the format, put back in
/// front.
type Raw = io::Chain<io::Take<io::Cursor<[u8; 2]>>, File>;

enum Inner {
    Plain(BufReader<Raw>),
    // A multi-member decoder, because `cat a.gz b.gz` is a valid gzip file
    // and `gzip -d` reads every member.
    Gzip(BufReader<MultiGzDecoder<BufReader<Raw>>>),
}

impl TraceFile {
    /// Open `path`; an error names the path.
    pub fn open(path: &Path) -> Result<Self, TraceError> {
        let io_error = |source| TraceError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = File::open(path).map_err(io_error)?;
        // Read the magic with a loop rather than trusting one read: a pipe
        // (`<(zcat ...)`) may hand over one byte at a time.
        let mut head = [0u8; 2];
        let mut n = 0;
        while n < head.len() {
            match file.read(&mut head[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error(e)),
            }
        }
        let gzip = head[..n] == GZIP_MAGIC;
        let raw = BufReader::new(io::Cursor::new(head).take(n as u64).chain(file));
        Ok(TraceFile(if gzip {
            Inner::Gzip(BufReader::new(MultiGzDecoder::new(raw)))
        } else {
            Inner::Plain(raw)
        }))
    }

    /// Whether the file is gzip-compressed.
    pub fn is_gzip(&self) -> bool {
        matches!(self.0, Inner::Gzip(_))
    }
}

impl Read for TraceFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.0 {
            Inner::Plain(r) => r.read(buf),
            Inner::Gzip(r) => r.read(buf),
        }
    }
}

impl BufRead for TraceFile {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match &mut self.0 {
            Inner::Plain(r) => r.fill_buf(),
            Inner::Gzip(r) => r.fill_buf(),
        }
    }

    fn consume(&mut self, amount: usize) {
        match &mut self.0 {
            Inner::Plain(r) => r.consume(amount),
            Inner::Gzip(r) => r.consume(amount),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::path::PathBuf;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    fn write(name: &str, bytes: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("gf-trace-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn gzip(text: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(text).unwrap();
        e.finish().unwrap()
    }

    fn read(path: &Path) -> io::Result<(bool, String)> {
        let mut f = TraceFile::open(path).unwrap();
        let mut s = String::new();
        f.read_to_string(&mut s)?;
        Ok((f.is_gzip(), s))
    }

    #[test]
    fn gzip_is_recognised_by_its_bytes_not_its_name() {
        let text = b"a,b\n1,2\n";
        for name in ["t.csv.gz", "mislabelled.csv"] {
            let p = write(name, &gzip(text));
            assert_eq!(read(&p).unwrap(), (true, "a,b\n1,2\n".to_owned()), "{name}");
        }
        let p = write("plain.csv.gz", text);
        assert_eq!(read(&p).unwrap(), (false, "a,b\n1,2\n".to_owned()));
    }

    #[test]
    fn files_shorter_than_the_magic_read_as_plain() {
        for text in [&b""[..], b"x", b"\x1f"] {
            let p = write("short.csv", text);
            let (gz, s) = read(&p).unwrap();
            assert!(!gz);
            assert_eq!(s.as_bytes(), text);
        }
    }

    #[test]
    fn concatenated_gzip_members_read_as_one_file() {
        let mut bytes = gzip(b"a,b\n");
        bytes.extend(gzip(b"1,2\n"));
        let p = write("two-members.csv.gz", &bytes);
        assert_eq!(read(&p).unwrap().1, "a,b\n1,2\n");
    }

    #[test]
    fn a_truncated_gzip_file_is_a_read_error() {
        let mut text = b"name,cpu_milli,memory_mib,num_gpu,gpu_milli\n".to_vec();
        text.extend(b"p0,1,1,1,1000\n".repeat(1000));
        let bytes = gzip(&text);
        let p = write("truncated.csv.gz", &bytes[..bytes.len() / 2]);
        assert!(read(&p).is_err());
        // Through a reader the error names the file.
        let e = crate::openb::read_pods(&p).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}: error: cannot read: ", p.display())),
            "{e}"
        );
    }
}
