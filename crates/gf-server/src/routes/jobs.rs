//! `/v1/jobs`: submit (durable before the answer, idempotent with an
//! `Idempotency-Key`), list with filters and a cursor, get, cancel, and
//! explain.

use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use gf_api::{ApiError, ErrorCode, ExplainView, JobList, JobSubmit, JobView, Problem};
use gf_control::Event;
use gf_store::{JobQuery, JobRow, NewJob, Store};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::app::App;
use crate::auth::Principal;
use crate::fail::Fail;
use crate::logfmt::Logged;
use crate::reconcile::Query as Ask;
use crate::routes::{json_body, owned, path_id, query, query_num};
use crate::views;

/// Longest idempotency key taken.
const MAX_KEY: usize = 255;
/// Jobs per page at most.
const MAX_PAGE: u64 = 1000;

/// Submits a training job.
#[utoipa::path(
    post, path = "/v1/jobs", tag = "jobs",
    request_body = JobSubmit,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "a retried submission with the same key returns the first job (1-255 visible ASCII characters)")),
    responses(
        (status = 201, description = "stored durably; the controller takes it from the log", body = JobView),
        (status = 200, description = "a job with this Idempotency-Key exists: that one", body = JobView),
        (status = 400, description = "not JSON", body = ApiError),
        (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 413, body = ApiError),
        (status = 422, description = "a field is not accepted", body = ApiError),
        (status = 429, description = "too many submissions in flight", body = ApiError),
        (status = 503, description = "the store is overloaded", body = ApiError),
    ),
    security(("bearer" = []))
)]
pub async fn submit<S: Store>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<JobView>), Fail> {
    let who = app.tokens.principal(&app.store, &headers).await?;
    let Ok(_permit) = app.inflight.try_acquire() else {
        app.metrics.rejected("too_many_requests");
        return Err(Fail::new(
            ErrorCode::TooManyRequests,
            "too many submissions in flight; retry after a moment",
        ));
    };
    let mut v = json_body(body)?;
    let team = team_of(&mut v, &who)?;
    let key = idempotency_key(&headers)?;
    let spec = crate::wire::job(&v, &app.doc).map_err(Fail::invalid)?;
    check_quota(&app, &team, &spec)?;
    let spec_json = serde_json::to_string(&spec).expect("specs serialise");
    let at_s = app.clock.now_s();
    let t0 = Instant::now();
    let s = app
        .store
        .submit_job(NewJob {
            team: team.clone(),
            name: spec.name.clone(),
            gpus: spec.gpus,
            idempotency_key: key.clone(),
            spec_json: spec_json.clone(),
            at_s,
        })
        .await?;
    app.metrics.submitted(t0.elapsed());
    if !s.created {
        let row = app
            .store
            .job(s.id)
            .await?
            .ok_or_else(|| Fail::new(ErrorCode::Internal, "an idempotent job vanished"))?;
        return Ok((StatusCode::OK, Json(views::job_view(&row))));
    }
    app.shared.notify_appended();
    let row = JobRow {
        id: s.id,
        team,
        name: spec.name.clone(),
        gpus: spec.gpus,
        spec_json,
        idempotency_key: key,
        submitted_at_s: at_s,
        state: "pending".into(),
        terminal: false,
        attempt: 0,
        cluster: None,
        reason: "submitted".into(),
        detail_json: "{}".into(),
        updated_at_s: at_s,
    };
    Ok((StatusCode::CREATED, Json(views::job_view(&row))))
}

/// The team a submission is for: the body's, which must be the token's,
/// or the token's when the body names none.
pub fn team_of(v: &mut Value, who: &Principal) -> Result<String, Fail> {
    let given = v.get("team").and_then(Value::as_str).map(str::to_string);
    match (who, given) {
        (Principal::Team(t), Some(g)) if *t != g => Err(Fail::new(
            ErrorCode::Forbidden,
            format!("the token acts for team `{t}`, not `{g}`"),
        )),
        (_, Some(g)) => Ok(g),
        (Principal::Team(t), None) => {
            if let Value::Object(m) = v {
                m.insert("team".into(), Value::String(t.clone()));
            }
            Ok(t.clone())
        }
        (Principal::Admin, None) => Err(Fail::invalid(vec![Problem {
            field: "team".into(),
            message: "required with an admin token: name the team the work is for".into(),
        }])),
    }
}

fn idempotency_key(h: &HeaderMap) -> Result<Option<String>, Fail> {
    let Some(v) = h.get("idempotency-key") else {
        return Ok(None);
    };
    let s = v.to_str().unwrap_or("");
    if s.is_empty() || s.len() > MAX_KEY || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Fail::param(
            "Idempotency-Key",
            "must be 1-255 visible ASCII characters",
        ));
    }
    Ok(Some(s.to_string()))
}

/// A gang larger than the team's quota on every accelerator it accepts
/// could never start: refused at admission.
fn check_quota<S>(app: &App<S>, team: &str, spec: &gf_model::JobSpec) -> Result<(), Fail> {
    let Some(t) = app.topo.teams.iter().find(|t| t.name == team) else {
        return Ok(());
    };
    let accels: Vec<usize> = spec
        .accelerators
        .iter()
        .filter_map(|a| app.topo.accels.iter().position(|x| &x.name == a))
        .collect();
    let fits = accels
        .iter()
        .any(|&a| t.quota.get(a).is_none_or(|&q| u64::from(spec.gpus) <= q));
    if fits || accels.is_empty() {
        return Ok(());
    }
    let quotas: Vec<String> = accels
        .iter()
        .map(|&a| format!("{} on {}", t.quota[a], app.topo.accels[a].name))
        .collect();
    Err(Fail::invalid(vec![Problem {
        field: "gpus".into(),
        message: format!(
            "{} GPUs exceed team `{team}`'s quota ({}); a gang above its quota could never start",
            spec.gpus,
            quotas.join(", ")
        ),
    }]))
}

/// Lists jobs, by increasing id, a page at a time.
#[utoipa::path(
    get, path = "/v1/jobs", tag = "jobs",
    params(
        ("team" = Option<String>, Query, description = "only this team's (a team token sees only its own)"),
        ("state" = Option<String>, Query, description = "only in this state"),
        ("terminal" = Option<bool>, Query, description = "only ended (true) or only live (false) jobs"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("limit" = Option<u32>, Query, description = "jobs per page, 1-1000 (default 100)"),
    ),
    responses((status = 200, body = JobList), (status = 400, body = ApiError),
        (status = 401, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = []))
)]
pub async fn list<S: Store>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    q: Result<Query<std::collections::BTreeMap<String, String>>, QueryRejection>,
) -> Result<Json<JobList>, Fail> {
    let who = app.tokens.principal(&app.store, &headers).await?;
    let q = query(q, &["team", "state", "terminal", "cursor", "limit"])?;
    let team = match (&who, q.get("team")) {
        (Principal::Team(t), Some(g)) if t != g => {
            return Err(Fail::new(
                ErrorCode::Forbidden,
                format!("the token acts for team `{t}` and sees only its jobs"),
            ));
        }
        (Principal::Team(t), _) => Some(t.clone()),
        (Principal::Admin, g) => g.cloned(),
    };
    let terminal = match q.get("terminal").map(String::as_str) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(v) => {
            return Err(Fail::param(
                "terminal",
                format!("`{v}` is not true or false"),
            ));
        }
    };
    let limit = query_num(&q, "limit", 1, MAX_PAGE)?.unwrap_or(100) as usize;
    let after = query_num(&q, "cursor", 0, u64::MAX)?;
    let rows = app
        .store
        .jobs(JobQuery {
            team,
            state: q.get("state").cloned(),
            terminal,
            after,
            limit,
        })
        .await?;
    // A full page may have a successor (an empty last page is the price of
    // not reading one row ahead).
    let full = rows.len() == limit;
    let jobs: Vec<JobView> = rows.iter().map(views::job_view).collect();
    let next_cursor = full
        .then(|| jobs.last().map(|j| j.id.to_string()))
        .flatten();
    Ok(Json(JobList { jobs, next_cursor }))
}

/// A job the principal may see: 404 when there is none, 403 when it is
/// another team's.
async fn visible<S: Store>(app: &App<S>, who: &Principal, id: u64) -> Result<JobRow, Fail> {
    owned(app.store.job(id).await?, |r| &r.team, who, "job", id)
}

/// One job.
#[utoipa::path(
    get, path = "/v1/jobs/{id}", tag = "jobs",
    params(("id" = u64, Path, description = "the job's id")),
    responses((status = 200, body = JobView), (status = 400, body = ApiError),
        (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = []))
)]
pub async fn get_one<S: Store>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<JobView>, Fail> {
    let who = app.tokens.principal(&app.store, &headers).await?;
    let id = path_id(id)?;
    Ok(Json(views::job_view(&visible(&app, &who, id).await?)))
}

/// Cancels a job: its run is asked to stop; the job ends `cancelled` once
/// it has.
#[utoipa::path(
    post, path = "/v1/jobs/{id}/cancel", tag = "jobs",
    params(("id" = u64, Path, description = "the job's id")),
    responses((status = 202, description = "the cancel is logged; the job ends soon", body = JobView),
        (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError), (status = 409, description = "it has ended already", body = ApiError),
        (status = 503, body = ApiError)),
    security(("bearer" = []))
)]
pub async fn cancel<S: Store>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<(StatusCode, Json<JobView>), Fail> {
    let who = app.tokens.principal(&app.store, &headers).await?;
    let id = path_id(id)?;
    let row = visible(&app, &who, id).await?;
    if row.terminal {
        return Err(Fail::new(
            ErrorCode::Conflict,
            format!("job {id} has ended already ({})", row.state),
        ));
    }
    let ev = Logged::of(Event::JobCancelled { job: id }).to_json();
    app.store.append(None, app.clock.now_s(), vec![ev]).await?;
    app.shared.notify_appended();
    Ok((StatusCode::ACCEPTED, Json(views::job_view(&row))))
}

/// Why a job is where it is: for a waiting job, the clusters the
/// scheduler rejects now, counted by cause.
#[utoipa::path(
    get, path = "/v1/jobs/{id}/explain", tag = "jobs",
    params(("id" = u64, Path, description = "the job's id")),
    responses((status = 200, body = ExplainView), (status = 400, body = ApiError),
        (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = []))
)]
pub async fn explain<S: Store>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<ExplainView>, Fail> {
    let who = app.tokens.principal(&app.store, &headers).await?;
    let id = path_id(id)?;
    let row = visible(&app, &who, id).await?;
    if app.shared.leader() && app.shared.ready() {
        let (tx, rx) = oneshot::channel();
        if app
            .queries
            .try_send(Ask::Explain { job: id, reply: tx })
            .is_ok()
            && let Ok(Ok(Some(v))) = tokio::time::timeout(Duration::from_secs(2), rx).await
        {
            return Ok(Json(v));
        }
    }
    Ok(Json(views::explain_row(&row)))
}
