//! Durable storage for handoff, behind one [`Store`] trait. This crate knows no database:
//! each backend is a crate of its own (`handoff-store-sqlite`, the embedded one).
//!
//! - [`Store`] (this file): what the service needs of a database: submit a handoff,
//!   change one by a function of its current state, read and list, the audit log, keys,
//!   the active policy, the learning loop's aggregates and task levels. Every change is
//!   committed together with its audit entry and with what it adds to the learning
//!   aggregates (`Tally::of_submission` / `Tally::of_change`, worked out by the store from
//!   the states before and after, so no caller can forget it); a caller hears of a change
//!   only after its commit. Also the types that cross it, and
//!   [`StoreError`], which says what failed without naming the database's own errors.
//! - [`delivery`]: the outbox's rows: deliveries written with the change that causes
//!   them, attempts recorded with their audit entry.
//! - [`hub`]: who is told of a commit: long-polls waiting on one handoff, and event streams.
//! - [`record`]: how every backend lays a handoff out in its rows (the record written
//!   once, the state written at each change, the plain columns beside them).
//! - `testsuite` (feature `testsuite`): the tests every backend runs, written once against
//!   `&dyn Store`, and the `store_suite!` macro that runs them.
//!
//! A PostgreSQL implementation follows the same trait; nothing above this crate changes.
#![forbid(unsafe_code)]

pub mod delivery;
pub mod hub;
pub mod record;
#[cfg(feature = "testsuite")]
pub mod testsuite;

use chrono::{DateTime, Utc};
use handoff_domain::learning::{Counts, Histogram, StreamKind};
use handoff_domain::lifecycle::Status;
use handoff_domain::{AuditEntry, Handoff, Level, NewEntry, Role, TransitionError, Verification};
use std::future::Future;
use std::pin::Pin;

pub use delivery::{Attempted, Channel, Delivery, DeliveryState};
pub use hub::{Event, Hub, Notice};

/// A group-commit writer's counters since it started (all relaxed atomics: read for the
/// metrics, never for decisions).
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Committed batches, and the operations they carried.
    pub batches: std::sync::atomic::AtomicU64,
    pub ops: std::sync::atomic::AtomicU64,
    /// Batches rolled back.
    pub failed: std::sync::atomic::AtomicU64,
    /// Time from `BEGIN` to the end of `COMMIT`, summed, in microseconds.
    pub commit_micros: std::sync::atomic::AtomicU64,
    /// The largest batch so far.
    pub max_batch: std::sync::atomic::AtomicU64,
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Something went wrong in the database itself: the caller answers 500 (or 503).
///
/// Backends put their own errors in [`StoreError::Database`] (see [`StoreError::database`]),
/// describe a failed migration in [`StoreError::Migrate`], and tell a full disk apart as
/// [`StoreError::Full`] (the caller answers 503, to be tried again).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed a read, a connection, or a row that does not decode.
    #[error("database error: {0}")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The schema could not be brought up to date when the store opened.
    #[error("migration failed: {0}")]
    Migrate(String),
    /// A write batch failed and was rolled back: nothing of it was stored.
    #[error("{0}")]
    Write(String),
    /// The database's disk is full (SQLite's `SQLITE_FULL`, PostgreSQL's `disk_full`):
    /// nothing of the write was stored, and the same write may succeed once space returns.
    #[error("the disk is full: {0}")]
    Full(String),
    #[error("the store is shutting down")]
    Closed,
}

impl StoreError {
    /// A backend's own error, as [`StoreError::Database`].
    pub fn database(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
        StoreError::Database(e.into())
    }

    /// What each caller of a failed write batch hears: [`StoreError::Full`] when the disk
    /// was full, else [`StoreError::Write`].
    pub fn batch_failed(full: bool, message: &str) -> StoreError {
        if full {
            StoreError::Full(message.to_owned())
        } else {
            StoreError::Write(message.to_owned())
        }
    }
}

/// A new handoff and the audit entry that records it.
#[derive(Debug, Clone)]
pub struct Submission {
    pub handoff: Handoff,
    pub audit: NewEntry,
    pub idempotency: Option<Idempotency>,
    /// Notifications it causes, written in the same transaction.
    pub deliveries: Vec<Delivery>,
}

/// An agent's `Idempotency-Key` and the digest of the body it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    pub key: String,
    pub body_sha256: String,
}

/// How long an idempotency key keeps answering with the same handoff.
pub const IDEMPOTENCY_WINDOW_HOURS: i64 = 24;

#[derive(Debug, Clone)]
pub enum Submitted {
    Created(Box<Handoff>),
    /// The same key and body came before: the handoff it made.
    Replayed(Box<Handoff>),
    /// The same key came before with another body.
    KeyReused,
}

/// A change computed from the current state: the new record and its audit entry.
#[derive(Debug, Clone)]
pub struct Change {
    pub handoff: Handoff,
    pub audit: NewEntry,
    /// Notifications it causes, written in the same transaction; one whose id is already
    /// in the outbox is not written again.
    pub deliveries: Vec<Delivery>,
}

/// Computes a change from the handoff as it is inside the transaction, so that two
/// concurrent decisions see each other: exactly one wins.
pub type UpdateFn = Box<dyn FnOnce(&Handoff) -> Result<Change, Refused> + Send>;

/// Why a change was not made; nothing was written.
#[derive(Debug, Clone, PartialEq)]
pub enum Refused {
    NotFound,
    /// `If-Match` named another version.
    VersionMismatch {
        current: u64,
    },
    Transition(TransitionError),
}

impl From<TransitionError> for Refused {
    fn from(e: TransitionError) -> Refused {
        Refused::Transition(e)
    }
}

/// What [`Store::claim_deliveries`] gives a sender.
#[derive(Debug, Clone, Default)]
pub struct Claimed {
    /// Due, claimed for this sender, earliest first.
    pub due: Vec<Delivery>,
    /// The next attempt among the pending deliveries not given (none: nothing pending
    /// beyond these, as far as this page saw).
    pub next_at: Option<DateTime<Utc>>,
}

/// Whose handoffs a listing shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything, newest first (admins).
    All,
    /// One agent's own, newest first.
    Agent(String),
    /// Routed to these teams, by SLA due time (reviewers).
    Teams(Vec<String>),
}

/// A page of handoffs: whose, filtered by what (each filter an exact match), how many,
/// and after which cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub scope: Scope,
    pub status: Option<Status>,
    pub task: Option<String>,
    pub team: Option<String>,
    pub level: Option<Level>,
    pub limit: u32,
    pub after: Option<Cursor>,
}

/// Where a page ended: the sort key of its last item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// Newest-first listings: items with a smaller id come next.
    Before { id: String },
    /// By-SLA listings: items after this due time and id come next.
    After { sla_due_ms: i64, id: String },
}

/// An API key as stored: its name, role, and the SHA-256 of the key (never the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub name: String,
    pub role: Role,
    pub key_sha256: String,
    pub created_at: DateTime<Utc>,
}

/// The active policy's text, and the text the `--policy` file had at the last start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredPolicy {
    pub active: Option<String>,
    pub file_text: Option<String>,
}

/// A signed checkpoint of the audit chain's head (SPEC §9), as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Its place among all checkpoints, growing: the listing's cursor (0 before it is
    /// stored).
    pub id: i64,
    pub seq: i64,
    pub hash: String,
    /// When it was signed (RFC 3339, milliseconds, as the JWS's payload says).
    pub at: DateTime<Utc>,
    /// The compact JWS of `{seq, hash, at}`.
    pub jws: String,
}

/// Statuses in which a handoff waits for a person: what "open" means to the metrics.
pub const OPEN_STATUSES: [Status; 4] = [
    Status::Pending,
    Status::HandedOver,
    Status::Alerted,
    Status::Acknowledged,
];

/// Open handoffs of one team, level and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenCount {
    pub team: String,
    pub level: u8,
    pub status: Status,
    pub count: u64,
}

/// What the metrics read from the store at each scrape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreGauges {
    /// Open handoffs ([`OPEN_STATUSES`]) by team, level and status; only non-zero ones.
    pub open: Vec<OpenCount>,
    /// Deliveries still to be sent (pending).
    pub outbox_pending: u64,
    /// The earliest next attempt among them.
    pub outbox_oldest_due: Option<DateTime<Utc>>,
}

/// The last audit entry verified, `(seq, hash)`: where the next check starts.
pub type ChainTail = Option<(i64, String)>;

/// A handoff's next deadline: `(id, when)`.
pub type Deadline = (String, DateTime<Utc>);

/// One handoff event for streams: the audit seq and the handoff as it is now.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub seq: i64,
    pub handoff: Handoff,
}

/// A task's level in force, when an admin or the monitor changed it (SPEC §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskLevel {
    pub task: String,
    pub level: Level,
    /// Grows by one at every change: evidence counts only the current epoch's.
    pub epoch: u64,
    pub previous_level: Level,
    /// Where an automatic demotion returns it (its level before the promotion).
    pub restore_level: Option<Level>,
    pub changed_at: DateTime<Utc>,
    pub by: String,
    pub reason: String,
    pub automatic: bool,
}

/// The learning aggregates of one task, epoch and day (Unix days), summed from hours at
/// or after the query's `since_hour`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayTally {
    pub task: String,
    pub epoch: u64,
    pub day: i64,
    pub counts: Counts,
}

/// One bucket of a histogram of one task and epoch, summed over the days queried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistogramCount {
    pub epoch: u64,
    pub histogram: Histogram,
    pub bucket: i64,
    pub n: u64,
}

/// Handoffs for the decisions export: not open any more, submitted in `[since, until)`,
/// by id after `after`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExportQuery {
    pub task: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub after: Option<String>,
    pub limit: u32,
}

pub trait Store: Send + Sync {
    /// Stores a new handoff (or answers an idempotent replay), after its commit.
    fn submit(&self, sub: Submission) -> BoxFuture<'_, Result<Submitted, StoreError>>;

    /// Changes one handoff by `f`, applied to its state inside the transaction.
    fn update(
        &self,
        id: String,
        if_match: Option<u64>,
        f: UpdateFn,
    ) -> BoxFuture<'_, Result<Result<Handoff, Refused>, StoreError>>;

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Handoff>, StoreError>>;

    fn list(&self, q: ListQuery) -> BoxFuture<'_, Result<Vec<Handoff>, StoreError>>;

    /// The handoffs of `agent` whose packet `supersedes` the handoff `id` (SPEC §2), oldest
    /// first: its newer revisions. A revision is submitted after what it supersedes ended,
    /// so only ids after `id` need to be read.
    fn revisions_of<'a>(
        &'a self,
        agent: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Handoff>, StoreError>>;

    /// The audit entries of one handoff, oldest first.
    fn timeline<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Vec<AuditEntry>, StoreError>>;

    /// Audit entries after `after`, oldest first, at most `limit`.
    fn audit(&self, after: i64, limit: u32) -> BoxFuture<'_, Result<Vec<AuditEntry>, StoreError>>;

    /// Handoff events after audit seq `after`, with each handoff as it is now.
    fn events_after(
        &self,
        after: i64,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<StoredEvent>, StoreError>>;

    /// Handoffs by their next deadline (`Handoff::next_deadline`), earliest first.
    fn next_deadlines(&self, limit: u32) -> BoxFuture<'_, Result<Vec<Deadline>, StoreError>>;

    /// Pending deliveries by their next attempt, earliest first, leaving out `skip` (the
    /// ones the sender has in flight).
    fn due_deliveries(
        &self,
        limit: u32,
        skip: Vec<String>,
    ) -> BoxFuture<'_, Result<Vec<Delivery>, StoreError>>;

    /// The deliveries due at `now` (next attempt at or before it), earliest first, at most
    /// `limit`, leaving out `skip` (the ones this sender has in flight), claimed until
    /// `lease_until`: no other node sharing the database is given one of them before
    /// then, unless its attempt is recorded first ([`Store::record_attempt`] ends the
    /// claim). A node that dies mid-send leaves its claims to expire, and the delivery
    /// is sent again under the same id. Also answers the next attempt among pending
    /// deliveries not given, for the sender's sleep.
    ///
    /// The default suits a store only one process writes: `due_deliveries`, cut at `now`.
    fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
        skip: Vec<String>,
    ) -> BoxFuture<'_, Result<Claimed, StoreError>> {
        let _ = lease_until;
        Box::pin(async move {
            let mut due = self.due_deliveries(limit, skip).await?;
            let cut = due
                .iter()
                .position(|d| d.next_at > now)
                .unwrap_or(due.len());
            let next_at = due.get(cut).map(|d| d.next_at);
            due.truncate(cut);
            Ok(Claimed { due, next_at })
        })
    }

    /// Records an attempt's result (or an admin's redelivery), with its audit entry.
    fn record_attempt(
        &self,
        attempt: Attempted,
        audit: Option<NewEntry>,
    ) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Deliveries, newest first, optionally in one state, after the cursor id.
    fn deliveries(
        &self,
        state: Option<DeliveryState>,
        before: Option<String>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Delivery>, StoreError>>;

    fn delivery<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Delivery>, StoreError>>;

    /// Checks the whole hash chain, streaming it.
    fn verify_audit(&self) -> BoxFuture<'_, Result<Verification, StoreError>>;

    /// Checks the chain after an entry already verified (`(seq, hash)`; `None`: from the
    /// start), streaming it; answers the verdict and the last entry read, the checkpoint
    /// of the next call.
    fn verify_audit_after(
        &self,
        after: ChainTail,
    ) -> BoxFuture<'_, Result<(Verification, ChainTail), StoreError>>;

    /// Keeps a signed checkpoint; answers it with its `id`. Not an audit entry and not a
    /// handoff change: a backend may write it beside its writer, in a short transaction
    /// of its own.
    fn add_checkpoint(&self, cp: Checkpoint) -> BoxFuture<'_, Result<Checkpoint, StoreError>>;

    /// Checkpoints, newest first, those before the cursor `id` when given.
    fn checkpoints(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Checkpoint>, StoreError>>;

    /// Counts for the metrics: open handoffs, the outbox's backlog.
    fn gauges(&self) -> BoxFuture<'_, Result<StoreGauges, StoreError>>;

    /// Adds a key; `Ok(false)` when the name is taken.
    fn create_key(
        &self,
        key: KeyRecord,
        audit: NewEntry,
    ) -> BoxFuture<'_, Result<bool, StoreError>>;

    /// Removes a key; `Ok(false)` when there is none by that name.
    fn revoke_key(&self, name: String, audit: NewEntry) -> BoxFuture<'_, Result<bool, StoreError>>;

    fn find_key<'a>(
        &'a self,
        key_sha256: &'a str,
    ) -> BoxFuture<'a, Result<Option<KeyRecord>, StoreError>>;

    /// The live key named `name`, if any (a revoked key's row is gone): how a person
    /// known by name in another tool (Slack's `[people.NAME]`) is checked to still hold a
    /// key, and which role it has.
    fn find_key_by_name<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<KeyRecord>, StoreError>>;

    fn policy(&self) -> BoxFuture<'_, Result<StoredPolicy, StoreError>>;

    /// Makes `active` the active policy (audited when `audit` is given) and, when given,
    /// records the `--policy` file's text.
    fn set_policy(
        &self,
        active: String,
        file_text: Option<String>,
        audit: Option<NewEntry>,
    ) -> BoxFuture<'_, Result<(), StoreError>>;

    /// The learning aggregates per task, epoch and day over the hours from `since_hour`
    /// (Unix hours), optionally of one task.
    fn tallies(
        &self,
        since_hour: i64,
        task: Option<String>,
    ) -> BoxFuture<'_, Result<Vec<DayTally>, StoreError>>;

    /// One task's histograms over the days from the one holding `since_hour`.
    fn histograms(
        &self,
        since_hour: i64,
        task: String,
    ) -> BoxFuture<'_, Result<Vec<HistogramCount>, StoreError>>;

    /// The last `limit` items of one monitor stream of a task's epoch, newest first
    /// (`true`: an error).
    fn recent_items(
        &self,
        task: String,
        epoch: u64,
        stream: StreamKind,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<bool>, StoreError>>;

    /// Every task whose level was changed, as it stands.
    fn task_levels(&self) -> BoxFuture<'_, Result<Vec<TaskLevel>, StoreError>>;

    /// Records a task's new level with its audit entry and the deliveries it causes, if
    /// the task's stored epoch is still `expected_epoch` (0 for a task never changed);
    /// `Ok(false)`, writing nothing, when another change came first.
    fn set_task_level(
        &self,
        level: TaskLevel,
        expected_epoch: u64,
        audit: NewEntry,
        deliveries: Vec<Delivery>,
    ) -> BoxFuture<'_, Result<bool, StoreError>>;

    /// Handoffs drawn for a spot check and not yet checked, oldest first, assigned to one
    /// of `teams` (`None`: all), after the cursor id.
    fn spot_checks(
        &self,
        teams: Option<Vec<String>>,
        after: Option<String>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Handoff>, StoreError>>;

    /// Handoffs no longer open, oldest first, for the decisions export.
    fn export(&self, q: ExportQuery) -> BoxFuture<'_, Result<Vec<Handoff>, StoreError>>;

    /// Who hears of commits.
    fn hub(&self) -> &Hub;

    /// What the store's writer has done, for the metrics; `None` for a store without one.
    fn writer_stats(&self) -> Option<&WriterStats> {
        None
    }

    /// Finishes what is queued and stops the writer.
    fn close(&self) -> BoxFuture<'_, ()>;
}
