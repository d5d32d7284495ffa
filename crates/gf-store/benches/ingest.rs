//! Store ingest: job submissions per second into the store from 64
//! concurrent submitters on a 2-thread tokio runtime (the server's shape on
//! a 2-core machine), group commit against one transaction per submission,
//! measured in the same run. SQLite always (its data directory under
//! Cargo's target directory, on the real disk, fsync and all); PostgreSQL
//! too when GF_TEST_POSTGRES_URL names a server (scripts/ensure-postgres.sh
//! starts one), each configuration in a database of its own.

// criterion_group! generates a public function without a doc comment.
#![allow(missing_docs)]

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gf_store::{NewJob, Options, PgOptions, PgStore, SqliteStore, Store};
use tokio::runtime::Runtime;

const SUBMITTERS: usize = 64;
/// Submissions per measured iteration.
const BATCH: usize = 1_024;

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

async fn ingest<S: Store>(store: &S) {
    let mut joins = tokio::task::JoinSet::new();
    for t in 0..SUBMITTERS {
        let s = store.clone();
        joins.spawn(async move {
            for i in 0..BATCH / SUBMITTERS {
                let sub = s.submit_job(job(t, i)).await.unwrap();
                assert!(sub.created);
            }
        });
    }
    while let Some(r) = joins.join_next().await {
        r.unwrap();
    }
}

fn sqlite(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("store_ingest");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    for (label, max_group) in [("group", Options::default().max_group), ("one_tx", 1)] {
        let dir = tempfile::tempdir_in(
            std::env::var("GF_BENCH_DIR").unwrap_or(env!("CARGO_TARGET_TMPDIR").into()),
        )
        .unwrap();
        let store = SqliteStore::open_with(
            dir.path(),
            Options {
                max_group,
                ..Options::default()
            },
        )
        .unwrap();
        g.bench_function(format!("sqlite/{label}"), |b| {
            b.iter(|| rt.block_on(ingest(&store)))
        });
        let n = rt.block_on(store.last_seq()).unwrap();
        eprintln!(
            "sqlite/{label}: {n} submissions in {} commits ({:.1} per commit)",
            store.commits(),
            n as f64 / store.commits().max(1) as f64
        );
    }
    g.finish();
}

fn postgres(c: &mut Criterion) {
    let Ok(url) = std::env::var("GF_TEST_POSTGRES_URL") else {
        eprintln!("GF_TEST_POSTGRES_URL is not set: the PostgreSQL ingest is not measured");
        return;
    };
    let rt = runtime();
    let mut g = c.benchmark_group("store_ingest");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    for (label, max_group) in [("group", PgOptions::default().max_group), ("one_tx", 1)] {
        let db = format!("gf_bench_{label}_{}", std::process::id());
        let store = rt.block_on(async {
            let (admin, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            for sql in [
                format!("DROP DATABASE IF EXISTS {db}"),
                format!("CREATE DATABASE {db}"),
            ] {
                admin.batch_execute(&sql).await.unwrap();
            }
            let (base, _) = url.rsplit_once('/').unwrap();
            PgStore::connect_with(
                &format!("{base}/{db}"),
                PgOptions {
                    max_group,
                    ..PgOptions::default()
                },
            )
            .await
            .unwrap()
        });
        g.bench_function(format!("postgres/{label}"), |b| {
            b.iter(|| rt.block_on(ingest(&store)))
        });
        let n = rt.block_on(store.last_seq()).unwrap();
        eprintln!(
            "postgres/{label}: {n} submissions in {} commits ({:.1} per commit)",
            store.commits(),
            n as f64 / store.commits().max(1) as f64
        );
    }
    g.finish();
}

criterion_group!(benches, sqlite, postgres);
criterion_main!(benches);
