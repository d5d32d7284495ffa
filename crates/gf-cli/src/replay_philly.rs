//! `gigafleet replay philly`: the Philly-derived job traces (Gavel, OSDI
//! 2020) replayed dynamically — arrivals, gangs, durations from the measured
//! throughput table — through the controller under its FIFO,
//! shortest-job-first and Tiresias least-attained-service queue orders,
//! reporting job completion time and queueing delay, and beside every
//! figure the jobs the cluster can never hold (left out of them).

use crate::out::outln;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use gf_control::QueueOrder;
use gf_sim::queue::{QueueCluster, QueueConfig, QueueJob, QueueReport, replay_queue};
use gf_trace::TraceError;
use gf_trace::philly::{MAX_ARRIVAL_S, Throughputs, read_jobs};
use serde_json::json;

/// The most GPUs `--gpus` may give the cluster: two thousand times Gavel's
/// 500-GPU Philly cluster, and few enough that the simulated world's
/// per-server state stays small.
const MAX_GPUS: u32 = 1_000_000;

/// The longest a job may run alone, as the throughput table makes it:
/// ten years, like the latest arrival. The shipped traces' longest is 3.1
/// years on a K80; a longer one comes from a broken step count or
/// throughput, and would never finish, dropping out of every figure.
const MAX_DURATION_S: f64 = MAX_ARRIVAL_S;

/// Arguments of `replay philly`.
#[derive(Args)]
pub struct PhillyArgs {
    /// Trace files, plain or gzip (`msr/seed=0/*.trace.gz` or `physical_cluster/*.trace.gz`); jobs of several are merged.
    #[arg(long = "trace", value_name = "PATH", required = true, num_args = 1..)]
    traces: Vec<PathBuf>,
    /// Gavel's simulation_throughputs.json, plain or gzip.
    #[arg(long, value_name = "PATH")]
    throughputs: PathBuf,
    /// Queue order: fifo, sjf, tiresias-las (Tiresias' two-queue discretised
    /// least attained service), priority, or a comma list.
    #[arg(long, value_delimiter = ',', default_value = "fifo,sjf,tiresias-las")]
    policy: Vec<String>,
    /// GPUs in the cluster, 1..=1000000 (Gavel's Philly cluster spec is 500
    /// V100); rounded up to whole servers.
    #[arg(long, default_value_t = 500)]
    gpus: u32,
    /// GPUs per server, 1..=1024 and at most --gpus.
    #[arg(long, default_value_t = 8)]
    gpus_per_server: u32,
    /// GPU type of the throughput table: v100, p100 or k80.
    #[arg(long, default_value = "v100")]
    worker: String,
    /// Seed of placement tie-breaks.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs the replay.
pub fn run(a: PhillyArgs) -> anyhow::Result<ExitCode> {
    // Trace errors already read `PATH:ROW: error: ...`: print them as they
    // are. Bad input of either kind exits 2, as a trace error always has.
    let loaded = check_flags(&a).and_then(|()| load(&a));
    match loaded {
        Ok((jobs, extrapolated)) => replay(&a, &jobs, extrapolated),
        Err(Bad::Trace(e)) => {
            eprintln!("{e}");
            Ok(ExitCode::from(2))
        }
        Err(Bad::Flag(e)) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(2))
        }
    }
}

enum Bad {
    Trace(TraceError),
    /// A flag out of its range: the message names the flag and the range.
    Flag(String),
}

/// The cluster flags, checked before anything is read: the fleet is built
/// from them, and a server of 0 GPUs or a cluster of billions is no fleet.
fn check_flags(a: &PhillyArgs) -> Result<(), Bad> {
    if !(1..=MAX_GPUS).contains(&a.gpus) {
        return Err(Bad::Flag(format!(
            "--gpus {}: expected a number of GPUs in 1..={MAX_GPUS}",
            a.gpus
        )));
    }
    let most = a.gpus.min(gf_model::MAX_DOMAIN_GPUS);
    if !(1..=most).contains(&a.gpus_per_server) {
        return Err(Bad::Flag(format!(
            "--gpus-per-server {}: expected 1..={most} (at most {} GPUs a server, and no more than --gpus {})",
            a.gpus_per_server,
            gf_model::MAX_DOMAIN_GPUS,
            a.gpus
        )));
    }
    Ok(())
}

fn load(a: &PhillyArgs) -> Result<(Vec<QueueJob>, usize), Bad> {
    let tp = Throughputs::read(&a.throughputs).map_err(Bad::Trace)?;
    // A worker the table does not name at all is a typo of the flag, not a
    // gap in the table: say so before blaming the first job.
    let workers = tp.workers();
    if !workers.contains(&a.worker.as_str()) {
        return Err(Bad::Flag(format!(
            "--worker: unknown worker `{}`; the table {} has: {}",
            a.worker,
            a.throughputs.display(),
            workers.join(", ")
        )));
    }
    let mut jobs = Vec::new();
    let mut extrapolated = 0usize;
    for path in &a.traces {
        let before = jobs.len();
        for j in read_jobs(path).map_err(Bad::Trace)? {
            let j = j.map_err(Bad::Trace)?;
            let Some((d, extra)) = tp.duration_s(&a.worker, &j.job_type, j.gpus, j.total_steps)
            else {
                return Err(Bad::Trace(TraceError::Row {
                    path: path.clone(),
                    row: j.row,
                    message: format!(
                        "column job_type: no throughput for `{}` on {} at any gang size up to {}; the table in {} has no figure above 0 for it \
                         (expected a job type the table measures on {}, or another --worker)",
                        j.job_type,
                        a.worker,
                        j.gpus,
                        a.throughputs.display(),
                        a.worker
                    ),
                }));
            };
            if d > MAX_DURATION_S {
                let how = if extra {
                    "scaled from a smaller gang's entry"
                } else {
                    "the entry for this gang"
                };
                return Err(Bad::Trace(TraceError::Row {
                    path: path.clone(),
                    row: j.row,
                    message: format!(
                        "`{}` ({} steps on a {}-GPU gang) would run {d:.3e} s alone at {:.3e} steps/s on {} \
                         ({how} in {}); expected at most {MAX_DURATION_S} s (ten years): check column total_steps and that table entry",
                        j.job_type,
                        j.total_steps,
                        j.gpus,
                        j.total_steps as f64 / d,
                        a.worker,
                        a.throughputs.display()
                    ),
                }));
            }
            extrapolated += extra as usize;
            jobs.push(QueueJob {
                arrival_s: j.arrival_s,
                gpus: j.gpus,
                duration_s: d,
            });
        }
        // An empty file is a wrong path or a truncated copy, not a trace: a
        // replay of nothing would print a table of zeros and exit 0.
        if jobs.len() == before {
            return Err(Bad::Trace(TraceError::File {
                path: path.clone(),
                message:
                    "the trace has no jobs; expected one tab-separated row per job (7 or 10 fields)"
                        .into(),
            }));
        }
    }
    Ok((jobs, extrapolated))
}

fn replay(a: &PhillyArgs, jobs: &[QueueJob], extrapolated: usize) -> anyhow::Result<ExitCode> {
    let cluster = QueueCluster {
        gpus: a.gpus,
        gpus_per_server: a.gpus_per_server,
    };
    let mut out = Vec::new();
    for name in &a.policy {
        let p = QueueOrder::named(name).with_context(|| {
            let hint = if name == "las" {
                " (`las` is ambiguous: Tiresias' discretised LAS is `tiresias-las`; Gavel's \"LAS\", max-min fair time-sharing, is not implemented)"
            } else {
                ""
            };
            format!(
                "unknown queue policy `{name}`{hint}; expected one of: {}",
                QueueOrder::NAMES.join(", ")
            )
        })?;
        let r = replay_queue(jobs, &QueueConfig::new(p.clone(), cluster, a.seed))?;
        out.push((p, r));
    }
    if a.json {
        let v: Vec<serde_json::Value> = out
            .iter()
            .map(|(p, r)| report_json(p, r, extrapolated))
            .collect();
        outln!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        // The fleet holds whole servers, so --gpus is rounded up to a
        // multiple of --gpus-per-server (the default 500 at 8 a server is
        // 504): say so, since utilization is measured against what is built.
        let servers = a.gpus.div_ceil(a.gpus_per_server);
        let built = u64::from(servers) * u64::from(a.gpus_per_server);
        let cluster = if built == u64::from(a.gpus) {
            format!("{built} GPUs ({} per server)", a.gpus_per_server)
        } else {
            format!(
                "{built} GPUs ({servers} servers of {}; --gpus {} rounded up to whole servers)",
                a.gpus_per_server, a.gpus
            )
        };
        outln!(
            "{} jobs from {} trace file(s) on {cluster}; {} durations extrapolated beyond the measured gang sizes",
            jobs.len(),
            a.traces.len(),
            extrapolated
        );
        outln!(
            "| policy | completed | never fit | avg JCT h | p99 JCT h | avg queue h | p99 queue h | makespan d | utilization | preemptions |"
        );
        outln!("|---|---|---|---|---|---|---|---|---|---|");
        for (p, r) in &out {
            outln!(
                "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {:.1}% | {} |",
                p.as_str(),
                r.completed,
                r.never_fit,
                r.avg_jct_s / 3600.0,
                r.p99_jct_s / 3600.0,
                r.avg_queue_s / 3600.0,
                r.p99_queue_s / 3600.0,
                r.makespan_s / 86_400.0,
                r.utilization * 100.0,
                r.preemptions
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn report_json(p: &QueueOrder, r: &QueueReport, extrapolated: usize) -> serde_json::Value {
    json!({
        "policy": p.as_str(),
        "jobs": r.jobs,
        "completed": r.completed,
        "never_fit": r.never_fit,
        "avg_jct_s": r.avg_jct_s,
        "p99_jct_s": r.p99_jct_s,
        "avg_queue_s": r.avg_queue_s,
        "p99_queue_s": r.p99_queue_s,
        "makespan_s": r.makespan_s,
        "utilization": r.utilization,
        "preemptions": r.preemptions,
        "durations_extrapolated": extrapolated,
    })
}
