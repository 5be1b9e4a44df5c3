//! The node's writer: a task with its own connection that takes everything queued (up to
//! [`MAX_BATCH`] operations), applies it in one transaction and commits once, and only
//! then answers each caller and tells the hub.
//!
//! Several nodes share the database, so every batch first takes the chain lock
//! (`pg_advisory_xact_lock`, held until its COMMIT) and then reads the audit chain's tail
//! and the current rows of the handoffs it changes: two nodes' batches serialise on the
//! lock, each one sees everything the other committed, and the chain stays one gapless,
//! verifiable chain. A batch costs four round trips whatever its size: `BEGIN` + lock +
//! tail (one simple query), the rows its updates and idempotency keys need, one statement
//! that writes everything (`write::STATEMENT`, multi-row `UNNEST` inserts and updates,
//! with the batch's `pg_notify`), and `COMMIT`. Rare operations (keys, the policy, task
//! levels) add a statement each.
//!
//! Operations in a batch apply in arrival order and see each other's effects.

use crate::batch::{Batch, HandoffRow};
use crate::rows;
use crate::write::Rows;
use handoff_domain::Handoff;
use handoff_domain::audit::Prepared;
use handoff_domain::learning::Tally;
use handoff_store::{
    Attempted, Delivery, DeliveryState, Event, Hub, IDEMPOTENCY_WINDOW_HOURS, Idempotency,
    KeyRecord, Refused, StoreError, Submission, Submitted, TaskLevel, UpdateFn, WriterStats,
};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection, Row};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// The most operations one transaction carries.
pub(crate) const MAX_BATCH: usize = 512;

/// The chain lock's key: every writer of the database takes it for its batch.
pub(crate) const CHAIN_LOCK: i64 = 0x68616e646f6666; // "handoff"

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// A submission made ready off the writer's path: the record serialised, the audit
/// entry's canonical content worked out.
pub(crate) struct ReadySubmission {
    pub(crate) handoff: Handoff,
    pub(crate) doc: String,
    pub(crate) audit: Prepared,
    pub(crate) idempotency: Option<Idempotency>,
    pub(crate) deliveries: Vec<Delivery>,
}

impl ReadySubmission {
    pub(crate) fn new(sub: Submission) -> ReadySubmission {
        ReadySubmission {
            doc: rows::encode_doc(&sub.handoff),
            handoff: sub.handoff,
            audit: Prepared::new(sub.audit),
            idempotency: sub.idempotency,
            deliveries: sub.deliveries,
        }
    }
}

pub(crate) enum Op {
    Submit(Box<ReadySubmission>, Reply<Submitted>),
    Update {
        id: String,
        if_match: Option<u64>,
        f: UpdateFn,
        reply: Reply<Result<Handoff, Refused>>,
    },
    Attempt(Attempted, Option<Prepared>, Reply<()>),
    CreateKey(KeyRecord, Prepared, Reply<bool>),
    RevokeKey(String, Prepared, Reply<bool>),
    SetPolicy {
        active: String,
        file_text: Option<String>,
        audit: Option<Prepared>,
        reply: Reply<()>,
    },
    SetTaskLevel {
        level: Box<TaskLevel>,
        expected_epoch: u64,
        audit: Prepared,
        deliveries: Vec<Delivery>,
        reply: Reply<bool>,
    },
    Close(oneshot::Sender<()>),
}

/// A computed answer, sent once the batch is committed (or failed).
pub(crate) enum Done {
    Submit(Reply<Submitted>, Submitted),
    Update(
        Reply<Result<Handoff, Refused>>,
        Box<Result<Handoff, Refused>>,
    ),
    Flag(Reply<bool>, bool),
    Unit(Reply<()>),
}

impl Done {
    fn send(self, failure: Option<(bool, &str)>) {
        match self {
            Done::Submit(r, v) => answer(r, v, failure),
            Done::Update(r, v) => answer(r, *v, failure),
            Done::Flag(r, v) => answer(r, v, failure),
            Done::Unit(r) => answer(r, (), failure),
        }
    }
}

/// Sends `value`, or the batch's failure. A caller that went away needs no answer.
fn answer<T>(reply: Reply<T>, value: T, failure: Option<(bool, &str)>) {
    let _ = reply.send(match failure {
        None => Ok(value),
        Some((full, why)) => Err(StoreError::batch_failed(full, why)),
    });
}

/// The seq ranges this node committed lately: the listener, catching up after a lost
/// connection, leaves them out (they were published when committed).
#[derive(Default)]
pub(crate) struct LocalRanges {
    ranges: std::collections::VecDeque<(i64, i64)>,
}

impl LocalRanges {
    const KEEP: usize = 4096;

    fn push(&mut self, first: i64, last: i64) {
        self.ranges.push_back((first, last));
        while self.ranges.len() > Self::KEEP {
            self.ranges.pop_front();
        }
    }

    pub(crate) fn contains(&self, seq: i64) -> bool {
        self.ranges.iter().any(|(a, b)| (*a..=*b).contains(&seq))
    }
}

pub(crate) struct Writer {
    pub(crate) options: PgConnectOptions,
    pub(crate) conn: Option<PgConnection>,
    pub(crate) rx: mpsc::Receiver<Op>,
    pub(crate) hub: Arc<Hub>,
    pub(crate) stats: Arc<WriterStats>,
    pub(crate) node: String,
    pub(crate) local: Arc<Mutex<LocalRanges>>,
}

impl Writer {
    /// The writer's loop: it ends when the store closes (or is dropped).
    pub(crate) async fn run(mut self) {
        let mut ops: Vec<Op> = Vec::with_capacity(MAX_BATCH);
        while let Some(first) = self.rx.recv().await {
            ops.push(first);
            while ops.len() < MAX_BATCH {
                match self.rx.try_recv() {
                    Ok(op) => ops.push(op),
                    Err(_) => break,
                }
            }
            let mut close = None;
            let batch: Vec<Op> = ops
                .drain(..)
                .filter_map(|op| match op {
                    Op::Close(done) => {
                        close = Some(done);
                        None
                    }
                    op => Some(op),
                })
                .collect();
            if !batch.is_empty() {
                self.commit(batch).await;
            }
            if let Some(done) = close {
                self.rx.close();
                let mut rest = Vec::new();
                while let Ok(op) = self.rx.try_recv() {
                    if !matches!(op, Op::Close(_)) {
                        rest.push(op);
                    }
                }
                if !rest.is_empty() {
                    self.commit(rest).await;
                }
                if let Some(conn) = self.conn.take() {
                    let _ = conn.close().await;
                }
                let _ = done.send(());
                return;
            }
        }
    }

    async fn commit(&mut self, ops: Vec<Op>) {
        use std::sync::atomic::Ordering::Relaxed;
        let n = ops.len() as u64;
        let started = Instant::now();
        let mut batch = Batch::default();
        match self.apply(ops, &mut batch).await {
            Ok(()) => {
                let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                self.stats.batches.fetch_add(1, Relaxed);
                self.stats.ops.fetch_add(n, Relaxed);
                self.stats.commit_micros.fetch_add(micros, Relaxed);
                self.stats.max_batch.fetch_max(n, Relaxed);
                if let (Some(first), Some(last)) = (batch.audits.first(), batch.audits.last()) {
                    self.local
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(first.0, last.0);
                }
                for d in batch.done {
                    d.send(None);
                }
                let outbox = !batch.deliveries.is_empty()
                    || batch
                        .attempts
                        .iter()
                        .any(|a| a.state == DeliveryState::Pending);
                self.hub.publish(batch.events);
                if outbox {
                    self.hub.outbox().notify_one();
                }
            }
            Err(e) => {
                self.stats.failed.fetch_add(1, Relaxed);
                tracing::error!(error = %e, "a write batch failed and was rolled back");
                // A connection in an unknown state is not reused: the next batch opens
                // another (the server rolls back what this one left).
                if let Some(conn) = self.conn.take() {
                    let _ = conn.close_hard().await;
                }
                let full = crate::error::is_full(&e);
                let msg = format!("the write was rolled back: {e}");
                for d in batch.done {
                    d.send(Some((full, &msg)));
                }
            }
        }
    }

    async fn connection(&mut self) -> Result<&mut PgConnection, sqlx::Error> {
        if self.conn.is_none() {
            // A database restarting (a failover) refuses for a moment: a few tries.
            let mut tries = 0;
            let conn = loop {
                match self.options.connect().await {
                    Ok(c) => break c,
                    Err(e) if tries < 3 => {
                        tries += 1;
                        tracing::warn!(error = %e, "the writer cannot connect; trying again");
                        tokio::time::sleep(Duration::from_millis(200 * tries)).await;
                    }
                    Err(e) => return Err(e),
                }
            };
            self.conn = Some(conn);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| sqlx::Error::Protocol("no connection".into()))
    }

    /// Opens the batch's transaction: one round trip for `BEGIN`, the chain lock, then
    /// (a statement of its own, so its snapshot is taken once the lock is held) the
    /// chain's tail.
    async fn begin(&mut self) -> Result<Option<(i64, String)>, sqlx::Error> {
        let conn = self.connection().await?;
        let begin = format!(
            "BEGIN; SELECT pg_advisory_xact_lock({CHAIN_LOCK}); \
             SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"
        );
        let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(begin))
            .fetch_all(&mut *conn)
            .await?;
        match rows.iter().find(|r| r.len() == 2) {
            Some(r) => Ok(Some((r.try_get(0)?, r.try_get(1)?))),
            None => Ok(None),
        }
    }

    async fn apply(&mut self, ops: Vec<Op>, b: &mut Batch) -> Result<(), sqlx::Error> {
        let node = self.node.clone();
        b.tail = match self.begin().await {
            Ok(tail) => tail,
            // A connection that died while idle (a restarted server, a proxy's idle
            // timeout) fails the first statement, before anything of the batch was
            // sent: once more on a new connection.
            Err(e) => {
                tracing::warn!(error = %e, "the writer's connection failed; opening another");
                if let Some(conn) = self.conn.take() {
                    let _ = conn.close_hard().await;
                }
                match self.begin().await {
                    Ok(tail) => tail,
                    Err(e) => return Err(abandon(ops, b, e)),
                }
            }
        };
        let conn = match self.connection().await {
            Ok(conn) => conn,
            Err(e) => return Err(abandon(ops, b, e)),
        };
        let (ids, agents, keys) = wanted(&ops);
        if let Err(e) = load(conn, ids, agents, keys, b).await {
            return Err(abandon(ops, b, e));
        }
        let mut ops = ops.into_iter();
        while let Some(op) = ops.next() {
            if let Err(e) = apply_one(conn, op, b).await {
                return Err(abandon(ops.collect(), b, e));
            }
        }
        let payload = match (b.audits.first(), b.audits.last()) {
            (Some(first), Some(last)) => Some(events_payload(
                &node,
                (first.0, last.0),
                !b.deliveries.is_empty(),
                &b.events,
            )),
            _ => None,
        };
        let notices: Vec<String> = b.notices.iter().map(|n| format!("{node}:{n}")).collect();
        let rows = Rows::of(b);
        if !rows.is_empty() || payload.is_some() || !notices.is_empty() {
            rows.execute(conn, payload, notices).await?;
        }
        sqlx::raw_sql("COMMIT").execute(&mut *conn).await?;
        Ok(())
    }
}

/// Operations of a failed batch not yet applied: each caller hears the batch's failure
/// (rather than that the store closed). Answers `e`.
fn abandon(ops: Vec<Op>, b: &mut Batch, e: sqlx::Error) -> sqlx::Error {
    // The values are never sent: a failed batch answers every caller with its error.
    b.done.extend(ops.into_iter().filter_map(|op| match op {
        Op::Submit(_, reply) => Some(Done::Submit(reply, Submitted::KeyReused)),
        Op::Update { reply, .. } => Some(Done::Update(reply, Box::new(Err(Refused::NotFound)))),
        Op::Attempt(_, _, reply) | Op::SetPolicy { reply, .. } => Some(Done::Unit(reply)),
        Op::CreateKey(_, _, reply)
        | Op::RevokeKey(_, _, reply)
        | Op::SetTaskLevel { reply, .. } => Some(Done::Flag(reply, false)),
        Op::Close(_) => None,
    }));
    e
}

/// A batch's notification on `handoff_events` (see `listen`): `NODE:FIRST:LAST:FLAGS`,
/// then, when the batch moved handoffs to other teams, `:{"SEQ":"TEAM",…}` (each event's
/// `previous_team`, which another node cannot read back), left out if it would not fit
/// under PostgreSQL's 8000-byte limit (those events then reach other nodes without it).
pub(crate) fn events_payload(
    node: &str,
    (first, last): (i64, i64),
    outbox: bool,
    events: &[Event],
) -> String {
    let mut payload = format!("{node}:{first}:{last}:{}", if outbox { "o" } else { "" });
    let moved: serde_json::Map<String, serde_json::Value> = events
        .iter()
        .filter_map(|e| Some((e.seq.to_string(), e.previous_team.clone()?.into())))
        .collect();
    if !moved.is_empty() {
        let json = serde_json::Value::Object(moved).to_string();
        if payload.len() + json.len() < 7900 {
            payload.push(':');
            payload.push_str(&json);
        }
    }
    payload
}

/// The handoffs the batch's updates change, and the `(agent, key)` of its idempotency
/// keys.
fn wanted(ops: &[Op]) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut ids: Vec<String> = Vec::new();
    let (mut agents, mut keys): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    for op in ops {
        match op {
            Op::Update { id, .. } => ids.push(id.clone()),
            Op::Submit(sub, _) => {
                if let Some(idem) = &sub.idempotency {
                    agents.push(sub.handoff.agent().to_owned());
                    keys.push(idem.key.clone());
                }
            }
            _ => {}
        }
    }
    (ids, agents, keys)
}

/// Reads, under the lock, the handoffs the batch's updates change and those its
/// idempotency keys name: one query.
async fn load(
    conn: &mut PgConnection,
    ids: Vec<String>,
    agents: Vec<String>,
    keys: Vec<String>,
    b: &mut Batch,
) -> Result<(), sqlx::Error> {
    if ids.is_empty() && keys.is_empty() {
        return Ok(());
    }
    // Two index lookups (an `OR` of both conditions scanned the whole table): a row both
    // name comes twice and is kept once.
    let found = sqlx::query(
        "SELECT id, doc, state, agent, idem_key, idem_sha256, created_ms FROM handoffs \
         WHERE id = ANY($1) \
         UNION ALL \
         SELECT h.id, h.doc, h.state, h.agent, h.idem_key, h.idem_sha256, h.created_ms \
         FROM handoffs h JOIN UNNEST($2::text[], $3::text[]) AS k(agent, key) \
         ON h.agent = k.agent AND h.idem_key = k.key",
    )
    .bind(&ids)
    .bind(&agents)
    .bind(&keys)
    .fetch_all(&mut *conn)
    .await?;
    for r in found {
        let h = rows::decode_row(&r, 1)?;
        let agent: String = r.try_get(3)?;
        let key: Option<String> = r.try_get(4)?;
        let sha: Option<String> = r.try_get(5)?;
        let created_ms: i64 = r.try_get(6)?;
        if let (Some(key), Some(sha)) = (key, sha) {
            b.stored_idem
                .insert((agent, key), (sha, created_ms, h.id.clone()));
        }
        b.current.insert(h.id.clone(), h);
    }
    Ok(())
}

async fn apply_one(conn: &mut PgConnection, op: Op, b: &mut Batch) -> Result<(), sqlx::Error> {
    match op {
        Op::Submit(sub, reply) => {
            let outcome = submit(conn, *sub, b).await?;
            b.done.push(Done::Submit(reply, outcome));
        }
        Op::Update {
            id,
            if_match,
            f,
            reply,
        } => {
            let outcome = b.update(&id, if_match, f);
            b.done.push(Done::Update(reply, Box::new(outcome)));
        }
        Op::Attempt(attempt, audit, reply) => {
            if let Some(a) = audit {
                b.seal(a);
            }
            b.attempts.push(attempt);
            b.done.push(Done::Unit(reply));
        }
        Op::CreateKey(key, audit, reply) => {
            let created = sqlx::query(
                "INSERT INTO api_keys (name, role, key_sha256, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(&key.name)
            .bind(key.role.as_str())
            .bind(&key.key_sha256)
            .bind(rows::ts(key.created_at))
            .execute(&mut *conn)
            .await?
            .rows_affected()
                == 1;
            if created {
                b.seal(audit);
                b.notice("keys");
            }
            b.done.push(Done::Flag(reply, created));
        }
        Op::RevokeKey(name, audit, reply) => {
            let revoked = sqlx::query("DELETE FROM api_keys WHERE name = $1")
                .bind(&name)
                .execute(&mut *conn)
                .await?
                .rows_affected()
                > 0;
            if revoked {
                b.seal(audit);
                b.notice("keys");
            }
            b.done.push(Done::Flag(reply, revoked));
        }
        Op::SetPolicy {
            active,
            file_text,
            audit,
            reply,
        } => {
            let mut names = vec![rows::POLICY_ACTIVE.to_owned()];
            let mut values = vec![active];
            if let Some(text) = file_text {
                names.push(rows::POLICY_FILE.to_owned());
                values.push(text);
            }
            sqlx::query(
                "INSERT INTO settings (name, value) SELECT * FROM UNNEST($1::text[], $2::text[]) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )
            .bind(&names)
            .bind(&values)
            .execute(&mut *conn)
            .await?;
            if let Some(a) = audit {
                b.seal(a);
            }
            b.notice("policy");
            b.done.push(Done::Unit(reply));
        }
        Op::SetTaskLevel {
            level,
            expected_epoch,
            audit,
            deliveries,
            reply,
        } => {
            let stored: Option<i64> =
                sqlx::query_scalar("SELECT epoch FROM task_levels WHERE task = $1")
                    .bind(&level.task)
                    .fetch_optional(&mut *conn)
                    .await?;
            let current = u64::try_from(stored.unwrap_or(0)).unwrap_or(0);
            let done = current == expected_epoch;
            if done {
                put_task_level(conn, &level).await?;
                b.seal(audit);
                b.deliveries.extend(deliveries);
                b.notice("task_levels");
            }
            b.done.push(Done::Flag(reply, done));
        }
        Op::Close(_) => {}
    }
    Ok(())
}

async fn put_task_level(conn: &mut PgConnection, t: &TaskLevel) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO task_levels (task, level, epoch, previous_level, restore_level, \
         changed_ms, changed_by, reason, automatic) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (task) DO UPDATE SET level = excluded.level, epoch = excluded.epoch, \
         previous_level = excluded.previous_level, restore_level = excluded.restore_level, \
         changed_ms = excluded.changed_ms, changed_by = excluded.changed_by, \
         reason = excluded.reason, automatic = excluded.automatic",
    )
    .bind(&t.task)
    .bind(i32::from(t.level.get()))
    .bind(i64::try_from(t.epoch).unwrap_or(i64::MAX))
    .bind(i32::from(t.previous_level.get()))
    .bind(t.restore_level.map(|l| i32::from(l.get())))
    .bind(t.changed_at.timestamp_millis())
    .bind(&t.by)
    .bind(&t.reason)
    .bind(t.automatic)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn submit(
    conn: &mut PgConnection,
    sub: ReadySubmission,
    b: &mut Batch,
) -> Result<Submitted, sqlx::Error> {
    if let Some(idem) = &sub.idempotency {
        if let Some(prior) = prior(conn, idem, &sub, b).await? {
            return Ok(prior);
        }
        b.idem.insert(
            (sub.handoff.agent().to_owned(), idem.key.clone()),
            (idem.body_sha256.clone(), sub.handoff.id.clone()),
        );
    }
    let seq = b.seal(sub.audit);
    b.tallies.push(Tally::of_submission(&sub.handoff));
    b.events.push(Event::of(seq, &sub.handoff));
    b.row_index.insert(sub.handoff.id.clone(), b.rows.len());
    b.rows.push(HandoffRow {
        handoff: sub.handoff.clone(),
        doc: Some(sub.doc),
        idem: sub.idempotency,
        new: true,
    });
    b.deliveries.extend(sub.deliveries);
    Ok(Submitted::Created(Box::new(sub.handoff)))
}

/// What an earlier use of the same idempotency key made, if it still counts.
async fn prior(
    conn: &mut PgConnection,
    idem: &Idempotency,
    sub: &ReadySubmission,
    b: &mut Batch,
) -> Result<Option<Submitted>, sqlx::Error> {
    let agent = sub.handoff.agent().to_owned();
    let answer = |sha: &str, h: Handoff| {
        if sha == idem.body_sha256 {
            Submitted::Replayed(Box::new(h))
        } else {
            Submitted::KeyReused
        }
    };
    if let Some((sha, id)) = b.idem.get(&(agent.clone(), idem.key.clone())) {
        let h = b
            .rows
            .iter()
            .find(|r| &r.handoff.id == id)
            .map(|r| r.handoff.clone());
        return Ok(h.map(|h| answer(sha, h)));
    }
    let Some((sha, created_ms, id)) = b.stored_idem.get(&(agent.clone(), idem.key.clone())) else {
        return Ok(None);
    };
    let window_ms = IDEMPOTENCY_WINDOW_HOURS * 3_600_000;
    if sub.handoff.created_at.timestamp_millis() - created_ms >= window_ms {
        // The key has expired: free it for this new handoff (before the batch's insert
        // takes it, hence a statement of its own).
        sqlx::query("UPDATE handoffs SET idem_key = NULL WHERE id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?;
        b.stored_idem.remove(&(agent, idem.key.clone()));
        return Ok(None);
    }
    let current = match b.row_index.get(id) {
        Some(i) => Some(b.rows[*i].handoff.clone()),
        None => b.current.get(id).cloned(),
    };
    Ok(current.map(|h| answer(sha, h)))
}

#[cfg(test)]
mod tests {
    use super::events_payload;
    use handoff_domain::lifecycle::Status;
    use handoff_store::Event;

    fn moved(seq: i64) -> Event {
        Event {
            seq,
            id: format!("hnd_{seq}"),
            status: Status::Pending,
            version: 2,
            task: "t".to_owned(),
            assigned_team: "leads".to_owned(),
            agent: "bot".to_owned(),
            previous_team: Some("a-team-with-a-rather-long-name".to_owned()),
        }
    }

    #[test]
    fn a_batchs_notification_names_previous_teams_while_they_fit_under_8000_bytes() {
        let few: Vec<Event> = (1..=3).map(moved).collect();
        let p = events_payload("n1", (1, 3), true, &few);
        assert_eq!(
            p,
            r#"n1:1:3:o:{"1":"a-team-with-a-rather-long-name","2":"a-team-with-a-rather-long-name","3":"a-team-with-a-rather-long-name"}"#
        );
        let many: Vec<Event> = (1..=512).map(moved).collect();
        assert_eq!(events_payload("n1", (1, 512), false, &many), "n1:1:512:");
    }
}
