//! `gigafleet bench ingest`: acknowledged durable job submissions per
//! second through the HTTP API, the whole path measured on one machine,
//! load generator included.
//!
//! The server runs in this process (`gf_server::serve_on`, the very code
//! `serve` runs: auth, the fleet-file reader, the durable store, the
//! reconcile loop) on its own runtime, on a fresh store: a temporary SQLite
//! data directory, or a fresh database on the PostgreSQL server that
//! `--database` names. A load generator on a second runtime keeps N HTTP/1.1
//! keep-alive connections busy, each request a new job with its own
//! `Idempotency-Key`, and times every request. Group commit (the store's
//! default) and one transaction per submission (`max_group = 1`) are
//! measured in the same run, one after the other. After each, the server
//! is stopped, the store reopened, and its jobs counted: the run fails
//! unless the store holds exactly the submissions that were acknowledged.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use gf_server::{ServeConfig, StoreConfig};
use gf_store::{JobQuery, Store, TokenRow};
use serde::Serialize;
use tokio::runtime::Runtime;

use crate::out::outln;

/// Benchmarks of the live control plane.
#[derive(Subcommand)]
pub enum BenchCmd {
    /// Durable job submissions per second through the HTTP API, with
    /// latency: group commit against one transaction per submission.
    Ingest(IngestArgs),
}

#[derive(Args)]
pub struct IngestArgs {
    /// The fleet the server runs.
    #[arg(long, default_value = "examples/multicloud-2026.toml")]
    fleet: String,
    /// Measure PostgreSQL at this URL (postgres://USER@HOST:PORT/DB); each
    /// configuration gets a fresh database on that server, dropped after.
    /// Without it, SQLite in a temporary data directory.
    #[arg(long)]
    database: Option<String>,
    /// Where SQLite's temporary data directories go (default: the system's
    /// temporary directory); it should be the disk a real server would use.
    #[arg(long, conflicts_with = "database")]
    tmp_dir: Option<PathBuf>,
    /// Concurrent keep-alive HTTP connections, one request in flight each.
    #[arg(long, default_value_t = 128)]
    connections: usize,
    /// Seconds of load per configuration.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Submissions per configuration instead of a duration.
    #[arg(long)]
    count: Option<u64>,
    /// Worker threads of the server's runtime.
    #[arg(long, default_value_t = 2)]
    server_threads: usize,
    /// Worker threads of the load generator's runtime.
    #[arg(long, default_value_t = 2)]
    client_threads: usize,
    /// Measure only group commit (no baseline, no ratio).
    #[arg(long)]
    no_baseline: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// One configuration's figures.
#[derive(Debug, Serialize)]
struct Figures {
    /// `group_commit` or `one_tx_each`.
    config: &'static str,
    /// The store's `max_group` (`null`: its default).
    max_group: Option<usize>,
    /// Submissions answered 201.
    acknowledged: u64,
    /// Requests answered otherwise, or that failed.
    errors: u64,
    /// The first error seen, if any.
    first_error: Option<String>,
    /// Wall seconds from the first request to the last answer.
    seconds: f64,
    /// Acknowledged submissions per second.
    per_second: f64,
    /// Latency percentiles of acknowledged submissions, milliseconds.
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    max_ms: f64,
    /// Jobs the reopened store holds after the server stopped.
    stored: u64,
}

#[derive(Debug, Serialize)]
struct Report {
    store: &'static str,
    fleet: String,
    connections: usize,
    server_threads: usize,
    client_threads: usize,
    runs: Vec<Figures>,
    /// Group commit's submissions/s over the baseline's.
    ratio: Option<f64>,
}

pub fn run(cmd: BenchCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        BenchCmd::Ingest(a) => ingest(a),
    }
}

fn ingest(a: IngestArgs) -> anyhow::Result<ExitCode> {
    if a.connections == 0 || a.connections > 10_000 {
        bail!("--connections must be from 1 to 10000");
    }
    if !(a.duration.is_finite() && a.duration > 0.0 && a.duration <= 3600.0) {
        bail!("--duration must be a number of seconds in (0, 3600]");
    }
    if a.count == Some(0) {
        bail!("--count must be at least 1");
    }
    if a.server_threads == 0 || a.client_threads == 0 {
        bail!("--server-threads and --client-threads must be at least 1");
    }
    let src = std::fs::read_to_string(&a.fleet)
        .with_context(|| format!("cannot read the fleet file {}", a.fleet))?;
    let doc = match gf_model::parse_document(&a.fleet, &src) {
        Ok(d) => d,
        Err(ds) => {
            for d in ds {
                eprintln!("{d}");
            }
            return Ok(ExitCode::from(2));
        }
    };
    let Some(team) = doc.teams.first().map(|t| t.name.clone()) else {
        bail!(
            "{}: the fleet has no [[team]]; the benchmark submits as its first team",
            a.fleet
        );
    };
    let topo = gf_sched::Topology::from_document(&doc);
    let Some(accel) = topo.accels.first().map(|x| x.name.clone()) else {
        bail!("{}: the fleet has no cluster to submit to", a.fleet);
    };
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.client_threads)
        .enable_all()
        .build()
        .context("cannot start the load generator's runtime")?;
    let mut configs = vec![("group_commit", None)];
    if !a.no_baseline {
        configs.push(("one_tx_each", Some(1)));
    }
    let mut runs = Vec::new();
    for (i, &(name, max_group)) in configs.iter().enumerate() {
        let load = Load {
            team: team.clone(),
            accel: accel.clone(),
            connections: a.connections,
            duration: Duration::from_secs_f64(a.duration),
            count: a.count,
        };
        let f = measure(&a, &src, &client_rt, name, max_group, i, &load)?;
        eprintln!(
            "bench ingest: {name}: {} acknowledged in {:.2} s",
            f.acknowledged, f.seconds
        );
        runs.push(f);
    }
    let ratio = match runs.as_slice() {
        [g, b] if b.per_second > 0.0 => Some(g.per_second / b.per_second),
        _ => None,
    };
    let report = Report {
        store: if a.database.is_some() {
            "postgres"
        } else {
            "sqlite"
        },
        fleet: a.fleet.clone(),
        connections: a.connections,
        server_threads: a.server_threads,
        client_threads: a.client_threads,
        runs,
        ratio,
    };
    print(&report, a.json)?;
    if let Some(f) = report.runs.iter().find(|f| f.stored != f.acknowledged) {
        bail!(
            "{}: {} submissions were acknowledged but the store holds {} jobs",
            f.config,
            f.acknowledged,
            f.stored
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn print(r: &Report, json: bool) -> anyhow::Result<()> {
    if json {
        outln!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    outln!(
        "ingest through HTTP into {} ({}), {} connections, server {} threads, load generator {} threads",
        r.store,
        r.fleet,
        r.connections,
        r.server_threads,
        r.client_threads
    );
    outln!(
        "{:<14} {:>9} {:>7} {:>8} {:>10} {:>8} {:>8} {:>9} {:>8} {:>9}",
        "config",
        "acked",
        "errors",
        "seconds",
        "subs/s",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "stored"
    );
    for f in &r.runs {
        outln!(
            "{:<14} {:>9} {:>7} {:>8.2} {:>10.0} {:>8.2} {:>8.2} {:>9.2} {:>8.2} {:>9}",
            f.config,
            f.acknowledged,
            f.errors,
            f.seconds,
            f.per_second,
            f.p50_ms,
            f.p99_ms,
            f.p999_ms,
            f.max_ms,
            f.stored
        );
        if let Some(e) = &f.first_error {
            outln!("  first error: {e}");
        }
    }
    if let Some(x) = r.ratio {
        outln!("ratio (group commit / one transaction each): {x:.1}x");
    }
    Ok(())
}

/// What the load generator sends.
struct Load {
    team: String,
    accel: String,
    connections: usize,
    duration: Duration,
    count: Option<u64>,
}

/// Where one configuration's state goes, and how it is cleaned up.
enum Place {
    Dir(tempfile::TempDir),
    Pg { admin_url: String, db: String },
}

impl Place {
    fn store(&self) -> StoreConfig {
        match self {
            Place::Dir(d) => StoreConfig::DataDir(d.path().to_path_buf()),
            Place::Pg { admin_url, db } => StoreConfig::Postgres(db_url(admin_url, db)),
        }
    }
}

/// The URL of database `db` on the server `url` names.
fn db_url(url: &str, db: &str) -> String {
    let (base, _) = url.rsplit_once('/').unwrap_or((url, ""));
    format!("{base}/{db}")
}

/// Runs SQL statements one at a time (CREATE and DROP DATABASE refuse to
/// run in a transaction) on the database `url` names.
async fn pg_admin(url: &str, sqls: &[String]) -> anyhow::Result<()> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("cannot connect to PostgreSQL at {url}"))?;
    let task = tokio::spawn(conn);
    for sql in sqls {
        client
            .batch_execute(sql)
            .await
            .with_context(|| format!("PostgreSQL refused `{sql}`"))?;
    }
    drop(client);
    let _ = task.await;
    Ok(())
}

/// One configuration: a fresh store, the server on it, the load, then the
/// count of what the store holds.
fn measure(
    a: &IngestArgs,
    src: &str,
    client_rt: &Runtime,
    name: &'static str,
    max_group: Option<usize>,
    index: usize,
    load: &Load,
) -> anyhow::Result<Figures> {
    let place = match &a.database {
        Some(url) => {
            let db = format!("gf_bench_ingest_{}_{index}", std::process::id());
            client_rt.block_on(pg_admin(
                url,
                &[
                    format!("DROP DATABASE IF EXISTS {db}"),
                    format!("CREATE DATABASE {db}"),
                ],
            ))?;
            Place::Pg {
                admin_url: url.clone(),
                db,
            }
        }
        None => {
            let parent = a.tmp_dir.clone().unwrap_or_else(std::env::temp_dir);
            Place::Dir(
                tempfile::Builder::new()
                    .prefix("gf-bench-ingest-")
                    .tempdir_in(&parent)
                    .with_context(|| {
                        format!("cannot make a data directory in {}", parent.display())
                    })?,
            )
        }
    };
    let result = measure_on(a, src, client_rt, name, max_group, &place, load);
    if let Place::Pg { admin_url, db } = &place {
        let dropped = client_rt.block_on(pg_admin(
            admin_url,
            &[format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")],
        ));
        if let Err(e) = dropped {
            eprintln!("bench ingest: could not drop the database {db}: {e:#}");
        }
    }
    result
}

fn measure_on(
    a: &IngestArgs,
    src: &str,
    client_rt: &Runtime,
    name: &'static str,
    max_group: Option<usize>,
    place: &Place,
    load: &Load,
) -> anyhow::Result<Figures> {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.server_threads)
        .enable_all()
        .build()
        .context("cannot start the server's runtime")?;
    let store_cfg = place.store();
    // A team token, written into the store before the server starts (the
    // store keeps only its hash, as `token create` would).
    let secret = gf_server::auth::new_secret()
        .map_err(|e| anyhow::anyhow!("no randomness for a token: {e}"))?;
    let row = TokenRow {
        sha256: gf_server::auth::hash(&secret),
        team: Some(load.team.clone()),
        label: "bench ingest".into(),
        created_at_s: 0,
        revoked: false,
    };
    server_rt.block_on(with_store(&store_cfg, |s| async move {
        s.add_token(row).await.map_err(anyhow::Error::from)
    }))?;

    let mut cfg = ServeConfig::new(a.fleet.clone(), src.to_string(), store_cfg.clone());
    cfg.store_max_group = max_group;
    let listener = server_rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .context("cannot listen on 127.0.0.1")?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    // The server runs on its runtime from a thread of its own, as `serve`
    // runs it from the main thread.
    let server_rt = Arc::new(server_rt);
    let server = {
        let rt = Arc::clone(&server_rt);
        std::thread::spawn(move || {
            rt.block_on(gf_server::serve_on(cfg, listener, async move {
                let _ = stop_rx.await;
            }))
        })
    };
    let base = format!("http://{addr}");

    let outcome = client_rt.block_on(async {
        ready(&base).await?;
        drive(&base, &secret, load).await
    });
    let _ = stop_tx.send(());
    match server.join() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => bail!("the server failed: {e}"),
        Err(_) => bail!("the server's thread panicked"),
    }
    let mut out = outcome?;
    // Every clone of the server's store is gone with the server: this
    // reopens the store and counts what it holds.
    out.stored = server_rt.block_on(with_store(&store_cfg, |s| async move { count(&s).await }))?;
    out.config = name;
    out.max_group = max_group;
    Ok(out)
}

/// Opens the configured store, runs `f` on it, closes it.
async fn with_store<T, F, Fut>(cfg: &StoreConfig, f: F) -> anyhow::Result<T>
where
    F: FnOnce(StoreAny) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let s = match cfg {
        StoreConfig::DataDir(d) => StoreAny::Sqlite(gf_store::SqliteStore::open(d)?),
        StoreConfig::Postgres(u) => StoreAny::Pg(gf_store::PgStore::connect(u).await?),
    };
    f(s).await
}

/// Either store, for the few calls the benchmark makes itself.
enum StoreAny {
    Sqlite(gf_store::SqliteStore),
    Pg(gf_store::PgStore),
}

impl StoreAny {
    async fn add_token(&self, t: TokenRow) -> Result<(), gf_store::StoreError> {
        match self {
            StoreAny::Sqlite(s) => s.add_token(t).await,
            StoreAny::Pg(s) => s.add_token(t).await,
        }
    }

    async fn jobs(&self, q: JobQuery) -> Result<Vec<gf_store::JobRow>, gf_store::StoreError> {
        match self {
            StoreAny::Sqlite(s) => s.jobs(q).await,
            StoreAny::Pg(s) => s.jobs(q).await,
        }
    }
}

/// Jobs in the store, a page at a time.
async fn count(s: &StoreAny) -> anyhow::Result<u64> {
    let mut n = 0u64;
    let mut after = None;
    loop {
        let page = s
            .jobs(JobQuery {
                team: None,
                state: None,
                terminal: None,
                after,
                limit: 1000,
            })
            .await?;
        n += page.len() as u64;
        match page.last() {
            Some(j) if page.len() == 1000 => after = Some(j.id),
            _ => return Ok(n),
        }
    }
}

/// Waits until the server answers `/readyz` (the loop has restored).
async fn ready(base: &str) -> anyhow::Result<()> {
    let c = reqwest::Client::new();
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = c.get(format!("{base}/readyz")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > until {
            bail!("the in-process server was not ready within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What one connection's task saw.
#[derive(Default)]
struct Seen {
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

/// Keeps `load.connections` requests in flight until the duration has
/// passed or the count has been sent.
async fn drive(base: &str, secret: &str, load: &Load) -> anyhow::Result<Figures> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(load.connections)
        .timeout(Duration::from_secs(120))
        .build()
        .context("cannot build the HTTP client")?;
    let url: Arc<str> = format!("{base}/v1/jobs").into();
    let auth: Arc<str> = format!("Bearer {secret}").into();
    let issued = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    // A distinct prefix per run, so keys never repeat across runs.
    let run = gf_server::auth::new_secret()
        .map_err(|e| anyhow::anyhow!("no randomness for keys: {e}"))?;
    let start = Instant::now();
    let deadline = start + load.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..load.connections {
        let (client, url, auth, issued, stop) = (
            client.clone(),
            Arc::clone(&url),
            Arc::clone(&auth),
            Arc::clone(&issued),
            Arc::clone(&stop),
        );
        let (run, accel, count) = (run.clone(), load.accel.clone(), load.count);
        tasks.spawn(async move {
            let mut seen = Seen::default();
            loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let i = issued.fetch_add(1, Ordering::Relaxed);
                if count.is_some_and(|c| i >= c) {
                    break;
                }
                if count.is_none() && Instant::now() >= deadline {
                    stop.store(true, Ordering::Relaxed);
                    break;
                }
                let body = format!(
                    r#"{{"name":"bench-{i}","gpus":8,"accelerators":["{accel}"],"work_gpu_hours":100.0,"priority":5}}"#
                );
                let t0 = Instant::now();
                let r = client
                    .post(&*url)
                    .header("authorization", &*auth)
                    .header("idempotency-key", format!("{run}-{i}"))
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                let outcome = match r {
                    Ok(r) if r.status().as_u16() == 201 => r.bytes().await.map(|_| None),
                    Ok(r) => {
                        let status = r.status();
                        r.text().await.map(|t| Some(format!("{status}: {t}")))
                    }
                    Err(e) => Ok(Some(e.to_string())),
                };
                let us = t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                match outcome {
                    Ok(None) => seen.latencies_us.push(us),
                    Ok(Some(e)) => {
                        seen.errors += 1;
                        seen.first_error.get_or_insert(e);
                    }
                    Err(e) => {
                        seen.errors += 1;
                        seen.first_error.get_or_insert(e.to_string());
                    }
                }
            }
            seen
        });
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    while let Some(r) = tasks.join_next().await {
        let s = r.context("a load task failed")?;
        lat.extend(s.latencies_us);
        errors += s.errors;
        if first_error.is_none() {
            first_error = s.first_error;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    drop(client);
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let i = ((p * lat.len() as f64).ceil() as usize).clamp(1, lat.len()) - 1;
        f64::from(lat[i]) / 1000.0
    };
    let acknowledged = lat.len() as u64;
    Ok(Figures {
        config: "",
        max_group: None,
        acknowledged,
        errors,
        first_error,
        seconds,
        per_second: acknowledged as f64 / seconds,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        p999_ms: pct(0.999),
        max_ms: lat.last().map_or(0.0, |&u| f64::from(u) / 1000.0),
        stored: 0,
    })
}
