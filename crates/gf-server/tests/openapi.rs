//! The OpenAPI document the server serves at `/openapi.json` is the
//! committed `openapi.json`: a change of the wire shows in review. After an
//! intended change, refresh it with `UPDATE_EXPECT=1 cargo test -p
//! gf-server --test openapi`.

#[test]
fn the_served_document_is_the_committed_one() {
    let doc = gf_server::openapi::document();
    expect_test::expect_file!["../openapi.json"].assert_eq(&format!("{doc}\n"));
}

#[test]
fn it_is_openapi_3_1_and_describes_every_v1_resource() {
    let v: serde_json::Value = serde_json::from_str(&gf_server::openapi::document()).unwrap();
    assert!(
        v["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        v["openapi"]
    );
    let paths = v["paths"].as_object().unwrap();
    for p in [
        "/v1/jobs",
        "/v1/jobs/{id}",
        "/v1/jobs/{id}/cancel",
        "/v1/jobs/{id}/explain",
        "/v1/services",
        "/v1/services/{id}",
        "/v1/fleet",
        "/v1/contracts",
        "/v1/snapshot",
        "/v1/teams",
        "/v1/tokens",
        "/v1/tokens/{id}",
        "/v1/events",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(paths.contains_key(p), "{p} is not described");
    }
    assert!(v["components"]["securitySchemes"]["bearer"].is_object());
}

/// The operation object of `method path` in the served document.
fn operation(method: &str, path: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&gf_server::openapi::document()).unwrap();
    v["paths"][path][method].clone()
}

/// Found by schemathesis: `horizon_days` was documented as a required path
/// parameter (there is no such path segment) without its range, so the
/// fuzzer's out-of-range values looked accepted.
#[test]
fn snapshot_horizon_days_is_an_optional_query_parameter_from_1_to_3650() {
    let op = operation("get", "/v1/snapshot");
    let p = op["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "horizon_days")
        .unwrap()
        .clone();
    assert_eq!(p["in"], "query", "{p}");
    assert_ne!(p["required"], true, "{p}");
    assert_eq!(p["schema"]["minimum"], 1, "{p}");
    assert_eq!(p["schema"]["maximum"], 3650, "{p}");
}

/// Found by schemathesis: `DELETE /v1/tokens/{id}` answers 400 for an id
/// that is not 64 hex digits, a status the document did not list.
#[test]
fn revoking_documents_400_for_an_id_that_is_not_64_hex_digits() {
    let op = operation("delete", "/v1/tokens/{id}");
    assert!(op["responses"]["400"].is_object(), "{op}");
    let id = &op["parameters"][0];
    assert_eq!(id["schema"]["pattern"], "^[0-9a-fA-F]{64}$", "{id}");
}
