//! The crash test: `gigafleet serve` is killed with SIGKILL at random
//! moments during a storm of submissions and cancels, restarted on the same
//! data directory, and the storm goes on. At the end every acknowledged
//! submission exists exactly once (under the id it was acknowledged with),
//! a retried submission never made a second job, no run was reported
//! started twice, and every job reaches an end.
//!
//! 200 kill/restart cycles here (about a minute); `GF_CRASH_CYCLES=1000` for
//! the long run recorded in docs/reliability.md.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Api, Server, fleet_file, job, rt};
use gf_store::Store;

/// A small deterministic generator (xorshift), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn sigkill_during_a_storm_loses_nothing_and_runs_nothing_twice() {
    let cycles: u64 = std::env::var("GF_CRASH_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    // GF_CRASH_KEEP keeps the directory for a post-mortem.
    let tmp = tempfile::tempdir().unwrap();
    let (root, _cleanup) = if std::env::var_os("GF_CRASH_KEEP").is_some() {
        let p = tmp.keep();
        eprintln!("crash test: keeping {}", p.display());
        (p, None)
    } else {
        (tmp.path().to_path_buf(), Some(tmp))
    };
    let fleet = fleet_file(&root);
    let data = root.join("data");
    let args = ["--time-scale", "72000"];
    let mut srv = Server::start(&fleet, &data, &args);
    let admin = srv.admin.clone().unwrap();
    let rt = rt();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Idempotency key -> the id it was acknowledged with.
    let acked: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let mut unacked: Vec<String> = Vec::new();
    let mut cancels_acked = 0u64;
    for cycle in 0..cycles {
        let api = Api::new(&srv.url, Some(&admin));
        let sent: Arc<Mutex<Vec<String>>> = Arc::default();
        let cancelled = Arc::new(Mutex::new(0u64));
        let storm_ms = 5 + rng.below(60);
        let retry: Vec<String> = std::mem::take(&mut unacked);
        rt.block_on(async {
            let mut tasks = Vec::new();
            for t in 0..6u64 {
                let api = api.clone();
                let acked = Arc::clone(&acked);
                let sent = Arc::clone(&sent);
                let cancelled = Arc::clone(&cancelled);
                let retry: Vec<String> =
                    retry.iter().skip(t as usize).step_by(6).cloned().collect();
                tasks.push(tokio::spawn(async move {
                    // First the keys whose answer the last crash swallowed.
                    let fresh = (0..).map(|n| format!("c{cycle}-t{t}-{n}"));
                    for (n, key) in retry.into_iter().chain(fresh).enumerate() {
                        sent.lock().unwrap().push(key.clone());
                        // The team follows from the key, so a retry goes to the same team
                        // (keys are per team).
                        let team = if key.len() % 2 == 0 {
                            "research"
                        } else {
                            "frontier"
                        };
                        let body = job(&format!("j-{key}"), team, 1, 1.0);
                        match api.post("/v1/jobs", &body, Some(&key)).await {
                            Ok((200 | 201, v)) => {
                                let id = v["id"].as_u64().unwrap();
                                {
                                    let mut a = acked.lock().unwrap();
                                    if let Some(&old) = a.get(&key) {
                                        assert_eq!(old, id, "key {key} answered two ids");
                                    }
                                    a.insert(key.clone(), id);
                                }
                                if n % 7 == 3 {
                                    let c = api
                                        .post(
                                            &format!("/v1/jobs/{id}/cancel"),
                                            &serde_json::json!({}),
                                            None,
                                        )
                                        .await;
                                    if let Ok((202 | 409, _)) = c {
                                        *cancelled.lock().unwrap() += 1;
                                    }
                                }
                            }
                            Ok((429 | 503, _)) => {
                                tokio::time::sleep(Duration::from_millis(5)).await
                            }
                            Ok((s, v)) => panic!("submission answered {s}: {v}"),
                            Err(_) => return,
                        }
                    }
                }));
            }
            tokio::time::sleep(Duration::from_millis(storm_ms)).await;
            srv.kill();
            for t in tasks {
                t.await.unwrap();
            }
        });
        cancels_acked += *cancelled.lock().unwrap();
        let a = acked.lock().unwrap();
        unacked = sent
            .lock()
            .unwrap()
            .iter()
            .filter(|k| !a.contains_key(*k))
            .cloned()
            .collect();
        drop(a);
        srv = Server::start(&fleet, &data, &args);
    }

    // Everything acknowledged is there once, under its id; nothing else is
    // there twice.
    let api = Api::new(&srv.url, Some(&admin));
    let acked = acked.lock().unwrap().clone();
    let mut by_key: HashMap<String, Vec<u64>> = HashMap::new();
    let all = rt.block_on(async {
        let t0 = std::time::Instant::now();
        loop {
            let mut jobs = Vec::new();
            let mut cursor = String::new();
            loop {
                let (s, page) = api.get(&format!("/v1/jobs?limit=1000{cursor}")).await;
                assert_eq!(s, 200, "{page}");
                jobs.extend(page["jobs"].as_array().unwrap().iter().cloned());
                match page["next_cursor"].as_str() {
                    Some(c) => cursor = format!("&cursor={c}"),
                    None => break,
                }
            }
            if jobs.iter().all(|j| j["terminal"] == true) {
                return jobs;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "jobs never ended: {:?}",
                jobs.iter()
                    .filter(|j| j["terminal"] != true && j["state"] != "pending")
                    .chain(jobs.iter().filter(|j| j["state"] == "pending"))
                    .take(4)
                    .map(|j| format!(
                        "{} {} attempt {} on {}: {}",
                        j["id"], j["state"], j["attempt"], j["cluster"], j["reason"]
                    ))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    for j in &all {
        let key = j["idempotency_key"]
            .as_str()
            .expect("every job has its key")
            .to_string();
        by_key
            .entry(key)
            .or_default()
            .push(j["id"].as_u64().unwrap());
        assert!(
            matches!(j["state"].as_str(), Some("completed" | "cancelled")),
            "a job ended otherwise: {j}"
        );
    }
    for (k, ids) in &by_key {
        assert_eq!(ids.len(), 1, "key {k} made jobs {ids:?}");
    }
    for (k, id) in &acked {
        assert_eq!(
            by_key.get(k),
            Some(&vec![*id]),
            "acknowledged key {k} (job {id})"
        );
    }
    assert!(
        acked.len() as u64 > cycles,
        "the storm acknowledged too little to test: {}",
        acked.len()
    );
    drop(srv);

    // No run was reported started twice, and no job finished twice.
    let store = gf_store::SqliteStore::open(&data).unwrap();
    let mut started: HashMap<(u64, u32), u32> = HashMap::new();
    let mut finished: HashMap<u64, u32> = HashMap::new();
    let mut after = 0;
    rt.block_on(async {
        loop {
            let recs = store.read_log(after, 5000).await.unwrap();
            if recs.is_empty() {
                break;
            }
            for r in recs {
                after = r.seq;
                if let gf_store::Body::Event(json) = &r.body {
                    let v: serde_json::Value = serde_json::from_str(json).unwrap();
                    let ev = &v["event"];
                    if ev["event"] == "backend" {
                        let run = (
                            ev["run"]["job"].as_u64().unwrap_or(0),
                            ev["run"]["attempt"].as_u64().unwrap_or(0) as u32,
                        );
                        match ev["report"].as_str() {
                            Some("started") => *started.entry(run).or_default() += 1,
                            Some("finished") => *finished.entry(run.0).or_default() += 1,
                            _ => {}
                        }
                    }
                }
            }
        }
    });
    let twice: Vec<_> = started.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "runs started twice: {twice:?}");
    let twice: Vec<_> = finished.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "jobs finished twice: {twice:?}");
    eprintln!(
        "crash test: {cycles} SIGKILL cycles, {} submissions acknowledged, {} jobs stored, {} cancels acknowledged, {} runs started, log of {after} entries",
        acked.len(),
        all.len(),
        cancels_acked,
        started.len()
    );
}
