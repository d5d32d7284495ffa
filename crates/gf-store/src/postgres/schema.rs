//! The PostgreSQL schema as numbered migrations, applied in order at
//! connect under a transaction-level advisory lock, so replicas starting at
//! once migrate a database once, and one written by a newer gigafleet is
//! refused rather than misread.

use tokio_postgres::Client;

use super::pg;
use crate::{SCHEMA_VERSION, StoreError};

/// The advisory lock key migrations hold (the leadership key plus one).
const MIGRATE_KEY: i64 = super::LEADER_KEY + 1;

/// Migration `n` (from 1) is `MIGRATIONS[n - 1]`. The pending ones run in
/// one transaction with the version bump.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [r#"
-- The event log; `kind`, `ref_id` and `body` as in the SQLite store
-- (0 event, 1 job submitted: spec read from the job row, 2 service
-- created: spec as created).
CREATE TABLE log (
    seq    BIGINT PRIMARY KEY,
    at_s   BIGINT NOT NULL,
    kind   BIGINT NOT NULL,
    ref_id BIGINT,
    body   TEXT
);
CREATE TABLE jobs (
    id              BIGINT PRIMARY KEY,
    team            TEXT NOT NULL,
    name            TEXT NOT NULL,
    gpus            BIGINT NOT NULL,
    spec_json       TEXT NOT NULL,
    idempotency_key TEXT,
    seq             BIGINT NOT NULL,
    submitted_at_s  BIGINT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending',
    terminal        BOOLEAN NOT NULL DEFAULT FALSE,
    attempt         BIGINT NOT NULL DEFAULT 0,
    cluster         TEXT,
    reason          TEXT NOT NULL DEFAULT '',
    detail_json     TEXT NOT NULL DEFAULT '{}',
    updated_at_s    BIGINT NOT NULL
);
CREATE UNIQUE INDEX jobs_by_key ON jobs (team, idempotency_key);
CREATE INDEX jobs_by_team ON jobs (team, id);
CREATE INDEX jobs_by_state ON jobs (state, id);
CREATE INDEX jobs_live ON jobs (team) INCLUDE (gpus) WHERE NOT terminal;
CREATE TABLE services (
    id           BIGINT PRIMARY KEY,
    team         TEXT NOT NULL,
    name         TEXT NOT NULL,
    spec_json    TEXT NOT NULL,
    deleted      BOOLEAN NOT NULL DEFAULT FALSE,
    detail_json  TEXT NOT NULL DEFAULT '{}',
    created_at_s BIGINT NOT NULL,
    updated_at_s BIGINT NOT NULL
);
CREATE UNIQUE INDEX services_live_name ON services (name) WHERE NOT deleted;
CREATE INDEX services_by_team ON services (team, id);
CREATE TABLE teams (
    name         TEXT PRIMARY KEY,
    quota_json   TEXT NOT NULL,
    weight       DOUBLE PRECISION NOT NULL,
    max_priority BIGINT NOT NULL
);
CREATE TABLE tokens (
    sha256       TEXT PRIMARY KEY,
    team         TEXT,
    label        TEXT NOT NULL,
    created_at_s BIGINT NOT NULL,
    revoked      BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- The last seq, job id and service id handed out, in ONE row: every
-- transaction that appends to the log locks it until it commits, so seqs
-- are handed out in commit order across replicas (a reader tailing by seq
-- never passes an entry that commits late), and one row means one lock
-- order (no deadlock between replicas).
CREATE TABLE heads (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    seq     BIGINT NOT NULL,
    job     BIGINT NOT NULL,
    service BIGINT NOT NULL
);
INSERT INTO heads (id, seq, job, service) VALUES (1, 0, 0, 0);
-- The last fencing token handed out and the backend that holds the
-- leadership lock with it.
CREATE TABLE leader (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    fence BIGINT NOT NULL,
    pid   INTEGER
);
INSERT INTO leader (id, fence, pid) VALUES (1, 0, NULL);
"#];

/// Brings the database up to [`SCHEMA_VERSION`], or refuses one that is
/// newer.
pub(super) async fn migrate(c: &mut Client) -> Result<(), StoreError> {
    let tx = c.transaction().await.map_err(pg)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_KEY])
        .await
        .map_err(pg)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .await
        .map_err(pg)?;
    let found: Option<i32> = tx
        .query_one("SELECT MAX(version) FROM schema_version", &[])
        .await
        .map_err(pg)?
        .get(0);
    let found = found.unwrap_or(0).max(0) as u32;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.batch_execute(sql).await.map_err(pg)?;
        let v = i as i32 + 1;
        tx.execute("DELETE FROM schema_version", &[])
            .await
            .map_err(pg)?;
        tx.execute("INSERT INTO schema_version (version) VALUES ($1)", &[&v])
            .await
            .map_err(pg)?;
    }
    tx.commit().await.map_err(pg)
}
