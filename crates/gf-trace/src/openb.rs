//! The Alibaba GPU trace v2023 ("openb"): node lists and pod lists.
//!
//! Columns (see the trace folder's README):
//! - node lists: `sn, cpu_milli, memory_mib, gpu, model`;
//! - pod lists: `name, cpu_milli, memory_mib, num_gpu, gpu_milli` and, in most
//!   lists, `gpu_spec, qos, pod_phase, creation_time, deletion_time,
//!   scheduled_time`.
//!
//! `gpu_milli` is the share of each GPU (1000 is a whole GPU) and may be below
//! 1000 only when `num_gpu` is 1; a CPU-only pod has both at 0, and a pod
//! with GPUs has `gpu_milli` of at least 1 (the shipped lists hold no other
//! rows, and a mixed one would be counted as GPU demand by one reader of it
//! and as none by another). `gpu_spec` is empty (any model) or a
//! `|`-separated list of accepted models. A pod is deleted no earlier than it
//! is created.

use std::io::BufRead;
use std::path::Path;

use crate::csv::CsvLines;
use crate::error::TraceError;
use crate::file::TraceFile;

/// The most GPUs an openb node or pod may name; the trace's largest is 8.
pub const MAX_GPUS: u32 = 64;
/// Milli-GPU in one whole GPU.
pub const MILLI_PER_GPU: u32 = 1000;

/// One GPU server (or CPU-only server) of the openb cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenbNode {
    /// The 1-based line it was read from, for messages about it downstream.
    pub row: u64,
    /// Serial name, e.g. `openb-node-0000`.
    pub sn: String,
    /// CPU millicores.
    pub cpu_milli: u64,
    /// Memory MiB.
    pub memory_mib: u64,
    /// Number of GPUs.
    pub gpu: u32,
    /// GPU model; `None` for a CPU-only node.
    pub model: Option<String>,
}

/// One task of an openb pod list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenbPod {
    /// The 1-based line it was read from, for messages about it downstream.
    pub row: u64,
    /// Task name, e.g. `openb-pod-0000`.
    pub name: String,
    /// CPU millicores.
    pub cpu_milli: u64,
    /// Memory MiB.
    pub memory_mib: u64,
    /// Number of GPUs.
    pub num_gpu: u32,
    /// Milli-GPU on each GPU, 0..=1000.
    pub gpu_milli: u32,
    /// Accepted GPU models; empty means any.
    pub gpu_spec: Vec<String>,
    /// Quality-of-service class, if the list has the column.
    pub qos: Option<String>,
    /// Phase at trace end, if the list has the column.
    pub pod_phase: Option<String>,
    /// Seconds from trace start, if present.
    pub creation_time: Option<u64>,
    /// Seconds from trace start, if present.
    pub deletion_time: Option<u64>,
    /// Seconds from trace start, if present.
    pub scheduled_time: Option<u64>,
}

const NODE_COLUMNS: [&str; 5] = ["sn", "cpu_milli", "memory_mib", "gpu", "model"];
const POD_COLUMNS: [&str; 5] = ["name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli"];

/// Streams the nodes of a node list.
pub struct NodeReader<R> {
    lines: CsvLines<R>,
    cols: [usize; 5],
    done: bool,
}

impl<R: BufRead> NodeReader<R> {
    /// Read the header from `reader`; `path` names the source in errors.
    pub fn new(reader: R, path: &Path) -> Result<Self, TraceError> {
        let lines = CsvLines::new(reader, path)?;
        let mut cols = [0; 5];
        for (c, name) in cols.iter_mut().zip(NODE_COLUMNS) {
            *c = lines.require(name, &NODE_COLUMNS)?;
        }
        Ok(Self {
            lines,
            cols,
            done: false,
        })
    }

    fn parse(&self) -> Result<OpenbNode, TraceError> {
        let l = &self.lines;
        let [sn, cpu, mem, gpu, model] = self.cols;
        let sn = l.field(sn).trim();
        if sn.is_empty() {
            return Err(l.error("column 'sn': expected a node name, found an empty field"));
        }
        let gpu = l.u32_in(gpu, "gpu", MAX_GPUS)?;
        let model = l.field(model).trim();
        if gpu > 0 && model.is_empty() {
            return Err(l.error(&format!(
                "column 'model': a node with {gpu} GPUs needs a GPU model, found an empty field"
            )));
        }
        Ok(OpenbNode {
            row: l.row(),
            sn: sn.to_owned(),
            cpu_milli: l.u64_at(cpu, "cpu_milli")?,
            memory_mib: l.u64_at(mem, "memory_mib")?,
            gpu,
            model: (gpu > 0).then(|| model.to_owned()),
        })
    }
}

impl<R: BufRead> Iterator for NodeReader<R> {
    type Item = Result<OpenbNode, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = match self.lines.next_row() {
            Ok(false) => None,
            Ok(true) => Some(self.parse()),
            Err(e) => Some(Err(e)),
        };
        // The first error ends the stream: later rows of a broken file would
        // only repeat or confuse it.
        self.done = !matches!(item, Some(Ok(_)));
        item
    }
}

struct PodColumns {
    required: [usize; 5],
    gpu_spec: Option<usize>,
    qos: Option<usize>,
    pod_phase: Option<usize>,
    creation_time: Option<usize>,
    deletion_time: Option<usize>,
    scheduled_time: Option<usize>,
}

/// Streams the tasks of a pod list.
pub struct PodReader<R> {
    lines: CsvLines<R>,
    cols: PodColumns,
    done: bool,
}

impl<R: BufRead> PodReader<R> {
    /// Read the header from `reader`; `path` names the source in errors.
    pub fn new(reader: R, path: &Path) -> Result<Self, TraceError> {
        let lines = CsvLines::new(reader, path)?;
        let mut required = [0; 5];
        for (c, name) in required.iter_mut().zip(POD_COLUMNS) {
            *c = lines.require(name, &POD_COLUMNS)?;
        }
        let cols = PodColumns {
            required,
            gpu_spec: lines.column("gpu_spec"),
            qos: lines.column("qos"),
            pod_phase: lines.column("pod_phase"),
            creation_time: lines.column("creation_time"),
            deletion_time: lines.column("deletion_time"),
            scheduled_time: lines.column("scheduled_time"),
        };
        Ok(Self {
            lines,
            cols,
            done: false,
        })
    }

    fn parse(&self) -> Result<OpenbPod, TraceError> {
        let l = &self.lines;
        let c = &self.cols;
        let [name, cpu, mem, num, milli] = c.required;
        let name = l.field(name).trim();
        if name.is_empty() {
            return Err(l.error("column 'name': expected a task name, found an empty field"));
        }
        let num_gpu = l.u32_in(num, "num_gpu", MAX_GPUS)?;
        let gpu_milli = l.u32_in(milli, "gpu_milli", MILLI_PER_GPU)?;
        if num_gpu == 0 && gpu_milli > 0 {
            return Err(l.error(&format!(
                "column 'gpu_milli': a pod with num_gpu 0 asks for no GPU, so gpu_milli must be 0, \
                 found {gpu_milli}; give num_gpu 1 or more for a GPU pod"
            )));
        }
        if num_gpu > 0 && gpu_milli == 0 {
            return Err(l.error(&format!(
                "column 'gpu_milli': a pod with num_gpu {num_gpu} needs the share of each GPU \
                 in 1..=1000, found 0; give num_gpu 0 for a CPU-only pod"
            )));
        }
        if num_gpu > 1 && gpu_milli < MILLI_PER_GPU {
            return Err(l.error(&format!(
                "column 'gpu_milli': a fraction of a GPU ({gpu_milli}) is only allowed with num_gpu 1, \
                 found num_gpu {num_gpu}; use 1000 for whole GPUs"
            )));
        }
        let text = |i: Option<usize>| {
            i.map(|i| l.field(i).trim())
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let time = |i: Option<usize>, col: &str| match i {
            Some(i) => l.opt_u64_at(i, col),
            None => Ok(None),
        };
        let gpu_spec = c
            .gpu_spec
            .map(|i| {
                l.field(i)
                    .split('|')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let creation_time = time(c.creation_time, "creation_time")?;
        let deletion_time = time(c.deletion_time, "deletion_time")?;
        if let (Some(created), Some(deleted)) = (creation_time, deletion_time)
            && deleted < created
        {
            return Err(l.error(&format!(
                "column 'deletion_time': {deleted} is before creation_time {created}; \
                 expected a time at or after creation_time, or an empty field"
            )));
        }
        Ok(OpenbPod {
            row: l.row(),
            name: name.to_owned(),
            cpu_milli: l.u64_at(cpu, "cpu_milli")?,
            memory_mib: l.u64_at(mem, "memory_mib")?,
            num_gpu,
            gpu_milli,
            gpu_spec,
            qos: text(c.qos),
            pod_phase: text(c.pod_phase),
            creation_time,
            deletion_time,
            scheduled_time: time(c.scheduled_time, "scheduled_time")?,
        })
    }
}

impl<R: BufRead> Iterator for PodReader<R> {
    type Item = Result<OpenbPod, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = match self.lines.next_row() {
            Ok(false) => None,
            Ok(true) => Some(self.parse()),
            Err(e) => Some(Err(e)),
        };
        self.done = !matches!(item, Some(Ok(_)));
        item
    }
}

/// Stream the nodes of the node list at `path` (plain or gzip).
pub fn open_nodes(path: &Path) -> Result<NodeReader<TraceFile>, TraceError> {
    NodeReader::new(TraceFile::open(path)?, path)
}

/// Stream the tasks of the pod list at `path` (plain or gzip).
pub fn open_pods(path: &Path) -> Result<PodReader<TraceFile>, TraceError> {
    PodReader::new(TraceFile::open(path)?, path)
}

/// All nodes of the node list at `path`, stopping at the first bad row.
pub fn read_nodes(path: &Path) -> Result<Vec<OpenbNode>, TraceError> {
    open_nodes(path)?.collect()
}

/// All tasks of the pod list at `path`, stopping at the first bad row.
pub fn read_pods(path: &Path) -> Result<Vec<OpenbPod>, TraceError> {
    open_pods(path)?.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pods(text: &str) -> Result<Vec<OpenbPod>, TraceError> {
        PodReader::new(text.as_bytes(), Path::new("pods.csv"))?.collect()
    }

    fn nodes(text: &str) -> Result<Vec<OpenbNode>, TraceError> {
        NodeReader::new(text.as_bytes(), Path::new("nodes.csv"))?.collect()
    }

    #[test]
    fn reads_a_full_pod_row_and_a_short_one() {
        let full = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n\
                    p0,6000,12288,1,460,V100M16|V100M32,LS,Running,0,12902960,\n";
        let p = &pods(full).unwrap()[0];
        assert_eq!(p.gpu_spec, ["V100M16", "V100M32"]);
        assert_eq!((p.gpu_milli, p.scheduled_time), (460, None));
        assert_eq!(p.deletion_time, Some(12_902_960));
        let short = "name,cpu_milli,memory_mib,num_gpu,gpu_milli\r\np1,12000,16384,8,1000\r\n";
        let p = &pods(short).unwrap()[0];
        assert_eq!((p.num_gpu, p.qos.as_deref()), (8, None));
    }

    #[test]
    fn reads_nodes_with_and_without_gpus() {
        let n =
            nodes("sn,cpu_milli,memory_mib,gpu,model\nn0,64000,262144,2,P100\nn1,32000,1024,0,\n")
                .unwrap();
        assert_eq!(n[0].model.as_deref(), Some("P100"));
        assert_eq!((n[1].gpu, n[1].model.as_deref()), (0, None));
    }

    #[test]
    fn bad_rows_name_path_row_and_column() {
        let head = "name,cpu_milli,memory_mib,num_gpu,gpu_milli\n";
        let cases = [
            (
                format!("{head}p0,1,1,1,1000\np1,abc,1,1,1000\n"),
                "pods.csv:3: error: column 'cpu_milli': expected a whole number >= 0, found 'abc'",
            ),
            (
                format!("{head}p0,1,1,1,1200\n"),
                "pods.csv:2: error: column 'gpu_milli': expected a whole number in 0..=1000, found '1200'",
            ),
            (
                format!("{head}p0,1,1,2,500\n"),
                "pods.csv:2: error: column 'gpu_milli': a fraction of a GPU (500) is only allowed with num_gpu 1, found num_gpu 2; use 1000 for whole GPUs",
            ),
            (
                format!("{head}p0,1,1,0,500\n"),
                "pods.csv:2: error: column 'gpu_milli': a pod with num_gpu 0 asks for no GPU, so gpu_milli must be 0, found 500; give num_gpu 1 or more for a GPU pod",
            ),
            (
                format!("{head}p0,1,1,1,0\n"),
                "pods.csv:2: error: column 'gpu_milli': a pod with num_gpu 1 needs the share of each GPU in 1..=1000, found 0; give num_gpu 0 for a CPU-only pod",
            ),
            (
                "name,cpu_milli,memory_mib,num_gpu,gpu_milli,creation_time,deletion_time\np0,1,1,1,1000,5,4\n".to_owned(),
                "pods.csv:2: error: column 'deletion_time': 4 is before creation_time 5; expected a time at or after creation_time, or an empty field",
            ),
            (
                format!("{head}p0,1,1\n"),
                "pods.csv:2: error: expected 5 fields as named by the header, found 3",
            ),
            (
                format!("{head}\"p0\",1,1,1,1\n"),
                "pods.csv:2: error: quoted fields are not supported; expected plain comma-separated values",
            ),
            (
                "name,cpu_milli,num_gpu,gpu_milli\n".to_owned(),
                "pods.csv:1: error: missing column 'memory_mib'; the header must name name, cpu_milli, memory_mib, num_gpu, gpu_milli",
            ),
            (
                String::new(),
                "pods.csv:1: error: the file is empty; expected a header line naming the columns",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(pods(&text).unwrap_err().to_string(), want);
        }
        let e = nodes("sn,cpu_milli,memory_mib,gpu,model\nn0,1,1,4,\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "nodes.csv:2: error: column 'model': a node with 4 GPUs needs a GPU model, found an empty field"
        );
    }

    #[test]
    fn rows_count_blank_lines_and_a_bom_header_reads() {
        // Blank and all-space lines are skipped but still counted, so the row
        // of an error is the line an editor shows.
        let text = "\u{feff}name,cpu_milli,memory_mib,num_gpu,gpu_milli\r\n\r\np0,1,1,1,1000\r\n   \n\np1,1,1,1,x\n";
        let e = pods(text).unwrap_err().to_string();
        assert_eq!(
            e,
            "pods.csv:6: error: column 'gpu_milli': expected a whole number in 0..=1000, found 'x'"
        );
        let ok =
            pods("\u{feff}name,cpu_milli,memory_mib,num_gpu,gpu_milli\n\np0, 1 ,1,1,1000").unwrap();
        assert_eq!((ok[0].row, ok[0].cpu_milli), (3, 1));
    }

    proptest::proptest! {
        // Rows are counted by the reader, not taken from the csv crate, so
        // check them against the plain count of lines: blank, all-space and
        // CRLF lines anywhere, with or without a final newline, and a bad
        // value on a drawn row.
        #[test]
        fn every_row_and_error_names_its_line(
            rows in proptest::collection::vec((0usize..3, proptest::bool::ANY, proptest::bool::ANY), 1..40),
            final_newline in proptest::bool::ANY,
            bad in proptest::option::of(0usize..40),
        ) {
            let mut text = String::from("name,cpu_milli,memory_mib,num_gpu,gpu_milli\n");
            let mut line = 1;
            let mut want = Vec::new();
            for (i, &(blanks, crlf, spaces)) in rows.iter().enumerate() {
                for _ in 0..blanks {
                    text.push_str(if spaces { "  \n" } else if crlf { "\r\n" } else { "\n" });
                    line += 1;
                }
                let milli = if bad == Some(i) { "x" } else { "1000" };
                text.push_str(&format!("p{i},1,1,1,{milli}"));
                line += 1;
                want.push(line);
                if i + 1 < rows.len() || final_newline {
                    text.push_str(if crlf { "\r\n" } else { "\n" });
                }
            }
            match bad.filter(|&b| b < rows.len()) {
                None => {
                    let got: Vec<u64> = pods(&text).unwrap().iter().map(|p| p.row).collect();
                    proptest::prop_assert_eq!(got, want);
                }
                Some(b) => {
                    let e = pods(&text).unwrap_err();
                    proptest::prop_assert_eq!(e.row(), Some(want[b]));
                }
            }
        }
    }

    #[test]
    fn invalid_utf8_is_a_row_error() {
        let mut bytes = b"name,cpu_milli,memory_mib,num_gpu,gpu_milli\np0,1,1,1,".to_vec();
        bytes.extend([0xff, 0xfe, b'\n']);
        let e = PodReader::new(&bytes[..], Path::new("x.csv"))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap_err();
        assert_eq!(e.to_string(), "x.csv:2: error: the line is not valid UTF-8");
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let e = read_pods(Path::new("/nonexistent/pods.csv")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/nonexistent/pods.csv: error: cannot read: ")
        );
    }
}
