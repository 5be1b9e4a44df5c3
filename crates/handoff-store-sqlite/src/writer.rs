//! The single writer: takes everything queued (up to [`MAX_BATCH`] operations), applies it
//! inside one `BEGIN IMMEDIATE` transaction, commits once, and only then answers each
//! caller and tells the hub. Throughput comes from sharing one fsync among many changes,
//! not from weaker durability: nobody hears "done" before the commit that holds it.
//!
//! Operations in a batch apply in arrival order and see each other's effects (two
//! decisions on one handoff in the same batch: the second sees the first's state).

use crate::recent::Recent;
use crate::rows::{self, HandoffRow};
use handoff_domain::Handoff;
use handoff_domain::audit::Prepared;
use handoff_domain::learning::{Counts, Tally};
use handoff_store::{
    Attempted, Change, Delivery, DeliveryState, Event, Hub, IDEMPOTENCY_WINDOW_HOURS, Idempotency,
    KeyRecord, Refused, StoreError, Submission, Submitted, TaskLevel, UpdateFn,
};
use sqlx::{Connection, Executor, QueryBuilder, Row, Sqlite, SqliteConnection};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// The most operations one transaction carries.
pub(super) const MAX_BATCH: usize = 512;

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// A submission made ready off the writer's path: the record serialised, the audit
/// entry's canonical content worked out.
pub(super) struct ReadySubmission {
    pub(super) handoff: Handoff,
    pub(super) doc: String,
    pub(super) audit: Prepared,
    pub(super) idempotency: Option<Idempotency>,
    pub(super) deliveries: Vec<Delivery>,
}

impl ReadySubmission {
    pub(super) fn new(sub: Submission) -> ReadySubmission {
        ReadySubmission {
            doc: rows::encode_doc(&sub.handoff),
            handoff: sub.handoff,
            audit: Prepared::new(sub.audit),
            idempotency: sub.idempotency,
            deliveries: sub.deliveries,
        }
    }
}

pub(super) enum Op {
    Submit(Box<ReadySubmission>, Reply<Submitted>),
    Update {
        id: String,
        if_match: Option<u64>,
        f: UpdateFn,
        reply: Reply<Result<Handoff, Refused>>,
    },
    /// A delivery attempt's result, with its audit entry.
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
enum Done {
    Submit(Reply<Submitted>, Submitted),
    Update(
        Reply<Result<Handoff, Refused>>,
        Box<Result<Handoff, Refused>>,
    ),
    Flag(Reply<bool>, bool),
    Unit(Reply<()>),
}

impl Done {
    fn send(self, failure: Option<&str>) {
        match self {
            Done::Submit(r, v) => answer(r, v, failure),
            Done::Update(r, v) => answer(r, *v, failure),
            Done::Flag(r, v) => answer(r, v, failure),
            Done::Unit(r) => answer(r, (), failure),
        }
    }
}

/// Sends `value`, or the batch's failure. A caller that went away (a dropped request)
/// needs no answer.
fn answer<T>(reply: Reply<T>, value: T, failure: Option<&str>) {
    let _ = reply.send(match failure {
        None => Ok(value),
        Some(why) => Err(StoreError::Write(why.to_owned())),
    });
}

pub(super) struct Writer {
    pub(super) conn: SqliteConnection,
    /// The audit chain's last (seq, hash) as of this writer's last commit; `None` when
    /// it must be read again (at start, after a failure).
    pub(super) tail: Option<Option<(i64, String)>>,
    pub(super) rx: mpsc::Receiver<Op>,
    pub(super) hub: Arc<Hub>,
    pub(super) recent: Arc<Mutex<Recent>>,
}

impl Writer {
    pub(super) async fn run(mut self) {
        let mut ops = Vec::with_capacity(MAX_BATCH);
        while self.rx.recv_many(&mut ops, MAX_BATCH).await > 0 {
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
                while let Ok(op) = self.rx.try_recv() {
                    self.commit(vec![op]).await;
                }
                let _ = self.conn.close_hard().await;
                let _ = done.send(());
                return;
            }
        }
    }

    async fn commit(&mut self, ops: Vec<Op>) {
        let mut batch = Batch::default();
        let result = self.apply(ops, &mut batch).await;
        match result {
            Ok(()) => {
                // Durable now: remember the new states first, then tell the callers.
                {
                    let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
                    for row in batch.rows {
                        recent.put(row.handoff);
                    }
                }
                for d in batch.done {
                    d.send(None);
                }
                let outbox = !batch.deliveries.is_empty()
                    || batch
                        .attempts
                        .iter()
                        .any(|a| a.state == DeliveryState::Pending);
                self.hub
                    .publish(batch.events.into_iter().map(|(_, e)| e).collect());
                if outbox {
                    self.hub.outbox().notify_one();
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "a write batch failed and was rolled back");
                let _ = self.conn.execute("ROLLBACK").await;
                self.tail = None;
                let msg = format!("the write was rolled back: {e}");
                for d in batch.done {
                    d.send(Some(&msg));
                }
            }
        }
    }

    async fn apply(&mut self, ops: Vec<Op>, b: &mut Batch) -> Result<(), sqlx::Error> {
        // Keys and the policy are written inside the transaction as their operations run;
        // so is everything while the chain's tail is not known (the first batch, or after
        // a failure). Then the transaction opens first: `BEGIN IMMEDIATE` takes the write
        // lock and the tail is read under it, in one call to the connection's thread.
        let writes_early = ops.iter().any(|op| {
            matches!(
                op,
                Op::CreateKey(..)
                    | Op::RevokeKey(..)
                    | Op::SetPolicy { .. }
                    | Op::SetTaskLevel { .. }
            )
        });
        match (&self.tail, writes_early) {
            (Some(tail), false) => b.tail = tail.clone(),
            _ => {
                b.tail = self.begin().await?;
                b.in_tx = true;
            }
        }
        let ids: Vec<String> = ops
            .iter()
            .filter_map(|op| match op {
                Op::Update { id, .. } => Some(id.clone()),
                _ => None,
            })
            .collect();
        self.load(ids, b).await?;
        for op in ops {
            self.apply_one(op, b).await?;
        }
        if let Err(e) = self.write_and_commit(b).await {
            if b.in_tx {
                return Err(e);
            }
            // Sealed after a tail this writer knew: another process (`handoff keys
            // create`) may have appended since, which the audit's primary key refuses.
            // Read the tail under the lock, seal the same entries after it, write again.
            tracing::debug!(error = %e, "write refused; re-reading the audit tail");
            let _ = self.conn.execute("ROLLBACK").await;
            self.tail = None;
            let tail = self.begin().await?;
            b.in_tx = true;
            b.reseal(tail);
            self.write_and_commit(b).await?;
        }
        self.tail = Some(b.tail.clone());
        Ok(())
    }

    /// Opens the write transaction and reads the chain's tail under its lock.
    async fn begin(&mut self) -> Result<Option<(i64, String)>, sqlx::Error> {
        // One call: each call to the connection's thread costs a wake-up, which under
        // load is worth more than the statements themselves.
        let row =
            sqlx::raw_sql("BEGIN IMMEDIATE; SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut self.conn)
                .await?;
        Ok(match row {
            Some(row) => Some((row.try_get(0)?, row.try_get(1)?)),
            None => None,
        })
    }

    /// Reads, in one query, every handoff the batch's updates touch.
    async fn load(&mut self, ids: Vec<String>, b: &mut Batch) -> Result<(), sqlx::Error> {
        let ids: Vec<String> = {
            let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            ids.into_iter()
                .filter(|id| match recent.get(id) {
                    Some(h) => {
                        b.current.insert(id.clone(), (*h).clone());
                        false
                    }
                    None => true,
                })
                .collect()
        };
        if ids.is_empty() {
            return Ok(());
        }
        let mut q = QueryBuilder::<Sqlite>::new("SELECT doc FROM handoffs WHERE id IN (");
        let mut sep = q.separated(", ");
        for id in ids {
            sep.push_bind(id);
        }
        q.push(")");
        let found = q
            .build()
            .persistent(false)
            .fetch_all(&mut self.conn)
            .await?;
        for row in found {
            let h = rows::decode_doc(row.try_get(0)?)?;
            b.current.insert(h.id.clone(), h);
        }
        Ok(())
    }

    async fn apply_one(&mut self, op: Op, b: &mut Batch) -> Result<(), sqlx::Error> {
        match op {
            Op::Submit(sub, reply) => {
                let outcome = self.submit(*sub, b).await?;
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
                let done = sqlx::query(
                    "INSERT INTO api_keys (name, role, key_sha256, created_at) VALUES (?, ?, ?, ?) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(&key.name)
                .bind(key.role.as_str())
                .bind(&key.key_sha256)
                .bind(rows::ts(key.created_at))
                .execute(&mut self.conn)
                .await?;
                let created = done.rows_affected() == 1;
                if created {
                    b.seal(audit);
                }
                b.done.push(Done::Flag(reply, created));
            }
            Op::RevokeKey(name, audit, reply) => {
                let done = sqlx::query("DELETE FROM api_keys WHERE name = ?")
                    .bind(&name)
                    .execute(&mut self.conn)
                    .await?;
                let revoked = done.rows_affected() > 0;
                if revoked {
                    b.seal(audit);
                }
                b.done.push(Done::Flag(reply, revoked));
            }
            Op::SetPolicy {
                active,
                file_text,
                audit,
                reply,
            } => {
                rows::put_setting(&mut self.conn, rows::POLICY_ACTIVE, &active).await?;
                if let Some(text) = file_text {
                    rows::put_setting(&mut self.conn, rows::POLICY_FILE, &text).await?;
                }
                if let Some(a) = audit {
                    b.seal(a);
                }
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
                    sqlx::query_scalar("SELECT epoch FROM task_levels WHERE task = ?")
                        .bind(&level.task)
                        .fetch_optional(&mut self.conn)
                        .await?;
                let current = u64::try_from(stored.unwrap_or(0)).unwrap_or(0);
                let done = current == expected_epoch;
                if done {
                    rows::put_task_level(&mut self.conn, &level).await?;
                    b.seal(audit);
                    b.deliveries.extend(deliveries);
                }
                b.done.push(Done::Flag(reply, done));
            }
            Op::Close(_) => {}
        }
        Ok(())
    }

    async fn submit(
        &mut self,
        sub: ReadySubmission,
        b: &mut Batch,
    ) -> Result<Submitted, sqlx::Error> {
        if let Some(idem) = &sub.idempotency {
            if let Some(prior) = self.prior(sub.handoff.agent(), idem, &sub, b).await? {
                return Ok(prior);
            }
            b.idem.insert(
                (sub.handoff.agent().to_owned(), idem.key.clone()),
                (idem.body_sha256.clone(), sub.handoff.id.clone()),
            );
        }
        let seq = b.seal(sub.audit);
        b.tallies.push(Tally::of_submission(&sub.handoff));
        b.touch(&sub.handoff, seq, sub.idempotency, Some(sub.doc));
        b.deliveries.extend(sub.deliveries);
        // Later operations of this batch see it (a store that takes ids from its callers
        // could change a handoff in the batch that creates it).
        b.current
            .insert(sub.handoff.id.clone(), sub.handoff.clone());
        Ok(Submitted::Created(Box::new(sub.handoff)))
    }

    /// What an earlier use of the same idempotency key made, if it still counts.
    async fn prior(
        &mut self,
        agent: &str,
        idem: &Idempotency,
        sub: &ReadySubmission,
        b: &Batch,
    ) -> Result<Option<Submitted>, sqlx::Error> {
        let answer = |sha: &str, h: Handoff| {
            if sha == idem.body_sha256 {
                Submitted::Replayed(Box::new(h))
            } else {
                Submitted::KeyReused
            }
        };
        if let Some((sha, id)) = b.idem.get(&(agent.to_owned(), idem.key.clone())) {
            let h = b
                .rows
                .iter()
                .find(|r| &r.handoff.id == id)
                .map(|r| r.handoff.clone());
            return Ok(h.map(|h| answer(sha, h)));
        }
        let row = sqlx::query(
            "SELECT id, idem_sha256, created_ms, doc FROM handoffs WHERE agent = ? AND idem_key = ?",
        )
        .bind(agent)
        .bind(&idem.key)
        .fetch_optional(&mut self.conn)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let created_ms: i64 = row.try_get(2)?;
        let window_ms = IDEMPOTENCY_WINDOW_HOURS * 3_600_000;
        if sub.handoff.created_at.timestamp_millis() - created_ms >= window_ms {
            // The key has expired: free it for this new handoff.
            sqlx::query("UPDATE handoffs SET idem_key = NULL WHERE id = ?")
                .bind(row.try_get::<String, _>(0)?)
                .execute(&mut self.conn)
                .await?;
            return Ok(None);
        }
        let sha: String = row.try_get(1)?;
        Ok(Some(answer(&sha, rows::decode_doc(row.try_get(3)?)?)))
    }

    /// One round trip: a multi-row upsert of every handoff the batch created or changed,
    /// a multi-row insert of its audit entries and of the deliveries they cause, the
    /// attempts' results, and the commit. (SQLite binds the arguments of a multi-statement
    /// query in order.)
    async fn write_and_commit(&mut self, b: &Batch) -> Result<(), sqlx::Error> {
        let mut q = QueryBuilder::<Sqlite>::new(if b.in_tx { "" } else { "BEGIN IMMEDIATE; " });
        for chunk in b.rows.chunks(500) {
            q.push(format_args!(
                "INSERT INTO handoffs ({}) ",
                rows::HANDOFF_COLUMNS
            ));
            q.push_values(chunk, |mut v, r| {
                r.bind(&mut v);
            });
            q.push(
                " ON CONFLICT (id) DO UPDATE SET status = excluded.status, \
                 assigned_team = excluded.assigned_team, version = excluded.version, \
                 sla_due_ms = excluded.sla_due_ms, updated_ms = excluded.updated_ms, \
                 doc = excluded.doc, due_ms = excluded.due_ms, \
                 spot_due = excluded.spot_due; ",
            );
        }
        for chunk in b.audits.chunks(1000) {
            q.push(format_args!("INSERT INTO audit ({}) ", rows::AUDIT_COLUMNS));
            q.push_values(chunk, |mut v, (seq, prev_hash, hash, p)| {
                let e = &p.entry;
                v.push_bind(*seq)
                    .push_bind(rows::ts(e.at))
                    .push_bind(e.actor.clone())
                    .push_bind(e.action.clone())
                    .push_bind(e.handoff_id.clone())
                    .push_bind(p.data_json.clone())
                    .push_bind(prev_hash.clone())
                    .push_bind(hash.clone());
            });
            q.push("; ");
        }
        for chunk in b.deliveries.chunks(500) {
            q.push(format_args!(
                "INSERT INTO outbox ({}) ",
                rows::OUTBOX_COLUMNS
            ));
            q.push_values(chunk, |mut v, d| rows::bind_delivery(d, &mut v));
            q.push(" ON CONFLICT (id) DO NOTHING; ");
        }
        for chunk in b.attempts.chunks(1000) {
            q.push(
                "UPDATE outbox SET state = v.column2, attempts = v.column3, next_ms = v.column4, \
                 updated_ms = v.column5, last_error = v.column6 FROM (",
            );
            q.push_values(chunk, |mut v, a| {
                v.push_bind(a.id.clone())
                    .push_bind(a.state.as_str())
                    .push_bind(i64::from(a.attempts))
                    .push_bind(a.next_at.timestamp_millis())
                    .push_bind(a.at.timestamp_millis())
                    .push_bind(a.last_error.clone());
            });
            q.push(") AS v WHERE outbox.id = v.column1; ");
        }
        push_tallies(&mut q, &b.tallies);
        q.push("COMMIT");
        q.build().persistent(false).execute(&mut self.conn).await?;
        Ok(())
    }
}

/// What one transaction has done so far.
#[derive(Default)]
struct Batch {
    tail: Option<(i64, String)>,
    /// Whether the transaction was opened before the operations ran.
    in_tx: bool,
    /// Handoffs as they are inside this transaction (loaded, then changed).
    current: HashMap<String, Handoff>,
    /// The rows to write, one per handoff, in first-touched order.
    rows: Vec<HandoffRow>,
    row_index: HashMap<String, usize>,
    idem: HashMap<(String, String), (String, String)>,
    /// Sealed entries: seq, prev_hash, hash and the entry.
    audits: Vec<(i64, String, String, Prepared)>,
    /// Each event with the index of the audit entry that records it.
    events: Vec<(usize, Event)>,
    /// Deliveries the batch's changes cause, and attempts' results.
    deliveries: Vec<Delivery>,
    attempts: Vec<Attempted>,
    /// What the batch's changes add to the learning aggregates.
    tallies: Vec<Tally>,
    done: Vec<Done>,
}

impl Batch {
    /// Seals every entry of this batch again, in order, after another tail.
    fn reseal(&mut self, tail: Option<(i64, String)>) {
        self.tail = tail;
        for (_, _, _, p) in std::mem::take(&mut self.audits) {
            self.seal(p);
        }
        for (i, e) in &mut self.events {
            e.seq = self.audits[*i].0;
        }
    }

    fn seal(&mut self, p: Prepared) -> i64 {
        let (seq, prev_hash) = match self.tail.take() {
            Some((seq, hash)) => (seq + 1, hash),
            None => (1, handoff_domain::audit::GENESIS.to_owned()),
        };
        let hash = p.hash_after(&prev_hash, seq);
        self.tail = Some((seq, hash.clone()));
        self.audits.push((seq, prev_hash, hash, p));
        seq
    }

    /// Records `h` as written by this batch, with the event it makes.
    fn touch(&mut self, h: &Handoff, seq: i64, idem: Option<Idempotency>, doc: Option<String>) {
        let doc = doc.unwrap_or_else(|| rows::encode_doc(h));
        self.events.push((self.audits.len() - 1, Event::of(seq, h)));
        match self.row_index.get(&h.id) {
            Some(&i) => {
                self.rows[i].handoff = h.clone();
                self.rows[i].doc = doc;
            }
            None => {
                self.row_index.insert(h.id.clone(), self.rows.len());
                self.rows.push(HandoffRow {
                    handoff: h.clone(),
                    doc,
                    idem,
                });
            }
        }
    }

    fn update(&mut self, id: &str, if_match: Option<u64>, f: UpdateFn) -> Result<Handoff, Refused> {
        let current = self.current.get(id).ok_or(Refused::NotFound)?;
        if let Some(v) = if_match
            && v != current.version()
        {
            return Err(Refused::VersionMismatch {
                current: current.version(),
            });
        }
        let team_before = current.state.assigned_team.clone();
        let Change {
            handoff,
            audit,
            deliveries,
        } = f(current)?;
        let tally = Tally::of_change(current, &handoff);
        if !tally.is_empty() {
            self.tallies.push(tally);
        }
        let seq = self.seal(Prepared::new(audit));
        self.touch(&handoff, seq, None, None);
        if handoff.state.assigned_team != team_before
            && let Some((_, event)) = self.events.last_mut()
        {
            event.previous_team = Some(team_before);
        }
        self.deliveries.extend(deliveries);
        self.current.insert(handoff.id.clone(), handoff.clone());
        Ok(handoff)
    }
}

/// The batch's tallies, merged by key first (a batch of a thousand submissions of one task
/// is one row), as upserts that add to the stored counts.
fn push_tallies(q: &mut QueryBuilder<Sqlite>, tallies: &[Tally]) {
    if tallies.is_empty() {
        return;
    }
    let mut hours: Vec<((&str, u64, i64), Counts)> = Vec::new();
    let mut hits: HashMap<(&str, u64, i64, i64, i64), i64> = HashMap::new();
    for t in tallies {
        let key = (t.task.as_str(), t.epoch, t.hour);
        if !t.counts.is_zero() {
            match hours.iter_mut().find(|(k, _)| *k == key) {
                Some((_, c)) => c.add(&t.counts),
                None => hours.push((key, t.counts)),
            }
        }
        for h in &t.hits {
            let day = t.hour.div_euclid(24);
            *hits
                .entry((key.0, key.1, day, h.histogram.code(), h.bucket))
                .or_default() += 1;
        }
    }
    let names = Counts::NAMES;
    for chunk in hours.chunks(200) {
        q.push(format_args!(
            "INSERT INTO task_hours (task, epoch, hour, {}) ",
            names.join(", ")
        ));
        q.push_values(chunk, |mut v, ((task, epoch, hour), c)| {
            v.push_bind(task.to_string())
                .push_bind(i64::try_from(*epoch).unwrap_or(i64::MAX))
                .push_bind(*hour);
            for x in c.values() {
                v.push_bind(x);
            }
        });
        q.push(" ON CONFLICT (task, epoch, hour) DO UPDATE SET ");
        let set: Vec<String> = names
            .iter()
            .map(|n| format!("{n} = {n} + excluded.{n}"))
            .collect();
        q.push(set.join(", "));
        q.push("; ");
    }
    let hits: Vec<_> = hits.into_iter().collect();
    for chunk in hits.chunks(500) {
        q.push("INSERT INTO task_hist (task, epoch, day, histogram, bucket, n) ");
        q.push_values(chunk, |mut v, ((task, epoch, day, hist, bucket), n)| {
            v.push_bind(task.to_string())
                .push_bind(i64::try_from(*epoch).unwrap_or(i64::MAX))
                .push_bind(*day)
                .push_bind(*hist)
                .push_bind(*bucket)
                .push_bind(*n);
        });
        q.push(
            " ON CONFLICT (task, day, epoch, histogram, bucket) DO UPDATE SET n = n + excluded.n; ",
        );
    }
    let items: Vec<(&Tally, &handoff_domain::learning::MonitorItem)> = tallies
        .iter()
        .flat_map(|t| t.items.iter().map(move |i| (t, i)))
        .collect();
    for chunk in items.chunks(500) {
        q.push("INSERT INTO monitor_items (task, epoch, stream, handoff_id, error, at_ms) ");
        q.push_values(chunk, |mut v, (t, i)| {
            v.push_bind(t.task.clone())
                .push_bind(i64::try_from(t.epoch).unwrap_or(i64::MAX))
                .push_bind(i.stream.as_str())
                .push_bind(i.handoff_id.clone())
                .push_bind(i64::from(i.error))
                .push_bind(t.hour * 3_600_000);
        });
        q.push(
            " ON CONFLICT (stream, handoff_id) DO UPDATE SET error = max(error, excluded.error); ",
        );
    }
}
