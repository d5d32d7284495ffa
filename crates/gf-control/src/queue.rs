//! Queue order: which waiting job is offered capacity first. The order is a
//! policy of the controller, so the same FIFO, SJF or LAS that a trace
//! replay compares is the one `serve` runs.
//!
//! - `priority` (the default): highest priority first, then oldest; a job
//!   that does not fit lets the next one try (backfill).
//! - `fifo`: strictly by submission; the head blocks the queue.
//! - `sjf`: shortest estimated job first (work ÷ gang size, in reference
//!   GPU-hours per GPU), non-preemptive, with backfill.
//! - `tiresias-las`: Tiresias' discretised two-queue least attained service
//!   (NSDI'19): jobs are ranked by how many attained-service thresholds
//!   (GPU-seconds) they have crossed, then by submission; it is preemptive:
//!   a running job outside the set the ranking would run is stopped. This is
//!   not Gavel's "LAS", which is max-min fair time-sharing of throughput.
//! - `fair-share`: highest priority first; among equals, the team furthest
//!   below its weighted share of the GPUs it holds (Kueue's fair sharing:
//!   GPUs in use ÷ team weight), then oldest; with backfill. See `fair.rs`.

use serde::{Deserialize, Serialize};

use crate::controller::Controller;
use crate::job::{JobInfo, JobState};

/// The order in which waiting work is offered capacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum QueueOrder {
    /// Highest priority first, then oldest; backfill.
    #[default]
    Priority,
    /// First come, first served; the head blocks the rest.
    Fifo,
    /// Shortest estimated job first; backfill; never preempts for order.
    Sjf,
    /// Tiresias' discretised least attained service; preemptive.
    TiresiasLas {
        /// Attained-service thresholds, GPU-seconds, ascending (Tiresias:
        /// one, at one GPU-hour).
        thresholds_gpu_s: Vec<f64>,
    },
    /// Priority, then the team furthest below its weighted share.
    FairShare,
}

impl QueueOrder {
    /// Names accepted on the command line.
    pub const NAMES: [&'static str; 5] = ["priority", "fifo", "sjf", "tiresias-las", "fair-share"];

    /// The order of that name, with Tiresias' default threshold for LAS.
    pub fn named(s: &str) -> Option<Self> {
        match s {
            "priority" => Some(QueueOrder::Priority),
            "fifo" => Some(QueueOrder::Fifo),
            "sjf" => Some(QueueOrder::Sjf),
            "tiresias-las" => Some(QueueOrder::TiresiasLas {
                thresholds_gpu_s: vec![3_600.0],
            }),
            "fair-share" => Some(QueueOrder::FairShare),
            _ => None,
        }
    }

    /// The name.
    pub fn as_str(&self) -> &'static str {
        match self {
            QueueOrder::Priority => "priority",
            QueueOrder::Fifo => "fifo",
            QueueOrder::Sjf => "sjf",
            QueueOrder::TiresiasLas { .. } => "tiresias-las",
            QueueOrder::FairShare => "fair-share",
        }
    }

    /// The queue's primary key of a job (lower goes first); ties go to the
    /// older job.
    pub(crate) fn rank(&self, j: &JobInfo) -> u64 {
        match self {
            // Fair share orders teams within a priority in the pass itself
            // (their shares change as it places work).
            QueueOrder::Priority | QueueOrder::FairShare => u64::from(u32::MAX - j.spec.priority),
            QueueOrder::Fifo => 0,
            QueueOrder::Sjf => {
                let per_gpu_h = j.spec.work_gpu_hours / f64::from(j.spec.gpus.max(1));
                // Milli-GPU-hours per GPU: an exact, ordered integer.
                (per_gpu_h.max(0.0) * 1000.0).round() as u64
            }
            QueueOrder::TiresiasLas { thresholds_gpu_s } => thresholds_gpu_s
                .iter()
                .filter(|&&t| j.attained_gpu_s >= t)
                .count() as u64,
        }
    }

    /// Whether the first job that does not fit ends the pass.
    pub(crate) fn head_blocks(&self) -> bool {
        matches!(self, QueueOrder::Fifo)
    }
}

impl Controller {
    /// Tiresias: the jobs the ranking would run, greedily by rank within the
    /// fleet's online GPUs; running jobs outside the set are asked to stop,
    /// and queued jobs outside it are not offered capacity this pass.
    /// Returns, per job index, whether it may run.
    pub(crate) fn las_keep(&mut self, now: i64) -> Vec<bool> {
        let order = self.cfg.queue.clone();
        let mut cand: Vec<(u64, u64, usize)> = self
            .jobs
            .iter_indexed()
            .filter(|(_, j)| {
                matches!(
                    j.state,
                    JobState::Pending
                        | JobState::Interrupted
                        | JobState::Placed
                        | JobState::Running
                        | JobState::Restarting
                )
            })
            .map(|(i, j)| {
                let mut probe = j.clone();
                probe.attained_gpu_s = self.attained_now(i, now);
                (order.rank(&probe), j.lv().seq, i)
            })
            .collect();
        cand.sort_unstable();
        let mut budget = self.sched.index().total_online();
        let mut keep = vec![false; self.jobs.len()];
        for &(_, _, i) in &cand {
            let g = u64::from(self.jobs[i].spec.gpus);
            if g <= budget {
                budget -= g;
                keep[i] = true;
            }
        }
        keep
    }

    /// GPU-seconds of service a job has attained by `now`.
    pub(crate) fn attained_now(&self, i: usize, now: i64) -> f64 {
        let j = &self.jobs[i];
        let running = match (j.state, j.lv().run_started_s) {
            (JobState::Running, Some(t)) => (now - t).max(0) as f64 * f64::from(j.spec.gpus),
            _ => 0.0,
        };
        j.attained_gpu_s + running
    }

    /// When, after `now`, the controller next wants to be woken even if
    /// nothing happens: a dispatch or stop deadline, or (under Tiresias) a
    /// running job crossing its next attained-service threshold.
    pub fn next_wakeup(&self, now: i64) -> Option<i64> {
        let deadline = self.deadlines.first().map(|d| d.0.max(now + 1));
        let QueueOrder::TiresiasLas { thresholds_gpu_s } = &self.cfg.queue else {
            return deadline;
        };
        let crossing = self
            .jobs
            .iter()
            .filter(|j| j.state == JobState::Running)
            .filter_map(|j| {
                let t0 = j.lv().run_started_s?;
                let g = f64::from(j.spec.gpus.max(1));
                let attained = j.attained_gpu_s + (now - t0).max(0) as f64 * g;
                let next = thresholds_gpu_s.iter().find(|&&t| t > attained)?;
                let dt = (next - j.attained_gpu_s) / g;
                Some((t0 + dt.ceil() as i64).max(now + 1))
            })
            .min();
        match (deadline, crossing) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
