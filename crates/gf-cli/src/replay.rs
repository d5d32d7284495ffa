//! `gigafleet replay`: run a placement policy over a public cluster trace.
//!
//! `replay openb` reproduces the FGD paper's experiment on the Alibaba openb
//! trace: static packing of a shuffled, tuned pod list, reporting the GPU
//! allocation ratio at each percent of arrived demand. `--sweep` runs many
//! policies x seeds x pod lists and writes one CSV in the layout of the
//! published `analysis_allo_discrete.csv`, so the two can be diffed.
//! Reading is gf-trace's job, deciding gf-sched's and the experiment
//! protocol gf-sim's (`gf_sim::openb`); this module only wires them together
//! and prints.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use gf_sched::share::{ModelId, ModelTable, NodeSpec, PodSpec, Policy};
use gf_sim::openb::{
    CURVE_POINTS, DEFAULT_TUNE, PUBLISHED_SEEDS, ReplayConfig, ReplayResult, replay,
};
use gf_trace::TraceError;
use gf_trace::openb;

/// The largest `--tune`: ten times the cluster's GPUs. The paper tunes to
/// 1.3; a larger ratio only appends more draws of the same pods, and memory
/// grows with it.
const MAX_TUNE: f64 = 10.0;

/// The most seeds one `--seed` may name, ranges expanded: a thousand times
/// a published sweep's ten, and a bound on the results a sweep holds.
const MAX_SEEDS: u64 = 100_000;

/// The most runs (pod lists x policies x seeds) one sweep may hold: each
/// keeps its curves (a few KiB) until the CSV is written.
const MAX_SWEEP_RUNS: usize = 100_000;

/// The most pods a tuned workload may hold. The published runs hold about
/// 11,000; tuning appends draws until the demand target is met, so a list
/// of tiny GPU requests on a large cluster would otherwise grow without
/// limit.
const MAX_TUNED_PODS: f64 = 2_000_000.0;

/// Replay a public trace through the scheduler.
#[derive(Args)]
pub struct ReplayArgs {
    #[command(subcommand)]
    trace: Trace,
}

#[derive(Subcommand)]
enum Trace {
    /// The Alibaba GPU trace v2023 ("openb"), as in the FGD paper (ATC 2023).
    Openb(OpenbArgs),
    /// Gavel's Philly-derived job traces, replayed dynamically under FIFO, SJF and LAS.
    Philly(crate::replay_philly::PhillyArgs),
}

#[derive(Args)]
struct OpenbArgs {
    /// Node list CSV, plain or gzip (sn, cpu_milli, memory_mib, gpu, model).
    #[arg(long, value_name = "PATH")]
    nodes: PathBuf,
    /// Pod list CSV, plain or gzip; repeat (or separate with commas) to sweep several.
    #[arg(long, value_name = "PATH", required = true, value_delimiter = ',')]
    pods: Vec<PathBuf>,
    /// Policy: random, dotprod, gpuclustering, gpupacking, bestfit, fgd;
    /// a comma list or "all" with --sweep.
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    policy: Vec<String>,
    /// Seed; with --sweep a comma list and A..B ranges (default 42..51).
    #[arg(long, value_name = "N", value_delimiter = ',')]
    seed: Vec<String>,
    /// Arrived GPU demand to reach, as a multiple of cluster GPU capacity,
    /// in (0, 10].
    #[arg(long, default_value_t = DEFAULT_TUNE, allow_negative_numbers = true)]
    tune: f64,
    /// Print one run as JSON.
    #[arg(long, conflicts_with = "sweep")]
    json: bool,
    /// Run every policy x seed x pod list and write the allocation curves
    /// as CSV in the layout of the published analysis_allo_discrete.csv.
    #[arg(long)]
    sweep: bool,
    /// Where --sweep writes its CSV (default: standard output).
    #[arg(long, value_name = "PATH", requires = "sweep")]
    out: Option<PathBuf>,
    /// Where --sweep writes the fragmentation curves (layout of the
    /// published analysis_frag_discrete.csv).
    #[arg(long, value_name = "PATH", requires = "sweep")]
    frag_out: Option<PathBuf>,
    /// Worker threads for --sweep (default: available cores).
    #[arg(long, value_name = "N", requires = "sweep")]
    jobs: Option<usize>,
}

/// Run `gigafleet replay`.
pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let result = match args.trace {
        Trace::Openb(a) => openb_cmd(a),
        Trace::Philly(a) => crate::replay_philly::run(a),
    };
    match result {
        // A trace error already reads `PATH:ROW: error: MESSAGE`; print it as is
        // rather than under a second "error:" prefix.
        Err(e) if e.downcast_ref::<TraceError>().is_some() => {
            eprintln!("{e}");
            Ok(ExitCode::from(1))
        }
        other => other,
    }
}

fn openb_cmd(a: OpenbArgs) -> anyhow::Result<ExitCode> {
    let policies = parse_policies(&a.policy, a.sweep)?;
    let seeds = parse_seeds(&a.seed, a.sweep)?;
    // Written so that NaN fails it too.
    if !(a.tune > 0.0 && a.tune <= MAX_TUNE) {
        bail!(
            "--tune {:?}: expected a multiple of the cluster's GPU capacity in (0, {MAX_TUNE}] (the paper uses {DEFAULT_TUNE})",
            a.tune
        );
    }
    let mut models = ModelTable::new();
    let nodes = load_nodes(&a.nodes, &mut models)?;
    let cluster = Cluster {
        path: &a.nodes,
        nodes: &nodes,
        models: &models,
    };
    if a.sweep {
        return sweep(&a, &cluster, &policies, &seeds);
    }
    if a.pods.len() != 1 || policies.len() != 1 || seeds.len() != 1 {
        bail!("a single run takes one --pods, one --policy and one --seed; use --sweep for more");
    }
    let pods = load_pods(&a.pods[0], &cluster, a.tune)?;
    let config = ReplayConfig {
        tune: a.tune,
        ..ReplayConfig::new(policies[0], seeds[0])
    };
    let started = Instant::now();
    let result = replay(&nodes, &pods, &config);
    let elapsed = started.elapsed();
    let workload = workload_name(&a.pods[0]);
    let text = if a.json {
        serde_json::to_string_pretty(&to_json(&workload, &result))? + "\n"
    } else {
        human(&workload, &result, elapsed.as_secs_f64())
    };
    emit(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// Write to standard output; a closed pipe (`| head`) is not an error.
fn emit(text: &str) -> anyhow::Result<()> {
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn parse_policies(names: &[String], sweep: bool) -> anyhow::Result<Vec<Policy>> {
    if names.is_empty() || names.iter().any(|n| n == "all") {
        if sweep || names.iter().any(|n| n == "all") {
            return Ok(Policy::ALL.to_vec());
        }
        bail!(
            "name a policy with --policy (one of random, dotprod, gpuclustering, gpupacking, bestfit, fgd)"
        );
    }
    let mut out = Vec::new();
    for n in names {
        let p: Policy = n.parse()?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

fn parse_seeds(texts: &[String], sweep: bool) -> anyhow::Result<Vec<u64>> {
    if texts.is_empty() {
        if sweep {
            return Ok(PUBLISHED_SEEDS.collect());
        }
        bail!("give a seed with --seed (the published runs use 42..51)");
    }
    let mut out = Vec::new();
    for t in texts {
        let t = t.trim();
        let too_many = || {
            anyhow::anyhow!(
                "--seed {t}: more than {MAX_SEEDS} seeds in all; expected at most {MAX_SEEDS} (the published runs use 42..51)"
            )
        };
        let bad =
            || anyhow::anyhow!("--seed: expected a whole number or a range A..B, found '{t}'");
        if let Some((a, b)) = t.split_once("..") {
            let a: u64 = a.trim().parse().map_err(|_| bad())?;
            let b: u64 = b
                .trim_start_matches('=')
                .trim()
                .parse()
                .map_err(|_| bad())?;
            if a > b {
                return Err(bad());
            }
            // Counted before it is expanded: `0..u64::MAX` must not allocate.
            if (b - a) as u128 + 1 + out.len() as u128 > u128::from(MAX_SEEDS) {
                return Err(too_many());
            }
            out.extend(a..=b);
        } else {
            if out.len() as u64 >= MAX_SEEDS {
                return Err(too_many());
            }
            out.push(t.parse().map_err(|_| bad())?);
        }
    }
    Ok(out)
}

/// The cluster of a replay: its node list, and the names its pods may ask
/// for, to check pod lists against.
struct Cluster<'a> {
    path: &'a Path,
    nodes: &'a [NodeSpec],
    models: &'a ModelTable,
}

impl Cluster<'_> {
    fn gpu_milli(&self) -> u64 {
        self.nodes.iter().map(NodeSpec::gpu_milli).sum()
    }

    /// The GPU models of the nodes (those a pod can ask for), sorted, for
    /// messages.
    fn model_names(&self) -> String {
        let mut names: Vec<&str> = (0..self.models.len())
            .map(|i| self.models.name(ModelId(i as u8)))
            .collect();
        names.sort_unstable();
        names.join(", ")
    }
}

/// The nodes of the list at `path`; their GPU models go into `models`.
fn load_nodes(path: &Path, models: &mut ModelTable) -> anyhow::Result<Vec<NodeSpec>> {
    let mut nodes = Vec::new();
    for n in openb::open_nodes(path)? {
        let n = n?;
        let spec = NodeSpec::named(models, n.cpu_milli, n.memory_mib, n.gpu, n.model.as_deref())
            .map_err(|e| row_error(path, n.row, &e))?;
        nodes.push(spec);
    }
    if nodes.is_empty() {
        return Err(file_error(
            path,
            "the node list has no nodes; expected a header line, then one row per node (sn, cpu_milli, memory_mib, gpu, model)",
        ));
    }
    // The replay measures GPU allocation against the cluster's GPUs, and
    // tunes the workload to a multiple of them: with none, every figure is
    // 0 of 0 and the run says nothing.
    if nodes.iter().all(|n| n.gpus == 0) {
        return Err(file_error(
            path,
            "the node list has no GPU: every node has gpu 0; expected at least one node with gpu 1 or more and its model",
        ));
    }
    Ok(nodes)
}

fn load_pods(path: &Path, cluster: &Cluster, tune: f64) -> anyhow::Result<Vec<PodSpec>> {
    let mut pods: Vec<openb::OpenbPod> = openb::read_pods(path)?;
    // The reference orders pods by name before it shuffles them; the order
    // decides which pod each shuffled position holds.
    pods.sort_by(|a, b| a.name.cmp(&b.name));
    let mut specs = Vec::with_capacity(pods.len());
    for p in &pods {
        // A pod that names only models the cluster lacks fits nowhere, and
        // every failure would be counted as a packing failure of the policy:
        // a list meant for another cluster, not a result.
        if !p.gpu_spec.is_empty()
            && p.gpu_spec
                .iter()
                .all(|m| cluster.models.get(m.trim()).is_none())
        {
            return Err(row_error(
                path,
                p.row,
                &format_args!(
                    "column 'gpu_spec': no node of {} has model {}; expected an empty field (any model) or one or more of {}",
                    cluster.path.display(),
                    p.gpu_spec.join("|"),
                    cluster.model_names()
                ),
            )
            .into());
        }
        let spec = PodSpec::named(
            cluster.models,
            p.cpu_milli,
            p.memory_mib,
            p.num_gpu,
            p.gpu_milli,
            p.gpu_spec.iter().map(String::as_str),
        )
        .map_err(|e| row_error(path, p.row, &e))?;
        specs.push(spec);
    }
    if specs.is_empty() {
        return Err(file_error(
            path,
            "the pod list has no pods; expected a header line, then one row per pod (name, cpu_milli, memory_mib, num_gpu, gpu_milli, ...)",
        ));
    }
    // Tuning appends pods until the arrived GPU demand reaches `tune` x the
    // cluster's GPUs: with no GPU asked it would never get there.
    let demand: u64 = specs.iter().map(PodSpec::total_gpu_milli).sum();
    if demand == 0 {
        return Err(file_error(
            path,
            "the pod list asks for no GPU (every pod has num_gpu 0); expected at least one pod with num_gpu 1 or more",
        ));
    }
    // The tuned list holds about this many pods when it grows (drawn with
    // replacement, so the mean demand per pod stays the list's).
    let tuned = specs.len() as f64 * tune * cluster.gpu_milli() as f64 / demand as f64;
    if tuned > MAX_TUNED_PODS {
        return Err(file_error(
            path,
            &format!(
                "tuned to {tune} x the {} GPUs of {}, the pod list would grow to about {tuned:.0} pods, \
                 more than the {MAX_TUNED_PODS} a run holds; expected a lower --tune or pods asking for more GPU",
                cluster.gpu_milli() / 1000,
                cluster.path.display()
            ),
        ));
    }
    Ok(specs)
}

fn file_error(path: &Path, message: &str) -> anyhow::Error {
    TraceError::File {
        path: path.to_owned(),
        message: message.to_owned(),
    }
    .into()
}

fn row_error(path: &Path, row: u64, e: &dyn std::fmt::Display) -> TraceError {
    TraceError::Row {
        path: path.to_owned(),
        row,
        message: e.to_string(),
    }
}

/// The published files name a workload by its pod list's file name without
/// `.csv`, and a compressed list keeps that name: `openb_pod_list_default`
/// for both `openb_pod_list_default.csv` and `openb_pod_list_default.csv.gz`.
fn workload_name(path: &Path) -> String {
    let Some(name) = path.file_name() else {
        return path.display().to_string();
    };
    let name = name.to_string_lossy();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    name.strip_suffix(".csv").unwrap_or(name).to_owned()
}

fn to_json(workload: &str, r: &ReplayResult) -> serde_json::Value {
    serde_json::json!({
        "trace": "openb",
        "workload": workload,
        "policy": r.config.policy.name(),
        "seed": r.config.seed,
        "tune": r.config.tune,
        "total_gpus": r.total_gpus,
        "pods_arrived": r.pods_arrived,
        "pods_failed": r.pods_failed,
        "gpu_pods_failed": r.gpu_pods_failed,
        "arrived_gpu_milli": r.arrived_gpu_milli,
        "allocated_gpu_milli": r.allocated_gpu_milli,
        "allocation_ratio_at_130": r.allocation_ratio_at_130(),
        "frag_gpu_milli": r.frag_gpu_milli,
        "frag_pct_at_130": r.frag_curve.get(130).copied().flatten(),
        "curve": r.curve,
        "frag_curve": r.frag_curve,
        "frag_ratio_curve": r.frag_ratio_curve,
    })
}

fn human(workload: &str, r: &ReplayResult, secs: f64) -> String {
    let mut s = String::new();
    let pct = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}%"));
    let _ = writeln!(
        s,
        "openb {workload}: policy {} seed {} tune {}",
        r.config.policy, r.config.seed, r.config.tune
    );
    let _ = writeln!(
        s,
        "  {} pods arrived ({:.1} GPUs asked), {} failed ({} of them GPU pods)",
        r.pods_arrived,
        r.arrived_gpu_milli as f64 / 1000.0,
        r.pods_failed,
        r.gpu_pods_failed
    );
    let _ = writeln!(
        s,
        "  allocated {:.1} of {} GPUs; allocation ratio at 130% demand: {}",
        r.allocated_gpu_milli as f64 / 1000.0,
        r.total_gpus,
        pct(r.allocation_ratio_at_130())
    );
    let _ = writeln!(
        s,
        "  fragmented at the end: {:.1} GPUs ({} of the cluster)",
        r.frag_gpu_milli / 1000.0,
        pct(r.frag_curve.get(130).copied().flatten())
    );
    let _ = writeln!(s, "  arrived%  allocated%  fragmented%");
    for k in (0..CURVE_POINTS).step_by(10) {
        let _ = writeln!(
            s,
            "  {k:>8}  {:>10}  {:>11}",
            pct(r.curve[k]),
            pct(r.frag_curve[k])
        );
    }
    let _ = writeln!(s, "  replay took {:.1} ms", secs * 1000.0);
    s
}

struct Job {
    workload: usize,
    policy: Policy,
    seed: u64,
}

fn sweep(
    a: &OpenbArgs,
    cluster: &Cluster,
    policies: &[Policy],
    seeds: &[u64],
) -> anyhow::Result<ExitCode> {
    let runs = a.pods.len() * policies.len() * seeds.len();
    if runs > MAX_SWEEP_RUNS {
        bail!(
            "--sweep: {} pod lists x {} policies x {} seeds is {runs} runs; expected at most {MAX_SWEEP_RUNS} (fewer --seed, --policy or --pods)",
            a.pods.len(),
            policies.len(),
            seeds.len()
        );
    }
    let nodes = cluster.nodes;
    let mut workloads = Vec::new();
    for p in &a.pods {
        workloads.push((workload_name(p), load_pods(p, cluster, a.tune)?));
    }
    // The published file's order: workload, then policy, then seed.
    let mut jobs = Vec::new();
    for w in 0..workloads.len() {
        for &policy in policies {
            for &seed in seeds {
                jobs.push(Job {
                    workload: w,
                    policy,
                    seed,
                });
            }
        }
    }
    let threads = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1);
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let mut results: Vec<Option<ReplayResult>> = vec![None; jobs.len()];
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(job) = jobs.get(i) else { break };
                        let config = ReplayConfig {
                            tune: a.tune,
                            ..ReplayConfig::new(job.policy, job.seed)
                        };
                        done.push((i, replay(nodes, &workloads[job.workload].1, &config)));
                    }
                    done
                })
            })
            .collect();
        for h in handles {
            // A worker only panics on a bug; surface it as one.
            for (i, r) in h.join().unwrap_or_default() {
                results[i] = Some(r);
            }
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let results: Vec<ReplayResult> = results.into_iter().flatten().collect();
    if results.len() != jobs.len() {
        bail!(
            "a sweep worker failed; {} of {} runs finished",
            results.len(),
            jobs.len()
        );
    }

    let alloc = curves_csv(&jobs, &results, &workloads, true, |r| &r.curve);
    let frag = curves_csv(&jobs, &results, &workloads, false, |r| &r.frag_curve);
    match &a.out {
        Some(path) => std::fs::write(path, alloc)
            .with_context(|| format!("{}: error: cannot write", path.display()))?,
        None => emit(&alloc)?,
    }
    if let Some(path) = &a.frag_out {
        std::fs::write(path, frag)
            .with_context(|| format!("{}: error: cannot write", path.display()))?;
    }
    eprintln!(
        "swept {} runs ({} pod lists x {} policies x {} seeds) in {:.2} s on {} threads",
        jobs.len(),
        workloads.len(),
        policies.len(),
        seeds.len(),
        elapsed,
        threads
    );
    Ok(ExitCode::SUCCESS)
}

fn curves_csv(
    jobs: &[Job],
    results: &[ReplayResult],
    workloads: &[(String, Vec<PodSpec>)],
    with_total: bool,
    curve: impl Fn(&ReplayResult) -> &Vec<Option<f64>>,
) -> String {
    let mut s = String::from("workload,sc_policy,tune,seed");
    if with_total {
        s.push_str(",total_gpus");
    }
    for k in 0..CURVE_POINTS {
        let _ = write!(s, ",{k}");
    }
    s.push('\n');
    for (job, r) in jobs.iter().zip(results) {
        let _ = write!(
            s,
            "{},{},{},{}",
            workloads[job.workload].0,
            job.policy.published_label(),
            py_float(r.config.tune),
            job.seed
        );
        if with_total {
            let _ = write!(s, ",{}", r.total_gpus);
        }
        for v in curve(r) {
            s.push(',');
            if let Some(v) = v {
                s.push_str(&py_float(*v));
            }
        }
        s.push('\n');
    }
    s
}

/// Floats as Python prints them (`2.0`, `18.01`), so the CSV diffs cleanly
/// against the published one.
fn py_float(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_accept_lists_and_ranges() {
        let s =
            |v: &[&str]| parse_seeds(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>(), true);
        assert_eq!(s(&["42..44", "7"]).unwrap(), vec![42, 43, 44, 7]);
        assert_eq!(s(&[]).unwrap(), PUBLISHED_SEEDS.collect::<Vec<_>>());
        assert_eq!(
            s(&["x"]).unwrap_err().to_string(),
            "--seed: expected a whole number or a range A..B, found 'x'"
        );
    }

    #[test]
    fn a_compressed_pod_list_keeps_the_published_workload_name() {
        for p in [
            "t/openb_pod_list_default.csv",
            "t/openb_pod_list_default.csv.gz",
            "openb_pod_list_default",
        ] {
            assert_eq!(workload_name(Path::new(p)), "openb_pod_list_default", "{p}");
        }
    }

    #[test]
    fn floats_print_like_python() {
        assert_eq!(py_float(2.0), "2.0");
        assert_eq!(py_float(18.01), "18.01");
        assert_eq!(py_float(1.3), "1.3");
    }
}
