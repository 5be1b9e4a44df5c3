//! The embedded store: [`SqliteStore`], the [`Store`] trait on SQLite in WAL mode with
//! `synchronous=FULL`, one writer thread doing group commit, a small pool of connections
//! for reads. Open it with [`SqliteStore::open`] on a file path; it creates and migrates
//! the database when needed.
//!
//! - this file: opening (pragmas, migrations from `migrations/`), the reads, the
//!   checkpointer, and the trait's methods.
//! - `writer`: the single writer, a thread with its own connection: whatever is queued,
//!   applied in one `BEGIN IMMEDIATE` transaction and committed once, before anyone hears
//!   of it.
//! - `recent`: the handoffs written last, kept in memory.
//! - `turns`: one change at a time per handoff, so that a change can be computed off the
//!   writer's thread on the state as committed.
//! - `rows`: between Rust values and SQLite rows.
//! - `error`: sqlx's errors as [`StoreError`].
//!
//! Other processes may open the same file at the same time (`handoff keys create`,
//! `handoff audit verify` beside a running server): every write transaction takes the
//! write lock first and reads the audit chain's tail inside it.
#![forbid(unsafe_code)]

mod error;
mod recent;
mod rows;
mod turns;
mod writer;

use chrono::{DateTime, SecondsFormat};
use error::{SqlxResultExt, db};
use handoff_domain::Handoff;
use handoff_domain::audit::{AuditEntry, ChainVerifier, NewEntry, Prepared, Verification};
use handoff_domain::learning::{Counts, Histogram, StreamKind};
use handoff_store::WriterStats;
use handoff_store::{
    Attempted, BoxFuture, ChainTail, Checkpoint, Cursor, DayTally, Deadline, Delivery,
    DeliveryState, ExportQuery, HistogramCount, Hub, KeyRecord, ListQuery, OPEN_STATUSES,
    OpenCount, Refused, Scope, Store, StoreError, StoreGauges, StoredEvent, StoredPolicy,
    Submission, Submitted, TaskLevel, UpdateFn,
};
use recent::Recent;
use rows::{
    AUDIT_COLUMNS, OUTBOX_COLUMNS, decode_audit, decode_audit_row, decode_delivery, decode_row,
};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, QueryBuilder, Row, SqlSafeStr, Sqlite, SqliteConnection};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use turns::Turns;
use writer::{Op, ReadyChange, Writer};

/// Page caches, in KiB (negative `cache_size`): the writer's, and each reader's.
const WRITER_CACHE: &str = "-8192";
const READER_CACHE: &str = "-8192";
/// Read connections.
const READERS: u32 = 4;

/// Operations queued for the writer before callers wait for room.
const QUEUE: usize = 16 * 1024;

pub struct SqliteStore {
    /// The database file: the audit chain's check opens a connection of its own on it.
    path: PathBuf,
    read: SqlitePool,
    ops: mpsc::Sender<Op>,
    hub: Arc<Hub>,
    checkpointer: tokio::task::JoinHandle<()>,
    recent: Arc<Mutex<Recent>>,
    turns: Turns,
    stats: Arc<WriterStats>,
}

/// Handoffs kept in memory after their last write (~3 KB each).
const RECENT: usize = 4096;

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// Copies the WAL into the database now and then, from a read connection: a `PASSIVE`
/// checkpoint never waits for the writer, and the writer's commits never wait for it.
async fn checkpoint(pool: SqlitePool) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            tracing::debug!(error = %e, "checkpoint skipped");
        }
    }
}

/// The writer's own connection. `synchronous=FULL`: a commit returns once its WAL frames
/// are on disk. The writer keeps the hot index pages in memory (the default 2 MB cache made
/// it re-read them from the file on every batch once the database outgrew it). Checkpoints
/// run beside the writer (above), not inside its commits; its own automatic checkpoint is
/// a backstop for a WAL that grows past 10,000 pages.
fn writer_connection(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA temp_store = memory; \
         PRAGMA cache_size = {WRITER_CACHE}; PRAGMA wal_autocheckpoint = 10000;"
    ))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

fn migrator() -> Migrator {
    let m = |version, name: &'static str, sql: &'static str| {
        Migration::new(
            version,
            name.into(),
            MigrationType::Simple,
            sql.into_sql_str(),
            false,
        )
    };
    Migrator::with_migrations(vec![
        m(1, "init", include_str!("../migrations/0001_init.sql")),
        m(2, "expiry", include_str!("../migrations/0002_expiry.sql")),
        m(3, "outbox", include_str!("../migrations/0003_outbox.sql")),
        m(
            4,
            "learning",
            include_str!("../migrations/0004_learning.sql"),
        ),
        m(5, "lean", include_str!("../migrations/0005_lean.sql")),
        m(
            6,
            "revisions",
            include_str!("../migrations/0006_revisions.sql"),
        ),
        m(
            7,
            "checkpoints",
            include_str!("../migrations/0007_checkpoints.sql"),
        ),
        m(8, "docs", include_str!("../migrations/0008_docs.sql")),
    ])
}

/// Creates the database at `path` as the migrations up to `version` leave it: what a
/// database made by an older build looks like, for the tests of the migrations after it.
#[doc(hidden)]
pub async fn migrate_until(path: &Path, version: i64) -> Result<(), StoreError> {
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal);
    let mut conn = SqliteConnection::connect_with(&opts).await.db()?;
    let mut m = migrator();
    m.migrations = m
        .migrations
        .iter()
        .filter(|m| m.version <= version)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    m.run_direct(None, &mut conn, false)
        .await
        .map_err(|e| StoreError::Migrate(e.to_string()))?;
    conn.close().await.db()
}

impl SqliteStore {
    /// Opens (creating and migrating when needed) the database at `path`, and starts the
    /// writer thread.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            // New databases get 4 KB pages: a commit writes every page it changed to the
            // WAL whole, and most of what a batch changes is one index entry here and one
            // there. Measured against 16 KB pages (what databases made before kept, as a
            // page size changes only with VACUUM): 37% less SQLite time per batch.
            .page_size(4096);
        let mut conn = SqliteConnection::connect_with(&opts).await.db()?;
        // What `Migrator::run` does with a connection, called directly: through `run`,
        // this future would not be `Send` (sqlx's "`Acquire` is not general enough").
        migrator()
            .run_direct(None, &mut conn, false)
            .await
            .map_err(|e| StoreError::Migrate(e.to_string()))?;
        conn.close().await.db()?;
        let read = SqlitePoolOptions::new()
            .max_connections(READERS)
            .min_connections(1)
            .connect_with(opts.pragma("cache_size", READER_CACHE))
            .await
            .db()?;
        let hub = Arc::new(Hub::default());
        let (ops, rx) = mpsc::channel(QUEUE);
        let recent = Arc::new(Mutex::new(Recent::new(RECENT)));
        let stats = Arc::new(WriterStats::default());
        let writer = Writer {
            conn: writer_connection(path).map_err(StoreError::database)?,
            rx,
            hub: hub.clone(),
            recent: recent.clone(),
            stats: stats.clone(),
        };
        std::thread::Builder::new()
            .name("handoff-writer".into())
            .spawn(move || writer.run())
            .map_err(StoreError::database)?;
        let checkpointer = tokio::spawn(checkpoint(read.clone()));
        Ok(SqliteStore {
            path: path.to_owned(),
            read,
            ops,
            hub,
            checkpointer,
            recent,
            turns: Turns::default(),
            stats,
        })
    }

    async fn send<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Op,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.ops
            .send(make(tx))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// A handoff as committed: from memory when written lately, else from the file.
    async fn committed(&self, id: &str) -> Result<Option<Arc<Handoff>>, StoreError> {
        let cached = self
            .recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id);
        if cached.is_some() {
            return Ok(cached);
        }
        let row = sqlx::query("SELECT doc, state FROM handoff_records WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.read)
            .await
            .map_err(db)?;
        row.map(|r| decode_row(&r, 0).map(Arc::new))
            .transpose()
            .map_err(db)
    }

    async fn list_sql(&self, q: &ListQuery) -> Result<Vec<Handoff>, sqlx::Error> {
        let teams: Vec<&str> = match &q.scope {
            Scope::Teams(teams) => teams
                .iter()
                .map(String::as_str)
                .filter(|t| q.team.as_deref().is_none_or(|want| want == *t))
                .collect(),
            _ => return self.list_newest(q).await,
        };
        // One indexed range per team, merged by (due time, id): a reviewer in several
        // teams still never makes SQLite sort the whole of every team's history.
        let mut merged: Vec<(i64, String, Handoff)> = Vec::new();
        for team in teams {
            let mut b = QueryBuilder::<Sqlite>::new(
                "SELECT sla_due_ms, id, doc, state FROM handoff_records WHERE assigned_team = ",
            );
            b.push_bind(team.to_owned());
            push_filters(&mut b, q);
            if let Some(Cursor::After { sla_due_ms, id }) = &q.after {
                b.push(" AND (sla_due_ms, id) > (")
                    .push_bind(*sla_due_ms)
                    .push(", ")
                    .push_bind(id.clone())
                    .push(")");
            }
            b.push(" ORDER BY sla_due_ms, id LIMIT ")
                .push_bind(i64::from(q.limit));
            let rows = b.build().fetch_all(&self.read).await?;
            for r in rows {
                merged.push((r.try_get(0)?, r.try_get(1)?, decode_row(&r, 2)?));
            }
        }
        merged.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        merged.truncate(q.limit as usize);
        Ok(merged.into_iter().map(|(_, _, h)| h).collect())
    }

    async fn list_newest(&self, q: &ListQuery) -> Result<Vec<Handoff>, sqlx::Error> {
        let mut b =
            QueryBuilder::<Sqlite>::new("SELECT doc, state FROM handoff_records WHERE 1 = 1");
        if let Scope::Agent(agent) = &q.scope {
            b.push(" AND agent = ").push_bind(agent.clone());
        }
        if let Some(team) = &q.team {
            b.push(" AND assigned_team = ").push_bind(team.clone());
        }
        push_filters(&mut b, q);
        if let Some(Cursor::Before { id }) = &q.after {
            b.push(" AND id < ").push_bind(id.clone());
        }
        b.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(q.limit));
        let rows = b.build().fetch_all(&self.read).await?;
        rows.iter().map(|r| decode_row(r, 0)).collect()
    }
}

/// The audit chain after `after` (from genesis when `None`), checked entry by entry, and
/// the last entry that checked out. A blocking call: its own connection, read with
/// rusqlite on a blocking thread, not through the pool, which hands each row across a
/// channel (three times the CPU per entry; the checkpoints and the statistics check every
/// entry once, under load). A row that no longer decodes was edited: it is the first bad
/// one.
fn verify_file(path: &Path, after: ChainTail) -> rusqlite::Result<(Verification, ChainTail)> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let mut chain = match &after {
        Some((seq, hash)) => ChainVerifier::after(*seq, hash),
        None => ChainVerifier::new(),
    };
    let mut stmt = conn.prepare(&format!(
        "SELECT {AUDIT_COLUMNS} FROM audit WHERE seq > ? ORDER BY seq"
    ))?;
    let mut rows = stmt.query([after.as_ref().map_or(0, |(seq, _)| *seq)])?;
    let mut last = after;
    while let Some(row) = rows.next()? {
        match decode_audit_row(row) {
            Ok(entry) => {
                if chain.push(&entry) {
                    last = Some((entry.seq, entry.hash));
                }
            }
            Err(_) => {
                let bad = Verification {
                    ok: false,
                    entries: chain.finish().entries,
                    first_bad_seq: Some(row.get(0)?),
                    checkpoint_seq: None,
                };
                return Ok((bad, last));
            }
        }
    }
    Ok((chain.finish(), last))
}

/// A read as the trait answers it: `body`'s sqlx errors become [`StoreError::Database`].
fn read<'a, T: Send + 'a>(
    body: impl Future<Output = Result<T, sqlx::Error>> + Send + 'a,
) -> BoxFuture<'a, Result<T, StoreError>> {
    Box::pin(async move { body.await.map_err(db) })
}

fn push_filters(b: &mut QueryBuilder<Sqlite>, q: &ListQuery) {
    if let Some(s) = q.status {
        b.push(" AND status = ").push_bind(s.as_str());
    }
    if let Some(t) = &q.task {
        b.push(" AND task = ").push_bind(t.clone());
    }
    if let Some(l) = q.level {
        b.push(" AND level = ").push_bind(i64::from(l.get()));
    }
}

impl Store for SqliteStore {
    fn submit(&self, sub: Submission) -> BoxFuture<'_, Result<Submitted, StoreError>> {
        // Serialising and canonicalising here, in the caller's task, keeps that work off
        // the single writer.
        let ready = writer::ReadySubmission::new(sub);
        Box::pin(self.send(|reply| Op::Submit(Box::new(ready), reply)))
    }

    /// In the handoff's turn: the change is computed here, on the state as committed (the
    /// receipt's signatures, the new state's JSON, the audit entry's canonical form), and
    /// the writer only records it. A handoff not committed yet (its submission may be
    /// queued right ahead) is left to the writer, which sees the batch it is in.
    fn update(
        &self,
        id: String,
        if_match: Option<u64>,
        f: UpdateFn,
    ) -> BoxFuture<'_, Result<Result<Handoff, Refused>, StoreError>> {
        Box::pin(async move {
            let _turn = self.turns.take(&id).await;
            let Some(current) = self.committed(&id).await? else {
                return self
                    .send(move |reply| Op::Update {
                        id,
                        if_match,
                        f,
                        reply,
                    })
                    .await;
            };
            let applied = match handoff_store::record::apply_change(&current, if_match, f) {
                Ok(applied) => applied,
                Err(refused) => return Ok(Err(refused)),
            };
            let change = Box::new(ReadyChange::new(&current, applied, true));
            self.send(move |reply| Op::Change(change, current, reply))
                .await
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Handoff>, StoreError>> {
        Box::pin(async move { Ok(self.committed(id).await?.map(|h| (*h).clone())) })
    }

    fn list(&self, q: ListQuery) -> BoxFuture<'_, Result<Vec<Handoff>, StoreError>> {
        read(async move { self.list_sql(&q).await })
    }

    fn revisions_of<'a>(
        &'a self,
        agent: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Handoff>, StoreError>> {
        read(async move {
            // The agent's index from `id` on: a revision is newer than what it supersedes.
            // The packet is in `doc`, written once at creation; `state` is laid over it.
            let sql = "SELECT doc, state FROM handoff_records WHERE agent = ? AND id > ? \
                       AND json_extract(doc, '$.packet.supersedes') = ? ORDER BY id";
            let rows = sqlx::query(sql)
                .bind(agent)
                .bind(id)
                .bind(id)
                .fetch_all(&self.read)
                .await?;
            rows.iter().map(|r| decode_row(r, 0)).collect()
        })
    }

    fn timeline<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Vec<AuditEntry>, StoreError>> {
        read(async move {
            let sql = "SELECT seq, at, actor, action, handoff_id, data, prev_hash, hash \
                       FROM audit WHERE handoff_id = ? ORDER BY seq";
            let rows = sqlx::query(sql).bind(id).fetch_all(&self.read).await?;
            rows.iter().map(decode_audit).collect()
        })
    }

    fn audit(&self, after: i64, limit: u32) -> BoxFuture<'_, Result<Vec<AuditEntry>, StoreError>> {
        read(async move {
            let sql = "SELECT seq, at, actor, action, handoff_id, data, prev_hash, hash \
                       FROM audit WHERE seq > ? ORDER BY seq LIMIT ?";
            let rows = sqlx::query(sql)
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await?;
            rows.iter().map(decode_audit).collect()
        })
    }

    fn events_after(
        &self,
        after: i64,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<StoredEvent>, StoreError>> {
        read(async move {
            // Entries about deliveries (`notification.*`) change no handoff: no event.
            let sql = "SELECT a.seq, h.doc, h.state FROM audit a JOIN handoff_records h ON h.id = a.handoff_id \
                       WHERE a.seq > ? AND a.action LIKE 'handoff.%' ORDER BY a.seq LIMIT ?";
            let rows = sqlx::query(sql)
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(StoredEvent {
                        seq: r.try_get(0)?,
                        handoff: decode_row(r, 1)?,
                    })
                })
                .collect()
        })
    }

    fn next_deadlines(&self, limit: u32) -> BoxFuture<'_, Result<Vec<Deadline>, StoreError>> {
        read(async move {
            let rows = sqlx::query(
                "SELECT id, due_ms FROM handoffs WHERE due_ms IS NOT NULL \
                 ORDER BY due_ms, id LIMIT ?",
            )
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await?;
            rows.iter()
                .map(|r| {
                    let ms: i64 = r.try_get(1)?;
                    let at = DateTime::from_timestamp_millis(ms).unwrap_or_default();
                    Ok((r.try_get(0)?, at))
                })
                .collect()
        })
    }

    fn due_deliveries(
        &self,
        limit: u32,
        skip: Vec<String>,
    ) -> BoxFuture<'_, Result<Vec<Delivery>, StoreError>> {
        read(async move {
            let mut b = QueryBuilder::<Sqlite>::new(format!(
                // Without the hint the planner takes `outbox_state` and sorts every
                // pending row; the partial index is already in `next_ms` order.
                "SELECT {OUTBOX_COLUMNS} FROM outbox INDEXED BY outbox_due \
                 WHERE state = 'pending'"
            ));
            if !skip.is_empty() {
                b.push(" AND id NOT IN (");
                let mut sep = b.separated(", ");
                for id in skip {
                    sep.push_bind(id);
                }
                b.push(")");
            }
            b.push(" ORDER BY next_ms, id LIMIT ")
                .push_bind(i64::from(limit));
            let rows = b.build().persistent(false).fetch_all(&self.read).await?;
            rows.iter().map(decode_delivery).collect()
        })
    }

    fn record_attempt(
        &self,
        attempt: Attempted,
        audit: Option<NewEntry>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        let audit = audit.map(Prepared::new);
        Box::pin(self.send(move |reply| Op::Attempt(attempt, audit, reply)))
    }

    fn deliveries(
        &self,
        state: Option<DeliveryState>,
        before: Option<String>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Delivery>, StoreError>> {
        read(async move {
            let mut b = QueryBuilder::<Sqlite>::new(format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE 1 = 1"
            ));
            if let Some(state) = state {
                b.push(" AND state = ").push_bind(state.as_str());
            }
            // Newest first: by insertion (the rowid), the cursor being the last id seen.
            if let Some(id) = before {
                b.push(" AND rowid < (SELECT rowid FROM outbox WHERE id = ")
                    .push_bind(id)
                    .push(")");
            }
            b.push(" ORDER BY rowid DESC LIMIT ")
                .push_bind(i64::from(limit));
            let rows = b.build().fetch_all(&self.read).await?;
            rows.iter().map(decode_delivery).collect()
        })
    }

    fn delivery<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Delivery>, StoreError>> {
        read(async move {
            let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = ?");
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(&self.read)
                .await?;
            row.as_ref().map(decode_delivery).transpose()
        })
    }

    fn verify_audit(&self) -> BoxFuture<'_, Result<Verification, StoreError>> {
        Box::pin(async move { Ok(self.verify_audit_after(None).await?.0) })
    }

    fn verify_audit_after(
        &self,
        after: ChainTail,
    ) -> BoxFuture<'_, Result<(Verification, ChainTail), StoreError>> {
        let path = self.path.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || verify_file(&path, after))
                .await
                .map_err(StoreError::database)?
                .map_err(StoreError::database)
        })
    }

    fn add_checkpoint(&self, cp: Checkpoint) -> BoxFuture<'_, Result<Checkpoint, StoreError>> {
        read(async move {
            // Its own short transaction on a pooled connection, beside the writer: the
            // busy timeout waits out the writer's commit if it holds the lock.
            let mut tx = self.read.begin_with("BEGIN IMMEDIATE").await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO checkpoints (seq, hash, at, jws) VALUES (?, ?, ?, ?) RETURNING id",
            )
            .bind(cp.seq)
            .bind(&cp.hash)
            .bind(cp.at.to_rfc3339_opts(SecondsFormat::Millis, true))
            .bind(&cp.jws)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Checkpoint { id, ..cp })
        })
    }

    fn checkpoints(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Checkpoint>, StoreError>> {
        read(async move {
            let rows = sqlx::query(
                "SELECT id, seq, hash, at, jws FROM checkpoints WHERE id < ? \
                 ORDER BY id DESC LIMIT ?",
            )
            .bind(before.unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await?;
            rows.iter()
                .map(|r| {
                    let at: String = r.try_get(3)?;
                    Ok(Checkpoint {
                        id: r.try_get(0)?,
                        seq: r.try_get(1)?,
                        hash: r.try_get(2)?,
                        at: DateTime::parse_from_rfc3339(&at)
                            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?
                            .to_utc(),
                        jws: r.try_get(4)?,
                    })
                })
                .collect()
        })
    }

    fn gauges(&self) -> BoxFuture<'_, Result<StoreGauges, StoreError>> {
        read(async move {
            let mut b = QueryBuilder::<Sqlite>::new(
                "SELECT assigned_team, level, status, count(*) FROM handoffs WHERE status IN (",
            );
            let mut sep = b.separated(", ");
            for s in OPEN_STATUSES {
                sep.push_bind(s.as_str());
            }
            b.push(") GROUP BY assigned_team, level, status ORDER BY assigned_team, level, status");
            let rows = b.build().fetch_all(&self.read).await?;
            let mut open = Vec::with_capacity(rows.len());
            for r in rows {
                let status: String = r.try_get(2)?;
                let Some(status) = handoff_domain::Status::parse(&status) else {
                    continue;
                };
                open.push(OpenCount {
                    team: r.try_get(0)?,
                    level: u8::try_from(r.try_get::<i64, _>(1)?).unwrap_or(0),
                    status,
                    count: u64::try_from(r.try_get::<i64, _>(3)?).unwrap_or(0),
                });
            }
            let (pending, oldest): (i64, Option<i64>) =
                sqlx::query_as("SELECT count(*), min(next_ms) FROM outbox WHERE state = 'pending'")
                    .fetch_one(&self.read)
                    .await?;
            Ok(StoreGauges {
                open,
                outbox_pending: u64::try_from(pending).unwrap_or(0),
                outbox_oldest_due: oldest.and_then(DateTime::from_timestamp_millis),
            })
        })
    }

    fn create_key(
        &self,
        key: KeyRecord,
        audit: NewEntry,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        let audit = Prepared::new(audit);
        Box::pin(self.send(|reply| Op::CreateKey(key, audit, reply)))
    }

    fn revoke_key(&self, name: String, audit: NewEntry) -> BoxFuture<'_, Result<bool, StoreError>> {
        let audit = Prepared::new(audit);
        Box::pin(self.send(|reply| Op::RevokeKey(name, audit, reply)))
    }

    fn find_key<'a>(
        &'a self,
        key_sha256: &'a str,
    ) -> BoxFuture<'a, Result<Option<KeyRecord>, StoreError>> {
        read(async move {
            let row = sqlx::query(
                "SELECT name, role, key_sha256, created_at FROM api_keys WHERE key_sha256 = ?",
            )
            .bind(key_sha256)
            .fetch_optional(&self.read)
            .await?;
            match row {
                Some(r) => Ok(Some(rows::decode_key(&r)?)),
                None => Ok(None),
            }
        })
    }

    fn find_key_by_name<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<KeyRecord>, StoreError>> {
        read(async move {
            let row = sqlx::query(
                "SELECT name, role, key_sha256, created_at FROM api_keys WHERE name = ?",
            )
            .bind(name)
            .fetch_optional(&self.read)
            .await?;
            match row {
                Some(r) => Ok(Some(rows::decode_key(&r)?)),
                None => Ok(None),
            }
        })
    }

    fn policy(&self) -> BoxFuture<'_, Result<StoredPolicy, StoreError>> {
        read(async move {
            let rows = sqlx::query("SELECT name, value FROM settings WHERE name IN (?, ?)")
                .bind(rows::POLICY_ACTIVE)
                .bind(rows::POLICY_FILE)
                .fetch_all(&self.read)
                .await?;
            let mut p = StoredPolicy::default();
            for r in rows {
                let name: String = r.try_get(0)?;
                let value: String = r.try_get(1)?;
                if name == rows::POLICY_ACTIVE {
                    p.active = Some(value);
                } else {
                    p.file_text = Some(value);
                }
            }
            Ok(p)
        })
    }

    fn set_policy(
        &self,
        active: String,
        file_text: Option<String>,
        audit: Option<NewEntry>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        let audit = audit.map(Prepared::new);
        Box::pin(self.send(move |reply| Op::SetPolicy {
            active,
            file_text,
            audit,
            reply,
        }))
    }

    fn tallies(
        &self,
        since_hour: i64,
        task: Option<String>,
    ) -> BoxFuture<'_, Result<Vec<DayTally>, StoreError>> {
        read(async move {
            let sums: Vec<String> = Counts::NAMES.iter().map(|n| format!("sum({n})")).collect();
            let mut b = QueryBuilder::<Sqlite>::new(format!(
                "SELECT task, epoch, hour / 24, {} FROM task_hours WHERE hour >= ",
                sums.join(", ")
            ));
            b.push_bind(since_hour);
            if let Some(t) = task {
                b.push(" AND task = ").push_bind(t);
            }
            b.push(" GROUP BY task, epoch, hour / 24 ORDER BY task, epoch, hour / 24");
            let rows = b.build().fetch_all(&self.read).await?;
            rows.iter()
                .map(|r| {
                    let values = (0..Counts::NAMES.len())
                        .map(|i| r.try_get::<i64, _>(i + 3))
                        .collect::<Result<Vec<i64>, _>>()?;
                    Ok(DayTally {
                        task: r.try_get(0)?,
                        epoch: u64::try_from(r.try_get::<i64, _>(1)?).unwrap_or(0),
                        day: r.try_get(2)?,
                        counts: Counts::from_values(&values),
                    })
                })
                .collect()
        })
    }

    fn histograms(
        &self,
        since_hour: i64,
        task: String,
    ) -> BoxFuture<'_, Result<Vec<HistogramCount>, StoreError>> {
        read(async move {
            let rows = sqlx::query(
                "SELECT epoch, histogram, bucket, sum(n) FROM task_hist \
                 WHERE task = ? AND day >= ? GROUP BY epoch, histogram, bucket",
            )
            .bind(task)
            .bind(since_hour.div_euclid(24))
            .fetch_all(&self.read)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let Some(histogram) = Histogram::from_code(r.try_get(1)?) else {
                    continue;
                };
                out.push(HistogramCount {
                    epoch: u64::try_from(r.try_get::<i64, _>(0)?).unwrap_or(0),
                    histogram,
                    bucket: r.try_get(2)?,
                    n: u64::try_from(r.try_get::<i64, _>(3)?).unwrap_or(0),
                });
            }
            Ok(out)
        })
    }

    fn recent_items(
        &self,
        task: String,
        epoch: u64,
        stream: StreamKind,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<bool>, StoreError>> {
        read(async move {
            sqlx::query_scalar(
                "SELECT error FROM monitor_items WHERE task = ? AND epoch = ? AND stream = ? \
                 ORDER BY seq DESC LIMIT ?",
            )
            .bind(task)
            .bind(i64::try_from(epoch).unwrap_or(i64::MAX))
            .bind(stream.as_str())
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await
        })
    }

    fn task_levels(&self) -> BoxFuture<'_, Result<Vec<TaskLevel>, StoreError>> {
        read(async move {
            let rows = sqlx::query("SELECT * FROM task_levels ORDER BY task")
                .fetch_all(&self.read)
                .await?;
            rows.iter().map(rows::decode_task_level).collect()
        })
    }

    fn set_task_level(
        &self,
        level: TaskLevel,
        expected_epoch: u64,
        audit: NewEntry,
        deliveries: Vec<Delivery>,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(self.send(move |reply| Op::SetTaskLevel {
            level: Box::new(level),
            expected_epoch,
            audit: Prepared::new(audit),
            deliveries,
            reply,
        }))
    }

    fn spot_checks(
        &self,
        teams: Option<Vec<String>>,
        after: Option<String>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Handoff>, StoreError>> {
        read(async move {
            let mut b = QueryBuilder::<Sqlite>::new(
                "SELECT doc, state FROM handoff_records WHERE spot_due IS NOT NULL",
            );
            if let Some(teams) = teams {
                if teams.is_empty() {
                    return Ok(Vec::new());
                }
                b.push(" AND assigned_team IN (");
                let mut sep = b.separated(", ");
                for t in teams {
                    sep.push_bind(t);
                }
                b.push(")");
            }
            if let Some(id) = after {
                b.push(" AND id > ").push_bind(id);
            }
            b.push(" ORDER BY id LIMIT ").push_bind(i64::from(limit));
            let rows = b.build().fetch_all(&self.read).await?;
            rows.iter().map(|r| decode_row(r, 0)).collect()
        })
    }

    fn export(&self, q: ExportQuery) -> BoxFuture<'_, Result<Vec<Handoff>, StoreError>> {
        read(async move {
            let mut b = QueryBuilder::<Sqlite>::new(
                "SELECT doc, state FROM handoff_records WHERE status NOT IN \
                 ('pending', 'alerted', 'handed_over', 'acknowledged')",
            );
            if let Some(t) = q.task {
                b.push(" AND task = ").push_bind(t);
            }
            if let Some(since) = q.since {
                b.push(" AND created_ms >= ")
                    .push_bind(since.timestamp_millis());
            }
            if let Some(until) = q.until {
                b.push(" AND created_ms < ")
                    .push_bind(until.timestamp_millis());
            }
            if let Some(id) = q.after {
                b.push(" AND id > ").push_bind(id);
            }
            b.push(" ORDER BY id LIMIT ").push_bind(i64::from(q.limit));
            let rows = b.build().fetch_all(&self.read).await?;
            rows.iter().map(|r| decode_row(r, 0)).collect()
        })
    }

    fn hub(&self) -> &Hub {
        &self.hub
    }

    fn writer_stats(&self) -> Option<&WriterStats> {
        Some(&self.stats)
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            if self.ops.send(Op::Close(tx)).await.is_ok() {
                let _ = rx.await;
            }
            self.checkpointer.abort();
            self.read.close().await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::migrator;

    /// Every database records the checksum (SHA-384) of each migration it ran, and refuses
    /// to open when a file's text no longer matches: these files never change.
    #[test]
    fn the_migrations_keep_the_checksums_existing_databases_recorded() {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let got: Vec<(i64, String)> = migrator()
            .iter()
            .map(|m| (m.version, hex(&m.checksum)))
            .collect();
        let want = [
            (
                1,
                "7d307bbaf171b81131e0dea2fff75783e0fff41f17ab7761dd78ed299555eeeb\
                 2e7ad4e9ed6ded9ba47c15cb174012d7",
            ),
            (
                2,
                "1073ee27b592697381818eb3f446c68a47df66bb5087cfddfcb86a3b8e7c839a\
                 21ba6d16c02e09aa63c764628021cf03",
            ),
            (
                3,
                "33608d1e6654b0316519e1c80ccd53988cbeb71330e5e4f2dc5ab9d7c7f9853b\
                 74e729e1c99e6ed4105a5fa687042ff3",
            ),
            (
                4,
                "7861efd2ddcbadfd568affcc872c979cd500390ccbd2c02983b44e01bd087183\
                 cf02ffd2395b5002273f35bbb8049962",
            ),
            (
                5,
                "6a0a3486e6732d6a7443dc47bc8af5bf154126f50bbb1c1ba1c28ef2fcbee608\
                 dc19a23ec3800bb0ad9320ae3cedd468",
            ),
            (
                6,
                "494aeb5dfb42009978e768009caa769c122e21dd01e17616ceb59ed64255270e\
                 b740d060ceb52b2c312cbd62e7bddc19",
            ),
            (
                7,
                "1d0c2f050b4c51002eea2a56b7b2c8d447da8898f89478bb44e927f082d50d2e\
                 8404e24f91c08c5064fe2ea336d4a849",
            ),
            (
                8,
                "ed2c39b40b589e4268c0d403c67869b0aa702a549b4cc039c515c9c64c5fe7ac\
                 bd681e270c09df77e3fa23c2b5147d8c",
            ),
        ]
        .map(|(v, h)| (v, h.to_owned()));
        assert_eq!(got, want);
    }
}
