//! `/v1/teams` and `/v1/tokens`: teams with their quotas (from the fleet
//! file) and what they hold, and the tokens that act for them (admin).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use gf_api::{
    ApiError, ErrorCode, Problem, TeamList, TeamView, TokenCreate, TokenCreated, TokenList,
    TokenView,
};
use gf_store::{Store, TokenRow};

use crate::app::App;
use crate::auth::{hash, new_secret};
use crate::clock::rfc3339;
use crate::fail::Fail;
use crate::routes::json_body;

/// Teams: an admin sees every team, a team token its own.
#[utoipa::path(
    get, path = "/v1/teams", tag = "admin",
    responses((status = 200, body = TeamList), (status = 401, body = ApiError)),
    security(("bearer" = []))
)]
pub async fn teams<S: Store>(
    State(app): State<App<S>>,
    headers: HeaderMap,
) -> Result<Json<TeamList>, Fail> {
    let who = app.tokens.principal(&app.store, &headers).await?;
    let mut teams = Vec::new();
    for t in app.doc.teams.iter().filter(|t| who.may(&t.name)) {
        teams.push(TeamView {
            name: t.name.clone(),
            quota: t.quota.clone().into_iter().collect(),
            weight: t.weight,
            max_priority: t.max_priority,
            live_gpus: app.store.team_gpus_live(&t.name).await?,
        });
    }
    Ok(Json(TeamList { teams }))
}

/// Creates a token (admin): for a team of the fleet, or another admin
/// token. The secret is in this answer only.
#[utoipa::path(
    post, path = "/v1/tokens", tag = "admin",
    request_body = TokenCreate,
    responses((status = 201, body = TokenCreated), (status = 400, body = ApiError),
        (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 422, body = ApiError)),
    security(("bearer" = []))
)]
pub async fn create_token<S: Store>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<TokenCreated>), Fail> {
    app.tokens.principal(&app.store, &headers).await?.admin()?;
    let req: TokenCreate = serde_json::from_value(json_body(body)?).map_err(|e| {
        Fail::invalid(vec![Problem {
            field: String::new(),
            message: format!("{e}; expected {{\"label\": TEXT, \"team\": TEAM (optional)}}"),
        }])
    })?;
    if let Some(t) = &req.team
        && !app.doc.teams.iter().any(|x| &x.name == t)
    {
        let known: Vec<&str> = app.doc.teams.iter().map(|t| t.name.as_str()).collect();
        return Err(Fail::invalid(vec![Problem {
            field: "team".into(),
            message: format!(
                "unknown team `{t}`; the fleet's teams: {}",
                known.join(", ")
            ),
        }]));
    }
    if req.label.len() > 200 {
        return Err(Fail::invalid(vec![Problem {
            field: "label".into(),
            message: "at most 200 bytes".into(),
        }]));
    }
    let secret =
        new_secret().map_err(|e| Fail::new(ErrorCode::Internal, format!("no randomness: {e}")))?;
    let id = hash(&secret);
    app.store
        .add_token(TokenRow {
            sha256: id.clone(),
            team: req.team.clone(),
            label: req.label,
            created_at_s: app.clock.now_s(),
            revoked: false,
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(TokenCreated {
            token: secret,
            id,
            team: req.team,
        }),
    ))
}

/// Every token (admin), without secrets.
#[utoipa::path(
    get, path = "/v1/tokens", tag = "admin",
    responses((status = 200, body = TokenList), (status = 401, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = []))
)]
pub async fn tokens<S: Store>(
    State(app): State<App<S>>,
    headers: HeaderMap,
) -> Result<Json<TokenList>, Fail> {
    app.tokens.principal(&app.store, &headers).await?.admin()?;
    let rows = app.store.tokens(None).await?;
    Ok(Json(TokenList {
        tokens: rows
            .into_iter()
            .map(|r| TokenView {
                id: r.sha256,
                team: r.team,
                label: r.label,
                created_at: rfc3339(r.created_at_s),
                revoked: r.revoked,
            })
            .collect(),
    }))
}

/// Revokes a token (admin); refused within seconds everywhere.
#[utoipa::path(
    delete, path = "/v1/tokens/{id}", tag = "admin",
    params(("id" = String, Path, description = "the token's id (hex SHA-256)",
        pattern = "^[0-9a-fA-F]{64}$")),
    responses((status = 204, description = "revoked"),
        (status = 400, description = "not a token id", body = ApiError), (status = 401, body = ApiError),
        (status = 403, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = []))
)]
pub async fn revoke<S: Store>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, Fail> {
    app.tokens.principal(&app.store, &headers).await?.admin()?;
    let Path(id) = id.map_err(|r| Fail::new(ErrorCode::BadRequest, r.body_text()))?;
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Fail::param("id", "a token id is 64 hex digits"));
    }
    app.store.revoke_token(&id.to_ascii_lowercase()).await?;
    Ok(StatusCode::NO_CONTENT)
}
