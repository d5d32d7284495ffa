//! `/v1/services`: create an inference service (the fields of a
//! `[[service]]` table), list, get, update its demand, delete it.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use gf_api::{
    ApiError, ErrorCode, Problem, ServiceCreate, ServiceList, ServiceUpdate, ServiceView,
};
use gf_control::Event;
use gf_store::{NewService, ServiceRow, Store};
use serde_json::Value;

use crate::app::App;
use crate::auth::Principal;
use crate::fail::Fail;
use crate::logfmt::Logged;
use crate::routes::jobs::team_of;
use crate::routes::{json_body, owned, path_id};

fn view(r: &ServiceRow) -> ServiceView {
    ServiceView {
        id: r.id,
        name: r.name.clone(),
        team: r.team.clone(),
        deleted: r.deleted,
        status: serde_json::from_str(&r.detail_json).unwrap_or(Value::Null),
        spec: serde_json::from_str(&r.spec_json).unwrap_or(Value::Null),
    }
}

fn demand_event(service: u32, demand: &[(String, f64)]) -> String {
    Logged::of(Event::DemandObserved {
        service,
        rps_by_zone: demand.to_vec(),
    })
    .to_json()
}

/// Creates a service; its replicas are sized to its demand by the
/// controller.
#[utoipa::path(
    post, path = "/v1/services", tag = "services",
    request_body = ServiceCreate,
    responses((status = 201, body = ServiceView), (status = 400, body = ApiError),
        (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 409, description = "a live service has this name", body = ApiError),
        (status = 413, body = ApiError), (status = 422, body = ApiError), (status = 503, body = ApiError)),
    security(("bearer" = []))
)]
pub async fn create<S: Store>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<ServiceView>), Fail> {
    let who = app.tokens.principal(&app.store, &headers).await?;
    let mut v = json_body(body)?;
    let team = team_of(&mut v, &who)?;
    let spec = crate::wire::service(&v, &app.doc).map_err(Fail::invalid)?;
    let spec_json = serde_json::to_string(&spec).expect("specs serialise");
    let at_s = app.clock.now_s();
    let s = app
        .store
        .create_service(NewService {
            team,
            name: spec.name.clone(),
            spec_json,
            at_s,
        })
        .await?;
    let id = s.id as u32;
    let demand: Vec<(String, f64)> = spec
        .demand
        .iter()
        .map(|d| (d.zone.clone(), d.rps))
        .collect();
    app.store
        .append(None, at_s, vec![demand_event(id, &demand)])
        .await?;
    app.shared.notify_appended();
    let row = app
        .store
        .service(id)
        .await?
        .ok_or_else(|| Fail::new(ErrorCode::Internal, "a created service vanished"))?;
    Ok((StatusCode::CREATED, Json(view(&row))))
}

/// Every service (a team token: its team's).
#[utoipa::path(
    get, path = "/v1/services", tag = "services",
    responses((status = 200, body = ServiceList), (status = 401, body = ApiError)),
    security(("bearer" = []))
)]
pub async fn list<S: Store>(
    State(app): State<App<S>>,
    headers: HeaderMap,
) -> Result<Json<ServiceList>, Fail> {
    let who = app.tokens.principal(&app.store, &headers).await?;
    let team = match who {
        Principal::Admin => None,
        Principal::Team(t) => Some(t),
    };
    let rows = app.store.services(team).await?;
    Ok(Json(ServiceList {
        services: rows.iter().map(view).collect(),
    }))
}

async fn visible<S: Store>(app: &App<S>, who: &Principal, id: u64) -> Result<ServiceRow, Fail> {
    let row = match u32::try_from(id) {
        Ok(id) => app.store.service(id).await?,
        Err(_) => None,
    };
    owned(row, |r| &r.team, who, "service", id)
}

/// One service.
#[utoipa::path(
    get, path = "/v1/services/{id}", tag = "services",
    params(("id" = u32, Path, description = "the service's id")),
    responses((status = 200, body = ServiceView), (status = 400, body = ApiError),
        (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = []))
)]
pub async fn get_one<S: Store>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<ServiceView>, Fail> {
    let who = app.tokens.principal(&app.store, &headers).await?;
    let id = path_id(id)?;
    Ok(Json(view(&visible(&app, &who, id).await?)))
}

/// Replaces a service's demand (what an autoscaler or a load balancer
/// observes); the controller resizes it.
#[utoipa::path(
    put, path = "/v1/services/{id}", tag = "services",
    params(("id" = u32, Path, description = "the service's id")),
    request_body = ServiceUpdate,
    responses((status = 200, body = ServiceView), (status = 400, body = ApiError),
        (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError),
        (status = 409, description = "it was deleted", body = ApiError),
        (status = 413, body = ApiError), (status = 422, body = ApiError), (status = 503, body = ApiError)),
    security(("bearer" = []))
)]
pub async fn update<S: Store>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ServiceView>, Fail> {
    let who = app.tokens.principal(&app.store, &headers).await?;
    let id = path_id(id)?;
    let row = visible(&app, &who, id).await?;
    if row.deleted {
        return Err(Fail::new(
            ErrorCode::Conflict,
            format!("service {id} was deleted"),
        ));
    }
    let v = json_body(body)?;
    let up: ServiceUpdate = serde_json::from_value(v).map_err(|e| {
        Fail::invalid(vec![Problem {
            field: String::new(),
            message: format!("{e}; expected {{\"demand\": [{{\"zone\": ZONE, \"rps\": NUMBER}}]}}"),
        }])
    })?;
    let mut problems = Vec::new();
    let mut demand: BTreeMap<String, f64> = BTreeMap::new();
    for (i, d) in up.demand.iter().enumerate() {
        if !app.topo.zones.contains(&d.zone) {
            problems.push(Problem {
                field: format!("demand[{i}].zone"),
                message: format!(
                    "unknown zone `{}`; the fleet's zones: {}",
                    d.zone,
                    app.topo.zones.join(", ")
                ),
            });
        }
        if !(d.rps.is_finite() && d.rps >= 0.0) {
            problems.push(Problem {
                field: format!("demand[{i}].rps"),
                message: format!(
                    "{} is not a number of requests per second (0 or more)",
                    d.rps
                ),
            });
        }
        *demand.entry(d.zone.clone()).or_default() += d.rps;
    }
    if !problems.is_empty() {
        return Err(Fail::invalid(problems));
    }
    let demand: Vec<(String, f64)> = demand.into_iter().collect();
    app.store
        .change_service(
            row.id,
            None,
            false,
            app.clock.now_s(),
            demand_event(row.id, &demand),
        )
        .await?;
    app.shared.notify_appended();
    let row = visible(&app, &who, id).await?;
    Ok(Json(view(&row)))
}

/// Deletes a service: its replicas are stopped.
#[utoipa::path(
    delete, path = "/v1/services/{id}", tag = "services",
    params(("id" = u32, Path, description = "the service's id")),
    responses((status = 200, body = ServiceView), (status = 400, body = ApiError),
        (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError),
        (status = 409, description = "it was deleted already", body = ApiError), (status = 503, body = ApiError)),
    security(("bearer" = []))
)]
pub async fn delete<S: Store>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<ServiceView>, Fail> {
    let who = app.tokens.principal(&app.store, &headers).await?;
    let id = path_id(id)?;
    let row = visible(&app, &who, id).await?;
    if row.deleted {
        return Err(Fail::new(
            ErrorCode::Conflict,
            format!("service {id} was deleted already"),
        ));
    }
    let ev = Logged::of(Event::ServiceRemoved { service: row.id }).to_json();
    app.store
        .change_service(row.id, None, true, app.clock.now_s(), ev)
        .await?;
    app.shared.notify_appended();
    let row = visible(&app, &who, id).await?;
    Ok(Json(view(&row)))
}
