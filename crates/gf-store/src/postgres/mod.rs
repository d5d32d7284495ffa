//! The replicated store: PostgreSQL, shared by several `serve` replicas of
//! which one leads.
//!
//! One writer task per store owns a connection and commits in groups: it
//! waits for a first request, takes whatever else is queued (up to
//! [`PgOptions::max_group`]), sends all their statements pipelined inside
//! one transaction, commits once and only then answers each request. A
//! request that the store refuses (a conflict, a stale fence) is refused
//! before it writes anything, so the group commits without it; a database
//! fault fails the group's transaction, and then each request is run again
//! alone in its own, so one bad request never fails the others (and one
//! that lost a race on a unique index to another replica finds the
//! winner's row the second time). The queue
//! is bounded; a full queue answers [`StoreError::Busy`] at once. Reads go
//! to their own connections, so they never wait behind a group.
//!
//! Seq is dense and in commit order across replicas: every group's
//! transaction locks the one `heads` row (the last seq and ids handed out)
//! from its start until it commits. Leadership is a session-level advisory lock held on a
//! dedicated connection (PostgreSQL releases it when that connection dies)
//! plus a fence counter bumped at each acquisition; fenced writes check,
//! inside their transaction, that their fence is the last one and that its
//! holder still holds the lock.

mod ops;
mod schema;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Row, Statement};

use crate::{
    Fence, JobId, JobQuery, JobRow, JobUpdate, LogRecord, NewJob, NewService, Seq, ServiceId,
    ServiceRow, Store, StoreError, Submitted, TeamRow, TokenRow,
};

/// The advisory lock key of leadership (`GFST`), below 2^32 so `pg_locks`
/// shows it as `classid = 0, objid = key, objsubid = 1`.
pub(crate) const LEADER_KEY: i64 = 0x4746_5354;

/// How the PostgreSQL store is run. [`PgOptions::default`] is what `serve`
/// uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// Most write requests one transaction commits; 1 turns group commit
    /// off. 0 is taken as 1.
    pub max_group: usize,
    /// Write requests that may wait for the writer; one more is answered
    /// [`StoreError::Busy`]. 0 is taken as 1.
    pub queue_capacity: usize,
    /// Reader connections. 0 is taken as 1.
    pub readers: usize,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            max_group: 1_024,
            queue_capacity: 65_536,
            readers: 2,
        }
    }
}

/// A PostgreSQL failure as the store reports it.
pub(crate) fn pg(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(d) => StoreError::Db(format!("{} ({})", d.message(), d.code().code())),
        None => StoreError::Db(e.to_string()),
    }
}

/// One connection and the statements prepared on it.
pub(crate) struct Conn {
    client: Client,
    prepared: Mutex<HashMap<String, Statement>>,
    /// Held while preparing, so the many requests of a first group do not
    /// each prepare the same statement.
    preparing: tokio::sync::Mutex<()>,
}

impl Conn {
    /// Connects; the connection's task runs on the caller's tokio runtime
    /// and ends when the client is dropped.
    async fn open(config: &Config) -> Result<Conn, StoreError> {
        let rt = tokio::runtime::Handle::try_current().map_err(|_| {
            StoreError::Db("the PostgreSQL store must be used inside a tokio runtime".into())
        })?;
        let (client, connection) = config
            .connect(NoTls)
            .await
            .map_err(|e| StoreError::Db(format!("cannot connect to PostgreSQL: {e}")))?;
        rt.spawn(async move {
            // The error, if any, reaches the client's next call.
            let _ = connection.await;
        });
        // The store's tables start empty, and a generic plan chosen then (a
        // sequential scan) would stay cached as they grow, making every
        // lookup linear in the table: each statement is planned with its
        // parameters instead (an index lookup, planned in microseconds).
        client
            .batch_execute("SET plan_cache_mode = force_custom_plan")
            .await
            .map_err(pg)?;
        Ok(Conn {
            client,
            prepared: Mutex::new(HashMap::new()),
            preparing: tokio::sync::Mutex::new(()),
        })
    }

    fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// The statement for `sql`, prepared once per connection.
    async fn statement(&self, sql: &str) -> Result<Statement, StoreError> {
        let cached = || {
            self.prepared
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(sql)
                .cloned()
        };
        if let Some(s) = cached() {
            return Ok(s);
        }
        let _preparing = self.preparing.lock().await;
        if let Some(s) = cached() {
            return Ok(s);
        }
        let s = self.client.prepare(sql).await.map_err(pg)?;
        self.prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sql.to_string(), s.clone());
        Ok(s)
    }

    async fn query(&self, sql: &str, p: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, StoreError> {
        let s = self.statement(sql).await?;
        self.client.query(&s, p).await.map_err(pg)
    }

    async fn query_one(&self, sql: &str, p: &[&(dyn ToSql + Sync)]) -> Result<Row, StoreError> {
        let s = self.statement(sql).await?;
        self.client.query_one(&s, p).await.map_err(pg)
    }

    async fn query_opt(
        &self,
        sql: &str,
        p: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, StoreError> {
        let s = self.statement(sql).await?;
        self.client.query_opt(&s, p).await.map_err(pg)
    }

    async fn execute(&self, sql: &str, p: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        let s = self.statement(sql).await?;
        self.client.execute(&s, p).await.map_err(pg)
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A queued write: run (perhaps twice: in its group, then alone when the
/// group failed), then answered once its transaction's fate is known.
trait WriteOp: Send {
    /// Runs the request's statements; an `Err` means the transaction can
    /// not commit (a database fault).
    fn run<'a>(&'a mut self, tx: &'a Tx<'a>) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Answers the caller: its own result when the commit succeeded.
    fn answer(self: Box<Self>, commit: Result<(), StoreError>);
}

/// The function of a write: its group's transaction and its request's data.
type WriteFn<D, T> = for<'a> fn(&'a Tx<'a>, &'a D) -> BoxFuture<'a, Result<T, StoreError>>;

struct Request<D, T> {
    data: D,
    run: WriteFn<D, T>,
    result: Option<Result<T, StoreError>>,
    tx: oneshot::Sender<Result<T, StoreError>>,
}

impl<D: Send + Sync, T: Send> WriteOp for Request<D, T> {
    fn run<'a>(&'a mut self, tx: &'a Tx<'a>) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let r = (self.run)(tx, &self.data).await;
            let fault = match &r {
                Err(e @ StoreError::Db(_)) => Err(e.clone()),
                _ => Ok(()),
            };
            self.result = Some(r);
            fault
        })
    }

    fn answer(self: Box<Self>, commit: Result<(), StoreError>) {
        let r = match (commit, self.result) {
            (Err(e), _) => Err(e),
            (Ok(()), Some(r)) => r,
            (Ok(()), None) => Err(StoreError::Db(
                "a request was answered before it ran".into(),
            )),
        };
        let _ = self.tx.send(r);
    }
}

/// The PostgreSQL store. Cheap to clone. Its connections live on the tokio
/// runtime that [`PgStore::connect`] ran on and close when the last clone is
/// dropped (which also releases leadership).
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    writes: mpsc::Sender<Box<dyn WriteOp>>,
    readers: Vec<Mutex<Arc<Conn>>>,
    next_reader: AtomicUsize,
    /// The connection that holds the leadership lock once taken.
    leader: tokio::sync::Mutex<Option<Conn>>,
    commits: Arc<AtomicU64>,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host:port/db`)
    /// with the default [`PgOptions`]; see [`PgStore::connect_with`].
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        Self::connect_with(url, PgOptions::default()).await
    }

    /// Connects, migrates the schema and starts the writer task. Must run
    /// inside a tokio runtime (the connections' tasks are spawned on it).
    pub async fn connect_with(url: &str, o: PgOptions) -> Result<PgStore, StoreError> {
        let config: Config = url.parse().map_err(|e| {
            StoreError::Db(format!(
                "the PostgreSQL URL is not valid ({e}); expected postgres://USER@HOST:PORT/DATABASE"
            ))
        })?;
        let mut writer = Conn::open(&config).await?;
        schema::migrate(&mut writer.client).await?;
        let mut readers = Vec::new();
        for _ in 0..o.readers.max(1) {
            readers.push(Mutex::new(Arc::new(Conn::open(&config).await?)));
        }
        let (tx, rx) = mpsc::channel(o.queue_capacity.max(1));
        let commits = Arc::new(AtomicU64::new(0));
        tokio::spawn(write_loop(
            config.clone(),
            writer,
            rx,
            o.max_group.max(1),
            commits.clone(),
        ));
        Ok(PgStore {
            inner: Arc::new(Inner {
                config,
                writes: tx,
                readers,
                next_reader: AtomicUsize::new(0),
                leader: tokio::sync::Mutex::new(None),
                commits,
            }),
        })
    }

    /// Transactions this store's writer has committed since it connected.
    pub fn commits(&self) -> u64 {
        self.inner.commits.load(Ordering::Relaxed)
    }

    /// Queues a write at once and returns the future of its answer.
    fn write<D, T>(
        &self,
        data: D,
        run: WriteFn<D, T>,
    ) -> impl Future<Output = Result<T, StoreError>> + Send + use<D, T>
    where
        D: Send + Sync + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let op: Box<dyn WriteOp> = Box::new(Request {
            data,
            run,
            result: None,
            tx,
        });
        let queued = self.inner.writes.try_send(op).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => StoreError::Busy,
            mpsc::error::TrySendError::Closed(_) => gone(),
        });
        async move {
            queued?;
            rx.await.map_err(|_| gone())?
        }
    }

    /// A reader connection, round robin, reconnected when it died.
    async fn reader(&self) -> Result<Arc<Conn>, StoreError> {
        let i = self.inner.next_reader.fetch_add(1, Ordering::Relaxed) % self.inner.readers.len();
        let slot = &self.inner.readers[i];
        let c = slot.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if !c.is_closed() {
            return Ok(c);
        }
        let fresh = Arc::new(Conn::open(&self.inner.config).await?);
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
        Ok(fresh)
    }
}

fn gone() -> StoreError {
    StoreError::Db("the store's writer task has stopped".into())
}

/// The last seq, job id and service id handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Heads {
    seq: i64,
    job: i64,
    service: i64,
}

/// A group's transaction: its connection, and the `heads` row it locked at
/// the start, handed out from memory and written back once at the end. (One
/// UPDATE of the row per request would leave one row version per request
/// in the transaction, and each UPDATE walks them all.) Requests take their
/// seqs and ids only after their checks pass, so none is skipped.
pub(crate) struct Tx<'a> {
    conn: &'a Conn,
    heads: Mutex<Heads>,
}

impl Tx<'_> {
    fn conn(&self) -> &Conn {
        self.conn
    }

    fn take(&self, f: impl FnOnce(&mut Heads)) -> Heads {
        let mut h = self.heads.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut h);
        *h
    }

    /// The first of `n` new seqs.
    fn seqs(&self, n: usize) -> i64 {
        self.take(|h| h.seq += n as i64).seq - n as i64 + 1
    }

    /// A new seq and a new job id.
    fn job(&self) -> (i64, i64) {
        let h = self.take(|h| {
            h.seq += 1;
            h.job += 1;
        });
        (h.seq, h.job)
    }

    /// A new seq and a new service id.
    fn service(&self) -> (i64, i64) {
        let h = self.take(|h| {
            h.seq += 1;
            h.service += 1;
        });
        (h.seq, h.service)
    }
}

/// Runs `ops` in one transaction: the `heads` row locked (so groups commit
/// in seq order across replicas), all their statements pipelined, the row
/// written back, one commit. Any fault rolls the whole transaction back.
async fn run_group(c: &Conn, ops: &mut [Box<dyn WriteOp>]) -> Result<(), StoreError> {
    c.client.batch_execute("BEGIN").await.map_err(pg)?;
    let r = run_in_transaction(c, ops).await;
    let end = if r.is_ok() { "COMMIT" } else { "ROLLBACK" };
    match (r, c.client.batch_execute(end).await) {
        (Err(e), _) => Err(e),
        (Ok(()), Ok(())) => Ok(()),
        (Ok(()), Err(e)) => {
            let _ = c.client.batch_execute("ROLLBACK").await;
            Err(pg(e))
        }
    }
}

async fn run_in_transaction(c: &Conn, ops: &mut [Box<dyn WriteOp>]) -> Result<(), StoreError> {
    let row = c
        .query_one(
            "SELECT seq, job, service FROM heads WHERE id = 1 FOR UPDATE",
            &[],
        )
        .await?;
    let start = Heads {
        seq: row.try_get(0).map_err(pg)?,
        job: row.try_get(1).map_err(pg)?,
        service: row.try_get(2).map_err(pg)?,
    };
    let tx = Tx {
        conn: c,
        heads: Mutex::new(start),
    };
    let outcomes = futures_util::future::join_all(ops.iter_mut().map(|op| op.run(&tx))).await;
    if let Some(Err(e)) = outcomes.into_iter().find(Result::is_err) {
        return Err(e);
    }
    let end = tx.take(|_| {});
    if end != start {
        c.execute(
            "UPDATE heads SET seq = $1, job = $2, service = $3 WHERE id = 1",
            &[&end.seq, &end.job, &end.service],
        )
        .await?;
    }
    Ok(())
}

async fn write_loop(
    config: Config,
    conn: Conn,
    mut q: mpsc::Receiver<Box<dyn WriteOp>>,
    max_group: usize,
    commits: Arc<AtomicU64>,
) {
    let mut conn = Some(conn);
    let mut group: Vec<Box<dyn WriteOp>> = Vec::new();
    while let Some(first) = q.recv().await {
        group.push(first);
        while group.len() < max_group {
            match q.try_recv() {
                Ok(op) => group.push(op),
                Err(_) => break,
            }
        }
        if conn.as_ref().is_none_or(Conn::is_closed) {
            match Conn::open(&config).await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    conn = None;
                    for op in group.drain(..) {
                        op.answer(Err(e.clone()));
                    }
                    continue;
                }
            }
        }
        let Some(c) = conn.as_ref() else { continue };
        match run_group(c, &mut group).await {
            Ok(()) => {
                commits.fetch_add(1, Ordering::Relaxed);
                for op in group.drain(..) {
                    op.answer(Ok(()));
                }
            }
            Err(_) => {
                // One request's fault must not fail the others: each runs
                // again alone. A request that lost a race on a unique index
                // to another replica's commit (the same idempotency key, the
                // same service name) sees that commit now and is answered
                // as if it had come second, so even a group of one goes
                // again.
                for mut op in group.drain(..) {
                    let r = run_group(c, std::slice::from_mut(&mut op)).await;
                    if r.is_ok() {
                        commits.fetch_add(1, Ordering::Relaxed);
                    }
                    op.answer(r);
                }
            }
        }
    }
}

impl Store for PgStore {
    fn append(
        &self,
        fence: Option<Fence>,
        at_s: i64,
        events: Vec<String>,
    ) -> impl Future<Output = Result<Vec<Seq>, StoreError>> + Send {
        self.write((fence, at_s, events), |c, d| Box::pin(ops::append(c, d)))
    }

    async fn read_log(&self, after: Seq, limit: usize) -> Result<Vec<LogRecord>, StoreError> {
        ops::read_log(&*self.reader().await?, after, limit).await
    }

    async fn last_seq(&self) -> Result<Seq, StoreError> {
        ops::last_seq(&*self.reader().await?).await
    }

    fn submit_job(
        &self,
        job: NewJob,
    ) -> impl Future<Output = Result<Submitted, StoreError>> + Send {
        self.write(job, |c, d| Box::pin(ops::submit_job(c, d)))
    }

    async fn job(&self, id: JobId) -> Result<Option<JobRow>, StoreError> {
        ops::job(&*self.reader().await?, id).await
    }

    async fn jobs(&self, q: JobQuery) -> Result<Vec<JobRow>, StoreError> {
        ops::jobs(&*self.reader().await?, &q).await
    }

    async fn team_gpus_live(&self, team: &str) -> Result<u64, StoreError> {
        ops::team_gpus_live(&*self.reader().await?, team).await
    }

    fn update_jobs(
        &self,
        fence: Option<Fence>,
        updates: Vec<JobUpdate>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.write((fence, updates), |c, d| Box::pin(ops::update_jobs(c, d)))
    }

    fn create_service(
        &self,
        s: NewService,
    ) -> impl Future<Output = Result<Submitted, StoreError>> + Send {
        self.write(s, |c, d| Box::pin(ops::create_service(c, d)))
    }

    async fn service(&self, id: ServiceId) -> Result<Option<ServiceRow>, StoreError> {
        ops::service(&*self.reader().await?, id).await
    }

    async fn services(&self, team: Option<String>) -> Result<Vec<ServiceRow>, StoreError> {
        ops::services(&*self.reader().await?, team.as_deref()).await
    }

    fn change_service(
        &self,
        id: ServiceId,
        spec_json: Option<String>,
        deleted: bool,
        at_s: i64,
        event: String,
    ) -> impl Future<Output = Result<Seq, StoreError>> + Send {
        self.write((id, spec_json, deleted, at_s, event), |c, d| {
            Box::pin(ops::change_service(c, d))
        })
    }

    fn update_service_detail(
        &self,
        fence: Option<Fence>,
        id: ServiceId,
        detail_json: String,
        at_s: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.write((fence, id, detail_json, at_s), |c, d| {
            Box::pin(ops::update_service_detail(c, d))
        })
    }

    fn put_team(&self, t: TeamRow) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.write(t, |c, d| Box::pin(ops::put_team(c, d)))
    }

    async fn team(&self, name: &str) -> Result<Option<TeamRow>, StoreError> {
        ops::team(&*self.reader().await?, name).await
    }

    async fn teams(&self) -> Result<Vec<TeamRow>, StoreError> {
        ops::teams(&*self.reader().await?).await
    }

    fn add_token(&self, t: TokenRow) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.write(t, |c, d| Box::pin(ops::add_token(c, d)))
    }

    async fn token(&self, sha256: &str) -> Result<Option<TokenRow>, StoreError> {
        ops::token(&*self.reader().await?, sha256).await
    }

    async fn tokens(&self, team: Option<String>) -> Result<Vec<TokenRow>, StoreError> {
        ops::tokens(&*self.reader().await?, team.as_deref()).await
    }

    fn revoke_token(&self, sha256: &str) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.write(sha256.to_string(), |c, d| Box::pin(ops::revoke_token(c, d)))
    }

    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        ops::meta(&*self.reader().await?, key).await
    }

    fn set_meta(
        &self,
        key: &str,
        value: &str,
        only_if_absent: bool,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.write(
            (key.to_string(), value.to_string(), only_if_absent),
            |c, d| Box::pin(ops::set_meta(c, d)),
        )
    }

    async fn acquire_leadership(&self) -> Result<Option<Fence>, StoreError> {
        let mut slot = self.inner.leader.lock().await;
        if slot.as_ref().is_none_or(Conn::is_closed) {
            *slot = Some(Conn::open(&self.inner.config).await?);
        }
        let Some(c) = slot.as_ref() else {
            return Err(gone());
        };
        let got: bool = c
            .query_one("SELECT pg_try_advisory_lock($1)", &[&LEADER_KEY])
            .await?
            .try_get(0)
            .map_err(pg)?;
        if !got {
            return Ok(None);
        }
        Ok(Some(Fence(ops::bump_fence(c).await?)))
    }

    async fn is_leader(&self, fence: Fence) -> Result<bool, StoreError> {
        ops::is_leader(&*self.reader().await?, fence).await
    }
}
