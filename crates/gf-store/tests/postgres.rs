//! The PostgreSQL store under the conformance suite, each check in a fresh
//! database of the server named by GF_TEST_POSTGRES_URL, plus what only
//! the replicated store promises: a leader whose connection dies is deposed
//! at once. `scripts/test.sh` starts a throw-away PostgreSQL and sets the
//! variable; without it these tests fail rather than skip.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gf_store::conformance::{Harness, new_job};
use gf_store::{Fence, PgOptions, PgStore, Store, StoreError};
use tokio_postgres::NoTls;

/// The server's URL; a clear failure when it is not given.
fn server_url() -> String {
    std::env::var("GF_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "GF_TEST_POSTGRES_URL is not set: run the tests through scripts/test.sh, which \
             starts a throw-away PostgreSQL (scripts/ensure-postgres.sh) and sets it, or run \
             `eval \"$(bash scripts/ensure-postgres.sh start)\"` first"
        )
    })
}

/// `url` with its database replaced by `db`.
fn with_database(url: &str, db: &str) -> String {
    let (base, rest) = url
        .rsplit_once('/')
        .expect("GF_TEST_POSTGRES_URL is postgres://USER@HOST:PORT/DATABASE");
    let query = rest.find('?').map(|i| &rest[i..]).unwrap_or("");
    format!("{base}/{db}{query}")
}

async fn admin() -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&server_url(), NoTls)
        .await
        .expect("GF_TEST_POSTGRES_URL names a running PostgreSQL");
    tokio::spawn(conn);
    client
}

/// A fresh, empty database on the test server, dropped by `finish`.
struct Pg {
    db: String,
    url: String,
}

static NEXT: AtomicU64 = AtomicU64::new(0);

async fn fresh() -> Pg {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let db = format!(
        "gf_test_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    admin()
        .await
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
    Pg {
        url: with_database(&server_url(), &db),
        db,
    }
}

impl Harness for Pg {
    type S = PgStore;

    fn open(&self) -> impl Future<Output = Result<PgStore, StoreError>> + Send {
        PgStore::connect(&self.url)
    }

    async fn force_schema_version(&self, version: u32) {
        let (client, conn) = tokio_postgres::connect(&self.url, NoTls).await.unwrap();
        tokio::spawn(conn);
        client
            .execute(
                "UPDATE schema_version SET version = $1",
                &[&(version as i32)],
            )
            .await
            .unwrap();
    }

    async fn finish(self) {
        let _ = admin()
            .await
            .batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db))
            .await;
    }
}

fn drive<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

gf_store::store_conformance_suite!(fresh(), drive);

/// Polls `cond` for a bounded time.
async fn eventually(what: &str, mut cond: impl AsyncFnMut() -> bool) {
    for _ in 0..400 {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{what} did not happen within 10 s");
}

#[test]
fn a_leader_whose_connection_dies_is_deposed() {
    drive(async {
        let h = fresh().await;
        let a = h.open().await.unwrap();
        let b = h.open().await.unwrap();
        let f1 = a.acquire_leadership().await.unwrap().unwrap();
        assert!(b.is_leader(f1).await.unwrap());
        // The database ends the leader's session, as when its host dies.
        let (client, conn) = tokio_postgres::connect(&h.url, NoTls).await.unwrap();
        tokio::spawn(conn);
        let killed: bool = client
            .query_one(
                "SELECT pg_terminate_backend(pid) FROM leader WHERE id = 1",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(killed);
        eventually("deposing the dead leader", async || {
            !b.is_leader(f1).await.unwrap()
        })
        .await;
        // Its fence no longer writes, even before anyone else leads.
        let last = a.last_seq().await.unwrap();
        match a.append(Some(f1), 1, vec!["{}".into()]).await {
            Err(StoreError::Fenced(1)) => {}
            other => panic!("a dead leader's append gave {other:?}"),
        }
        let f2 = b.acquire_leadership().await.unwrap().unwrap();
        assert!(f2.0 > f1.0);
        assert_eq!(a.acquire_leadership().await.unwrap(), None);
        match a.append(Some(f1), 1, vec!["{}".into()]).await {
            Err(StoreError::Fenced(_)) => {}
            other => panic!("a deposed leader's append gave {other:?}"),
        }
        assert_eq!(a.last_seq().await.unwrap(), last);
        assert!(b.is_leader(f2).await.unwrap());
        assert!(!b.is_leader(Fence(f2.0 + 1)).await.unwrap());
        drop((a, b));
        h.finish().await;
    });
}

#[test]
fn group_commit_groups_concurrent_submissions() {
    drive(async {
        let h = fresh().await;
        let store = h.open().await.unwrap();
        let before = store.commits();
        let mut joins = tokio::task::JoinSet::new();
        for t in 0..100 {
            let s = store.clone();
            joins.spawn(async move {
                for i in 0..10 {
                    let job = new_job("red", &format!("t{t}-{i}"), 1, None);
                    assert!(s.submit_job(job).await.unwrap().created);
                }
            });
        }
        while let Some(r) = joins.join_next().await {
            r.unwrap();
        }
        let commits = store.commits() - before;
        assert_eq!(store.last_seq().await.unwrap(), 1_000);
        assert!(
            commits * 4 <= 1_000,
            "1,000 concurrent submissions took {commits} commits"
        );
        drop(store);
        h.finish().await;
    });
}

#[test]
fn a_bad_url_is_a_clear_error() {
    drive(async {
        let Err(StoreError::Db(msg)) = PgStore::connect("postgres://a@b:notaport/x").await else {
            panic!("a malformed URL must be refused");
        };
        assert!(msg.contains("postgres://USER@HOST:PORT/DATABASE"), "{msg}");
        let opts = PgOptions::default();
        assert!(opts.max_group > 1);
    });
}
