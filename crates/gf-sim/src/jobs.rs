//! The summary's jobs, folded one by one as each ends.
//!
//! The twin's controller hands out an ended job's record
//! (`ControlConfig::keep_ended_jobs` off) and the world its truth
//! ([`SimWorld::take_truth`]); what the summary needs of them is kept here:
//! counts, sums, the values whose percentiles it reports, and the large
//! jobs it lists. A year of a 20M-GPU fleet ends six million jobs, whose
//! records and truths were 1.3 GB of memory the kernel zeroed page by page;
//! folded, they are 16 bytes each. At the summary the jobs still held
//! (running, waiting, or ended with a run the world still holds) are
//! folded the same way into a copy.

use std::collections::BTreeMap;

use gf_control::{JobInfo, JobState};
use gf_model::chunked::ChunkedVec;
use gf_model::protocol::JobId;
use rustc_hash::FxHashMap;

use crate::metrics::{LARGE_JOB_GPUS, LargeJob, r2, r4};
use crate::world::JobTruth;

/// What the summary keeps of the jobs folded so far.
#[derive(Debug, Clone, Default)]
pub(crate) struct JobsFold {
    pub completed: u64,
    pub failed: u64,
    pub cancelled: u64,
    pub running: u64,
    /// Jobs waiting, by why.
    pub pending: BTreeMap<String, u64>,
    /// Seconds from submission to first start, of the jobs that started.
    pub waits_s: ChunkedVec<u32>,
    /// Seconds from submission to the end, of the completed jobs.
    pub jcts_s: ChunkedVec<u32>,
    /// Effective training time ratio of the completed jobs.
    pub ettrs: ChunkedVec<f64>,
    /// GPU-seconds by what they bought, summed over the jobs in the order
    /// they ended. They are whole numbers (but for partial restarts'
    /// shares), so the sums are exact whatever that order.
    pub truth: JobTruth,
    pub spare_swaps: u64,
    /// The jobs of at least [`LARGE_JOB_GPUS`], with their ids (the
    /// summary lists them in submission order).
    pub large: Vec<(JobId, LargeJob)>,
}

impl JobsFold {
    /// Folds job `j`, whose truth is `st`; a job still running counts up
    /// to `end_s`. `names` are the large jobs' names.
    pub fn add(
        &mut self,
        j: &JobInfo,
        st: &JobTruth,
        end_s: i64,
        names: &FxHashMap<JobId, String>,
    ) {
        match j.state {
            JobState::Completed => self.completed += 1,
            JobState::Failed => self.failed += 1,
            JobState::Cancelled => self.cancelled += 1,
            JobState::Pending | JobState::Interrupted => {
                let why = if j.reason.is_empty() {
                    "waiting"
                } else {
                    &j.reason
                };
                match self.pending.get_mut(why) {
                    Some(n) => *n += 1,
                    None => {
                        self.pending.insert(why.to_string(), 1);
                    }
                }
            }
            _ => self.running += 1,
        }
        if let Some(fs) = j.first_start_s {
            self.waits_s.push(secs(fs - j.submitted_s));
        }
        self.truth += *st;
        self.spare_swaps += u64::from(j.spare_swaps);
        let ettr = match (j.first_start_s, j.end_s.or(Some(end_s))) {
            (Some(a), Some(b)) if b > a => st.useful_gpu_s / j.gpus as f64 / (b - a) as f64,
            _ => 0.0,
        };
        if j.state == JobState::Completed {
            if let Some(e) = j.end_s {
                self.jcts_s.push(secs(e - j.submitted_s));
            }
            self.ettrs.push(ettr);
        }
        if j.gpus >= LARGE_JOB_GPUS {
            let large = LargeJob {
                name: names.get(&j.id).cloned().unwrap_or_default(),
                gpus: j.gpus,
                state: j.state.as_str().to_string(),
                progress: r4(if j.state == JobState::Completed {
                    1.0
                } else {
                    (j.progress.done_gpu_h / j.work_gpu_hours).min(1.0)
                }),
                goodput: r4(st.useful_gpu_s / st.alloc_gpu_s.max(1e-9)),
                ettr: r4(ettr),
                interruptions: j.interruptions.iter().sum(),
                checkpoint_interval_min: r2(j.interval_s as f64 / 60.0),
            };
            self.large.push((j.id, large));
        }
    }
}

/// A span of seconds as the lists keep it: never negative, and a job's
/// waits and lifetimes are far below the 136 years a `u32` holds.
fn secs(s: i64) -> u32 {
    s.clamp(0, i64::from(u32::MAX)) as u32
}
