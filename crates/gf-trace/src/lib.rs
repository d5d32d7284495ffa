//! gf-trace: streaming readers for public cluster traces.
//!
//! A scheduler is only as good as its results on workloads nobody here wrote,
//! so `gigafleet replay` feeds real traces to the production scheduler. This
//! crate turns trace files into plain records and nothing else: it reads files
//! line by line (never the whole file into memory), knows no scheduler and no
//! clock, and reports a malformed row as `PATH:ROW: error: MESSAGE`, naming the
//! column and what it would accept. A reader never panics on bad input. Every
//! reader takes plain or gzip-compressed files alike ([`TraceFile`]).
//!
//! Traces:
//! - [`openb`]: the Alibaba GPU trace v2023 ("openb") node and pod lists used
//!   by the FGD paper (Weng et al., USENIX ATC 2023).
//! - [`philly`]: Gavel's Philly-derived per-VC job traces and its measured
//!   throughput table (Narayanan et al., OSDI 2020).

mod csv;
pub mod error;
mod file;
pub mod openb;
pub mod philly;

pub use error::TraceError;
pub use file::TraceFile;
