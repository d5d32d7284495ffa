//! `/v1/fleet`, `/v1/contracts` and `/v1/snapshot`: the fleet's state as
//! the controller last published it, contracts with their burn, and the
//! live state as a scenario file the twin runs forward.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use gf_api::{ApiError, ContractView, ErrorCode, FleetView, SnapshotQuery};
use gf_model::scenario::ScenarioSpec;
use gf_model::{Date, Document, JobSpec, ServiceSpec};
use gf_store::{JobQuery, Store};
use serde_json::Value;

use crate::app::App;
use crate::clock::rfc3339;
use crate::fail::Fail;
use crate::routes::{query, query_num};

/// The fleet's state and spend per contract: from the loop where it runs
/// here, else as the leader last stored it.
async fn published<S: Store>(app: &App<S>) -> Result<(FleetView, BTreeMap<String, f64>), Fail> {
    if let Some(v) = app.shared.fleet() {
        return Ok(v);
    }
    let stored = app.store.meta("fleet_view").await?;
    let parsed = stored.and_then(|s| {
        let v: Value = serde_json::from_str(&s).ok()?;
        let fleet = serde_json::from_value(v.get("fleet")?.clone()).ok()?;
        let spend = serde_json::from_value(v.get("spend")?.clone()).ok()?;
        Some((fleet, spend))
    });
    parsed.ok_or_else(|| {
        Fail::new(
            ErrorCode::Unavailable,
            "the controller has not published the fleet's state yet",
        )
    })
}

/// Clusters with their GPUs online and allocated, sites with their power.
#[utoipa::path(
    get, path = "/v1/fleet", tag = "fleet",
    responses((status = 200, body = FleetView), (status = 401, body = ApiError), (status = 503, body = ApiError)),
    security(("bearer" = []))
)]
pub async fn fleet<S: Store>(
    State(app): State<App<S>>,
    headers: HeaderMap,
) -> Result<Json<FleetView>, Fail> {
    app.tokens.principal(&app.store, &headers).await?;
    Ok(Json(published(&app).await?.0))
}

/// Contracts: commitment, term and spend so far.
#[utoipa::path(
    get, path = "/v1/contracts", tag = "fleet",
    responses((status = 200, body = [ContractView]), (status = 401, body = ApiError), (status = 503, body = ApiError)),
    security(("bearer" = []))
)]
pub async fn contracts<S: Store>(
    State(app): State<App<S>>,
    headers: HeaderMap,
) -> Result<Json<Vec<ContractView>>, Fail> {
    app.tokens.principal(&app.store, &headers).await?;
    let spend = published(&app).await.map(|p| p.1).unwrap_or_default();
    Ok(Json(
        app.doc
            .contracts
            .iter()
            .map(|c| ContractView {
                name: c.name.clone(),
                provider: c.provider.clone(),
                committed_usd: c.committed_usd,
                spent_usd: spend.get(&c.name).copied().unwrap_or(0.0),
                start: c.start.to_string(),
                term_months: c.term_months,
            })
            .collect(),
    ))
}

/// The live fleet and work as a scenario file (TOML) that `gigafleet
/// simulate` runs forward: every job not ended with the work it has left,
/// every live service, the fleet's failure models; no new arrivals ("what
/// happens over the next days if nothing changes").
#[utoipa::path(
    get, path = "/v1/snapshot", tag = "fleet",
    params(SnapshotQuery),
    responses((status = 200, description = "a scenario file", content_type = "application/toml", body = String),
        (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = []))
)]
pub async fn snapshot<S: Store>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    q: Result<Query<BTreeMap<String, String>>, QueryRejection>,
) -> Result<Response, Fail> {
    app.tokens.principal(&app.store, &headers).await?.admin()?;
    let q = query(q, &["horizon_days"])?;
    let horizon = query_num(&q, "horizon_days", 1, 3650)?.unwrap_or(7) as u32;
    let now = app.shared.now().max(app.clock.now_s());
    let mut doc: Document = (*app.doc).clone();
    doc.jobs = live_jobs(&app).await?;
    doc.services = live_services(&app).await?;
    let base = doc.scenario.take();
    let mut sc: ScenarioSpec = serde_json::from_value(serde_json::json!({
        "start": Date::from_epoch_seconds(now).to_string(),
        "horizon_days": horizon,
    }))
    .expect("a scenario of start and horizon reads");
    if let Some(b) = base {
        sc.failures = b.failures;
        sc.checkpoint = b.checkpoint;
        sc.zone_utc_offset_h = b.zone_utc_offset_h;
        sc.schedule_interval_min = b.schedule_interval_min;
        sc.autoscale_interval_min = b.autoscale_interval_min;
        sc.sample_hours = b.sample_hours;
    }
    doc.scenario = Some(sc);
    doc.plan = None;
    let body = toml::to_string(&doc)
        .map_err(|e| Fail::new(ErrorCode::Internal, format!("snapshot: {e}")))?;
    let head = format!(
        "# gigafleet snapshot of the live control plane at {}: the fleet, every job not ended\n# (with the work it has left) and every live service; run it forward with\n# `gigafleet simulate FILE`.\n",
        rfc3339(now)
    );
    Ok(([(header::CONTENT_TYPE, "application/toml")], head + &body).into_response())
}

async fn live_jobs<S: Store>(app: &App<S>) -> Result<Vec<JobSpec>, Fail> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let rows = app
            .store
            .jobs(JobQuery {
                terminal: Some(false),
                after,
                limit: 1000,
                ..JobQuery::default()
            })
            .await?;
        let Some(last) = rows.last() else { break };
        after = Some(last.id);
        for r in &rows {
            let Ok(mut spec) = serde_json::from_str::<JobSpec>(&r.spec_json) else {
                continue;
            };
            let detail: Value = serde_json::from_str(&r.detail_json).unwrap_or(Value::Null);
            let done = detail
                .get("done_gpu_hours")
                .and_then(Value::as_f64)
                .unwrap_or(0.0);
            // Names are unique in a file; ids are unique here.
            spec.name = format!("{}#{}", spec.name, r.id);
            spec.work_gpu_hours = (spec.work_gpu_hours - done).max(1e-3);
            out.push(spec);
        }
    }
    Ok(out)
}

async fn live_services<S: Store>(app: &App<S>) -> Result<Vec<ServiceSpec>, Fail> {
    Ok(app
        .store
        .services(None)
        .await?
        .iter()
        .filter(|r| !r.deleted)
        .filter_map(|r| serde_json::from_str(&r.spec_json).ok())
        .collect())
}
