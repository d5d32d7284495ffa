//! `gigafleet serve` end to end on the embedded simulated backend: jobs
//! submitted with the CLI run to completion, `explain` says why a blocked
//! job waits, cancel frees its room, teams see only their own work, bad
//! input is a 4xx naming the field, and a SIGKILLed server comes back with
//! everything it acknowledged.

mod common;

use std::process::Command;

use common::{Api, Server, fleet_file, job, rt};
use serde_json::Value;

fn cli(srv: &Server, token: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gigafleet"))
        .args(args)
        .args(["--server", &srv.url, "--token", token])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn jobs_submitted_with_the_cli_run_to_completion_and_explain_says_why_one_waits() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = fleet_file(tmp.path());
    let data = tmp.path().join("data");
    let srv = Server::start(&fleet, &data, &["--time-scale", "36000"]);
    let admin = srv.admin.clone().expect("an admin token at first start");
    let (ok, token, err) = cli(
        &srv,
        &admin,
        &["token", "create", "--team", "research", "--label", "t"],
    );
    assert!(ok, "{err}");
    let token = token.trim().to_string();

    // A gang that fills the big cluster for a long time, and one that then
    // cannot fit anywhere but the small one, which a third fills.
    let jobs = tmp.path().join("jobs.toml");
    std::fs::write(
        &jobs,
        r#"version = 1
[[job]]
name = "quick"
team = "research"
gpus = 8
accelerators = ["h100"]
work_gpu_hours = 80.0
"#,
    )
    .unwrap();
    let (ok, out, err) = cli(&srv, &token, &["submit", jobs.to_str().unwrap(), "--json"]);
    assert!(ok, "{err}");
    let done: Vec<Value> = serde_json::from_str(&out).unwrap();
    let quick = done[0]["id"].as_u64().unwrap();

    let api = Api::new(&srv.url, Some(&token));
    let rt = rt();
    let v = rt.block_on(api.wait_job(quick, 60, |v| v["state"] == "completed"));
    assert_eq!(v["attempt"], 1, "{v}");
    assert!(v["done_gpu_hours"].as_f64().unwrap() >= 0.0);
    // Its record has left the controller (its row is written): the store
    // answers for it, in the same words.
    let url = format!("{}/metrics", srv.url);
    let held = |text: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix("gigafleet_job_records_held "))
            .map(|v| v.trim().to_string())
    };
    let mut last = None;
    for _ in 0..100 {
        let text = rt.block_on(async { reqwest::get(&url).await.unwrap().text().await.unwrap() });
        last = held(&text);
        if last.as_deref() == Some("0") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        last.as_deref(),
        Some("0"),
        "an ended job's record is still held"
    );
    let (ok, out, err) = cli(&srv, &token, &["explain", &quick.to_string(), "--json"]);
    assert!(ok, "{err}");
    let e: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(e["state"], "completed", "{e}");
    assert!(
        e["summary"]
            .as_str()
            .is_some_and(|s| s.starts_with("it ended completed")),
        "{e}"
    );

    // Fill both clusters (the big one with another team's gang), then a
    // job that must wait.
    let a = Api::new(&srv.url, Some(&admin));
    let (s, big) = rt
        .block_on(a.post("/v1/jobs", &job("hog-big", "frontier", 32, 1e9), None))
        .unwrap();
    assert_eq!(s, 201, "{big}");
    let (s, small) = rt
        .block_on(api.post("/v1/jobs", &job("hog-small", "research", 16, 1e9), None))
        .unwrap();
    assert_eq!(s, 201, "{small}");
    let big = big["id"].as_u64().unwrap();
    let small = small["id"].as_u64().unwrap();
    rt.block_on(a.wait_job(big, 30, |v| v["state"] == "running"));
    rt.block_on(api.wait_job(small, 30, |v| v["state"] == "running"));
    let (_, blocked) = rt
        .block_on(api.post("/v1/jobs", &job("blocked", "research", 8, 80.0), None))
        .unwrap();
    let blocked = blocked["id"].as_u64().unwrap();
    rt.block_on(api.wait_job(blocked, 30, |v| {
        v["state"] == "pending"
            && v["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("no fit"))
    }));
    let (ok, out, err) = cli(&srv, &token, &["explain", &blocked.to_string()]);
    assert!(ok, "{err}");
    assert!(out.contains("waits"), "{out}");
    assert!(out.contains("clusters:"), "the causes, counted: {out}");
    let (ok, out, _) = cli(&srv, &token, &["explain", &blocked.to_string(), "--json"]);
    assert!(ok);
    let e: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(e["considered"], 2, "{e}");
    assert!(!e["causes"].as_array().unwrap().is_empty(), "{e}");

    // The research token sees its own jobs only.
    let (s, e) = rt.block_on(api.get(&format!("/v1/jobs/{big}")));
    assert_eq!(s, 403, "{e}");
    let (ok, _, err) = cli(&srv, &token, &["cancel", &big.to_string()]);
    assert!(!ok && err.contains("another team"), "{err}");

    // Cancelling its own hog frees the room: the blocked job runs and
    // finishes.
    let (ok, _, err) = cli(&srv, &token, &["cancel", &small.to_string()]);
    assert!(ok, "{err}");
    rt.block_on(api.wait_job(small, 30, |v| v["state"] == "cancelled"));
    rt.block_on(api.wait_job(blocked, 60, |v| v["state"] == "completed"));

    let (ok, out, err) = cli(&srv, &token, &["status", "--all"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("completed") && out.contains("cancelled"),
        "{out}"
    );
    assert!(!out.contains("hog-big"), "another team's job listed: {out}");
}

#[test]
fn bad_requests_are_4xx_naming_the_field_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = fleet_file(tmp.path());
    let srv = Server::start(&fleet, &tmp.path().join("data"), &[]);
    let admin = srv.admin.clone().unwrap();
    let rt = rt();
    let a = Api::new(&srv.url, Some(&admin));
    let anon = Api::new(&srv.url, None);
    rt.block_on(async {
        let (s, _) = anon.get("/v1/jobs").await;
        assert_eq!(s, 401);
        let (s, e) = Api::new(&srv.url, Some("gf_nope")).get("/v1/jobs").await;
        assert_eq!(s, 401, "{e}");
        let r = a
            .http
            .post(format!("{}/v1/jobs", srv.url))
            .bearer_auth(&admin)
            .body("{\"bad json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400);
        let mut j = job("x", "research", 0, 10.0);
        j["colour"] = "red".into();
        let (s, e) = a.post("/v1/jobs", &j, None).await.unwrap();
        assert_eq!(s, 422, "{e}");
        let fields: Vec<&str> = e["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["field"].as_str().unwrap())
            .collect();
        assert!(
            fields.contains(&"gpus") && fields.contains(&"colour"),
            "{e}"
        );
        // Over the team's quota of 24 H100: could never start.
        let (s, e) = a
            .post("/v1/jobs", &job("huge", "research", 32, 10.0), None)
            .await
            .unwrap();
        assert_eq!(s, 422, "{e}");
        assert!(e["message"].as_str().unwrap().contains("quota"), "{e}");
        let big = "x".repeat(2 << 20);
        let r = a
            .http
            .post(format!("{}/v1/jobs", srv.url))
            .bearer_auth(&admin)
            .body(big)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 413);
        // The server closed that connection: a new client for the rest.
        let a = Api::new(&srv.url, Some(&admin));
        let (s, e) = a.get("/v1/nope").await;
        assert_eq!((s, e["code"].as_str()), (404, Some("not_found")));
        let (s, _) = a.get("/v1/jobs/abc").await;
        assert_eq!(s, 400);
        let (s, _) = a.get("/v1/jobs?limit=0").await;
        assert_eq!(s, 400);
        let (s, _) = a.get("/v1/jobs?colour=red").await;
        assert_eq!(s, 400);
        let (s, v) = a.get("/v1/jobs").await;
        assert_eq!(s, 200);
        assert_eq!(
            v["jobs"].as_array().unwrap().len(),
            0,
            "a rejected request stored nothing: {v}"
        );
    });
}

#[test]
fn a_sigkilled_server_restarts_with_every_acknowledged_job_and_idempotency_holds() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = fleet_file(tmp.path());
    let data = tmp.path().join("data");
    let mut srv = Server::start(&fleet, &data, &["--time-scale", "3600"]);
    let admin = srv.admin.clone().unwrap();
    let rt = rt();
    let a = Api::new(&srv.url, Some(&admin));
    let (s, first) = rt
        .block_on(a.post("/v1/jobs", &job("a", "research", 8, 1e6), Some("key-1")))
        .unwrap();
    assert_eq!(s, 201);
    let (s, again) = rt
        .block_on(a.post("/v1/jobs", &job("a", "research", 8, 1e6), Some("key-1")))
        .unwrap();
    assert_eq!(s, 200, "a retry with the same key: {again}");
    assert_eq!(first["id"], again["id"]);
    let id = first["id"].as_u64().unwrap();
    rt.block_on(a.wait_job(id, 30, |v| v["state"] == "running"));
    srv.kill();

    let srv = Server::start(&fleet, &data, &["--time-scale", "3600"]);
    assert!(
        srv.admin.is_none(),
        "the admin token is printed at first start only"
    );
    let a = Api::new(&srv.url, Some(&admin));
    let (s, v) = rt.block_on(a.get(&format!("/v1/jobs/{id}")));
    assert_eq!(s, 200);
    assert_eq!(
        v["state"], "running",
        "the rebuilt world still runs it: {v}"
    );
    assert_eq!(v["attempt"], 1, "not started a second time: {v}");
    let (s, again) = rt
        .block_on(a.post("/v1/jobs", &job("a", "research", 8, 1e6), Some("key-1")))
        .unwrap();
    assert_eq!((s, &again["id"]), (200, &first["id"]));
    let (_, all) = rt.block_on(a.get("/v1/jobs"));
    assert_eq!(all["jobs"].as_array().unwrap().len(), 1);
}

#[test]
fn a_service_is_sized_to_its_demand_resized_and_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = fleet_file(tmp.path());
    let srv = Server::start(&fleet, &tmp.path().join("data"), &["--time-scale", "36000"]);
    let a = Api::new(&srv.url, srv.admin.as_deref());
    let rt = rt();
    rt.block_on(async {
        let body = serde_json::json!({
            "name": "chat", "team": "frontier", "model": "m", "gpus_per_replica": 8,
            "throughput": {"h100": 10.0}, "demand": [{"zone": "us-east", "rps": 15.0}],
            "latency_slo_ms": 500.0
        });
        let (s, v) = a.post("/v1/services", &body, None).await.unwrap();
        assert_eq!(s, 201, "{v}");
        let id = v["id"].as_u64().unwrap();
        let replicas = |want: u64| {
            let a = a.clone();
            async move {
                let t0 = std::time::Instant::now();
                loop {
                    let (_, v) = a.get(&format!("/v1/services/{id}")).await;
                    if v["status"]["replicas"].as_u64() == Some(want) {
                        return v;
                    }
                    assert!(t0.elapsed().as_secs() < 30, "never {want} replicas: {v}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        };
        // 15 rps x 1.15 headroom at 10 rps a replica.
        replicas(2).await;
        let (s, v) = a
            .http
            .put(format!("{}/v1/services/{id}", srv.url))
            .bearer_auth(srv.admin.as_deref().unwrap())
            .json(&serde_json::json!({"demand": [{"zone": "us-east", "rps": 5.0}]}))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .map(|s| (s, ()))
            .unwrap();
        assert_eq!(s, 200, "{v:?}");
        replicas(1).await;
        let r = a
            .http
            .delete(format!("{}/v1/services/{id}", srv.url))
            .bearer_auth(srv.admin.as_deref().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let v = replicas(0).await;
        assert_eq!(v["deleted"], true, "{v}");
        let (s, e) = a
            .post("/v1/services", &serde_json::json!({"name": "x"}), None)
            .await
            .unwrap();
        assert_eq!(s, 422, "{e}");
    });
}
