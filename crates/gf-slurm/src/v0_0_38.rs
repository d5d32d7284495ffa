//! The wire format of slurmrestd's `openapi/v0.0.38` plugin (Slurm 22.05,
//! Debian bookworm): the paths, the JSON of a submission, and the reading of
//! its job, node and error objects into [`crate::api`]'s words. A newer
//! plugin (`v0.0.40` and later renamed and restructured most fields) gets a
//! module of its own beside this one; nothing outside these modules knows a
//! field name of the wire.
//!
//! Known behaviour of 22.05 handled here: `environment` is required and must
//! be an object; the node list is the sbatch option `nodelist` (the
//! `required_nodes` key of the job description is disabled); errors carry
//! their number as `error_number`, `error_code` or `errno` depending on the
//! call.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{ApiError, JobState, JobView, NodeView, Submission};

/// The path prefix of every call.
pub(crate) const PREFIX: &str = "/slurm/v0.0.38";

/// Slurm's "invalid job id" error: the job is unknown or purged.
const INVALID_JOB_ID: i64 = 2017;

pub(crate) fn jobs_path() -> String {
    format!("{PREFIX}/jobs")
}

pub(crate) fn job_path(id: u32) -> String {
    format!("{PREFIX}/job/{id}")
}

pub(crate) fn submit_path() -> String {
    format!("{PREFIX}/job/submit")
}

pub(crate) fn nodes_path() -> String {
    format!("{PREFIX}/nodes")
}

/// The body of `POST /job/submit`.
pub(crate) fn submission(s: &Submission) -> Value {
    let mut job = json!({
        "name": s.name,
        "comment": s.comment,
        "partition": s.partition,
        "nodes": [s.nodes.len(), s.nodes.len()],
        "nodelist": s.nodes.join(","),
        "gres": format!("gpu:{}", s.gpus_per_node),
        "environment": s.env,
        "current_working_directory": s.cwd,
        // gigafleet restarts a run itself, from its checkpoint, as a new
        // attempt; a requeue by Slurm would be a second run behind its back.
        "no_requeue": true,
    });
    if let Some(o) = &s.stdout {
        job["standard_output"] = json!(o);
    }
    if let Some(e) = &s.stderr {
        job["standard_error"] = json!(e);
    }
    json!({ "script": s.script, "job": job })
}

#[derive(Deserialize)]
struct Errors {
    #[serde(default)]
    errors: Vec<WireError>,
}

#[derive(Deserialize)]
struct WireError {
    error_number: Option<i64>,
    error_code: Option<i64>,
    errno: Option<i64>,
    #[serde(default)]
    error: String,
    #[serde(default)]
    description: String,
}

impl WireError {
    fn number(&self) -> Option<i64> {
        self.error_number.or(self.error_code).or(self.errno)
    }

    fn text(&self) -> String {
        match (self.error.is_empty(), self.description.is_empty()) {
            (false, false) => format!("{} ({})", self.error, self.description),
            (false, true) => self.error.clone(),
            _ => self.description.clone(),
        }
    }
}

/// Reads a failed answer (or a successful one that carries errors).
pub(crate) fn error(status: u16, body: &[u8]) -> ApiError {
    let Ok(e) = serde_json::from_slice::<Errors>(body) else {
        return ApiError::Unavailable(format!(
            "slurmrestd answered {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ));
    };
    let Some(first) = e.errors.first() else {
        return ApiError::Unavailable(format!("slurmrestd answered {status} without errors"));
    };
    let text = format!("{} [{}]", first.text(), first.number().unwrap_or(0));
    match first.number() {
        // Checked by number before any message: while slurmctld is down
        // every job answers -1 "Unable to find JobId", which is not "gone".
        Some(n) if is_communication(n) => ApiError::Unavailable(text),
        Some(INVALID_JOB_ID) => ApiError::NoSuchJob,
        Some(n) if n >= 2000 => ApiError::Rejected(text),
        _ if status == 401 || status == 403 => {
            ApiError::Unavailable(format!("slurmrestd refused the token ({status}): {text}"))
        }
        _ => ApiError::Unavailable(text),
    }
}

/// Slurm's errors that mean "could not talk to slurmctld": -1 (what 22.05
/// answers while it is down) and the SLURM_COMMUNICATIONS_* and
/// SLURM_PROTOCOL_* ranges.
fn is_communication(n: i64) -> bool {
    n == -1 || (1000..2000).contains(&n) || (5000..6000).contains(&n)
}

#[derive(Deserialize)]
struct Submitted {
    job_id: Option<u32>,
}

/// The job id of a submission's answer.
pub(crate) fn submitted(body: &[u8]) -> Result<u32, ApiError> {
    let s: Submitted = serde_json::from_slice(body)
        .map_err(|e| ApiError::Unavailable(format!("unreadable submission answer: {e}")))?;
    s.job_id.ok_or_else(|| error(200, body))
}

#[derive(Deserialize)]
struct Jobs {
    #[serde(default)]
    jobs: Vec<WireJob>,
}

#[derive(Deserialize)]
struct WireJob {
    job_id: u32,
    #[serde(default)]
    name: String,
    #[serde(default)]
    job_state: String,
    #[serde(default)]
    state_reason: String,
    #[serde(default)]
    user_name: String,
}

/// Reads `GET /jobs` or `GET /job/{id}`.
pub(crate) fn jobs(body: &[u8]) -> Result<Vec<JobView>, ApiError> {
    let j: Jobs = serde_json::from_slice(body)
        .map_err(|e| ApiError::Unavailable(format!("unreadable jobs answer: {e}")))?;
    Ok(j.jobs
        .into_iter()
        .map(|j| JobView {
            id: j.job_id,
            name: j.name,
            state: JobState::from_name(&j.job_state),
            reason: j.state_reason,
            user: j.user_name,
        })
        .collect())
}

#[derive(Deserialize)]
struct Nodes {
    #[serde(default)]
    nodes: Vec<WireNode>,
}

#[derive(Deserialize)]
struct WireNode {
    name: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    state_flags: Vec<String>,
    #[serde(default)]
    gres: String,
}

/// Flags that take a node out of service whatever its base state.
const OUT_FLAGS: [&str; 7] = [
    "DRAIN",
    "NOT_RESPONDING",
    "FAIL",
    "POWERED_DOWN",
    "POWERING_DOWN",
    "MAINTENANCE",
    "REBOOT_REQUESTED",
];

/// Reads `GET /nodes`.
pub(crate) fn nodes(body: &[u8]) -> Result<Vec<NodeView>, ApiError> {
    let n: Nodes = serde_json::from_slice(body)
        .map_err(|e| ApiError::Unavailable(format!("unreadable nodes answer: {e}")))?;
    Ok(n.nodes
        .into_iter()
        .map(|n| {
            let out = n
                .state_flags
                .iter()
                .any(|f| OUT_FLAGS.contains(&f.as_str()));
            let up = match n.state.as_str() {
                "unknown" if !out => None,
                "down" | "error" | "future" | "unknown" => Some(false),
                _ => Some(!out),
            };
            NodeView {
                gpus: gres_gpus(&n.gres),
                name: n.name,
                up,
            }
        })
        .collect())
}

/// GPUs in a GRES string such as `gpu:4`, `gpu:a100:8(S:0-1)` or
/// `gpu:4,nic:1`.
fn gres_gpus(gres: &str) -> u32 {
    gres.split(',')
        .filter(|g| g.starts_with("gpu"))
        .filter_map(|g| {
            let g = g.split('(').next().unwrap_or(g);
            g.rsplit(':').next()?.parse::<u32>().ok()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_read_by_number_before_message() {
        let down = br#"{"errors":[{"description":"Unable to find JobId=7","error_number":-1,"error":"Unspecified error","source":"slurm_load_job"}]}"#;
        assert!(matches!(error(500, down), ApiError::Unavailable(_)));
        let gone = br#"{"errors":[{"description":"Unable to find JobId=7","error_number":2017,"error":"Invalid job id specified"}]}"#;
        assert_eq!(error(500, gone), ApiError::NoSuchJob);
        let never = br#"{"errors":[{"error_code":2014,"error":"Requested node configuration is not available"}]}"#;
        assert!(
            matches!(error(500, never), ApiError::Rejected(m) if m.contains("node configuration"))
        );
        assert!(matches!(error(502, b"<html>"), ApiError::Unavailable(_)));
    }

    #[test]
    fn gres_counts_gpus() {
        assert_eq!(gres_gpus("gpu:4"), 4);
        assert_eq!(gres_gpus("gpu:a100:8(S:0-1)"), 8);
        assert_eq!(gres_gpus("nic:1,gpu:2"), 2);
        assert_eq!(gres_gpus(""), 0);
    }

    #[test]
    fn node_states_read_as_up_or_not() {
        let body = br#"{"nodes":[
            {"name":"a","state":"idle","state_flags":[],"gres":"gpu:4"},
            {"name":"b","state":"mixed","state_flags":["DRAIN"],"gres":"gpu:4"},
            {"name":"c","state":"down","state_flags":["NOT_RESPONDING"],"gres":"gpu:4"},
            {"name":"d","state":"unknown","state_flags":[],"gres":"gpu:4"}]}"#;
        let up: Vec<_> = nodes(body).unwrap().into_iter().map(|n| n.up).collect();
        assert_eq!(up, [Some(true), Some(false), Some(false), None]);
    }
}
