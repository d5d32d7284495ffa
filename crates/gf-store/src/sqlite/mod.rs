//! The embedded store: one SQLite file, `gigafleet.db`, under the data
//! directory, in WAL mode with `synchronous=FULL` so a commit is on disk
//! when it returns.
//!
//! One writer thread owns the write connection and commits in groups: it
//! waits for a first request, takes whatever else is already queued (up to
//! [`Options::max_group`]), runs them all in one transaction, one savepoint
//! each so a refused request does not undo the others, commits once (one
//! fsync for the group) and only then answers each request. The queue is
//! bounded; a full queue answers [`StoreError::Busy`] at once rather than
//! block the caller. Reads go to their own connections on reader threads,
//! so a read never waits behind a group being written (WAL readers see the
//! last commit).
//!
//! A checkpointer thread copies the WAL into the database file in the
//! background, so commits never wait for that copy.
//!
//! Leadership is an exclusive OS lock on `leader.lock` in the data
//! directory, held as long as the store that took it lives; each
//! acquisition hands out a new fencing token from the database.

mod ops;
mod schema;

use std::fs::{File, OpenOptions, TryLockError};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode};
use tokio::sync::oneshot;

use crate::{
    Fence, JobId, JobQuery, JobRow, JobUpdate, LogRecord, NewJob, NewService, Seq, ServiceId,
    ServiceRow, Store, StoreError, Submitted, TeamRow, TokenRow,
};

/// How the SQLite store is run. [`Options::default`] is what `serve` uses;
/// the others exist for tests and benchmarks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Most write requests one transaction commits; 1 turns group commit
    /// off (one transaction and one fsync per request). 0 is taken as 1.
    pub max_group: usize,
    /// Write requests that may wait for the writer; one more is answered
    /// [`StoreError::Busy`]. 0 is taken as 1.
    pub queue_capacity: usize,
    /// Reader threads, each with its own connection. 0 is taken as 1.
    pub readers: usize,
    /// How long a connection waits for another process's lock on the
    /// database before giving up with [`StoreError::Busy`].
    pub busy_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_group: 4_096,
            queue_capacity: 65_536,
            readers: 2,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// The name of the database file under the data directory.
pub const DB_FILE: &str = "gigafleet.db";
/// The name of the leadership lock file under the data directory.
pub const LOCK_FILE: &str = "leader.lock";

/// What the writer hands back after running a request: called once the
/// group's commit is known, with its outcome.
type Reply = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// A write request: runs on the writer's connection inside the group's
/// transaction (or is told the transaction could not begin).
type WriteOp = Box<dyn FnOnce(Result<&Connection, StoreError>) -> Reply + Send>;
/// A read request: runs on a reader's connection and answers at once.
type ReadOp = Box<dyn FnOnce(&Connection) + Send>;

/// The embedded SQLite store. Cheap to clone; the threads end when the last
/// clone is dropped (after the writes already queued are committed).
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    writes: Option<SyncSender<WriteOp>>,
    reads: Option<SyncSender<ReadOp>>,
    /// Dropped to stop the checkpointer (nothing is ever sent).
    checkpoints: Option<mpsc::Sender<()>>,
    threads: Vec<JoinHandle<()>>,
    commits: Arc<AtomicU64>,
    /// The leadership lock while this store holds it.
    lock: Mutex<Option<File>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the queues ends the threads once they have drained them;
        // joining closes every connection before the data directory is
        // handed to the next opener.
        self.writes.take();
        self.reads.take();
        self.checkpoints.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// An SQLite failure as the store reports it: a lock another process held
/// too long is `Busy` (retry), anything else a database fault.
pub(crate) fn db(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy,
        _ => StoreError::Db(e.to_string()),
    }
}

fn gone() -> StoreError {
    StoreError::Db("the store's worker thread has stopped".into())
}

fn connect(path: &Path, o: &Options) -> Result<Connection, StoreError> {
    let c = Connection::open(path)
        .map_err(|e| StoreError::Db(format!("cannot open {}: {e}", path.display())))?;
    c.busy_timeout(o.busy_timeout).map_err(db)?;
    let mode: String = c
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(db)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Db(format!(
            "{} cannot use write-ahead logging (journal mode stays {mode})",
            path.display()
        )));
    }
    c.execute_batch("PRAGMA synchronous = FULL").map_err(db)?;
    c.set_prepared_statement_cache_capacity(64);
    Ok(c)
}

impl SqliteStore {
    /// Opens (creating when missing) the store in `dir`, with the default
    /// [`Options`].
    pub fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        Self::open_with(dir, Options::default())
    }

    /// Opens (creating when missing) the store in `dir`: creates the
    /// directory and `gigafleet.db`, migrates the schema, starts the writer
    /// and reader threads. A second store may be opened on the same
    /// directory (to read, or to write a little, as the CLI does); only one
    /// of them can lead.
    pub fn open_with(dir: &Path, o: Options) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Db(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join(DB_FILE);
        let mut writer = connect(&path, &o)?;
        schema::migrate(&mut writer)?;
        // The checkpointer thread copies the WAL into the database, so the
        // writer's commits never wait for that copy and its fsync.
        writer
            .execute_batch("PRAGMA wal_autocheckpoint = 0")
            .map_err(db)?;
        let checkpointer = connect(&path, &o)?;
        let readers = (0..o.readers.max(1))
            .map(|_| {
                let c = connect(&path, &o)?;
                c.execute_batch("PRAGMA query_only = ON").map_err(db)?;
                Ok(c)
            })
            .collect::<Result<Vec<_>, StoreError>>()?;

        let commits = Arc::new(AtomicU64::new(0));
        let (wtx, wrx) = mpsc::sync_channel::<WriteOp>(o.queue_capacity.max(1));
        let (rtx, rrx) = mpsc::sync_channel::<ReadOp>(o.queue_capacity.max(1));
        let rrx = Arc::new(Mutex::new(rrx));
        let (ctx, crx) = mpsc::channel::<()>();
        let mut threads = Vec::new();
        let spawn = |name: String, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name)
                .spawn(f)
                .map_err(|e| StoreError::Db(format!("cannot start a store thread: {e}")))
        };
        let max_group = o.max_group.max(1);
        let counter = commits.clone();
        threads.push(spawn(
            "gf-store-writer".into(),
            Box::new(move || write_loop(writer, wrx, max_group, counter)),
        )?);
        threads.push(spawn(
            "gf-store-checkpointer".into(),
            Box::new(move || checkpoint_loop(checkpointer, crx)),
        )?);
        for (i, c) in readers.into_iter().enumerate() {
            let q = rrx.clone();
            threads.push(spawn(
                format!("gf-store-reader-{i}"),
                Box::new(move || read_loop(c, q)),
            )?);
        }
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                writes: Some(wtx),
                reads: Some(rtx),
                checkpoints: Some(ctx),
                threads,
                commits,
                lock: Mutex::new(None),
            }),
        })
    }

    /// Transactions this store's writer has committed since it was opened:
    /// how well group commit groups (requests answered ÷ commits).
    pub fn commits(&self) -> u64 {
        self.inner.commits.load(Ordering::Relaxed)
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Queues a write at once (so calls are committed in the order they
    /// were made) and returns the future of its answer.
    fn write<T, F>(&self, f: F) -> impl Future<Output = Result<T, StoreError>> + Send + use<T, F>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let op: WriteOp = Box::new(move |conn| {
            let r = conn.and_then(|c| in_savepoint(c, f));
            Box::new(move |commit: Result<(), StoreError>| {
                let _ = tx.send(commit.and(r));
            })
        });
        let queued = match &self.inner.writes {
            Some(q) => q.try_send(op).map_err(|e| match e {
                TrySendError::Full(_) => StoreError::Busy,
                TrySendError::Disconnected(_) => gone(),
            }),
            None => Err(gone()),
        };
        async move {
            queued?;
            rx.await.map_err(|_| gone())?
        }
    }

    /// Queues a read for the reader threads.
    fn read<T, F>(&self, f: F) -> impl Future<Output = Result<T, StoreError>> + Send + use<T, F>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let op: ReadOp = Box::new(move |c| {
            let _ = tx.send(f(c));
        });
        let queued = match &self.inner.reads {
            Some(q) => q.try_send(op).map_err(|e| match e {
                TrySendError::Full(_) => StoreError::Busy,
                TrySendError::Disconnected(_) => gone(),
            }),
            None => Err(gone()),
        };
        async move {
            queued?;
            rx.await.map_err(|_| gone())?
        }
    }

    /// Takes the leadership lock unless some store (in this process or
    /// another) holds it; true when this store holds it now.
    fn take_lock(&self) -> Result<bool, StoreError> {
        let mut held = self.inner.lock.lock().unwrap_or_else(|p| p.into_inner());
        if held.is_some() {
            return Ok(true);
        }
        let f = self.open_lock_file()?;
        match f.try_lock() {
            Ok(()) => {
                *held = Some(f);
                Ok(true)
            }
            Err(TryLockError::WouldBlock) => Ok(false),
            Err(TryLockError::Error(e)) => Err(self.lock_error(e)),
        }
    }

    /// Whether any store holds the leadership lock of this directory.
    fn lock_is_held(&self) -> Result<bool, StoreError> {
        if self
            .inner
            .lock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
        {
            return Ok(true);
        }
        // A lock this handle can take is held by nobody; dropping the file
        // releases it again at once.
        match self.open_lock_file()?.try_lock() {
            Ok(()) => Ok(false),
            Err(TryLockError::WouldBlock) => Ok(true),
            Err(TryLockError::Error(e)) => Err(self.lock_error(e)),
        }
    }

    fn open_lock_file(&self) -> Result<File, StoreError> {
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.inner.dir.join(LOCK_FILE))
            .map_err(|e| self.lock_error(e))
    }

    fn lock_error(&self, e: std::io::Error) -> StoreError {
        StoreError::Db(format!(
            "cannot lock {}: {e}",
            self.inner.dir.join(LOCK_FILE).display()
        ))
    }
}

/// Runs one request inside its own savepoint: a refused request rolls back
/// what it wrote and leaves the rest of the group alone.
fn in_savepoint<T>(
    c: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    c.execute_batch("SAVEPOINT request").map_err(db)?;
    let r = f(c);
    let end = if r.is_ok() {
        "RELEASE request"
    } else {
        "ROLLBACK TO request; RELEASE request"
    };
    c.execute_batch(end).map_err(db)?;
    r
}

fn write_loop(c: Connection, q: Receiver<WriteOp>, max_group: usize, commits: Arc<AtomicU64>) {
    let mut group: Vec<WriteOp> = Vec::with_capacity(max_group.min(4_096));
    while let Ok(first) = q.recv() {
        group.push(first);
        while group.len() < max_group {
            match q.try_recv() {
                Ok(op) => group.push(op),
                Err(_) => break,
            }
        }
        if let Err(e) = c.execute_batch("BEGIN IMMEDIATE").map_err(db) {
            for op in group.drain(..) {
                op(Err(e.clone()))(Err(e.clone()));
            }
            continue;
        }
        let replies: Vec<Reply> = group.drain(..).map(|op| op(Ok(&c))).collect();
        let outcome = c.execute_batch("COMMIT").map_err(db);
        if outcome.is_ok() {
            commits.fetch_add(1, Ordering::Relaxed);
        } else {
            let _ = c.execute_batch("ROLLBACK");
        }
        for reply in replies {
            reply(outcome.clone());
        }
    }
}

/// How often the checkpointer copies the WAL into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// Copies committed WAL frames into the database file every
/// [`CHECKPOINT_EVERY`] without blocking the writer or the readers
/// (`PASSIVE`); once all are copied the writer starts the WAL over, so it
/// stays small. Ends when the store is dropped.
fn checkpoint_loop(c: Connection, stop: Receiver<()>) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        // A checkpoint that fails (busy, IO) is retried at the next tick;
        // the WAL keeps every commit durable meanwhile.
        let _ = c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    }
}

fn read_loop(c: Connection, q: Arc<Mutex<Receiver<ReadOp>>>) {
    loop {
        let next = q.lock().unwrap_or_else(|p| p.into_inner()).recv();
        match next {
            Ok(op) => op(&c),
            Err(_) => return,
        }
    }
}

impl Store for SqliteStore {
    fn append(
        &self,
        fence: Option<Fence>,
        at_s: i64,
        events: Vec<String>,
    ) -> impl Future<Output = Result<Vec<Seq>, StoreError>> + Send {
        self.write(move |c| ops::append(c, fence, at_s, &events))
    }

    fn read_log(
        &self,
        after: Seq,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<LogRecord>, StoreError>> + Send {
        self.read(move |c| ops::read_log(c, after, limit))
    }

    fn last_seq(&self) -> impl Future<Output = Result<Seq, StoreError>> + Send {
        self.read(ops::last_seq)
    }

    fn submit_job(
        &self,
        job: NewJob,
    ) -> impl Future<Output = Result<Submitted, StoreError>> + Send {
        self.write(move |c| ops::submit_job(c, &job))
    }

    fn job(&self, id: JobId) -> impl Future<Output = Result<Option<JobRow>, StoreError>> + Send {
        self.read(move |c| ops::job(c, id))
    }

    fn jobs(&self, q: JobQuery) -> impl Future<Output = Result<Vec<JobRow>, StoreError>> + Send {
        self.read(move |c| ops::jobs(c, &q))
    }

    fn team_gpus_live(&self, team: &str) -> impl Future<Output = Result<u64, StoreError>> + Send {
        let team = team.to_string();
        self.read(move |c| ops::team_gpus_live(c, &team))
    }

    fn update_jobs(
        &self,
        fence: Option<Fence>,
        updates: Vec<JobUpdate>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.write(move |c| ops::update_jobs(c, fence, &updates))
    }

    fn create_service(
        &self,
        s: NewService,
    ) -> impl Future<Output = Result<Submitted, StoreError>> + Send {
        self.write(move |c| ops::create_service(c, &s))
    }

    fn service(
        &self,
        id: ServiceId,
    ) -> impl Future<Output = Result<Option<ServiceRow>, StoreError>> + Send {
        self.read(move |c| ops::service(c, id))
    }

    fn services(
        &self,
        team: Option<String>,
    ) -> impl Future<Output = Result<Vec<ServiceRow>, StoreError>> + Send {
        self.read(move |c| ops::services(c, team.as_deref()))
    }

    fn change_service(
        &self,
        id: ServiceId,
        spec_json: Option<String>,
        deleted: bool,
        at_s: i64,
        event: String,
    ) -> impl Future<Output = Result<Seq, StoreError>> + Send {
        self.write(move |c| ops::change_service(c, id, spec_json.as_deref(), deleted, at_s, &event))
    }

    fn update_service_detail(
        &self,
        fence: Option<Fence>,
        id: ServiceId,
        detail_json: String,
        at_s: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.write(move |c| ops::update_service_detail(c, fence, id, &detail_json, at_s))
    }

    fn put_team(&self, t: TeamRow) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.write(move |c| ops::put_team(c, &t))
    }

    fn team(&self, name: &str) -> impl Future<Output = Result<Option<TeamRow>, StoreError>> + Send {
        let name = name.to_string();
        self.read(move |c| ops::team(c, &name))
    }

    fn teams(&self) -> impl Future<Output = Result<Vec<TeamRow>, StoreError>> + Send {
        self.read(ops::teams)
    }

    fn add_token(&self, t: TokenRow) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.write(move |c| ops::add_token(c, &t))
    }

    fn token(
        &self,
        sha256: &str,
    ) -> impl Future<Output = Result<Option<TokenRow>, StoreError>> + Send {
        let sha256 = sha256.to_string();
        self.read(move |c| ops::token(c, &sha256))
    }

    fn tokens(
        &self,
        team: Option<String>,
    ) -> impl Future<Output = Result<Vec<TokenRow>, StoreError>> + Send {
        self.read(move |c| ops::tokens(c, team.as_deref()))
    }

    fn revoke_token(&self, sha256: &str) -> impl Future<Output = Result<(), StoreError>> + Send {
        let sha256 = sha256.to_string();
        self.write(move |c| ops::revoke_token(c, &sha256))
    }

    fn meta(&self, key: &str) -> impl Future<Output = Result<Option<String>, StoreError>> + Send {
        let key = key.to_string();
        self.read(move |c| ops::meta(c, &key))
    }

    fn set_meta(
        &self,
        key: &str,
        value: &str,
        only_if_absent: bool,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        let (key, value) = (key.to_string(), value.to_string());
        self.write(move |c| ops::set_meta(c, &key, &value, only_if_absent))
    }

    fn acquire_leadership(&self) -> impl Future<Output = Result<Option<Fence>, StoreError>> + Send {
        let this = self.clone();
        async move {
            if !this.take_lock()? {
                return Ok(None);
            }
            let fence = this.write(ops::bump_fence).await?;
            Ok(Some(Fence(fence)))
        }
    }

    fn is_leader(&self, fence: Fence) -> impl Future<Output = Result<bool, StoreError>> + Send {
        let this = self.clone();
        async move {
            let current = this.read(ops::current_fence).await?;
            Ok(current == fence.0 && this.lock_is_held()?)
        }
    }
}
