//! A `gigafleet serve` process for the control plane's tests: started on a
//! free loopback port with a data directory, its address and first-start
//! admin token read from what it prints, killed with SIGKILL when asked
//! (and always when dropped), and an HTTP client to talk to it.

#![allow(dead_code)]

pub mod storm;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// A small fleet: two providers with one H100 cluster each (16 and 32
/// GPUs), teams `research` (quota 24 H100) and `frontier`.
pub const FLEET: &str = r#"
version = 1

[[team]]
name = "research"
max_priority = 600
quota = { h100 = 24 }

[[team]]
name = "frontier"
max_priority = 1000

[[provider]]
name = "aws"
[[provider.region]]
name = "us-east-1"
power_mw = 5
zone = "us-east"
[[provider.region.cluster]]
name = "small"
accelerator = "h100"
domains = 2
price = { model = "on-demand", usd_per_gpu_hour = 2.0 }

[[provider]]
name = "gcp"
[[provider.region]]
name = "us-central1"
power_mw = 5
zone = "us-central"
[[provider.region.cluster]]
name = "big"
accelerator = "h100"
domains = 4
price = { model = "on-demand", usd_per_gpu_hour = 3.0 }

[scenario]
start = "2026-01-01"
horizon_days = 30
[scenario.failures]
gpu_interruptions_per_gpu_day = 0.0
domain_failures_per_domain_year = 0.0
cluster_outages_per_year = 0.0
region_outages_per_year = 0.0
"#;

/// Writes the fleet above into `dir` and returns its path.
pub fn fleet_file(dir: &Path) -> PathBuf {
    let p = dir.join("fleet.toml");
    std::fs::write(&p, FLEET).unwrap();
    p
}

/// A running server.
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The admin token, printed at first start only.
    pub admin: Option<String>,
    /// Its stderr lines after the address (a thread keeps draining them).
    pub log: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `gigafleet serve` on `fleet` with state in `data` and waits
    /// until it listens.
    pub fn start(fleet: &Path, data: &Path, extra: &[&str]) -> Server {
        let data = data.to_str().unwrap();
        Server::start_on(fleet, &["--data-dir", data], extra)
    }

    /// Starts `gigafleet serve` on `fleet` with `store` (`--data-dir DIR` or
    /// `--database URL`) and waits until it listens.
    pub fn start_on(fleet: &Path, store: &[&str], extra: &[&str]) -> Server {
        Server::start_env(fleet, store, extra, &[])
    }

    /// Like [`Server::start_on`], with variables added to its environment.
    pub fn start_env(
        fleet: &Path,
        store: &[&str],
        extra: &[&str],
        vars: &[(&str, &str)],
    ) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gigafleet"))
            .envs(vars.iter().copied())
            .arg("serve")
            .arg("--fleet")
            .arg(fleet)
            .args(store)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("gigafleet runs");
        let err = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut admin = None;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                let _ = child.kill();
                let _ = child.wait();
                panic!("serve did not start listening within 60 s");
            };
            if let Some(t) = line.strip_prefix("gigafleet: admin token (shown once, keep it): ") {
                admin = Some(t.trim().to_string());
            }
            if let Some(a) = line.strip_prefix("gigafleet: listening on ") {
                return Server {
                    child: Some(child),
                    url: a.trim().to_string(),
                    admin,
                    log: rx,
                };
            }
        }
    }

    /// Waits at most `secs` for it to exit by itself; whether it did.
    pub fn exited(&mut self, secs: u64) -> bool {
        let Some(c) = self.child.as_mut() else {
            return true;
        };
        let end = std::time::Instant::now() + Duration::from_secs(secs);
        while std::time::Instant::now() < end {
            if let Ok(Some(_)) = c.try_wait() {
                self.child = None;
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Kills it with SIGKILL, at once, wherever it is.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A tokio runtime for a test's HTTP calls.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// An HTTP client for one server and token.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub url: String,
    pub token: Option<String>,
}

impl Api {
    pub fn new(url: &str, token: Option<&str>) -> Api {
        Api {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            url: url.to_string(),
            token: token.map(str::to_string),
        }
    }

    fn req(&self, m: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(m, format!("{}{path}", self.url));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// GET, the status and JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.req(reqwest::Method::GET, path).send().await.unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// POST JSON, the status and JSON body.
    pub async fn post(
        &self,
        path: &str,
        body: &Value,
        key: Option<&str>,
    ) -> reqwest::Result<(u16, Value)> {
        let mut r = self.req(reqwest::Method::POST, path).json(body);
        if let Some(k) = key {
            r = r.header("Idempotency-Key", k);
        }
        let r = r.send().await?;
        let s = r.status().as_u16();
        Ok((s, r.json().await.unwrap_or(Value::Null)))
    }

    /// Polls a job until `done` holds of it, for at most `secs`.
    pub async fn wait_job(&self, id: u64, secs: u64, done: impl Fn(&Value) -> bool) -> Value {
        let t0 = std::time::Instant::now();
        loop {
            let (_, v) = self.get(&format!("/v1/jobs/{id}")).await;
            if done(&v) {
                return v;
            }
            assert!(
                t0.elapsed().as_secs() < secs,
                "job {id} never got there: {v}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A job body.
pub fn job(name: &str, team: &str, gpus: u32, work_gpu_hours: f64) -> Value {
    serde_json::json!({
        "name": name, "team": team, "gpus": gpus,
        "accelerators": ["h100"], "work_gpu_hours": work_gpu_hours,
    })
}
