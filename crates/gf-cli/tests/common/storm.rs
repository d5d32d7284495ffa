//! The storm the crash tests run: tasks submitting jobs with idempotency
//! keys (and cancelling some) against one or more servers, while the test
//! kills a server; keys whose answer a kill swallowed are sent again in the
//! next cycle. Then the checks: every acknowledged key exists once under
//! its id, no key made two jobs, every job ends, and no run was reported
//! started twice in the log.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gf_store::Store;
use serde_json::Value;

use super::{Api, job};

/// A small deterministic generator (xorshift), so a failure replays.
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// What the storm sent and what was acknowledged.
pub struct Storm {
    /// Idempotency key -> the id it was acknowledged with.
    pub acked: Arc<Mutex<BTreeMap<String, u64>>>,
    unacked: Vec<String>,
    /// Cancels acknowledged.
    pub cancels: u64,
    pub rng: Rng,
}

impl Storm {
    pub fn new(seed: u64) -> Storm {
        Storm {
            acked: Arc::default(),
            unacked: Vec::new(),
            cancels: 0,
            rng: Rng(seed),
        }
    }

    /// One cycle: six tasks spread over `apis` submit (first the keys the
    /// last kill left unanswered) for a few random milliseconds, then
    /// `kill` runs while requests are in flight.
    pub async fn cycle(&mut self, cycle: u64, apis: &[Api], kill: impl FnOnce()) {
        let sent: Arc<Mutex<Vec<String>>> = Arc::default();
        let cancelled = Arc::new(Mutex::new(0u64));
        let storm_ms = 5 + self.rng.below(60);
        let retry: Vec<String> = self.unacked.drain(..).collect();
        // Set after the kill: tasks on a replica that lives on stop too.
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for t in 0..6u64 {
            let api = apis[t as usize % apis.len()].clone();
            let acked = Arc::clone(&self.acked);
            let sent = Arc::clone(&sent);
            let cancelled = Arc::clone(&cancelled);
            let stop = Arc::clone(&stop);
            let retry: Vec<String> = retry.iter().skip(t as usize).step_by(6).cloned().collect();
            tasks.push(tokio::spawn(async move {
                let fresh = (0..).map(|n| format!("c{cycle}-t{t}-{n}"));
                for (n, key) in retry.into_iter().chain(fresh).enumerate() {
                    if stop.load(Ordering::Relaxed) {
                        // Keys not sent yet go out next cycle.
                        sent.lock().unwrap().push(key);
                        return;
                    }
                    sent.lock().unwrap().push(key.clone());
                    // The team follows from the key, so a retry goes to the
                    // same team (keys are per team).
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
                                let path = format!("/v1/jobs/{id}/cancel");
                                let c = api.post(&path, &serde_json::json!({}), None).await;
                                if let Ok((202 | 409, _)) = c {
                                    *cancelled.lock().unwrap() += 1;
                                }
                            }
                        }
                        Ok((429 | 503, _)) => tokio::time::sleep(Duration::from_millis(5)).await,
                        Ok((s, v)) => panic!("submission answered {s}: {v}"),
                        Err(_) => return,
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(storm_ms)).await;
        kill();
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.unwrap();
        }
        self.cancels += *cancelled.lock().unwrap();
        let a = self.acked.lock().unwrap();
        self.unacked = sent
            .lock()
            .unwrap()
            .iter()
            .filter(|k| !a.contains_key(*k))
            .cloned()
            .collect();
    }

    /// Waits (at most `secs`) until every job has ended, then checks that
    /// every acknowledged key exists once, under its id, and no key made
    /// two jobs. Returns every job.
    pub async fn settle(&self, api: &Api, secs: u64) -> Vec<Value> {
        let t0 = std::time::Instant::now();
        let all = loop {
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
                break jobs;
            }
            let waiting: Vec<String> = jobs
                .iter()
                .filter(|j| j["terminal"] != true)
                .take(4)
                .map(|j| {
                    format!(
                        "{} {} attempt {}: {}",
                        j["id"], j["state"], j["attempt"], j["reason"]
                    )
                })
                .collect();
            assert!(
                t0.elapsed() < Duration::from_secs(secs),
                "jobs never ended: {waiting:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        let mut by_key: HashMap<String, Vec<u64>> = HashMap::new();
        for j in &all {
            let key = j["idempotency_key"]
                .as_str()
                .expect("every job has its key");
            by_key
                .entry(key.to_string())
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
        for (k, id) in self.acked.lock().unwrap().iter() {
            assert_eq!(
                by_key.get(k),
                Some(&vec![*id]),
                "acknowledged key {k} (job {id})"
            );
        }
        all
    }
}

/// Reads the whole log: no run reported started twice, no job finished
/// twice. Returns (runs started, log entries).
pub async fn check_log<S: Store>(store: &S) -> (usize, u64) {
    let mut started: HashMap<(u64, u64), u32> = HashMap::new();
    let mut finished: HashMap<u64, u32> = HashMap::new();
    let mut after = 0;
    loop {
        let recs = store.read_log(after, 5000).await.unwrap();
        if recs.is_empty() {
            break;
        }
        for r in recs {
            after = r.seq;
            let gf_store::Body::Event(json) = &r.body else {
                continue;
            };
            let v: Value = serde_json::from_str(json).unwrap();
            let ev = &v["event"];
            if ev["event"] != "backend" {
                continue;
            }
            let run = (
                ev["run"]["job"].as_u64().unwrap_or(0),
                ev["run"]["attempt"].as_u64().unwrap_or(0),
            );
            match ev["report"].as_str() {
                Some("started") => *started.entry(run).or_default() += 1,
                Some("finished") => *finished.entry(run.0).or_default() += 1,
                _ => {}
            }
        }
    }
    let twice: Vec<_> = started.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "runs started twice: {twice:?}");
    let twice: Vec<_> = finished.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "jobs finished twice: {twice:?}");
    (started.len(), after)
}
