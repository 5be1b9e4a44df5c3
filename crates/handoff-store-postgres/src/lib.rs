//! The shared store: [`PgStore`], the [`Store`] trait on PostgreSQL, for one or several
//! `handoff serve` nodes on one database. Open it with [`PgStore::connect`] on a
//! `postgres://` URL; it brings the schema up to date (`migrations/`) itself.
//!
//! - this file: connecting, the reads, delivery claims, and the trait's methods.
//! - `writer`: the node's writer, a task with its own connection doing group commit:
//!   whatever is queued, in one transaction that first takes the chain lock
//!   (`pg_advisory_xact_lock`) and reads the audit chain's tail, committed before anyone
//!   hears of it.
//! - `batch`: what one batch has done so far, and an update applied to it.
//! - `write`: what a batch writes, as one statement of multi-row `UNNEST` inserts and
//!   updates, with its `pg_notify`.
//! - `listen`: `LISTEN/NOTIFY`: other nodes' commits published to this node's hub, and
//!   their key, policy and task-level changes as hub notices.
//! - `rows`: between Rust values and rows (the handoff's JSON split as the SQLite store
//!   splits it).
//! - `error`: sqlx's errors as [`StoreError`].
//!
//! Nothing is cached in memory: every read and every update reads the database, so a node
//! never acts on a state another node has changed.
#![forbid(unsafe_code)]

mod batch;
mod error;
mod listen;
mod rows;
mod write;
mod writer;

use chrono::{DateTime, Utc};
use error::{SqlxResultExt, db};
use futures_util::TryStreamExt;
use handoff_domain::Handoff;
use handoff_domain::audit::{AuditEntry, ChainVerifier, NewEntry, Prepared, Verification};
use handoff_domain::learning::{Counts, Histogram, StreamKind};
use handoff_store::{
    Attempted, BoxFuture, ChainTail, Checkpoint, Claimed, Cursor, DayTally, Deadline, Delivery,
    DeliveryState, ExportQuery, HistogramCount, Hub, KeyRecord, ListQuery, OPEN_STATUSES,
    OpenCount, Refused, Scope, Store, StoreError, StoreGauges, StoredEvent, StoredPolicy,
    Submission, Submitted, TaskLevel, UpdateFn, WriterStats,
};
use rows::{AUDIT_COLUMNS, OUTBOX_COLUMNS, decode_audit, decode_delivery, decode_row};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Postgres, QueryBuilder, Row, SqlSafeStr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use writer::{LocalRanges, Op, Writer};

/// Read connections per node.
const READERS: u32 = 16;

/// Operations queued for the writer before callers wait for room.
const QUEUE: usize = 16 * 1024;

pub struct PgStore {
    read: PgPool,
    ops: mpsc::Sender<Op>,
    hub: Arc<Hub>,
    listener: tokio::task::JoinHandle<()>,
    stats: Arc<WriterStats>,
    node: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.listener.abort();
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
    Migrator::with_migrations(vec![m(
        1,
        "init",
        include_str!("../migrations/0001_init.sql"),
    )])
}

/// A random id for this store's node: its own notifications are told apart by it.
fn node_id() -> String {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        // No randomness: the process and the time are unique enough among nodes.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        return format!("{:x}{t:x}", std::process::id());
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://…`, with `sslmode` and the rest
    /// of libpq's URL parameters), migrates it, and starts the writer and the listener.
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        let mut options = PgConnectOptions::from_str(url).db()?;
        if options.get_application_name().is_none() {
            options = options.application_name("handoff");
        }
        // The server's notices ("relation … already exists, skipping" at each start) are
        // not worth a log line each; warnings still are.
        let options = options.options([("client_min_messages", "warning")]);
        let mut conn = options.connect().await.db()?;
        // Several nodes starting at once: the migrator takes an advisory lock.
        migrator()
            .run_direct(None, &mut conn, false)
            .await
            .map_err(|e| StoreError::Migrate(e.to_string()))?;
        conn.close().await.db()?;
        let read = PgPoolOptions::new()
            .max_connections(READERS)
            .min_connections(1)
            .connect_with(options.clone())
            .await
            .db()?;
        let hub = Arc::new(Hub::default());
        let stats = Arc::new(WriterStats::default());
        let node = node_id();
        let local = Arc::new(Mutex::new(LocalRanges::default()));
        let (ops, rx) = mpsc::channel(QUEUE);
        let writer = Writer {
            // The batch statement's plan is the same whatever the batch holds: planned
            // once, not at each commit.
            options: options
                .clone()
                .options([("plan_cache_mode", "force_generic_plan")]),
            conn: None,
            rx,
            hub: hub.clone(),
            stats: stats.clone(),
            node: node.clone(),
            local: local.clone(),
        };
        tokio::spawn(writer.run());
        let (ready, listening) = oneshot::channel();
        let listener = listen::Listener {
            pool: read.clone(),
            hub: hub.clone(),
            node: node.clone(),
            local,
            heard: 0,
        };
        let listener = tokio::spawn(listener.run(ready));
        // Listening before the first write is answered: nothing another node commits
        // after `connect` returns goes unheard. A database that does not let us listen
        // within the time is not fatal: the listener keeps trying.
        if tokio::time::timeout(Duration::from_secs(10), listening)
            .await
            .is_err()
        {
            tracing::warn!("not yet listening for other nodes' commits");
        }
        Ok(PgStore {
            read,
            ops,
            hub,
            listener,
            stats,
            node,
        })
    }

    /// This store's node id, as its notifications carry it.
    pub fn node(&self) -> &str {
        &self.node
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

    async fn list_sql(&self, q: &ListQuery) -> Result<Vec<Handoff>, sqlx::Error> {
        let teams: Vec<&str> = match &q.scope {
            Scope::Teams(teams) => teams
                .iter()
                .map(String::as_str)
                .filter(|t| q.team.as_deref().is_none_or(|want| want == *t))
                .collect(),
            _ => return self.list_newest(q).await,
        };
        if teams.is_empty() {
            return Ok(Vec::new());
        }
        // One indexed range per team, merged by (due time, id) in one query: a reviewer
        // in several teams never makes the database sort every team's history.
        let mut b = QueryBuilder::<Postgres>::new("SELECT doc, state FROM (");
        for (i, team) in teams.iter().enumerate() {
            if i > 0 {
                b.push(" UNION ALL ");
            }
            b.push("(SELECT sla_due_ms, id, doc, state FROM handoffs WHERE assigned_team = ");
            b.push_bind((*team).to_owned());
            push_filters(&mut b, q);
            if let Some(Cursor::After { sla_due_ms, id }) = &q.after {
                b.push(" AND (sla_due_ms, id) > (")
                    .push_bind(*sla_due_ms)
                    .push(", ")
                    .push_bind(id.clone())
                    .push(")");
            }
            b.push(" ORDER BY sla_due_ms, id LIMIT ")
                .push_bind(i64::from(q.limit))
                .push(")");
        }
        b.push(") t ORDER BY sla_due_ms, id LIMIT ")
            .push_bind(i64::from(q.limit));
        let rows = b.build().fetch_all(&self.read).await?;
        rows.iter().map(|r| decode_row(r, 0)).collect()
    }

    async fn list_newest(&self, q: &ListQuery) -> Result<Vec<Handoff>, sqlx::Error> {
        let mut b = QueryBuilder::<Postgres>::new("SELECT doc, state FROM handoffs WHERE TRUE");
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

/// Handoff events after audit seq `after`, with each handoff as it is now (the trait's
/// `events_after`, also read by the listener).
pub(crate) async fn events_after(
    pool: &PgPool,
    after: i64,
    limit: u32,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    // Entries about deliveries (`notification.*`) change no handoff: no event.
    let rows = sqlx::query(
        "SELECT a.seq, h.doc, h.state FROM audit a JOIN handoffs h ON h.id = a.handoff_id \
         WHERE a.seq > $1 AND a.action LIKE 'handoff.%' ORDER BY a.seq LIMIT $2",
    )
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(StoredEvent {
                seq: r.try_get(0)?,
                handoff: decode_row(r, 1)?,
            })
        })
        .collect()
}

/// A read as the trait answers it: `body`'s sqlx errors become [`StoreError::Database`].
fn read<'a, T: Send + 'a>(
    body: impl Future<Output = Result<T, sqlx::Error>> + Send + 'a,
) -> BoxFuture<'a, Result<T, StoreError>> {
    Box::pin(async move { body.await.map_err(db) })
}

fn push_filters(b: &mut QueryBuilder<Postgres>, q: &ListQuery) {
    if let Some(s) = q.status {
        b.push(" AND status = ").push_bind(s.as_str());
    }
    if let Some(t) = &q.task {
        b.push(" AND task = ").push_bind(t.clone());
    }
    if let Some(l) = q.level {
        b.push(" AND level = ").push_bind(i32::from(l.get()));
    }
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

impl Store for PgStore {
    fn submit(&self, sub: Submission) -> BoxFuture<'_, Result<Submitted, StoreError>> {
        // Serialising and canonicalising here, in the caller's task, keeps that work off
        // the writer.
        let ready = writer::ReadySubmission::new(sub);
        Box::pin(self.send(|reply| Op::Submit(Box::new(ready), reply)))
    }

    fn update(
        &self,
        id: String,
        if_match: Option<u64>,
        f: UpdateFn,
    ) -> BoxFuture<'_, Result<Result<Handoff, Refused>, StoreError>> {
        Box::pin(self.send(move |reply| Op::Update {
            id,
            if_match,
            f,
            reply,
        }))
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Handoff>, StoreError>> {
        read(async move {
            let row = sqlx::query("SELECT doc, state FROM handoffs WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.read)
                .await?;
            row.map(|r| decode_row(&r, 0)).transpose()
        })
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
            // A revision is newer than what it supersedes: only ids after `id`.
            let rows = sqlx::query(
                "SELECT doc, state FROM handoffs WHERE agent = $1 AND supersedes = $2 \
                 AND id > $2 ORDER BY id",
            )
            .bind(agent)
            .bind(id)
            .fetch_all(&self.read)
            .await?;
            rows.iter().map(|r| decode_row(r, 0)).collect()
        })
    }

    fn timeline<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Vec<AuditEntry>, StoreError>> {
        read(async move {
            let sql =
                format!("SELECT {AUDIT_COLUMNS} FROM audit WHERE handoff_id = $1 ORDER BY seq");
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_all(&self.read)
                .await?;
            rows.iter().map(decode_audit).collect()
        })
    }

    fn audit(&self, after: i64, limit: u32) -> BoxFuture<'_, Result<Vec<AuditEntry>, StoreError>> {
        read(async move {
            let sql =
                format!("SELECT {AUDIT_COLUMNS} FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2");
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
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
        read(events_after(&self.read, after, limit))
    }

    fn next_deadlines(&self, limit: u32) -> BoxFuture<'_, Result<Vec<Deadline>, StoreError>> {
        read(async move {
            let rows = sqlx::query(
                "SELECT id, due_ms FROM handoffs WHERE due_ms IS NOT NULL \
                 ORDER BY due_ms, id LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await?;
            rows.iter()
                .map(|r| Ok((r.try_get(0)?, rows::from_ms(r.try_get(1)?))))
                .collect()
        })
    }

    fn due_deliveries(
        &self,
        limit: u32,
        skip: Vec<String>,
    ) -> BoxFuture<'_, Result<Vec<Delivery>, StoreError>> {
        read(async move {
            let sql = format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE state = 'pending' \
                 AND NOT (id = ANY($1)) ORDER BY next_ms, id LIMIT $2"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(skip)
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await?;
            rows.iter().map(decode_delivery).collect()
        })
    }

    fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
        skip: Vec<String>,
    ) -> BoxFuture<'_, Result<Claimed, StoreError>> {
        read(async move {
            // Due, not leased by a live claim, not in flight here; rows another node is
            // claiming this very moment are skipped, not waited for. The next attempt
            // among the rest counts a lease as the time its delivery is free again.
            let sql = format!(
                "WITH picked AS (SELECT id FROM outbox WHERE state = 'pending' \
                   AND next_ms <= $1 AND (lease_ms IS NULL OR lease_ms <= $1) \
                   AND NOT (id = ANY($3)) ORDER BY next_ms, id LIMIT $4 \
                   FOR UPDATE SKIP LOCKED), \
                 claimed AS (UPDATE outbox o SET lease_ms = $2 FROM picked \
                   WHERE o.id = picked.id RETURNING o.*), \
                 later AS (SELECT min(GREATEST(next_ms, COALESCE(lease_ms, 0))) AS next_ms \
                   FROM outbox WHERE state = 'pending' AND NOT (id = ANY($3)) \
                   AND id NOT IN (SELECT id FROM picked)) \
                 SELECT later.next_ms, c.* FROM later LEFT JOIN \
                   (SELECT {OUTBOX_COLUMNS} FROM claimed) c ON TRUE \
                 ORDER BY c.next_ms, c.id"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(ms(now))
                .bind(ms(lease_until))
                .bind(skip)
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await?;
            let mut claimed = Claimed::default();
            for r in rows {
                if claimed.next_at.is_none() {
                    let next: Option<i64> = r.try_get(0)?;
                    claimed.next_at = next.map(rows::from_ms);
                }
                let id: Option<String> = r.try_get(1)?;
                if id.is_some() {
                    claimed.due.push(rows::decode_delivery_at(&r, 1)?);
                }
            }
            Ok(claimed)
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
            let mut b = QueryBuilder::<Postgres>::new(format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE TRUE"
            ));
            if let Some(state) = state {
                b.push(" AND state = ").push_bind(state.as_str());
            }
            // Newest first: by insertion, the cursor being the last id seen.
            if let Some(id) = before {
                b.push(" AND n < (SELECT n FROM outbox WHERE id = ")
                    .push_bind(id)
                    .push(")");
            }
            b.push(" ORDER BY n DESC LIMIT ")
                .push_bind(i64::from(limit));
            let rows = b.build().fetch_all(&self.read).await?;
            rows.iter().map(decode_delivery).collect()
        })
    }

    fn delivery<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Delivery>, StoreError>> {
        read(async move {
            let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = $1");
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
        read(async move {
            let from = after.as_ref().map_or(0, |(seq, _)| *seq);
            let sql = format!("SELECT {AUDIT_COLUMNS} FROM audit WHERE seq > $1 ORDER BY seq");
            let mut conn = self.read.acquire().await?;
            let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(from)
                .fetch(&mut *conn);
            let mut chain = match &after {
                Some((seq, hash)) => ChainVerifier::after(*seq, hash),
                None => ChainVerifier::new(),
            };
            let mut last = after.clone();
            while let Some(row) = rows.try_next().await? {
                match decode_audit(&row) {
                    Ok(entry) => {
                        if chain.push(&entry) {
                            last = Some((entry.seq, entry.hash));
                        }
                    }
                    // A row that no longer decodes was edited: it is the first bad one.
                    Err(_) => {
                        let seq: i64 = row.try_get(0)?;
                        return Ok((
                            Verification {
                                ok: false,
                                entries: chain.finish().entries,
                                first_bad_seq: Some(seq),
                                checkpoint_seq: None,
                            },
                            last,
                        ));
                    }
                }
            }
            Ok((chain.finish(), last))
        })
    }

    fn add_checkpoint(&self, cp: Checkpoint) -> BoxFuture<'_, Result<Checkpoint, StoreError>> {
        read(async move {
            // Beside the writer, in a transaction of its own: not an audit entry.
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO checkpoints (seq, hash, at, jws) VALUES ($1, $2, $3, $4) \
                 RETURNING id",
            )
            .bind(cp.seq)
            .bind(&cp.hash)
            .bind(rows::ts(cp.at))
            .bind(&cp.jws)
            .fetch_one(&self.read)
            .await?;
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
                "SELECT id, seq, hash, at, jws FROM checkpoints WHERE id < $1 \
                 ORDER BY id DESC LIMIT $2",
            )
            .bind(before.unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(Checkpoint {
                        id: r.try_get(0)?,
                        seq: r.try_get(1)?,
                        hash: r.try_get(2)?,
                        at: rows::parse_ts(r.try_get(3)?)?,
                        jws: r.try_get(4)?,
                    })
                })
                .collect()
        })
    }

    fn gauges(&self) -> BoxFuture<'_, Result<StoreGauges, StoreError>> {
        read(async move {
            let open_statuses: Vec<&str> = OPEN_STATUSES.iter().map(|s| s.as_str()).collect();
            let rows = sqlx::query(
                "SELECT assigned_team, level, status, count(*) FROM handoffs \
                 WHERE status = ANY($1) GROUP BY assigned_team, level, status \
                 ORDER BY assigned_team, level, status",
            )
            .bind(open_statuses)
            .fetch_all(&self.read)
            .await?;
            let mut open = Vec::with_capacity(rows.len());
            for r in rows {
                let status: String = r.try_get(2)?;
                let Some(status) = handoff_domain::Status::parse(&status) else {
                    continue;
                };
                open.push(OpenCount {
                    team: r.try_get(0)?,
                    level: u8::try_from(r.try_get::<i32, _>(1)?).unwrap_or(0),
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
                "SELECT name, role, key_sha256, created_at FROM api_keys WHERE key_sha256 = $1",
            )
            .bind(key_sha256)
            .fetch_optional(&self.read)
            .await?;
            row.as_ref().map(rows::decode_key).transpose()
        })
    }

    fn find_key_by_name<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<KeyRecord>, StoreError>> {
        read(async move {
            let row = sqlx::query(
                "SELECT name, role, key_sha256, created_at FROM api_keys WHERE name = $1",
            )
            .bind(name)
            .fetch_optional(&self.read)
            .await?;
            row.as_ref().map(rows::decode_key).transpose()
        })
    }

    fn policy(&self) -> BoxFuture<'_, Result<StoredPolicy, StoreError>> {
        read(async move {
            let rows = sqlx::query("SELECT name, value FROM settings WHERE name IN ($1, $2)")
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
            let sums: Vec<String> = Counts::NAMES
                .iter()
                .map(|n| format!("sum({n})::int8"))
                .collect();
            let mut b = QueryBuilder::<Postgres>::new(format!(
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
                "SELECT epoch, histogram, bucket, sum(n)::int8 FROM task_hist \
                 WHERE task = $1 AND day >= $2 GROUP BY epoch, histogram, bucket",
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
                "SELECT error FROM monitor_items WHERE task = $1 AND epoch = $2 \
                 AND stream = $3 ORDER BY seq DESC LIMIT $4",
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
            let sql = format!(
                "SELECT {} FROM task_levels ORDER BY task",
                rows::TASK_LEVEL_COLUMNS
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
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
            let mut b =
                QueryBuilder::<Postgres>::new("SELECT doc, state FROM handoffs WHERE spot_due");
            if let Some(teams) = teams {
                if teams.is_empty() {
                    return Ok(Vec::new());
                }
                b.push(" AND assigned_team = ANY(")
                    .push_bind(teams)
                    .push(")");
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
            let mut b = QueryBuilder::<Postgres>::new(
                "SELECT doc, state FROM handoffs WHERE status NOT IN \
                 ('pending', 'alerted', 'handed_over', 'acknowledged')",
            );
            if let Some(t) = q.task {
                b.push(" AND task = ").push_bind(t);
            }
            if let Some(since) = q.since {
                b.push(" AND created_ms >= ").push_bind(ms(since));
            }
            if let Some(until) = q.until {
                b.push(" AND created_ms < ").push_bind(ms(until));
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
            self.listener.abort();
            self.read.close().await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::migrator;

    /// Every database records each migration's checksum and refuses to open when a
    /// file's text no longer matches: migrations never change once released.
    #[test]
    fn the_migrations_are_numbered_from_one_without_gaps() {
        let versions: Vec<i64> = migrator().iter().map(|m| m.version).collect();
        let want: Vec<i64> = (1..=versions.len() as i64).collect();
        assert_eq!(versions, want);
    }
}
