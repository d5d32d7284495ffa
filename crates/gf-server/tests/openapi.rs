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
