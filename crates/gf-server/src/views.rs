//! The controller's records and the store's rows turned into what the API
//! shows: a job's detail (written onto its row by the loop), a job view
//! (read from the row by any replica), and the explanation of a decision.

use std::collections::BTreeMap;

use gf_api::{CauseCount, ExplainView, JobView, PlacementView, SlotView};
use gf_control::{JobInfo, JobState};
use gf_model::PriceModel;
use gf_model::protocol::FailureCategory;
use gf_sched::{Decision, Outcome, Topology, Verdict};
use gf_store::JobRow;
use serde_json::{Value, json};

use crate::clock::rfc3339;

/// A price model's name as files and the API spell it.
pub fn price_model(p: PriceModel) -> &'static str {
    match p {
        PriceModel::Reserved => "reserved",
        PriceModel::OnDemand => "on-demand",
        PriceModel::Spot => "spot",
    }
}

fn placement(j: &JobInfo) -> Option<PlacementView> {
    let p = j.placement()?;
    Some(PlacementView {
        cluster: p.cluster.to_string(),
        domains: p
            .domains
            .iter()
            .map(|d| SlotView {
                domain: d.index,
                gpus: d.gpus,
                spare: d.spare,
            })
            .collect(),
    })
}

fn interruptions(j: &JobInfo) -> BTreeMap<String, u32> {
    FailureCategory::ALL
        .iter()
        .zip(j.interruptions)
        .filter(|(_, n)| *n > 0)
        .map(|(c, n)| (c.as_str().to_string(), n))
        .collect()
}

/// What the loop writes onto a job's row beside its state.
pub fn job_detail(j: &JobInfo) -> Value {
    let mut v = json!({
        "done_gpu_hours": j.progress.done_gpu_h,
        "interruptions": interruptions(j),
        "spare_swaps": j.spare_swaps,
    });
    if let Some(p) = placement(j) {
        v["placement"] = serde_json::to_value(p).unwrap_or(Value::Null);
    }
    v
}

/// A job row as the API shows it.
pub fn job_view(r: &JobRow) -> JobView {
    let detail: Value = serde_json::from_str(&r.detail_json).unwrap_or(Value::Null);
    JobView {
        id: r.id,
        name: r.name.clone(),
        team: r.team.clone(),
        gpus: r.gpus,
        state: r.state.clone(),
        terminal: r.terminal,
        attempt: r.attempt,
        cluster: r.cluster.clone(),
        placement: detail
            .get("placement")
            .and_then(|p| serde_json::from_value(p.clone()).ok()),
        reason: r.reason.clone(),
        done_gpu_hours: detail
            .get("done_gpu_hours")
            .and_then(Value::as_f64)
            .unwrap_or(0.0),
        submitted_at: rfc3339(r.submitted_at_s),
        updated_at: rfc3339(r.updated_at_s.max(r.submitted_at_s)),
        idempotency_key: r.idempotency_key.clone(),
        spec: serde_json::from_str(&r.spec_json).unwrap_or(Value::Null),
    }
}

/// What every explanation starts from: the job's state in a sentence.
pub fn explain_base(j: &JobInfo, topo: &Topology) -> ExplainView {
    let cluster = j
        .cluster()
        .map(|c| topo.clusters[c as usize].name.clone())
        .unwrap_or_default();
    let summary = match j.state {
        JobState::Pending | JobState::Interrupted => format!("it waits: {}", j.reason),
        JobState::Reserved => {
            format!("it is placed on {cluster} and waits for preempted work to stop")
        }
        JobState::Placed | JobState::Restarting => {
            format!("it was dispatched to {cluster} and waits to be reported started")
        }
        JobState::Running => format!("it runs on {cluster}"),
        JobState::Stopping => format!("it is being stopped on {cluster}: {}", j.reason),
        JobState::Completed | JobState::Failed | JobState::Cancelled if j.reason.is_empty() => {
            format!("it ended {}", j.state.as_str())
        }
        JobState::Completed | JobState::Failed | JobState::Cancelled => {
            format!("it ended {}: {}", j.state.as_str(), j.reason)
        }
    };
    ExplainView {
        id: j.id,
        state: j.state.as_str().to_string(),
        summary,
        considered: None,
        feasible: None,
        causes: Vec::new(),
        placement: placement(j),
        score_terms: BTreeMap::new(),
        interruptions: interruptions(j),
    }
}

/// Adds a scheduling decision taken now to a waiting job's explanation.
pub fn explain_decision(v: &mut ExplainView, d: &Decision, topo: &Topology) {
    let e = &d.explanation;
    v.considered = Some(e.considered);
    v.feasible = Some(e.feasible);
    v.causes = e
        .causes()
        .into_iter()
        .map(|(c, n)| CauseCount {
            cause: c.as_str().to_string(),
            clusters: n,
        })
        .collect();
    let chosen = match &d.outcome {
        Outcome::NoFit => None,
        Outcome::Placed(p) | Outcome::Preempt { placement: p, .. } => Some(p),
    };
    if let Some(p) = chosen {
        let name = &topo.clusters[p.cluster as usize].name;
        v.summary = match &d.outcome {
            Outcome::Preempt { victims, .. } => format!(
                "{}; now it could go to {name} by preempting {} run(s), which the next scheduling pass does",
                v.summary,
                victims.len()
            ),
            _ => format!(
                "{}; now it fits on {name}, which the next scheduling pass takes",
                v.summary
            ),
        };
        if let Some((_, Verdict::Scored(_, terms))) =
            e.clusters.iter().find(|(c, _)| *c == p.cluster)
        {
            v.score_terms = terms.iter().map(|(k, x)| (k.to_string(), *x)).collect();
        }
    }
}

/// The explanation a replica that does not lead gives: what the loop last
/// wrote on the job's row.
pub fn explain_row(r: &JobRow) -> ExplainView {
    let j = job_view(r);
    let detail: Value = serde_json::from_str(&r.detail_json).unwrap_or(Value::Null);
    ExplainView {
        id: r.id,
        state: r.state.clone(),
        // An ended job's record leaves the controller once its row is
        // written, so the row answers for it: in the controller's words.
        summary: match (r.terminal, r.reason.is_empty()) {
            (true, true) => format!("it ended {}", r.state),
            (true, false) => format!("it ended {}: {}", r.state, r.reason),
            (false, true) => format!("it is {}", r.state),
            (false, false) => format!("it is {}: {}", r.state, r.reason),
        },
        considered: None,
        feasible: None,
        causes: Vec::new(),
        placement: j.placement,
        score_terms: BTreeMap::new(),
        interruptions: detail
            .get("interruptions")
            .and_then(|x| serde_json::from_value(x.clone()).ok())
            .unwrap_or_default(),
    }
}
