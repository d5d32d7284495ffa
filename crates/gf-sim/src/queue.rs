//! Queue-policy replay: job arrivals, gang sizes and durations from a trace
//! run through the production placement engine on one cluster, under the
//! classic queueing policies a trace study compares — FIFO, shortest job
//! first, and least attained service (Tiresias-style, preemptive).
//!
//! This is the dynamic half of `gigafleet replay`: where the openb replay
//! packs pods that never leave, here jobs arrive, wait, run, are preempted
//! and finish, and the measures are job completion time and queueing delay.
//! Placement goes through gf-sched (the same capacity index and gang packing
//! as everywhere); the queue policy decides the order in which work asks.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;

use gf_model::{
    Accelerator, ClusterSpec, Document, Locs, PriceModel, PriceSpec, ProviderSpec, RegionSpec,
    Vendor,
};
use gf_sched::{AllocId, Policy, Request, Scheduler, Topology, WorkKind};

/// The order in which waiting work is offered capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueuePolicy {
    /// First come, first served, strictly: the head of the queue blocks the rest.
    Fifo,
    /// Shortest job first (by its duration alone, known from the trace),
    /// non-preemptive; a job that does not fit lets the next one try.
    Sjf,
    /// Least attained service, discretized into queues by GPU-seconds served
    /// (Tiresias, NSDI 2019): preemptive, no knowledge of durations.
    Las,
}

impl QueuePolicy {
    /// Names accepted on the command line.
    pub const NAMES: [&'static str; 3] = ["fifo", "sjf", "las"];

    /// The policy of that name.
    pub fn named(s: &str) -> Option<Self> {
        match s {
            "fifo" => Some(QueuePolicy::Fifo),
            "sjf" => Some(QueuePolicy::Sjf),
            "las" => Some(QueuePolicy::Las),
            _ => None,
        }
    }

    /// The name.
    pub fn as_str(self) -> &'static str {
        match self {
            QueuePolicy::Fifo => "fifo",
            QueuePolicy::Sjf => "sjf",
            QueuePolicy::Las => "las",
        }
    }
}

/// One job of a queue replay.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueJob {
    /// Arrival, seconds from the trace start.
    pub arrival_s: f64,
    /// Gang size.
    pub gpus: u32,
    /// Run time when running without interruption, seconds.
    pub duration_s: f64,
}

/// The cluster a queue replay runs on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueCluster {
    /// GPUs in all.
    pub gpus: u32,
    /// GPUs per server (NVLink domain).
    pub gpus_per_server: u32,
}

/// Settings of a queue replay.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueConfig {
    /// The queue policy.
    pub policy: QueuePolicy,
    /// The cluster.
    pub cluster: QueueCluster,
    /// LAS queue thresholds, GPU-seconds of attained service (ascending).
    pub las_thresholds: Vec<f64>,
    /// Seconds a preempted job loses when it resumes (checkpoint restore).
    pub restart_cost_s: f64,
    /// Seed of the placement tie-breaks.
    pub seed: u64,
}

impl QueueConfig {
    /// Defaults: Tiresias's two-queue split at one GPU-hour, one minute to resume.
    pub fn new(policy: QueuePolicy, cluster: QueueCluster, seed: u64) -> Self {
        QueueConfig {
            policy,
            cluster,
            las_thresholds: vec![3_600.0],
            restart_cost_s: 60.0,
            seed,
        }
    }
}

/// What a queue replay measured.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueReport {
    /// Jobs in the input.
    pub jobs: usize,
    /// Jobs that finished.
    pub completed: usize,
    /// Jobs that can never run (larger than the cluster).
    pub rejected: usize,
    /// Mean job completion time (finish − arrival), seconds.
    pub avg_jct_s: f64,
    /// 99th percentile job completion time, seconds.
    pub p99_jct_s: f64,
    /// Mean queueing delay: time a job was not running (completion time
    /// minus its run time alone; for non-preemptive policies, first start
    /// minus arrival), seconds.
    pub avg_queue_s: f64,
    /// 99th percentile queueing delay, seconds.
    pub p99_queue_s: f64,
    /// Last finish, seconds from the trace start.
    pub makespan_s: f64,
    /// Preemptions (LAS only).
    pub preemptions: u64,
    /// GPU-seconds allocated ÷ (GPUs × makespan).
    pub utilization: f64,
}

#[derive(Debug, Clone)]
struct JobState {
    remaining_s: f64,
    attained_gpu_s: f64,
    first_start: Option<f64>,
    run_since: f64,
    alloc: Option<AllocId>,
    finished: Option<f64>,
    generation: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Ev {
    t: f64,
    kind: u8, // 0 = finish, 1 = arrival, 2 = LAS threshold crossing
    job: usize,
    generation: u32,
}

impl Eq for Ev {}
impl Ord for Ev {
    fn cmp(&self, o: &Self) -> Ordering {
        // A min-heap on (time, kind, job): finishes free capacity before arrivals ask.
        o.t.total_cmp(&self.t)
            .then(o.kind.cmp(&self.kind))
            .then(o.job.cmp(&self.job))
    }
}
impl PartialOrd for Ev {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// The one-cluster fleet a queue replay places on.
fn fleet(c: QueueCluster) -> Document {
    let servers = c.gpus.div_ceil(c.gpus_per_server.max(1));
    Document {
        version: 1,
        accelerators: vec![Accelerator {
            name: "trace-gpu".into(),
            vendor: Vendor::Nvidia,
            hbm_gib: 16.0,
            train_throughput: 1.0,
            infer_throughput: 1.0,
            power_kw: 0.5,
            domain_gpus: c.gpus_per_server,
        }],
        providers: vec![ProviderSpec {
            name: "trace".into(),
            regions: vec![RegionSpec {
                name: "site".into(),
                power_mw: 1e6,
                zone: "trace".into(),
                clusters: vec![ClusterSpec {
                    name: "cluster".into(),
                    accelerator: "trace-gpu".into(),
                    domain_gpus: Some(c.gpus_per_server),
                    domains: servers,
                    domains_per_block: None,
                    cpu_milli_per_domain: None,
                    memory_mib_per_domain: None,
                    ramp: Vec::new(),
                    price: PriceSpec {
                        model: PriceModel::Reserved,
                        usd_per_gpu_hour: 0.0,
                        interruption_rate_per_hour: 0.0,
                        contract: None,
                    },
                    locs: Locs::default(),
                }],
                locs: Locs::default(),
            }],
            locs: Locs::default(),
        }],
        ..Document::default()
    }
}

/// Replays `jobs` under `cfg`; deterministic for a given input and seed.
pub fn replay_queue(jobs: &[QueueJob], cfg: &QueueConfig) -> QueueReport {
    let topo = Arc::new(Topology::from_document(&fleet(cfg.cluster)));
    let mut sched = Scheduler::new(
        Arc::clone(&topo),
        Policy::named("best-fit").unwrap_or_default(),
        cfg.seed,
    );
    let capacity = topo.total_gpus();
    let accel = topo.accel("trace-gpu").unwrap_or(0);
    let mut st: Vec<JobState> = jobs
        .iter()
        .map(|j| JobState {
            remaining_s: j.duration_s.max(0.0),
            attained_gpu_s: 0.0,
            first_start: None,
            run_since: 0.0,
            alloc: None,
            finished: None,
            generation: 0,
        })
        .collect();
    let mut heap = BinaryHeap::new();
    let mut rejected = 0;
    for (i, j) in jobs.iter().enumerate() {
        if j.gpus as u64 > capacity || j.gpus == 0 {
            rejected += 1;
            continue;
        }
        heap.push(Ev {
            t: j.arrival_s,
            kind: 1,
            job: i,
            generation: 0,
        });
    }
    let request = |i: usize| Request {
        id: i as u64,
        kind: WorkKind::Training,
        team: None,
        priority: 0,
        gpus: jobs[i].gpus,
        accels: vec![accel],
        sites: None,
        spot_ok: true,
        preemptible: true,
        checkpoint_interval_s: 0,
        gpu_milli: 1000,
        cpu_milli_per_gpu: 0,
        memory_mib_per_gpu: 0,
    };
    let mut waiting: Vec<usize> = Vec::new();
    let mut running: Vec<usize> = Vec::new();
    let mut preemptions = 0u64;
    let mut busy_gpu_s = 0.0;
    let level = |attained: f64| {
        cfg.las_thresholds
            .iter()
            .filter(|&&t| attained >= t)
            .count()
    };
    while let Some(ev) = heap.pop() {
        let now = ev.t;
        match ev.kind {
            0 => {
                if st[ev.job].generation != ev.generation || st[ev.job].alloc.is_none() {
                    continue;
                }
                let s = &mut st[ev.job];
                let ran = now - s.run_since;
                s.attained_gpu_s += ran * jobs[ev.job].gpus as f64;
                busy_gpu_s += ran * jobs[ev.job].gpus as f64;
                s.remaining_s = 0.0;
                s.finished = Some(now);
                if let Some(a) = s.alloc.take() {
                    let _ = sched.release(a);
                }
                running.retain(|&r| r != ev.job);
            }
            1 => waiting.push(ev.job),
            _ => {
                if st[ev.job].generation != ev.generation {
                    continue;
                }
            }
        }
        // Bring the running jobs' accounting up to now before re-ordering.
        for &r in &running {
            let s = &mut st[r];
            let ran = now - s.run_since;
            s.attained_gpu_s += ran * jobs[r].gpus as f64;
            s.remaining_s -= ran;
            busy_gpu_s += ran * jobs[r].gpus as f64;
            s.run_since = now;
        }
        // Who asks, in order.
        let mut order: Vec<usize> = match cfg.policy {
            QueuePolicy::Fifo | QueuePolicy::Sjf => waiting.clone(),
            QueuePolicy::Las => waiting.iter().chain(running.iter()).copied().collect(),
        };
        match cfg.policy {
            QueuePolicy::Fifo => order.sort_by(|&a, &b| {
                jobs[a]
                    .arrival_s
                    .total_cmp(&jobs[b].arrival_s)
                    .then(a.cmp(&b))
            }),
            QueuePolicy::Sjf => order.sort_by(|&a, &b| {
                jobs[a]
                    .duration_s
                    .total_cmp(&jobs[b].duration_s)
                    .then(a.cmp(&b))
            }),
            QueuePolicy::Las => order.sort_by(|&a, &b| {
                level(st[a].attained_gpu_s)
                    .cmp(&level(st[b].attained_gpu_s))
                    .then(jobs[a].arrival_s.total_cmp(&jobs[b].arrival_s))
                    .then(a.cmp(&b))
            }),
        }
        if cfg.policy == QueuePolicy::Las {
            // The set that should run: the longest prefix-greedy selection by
            // GPU count; running jobs outside it are preempted.
            let mut budget = capacity;
            let mut keep = vec![false; jobs.len()];
            for &j in &order {
                if jobs[j].gpus as u64 <= budget {
                    budget -= jobs[j].gpus as u64;
                    keep[j] = true;
                }
            }
            for &r in running.clone().iter().filter(|&&r| !keep[r]) {
                let s = &mut st[r];
                if let Some(a) = s.alloc.take() {
                    let _ = sched.release(a);
                }
                s.remaining_s += cfg.restart_cost_s;
                s.generation += 1;
                preemptions += 1;
                running.retain(|&x| x != r);
                waiting.push(r);
            }
            order.retain(|&j| keep[j] && st[j].alloc.is_none());
        }
        for j in order {
            let req = request(j);
            let d = sched.decide(0, &req, false);
            let Some(p) = d.placement() else {
                if cfg.policy == QueuePolicy::Fifo {
                    break; // strict FIFO: the head blocks the queue
                }
                continue;
            };
            let Ok(a) = sched.commit(0, &req, p) else {
                continue;
            };
            let s = &mut st[j];
            s.alloc = Some(a);
            s.run_since = now;
            s.first_start.get_or_insert(now);
            s.generation += 1;
            waiting.retain(|&w| w != j);
            running.push(j);
            heap.push(Ev {
                t: now + s.remaining_s,
                kind: 0,
                job: j,
                generation: s.generation,
            });
            if cfg.policy == QueuePolicy::Las {
                // Wake up when the job crosses its next queue threshold.
                if let Some(&th) = cfg.las_thresholds.iter().find(|&&t| t > s.attained_gpu_s) {
                    let dt = (th - s.attained_gpu_s) / jobs[j].gpus as f64;
                    if dt < s.remaining_s {
                        heap.push(Ev {
                            t: now + dt,
                            kind: 2,
                            job: j,
                            generation: s.generation,
                        });
                    }
                }
            }
        }
    }
    let done: Vec<(f64, f64)> = st
        .iter()
        .zip(jobs)
        .filter_map(|(s, j)| {
            s.first_start?;
            let jct = s.finished? - j.arrival_s;
            Some((jct, (jct - j.duration_s).max(0.0)))
        })
        .collect();
    let makespan = st.iter().filter_map(|s| s.finished).fold(0.0, f64::max);
    let pct = |mut v: Vec<f64>, p: f64| -> f64 {
        if v.is_empty() {
            return 0.0;
        }
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * p).round() as usize]
    };
    let mean = |v: &[f64]| {
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    let jct: Vec<f64> = done.iter().map(|d| d.0).collect();
    let queue: Vec<f64> = done.iter().map(|d| d.1).collect();
    let first_arrival = jobs
        .iter()
        .map(|j| j.arrival_s)
        .fold(f64::INFINITY, f64::min);
    let span = makespan - first_arrival.min(makespan);
    QueueReport {
        jobs: jobs.len(),
        completed: done.len(),
        rejected,
        avg_jct_s: mean(&jct),
        p99_jct_s: pct(jct, 0.99),
        avg_queue_s: mean(&queue),
        p99_queue_s: pct(queue, 0.99),
        makespan_s: makespan,
        preemptions,
        utilization: if span > 0.0 {
            busy_gpu_s / (capacity as f64 * span)
        } else {
            0.0
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> QueueCluster {
        QueueCluster {
            gpus: 8,
            gpus_per_server: 4,
        }
    }

    fn job(a: f64, g: u32, d: f64) -> QueueJob {
        QueueJob {
            arrival_s: a,
            gpus: g,
            duration_s: d,
        }
    }

    #[test]
    fn fifo_runs_in_arrival_order_and_the_head_blocks() {
        // A 8-GPU job waits for the first to finish; the small one behind it waits too.
        let jobs = [job(0.0, 4, 100.0), job(1.0, 8, 10.0), job(2.0, 1, 1.0)];
        let r = replay_queue(&jobs, &QueueConfig::new(QueuePolicy::Fifo, cluster(), 1));
        assert_eq!(r.completed, 3);
        // job1 starts at 100, ends 110; job2 starts at 110, ends 111.
        assert!((r.makespan_s - 111.0).abs() < 1e-9, "{r:?}");
        assert!(
            (r.avg_queue_s - (0.0 + 99.0 + 108.0) / 3.0).abs() < 1e-9,
            "{r:?}"
        );
    }

    #[test]
    fn sjf_lets_short_jobs_pass_and_lowers_mean_jct() {
        let jobs = [
            job(0.0, 8, 100.0),
            job(1.0, 8, 500.0),
            job(2.0, 8, 5.0),
            job(3.0, 8, 5.0),
        ];
        let fifo = replay_queue(&jobs, &QueueConfig::new(QueuePolicy::Fifo, cluster(), 1));
        let sjf = replay_queue(&jobs, &QueueConfig::new(QueuePolicy::Sjf, cluster(), 1));
        assert!(sjf.avg_jct_s < fifo.avg_jct_s, "{sjf:?} vs {fifo:?}");
        assert_eq!(sjf.makespan_s, fifo.makespan_s);
    }

    #[test]
    fn las_preempts_a_long_job_for_a_new_one() {
        let mut cfg = QueueConfig::new(QueuePolicy::Las, cluster(), 1);
        cfg.las_thresholds = vec![8.0 * 50.0];
        cfg.restart_cost_s = 0.0;
        let jobs = [job(0.0, 8, 1000.0), job(100.0, 8, 10.0)];
        let r = replay_queue(&jobs, &cfg);
        assert_eq!(r.completed, 2);
        assert!(r.preemptions >= 1, "{r:?}");
        // The short job finishes 10 s after arriving; the long one is delayed by 10 s.
        assert!((r.makespan_s - 1010.0).abs() < 1e-6, "{r:?}");
        assert!((r.avg_jct_s - (1010.0 + 10.0) / 2.0).abs() < 1e-6, "{r:?}");
    }

    #[test]
    fn a_job_larger_than_the_cluster_is_rejected_not_lost() {
        let r = replay_queue(
            &[job(0.0, 64, 1.0), job(0.0, 1, 1.0)],
            &QueueConfig::new(QueuePolicy::Sjf, cluster(), 1),
        );
        assert_eq!((r.jobs, r.completed, r.rejected), (2, 1, 1));
    }
}
