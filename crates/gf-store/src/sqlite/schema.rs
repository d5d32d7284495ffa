//! The SQLite schema as numbered migrations, applied in order at open, so a
//! data directory written by an older gigafleet is brought up to date and
//! one written by a newer gigafleet is refused rather than misread.

use rusqlite::{Connection, OptionalExtension};

use super::db;
use crate::{SCHEMA_VERSION, StoreError};

/// Migration `n` (from 1) is `MIGRATIONS[n - 1]`. The pending ones run in
/// one transaction with the version bump, so a crash leaves a whole version.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [r#"
-- The event log. `kind` says what `body` is: 0 a controller event (the
-- body is the event), 1 a job submission (no body: the job row's spec is
-- immutable, so it is not stored twice), 2 a service creation (the body is
-- the spec as created; the service row's spec changes later).
CREATE TABLE log (
    seq    INTEGER PRIMARY KEY,
    at_s   INTEGER NOT NULL,
    kind   INTEGER NOT NULL,
    ref_id INTEGER,
    body   TEXT
);
CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY,
    team            TEXT NOT NULL,
    name            TEXT NOT NULL,
    gpus            INTEGER NOT NULL,
    spec_json       TEXT NOT NULL,
    idempotency_key TEXT,
    seq             INTEGER NOT NULL,
    submitted_at_s  INTEGER NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending',
    terminal        INTEGER NOT NULL DEFAULT 0,
    attempt         INTEGER NOT NULL DEFAULT 0,
    cluster         TEXT,
    reason          TEXT NOT NULL DEFAULT '',
    detail_json     TEXT NOT NULL DEFAULT '{}',
    updated_at_s    INTEGER NOT NULL
);
-- NULL keys are distinct, so jobs without a key never collide.
CREATE UNIQUE INDEX jobs_by_key ON jobs (team, idempotency_key);
CREATE INDEX jobs_by_team ON jobs (team, id);
CREATE INDEX jobs_by_state ON jobs (state, id);
-- The quota check at every submission sums these without touching rows.
CREATE INDEX jobs_live ON jobs (team, gpus) WHERE terminal = 0;
CREATE TABLE services (
    id           INTEGER PRIMARY KEY,
    team         TEXT NOT NULL,
    name         TEXT NOT NULL,
    spec_json    TEXT NOT NULL,
    deleted      INTEGER NOT NULL DEFAULT 0,
    detail_json  TEXT NOT NULL DEFAULT '{}',
    created_at_s INTEGER NOT NULL,
    updated_at_s INTEGER NOT NULL
);
CREATE UNIQUE INDEX services_live_name ON services (name) WHERE deleted = 0;
CREATE INDEX services_by_team ON services (team, id);
CREATE TABLE teams (
    name         TEXT PRIMARY KEY,
    quota_json   TEXT NOT NULL,
    weight       REAL NOT NULL,
    max_priority INTEGER NOT NULL
);
CREATE TABLE tokens (
    sha256       TEXT PRIMARY KEY,
    team         TEXT,
    label        TEXT NOT NULL,
    created_at_s INTEGER NOT NULL,
    revoked      INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- The store's own counters, apart from `meta` so no user key can touch
-- them: `fence` is the last fencing token handed out.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO counters (name, value) VALUES ('fence', 0);
"#];

/// The version the database is at (0 when it has no schema yet).
pub(super) fn version(conn: &Connection) -> Result<u32, StoreError> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .map_err(db)?;
    let v: Option<u32> = conn
        .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
        .optional()
        .map_err(db)?
        .flatten();
    Ok(v.unwrap_or(0))
}

/// Brings the database up to [`SCHEMA_VERSION`], or refuses one that is
/// newer. Runs under an immediate transaction so two processes opening one
/// fresh data directory at once migrate it once.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(db)?;
    let found = version(&tx)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(sql).map_err(db)?;
        let v = i as u32 + 1;
        tx.execute("DELETE FROM schema_version", []).map_err(db)?;
        tx.execute("INSERT INTO schema_version (version) VALUES (?1)", [v])
            .map_err(db)?;
    }
    tx.commit().map_err(db)
}
