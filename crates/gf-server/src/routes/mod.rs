//! The HTTP API v1: the router, and what every handler shares — reading a
//! JSON body, a query string and a path id with errors that name the
//! field, and the fallbacks for unknown routes and methods.
//!
//! Handlers only parse a request into a store write (which appends to the
//! log the controller reads) or read from the store; none calls the
//! controller, so a read never waits behind a submission or a dispatch.

pub mod admin;
pub mod events;
pub mod fleet;
pub mod jobs;
pub mod ops;
pub mod services;

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query};
use axum::routing::{get, post};
use gf_api::ErrorCode;
use gf_store::Store;
use serde_json::Value;

use crate::app::App;
use crate::fail::Fail;

/// The whole API.
pub fn router<S: Store>(app: App<S>, max_body: usize) -> Router {
    Router::new()
        .route("/v1/jobs", post(jobs::submit::<S>).get(jobs::list::<S>))
        .route("/v1/jobs/{id}", get(jobs::get_one::<S>))
        .route("/v1/jobs/{id}/cancel", post(jobs::cancel::<S>))
        .route("/v1/jobs/{id}/explain", get(jobs::explain::<S>))
        .route(
            "/v1/services",
            post(services::create::<S>).get(services::list::<S>),
        )
        .route(
            "/v1/services/{id}",
            get(services::get_one::<S>)
                .put(services::update::<S>)
                .delete(services::delete::<S>),
        )
        .route("/v1/fleet", get(fleet::fleet::<S>))
        .route("/v1/contracts", get(fleet::contracts::<S>))
        .route("/v1/snapshot", get(fleet::snapshot::<S>))
        .route("/v1/teams", get(admin::teams::<S>))
        .route(
            "/v1/tokens",
            post(admin::create_token::<S>).get(admin::tokens::<S>),
        )
        .route("/v1/tokens/{id}", axum::routing::delete(admin::revoke::<S>))
        .route("/v1/events", get(events::stream::<S>))
        .route("/healthz", get(ops::healthz::<S>))
        .route("/readyz", get(ops::readyz::<S>))
        .route("/metrics", get(ops::metrics::<S>))
        .route("/openapi.json", get(ops::openapi))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(app)
}

async fn not_found() -> Fail {
    Fail::new(
        ErrorCode::NotFound,
        "no such route; the API is described at /openapi.json",
    )
}

async fn method_not_allowed() -> Fail {
    Fail::new(
        ErrorCode::MethodNotAllowed,
        "this route does not take that method; see /openapi.json",
    )
}

/// A request body as JSON: 413 past the limit, 400 when not JSON.
pub fn json_body(body: Result<Bytes, BytesRejection>) -> Result<Value, Fail> {
    let bytes = body.map_err(|r| {
        if r.status().as_u16() == 413 {
            Fail::new(
                ErrorCode::PayloadTooLarge,
                "the body is larger than the server takes",
            )
        } else {
            Fail::new(ErrorCode::BadRequest, r.body_text())
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Fail::new(
            ErrorCode::BadRequest,
            format!("the body is not valid JSON: {e}"),
        )
    })
}

/// The query string as name → value; every name must be one of `known`.
pub fn query(
    q: Result<Query<BTreeMap<String, String>>, QueryRejection>,
    known: &[&str],
) -> Result<BTreeMap<String, String>, Fail> {
    let Query(q) = q.map_err(|r| Fail::new(ErrorCode::BadRequest, r.body_text()))?;
    if let Some(k) = q.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(Fail::param(
            k,
            format!("unknown parameter; accepted: {}", known.join(", ")),
        ));
    }
    Ok(q)
}

/// A numeric id from the path.
pub fn path_id(p: Result<Path<String>, PathRejection>) -> Result<u64, Fail> {
    let Path(s) = p.map_err(|r| Fail::new(ErrorCode::BadRequest, r.body_text()))?;
    s.parse::<u64>()
        .ok()
        .filter(|&n| n > 0 && n < (1u64 << 62))
        .ok_or_else(|| Fail::param("id", format!("`{s}` is not an id (a whole number from 1)")))
}

/// A stored resource the principal may see: 404 when there is none, 403
/// when it is another team's.
pub fn owned<T>(
    row: Option<T>,
    team: impl Fn(&T) -> &str,
    who: &crate::auth::Principal,
    what: &str,
    id: u64,
) -> Result<T, Fail> {
    let row = row.ok_or_else(|| Fail::new(ErrorCode::NotFound, format!("no {what} {id}")))?;
    if !who.may(team(&row)) {
        return Err(Fail::new(
            ErrorCode::Forbidden,
            format!("{what} {id} belongs to another team"),
        ));
    }
    Ok(row)
}

/// A number from the query string within a range.
pub fn query_num(
    q: &BTreeMap<String, String>,
    k: &str,
    lo: u64,
    hi: u64,
) -> Result<Option<u64>, Fail> {
    match q.get(k) {
        None => Ok(None),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|n| (lo..=hi).contains(n))
            .map(Some)
            .ok_or_else(|| {
                Fail::param(k, format!("`{v}` is not a whole number from {lo} to {hi}"))
            }),
    }
}
