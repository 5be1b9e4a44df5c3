//! The single writer: a thread of its own with its own connection (rusqlite, statements
//! prepared once and cached), that takes everything queued (up to [`MAX_BATCH`]
//! operations), applies it inside one `BEGIN IMMEDIATE` transaction, commits once, and only
//! then answers each caller and tells the hub. Throughput comes from sharing one fsync
//! among many changes, not from weaker durability: nobody hears "done" before the commit
//! that holds it.
//!
//! Operations in a batch apply in arrival order and see each other's effects (two
//! decisions on one handoff in the same batch: the second sees the first's state).
//!
//! What a change writes is small: a handoff's packet and evaluation are stored once, when
//! it is submitted, in a table of their own (`handoff_docs`, appended to, never updated);
//! a later change rewrites its handoffs row (the inbox columns and `state`, the mutable
//! part of the record, see [`rows`]) and writes its audit entry, and touches the inbox
//! indexes only when the columns they hold change.

use crate::error;
use crate::recent::Recent;
use crate::rows::{self, HandoffRow};
use handoff_domain::Handoff;
use handoff_domain::audit::Prepared;
use handoff_domain::learning::{Counts, Tally};
use handoff_store::{
    Attempted, Delivery, DeliveryState, Event, Hub, IDEMPOTENCY_WINDOW_HOURS, Idempotency,
    KeyRecord, Refused, StoreError, Submission, Submitted, TaskLevel, UpdateFn, WriterStats,
};
use rusqlite::{Connection, OptionalExtension, params};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
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

/// A change its caller computed (in its turn, see `turns`) on the handoff's state as
/// committed at `version`: the writer checks the version and records it.
pub(super) struct ReadyChange {
    pub(super) version: u64,
    /// The stored team and SLA due time it was computed on.
    pub(super) stored: (String, i64),
    pub(super) handoff: Handoff,
    /// The new state's JSON, when worked out before the writer.
    pub(super) state: Option<String>,
    pub(super) audit: Prepared,
    pub(super) deliveries: Vec<Delivery>,
    pub(super) tally: Tally,
    pub(super) previous_team: Option<String>,
}

impl ReadyChange {
    /// `applied`, the change of `current`, ready to record; with the new state's JSON when
    /// `encode` (off the writer's thread; the writer encodes it when it writes the row).
    pub(super) fn new(
        current: &Handoff,
        applied: handoff_store::record::Applied,
        encode: bool,
    ) -> ReadyChange {
        let handoff_store::record::Applied {
            handoff,
            audit,
            deliveries,
            tally,
            previous_team,
        } = applied;
        ReadyChange {
            version: current.version(),
            stored: stored(current),
            state: encode.then(|| rows::encode_state(&handoff)),
            handoff,
            audit: Prepared::new(audit),
            deliveries,
            tally,
            previous_team,
        }
    }
}

/// A stored handoff's team and SLA due time, which say whether a change moves it in the
/// inbox's index.
fn stored(h: &Handoff) -> (String, i64) {
    (
        h.state.assigned_team.clone(),
        h.evaluation.sla_due_at.timestamp_millis(),
    )
}

pub(super) enum Op {
    Submit(Box<ReadySubmission>, Reply<Submitted>),
    /// A change computed by its caller, with the handoff as committed that it was
    /// computed on (the writer need not read it again).
    Change(
        Box<ReadyChange>,
        Arc<Handoff>,
        Reply<Result<Handoff, Refused>>,
    ),
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
    /// A computed change whose handoff had changed since: not recorded.
    Stale(Reply<Result<Handoff, Refused>>),
}

impl Done {
    fn send(self, failure: Option<&Failure>) {
        match self {
            Done::Submit(r, v) => answer(r, v, failure),
            Done::Update(r, v) => answer(r, *v, failure),
            Done::Flag(r, v) => answer(r, v, failure),
            Done::Unit(r) => answer(r, (), failure),
            Done::Stale(r) => {
                let _ = r.send(Err(match failure {
                    Some(f) => StoreError::batch_failed(f.full, &f.message),
                    None => StoreError::Write(
                        "the handoff changed while the change was being made; try again".to_owned(),
                    ),
                }));
            }
        }
    }
}

/// Why a batch failed, as each of its callers hears it.
struct Failure {
    full: bool,
    message: String,
}

/// Sends `value`, or the batch's failure. A caller that went away (a dropped request)
/// needs no answer.
fn answer<T>(reply: Reply<T>, value: T, failure: Option<&Failure>) {
    let _ = reply.send(match failure {
        None => Ok(value),
        Some(f) => Err(StoreError::batch_failed(f.full, &f.message)),
    });
}

/// The answer placeholder of an operation whose batch failed (never sent: every caller of
/// a failed batch hears its failure), so that no caller is left without an answer, which
/// it would take for the store closing.
fn abandon(op: Op, b: &mut Batch) {
    b.done.push(match op {
        Op::Submit(_, reply) => Done::Submit(reply, Submitted::KeyReused),
        Op::Update { reply, .. } | Op::Change(_, _, reply) => {
            Done::Update(reply, Box::new(Err(Refused::NotFound)))
        }
        Op::Attempt(_, _, reply) | Op::SetPolicy { reply, .. } => Done::Unit(reply),
        Op::CreateKey(_, _, reply)
        | Op::RevokeKey(_, _, reply)
        | Op::SetTaskLevel { reply, .. } => Done::Flag(reply, false),
        Op::Close(_) => return,
    });
}

/// `r`'s value, or `placeholder` with `r`'s error: the operation's answer is recorded
/// either way before the error ends the batch.
fn settle<T>(r: rusqlite::Result<T>, placeholder: T) -> (T, rusqlite::Result<()>) {
    match r {
        Ok(v) => (v, Ok(())),
        Err(e) => (placeholder, Err(e)),
    }
}

pub(super) struct Writer {
    pub(super) conn: Connection,
    pub(super) rx: mpsc::Receiver<Op>,
    pub(super) hub: Arc<Hub>,
    pub(super) recent: Arc<Mutex<Recent>>,
    pub(super) stats: Arc<WriterStats>,
}

impl Writer {
    /// The writer's loop, on its own thread: it ends when the store closes (or is
    /// dropped).
    pub(super) fn run(mut self) {
        let mut ops: Vec<Op> = Vec::with_capacity(MAX_BATCH);
        while let Some(first) = self.rx.blocking_recv() {
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
                self.commit(batch);
            }
            if let Some(done) = close {
                self.rx.close();
                while let Ok(op) = self.rx.try_recv() {
                    self.commit(vec![op]);
                }
                let _ = self.conn.execute_batch("PRAGMA optimize");
                drop(self.conn);
                let _ = done.send(());
                return;
            }
        }
    }

    fn commit(&mut self, ops: Vec<Op>) {
        use std::sync::atomic::Ordering::Relaxed;
        let n = ops.len() as u64;
        let started = Instant::now();
        let mut batch = Batch::default();
        match self.apply(ops, &mut batch) {
            Ok(()) => {
                let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                self.stats.batches.fetch_add(1, Relaxed);
                self.stats.ops.fetch_add(n, Relaxed);
                self.stats.commit_micros.fetch_add(micros, Relaxed);
                self.stats.max_batch.fetch_max(n, Relaxed);
                // Durable now: remember the new states first, then tell the callers.
                let mut displaced = Vec::with_capacity(batch.rows.len());
                {
                    let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
                    for row in batch.rows {
                        recent.put(row.handoff, &mut displaced);
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
                // The older states are freed last, once nobody waits for this batch.
                drop(batch.current);
                drop(displaced);
            }
            Err(e) => {
                self.stats.failed.fetch_add(1, Relaxed);
                let full = error::rusqlite_is_full(&e);
                if full {
                    tracing::error!(error = %e, "the disk is full: a write batch was rolled back");
                } else {
                    tracing::error!(error = %e, "a write batch failed and was rolled back");
                }
                // SQLite rolls back by itself after some failures (a full disk among them);
                // after the others the transaction is still open.
                if !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                // Nothing else to undo: the recent cache, the hub and the callers hear of
                // a batch only once it committed, and the next batch reads the chain's tail
                // from the file again.
                let failure = Failure {
                    full,
                    message: format!("the write was rolled back: {e}"),
                };
                for d in batch.done {
                    d.send(Some(&failure));
                }
            }
        }
    }

    fn apply(&mut self, ops: Vec<Op>, b: &mut Batch) -> rusqlite::Result<()> {
        if let Err(e) = self.begin(&ops, b) {
            ops.into_iter().for_each(|op| abandon(op, b));
            return Err(e);
        }
        let mut ops = ops.into_iter();
        while let Some(op) = ops.next() {
            if let Err(e) = self.apply_one(op, b) {
                ops.for_each(|op| abandon(op, b));
                return Err(e);
            }
        }
        self.write(b)?;
        self.conn.execute_batch("COMMIT")
    }

    /// Opens the batch's transaction and reads what it starts from: the chain's tail and
    /// the handoffs its updates touch.
    fn begin(&mut self, ops: &[Op], b: &mut Batch) -> rusqlite::Result<()> {
        // The write lock first, then the chain's tail under it: another process
        // (`handoff keys create`) may have appended since this writer's last commit.
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        b.tail = self
            .conn
            .prepare_cached("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let mut ids: Vec<&str> = Vec::new();
        for op in ops {
            match op {
                Op::Update { id, .. } => ids.push(id),
                Op::Change(_, base, _) => {
                    b.current.insert(base.id.clone(), base.clone());
                }
                _ => {}
            }
        }
        self.load(&ids, b)
    }

    /// Reads every handoff the batch's updates touch that is not in memory.
    fn load(&mut self, ids: &[&str], b: &mut Batch) -> rusqlite::Result<()> {
        let missing: Vec<&str> = {
            let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            ids.iter()
                .copied()
                .filter(|id| match recent.get(id) {
                    Some(h) => {
                        b.current.insert((*id).to_owned(), h);
                        false
                    }
                    None => true,
                })
                .collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        let mut stmt = self
            .conn
            .prepare_cached("SELECT doc, state FROM handoff_records WHERE id = ?")?;
        for id in missing {
            if b.current.contains_key(id) {
                continue;
            }
            let found = stmt
                .query_row([id], |r| {
                    let doc: String = r.get(0)?;
                    let state: Option<String> = r.get(1)?;
                    Ok((doc, state))
                })
                .optional()?;
            if let Some((doc, state)) = found {
                let h = rows::decode(&doc, state.as_deref()).map_err(decode_error)?;
                b.current.insert(h.id.clone(), Arc::new(h));
            }
        }
        Ok(())
    }

    fn apply_one(&mut self, op: Op, b: &mut Batch) -> rusqlite::Result<()> {
        match op {
            Op::Submit(sub, reply) => {
                let (outcome, failed) = settle(self.submit(*sub, b), Submitted::KeyReused);
                b.done.push(Done::Submit(reply, outcome));
                failed?;
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
            Op::Change(change, _, reply) => {
                let done = match b.change(*change) {
                    Some(outcome) => Done::Update(reply, Box::new(outcome)),
                    None => Done::Stale(reply),
                };
                b.done.push(done);
            }
            Op::Attempt(attempt, audit, reply) => {
                if let Some(a) = audit {
                    b.seal(a);
                }
                b.attempts.push(attempt);
                b.done.push(Done::Unit(reply));
            }
            Op::CreateKey(key, audit, reply) => {
                let (created, failed) = settle(self.create_key(&key), false);
                if created {
                    b.seal(audit);
                }
                b.done.push(Done::Flag(reply, created));
                failed?;
            }
            Op::RevokeKey(name, audit, reply) => {
                let revoked = self
                    .conn
                    .prepare_cached("DELETE FROM api_keys WHERE name = ?")
                    .and_then(|mut s| s.execute([&name]))
                    .map(|n| n > 0);
                let (revoked, failed) = settle(revoked, false);
                if revoked {
                    b.seal(audit);
                }
                b.done.push(Done::Flag(reply, revoked));
                failed?;
            }
            Op::SetPolicy {
                active,
                file_text,
                audit,
                reply,
            } => {
                let (_, failed) = settle(self.set_policy(&active, file_text.as_deref()), ());
                if let Some(a) = audit {
                    b.seal(a);
                }
                b.done.push(Done::Unit(reply));
                failed?;
            }
            Op::SetTaskLevel {
                level,
                expected_epoch,
                audit,
                deliveries,
                reply,
            } => {
                let (done, failed) = settle(self.set_task_level(&level, expected_epoch), false);
                if done {
                    b.seal(audit);
                    b.deliveries.extend(deliveries);
                }
                b.done.push(Done::Flag(reply, done));
                failed?;
            }
            Op::Close(_) => {}
        }
        Ok(())
    }

    /// Whether the key was created (its name was free).
    fn create_key(&self, key: &KeyRecord) -> rusqlite::Result<bool> {
        let n = self
            .conn
            .prepare_cached(
                "INSERT INTO api_keys (name, role, key_sha256, created_at) \
                 VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            )?
            .execute(params![
                key.name,
                key.role.as_str(),
                key.key_sha256,
                rows::ts(key.created_at)
            ])?;
        Ok(n == 1)
    }

    fn set_policy(&self, active: &str, file_text: Option<&str>) -> rusqlite::Result<()> {
        let mut put = self.conn.prepare_cached(
            "INSERT INTO settings (name, value) VALUES (?, ?) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )?;
        put.execute([rows::POLICY_ACTIVE, active])?;
        if let Some(text) = file_text {
            put.execute([rows::POLICY_FILE, text])?;
        }
        Ok(())
    }

    /// Whether the level was set: the stored epoch was still `expected_epoch`.
    fn set_task_level(&self, level: &TaskLevel, expected_epoch: u64) -> rusqlite::Result<bool> {
        let stored: Option<i64> = self
            .conn
            .prepare_cached("SELECT epoch FROM task_levels WHERE task = ?")?
            .query_row([&level.task], |r| r.get(0))
            .optional()?;
        let current = u64::try_from(stored.unwrap_or(0)).unwrap_or(0);
        if current != expected_epoch {
            return Ok(false);
        }
        rows::put_task_level(&self.conn, level)?;
        Ok(true)
    }

    fn submit(&mut self, sub: ReadySubmission, b: &mut Batch) -> rusqlite::Result<Submitted> {
        if let Some(idem) = &sub.idempotency {
            if let Some(prior) = self.prior(sub.handoff.agent(), idem, &sub, b)? {
                return Ok(prior);
            }
            b.idem.insert(
                (sub.handoff.agent().to_owned(), idem.key.clone()),
                (idem.body_sha256.clone(), sub.handoff.id.clone()),
            );
        }
        let seq = b.seal(sub.audit);
        b.tallies.push(Tally::of_submission(&sub.handoff));
        b.events
            .push((b.audits.len() - 1, Event::of(seq, &sub.handoff)));
        b.row_index.insert(sub.handoff.id.clone(), b.rows.len());
        // Later operations of this batch see it in its row (a store that takes ids from
        // its callers could change a handoff in the batch that creates it).
        b.rows.push(HandoffRow {
            handoff: sub.handoff.clone(),
            doc: Some(sub.doc),
            state: None,
            idem: sub.idempotency,
            stored: None,
        });
        b.deliveries.extend(sub.deliveries);
        Ok(Submitted::Created(Box::new(sub.handoff)))
    }

    /// What an earlier use of the same idempotency key made, if it still counts.
    fn prior(
        &mut self,
        agent: &str,
        idem: &Idempotency,
        sub: &ReadySubmission,
        b: &Batch,
    ) -> rusqlite::Result<Option<Submitted>> {
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
        let row = self
            .conn
            .prepare_cached(
                "SELECT id, idem_sha256, created_ms, doc, state FROM handoff_records \
                 WHERE agent = ? AND idem_key = ?",
            )?
            .query_row([agent, &idem.key], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })
            .optional()?;
        let Some((id, sha, created_ms, doc, state)) = row else {
            return Ok(None);
        };
        let window_ms = IDEMPOTENCY_WINDOW_HOURS * 3_600_000;
        if sub.handoff.created_at.timestamp_millis() - created_ms >= window_ms {
            // The key has expired: free it for this new handoff.
            self.conn
                .prepare_cached("UPDATE handoffs SET idem_key = NULL WHERE id = ?")?
                .execute([&id])?;
            return Ok(None);
        }
        let h = rows::decode(&doc, state.as_deref()).map_err(decode_error)?;
        Ok(Some(answer(&sha, h)))
    }

    /// Every row the batch created or changed, its audit entries, the deliveries they
    /// cause, the attempts' results and the learning aggregates: one prepared statement
    /// per row, each parsed once for the life of the connection.
    fn write(&mut self, b: &Batch) -> rusqlite::Result<()> {
        let c = &self.conn;
        for r in &b.rows {
            let h = &r.handoff;
            let due = h.next_deadline().map(|d| d.timestamp_millis());
            let spot = h.spot_check_due().then_some(1i64);
            match &r.stored {
                // New: the whole record, once.
                None => {
                    let doc = r
                        .doc
                        .as_deref()
                        .map_or_else(|| rows::encode_doc(h).into(), Cow::from);
                    c.prepare_cached(rows::INSERT_DOC)?.execute([doc])?;
                    let doc_n = c.last_insert_rowid();
                    c.prepare_cached(rows::INSERT_HANDOFF)?.execute(params![
                        h.id,
                        h.state.agent,
                        h.task,
                        h.state.status.as_str(),
                        i64::from(h.evaluation.level.get()),
                        h.state.assigned_team,
                        rows::version(h),
                        h.evaluation.sla_due_at.timestamp_millis(),
                        h.evaluation.expires_at.timestamp_millis(),
                        h.created_at.timestamp_millis(),
                        h.updated_at.timestamp_millis(),
                        r.idem.as_ref().map(|i| &i.key),
                        r.idem.as_ref().map(|i| &i.body_sha256),
                        doc_n,
                        due,
                        spot,
                    ])?;
                }
                // Changed: the state row. The inbox's (team, due time) index is touched
                // only when an escalation moved it.
                Some((team, sla_due_ms)) => {
                    let state: Cow<str> = r
                        .state
                        .as_deref()
                        .map_or_else(|| rows::encode_state(h).into(), Cow::from);
                    let new_due = h.evaluation.sla_due_at.timestamp_millis();
                    let moved = *team != h.state.assigned_team || *sla_due_ms != new_due;
                    let (status, version, updated) = (
                        h.state.status.as_str(),
                        rows::version(h),
                        h.updated_at.timestamp_millis(),
                    );
                    let mut args: Vec<&dyn rusqlite::ToSql> =
                        vec![&status, &version, &updated, &state, &due, &spot];
                    if moved {
                        args.extend([&h.state.assigned_team as &dyn rusqlite::ToSql, &new_due]);
                    }
                    args.push(&h.id);
                    let sql = if moved {
                        rows::UPDATE_MOVED_STATE
                    } else {
                        rows::UPDATE_STATE
                    };
                    c.prepare_cached(sql)?.execute(args.as_slice())?;
                }
            }
        }
        let mut audit = c.prepare_cached(rows::INSERT_AUDIT)?;
        for (seq, prev_hash, hash, p) in &b.audits {
            let e = &p.entry;
            audit.execute(params![
                seq,
                rows::ts(e.at),
                e.actor,
                e.action,
                e.handoff_id,
                p.data_json,
                prev_hash,
                hash
            ])?;
        }
        if !b.deliveries.is_empty() {
            let mut ins = c.prepare_cached(rows::INSERT_DELIVERY)?;
            for d in &b.deliveries {
                ins.execute(params![
                    d.id,
                    d.handoff_id,
                    d.event,
                    d.channel.as_str(),
                    d.target,
                    d.payload,
                    d.state.as_str(),
                    i64::from(d.attempts),
                    d.next_at.timestamp_millis(),
                    d.created_at.timestamp_millis(),
                    d.updated_at.timestamp_millis(),
                    d.last_error,
                ])?;
            }
        }
        if !b.attempts.is_empty() {
            let mut upd = c.prepare_cached(
                "UPDATE outbox SET state = ?, attempts = ?, next_ms = ?, updated_ms = ?, \
                 last_error = ? WHERE id = ?",
            )?;
            for a in &b.attempts {
                upd.execute(params![
                    a.state.as_str(),
                    i64::from(a.attempts),
                    a.next_at.timestamp_millis(),
                    a.at.timestamp_millis(),
                    a.last_error,
                    a.id,
                ])?;
            }
        }
        write_tallies(c, &b.tallies)
    }
}

/// A stored record that no longer decodes, as the writer's error.
fn decode_error(e: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
}

/// What one transaction has done so far.
#[derive(Default)]
struct Batch {
    tail: Option<(i64, String)>,
    /// Handoffs loaded for the batch's updates, as they were before it (shared with the
    /// recent cache, not copied). Once created or changed in this batch, a handoff is
    /// read from its row instead.
    current: HashMap<String, Arc<Handoff>>,
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

    /// The handoff `id` as this batch sees it: its row when the batch created or changed
    /// it, else as loaded. With the index of its row.
    fn current(&self, id: &str) -> Option<(Option<usize>, &Handoff)> {
        match self.row_index.get(id).copied() {
            Some(i) => Some((Some(i), &self.rows[i].handoff)),
            None => self.current.get(id).map(|h| (None, &**h)),
        }
    }

    fn update(&mut self, id: &str, if_match: Option<u64>, f: UpdateFn) -> Result<Handoff, Refused> {
        let (index, current) = self.current(id).ok_or(Refused::NotFound)?;
        let applied = handoff_store::record::apply_change(current, if_match, f)?;
        let change = ReadyChange::new(current, applied, false);
        Ok(self.record(index, change))
    }

    /// A change computed by its caller, recorded if no earlier operation of this batch
    /// moved the handoff past the version it was computed on (its caller held the
    /// handoff's turn, so none did); `None` when one did.
    fn change(&mut self, c: ReadyChange) -> Option<Result<Handoff, Refused>> {
        let Some((index, current)) = self.current(&c.handoff.id) else {
            return Some(Err(Refused::NotFound));
        };
        if current.version() != c.version {
            return None;
        }
        Some(Ok(self.record(index, c)))
    }

    /// Seals a change's audit entry and queues its row, event, deliveries and tally.
    fn record(&mut self, index: Option<usize>, c: ReadyChange) -> Handoff {
        let ReadyChange {
            stored,
            state,
            handoff,
            audit,
            deliveries,
            tally,
            previous_team,
            ..
        } = c;
        if !tally.is_empty() {
            self.tallies.push(tally);
        }
        let seq = self.seal(audit);
        let mut event = Event::of(seq, &handoff);
        event.previous_team = previous_team;
        self.events.push((self.audits.len() - 1, event));
        match index {
            Some(i) => {
                // Created or changed earlier in this batch: its row takes the new state
                // (a created row's whole record is encoded again).
                let row = &mut self.rows[i];
                row.handoff = handoff.clone();
                row.doc = None;
                row.state = state;
            }
            None => {
                self.row_index.insert(handoff.id.clone(), self.rows.len());
                self.rows.push(HandoffRow {
                    handoff: handoff.clone(),
                    doc: None,
                    state,
                    idem: None,
                    stored: Some(stored),
                });
            }
        }
        self.deliveries.extend(deliveries);
        handoff
    }
}

/// The batch's tallies, merged by key first (a batch of a thousand submissions of one task
/// is one row), as upserts that add to the stored counts.
fn write_tallies(c: &Connection, tallies: &[Tally]) -> rusqlite::Result<()> {
    if tallies.is_empty() {
        return Ok(());
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
    let epoch = |e: u64| i64::try_from(e).unwrap_or(i64::MAX);
    if !hours.is_empty() {
        let names = Counts::NAMES;
        let sql = format!(
            "INSERT INTO task_hours (task, epoch, hour, {}) VALUES (?, ?, ?{}) \
             ON CONFLICT (task, epoch, hour) DO UPDATE SET {}",
            names.join(", "),
            ", ?".repeat(names.len()),
            names
                .iter()
                .map(|n| format!("{n} = {n} + excluded.{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut stmt = c.prepare_cached(&sql)?;
        for ((task, e, hour), counts) in &hours {
            let mut values: Vec<rusqlite::types::Value> =
                vec![(*task).to_owned().into(), epoch(*e).into(), (*hour).into()];
            values.extend(
                counts
                    .values()
                    .into_iter()
                    .map(rusqlite::types::Value::from),
            );
            stmt.execute(rusqlite::params_from_iter(values))?;
        }
    }
    if !hits.is_empty() {
        let mut stmt = c.prepare_cached(
            "INSERT INTO task_hist (task, epoch, day, histogram, bucket, n) \
             VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (task, day, epoch, histogram, bucket) DO UPDATE SET n = n + excluded.n",
        )?;
        for ((task, e, day, hist, bucket), n) in hits {
            stmt.execute(params![task, epoch(e), day, hist, bucket, n])?;
        }
    }
    let mut items = None;
    for t in tallies {
        for i in &t.items {
            let stmt = match &mut items {
                Some(s) => s,
                None => items.insert(c.prepare_cached(
                    "INSERT INTO monitor_items (task, epoch, stream, handoff_id, error, at_ms) \
                     VALUES (?, ?, ?, ?, ?, ?) \
                     ON CONFLICT (stream, handoff_id) DO UPDATE SET error = max(error, excluded.error)",
                )?),
            };
            stmt.execute(params![
                t.task,
                epoch(t.epoch),
                i.stream.as_str(),
                i.handoff_id,
                i64::from(i.error),
                t.hour * 3_600_000
            ])?;
        }
    }
    Ok(())
}
