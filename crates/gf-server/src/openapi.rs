//! The OpenAPI 3.1 document of the API, generated from the handlers'
//! annotations and gf-api's types. A test checks it against the committed
//! copy (`openapi.json` at the crate's root), so a change of the wire shows
//! in review.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{admin, events, fleet, jobs, ops, services};

/// The bearer token scheme every `/v1` call uses.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "gigafleet", description = "The control plane of a multi-cloud GPU fleet: jobs, services, the fleet, contracts, teams and tokens, the event stream."),
    paths(
        jobs::submit, jobs::list, jobs::get_one, jobs::cancel, jobs::explain,
        services::create, services::list, services::get_one, services::update, services::delete,
        fleet::fleet, fleet::contracts, fleet::snapshot,
        admin::teams, admin::create_token, admin::tokens, admin::revoke,
        events::stream,
        ops::healthz, ops::readyz, ops::metrics, ops::openapi,
    ),
    modifiers(&Bearer),
    tags(
        (name = "jobs", description = "training jobs"),
        (name = "services", description = "inference services"),
        (name = "fleet", description = "the fleet, its contracts, snapshots for the twin"),
        (name = "admin", description = "teams and tokens"),
        (name = "events", description = "the event log as server-sent events"),
        (name = "ops", description = "health, readiness, metrics, this document"),
    )
)]
struct ApiDoc;

/// The document as pretty JSON.
pub fn document() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serialises")
}
