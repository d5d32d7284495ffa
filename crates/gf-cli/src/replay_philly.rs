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
use gf_trace::philly::{Throughputs, read_jobs};
use serde_json::json;

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
    /// GPUs in the cluster (Gavel's Philly cluster spec is 500 V100).
    #[arg(long, default_value_t = 500)]
    gpus: u32,
    /// GPUs per server.
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
    // Trace errors already read `PATH:ROW: error: ...`: print them as they are.
    match load(&a) {
        Ok((jobs, extrapolated)) => replay(&a, &jobs, extrapolated),
        Err(Bad::Trace(e)) => {
            eprintln!("{e}");
            Ok(ExitCode::from(2))
        }
        Err(Bad::Other(e)) => Err(e),
    }
}

enum Bad {
    Trace(gf_trace::TraceError),
    Other(anyhow::Error),
}

fn load(a: &PhillyArgs) -> Result<(Vec<QueueJob>, usize), Bad> {
    let tp = Throughputs::read(&a.throughputs).map_err(Bad::Trace)?;
    let mut jobs = Vec::new();
    let mut extrapolated = 0usize;
    for path in &a.traces {
        for j in read_jobs(path).map_err(Bad::Trace)? {
            let j = j.map_err(Bad::Trace)?;
            let Some((d, extra)) = tp.duration_s(&a.worker, &j.job_type, j.gpus, j.total_steps)
            else {
                return Err(Bad::Other(anyhow::anyhow!(
                    "{}: no throughput for `{}` on {} at any gang size; the table in {} lacks it",
                    path.display(),
                    j.job_type,
                    a.worker,
                    a.throughputs.display()
                )));
            };
            extrapolated += extra as usize;
            jobs.push(QueueJob {
                arrival_s: j.arrival_s,
                gpus: j.gpus,
                duration_s: d,
            });
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
        outln!(
            "{} jobs from {} trace file(s) on {} GPUs ({} per server); {} durations extrapolated beyond the measured gang sizes",
            jobs.len(),
            a.traces.len(),
            a.gpus,
            a.gpus_per_server,
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
