//! What each [`Store`](crate::Store) method does to the SQLite database, as
//! plain functions of a connection: the writer thread runs the writes inside
//! its group transaction (one savepoint each), the reader threads run the
//! reads. Ids and seqs are `MAX + 1` under the database's write lock, which
//! one transaction at a time holds, so they are dense and in commit order.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::db;
use crate::entry::{KIND_EVENT, KIND_JOB, KIND_SERVICE, body};
use crate::{
    Fence, JobId, JobQuery, JobRow, JobUpdate, LogRecord, NewJob, NewService, Seq, ServiceId,
    ServiceRow, StoreError, Submitted, TeamRow, TokenRow,
};

/// Most rows one `jobs` query returns, whatever the caller asks.
pub(crate) const MAX_JOBS_PAGE: usize = 1_000;

/// An id or seq from the API as an SQL integer: one beyond SQLite's range
/// names nothing stored, so it is clamped rather than refused.
fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Refuses a write carrying a fence other than the last one handed out.
fn check_fence(c: &Connection, fence: Option<Fence>) -> Result<(), StoreError> {
    let Some(f) = fence else { return Ok(()) };
    if current_fence(c)? == f.0 {
        Ok(())
    } else {
        Err(StoreError::Fenced(f.0))
    }
}

pub(super) fn current_fence(c: &Connection) -> Result<u64, StoreError> {
    c.prepare_cached("SELECT value FROM counters WHERE name = 'fence'")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(db)
}

/// Hands out the next fencing token.
pub(super) fn bump_fence(c: &Connection) -> Result<u64, StoreError> {
    c.query_row(
        "UPDATE counters SET value = value + 1 WHERE name = 'fence' RETURNING value",
        [],
        |r| r.get(0),
    )
    .map_err(db)
}

fn next_seq(c: &Connection) -> Result<Seq, StoreError> {
    c.prepare_cached("SELECT COALESCE(MAX(seq), 0) + 1 FROM log")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(db)
}

fn insert_log(
    c: &Connection,
    at_s: i64,
    kind: i64,
    ref_id: Option<u64>,
    body: Option<&str>,
) -> Result<Seq, StoreError> {
    let seq = next_seq(c)?;
    c.prepare_cached("INSERT INTO log (seq, at_s, kind, ref_id, body) VALUES (?1, ?2, ?3, ?4, ?5)")
        .and_then(|mut s| s.execute(params![seq, at_s, kind, ref_id, body]))
        .map_err(db)?;
    Ok(seq)
}

pub(super) fn append(
    c: &Connection,
    fence: Option<Fence>,
    at_s: i64,
    events: &[String],
) -> Result<Vec<Seq>, StoreError> {
    check_fence(c, fence)?;
    events
        .iter()
        .map(|e| insert_log(c, at_s, KIND_EVENT, None, Some(e)))
        .collect()
}

pub(super) fn read_log(
    c: &Connection,
    after: Seq,
    limit: usize,
) -> Result<Vec<LogRecord>, StoreError> {
    let mut s = c
        .prepare_cached(
            "SELECT l.seq, l.at_s, l.kind, l.ref_id, COALESCE(l.body, j.spec_json) FROM log l \
             LEFT JOIN jobs j ON l.kind = 1 AND j.id = l.ref_id \
             WHERE l.seq > ?1 ORDER BY l.seq LIMIT ?2",
        )
        .map_err(db)?;
    let rows = s
        .query_map(params![int(after), int(limit as u64)], |r| {
            let kind: i64 = r.get(2)?;
            let ref_id: Option<u64> = r.get(3)?;
            let text: Option<String> = r.get(4)?;
            Ok((r.get(0)?, r.get(1)?, kind, ref_id, text))
        })
        .map_err(db)?;
    rows.map(|r| {
        let (seq, at_s, kind, ref_id, text) = r.map_err(db)?;
        Ok(LogRecord {
            seq,
            at_s,
            body: body(seq, kind, ref_id, text)?,
        })
    })
    .collect()
}

pub(super) fn last_seq(c: &Connection) -> Result<Seq, StoreError> {
    c.prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM log")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(db)
}

pub(super) fn submit_job(c: &Connection, job: &NewJob) -> Result<Submitted, StoreError> {
    if let Some(key) = &job.idempotency_key {
        let earlier: Option<(u64, u64)> = c
            .prepare_cached("SELECT id, seq FROM jobs WHERE team = ?1 AND idempotency_key = ?2")
            .and_then(|mut s| {
                s.query_row(params![job.team, key], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(db)?;
        if let Some((id, seq)) = earlier {
            return Ok(Submitted {
                id,
                seq,
                created: false,
            });
        }
    }
    let id: JobId = c
        .prepare_cached("SELECT COALESCE(MAX(id), 0) + 1 FROM jobs")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(db)?;
    let seq = insert_log(c, job.at_s, KIND_JOB, Some(id), None)?;
    c.prepare_cached(
        "INSERT INTO jobs (id, team, name, gpus, spec_json, idempotency_key, seq, \
         submitted_at_s, updated_at_s) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
    )
    .and_then(|mut s| {
        s.execute(params![
            id,
            job.team,
            job.name,
            job.gpus,
            job.spec_json,
            job.idempotency_key,
            seq,
            job.at_s
        ])
    })
    .map_err(db)?;
    Ok(Submitted {
        id,
        seq,
        created: true,
    })
}

const JOB_COLS: &str = "id, team, name, gpus, spec_json, idempotency_key, submitted_at_s, \
                        state, terminal, attempt, cluster, reason, detail_json, updated_at_s";

fn job_row(r: &Row<'_>) -> rusqlite::Result<JobRow> {
    Ok(JobRow {
        id: r.get(0)?,
        team: r.get(1)?,
        name: r.get(2)?,
        gpus: r.get(3)?,
        spec_json: r.get(4)?,
        idempotency_key: r.get(5)?,
        submitted_at_s: r.get(6)?,
        state: r.get(7)?,
        terminal: r.get(8)?,
        attempt: r.get(9)?,
        cluster: r.get(10)?,
        reason: r.get(11)?,
        detail_json: r.get(12)?,
        updated_at_s: r.get(13)?,
    })
}

pub(super) fn job(c: &Connection, id: JobId) -> Result<Option<JobRow>, StoreError> {
    c.prepare_cached(&format!("SELECT {JOB_COLS} FROM jobs WHERE id = ?1"))
        .and_then(|mut s| s.query_row([int(id)], job_row).optional())
        .map_err(db)
}

pub(super) fn jobs(c: &Connection, q: &JobQuery) -> Result<Vec<JobRow>, StoreError> {
    // Only the filters given are in the SQL, so SQLite picks the index that
    // fits them (a `?1 IS NULL OR` form would defeat every index).
    let mut sql = format!("SELECT {JOB_COLS} FROM jobs WHERE id > ?1");
    let mut args: Vec<Box<dyn rusqlite::ToSql>> = vec![Box::new(int(q.after.unwrap_or(0)))];
    if let Some(team) = &q.team {
        args.push(Box::new(team.clone()));
        sql.push_str(&format!(" AND team = ?{}", args.len()));
    }
    if let Some(state) = &q.state {
        args.push(Box::new(state.clone()));
        sql.push_str(&format!(" AND state = ?{}", args.len()));
    }
    if let Some(terminal) = q.terminal {
        args.push(Box::new(terminal));
        sql.push_str(&format!(" AND terminal = ?{}", args.len()));
    }
    args.push(Box::new(q.limit.min(MAX_JOBS_PAGE) as i64));
    sql.push_str(&format!(" ORDER BY id LIMIT ?{}", args.len()));
    let mut s = c.prepare_cached(&sql).map_err(db)?;
    let rows = s
        .query_map(rusqlite::params_from_iter(args.iter()), job_row)
        .map_err(db)?;
    rows.map(|r| r.map_err(db)).collect()
}

pub(super) fn team_gpus_live(c: &Connection, team: &str) -> Result<u64, StoreError> {
    c.prepare_cached("SELECT COALESCE(SUM(gpus), 0) FROM jobs WHERE team = ?1 AND terminal = 0")
        .and_then(|mut s| s.query_row([team], |r| r.get(0)))
        .map_err(db)
}

pub(super) fn update_jobs(
    c: &Connection,
    fence: Option<Fence>,
    updates: &[JobUpdate],
) -> Result<(), StoreError> {
    check_fence(c, fence)?;
    let mut s = c
        .prepare_cached(
            "UPDATE jobs SET state = ?2, terminal = ?3, attempt = ?4, cluster = ?5, \
             reason = ?6, detail_json = ?7, updated_at_s = ?8 WHERE id = ?1",
        )
        .map_err(db)?;
    for u in updates {
        s.execute(params![
            int(u.id),
            u.state,
            u.terminal,
            u.attempt,
            u.cluster,
            u.reason,
            u.detail_json,
            u.at_s
        ])
        .map_err(db)?;
    }
    Ok(())
}

pub(super) fn create_service(c: &Connection, s: &NewService) -> Result<Submitted, StoreError> {
    let taken: Option<u32> = c
        .prepare_cached("SELECT id FROM services WHERE name = ?1 AND deleted = 0")
        .and_then(|mut st| st.query_row([&s.name], |r| r.get(0)).optional())
        .map_err(db)?;
    if let Some(id) = taken {
        return Err(StoreError::Conflict(format!(
            "a live service named `{}` (id {id})",
            s.name
        )));
    }
    let id: u64 = c
        .prepare_cached("SELECT COALESCE(MAX(id), 0) + 1 FROM services")
        .and_then(|mut st| st.query_row([], |r| r.get(0)))
        .map_err(db)?;
    if ServiceId::try_from(id).is_err() {
        return Err(StoreError::Db("service ids are exhausted".into()));
    }
    let seq = insert_log(c, s.at_s, KIND_SERVICE, Some(id), Some(&s.spec_json))?;
    c.prepare_cached(
        "INSERT INTO services (id, team, name, spec_json, created_at_s, updated_at_s) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
    )
    .and_then(|mut st| st.execute(params![id, s.team, s.name, s.spec_json, s.at_s]))
    .map_err(db)?;
    Ok(Submitted {
        id,
        seq,
        created: true,
    })
}

const SERVICE_COLS: &str =
    "id, team, name, spec_json, deleted, detail_json, created_at_s, updated_at_s";

fn service_row(r: &Row<'_>) -> rusqlite::Result<ServiceRow> {
    Ok(ServiceRow {
        id: r.get(0)?,
        team: r.get(1)?,
        name: r.get(2)?,
        spec_json: r.get(3)?,
        deleted: r.get(4)?,
        detail_json: r.get(5)?,
        created_at_s: r.get(6)?,
        updated_at_s: r.get(7)?,
    })
}

pub(super) fn service(c: &Connection, id: ServiceId) -> Result<Option<ServiceRow>, StoreError> {
    c.prepare_cached(&format!(
        "SELECT {SERVICE_COLS} FROM services WHERE id = ?1"
    ))
    .and_then(|mut s| s.query_row([id], service_row).optional())
    .map_err(db)
}

pub(super) fn services(c: &Connection, team: Option<&str>) -> Result<Vec<ServiceRow>, StoreError> {
    let mut s = c
        .prepare_cached(&format!(
            "SELECT {SERVICE_COLS} FROM services WHERE ?1 IS NULL OR team = ?1 ORDER BY id"
        ))
        .map_err(db)?;
    let rows = s.query_map([team], service_row).map_err(db)?;
    rows.map(|r| r.map_err(db)).collect()
}

pub(super) fn change_service(
    c: &Connection,
    id: ServiceId,
    spec_json: Option<&str>,
    deleted: bool,
    at_s: i64,
    event: &str,
) -> Result<Seq, StoreError> {
    let changed = c
        .prepare_cached(
            "UPDATE services SET spec_json = COALESCE(?2, spec_json), deleted = ?3, \
             updated_at_s = ?4 WHERE id = ?1 AND deleted = 0",
        )
        .and_then(|mut s| s.execute(params![id, spec_json, deleted, at_s]))
        .map_err(db)?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!("live service {id}")));
    }
    insert_log(c, at_s, KIND_EVENT, None, Some(event))
}

pub(super) fn update_service_detail(
    c: &Connection,
    fence: Option<Fence>,
    id: ServiceId,
    detail_json: &str,
    at_s: i64,
) -> Result<(), StoreError> {
    check_fence(c, fence)?;
    let changed = c
        .prepare_cached("UPDATE services SET detail_json = ?2, updated_at_s = ?3 WHERE id = ?1")
        .and_then(|mut s| s.execute(params![id, detail_json, at_s]))
        .map_err(db)?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!("service {id}")));
    }
    Ok(())
}

pub(super) fn put_team(c: &Connection, t: &TeamRow) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO teams (name, quota_json, weight, max_priority) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (name) DO UPDATE SET quota_json = excluded.quota_json, \
         weight = excluded.weight, max_priority = excluded.max_priority",
    )
    .and_then(|mut s| s.execute(params![t.name, t.quota_json, t.weight, t.max_priority]))
    .map_err(db)?;
    Ok(())
}

fn team_row(r: &Row<'_>) -> rusqlite::Result<TeamRow> {
    Ok(TeamRow {
        name: r.get(0)?,
        quota_json: r.get(1)?,
        weight: r.get(2)?,
        max_priority: r.get(3)?,
    })
}

pub(super) fn team(c: &Connection, name: &str) -> Result<Option<TeamRow>, StoreError> {
    c.prepare_cached("SELECT name, quota_json, weight, max_priority FROM teams WHERE name = ?1")
        .and_then(|mut s| s.query_row([name], team_row).optional())
        .map_err(db)
}

pub(super) fn teams(c: &Connection) -> Result<Vec<TeamRow>, StoreError> {
    let mut s = c
        .prepare_cached("SELECT name, quota_json, weight, max_priority FROM teams ORDER BY name")
        .map_err(db)?;
    let rows = s.query_map([], team_row).map_err(db)?;
    rows.map(|r| r.map_err(db)).collect()
}

pub(super) fn add_token(c: &Connection, t: &TokenRow) -> Result<(), StoreError> {
    let added = c
        .prepare_cached(
            "INSERT INTO tokens (sha256, team, label, created_at_s, revoked) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (sha256) DO NOTHING",
        )
        .and_then(|mut s| {
            s.execute(params![
                t.sha256,
                t.team,
                t.label,
                t.created_at_s,
                t.revoked
            ])
        })
        .map_err(db)?;
    if added == 0 {
        return Err(StoreError::Conflict(format!(
            "a token with sha256 {}",
            t.sha256
        )));
    }
    Ok(())
}

const TOKEN_COLS: &str = "sha256, team, label, created_at_s, revoked";

fn token_row(r: &Row<'_>) -> rusqlite::Result<TokenRow> {
    Ok(TokenRow {
        sha256: r.get(0)?,
        team: r.get(1)?,
        label: r.get(2)?,
        created_at_s: r.get(3)?,
        revoked: r.get(4)?,
    })
}

pub(super) fn token(c: &Connection, sha256: &str) -> Result<Option<TokenRow>, StoreError> {
    c.prepare_cached(&format!(
        "SELECT {TOKEN_COLS} FROM tokens WHERE sha256 = ?1"
    ))
    .and_then(|mut s| s.query_row([sha256], token_row).optional())
    .map_err(db)
}

pub(super) fn tokens(c: &Connection, team: Option<&str>) -> Result<Vec<TokenRow>, StoreError> {
    let mut s = c
        .prepare_cached(&format!(
            "SELECT {TOKEN_COLS} FROM tokens WHERE ?1 IS NULL OR team = ?1 ORDER BY sha256"
        ))
        .map_err(db)?;
    let rows = s.query_map([team], token_row).map_err(db)?;
    rows.map(|r| r.map_err(db)).collect()
}

pub(super) fn revoke_token(c: &Connection, sha256: &str) -> Result<(), StoreError> {
    let changed = c
        .prepare_cached("UPDATE tokens SET revoked = 1 WHERE sha256 = ?1")
        .and_then(|mut s| s.execute([sha256]))
        .map_err(db)?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!(
            "a token with sha256 {sha256}"
        )));
    }
    Ok(())
}

pub(super) fn meta(c: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    c.prepare_cached("SELECT value FROM meta WHERE key = ?1")
        .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
        .map_err(db)
}

pub(super) fn set_meta(
    c: &Connection,
    key: &str,
    value: &str,
    only_if_absent: bool,
) -> Result<bool, StoreError> {
    let sql = if only_if_absent {
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING"
    } else {
        "INSERT INTO meta (key, value) VALUES (?1, ?2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value"
    };
    let written = c
        .prepare_cached(sql)
        .and_then(|mut s| s.execute([key, value]))
        .map_err(db)?;
    Ok(written == 1)
}
