//! What each [`Store`](crate::Store) method does to the PostgreSQL
//! database, as async functions of a connection: the writer task runs the
//! writes of a group concurrently (pipelined) inside one transaction, the
//! reader connections run the reads. Every write checks what could refuse
//! it before it writes anything, so a refused request leaves nothing behind
//! in the group's transaction, and takes its seqs and ids from the group
//! ([`Tx`]) only once its checks have passed; a database fault fails the
//! group, and the writer then runs each request alone.
//!
//! The kinds written into `log.kind` are [`crate::entry`]'s: 0 an event,
//! 1 a job submission, 2 a service creation.

use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, ToSql};

use super::{Conn, LEADER_KEY, Tx, pg};
use crate::entry::body;
use crate::{
    Fence, JobId, JobQuery, JobRow, JobUpdate, LogRecord, NewJob, NewService, Seq, ServiceId,
    ServiceRow, StoreError, Submitted, TeamRow, TokenRow,
};

/// Most rows one `jobs` query returns, whatever the caller asks.
const MAX_JOBS_PAGE: usize = 1_000;

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn get<'a, T: FromSql<'a>>(r: &'a Row, i: usize) -> Result<T, StoreError> {
    r.try_get(i).map_err(pg)
}

/// A stored number as the unsigned type the API uses.
fn unsigned<T: TryFrom<i64>>(r: &Row, i: usize) -> Result<T, StoreError> {
    let v: i64 = get(r, i)?;
    T::try_from(v).map_err(|_| {
        StoreError::Db(format!(
            "column {} holds {v}, out of range",
            r.columns()[i].name()
        ))
    })
}

/// Whether the leader row's backend holds the leadership lock, as SQL over
/// the `leader` row aliased `l`.
fn lock_held_sql() -> String {
    format!(
        "EXISTS (SELECT 1 FROM pg_locks k WHERE k.locktype = 'advisory' AND k.granted \
         AND k.pid = l.pid AND k.classid = 0 AND k.objid = {LEADER_KEY} AND k.objsubid = 1 \
         AND k.database = (SELECT oid FROM pg_database WHERE datname = current_database()))"
    )
}

/// Refuses a write whose fence is not the current leader's: the last one
/// handed out, its holder still holding the lock. The row stays share-locked
/// until the write commits, so no new leader is made in between.
async fn check_fence(c: &Conn, fence: Option<Fence>) -> Result<(), StoreError> {
    let Some(f) = fence else { return Ok(()) };
    let sql = format!(
        "SELECT l.fence, {} FROM leader l WHERE l.id = 1 FOR SHARE OF l",
        lock_held_sql()
    );
    let row = c.query_one(&sql, &[]).await?;
    let current: i64 = get(&row, 0)?;
    let held: bool = get(&row, 1)?;
    if held && current == int(f.0) {
        Ok(())
    } else {
        Err(StoreError::Fenced(f.0))
    }
}

/// Whether `fence` is the current leader's, from the database.
pub(super) async fn is_leader(c: &Conn, fence: Fence) -> Result<bool, StoreError> {
    let sql = format!(
        "SELECT l.fence = $1 AND {} FROM leader l WHERE l.id = 1",
        lock_held_sql()
    );
    get(&c.query_one(&sql, &[&int(fence.0)]).await?, 0)
}

/// Makes the connection's backend the leader with a new fence; the caller
/// holds the advisory lock on this same connection.
pub(super) async fn bump_fence(c: &Conn) -> Result<u64, StoreError> {
    let row = c
        .query_one(
            "UPDATE leader SET fence = fence + 1, pid = pg_backend_pid() WHERE id = 1 \
             RETURNING fence",
            &[],
        )
        .await?;
    unsigned(&row, 0)
}

pub(super) async fn append(
    tx: &Tx<'_>,
    d: &(Option<Fence>, i64, Vec<String>),
) -> Result<Vec<Seq>, StoreError> {
    let (fence, at_s, events) = d;
    check_fence(tx.conn(), *fence).await?;
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let first = tx.seqs(events.len());
    tx.conn()
        .execute(
            "INSERT INTO log (seq, at_s, kind, body) \
             SELECT $1 + e.n - 1, $2, 0, e.body \
             FROM unnest($3::text[]) WITH ORDINALITY AS e(body, n)",
            &[&first, at_s, events],
        )
        .await?;
    Ok((0..events.len() as u64).map(|i| first as u64 + i).collect())
}

pub(super) async fn read_log(
    c: &Conn,
    after: Seq,
    limit: usize,
) -> Result<Vec<LogRecord>, StoreError> {
    let rows = c
        .query(
            "SELECT l.seq, l.at_s, l.kind, l.ref_id, COALESCE(l.body, j.spec_json) FROM log l \
             LEFT JOIN jobs j ON l.kind = 1 AND j.id = l.ref_id \
             WHERE l.seq > $1 ORDER BY l.seq LIMIT $2",
            &[&int(after), &int(limit as u64)],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let seq: Seq = unsigned(r, 0)?;
            let ref_id: Option<i64> = get(r, 3)?;
            Ok(LogRecord {
                seq,
                at_s: get(r, 1)?,
                body: body(
                    seq,
                    get(r, 2)?,
                    ref_id.and_then(|v| u64::try_from(v).ok()),
                    get(r, 4)?,
                )?,
            })
        })
        .collect()
}

pub(super) async fn last_seq(c: &Conn) -> Result<Seq, StoreError> {
    unsigned(
        &c.query_one("SELECT seq FROM heads WHERE id = 1", &[])
            .await?,
        0,
    )
}

pub(super) async fn submit_job(tx: &Tx<'_>, job: &NewJob) -> Result<Submitted, StoreError> {
    // When another replica commits the same key after this check, the
    // insert fails on the unique index, the group fails, and the request is
    // run again alone, when the check sees the earlier job.
    if let Some(key) = &job.idempotency_key {
        let earlier = tx
            .conn()
            .query_opt(
                "SELECT id, seq FROM jobs WHERE team = $1 AND idempotency_key = $2",
                &[&job.team, key],
            )
            .await?;
        if let Some(r) = earlier {
            return Ok(Submitted {
                id: unsigned(&r, 0)?,
                seq: unsigned(&r, 1)?,
                created: false,
            });
        }
    }
    let (seq, id) = tx.job();
    tx.conn()
        .execute(
            "WITH ins AS (INSERT INTO jobs (id, team, name, gpus, spec_json, idempotency_key, \
             seq, submitted_at_s, updated_at_s) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)) \
             INSERT INTO log (seq, at_s, kind, ref_id) VALUES ($7, $8, 1, $1)",
            &[
                &id,
                &job.team,
                &job.name,
                &i64::from(job.gpus),
                &job.spec_json,
                &job.idempotency_key,
                &seq,
                &job.at_s,
            ],
        )
        .await?;
    Ok(Submitted {
        id: id as u64,
        seq: seq as u64,
        created: true,
    })
}

const JOB_COLS: &str = "id, team, name, gpus, spec_json, idempotency_key, submitted_at_s, \
                        state, terminal, attempt, cluster, reason, detail_json, updated_at_s";

fn job_row(r: &Row) -> Result<JobRow, StoreError> {
    Ok(JobRow {
        id: unsigned(r, 0)?,
        team: get(r, 1)?,
        name: get(r, 2)?,
        gpus: unsigned(r, 3)?,
        spec_json: get(r, 4)?,
        idempotency_key: get(r, 5)?,
        submitted_at_s: get(r, 6)?,
        state: get(r, 7)?,
        terminal: get(r, 8)?,
        attempt: unsigned(r, 9)?,
        cluster: get(r, 10)?,
        reason: get(r, 11)?,
        detail_json: get(r, 12)?,
        updated_at_s: get(r, 13)?,
    })
}

pub(super) async fn job(c: &Conn, id: JobId) -> Result<Option<JobRow>, StoreError> {
    let sql = format!("SELECT {JOB_COLS} FROM jobs WHERE id = $1");
    c.query_opt(&sql, &[&int(id)])
        .await?
        .as_ref()
        .map(job_row)
        .transpose()
}

pub(super) async fn jobs(c: &Conn, q: &JobQuery) -> Result<Vec<JobRow>, StoreError> {
    // Only the filters given are in the SQL, so the planner picks the index
    // that fits them.
    let after = int(q.after.unwrap_or(0));
    let limit = q.limit.min(MAX_JOBS_PAGE) as i64;
    let mut sql = format!("SELECT {JOB_COLS} FROM jobs WHERE id > $1");
    let mut args: Vec<&(dyn ToSql + Sync)> = vec![&after];
    if let Some(team) = &q.team {
        args.push(team);
        sql.push_str(&format!(" AND team = ${}", args.len()));
    }
    if let Some(state) = &q.state {
        args.push(state);
        sql.push_str(&format!(" AND state = ${}", args.len()));
    }
    if let Some(terminal) = &q.terminal {
        args.push(terminal);
        sql.push_str(&format!(" AND terminal = ${}", args.len()));
    }
    args.push(&limit);
    sql.push_str(&format!(" ORDER BY id LIMIT ${}", args.len()));
    c.query(&sql, &args).await?.iter().map(job_row).collect()
}

pub(super) async fn team_gpus_live(c: &Conn, team: &str) -> Result<u64, StoreError> {
    let row = c
        .query_one(
            "SELECT COALESCE(SUM(gpus), 0)::BIGINT FROM jobs WHERE team = $1 AND NOT terminal",
            &[&team],
        )
        .await?;
    unsigned(&row, 0)
}

pub(super) async fn update_jobs(
    tx: &Tx<'_>,
    d: &(Option<Fence>, Vec<JobUpdate>),
) -> Result<(), StoreError> {
    let (fence, updates) = d;
    check_fence(tx.conn(), *fence).await?;
    if updates.is_empty() {
        return Ok(());
    }
    // One statement for the whole batch: the controller projects many jobs
    // at a time.
    let ids: Vec<i64> = updates.iter().map(|u| int(u.id)).collect();
    let states: Vec<&str> = updates.iter().map(|u| u.state.as_str()).collect();
    let terminals: Vec<bool> = updates.iter().map(|u| u.terminal).collect();
    let attempts: Vec<i64> = updates.iter().map(|u| i64::from(u.attempt)).collect();
    let clusters: Vec<Option<&str>> = updates.iter().map(|u| u.cluster.as_deref()).collect();
    let reasons: Vec<&str> = updates.iter().map(|u| u.reason.as_str()).collect();
    let details: Vec<&str> = updates.iter().map(|u| u.detail_json.as_str()).collect();
    let ats: Vec<i64> = updates.iter().map(|u| u.at_s).collect();
    tx.conn()
        .execute(
            "UPDATE jobs j SET state = u.state, terminal = u.terminal, attempt = u.attempt, \
         cluster = u.cluster, reason = u.reason, detail_json = u.detail, updated_at_s = u.at_s \
         FROM (SELECT DISTINCT ON (id) * FROM unnest($1::bigint[], $2::text[], $3::bool[], \
         $4::bigint[], $5::text[], $6::text[], $7::text[], $8::bigint[]) WITH ORDINALITY \
         AS x(id, state, terminal, attempt, cluster, reason, detail, at_s, n) \
         ORDER BY id, n DESC) u WHERE j.id = u.id",
            &[
                &ids, &states, &terminals, &attempts, &clusters, &reasons, &details, &ats,
            ],
        )
        .await?;
    Ok(())
}

pub(super) async fn create_service(tx: &Tx<'_>, s: &NewService) -> Result<Submitted, StoreError> {
    // A replica that creates the same name after this check makes the
    // insert fail on the unique index; run again alone, the check sees it.
    let taken = tx
        .conn()
        .query_opt(
            "SELECT id FROM services WHERE name = $1 AND NOT deleted",
            &[&s.name],
        )
        .await?;
    if let Some(r) = taken {
        let id: i64 = get(&r, 0)?;
        return Err(StoreError::Conflict(format!(
            "a live service named `{}` (id {id})",
            s.name
        )));
    }
    let (seq, id) = tx.service();
    if ServiceId::try_from(id).is_err() {
        return Err(StoreError::Db("service ids are exhausted".into()));
    }
    tx.conn()
        .execute(
            "WITH ins AS (INSERT INTO services (id, team, name, spec_json, created_at_s, \
             updated_at_s) VALUES ($1, $2, $3, $4, $6, $6)) \
             INSERT INTO log (seq, at_s, kind, ref_id, body) VALUES ($5, $6, 2, $1, $4)",
            &[&id, &s.team, &s.name, &s.spec_json, &seq, &s.at_s],
        )
        .await?;
    Ok(Submitted {
        id: id as u64,
        seq: seq as u64,
        created: true,
    })
}

const SERVICE_COLS: &str =
    "id, team, name, spec_json, deleted, detail_json, created_at_s, updated_at_s";

fn service_row(r: &Row) -> Result<ServiceRow, StoreError> {
    Ok(ServiceRow {
        id: unsigned(r, 0)?,
        team: get(r, 1)?,
        name: get(r, 2)?,
        spec_json: get(r, 3)?,
        deleted: get(r, 4)?,
        detail_json: get(r, 5)?,
        created_at_s: get(r, 6)?,
        updated_at_s: get(r, 7)?,
    })
}

pub(super) async fn service(c: &Conn, id: ServiceId) -> Result<Option<ServiceRow>, StoreError> {
    let sql = format!("SELECT {SERVICE_COLS} FROM services WHERE id = $1");
    c.query_opt(&sql, &[&i64::from(id)])
        .await?
        .as_ref()
        .map(service_row)
        .transpose()
}

pub(super) async fn services(c: &Conn, team: Option<&str>) -> Result<Vec<ServiceRow>, StoreError> {
    let sql = format!(
        "SELECT {SERVICE_COLS} FROM services WHERE $1::text IS NULL OR team = $1 ORDER BY id"
    );
    c.query(&sql, &[&team])
        .await?
        .iter()
        .map(service_row)
        .collect()
}

pub(super) async fn change_service(
    tx: &Tx<'_>,
    d: &(ServiceId, Option<String>, bool, i64, String),
) -> Result<Seq, StoreError> {
    let (id, spec_json, deleted, at_s, event) = d;
    let changed = tx
        .conn()
        .execute(
            "UPDATE services SET spec_json = COALESCE($2, spec_json), deleted = $3, \
             updated_at_s = $4 WHERE id = $1 AND NOT deleted",
            &[&i64::from(*id), spec_json, deleted, at_s],
        )
        .await?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!("live service {id}")));
    }
    let seq = tx.seqs(1);
    tx.conn()
        .execute(
            "INSERT INTO log (seq, at_s, kind, body) VALUES ($1, $2, 0, $3)",
            &[&seq, at_s, event],
        )
        .await?;
    Ok(seq as u64)
}

pub(super) async fn update_service_detail(
    tx: &Tx<'_>,
    d: &(Option<Fence>, ServiceId, String, i64),
) -> Result<(), StoreError> {
    let (fence, id, detail_json, at_s) = d;
    check_fence(tx.conn(), *fence).await?;
    let changed = tx
        .conn()
        .execute(
            "UPDATE services SET detail_json = $2, updated_at_s = $3 WHERE id = $1",
            &[&i64::from(*id), detail_json, at_s],
        )
        .await?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!("service {id}")));
    }
    Ok(())
}

pub(super) async fn put_team(tx: &Tx<'_>, t: &TeamRow) -> Result<(), StoreError> {
    tx.conn()
        .execute(
            "INSERT INTO teams (name, quota_json, weight, max_priority) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (name) DO UPDATE SET quota_json = excluded.quota_json, \
         weight = excluded.weight, max_priority = excluded.max_priority",
            &[
                &t.name,
                &t.quota_json,
                &t.weight,
                &i64::from(t.max_priority),
            ],
        )
        .await?;
    Ok(())
}

fn team_row(r: &Row) -> Result<TeamRow, StoreError> {
    Ok(TeamRow {
        name: get(r, 0)?,
        quota_json: get(r, 1)?,
        weight: get(r, 2)?,
        max_priority: unsigned(r, 3)?,
    })
}

pub(super) async fn team(c: &Conn, name: &str) -> Result<Option<TeamRow>, StoreError> {
    c.query_opt(
        "SELECT name, quota_json, weight, max_priority FROM teams WHERE name = $1",
        &[&name],
    )
    .await?
    .as_ref()
    .map(team_row)
    .transpose()
}

pub(super) async fn teams(c: &Conn) -> Result<Vec<TeamRow>, StoreError> {
    // Byte order, as SQLite sorts, whatever the database's collation.
    c.query(
        "SELECT name, quota_json, weight, max_priority FROM teams ORDER BY name COLLATE \"C\"",
        &[],
    )
    .await?
    .iter()
    .map(team_row)
    .collect()
}

pub(super) async fn add_token(tx: &Tx<'_>, t: &TokenRow) -> Result<(), StoreError> {
    let added = tx
        .conn()
        .execute(
            "INSERT INTO tokens (sha256, team, label, created_at_s, revoked) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sha256) DO NOTHING",
            &[&t.sha256, &t.team, &t.label, &t.created_at_s, &t.revoked],
        )
        .await?;
    if added == 0 {
        return Err(StoreError::Conflict(format!(
            "a token with sha256 {}",
            t.sha256
        )));
    }
    Ok(())
}

const TOKEN_COLS: &str = "sha256, team, label, created_at_s, revoked";

fn token_row(r: &Row) -> Result<TokenRow, StoreError> {
    Ok(TokenRow {
        sha256: get(r, 0)?,
        team: get(r, 1)?,
        label: get(r, 2)?,
        created_at_s: get(r, 3)?,
        revoked: get(r, 4)?,
    })
}

pub(super) async fn token(c: &Conn, sha256: &str) -> Result<Option<TokenRow>, StoreError> {
    let sql = format!("SELECT {TOKEN_COLS} FROM tokens WHERE sha256 = $1");
    c.query_opt(&sql, &[&sha256])
        .await?
        .as_ref()
        .map(token_row)
        .transpose()
}

pub(super) async fn tokens(c: &Conn, team: Option<&str>) -> Result<Vec<TokenRow>, StoreError> {
    let sql = format!(
        "SELECT {TOKEN_COLS} FROM tokens WHERE $1::text IS NULL OR team = $1 \
         ORDER BY sha256 COLLATE \"C\""
    );
    c.query(&sql, &[&team])
        .await?
        .iter()
        .map(token_row)
        .collect()
}

pub(super) async fn revoke_token(tx: &Tx<'_>, sha256: &String) -> Result<(), StoreError> {
    let changed = tx
        .conn()
        .execute(
            "UPDATE tokens SET revoked = TRUE WHERE sha256 = $1",
            &[sha256],
        )
        .await?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!(
            "a token with sha256 {sha256}"
        )));
    }
    Ok(())
}

pub(super) async fn meta(c: &Conn, key: &str) -> Result<Option<String>, StoreError> {
    c.query_opt("SELECT value FROM meta WHERE key = $1", &[&key])
        .await?
        .map(|r| get(&r, 0))
        .transpose()
}

pub(super) async fn set_meta(tx: &Tx<'_>, d: &(String, String, bool)) -> Result<bool, StoreError> {
    let (key, value, only_if_absent) = d;
    let sql = if *only_if_absent {
        "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING"
    } else {
        "INSERT INTO meta (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value"
    };
    Ok(tx.conn().execute(sql, &[key, value]).await? == 1)
}
