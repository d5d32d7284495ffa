//! The SQLite store under the conformance suite (each check in a fresh
//! temporary data directory), plus what only the embedded store promises:
//! group commit really groups, a full queue answers `Busy` at once, and
//! reads are answered while the writer is stuck.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use gf_store::conformance::{Harness, new_job};
use gf_store::sqlite::DB_FILE;
use gf_store::{Options, SqliteStore, Store, StoreError};

struct Sqlite {
    dir: tempfile::TempDir,
}

impl Harness for Sqlite {
    type S = SqliteStore;

    fn open(&self) -> impl Future<Output = Result<SqliteStore, StoreError>> + Send {
        let r = SqliteStore::open(self.dir.path());
        async move { r }
    }

    fn force_schema_version(&self, version: u32) -> impl Future<Output = ()> + Send {
        let c = rusqlite::Connection::open(self.dir.path().join(DB_FILE)).unwrap();
        c.execute("UPDATE schema_version SET version = ?1", [version])
            .unwrap();
        async {}
    }
}

async fn fresh() -> Sqlite {
    Sqlite {
        dir: tempfile::tempdir().unwrap(),
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

/// Submits `n` jobs from `tasks` concurrent tasks and returns how many
/// transactions the writer committed for them.
async fn commits_for(store: &SqliteStore, tasks: usize, n: usize) -> u64 {
    let before = store.commits();
    let mut joins = tokio::task::JoinSet::new();
    for t in 0..tasks {
        let s = store.clone();
        joins.spawn(async move {
            for i in 0..n / tasks {
                let sub = s
                    .submit_job(new_job("red", &format!("t{t}-{i}"), 1, None))
                    .await
                    .unwrap();
                assert!(sub.created);
            }
        });
    }
    while let Some(r) = joins.join_next().await {
        r.unwrap();
    }
    assert_eq!(store.last_seq().await.unwrap(), n as u64);
    store.commits() - before
}

#[test]
fn group_commit_groups_concurrent_submissions() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let commits = drive(commits_for(&store, 200, 2_000));
    // 200 submitters each waiting for their last acknowledgement: every
    // commit carries whatever queued during the previous fsync.
    assert!(
        commits * 4 <= 2_000,
        "2,000 concurrent submissions took {commits} commits; group commit is not grouping"
    );
}

#[test]
fn without_grouping_each_submission_commits_alone() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        max_group: 1,
        ..Options::default()
    };
    let store = SqliteStore::open_with(dir.path(), opts).unwrap();
    assert_eq!(drive(commits_for(&store, 20, 200)), 200);
}

#[test]
fn a_group_never_exceeds_max_group() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        max_group: 16,
        ..Options::default()
    };
    let store = SqliteStore::open_with(dir.path(), opts).unwrap();
    let commits = drive(commits_for(&store, 200, 2_000));
    assert!(commits >= 2_000 / 16, "{commits} commits of at most 16");
}

/// Takes SQLite's write lock from outside the store, as another process
/// would, so the store's writer blocks in `BEGIN IMMEDIATE`.
fn hold_write_lock(dir: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(dir.join(DB_FILE)).unwrap();
    c.execute_batch("BEGIN IMMEDIATE").unwrap();
    c
}

#[test]
fn a_full_queue_answers_busy_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        max_group: 4,
        queue_capacity: 8,
        busy_timeout: Duration::from_secs(60),
        ..Options::default()
    };
    let store = SqliteStore::open_with(dir.path(), opts).unwrap();
    let outside = hold_write_lock(dir.path());
    drive(async {
        // A write is queued when it is called. The writer takes at most one
        // group (4) and blocks on the lock; the queue holds 8 more; the next
        // call is refused at its first poll, without waiting.
        let mut queued = Vec::new();
        let mut busy = None;
        for i in 0..100 {
            let mut f = Box::pin(store.submit_job(new_job("red", &format!("j{i}"), 1, None)));
            match tokio::time::timeout(Duration::ZERO, f.as_mut()).await {
                Err(_) => queued.push(f),
                Ok(Err(StoreError::Busy)) => {
                    busy = Some(i);
                    break;
                }
                Ok(other) => {
                    panic!("submission {i} answered while the writer is locked out: {other:?}")
                }
            }
        }
        let busy = busy.expect("a full queue must answer Busy");
        assert!(
            (8..=8 + 4).contains(&busy),
            "Busy after {busy} queued submissions; the queue holds 8 and a group 4"
        );
        outside.execute_batch("COMMIT").unwrap();
        for (i, f) in queued.into_iter().enumerate() {
            let sub = f.await.unwrap();
            assert_eq!(
                sub.id,
                i as u64 + 1,
                "queued submissions commit in call order"
            );
        }
        assert_eq!(store.last_seq().await.unwrap(), busy as u64);
    });
}

#[test]
fn reads_are_answered_while_the_writer_is_stuck() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        busy_timeout: Duration::from_secs(60),
        ..Options::default()
    };
    let store = SqliteStore::open_with(dir.path(), opts).unwrap();
    drive(async {
        let first = store
            .submit_job(new_job("red", "before", 8, None))
            .await
            .unwrap();
        let outside = hold_write_lock(dir.path());
        // Queued at the call; the writer takes it and waits for the lock.
        let mut stuck = Box::pin(store.submit_job(new_job("red", "during", 8, None)));
        // Reads are answered by the reader threads from the last commit.
        assert_eq!(store.last_seq().await.unwrap(), 1);
        let row = store.job(first.id).await.unwrap().unwrap();
        assert_eq!(row.name, "before");
        assert_eq!(store.read_log(0, 10).await.unwrap().len(), 1);
        assert_eq!(store.team_gpus_live("red").await.unwrap(), 8);
        assert!(
            tokio::time::timeout(Duration::from_millis(20), stuck.as_mut())
                .await
                .is_err(),
            "the write cannot commit while another connection holds the lock"
        );
        outside.execute_batch("COMMIT").unwrap();
        let sub = stuck.await.unwrap();
        assert_eq!(sub.seq, 2);
        assert_eq!(store.team_gpus_live("red").await.unwrap(), 16);
    });
}

#[test]
fn a_second_store_on_the_directory_reads_but_does_not_lead() {
    let dir = tempfile::tempdir().unwrap();
    let server = SqliteStore::open(dir.path()).unwrap();
    let cli = SqliteStore::open(dir.path()).unwrap();
    drive(async {
        let fence = server.acquire_leadership().await.unwrap().unwrap();
        server
            .submit_job(new_job("red", "a", 8, None))
            .await
            .unwrap();
        assert_eq!(cli.job(1).await.unwrap().unwrap().name, "a");
        assert_eq!(cli.acquire_leadership().await.unwrap(), None);
        assert!(cli.is_leader(fence).await.unwrap());
    });
}

#[test]
fn open_creates_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b/data");
    let store = SqliteStore::open(&nested).unwrap();
    assert!(nested.join(DB_FILE).is_file());
    assert_eq!(store.dir(), nested.as_path());
}

#[test]
fn an_unusable_data_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let Err(StoreError::Db(msg)) = SqliteStore::open(&file) else {
        panic!("opening a file as a data directory must fail");
    };
    assert!(msg.contains("not-a-dir"), "{msg}");
}

#[test]
fn the_checkpointer_copies_the_wal_into_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let db = dir.path().join(DB_FILE);
    let before = std::fs::metadata(&db).unwrap().len();
    drive(async {
        commits_for(&store, 50, 1_000).await;
        // The writer never checkpoints; only the checkpointer thread makes
        // the database file grow.
        for _ in 0..400 {
            if std::fs::metadata(&db).unwrap().len() > before {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the WAL was not copied into {} within 10 s", db.display());
    });
}
