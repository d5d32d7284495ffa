//! gf-store keeps what the live control plane must not lose: the append-only
//! event log the controller is restored from, the jobs and services users
//! submitted (with the state the controller last projected onto them),
//! teams, their tokens and quotas, a little metadata, and who leads.
//!
//! One [`Store`] trait, two implementations under one conformance suite
//! (`conformance`, a macro each implementation instantiates): embedded SQLite, the default (one file under
//! `--data-dir`, WAL, `synchronous=FULL`, one writer thread that commits
//! many acknowledged requests per transaction), and PostgreSQL, for several
//! server replicas of which one leads.
//!
//! Architecture invariant: the store keeps and returns decisions, it never
//! makes them. It knows neither gf-sched nor gf-control: controller events
//! are opaque JSON text to it, job and service specs too. It depends on
//! nothing of gigafleet but ids.
//!
//! Every method is async (`impl Future + Send`) so the tokio server awaits it
//! without blocking a worker; it names no runtime.

use std::future::Future;

/// Position in the event log, from 1, dense and increasing in commit order:
/// the order in which the controller handles the entries.
pub type Seq = u64;

/// A job's id, allocated by the store at submission, from 1.
pub type JobId = u64;

/// A service's id, allocated by the store at creation, from 1.
pub type ServiceId = u32;

/// Proof of leadership: only writes carrying the current leader's token are
/// taken (a deposed leader's late writes are refused, not applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fence(pub u64);

/// What one entry of the log is.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A controller event as the server serialised it (opaque to the store).
    Event(String),
    /// A job was submitted; its spec is the job row's `spec_json`.
    JobSubmitted {
        /// The job.
        job: JobId,
        /// The job's spec, as submitted (the job row's `spec_json`).
        spec_json: String,
    },
    /// A service was created; its spec is the service row's `spec_json`.
    ServiceCreated {
        /// The service.
        service: ServiceId,
        /// The service's spec (the service row's `spec_json`).
        spec_json: String,
    },
}

/// One entry of the log as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    /// Its position.
    pub seq: Seq,
    /// When it was written, seconds since the epoch on the writer's clock
    /// (the controller's, possibly accelerated). Not necessarily monotone:
    /// the reader handles entry `n` at `max(at_s, time of entry n-1)`.
    pub at_s: i64,
    /// What it is.
    pub body: Body,
}

/// A submission of a training job.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// The team it belongs to.
    pub team: String,
    /// Its name (from the spec; not unique).
    pub name: String,
    /// GPUs it asks for (for quota sums without parsing the spec).
    pub gpus: u32,
    /// The client's key: a second submission by the same team with the same
    /// key returns the first job and writes nothing.
    pub idempotency_key: Option<String>,
    /// The spec, JSON.
    pub spec_json: String,
    /// The writer's clock.
    pub at_s: i64,
}

/// What a submission did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Submitted {
    /// The job (or service).
    pub id: u64,
    /// The log entry that carries it.
    pub seq: Seq,
    /// False when an earlier submission with the same idempotency key was
    /// found and returned instead.
    pub created: bool,
}

/// A job as stored: what was submitted and what the controller last said
/// of it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRow {
    /// Its id.
    pub id: JobId,
    /// Its team.
    pub team: String,
    /// Its name.
    pub name: String,
    /// GPUs asked for.
    pub gpus: u32,
    /// The spec, JSON.
    pub spec_json: String,
    /// The idempotency key it was submitted with.
    pub idempotency_key: Option<String>,
    /// When it was submitted (writer's clock).
    pub submitted_at_s: i64,
    /// The state the controller last projected (`pending` until then).
    pub state: String,
    /// Whether that state is terminal (completed, failed, cancelled).
    pub terminal: bool,
    /// Its current attempt (0 before the first dispatch).
    pub attempt: u32,
    /// Its cluster while placed.
    pub cluster: Option<String>,
    /// Why it waits or why it ended, in words.
    pub reason: String,
    /// Anything else the controller projects (placement, explanation,
    /// progress), JSON, opaque to the store.
    pub detail_json: String,
    /// When the projection last changed (writer's clock).
    pub updated_at_s: i64,
}

/// The controller's view of a job, written onto its row.
#[derive(Debug, Clone, PartialEq)]
pub struct JobUpdate {
    /// The job.
    pub id: JobId,
    /// Its state's name.
    pub state: String,
    /// Terminal or not.
    pub terminal: bool,
    /// Its attempt.
    pub attempt: u32,
    /// Its cluster while placed.
    pub cluster: Option<String>,
    /// Why, in words.
    pub reason: String,
    /// The rest, JSON.
    pub detail_json: String,
    /// The writer's clock.
    pub at_s: i64,
}

/// Which jobs to list: filters, then a page after a cursor, by id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobQuery {
    /// Only this team's.
    pub team: Option<String>,
    /// Only in this state.
    pub state: Option<String>,
    /// Only terminal (true) or only live (false) jobs.
    pub terminal: Option<bool>,
    /// Only ids greater than this (the cursor of the previous page).
    pub after: Option<JobId>,
    /// At most this many (the store caps it at 1,000).
    pub limit: usize,
}

/// A service creation.
#[derive(Debug, Clone, PartialEq)]
pub struct NewService {
    /// Its team.
    pub team: String,
    /// Its name, unique among live services.
    pub name: String,
    /// The spec, JSON.
    pub spec_json: String,
    /// The writer's clock.
    pub at_s: i64,
}

/// A service as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRow {
    /// Its id.
    pub id: ServiceId,
    /// Its team.
    pub team: String,
    /// Its name.
    pub name: String,
    /// The spec, JSON (the latest update's).
    pub spec_json: String,
    /// Deleted services are kept, marked.
    pub deleted: bool,
    /// What the controller last projected (replicas by zone...), JSON.
    pub detail_json: String,
    /// When created (writer's clock).
    pub created_at_s: i64,
    /// When last changed (writer's clock).
    pub updated_at_s: i64,
}

/// A team as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TeamRow {
    /// Its name, unique.
    pub name: String,
    /// GPUs it may hold at once, by accelerator name (`*` for any), JSON
    /// object; opaque to the store.
    pub quota_json: String,
    /// Its fair-share weight.
    pub weight: f64,
    /// The highest priority its work may ask for.
    pub max_priority: u32,
}

/// An API token as stored: only the SHA-256 of the secret is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// Hex SHA-256 of the secret.
    pub sha256: String,
    /// The team it acts for; `None` for an admin token.
    pub team: Option<String>,
    /// A label for people.
    pub label: String,
    /// When created (writer's clock).
    pub created_at_s: i64,
    /// Revoked tokens are kept, marked, and refused.
    pub revoked: bool,
}

/// What the store answers instead of doing what it was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database holds a schema newer than this binary knows.
    #[error(
        "the database's schema is version {found}, newer than this gigafleet knows ({known}); run a newer gigafleet or point it at another database"
    )]
    SchemaTooNew {
        /// The database's version.
        found: u32,
        /// The newest this binary knows.
        known: u32,
    },
    /// A write carried a fence that is not the current leader's.
    #[error("this server is no longer the leader (fencing token {0} is stale)")]
    Fenced(u64),
    /// A unique name is taken (a team, a live service).
    #[error("{0} already exists")]
    Conflict(String),
    /// What the request names does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The store is taking more than it can write: try again later.
    #[error("the store is overloaded; retry after a moment")]
    Busy,
    /// The database failed (IO, connection, corruption).
    #[error("database: {0}")]
    Db(String),
}

/// Durable state of the control plane. A cheap handle: clone it into every
/// task that needs it.
///
/// Writes are durable when their future resolves `Ok` (SQLite: fsynced WAL;
/// PostgreSQL: committed). Reads see every write whose future resolved
/// before the read began.
pub trait Store: Clone + Send + Sync + 'static {
    // ----- the event log --------------------------------------------------

    /// Appends controller events, in order, each its own entry. With a
    /// fence, refused (and nothing written) unless it is the current
    /// leader's.
    fn append(
        &self,
        fence: Option<Fence>,
        at_s: i64,
        events: Vec<String>,
    ) -> impl Future<Output = Result<Vec<Seq>, StoreError>> + Send;

    /// Entries after `after`, oldest first, at most `limit`.
    fn read_log(
        &self,
        after: Seq,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<LogRecord>, StoreError>> + Send;

    /// The last entry's position (0 when the log is empty).
    fn last_seq(&self) -> impl Future<Output = Result<Seq, StoreError>> + Send;

    // ----- jobs -------------------------------------------------------------

    /// Stores a job and appends its `JobSubmitted` entry in one transaction;
    /// or, when the team already submitted a job with the same idempotency
    /// key, returns that one and writes nothing.
    fn submit_job(&self, job: NewJob)
    -> impl Future<Output = Result<Submitted, StoreError>> + Send;

    /// One job.
    fn job(&self, id: JobId) -> impl Future<Output = Result<Option<JobRow>, StoreError>> + Send;

    /// Jobs matching a query, by increasing id.
    fn jobs(&self, q: JobQuery) -> impl Future<Output = Result<Vec<JobRow>, StoreError>> + Send;

    /// GPUs asked for by a team's jobs that are not terminal.
    fn team_gpus_live(&self, team: &str) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Writes the controller's view onto job rows (unknown ids are skipped).
    fn update_jobs(
        &self,
        fence: Option<Fence>,
        updates: Vec<JobUpdate>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    // ----- services -----------------------------------------------------------

    /// Stores a service and appends its `ServiceCreated` entry in one
    /// transaction. A live service of the same name is a `Conflict`.
    fn create_service(
        &self,
        s: NewService,
    ) -> impl Future<Output = Result<Submitted, StoreError>> + Send;

    /// One service (deleted ones too).
    fn service(
        &self,
        id: ServiceId,
    ) -> impl Future<Output = Result<Option<ServiceRow>, StoreError>> + Send;

    /// Every service, by id, optionally one team's.
    fn services(
        &self,
        team: Option<String>,
    ) -> impl Future<Output = Result<Vec<ServiceRow>, StoreError>> + Send;

    /// Replaces a service's spec (when `spec_json` is given) or marks it
    /// deleted (`deleted`), and appends `event` in the same transaction.
    fn change_service(
        &self,
        id: ServiceId,
        spec_json: Option<String>,
        deleted: bool,
        at_s: i64,
        event: String,
    ) -> impl Future<Output = Result<Seq, StoreError>> + Send;

    /// Writes the controller's view onto a service row.
    fn update_service_detail(
        &self,
        fence: Option<Fence>,
        id: ServiceId,
        detail_json: String,
        at_s: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    // ----- teams and tokens ---------------------------------------------------

    /// Creates or replaces a team.
    fn put_team(&self, t: TeamRow) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// One team.
    fn team(&self, name: &str) -> impl Future<Output = Result<Option<TeamRow>, StoreError>> + Send;

    /// Every team, by name.
    fn teams(&self) -> impl Future<Output = Result<Vec<TeamRow>, StoreError>> + Send;

    /// Stores a token (its hash). A hash already stored is a `Conflict`.
    fn add_token(&self, t: TokenRow) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The token with this hash, revoked or not.
    fn token(
        &self,
        sha256: &str,
    ) -> impl Future<Output = Result<Option<TokenRow>, StoreError>> + Send;

    /// Every token (hashes only), optionally one team's.
    fn tokens(
        &self,
        team: Option<String>,
    ) -> impl Future<Output = Result<Vec<TokenRow>, StoreError>> + Send;

    /// Marks a token revoked; `NotFound` when no such hash.
    fn revoke_token(&self, sha256: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    // ----- metadata -------------------------------------------------------------

    /// A value kept under a key.
    fn meta(&self, key: &str) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Keeps a value under a key; with `only_if_absent`, returns false and
    /// writes nothing when the key exists (a first-start race is decided
    /// here, once).
    fn set_meta(
        &self,
        key: &str,
        value: &str,
        only_if_absent: bool,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    // ----- leadership -----------------------------------------------------------

    /// Tries once to become the leader (the only server that runs the
    /// controller). `Some(fence)` when this handle leads now (a new fence,
    /// greater than every earlier one); `None` when another live server
    /// leads. SQLite: one server per data directory, so the first call
    /// leads. PostgreSQL: a session advisory lock held on a dedicated
    /// connection, released when the holder dies.
    fn acquire_leadership(&self) -> impl Future<Output = Result<Option<Fence>, StoreError>> + Send;

    /// Whether `fence` is still the current leader's (its lock still held).
    fn is_leader(&self, fence: Fence) -> impl Future<Output = Result<bool, StoreError>> + Send;
}
