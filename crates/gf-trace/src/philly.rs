//! The Philly-derived job traces of Gavel (Narayanan et al., OSDI 2020):
//! per-virtual-cluster job lists (gang size, arrival, steps of a named model)
//! and the measured throughput table that turns steps into a duration on each
//! GPU type.
//!
//! Two layouts exist and both are read: the older 7-field one of
//! `msr/seed=0/*.trace` and the 10-field one of `physical_cluster/*.trace`
//! (Gavel's `scheduler/utils.py::parse_trace`). Both are tab-separated with
//! no header.
//!
//! Bounds are checked here, where the row is known: an arrival beyond
//! [`MAX_ARRIVAL_S`] or a step count beyond [`MAX_STEPS`] is refused with
//! its row, since a replay simulates every second up to the last arrival
//! and a number that large is a broken row, not a workload (the shipped
//! traces arrive within 126 days and run at most 8.7e8 steps).

use std::collections::HashMap;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use crate::error::TraceError;
use crate::file::TraceFile;

/// The latest arrival a trace row may give: ten years of 365 days, in
/// seconds.
pub const MAX_ARRIVAL_S: f64 = 10.0 * 365.0 * 86_400.0;

/// The most steps a trace row may ask for: 2^53, the largest count an `f64`
/// holds exactly, so the count read is the count written.
pub const MAX_STEPS: u64 = 1 << 53;

/// One job of a Philly-derived trace.
#[derive(Debug, Clone, PartialEq)]
pub struct PhillyJob {
    /// The 1-based line it was read from, for messages about it downstream.
    pub row: u64,
    /// Model and batch size, e.g. `ResNet-50 (batch size 64)`: the key of the throughput table.
    pub job_type: String,
    /// Training steps to run.
    pub total_steps: u64,
    /// Arrival, seconds from the trace start.
    pub arrival_s: f64,
    /// Gang size (Gavel's `scale_factor`).
    pub gpus: u32,
    /// Priority weight (1 in the 7-field layout).
    pub priority_weight: f64,
    /// Deadline as a multiple of the isolated run time, when the trace gives one.
    pub slo: Option<f64>,
}

/// Streams the jobs of a trace file (plain or gzip).
pub fn read_jobs(path: &Path) -> Result<PhillyJobs, TraceError> {
    Ok(PhillyJobs {
        reader: TraceFile::open(path)?,
        path: path.to_owned(),
        row: 0,
        line: String::new(),
    })
}

/// The jobs of one trace file, read one line at a time.
pub struct PhillyJobs {
    reader: TraceFile,
    path: PathBuf,
    row: u64,
    line: String,
}

impl PhillyJobs {
    fn err(&self, message: String) -> TraceError {
        TraceError::Row {
            path: self.path.clone(),
            row: self.row,
            message,
        }
    }

    fn parse(&self) -> Result<PhillyJob, TraceError> {
        let f: Vec<&str> = self
            .line
            .trim_end_matches(['\n', '\r'])
            .split('\t')
            .collect();
        // (job_type, total_steps, scale_factor, priority_weight, slo, arrival) positions.
        let (steps_i, gpus_i, arrival_i, weight_i, slo_i) = match f.len() {
            7 => (4, 6, 5, None, None),
            10 => (5, 6, 9, Some(7), Some(8)),
            n => {
                return Err(self.err(format!(
                    "{n} tab-separated fields; expected 7 (job_type, command, num_steps_arg, needs_data_dir, total_steps, arrival_time_s, scale_factor) or 10 (job_type, command, working_directory, num_steps_arg, needs_data_dir, total_steps, scale_factor, priority_weight, SLO, arrival_time_s)"
                )));
            }
        };
        let num = |i: usize, name: &str, what: &str| -> Result<f64, TraceError> {
            let s = f[i].trim();
            match s.parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(x),
                _ => Err(self.err(format!(
                    "column {name} (field {}) is `{s}`; expected {what}",
                    i + 1
                ))),
            }
        };
        let job_type = f[0].trim().to_string();
        if job_type.is_empty() {
            return Err(self.err("column job_type (field 1) is empty; expected a model name such as `ResNet-50 (batch size 64)`".into()));
        }
        let steps_want = format!("a whole number of steps in 1..={MAX_STEPS}");
        let steps = num(steps_i, "total_steps", &steps_want)?;
        if steps < 1.0 || steps.fract() != 0.0 || steps > MAX_STEPS as f64 {
            return Err(self.err(format!(
                "column total_steps (field {}) is `{}`; expected {steps_want}",
                steps_i + 1,
                f[steps_i].trim()
            )));
        }
        let gpus = num(gpus_i, "scale_factor", "a whole number of GPUs >= 1")?;
        if gpus < 1.0 || gpus.fract() != 0.0 || gpus > 1e6 {
            return Err(self.err(format!(
                "column scale_factor (field {}) is `{}`; expected a whole number of GPUs >= 1",
                gpus_i + 1,
                f[gpus_i].trim()
            )));
        }
        let arrival_want = format!("seconds in 0..={MAX_ARRIVAL_S} (ten years)");
        let arrival = num(arrival_i, "arrival_time_s", &arrival_want)?;
        if !(0.0..=MAX_ARRIVAL_S).contains(&arrival) {
            return Err(self.err(format!(
                "column arrival_time_s (field {}) is `{}`; expected {arrival_want}",
                arrival_i + 1,
                f[arrival_i].trim()
            )));
        }
        let priority_weight = match weight_i {
            Some(i) => num(i, "priority_weight", "a number")?,
            None => 1.0,
        };
        let slo = match slo_i {
            Some(i) => Some(num(i, "SLO", "a number, -1 for none")?).filter(|&x| x > 0.0),
            None => None,
        };
        Ok(PhillyJob {
            row: self.row,
            job_type,
            total_steps: steps as u64,
            arrival_s: arrival,
            gpus: gpus as u32,
            priority_weight,
            slo,
        })
    }
}

impl Iterator for PhillyJobs {
    type Item = Result<PhillyJob, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.line.clear();
            self.row += 1;
            match self.reader.read_line(&mut self.line) {
                Ok(0) => return None,
                Ok(_) if self.line.trim().is_empty() => continue,
                Ok(_) => return Some(self.parse()),
                Err(e) => {
                    return Some(Err(self.err(format!("cannot read the line: {e}"))));
                }
            }
        }
    }
}

/// Gavel's measured throughput table: steps per second of a job type at a
/// gang size, alone on a GPU type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Throughputs {
    alone: HashMap<(String, String, u32), f64>,
}

impl Throughputs {
    /// Reads `simulation_throughputs.json` (plain or gzip).
    pub fn read(path: &Path) -> Result<Self, TraceError> {
        let mut text = String::new();
        TraceFile::open(path)?
            .read_to_string(&mut text)
            .map_err(|source| TraceError::Io {
                path: path.to_owned(),
                source,
            })?;
        let row_err = |message: String| TraceError::Row {
            path: path.to_owned(),
            row: 1,
            message,
        };
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| TraceError::Row {
            path: path.to_owned(),
            row: e.line() as u64,
            message: format!("invalid JSON: {e}"),
        })?;
        let workers = v.as_object().ok_or_else(|| {
            row_err("expected an object of worker types (k80, p100, v100)".into())
        })?;
        let mut alone = HashMap::new();
        for (worker, jobs) in workers {
            let Some(jobs) = jobs.as_object() else {
                return Err(row_err(format!(
                    "worker type `{worker}`: expected an object of job keys"
                )));
            };
            for (key, entry) in jobs {
                // Keys look like "('ResNet-18 (batch size 16)', 1)".
                let Some((name, sf)) = parse_key(key) else {
                    return Err(row_err(format!(
                        "worker type `{worker}`: key `{key}` is not of the form \"('job type', scale_factor)\""
                    )));
                };
                // `null` is the throughput alone (the other keys are
                // co-located pairs). The shipped table measures 0 where a
                // job does not run on a worker (out of memory), so 0 reads
                // as "not measured"; a negative or missing figure is a
                // broken table, and skipping it would turn into a confusing
                // "no throughput" for some job far from here.
                let t = entry.get("null").and_then(serde_json::Value::as_f64);
                match t {
                    Some(t) if t >= 0.0 => {
                        alone.insert((worker.clone(), name, sf), t);
                    }
                    _ => {
                        let found = entry
                            .get("null")
                            .map_or_else(|| "missing".to_owned(), |v| format!("`{v}`"));
                        return Err(row_err(format!(
                            "worker type `{worker}`, key `{key}`: the throughput alone (field `null`) is {found}; \
                             expected steps per second >= 0 (0 for a job that does not run there)"
                        )));
                    }
                }
            }
        }
        Ok(Throughputs { alone })
    }

    /// The worker types (GPU models) the table measures, sorted.
    pub fn workers(&self) -> Vec<&str> {
        let mut w: Vec<&str> = self.alone.keys().map(|k| k.0.as_str()).collect();
        w.sort_unstable();
        w.dedup();
        w
    }

    /// Steps per second of `job_type` at `gpus` on `worker`, alone.
    pub fn steps_per_s(&self, worker: &str, job_type: &str, gpus: u32) -> Option<f64> {
        self.alone
            .get(&(worker.to_string(), job_type.to_string(), gpus))
            .copied()
    }

    /// Seconds `steps` steps take on `gpus` GPUs of `worker`, and whether
    /// the figure was extrapolated.
    ///
    /// The table measures gangs of 1, 2, 4 and 8 GPUs, and some job types
    /// (A3C, CycleGAN, Recommendation) only alone; the traces hold gangs up to
    /// 64. A gang the table lacks runs at the throughput of the largest
    /// measured gang not above it, scaled linearly with the GPU count — the
    /// optimistic assumption of perfect data-parallel scaling, said out loud.
    pub fn duration_s(
        &self,
        worker: &str,
        job_type: &str,
        gpus: u32,
        steps: u64,
    ) -> Option<(f64, bool)> {
        if let Some(t) = self
            .steps_per_s(worker, job_type, gpus)
            .filter(|&t| t > 0.0)
        {
            return Some((steps as f64 / t, false));
        }
        let mut sf = gpus;
        while sf > 1 {
            sf = sf.next_power_of_two() / 2;
            if sf == gpus {
                sf /= 2;
            }
            if let Some(t) = self.steps_per_s(worker, job_type, sf).filter(|&t| t > 0.0) {
                return Some((steps as f64 / (t * gpus as f64 / sf as f64), true));
            }
        }
        None
    }
}

fn parse_key(key: &str) -> Option<(String, u32)> {
    let inner = key.strip_prefix("('")?.strip_suffix(')')?;
    let (name, sf) = inner.rsplit_once("',")?;
    Some((name.to_string(), sf.trim().parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("gf-trace-philly-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::File::create(&p)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        p
    }

    #[test]
    fn reads_both_layouts() {
        let p = write(
            "a.trace",
            "A (batch size 1)\tcmd\t-step\t1\t100\t6.5\t4\n\nB (batch size 2)\tcmd\tdir\t-n\t1\t50\t2\t3\t1.5\t9\n",
        );
        let jobs: Vec<PhillyJob> = read_jobs(&p).unwrap().map(Result::unwrap).collect();
        assert_eq!(jobs.len(), 2);
        assert_eq!(
            (jobs[0].total_steps, jobs[0].gpus, jobs[0].arrival_s),
            (100, 4, 6.5)
        );
        assert_eq!(
            (jobs[1].total_steps, jobs[1].gpus, jobs[1].arrival_s),
            (50, 2, 9.0)
        );
        assert_eq!(jobs[1].priority_weight, 3.0);
        assert_eq!(jobs[1].slo, Some(1.5));
    }

    #[test]
    fn bad_rows_name_the_row_and_column() {
        let p = write(
            "b.trace",
            "A\tcmd\t-step\t1\t100\t0\t1\nA\tcmd\t-step\t1\tmany\t0\t1\nA\tonly\n",
        );
        let r: Vec<Result<PhillyJob, TraceError>> = read_jobs(&p).unwrap().collect();
        assert!(r[0].is_ok());
        let e = r[1].as_ref().unwrap_err().to_string();
        assert!(e.ends_with("b.trace:2: error: column total_steps (field 5) is `many`; expected a whole number of steps in 1..=9007199254740992"), "{e}");
        let e = r[2].as_ref().unwrap_err().to_string();
        assert!(
            e.contains("b.trace:3: error: 2 tab-separated fields; expected 7"),
            "{e}"
        );
    }

    #[test]
    fn arrivals_and_steps_beyond_their_bounds_name_the_row() {
        let p = write(
            "c.trace",
            "A\tcmd\t-step\t1\t100\t315360000\t1\n\
             A\tcmd\t-step\t1\t100\t1e19\t1\n\
             A\tcmd\t-step\t1\t100\tinf\t1\n\
             A\tcmd\t-step\t1\t1e300\t0\t1\n",
        );
        let r: Vec<Result<PhillyJob, TraceError>> = read_jobs(&p).unwrap().collect();
        assert_eq!(r[0].as_ref().unwrap().row, 1);
        let arrival = "expected seconds in 0..=315360000 (ten years)";
        let e = r[1].as_ref().unwrap_err().to_string();
        assert!(
            e.ends_with(&format!(
                "c.trace:2: error: column arrival_time_s (field 6) is `1e19`; {arrival}"
            )),
            "{e}"
        );
        let e = r[2].as_ref().unwrap_err().to_string();
        assert!(
            e.contains("c.trace:3: error: column arrival_time_s (field 6) is `inf`"),
            "{e}"
        );
        let e = r[3].as_ref().unwrap_err().to_string();
        assert!(
            e.ends_with("c.trace:4: error: column total_steps (field 5) is `1e300`; expected a whole number of steps in 1..=9007199254740992"),
            "{e}"
        );
    }

    #[test]
    fn a_negative_or_missing_throughput_names_the_table_entry() {
        let ok = write(
            "ok.json",
            r#"{"v100": {"('A', 1)": {"null": 2.0}, "('A', 2)": {"null": 0.0}}, "k80": {}}"#,
        );
        let t = Throughputs::read(&ok).unwrap();
        assert_eq!(t.workers(), ["v100"]);
        // A measured 0 (the job does not run there) is no throughput.
        assert_eq!(t.duration_s("v100", "A", 2, 10), Some((2.5, true)));
        for (name, text, found) in [
            (
                "neg.json",
                r#"{"v100": {"('A', 1)": {"null": -1.0}}}"#,
                "`-1.0`",
            ),
            (
                "str.json",
                r#"{"v100": {"('A', 1)": {"null": "fast"}}}"#,
                "`\"fast\"`",
            ),
            ("none.json", r#"{"v100": {"('A', 1)": {}}}"#, "missing"),
        ] {
            let e = Throughputs::read(&write(name, text))
                .unwrap_err()
                .to_string();
            assert!(
                e.ends_with(&format!(
                    "{name}:1: error: worker type `v100`, key `('A', 1)`: the throughput alone (field `null`) is {found}; expected steps per second >= 0 (0 for a job that does not run there)"
                )),
                "{e}"
            );
        }
    }

    #[test]
    fn throughput_keys_parse() {
        assert_eq!(
            parse_key("('ResNet-18 (batch size 16)', 1)"),
            Some(("ResNet-18 (batch size 16)".into(), 1))
        );
        assert_eq!(parse_key("nonsense"), None);
    }
}

#[cfg(test)]
mod shipped {
    //! The in-repository traces (`testdata/traces/gavel-philly-derived`),
    //! which these tests need: a missing file fails them.

    use super::*;

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/traces/gavel-philly-derived")
    }

    fn traces_in(dir: &str) -> Vec<PathBuf> {
        let dir = root().join(dir);
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        paths.sort();
        paths
    }

    #[test]
    fn every_shipped_trace_reads_and_every_job_has_a_v100_duration() {
        let tp = Throughputs::read(&root().join("simulation_throughputs.json.gz")).unwrap();
        let paths = traces_in("msr/seed=0");
        assert_eq!(paths.len(), 15, "one trace per Philly VC");
        let mut n = 0;
        let mut missing = 0;
        for p in paths {
            for j in read_jobs(&p).unwrap() {
                let j = j.unwrap();
                n += 1;
                if tp
                    .duration_s("v100", &j.job_type, j.gpus, j.total_steps)
                    .is_none()
                {
                    missing += 1;
                }
            }
        }
        assert_eq!(n, 15_264, "the README counts 15,264 jobs");
        assert_eq!(missing, 0);
    }

    #[test]
    fn every_physical_cluster_trace_reads_in_the_ten_field_layout() {
        let paths = traces_in("physical_cluster");
        assert_eq!(paths.len(), 8);
        let jobs: Vec<PhillyJob> = paths
            .iter()
            .flat_map(|p| read_jobs(p).unwrap())
            .map(Result::unwrap)
            .collect();
        assert_eq!(jobs.len(), 287, "the README counts 287 jobs");
        assert!(jobs.iter().all(|j| j.gpus >= 1 && j.total_steps >= 1));
        // Every shipped job has weight 1 and SLO -1, which must read as "none".
        assert!(
            jobs.iter()
                .all(|j| j.priority_weight == 1.0 && j.slo.is_none())
        );
    }
}
