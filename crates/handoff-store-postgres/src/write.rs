//! Everything a batch writes, in one statement: the batch's values gathered column by
//! column ([`Rows`]) and sent as arrays, each table written by one multi-row `INSERT …
//! SELECT FROM UNNEST(…)` (or `UPDATE … FROM UNNEST(…)`) in a data-modifying `WITH`, and
//! the batch's `pg_notify` in the same statement. Its text never changes, so the
//! connection prepares it once.
//!
//! Aggregates are merged by key first (one `task_hours` row per task, epoch and hour of
//! the batch): an `ON CONFLICT DO UPDATE` may not meet the same key twice in one command.

use crate::batch::Batch;
use crate::rows;
use handoff_domain::learning::Counts;
use sqlx::postgres::PgConnection;
use std::collections::HashMap;
use std::sync::OnceLock;

/// The batch's columns, one vector per column of each table it writes.
#[derive(Default)]
pub(crate) struct Rows {
    // New handoffs.
    n_id: Vec<String>,
    n_agent: Vec<String>,
    n_task: Vec<String>,
    n_status: Vec<String>,
    n_level: Vec<i32>,
    n_team: Vec<String>,
    n_version: Vec<i64>,
    n_sla_due: Vec<i64>,
    n_expires: Vec<i64>,
    n_created: Vec<i64>,
    n_updated: Vec<i64>,
    n_idem_key: Vec<Option<String>>,
    n_idem_sha: Vec<Option<String>>,
    n_supersedes: Vec<Option<String>>,
    n_due: Vec<Option<i64>>,
    n_spot: Vec<Option<bool>>,
    n_doc: Vec<String>,
    // Changed handoffs.
    c_id: Vec<String>,
    c_status: Vec<String>,
    c_version: Vec<i64>,
    c_updated: Vec<i64>,
    c_state: Vec<String>,
    c_due: Vec<Option<i64>>,
    c_spot: Vec<Option<bool>>,
    c_team: Vec<String>,
    c_sla_due: Vec<i64>,
    // Audit entries.
    a_seq: Vec<i64>,
    a_at: Vec<String>,
    a_actor: Vec<String>,
    a_action: Vec<String>,
    a_handoff: Vec<Option<String>>,
    a_data: Vec<String>,
    a_prev: Vec<String>,
    a_hash: Vec<String>,
    // New deliveries.
    d_id: Vec<String>,
    d_handoff: Vec<Option<String>>,
    d_event: Vec<String>,
    d_channel: Vec<String>,
    d_target: Vec<String>,
    d_payload: Vec<String>,
    d_state: Vec<String>,
    d_attempts: Vec<i32>,
    d_next: Vec<i64>,
    d_created: Vec<i64>,
    d_updated: Vec<i64>,
    d_error: Vec<Option<String>>,
    // Attempts' results.
    t_id: Vec<String>,
    t_state: Vec<String>,
    t_attempts: Vec<i32>,
    t_next: Vec<i64>,
    t_at: Vec<i64>,
    t_error: Vec<Option<String>>,
    // task_hours: the key, then one vector per counter (`Counts::NAMES`).
    h_task: Vec<String>,
    h_epoch: Vec<i64>,
    h_hour: Vec<i64>,
    h_counts: Vec<Vec<i64>>,
    // task_hist.
    g_task: Vec<String>,
    g_epoch: Vec<i64>,
    g_day: Vec<i64>,
    g_hist: Vec<i64>,
    g_bucket: Vec<i64>,
    g_n: Vec<i64>,
    // monitor_items.
    m_task: Vec<String>,
    m_epoch: Vec<i64>,
    m_stream: Vec<String>,
    m_handoff: Vec<String>,
    m_error: Vec<bool>,
    m_at: Vec<i64>,
}

fn epoch(e: u64) -> i64 {
    i64::try_from(e).unwrap_or(i64::MAX)
}

impl Rows {
    pub(crate) fn of(b: &Batch) -> Rows {
        let mut r = Rows {
            h_counts: vec![Vec::new(); Counts::NAMES.len()],
            ..Rows::default()
        };
        for row in &b.rows {
            let h = &row.handoff;
            let due = h.next_deadline().map(|d| d.timestamp_millis());
            let spot = h.spot_check_due().then_some(true);
            if row.new {
                r.n_id.push(h.id.clone());
                r.n_agent.push(h.state.agent.clone());
                r.n_task.push(h.task.clone());
                r.n_status.push(h.state.status.as_str().to_owned());
                r.n_level.push(i32::from(h.evaluation.level.get()));
                r.n_team.push(h.state.assigned_team.clone());
                r.n_version.push(rows::version(h));
                r.n_sla_due.push(h.evaluation.sla_due_at.timestamp_millis());
                r.n_expires.push(h.evaluation.expires_at.timestamp_millis());
                r.n_created.push(h.created_at.timestamp_millis());
                r.n_updated.push(h.updated_at.timestamp_millis());
                r.n_idem_key.push(row.idem.as_ref().map(|i| i.key.clone()));
                r.n_idem_sha
                    .push(row.idem.as_ref().map(|i| i.body_sha256.clone()));
                r.n_supersedes.push(rows::supersedes(h));
                r.n_due.push(due);
                r.n_spot.push(spot);
                r.n_doc.push(match &row.doc {
                    Some(doc) => doc.clone(),
                    None => rows::encode_doc(h),
                });
            } else {
                r.c_id.push(h.id.clone());
                r.c_status.push(h.state.status.as_str().to_owned());
                r.c_version.push(rows::version(h));
                r.c_updated.push(h.updated_at.timestamp_millis());
                r.c_state.push(rows::encode_state(h));
                r.c_due.push(due);
                r.c_spot.push(spot);
                r.c_team.push(h.state.assigned_team.clone());
                r.c_sla_due.push(h.evaluation.sla_due_at.timestamp_millis());
            }
        }
        for (seq, prev, hash, p) in &b.audits {
            let e = &p.entry;
            r.a_seq.push(*seq);
            r.a_at.push(rows::ts(e.at));
            r.a_actor.push(e.actor.clone());
            r.a_action.push(e.action.clone());
            r.a_handoff.push(e.handoff_id.clone());
            r.a_data.push(p.data_json.clone());
            r.a_prev.push(prev.clone());
            r.a_hash.push(hash.clone());
        }
        // The first delivery of an id stands (the same cause enqueued twice).
        let mut seen = std::collections::HashSet::new();
        for d in &b.deliveries {
            if !seen.insert(d.id.as_str()) {
                continue;
            }
            r.d_id.push(d.id.clone());
            r.d_handoff.push(d.handoff_id.clone());
            r.d_event.push(d.event.clone());
            r.d_channel.push(d.channel.as_str().to_owned());
            r.d_target.push(d.target.clone());
            r.d_payload.push(d.payload.clone());
            r.d_state.push(d.state.as_str().to_owned());
            r.d_attempts
                .push(i32::try_from(d.attempts).unwrap_or(i32::MAX));
            r.d_next.push(d.next_at.timestamp_millis());
            r.d_created.push(d.created_at.timestamp_millis());
            r.d_updated.push(d.updated_at.timestamp_millis());
            r.d_error.push(d.last_error.clone());
        }
        // The last attempt recorded for an id is what it is left as.
        let mut last: HashMap<&str, usize> = HashMap::new();
        for (i, a) in b.attempts.iter().enumerate() {
            last.insert(a.id.as_str(), i);
        }
        for (i, a) in b.attempts.iter().enumerate() {
            if last.get(a.id.as_str()) != Some(&i) {
                continue;
            }
            r.t_id.push(a.id.clone());
            r.t_state.push(a.state.as_str().to_owned());
            r.t_attempts
                .push(i32::try_from(a.attempts).unwrap_or(i32::MAX));
            r.t_next.push(a.next_at.timestamp_millis());
            r.t_at.push(a.at.timestamp_millis());
            r.t_error.push(a.last_error.clone());
        }
        r.tallies(b);
        r
    }

    /// The batch's tallies, merged by key.
    fn tallies(&mut self, b: &Batch) {
        let mut hours: Vec<((&str, u64, i64), Counts)> = Vec::new();
        let mut hits: HashMap<(&str, u64, i64, i64, i64), i64> = HashMap::new();
        let mut item_index: HashMap<(&str, &str), usize> = HashMap::new();
        for t in &b.tallies {
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
            for i in &t.items {
                match item_index.get(&(i.stream.as_str(), i.handoff_id.as_str())) {
                    // The same item twice in one batch: an error stays an error.
                    Some(&at) => {
                        self.m_error[at] |= i.error;
                    }
                    None => {
                        item_index.insert(
                            (i.stream.as_str(), i.handoff_id.as_str()),
                            self.m_task.len(),
                        );
                        self.m_task.push(t.task.clone());
                        self.m_epoch.push(epoch(t.epoch));
                        self.m_stream.push(i.stream.as_str().to_owned());
                        self.m_handoff.push(i.handoff_id.clone());
                        self.m_error.push(i.error);
                        self.m_at.push(t.hour * 3_600_000);
                    }
                }
            }
        }
        for ((task, e, hour), counts) in hours {
            self.h_task.push(task.to_owned());
            self.h_epoch.push(epoch(e));
            self.h_hour.push(hour);
            for (column, v) in self.h_counts.iter_mut().zip(counts.values()) {
                column.push(v);
            }
        }
        for ((task, e, day, hist, bucket), n) in hits {
            self.g_task.push(task.to_owned());
            self.g_epoch.push(epoch(e));
            self.g_day.push(day);
            self.g_hist.push(hist);
            self.g_bucket.push(bucket);
            self.g_n.push(n);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.n_id.is_empty()
            && self.c_id.is_empty()
            && self.a_seq.is_empty()
            && self.d_id.is_empty()
            && self.t_id.is_empty()
            && self.h_task.is_empty()
            && self.g_task.is_empty()
            && self.m_task.is_empty()
    }

    /// Writes everything and sends the batch's notifications: one statement, one round
    /// trip.
    pub(crate) async fn execute(
        self,
        conn: &mut PgConnection,
        events: Option<String>,
        notices: Vec<String>,
    ) -> Result<(), sqlx::Error> {
        let mut q = sqlx::query(statement())
            .bind(self.n_id)
            .bind(self.n_agent)
            .bind(self.n_task)
            .bind(self.n_status)
            .bind(self.n_level)
            .bind(self.n_team)
            .bind(self.n_version)
            .bind(self.n_sla_due)
            .bind(self.n_expires)
            .bind(self.n_created)
            .bind(self.n_updated)
            .bind(self.n_idem_key)
            .bind(self.n_idem_sha)
            .bind(self.n_supersedes)
            .bind(self.n_due)
            .bind(self.n_spot)
            .bind(self.n_doc)
            .bind(self.c_id)
            .bind(self.c_status)
            .bind(self.c_version)
            .bind(self.c_updated)
            .bind(self.c_state)
            .bind(self.c_due)
            .bind(self.c_spot)
            .bind(self.c_team)
            .bind(self.c_sla_due)
            .bind(self.a_seq)
            .bind(self.a_at)
            .bind(self.a_actor)
            .bind(self.a_action)
            .bind(self.a_handoff)
            .bind(self.a_data)
            .bind(self.a_prev)
            .bind(self.a_hash)
            .bind(self.d_id)
            .bind(self.d_handoff)
            .bind(self.d_event)
            .bind(self.d_channel)
            .bind(self.d_target)
            .bind(self.d_payload)
            .bind(self.d_state)
            .bind(self.d_attempts)
            .bind(self.d_next)
            .bind(self.d_created)
            .bind(self.d_updated)
            .bind(self.d_error)
            .bind(self.t_id)
            .bind(self.t_state)
            .bind(self.t_attempts)
            .bind(self.t_next)
            .bind(self.t_at)
            .bind(self.t_error)
            .bind(self.g_task)
            .bind(self.g_epoch)
            .bind(self.g_day)
            .bind(self.g_hist)
            .bind(self.g_bucket)
            .bind(self.g_n)
            .bind(self.m_task)
            .bind(self.m_epoch)
            .bind(self.m_stream)
            .bind(self.m_handoff)
            .bind(self.m_error)
            .bind(self.m_at)
            .bind(events)
            .bind(notices)
            .bind(self.h_task)
            .bind(self.h_epoch)
            .bind(self.h_hour);
        for column in self.h_counts {
            q = q.bind(column);
        }
        q.execute(conn).await?;
        Ok(())
    }
}

/// `$first`, `$first + 1`, … as `UNNEST`'s arguments, each cast to its array type.
fn args(first: usize, types: &[&str]) -> String {
    types
        .iter()
        .enumerate()
        .map(|(i, t)| format!("${}::{t}[]", first + i))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The batch's statement (see the module's doc); its parameters in the order
/// [`Rows::execute`] binds them.
fn statement() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let new = args(
            1,
            &[
                "text", "text", "text", "text", "int4", "text", "int8", "int8", "int8", "int8",
                "int8", "text", "text", "text", "int8", "bool", "text",
            ],
        );
        let changed = args(
            18,
            &[
                "text", "text", "int8", "int8", "text", "int8", "bool", "text", "int8",
            ],
        );
        let audit = args(
            27,
            &[
                "int8", "text", "text", "text", "text", "text", "text", "text",
            ],
        );
        let outbox = args(
            35,
            &[
                "text", "text", "text", "text", "text", "text", "text", "int4", "int8", "int8",
                "int8", "text",
            ],
        );
        let attempts = args(47, &["text", "text", "int4", "int8", "int8", "text"]);
        let hist = args(53, &["text", "int8", "int8", "int8", "int8", "int8"]);
        let items = args(59, &["text", "int8", "text", "text", "bool", "int8"]);
        // $65: the events' payload, $66: the notices.
        let names = Counts::NAMES;
        let mut hour_types = vec!["text", "int8", "int8"];
        hour_types.extend(names.iter().map(|_| "int8"));
        let hours = args(67, &hour_types);
        let counters = names.join(", ");
        let adds = names
            .iter()
            .map(|n| format!("{n} = task_hours.{n} + excluded.{n}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "WITH \
             new_handoffs AS (INSERT INTO handoffs (id, agent, task, status, level, \
               assigned_team, version, sla_due_ms, expires_ms, created_ms, updated_ms, \
               idem_key, idem_sha256, supersedes, due_ms, spot_due, doc) \
               SELECT * FROM UNNEST({new})), \
             changed_handoffs AS (UPDATE handoffs h SET status = c.status, \
               version = c.version, updated_ms = c.updated_ms, state = c.state, \
               due_ms = c.due_ms, spot_due = c.spot_due, assigned_team = c.assigned_team, \
               sla_due_ms = c.sla_due_ms \
               FROM UNNEST({changed}) AS c(id, status, version, updated_ms, state, due_ms, \
               spot_due, assigned_team, sla_due_ms) WHERE h.id = c.id), \
             entries AS (INSERT INTO audit (seq, at, actor, action, handoff_id, data, \
               prev_hash, hash) SELECT * FROM UNNEST({audit})), \
             deliveries AS (INSERT INTO outbox (id, handoff_id, event, channel, target, \
               payload, state, attempts, next_ms, created_ms, updated_ms, last_error) \
               SELECT id, handoff_id, event, channel, target, payload, state, attempts, \
               next_ms, created_ms, updated_ms, last_error \
               FROM UNNEST({outbox}) WITH ORDINALITY AS d(id, handoff_id, event, channel, \
               target, payload, state, attempts, next_ms, created_ms, updated_ms, \
               last_error, ord) ORDER BY ord ON CONFLICT (id) DO NOTHING), \
             attempts AS (UPDATE outbox o SET state = t.state, attempts = t.attempts, \
               next_ms = t.next_ms, updated_ms = t.updated_ms, last_error = t.last_error, \
               lease_ms = NULL \
               FROM UNNEST({attempts}) AS t(id, state, attempts, next_ms, updated_ms, \
               last_error) WHERE o.id = t.id), \
             hours AS (INSERT INTO task_hours (task, epoch, hour, {counters}) \
               SELECT * FROM UNNEST({hours}) \
               ON CONFLICT (task, epoch, hour) DO UPDATE SET {adds}), \
             hist AS (INSERT INTO task_hist (task, epoch, day, histogram, bucket, n) \
               SELECT * FROM UNNEST({hist}) \
               ON CONFLICT (task, day, epoch, histogram, bucket) \
               DO UPDATE SET n = task_hist.n + excluded.n), \
             items AS (INSERT INTO monitor_items (task, epoch, stream, handoff_id, error, \
               at_ms) SELECT task, epoch, stream, handoff_id, error, at_ms \
               FROM UNNEST({items}) WITH ORDINALITY AS m(task, epoch, stream, handoff_id, \
               error, at_ms, ord) ORDER BY ord \
               ON CONFLICT (stream, handoff_id) \
               DO UPDATE SET error = monitor_items.error OR excluded.error) \
             SELECT pg_notify('handoff_events', $65) WHERE $65::text IS NOT NULL \
             UNION ALL SELECT pg_notify('handoff_notices', n) FROM UNNEST($66::text[]) AS n"
        )
    })
}
