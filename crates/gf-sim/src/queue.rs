//! Queue-policy replay: job arrivals, gang sizes and durations from a trace
//! run on one cluster through the production controller (gf-control) and
//! the simulated world (the twin's backend), under the queue orders a trace
//! study compares — FIFO, shortest job first, and Tiresias' discretised
//! least attained service (preemptive).
//!
//! This is the dynamic half of `gigafleet replay`: where the openb replay
//! packs pods that never leave, here jobs arrive, wait, run, are preempted
//! and finish, and the measures are job completion time and queueing delay.
//! Nothing here decides: the queue order is the controller's
//! [`QueueOrder`], so the policy a replay compares is the one `serve` runs.
//! The replay only plays the world: it submits each job at its arrival,
//! lets the world run it, and asks the controller to schedule whenever
//! something happened, as an event-driven scheduler does.

use std::sync::Arc;

use gf_control::{ControlConfig, Controller, Event, JobState, QueueOrder};
use gf_model::{
    Accelerator, ClusterSpec, Document, JobSpec, Locs, PriceModel, PriceSpec, ProviderSpec,
    RegionSpec, Vendor,
};
use gf_sched::{CapacityIndex, Policy, Topology};

use crate::SimError;
use crate::world::SimWorld;

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
    /// The queue order.
    pub order: QueueOrder,
    /// The cluster.
    pub cluster: QueueCluster,
    /// Seconds a preempted job loses: half writing a checkpoint as it
    /// stops, half reading it as it resumes.
    pub restart_cost_s: f64,
    /// Seed of the placement tie-breaks.
    pub seed: u64,
}

impl QueueConfig {
    /// Defaults: one minute lost per preemption (Tiresias' order uses its
    /// two-queue split at one GPU-hour, see [`QueueOrder::named`]).
    pub fn new(order: QueueOrder, cluster: QueueCluster, seed: u64) -> Self {
        QueueConfig {
            order,
            cluster,
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
    /// Jobs the cluster can never hold (larger than it): not submitted, and
    /// so in none of the figures below.
    pub never_fit: usize,
    /// Mean job completion time (finish − arrival), seconds.
    pub avg_jct_s: f64,
    /// 99th percentile job completion time, seconds.
    pub p99_jct_s: f64,
    /// Mean queueing delay: completion time minus the run time alone, seconds.
    pub avg_queue_s: f64,
    /// 99th percentile queueing delay, seconds.
    pub p99_queue_s: f64,
    /// Last finish, seconds from the trace start.
    pub makespan_s: f64,
    /// Preemptions asked for by the queue order.
    pub preemptions: u64,
    /// GPU-seconds allocated ÷ (GPUs × span from first arrival to last finish).
    pub utilization: f64,
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
                    backend: None,
                    locs: Locs::default(),
                }],
                locs: Locs::default(),
            }],
            locs: Locs::default(),
        }],
        ..Document::default()
    }
}

/// Replays `jobs` under `cfg` through the controller and the simulated
/// world; deterministic for a given input and seed.
pub fn replay_queue(jobs: &[QueueJob], cfg: &QueueConfig) -> Result<QueueReport, SimError> {
    // A server of no GPU is a domain the capacity index cannot hold (the
    // CLI refuses the flag; a library caller gets this, not a panic).
    if cfg.cluster.gpus == 0 || cfg.cluster.gpus_per_server == 0 {
        return Err(SimError::EmptyCluster {
            gpus: cfg.cluster.gpus,
            per_server: cfg.cluster.gpus_per_server,
        });
    }
    let topo = Arc::new(Topology::from_document(&fleet(cfg.cluster)));
    let capacity = topo.total_gpus();
    let half = (cfg.restart_cost_s / 2.0).max(0.0);
    let control = ControlConfig {
        queue: cfg.order.clone(),
        // A preempted job checkpoints within its grace, so nothing is lost
        // but the time to write and read the checkpoint.
        preempt_grace_s: half.ceil() as i64,
        dispatch_timeout_s: i64::MAX / 4,
        hot_spare_min_gpus: u32::MAX,
        retry: gf_model::scenario::RetryBudget {
            hardware: u32::MAX,
            software: u32::MAX,
            preemption: u32::MAX,
        },
        ..ControlConfig::default()
    };
    let mut ctl = Controller::new(
        Arc::clone(&topo),
        CapacityIndex::new(&topo),
        Policy::named("best-fit").unwrap_or_default(),
        cfg.seed,
        control,
    );
    let end = i64::MAX / 4;
    let mut world = SimWorld::quiet(Arc::clone(&topo), 0, end);
    world.set_restart_overhead_s(0.0);
    // Arrivals in time order (stable: equal times keep the trace's order).
    let mut arrivals: Vec<(i64, usize)> = jobs
        .iter()
        .enumerate()
        .filter(|(_, j)| j.gpus > 0 && u64::from(j.gpus) <= capacity)
        .map(|(i, j)| (j.arrival_s.max(0.0).round() as i64, i))
        .collect();
    arrivals.sort_by_key(|a| a.0);
    let never_fit = jobs.len() - arrivals.len();
    let mut next = 0usize;
    let mut now = 0i64;
    let mut drive = Drive {
        ctl: &mut ctl,
        world: &mut world,
    };
    loop {
        let ta = arrivals.get(next).map(|a| a.0);
        let t = [ta, drive.world.next_at(), drive.ctl.next_wakeup(now)]
            .into_iter()
            .flatten()
            .min();
        let Some(t) = t else { break };
        now = t;
        while drive.world.next_at() == Some(now) {
            drive.world.step();
        }
        drive.world.advance(now);
        drive.drain(now)?;
        while arrivals.get(next).is_some_and(|a| a.0 == now) {
            let i = arrivals[next].1;
            next += 1;
            drive.feed(
                now,
                Event::JobSubmitted {
                    job: i as u64 + 1,
                    spec: Arc::new(spec(&jobs[i], i, half)),
                },
            )?;
        }
        // Schedule until the world has nothing more to say at this instant:
        // a stop confirmed frees room the next tick can give away.
        loop {
            drive.feed(now, Event::ScheduleTick)?;
            if drive.drain(now)? == 0 {
                break;
            }
        }
        if next >= arrivals.len()
            && drive.world.next_at().is_none()
            && drive.ctl.next_wakeup(now).is_none()
        {
            break;
        }
    }
    Ok(report(jobs, &ctl, &world, never_fit, capacity))
}

/// The controller and the world, the one carrying out the other's actions.
struct Drive<'a> {
    ctl: &'a mut Controller,
    world: &'a mut SimWorld,
}

impl Drive<'_> {
    fn feed(&mut self, now: i64, ev: Event) -> Result<(), SimError> {
        let mut inbox = vec![ev];
        while let Some(e) = inbox.pop() {
            for a in self.ctl.handle(now, e)? {
                inbox.extend(self.world.carry(now, &a)?);
            }
        }
        Ok(())
    }

    /// Feeds the world's reports to the controller until there are none;
    /// returns how many there were.
    fn drain(&mut self, now: i64) -> Result<usize, SimError> {
        let mut n = 0;
        loop {
            let mut reports = self.world.reports(now)?;
            if reports.is_empty() {
                // Given back even when empty, as the engine does.
                self.world.recycle_reports(reports);
                return Ok(n);
            }
            n += reports.len();
            for r in reports.drain(..) {
                self.feed(now, Event::Backend(r))?;
            }
            self.world.recycle_reports(reports);
        }
    }
}

/// The trace job as a job spec: work in reference GPU-hours of the trace's
/// one accelerator, no periodic checkpoints, a checkpoint of `half` seconds.
fn spec(j: &QueueJob, i: usize, half: f64) -> JobSpec {
    JobSpec {
        name: format!("trace-{i}"),
        team: "".into(),
        priority: 100,
        gpus: j.gpus,
        accelerators: ["trace-gpu".to_string()].into(),
        work_gpu_hours: f64::from(j.gpus) * j.duration_s.max(1.0) / 3600.0,
        // Never in the run: the only checkpoint is the one a preemption writes.
        checkpoint_interval_min: Some(1e12),
        checkpoint_cost_min: half / 60.0,
        checkpoint_persist_min: None,
        checkpoint_in_memory: None,
        replica_group_gpus: None,
        partial_restart: None,
        providers: Vec::new(),
        regions: Vec::new(),
        preemptible: true,
        spot: false,
        gpu_milli: None,
        cpu_milli_per_gpu: 0,
        memory_mib_per_gpu: 0,
        exec: Default::default(),
        locs: Locs::default(),
    }
}

fn report(
    jobs: &[QueueJob],
    ctl: &Controller,
    world: &SimWorld,
    never_fit: usize,
    capacity: u64,
) -> QueueReport {
    let mut done = Vec::new();
    let mut makespan = 0.0f64;
    let mut busy = 0.0;
    for j in ctl.jobs() {
        let i = (j.id - 1) as usize;
        busy += world.job_truth(j.id, j.end_s.unwrap_or(0)).alloc_gpu_s;
        if j.state != JobState::Completed {
            continue;
        }
        let Some(end) = j.end_s else { continue };
        let arrival = jobs[i].arrival_s.max(0.0).round();
        let jct = end as f64 - arrival;
        done.push((jct, (jct - jobs[i].duration_s).max(0.0)));
        makespan = makespan.max(end as f64);
    }
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
        .map(|j| j.arrival_s.max(0.0).round())
        .fold(f64::INFINITY, f64::min);
    let span = makespan - first_arrival.min(makespan);
    QueueReport {
        jobs: jobs.len(),
        completed: done.len(),
        never_fit,
        avg_jct_s: mean(&jct),
        p99_jct_s: pct(jct, 0.99),
        avg_queue_s: mean(&queue),
        p99_queue_s: pct(queue, 0.99),
        makespan_s: makespan,
        preemptions: world.counters.preemptions,
        utilization: if span > 0.0 {
            busy / (capacity as f64 * span)
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

    fn order(name: &str) -> QueueOrder {
        QueueOrder::named(name).unwrap()
    }

    fn run(jobs: &[QueueJob], cfg: &QueueConfig) -> QueueReport {
        replay_queue(jobs, cfg).unwrap()
    }

    #[test]
    fn a_cluster_of_servers_without_gpus_is_an_error_not_a_panic() {
        let c = QueueCluster {
            gpus: 8,
            gpus_per_server: 0,
        };
        let e = replay_queue(&[job(0.0, 1, 1.0)], &QueueConfig::new(order("fifo"), c, 1));
        assert!(
            matches!(e, Err(SimError::EmptyCluster { per_server: 0, .. })),
            "{e:?}"
        );
    }

    #[test]
    fn fifo_runs_in_arrival_order_and_the_head_blocks() {
        // A 8-GPU job waits for the first to finish; the small one behind it waits too.
        let jobs = [job(0.0, 4, 100.0), job(1.0, 8, 10.0), job(2.0, 1, 1.0)];
        let r = run(&jobs, &QueueConfig::new(order("fifo"), cluster(), 1));
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
        let fifo = run(&jobs, &QueueConfig::new(order("fifo"), cluster(), 1));
        let sjf = run(&jobs, &QueueConfig::new(order("sjf"), cluster(), 1));
        assert!(sjf.avg_jct_s < fifo.avg_jct_s, "{sjf:?} vs {fifo:?}");
        assert_eq!(sjf.makespan_s, fifo.makespan_s);
    }

    #[test]
    fn las_preempts_a_long_job_for_a_new_one() {
        let mut cfg = QueueConfig::new(
            QueueOrder::TiresiasLas {
                thresholds_gpu_s: vec![8.0 * 50.0],
            },
            cluster(),
            1,
        );
        cfg.restart_cost_s = 0.0;
        let jobs = [job(0.0, 8, 1000.0), job(100.0, 8, 10.0)];
        let r = run(&jobs, &cfg);
        assert_eq!(r.completed, 2);
        assert!(r.preemptions >= 1, "{r:?}");
        // The short job finishes 10 s after arriving; the long one is delayed by 10 s.
        assert!((r.makespan_s - 1010.0).abs() < 1e-6, "{r:?}");
        assert!((r.avg_jct_s - (1010.0 + 10.0) / 2.0).abs() < 1e-6, "{r:?}");
    }

    #[test]
    fn a_preemption_costs_the_checkpoint_written_and_read() {
        let mut cfg = QueueConfig::new(
            QueueOrder::TiresiasLas {
                thresholds_gpu_s: vec![8.0 * 50.0],
            },
            cluster(),
            1,
        );
        cfg.restart_cost_s = 60.0;
        let jobs = [job(0.0, 8, 1000.0), job(100.0, 8, 10.0)];
        let r = run(&jobs, &cfg);
        // The long job stops at 100 after a 30 s checkpoint (130), the short
        // one runs 130-140, the long one resumes with a 30 s read: it ends at
        // 140 + 30 + 900 = 1070.
        assert!((r.makespan_s - 1070.0).abs() < 1e-6, "{r:?}");
    }

    #[test]
    fn a_job_larger_than_the_cluster_is_counted_apart_not_lost() {
        let r = run(
            &[job(0.0, 64, 1.0), job(0.0, 1, 1.0)],
            &QueueConfig::new(order("sjf"), cluster(), 1),
        );
        assert_eq!((r.jobs, r.completed, r.never_fit), (2, 1, 1));
    }
}
