//! Store ingest: job submissions per second into the store from 64 (and
//! 512) concurrent submitters on a 2-thread tokio runtime (the server's
//! shape on a 2-core machine), group commit against one transaction per
//! submission, measured in the same run. SQLite always (its data directory under
//! Cargo's target directory, on the real disk, fsync and all); PostgreSQL
//! too when GF_TEST_POSTGRES_URL names a server (scripts/ensure-postgres.sh
//! starts one), each configuration in a database of its own.

// criterion_group! generates a public function without a doc comment.
#![allow(missing_docs)]

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gf_store::{NewJob, Options, PgOptions, PgStore, SqliteStore, Store};
use tokio::runtime::Runtime;

/// Concurrent submitters and submissions per measured iteration: 64 is the
/// headline; 512 shows how far the groups grow with more requests in flight
/// (an HTTP server with many clients).
const SHAPES: [(usize, usize); 2] = [(64, 1_024), (512, 4_096)];

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A submission shaped like the API's: a spec of a few hundred bytes.
fn job(t: usize, i: usize) -> NewJob {
    let name = format!("bench-{t}-{i}");
    NewJob {
        team: format!("team-{}", t % 8),
        spec_json: format!(
            r#"{{"name":"{name}","team":"team-{}","gpus":64,"accelerators":["h100","h200","b200"],"priority":5,"work_gpu_hours":12000,"checkpoint":{{"interval_s":1800,"cost_s":60}},"gang":true}}"#,
            t % 8
        ),
        name,
        gpus: 64,
        idempotency_key: Some(format!("key-{t}-{i}-{}", rand_suffix())),
        at_s: 1_700_000_000,
    }
}

/// Keys differ between iterations so every submission creates a job.
fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

async fn ingest<S: Store>(store: &S, submitters: usize, batch: usize) {
    let mut joins = tokio::task::JoinSet::new();
    for t in 0..submitters {
        let s = store.clone();
        joins.spawn(async move {
            for i in 0..batch / submitters {
                let sub = s.submit_job(job(t, i)).await.unwrap();
                assert!(sub.created);
            }
        });
    }
    while let Some(r) = joins.join_next().await {
        r.unwrap();
    }
}

/// The configurations measured: grouping on with each shape, and off (one
/// transaction per submission, the baseline) with 64 submitters.
fn configs(group: usize) -> Vec<(String, usize, usize, usize)> {
    let mut v: Vec<_> = SHAPES
        .iter()
        .map(|&(n, batch)| (format!("group/{n}"), group, n, batch))
        .collect();
    v.push(("one_tx/64".into(), 1, SHAPES[0].0, SHAPES[0].1));
    v
}

fn sqlite(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("store_ingest");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    for (label, max_group, submitters, batch) in configs(Options::default().max_group) {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let store = SqliteStore::open_with(
            dir.path(),
            Options {
                max_group,
                ..Options::default()
            },
        )
        .unwrap();
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function(format!("sqlite/{label}"), |b| {
            b.iter(|| rt.block_on(ingest(&store, submitters, batch)))
        });
        report(&rt, &format!("sqlite/{label}"), &store, store.commits());
    }
    g.finish();
}

/// Prints how many submissions each commit carried over the whole run.
fn report<S: Store>(rt: &Runtime, label: &str, store: &S, commits: u64) {
    let n = rt.block_on(store.last_seq()).unwrap();
    if n > 0 {
        eprintln!(
            "{label}: {n} submissions in {commits} commits ({:.1} per commit)",
            n as f64 / commits.max(1) as f64
        );
    }
}

fn postgres(c: &mut Criterion) {
    let Ok(url) = std::env::var("GF_TEST_POSTGRES_URL") else {
        eprintln!("GF_TEST_POSTGRES_URL is not set: the PostgreSQL ingest is not measured");
        return;
    };
    let rt = runtime();
    let mut g = c.benchmark_group("store_ingest");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    for (label, max_group, submitters, batch) in configs(PgOptions::default().max_group) {
        let db = format!(
            "gf_bench_{}_{}",
            label.replace('/', "_"),
            std::process::id()
        );
        let (base, _) = url.rsplit_once('/').unwrap();
        admin(
            &rt,
            &url,
            &[
                format!("DROP DATABASE IF EXISTS {db}"),
                format!("CREATE DATABASE {db}"),
            ],
        );
        let store = rt
            .block_on(PgStore::connect_with(
                &format!("{base}/{db}"),
                PgOptions {
                    max_group,
                    ..PgOptions::default()
                },
            ))
            .unwrap();
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function(format!("postgres/{label}"), |b| {
            b.iter(|| rt.block_on(ingest(&store, submitters, batch)))
        });
        report(&rt, &format!("postgres/{label}"), &store, store.commits());
        drop(store);
        admin(&rt, &url, &[format!("DROP DATABASE {db} WITH (FORCE)")]);
    }
    g.finish();
}

/// Runs statements (one at a time: CREATE and DROP DATABASE refuse to run
/// in a transaction) on the database the URL names.
fn admin(rt: &Runtime, url: &str, sqls: &[String]) {
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        for sql in sqls {
            client.batch_execute(sql).await.unwrap();
        }
    });
}

criterion_group!(benches, sqlite, postgres);
criterion_main!(benches);
