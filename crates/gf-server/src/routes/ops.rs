//! Operations: `/healthz` (the process answers), `/readyz` (the controller
//! is restored and the backend answers, or this replica serves reads while
//! another leads), Prometheus `/metrics` and `/openapi.json`. None needs a
//! token.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use gf_api::HealthView;
use gf_store::Store;

use crate::app::App;
use crate::clock::rfc3339;

fn health<S: Store>(app: &App<S>, log_seq: u64) -> HealthView {
    let ready = !app.shared.leader() || (app.shared.ready() && app.shared.backend_ok());
    HealthView {
        status: if ready { "ok" } else { "starting" }.into(),
        leader: app.shared.leader(),
        handled_seq: app.shared.handled(),
        log_seq,
        backend_reachable: app.shared.backend_ok(),
        at: rfc3339(app.shared.now().max(app.clock.now_s())),
    }
}

/// The process answers.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, body = HealthView)))]
pub async fn healthz<S: Store>(State(app): State<App<S>>) -> Json<HealthView> {
    let seq = app.store.last_seq().await.unwrap_or(0);
    Json(health(&app, seq))
}

/// Ready to serve: 503 until the controller is restored.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, body = HealthView), (status = 503, body = HealthView)))]
pub async fn readyz<S: Store>(State(app): State<App<S>>) -> (StatusCode, Json<HealthView>) {
    let seq = app.store.last_seq().await.unwrap_or(0);
    let h = health(&app, seq);
    let code = if h.status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(h))
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub async fn metrics<S: Store>(State(app): State<App<S>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(),
    )
        .into_response()
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/openapi.json", tag = "ops",
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json", body = Object)))]
pub async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::document(),
    )
        .into_response()
}
