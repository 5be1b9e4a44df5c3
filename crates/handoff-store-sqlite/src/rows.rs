//! Between Rust values and SQLite rows: the handoff row's columns, timestamps, audit rows.

use chrono::{DateTime, SecondsFormat, Utc};
use handoff_domain::Level;
use handoff_domain::{AuditEntry, Handoff, Role};
use handoff_store::{Channel, Delivery, DeliveryState, Idempotency, KeyRecord, TaskLevel};
use sqlx::query_builder::Separated;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, SqliteConnection};

pub(super) const POLICY_ACTIVE: &str = "policy.active";
pub(super) const POLICY_FILE: &str = "policy.file";

pub(super) const HANDOFF_COLUMNS: &str = "id, agent, task, status, level, assigned_team, version, \
     sla_due_ms, expires_ms, created_ms, updated_ms, idem_key, idem_sha256, doc, due_ms, spot_due";

pub(super) const OUTBOX_COLUMNS: &str = "id, handoff_id, event, channel, target, payload, state, \
     attempts, next_ms, created_ms, updated_ms, last_error";

pub(super) const AUDIT_COLUMNS: &str = "seq, at, actor, action, handoff_id, data, prev_hash, hash";

/// A handoff to write: the record, its JSON, and the idempotency key it was submitted
/// with (new rows only).
pub(super) struct HandoffRow {
    pub(super) handoff: Handoff,
    pub(super) doc: String,
    pub(super) idem: Option<Idempotency>,
}

pub(super) fn encode_doc(h: &Handoff) -> String {
    // A record of plain data always serialises.
    serde_json::to_string(h).unwrap_or_else(|_| "{}".to_owned())
}

impl HandoffRow {
    /// Binds the values of [`HANDOFF_COLUMNS`], in order.
    pub(super) fn bind(&self, v: &mut Separated<'_, Sqlite, &'static str>) {
        let h = &self.handoff;
        v.push_bind(h.id.clone())
            .push_bind(h.state.agent.clone())
            .push_bind(h.task.clone())
            .push_bind(h.state.status.as_str())
            .push_bind(i64::from(h.evaluation.level.get()))
            .push_bind(h.state.assigned_team.clone())
            .push_bind(i64::try_from(h.state.version).unwrap_or(i64::MAX))
            .push_bind(h.evaluation.sla_due_at.timestamp_millis())
            .push_bind(h.evaluation.expires_at.timestamp_millis())
            .push_bind(h.created_at.timestamp_millis())
            .push_bind(h.updated_at.timestamp_millis())
            .push_bind(self.idem.as_ref().map(|i| i.key.clone()))
            .push_bind(self.idem.as_ref().map(|i| i.body_sha256.clone()))
            .push_bind(self.doc.clone())
            .push_bind(h.next_deadline().map(|d| d.timestamp_millis()))
            .push_bind(h.spot_check_due().then_some(1i64));
    }
}

/// Binds the values of [`OUTBOX_COLUMNS`], in order.
pub(super) fn bind_delivery(d: &Delivery, v: &mut Separated<'_, Sqlite, &'static str>) {
    v.push_bind(d.id.clone())
        .push_bind(d.handoff_id.clone())
        .push_bind(d.event.clone())
        .push_bind(d.channel.as_str())
        .push_bind(d.target.clone())
        .push_bind(d.payload.clone())
        .push_bind(d.state.as_str())
        .push_bind(i64::from(d.attempts))
        .push_bind(d.next_at.timestamp_millis())
        .push_bind(d.created_at.timestamp_millis())
        .push_bind(d.updated_at.timestamp_millis())
        .push_bind(d.last_error.clone());
}

fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// An outbox row selected with [`OUTBOX_COLUMNS`].
pub(super) fn decode_delivery(row: &SqliteRow) -> Result<Delivery, sqlx::Error> {
    let channel: &str = row.try_get(3)?;
    let state: &str = row.try_get(6)?;
    Ok(Delivery {
        id: row.try_get(0)?,
        handoff_id: row.try_get(1)?,
        event: row.try_get(2)?,
        channel: Channel::parse(channel).ok_or_else(|| {
            sqlx::Error::Decode(format!("bad delivery channel {channel:?}").into())
        })?,
        target: row.try_get(4)?,
        payload: row.try_get(5)?,
        state: DeliveryState::parse(state)
            .ok_or_else(|| sqlx::Error::Decode(format!("bad delivery state {state:?}").into()))?,
        attempts: u32::try_from(row.try_get::<i64, _>(7)?).unwrap_or(0),
        next_at: from_ms(row.try_get(8)?),
        created_at: from_ms(row.try_get(9)?),
        updated_at: from_ms(row.try_get(10)?),
        last_error: row.try_get(11)?,
    })
}

/// Timestamps as text: RFC 3339 in UTC with milliseconds, the precision the audit hashes.
pub(super) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_ts(s: &str) -> Result<DateTime<Utc>, sqlx::Error> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| sqlx::Error::Decode(format!("bad timestamp {s:?}: {e}").into()))
}

pub(super) fn decode_doc(doc: &str) -> Result<Handoff, sqlx::Error> {
    serde_json::from_str(doc).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// An audit row selected with [`AUDIT_COLUMNS`].
pub(super) fn decode_audit(row: &SqliteRow) -> Result<AuditEntry, sqlx::Error> {
    let data: &str = row.try_get(5)?;
    Ok(AuditEntry {
        seq: row.try_get(0)?,
        at: parse_ts(row.try_get(1)?)?,
        actor: row.try_get(2)?,
        action: row.try_get(3)?,
        handoff_id: row.try_get(4)?,
        data: serde_json::from_str(data).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        prev_hash: row.try_get(6)?,
        hash: row.try_get(7)?,
    })
}

/// A key row (`name, role, key_sha256, created_at`). A role this build does not know is an
/// error that names it: the key is not let in with some other role.
pub(super) fn decode_key(row: &SqliteRow) -> Result<KeyRecord, sqlx::Error> {
    let role: &str = row.try_get(1)?;
    Ok(KeyRecord {
        name: row.try_get(0)?,
        role: Role::parse(role)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown key role {role:?}").into()))?,
        key_sha256: row.try_get(2)?,
        created_at: parse_ts(row.try_get(3)?)?,
    })
}

pub(super) async fn put_setting(
    conn: &mut SqliteConnection,
    name: &str,
    value: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO settings (name, value) VALUES (?, ?) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
    .bind(name)
    .bind(value)
    .execute(conn)
    .await
    .map(drop)
}

/// Writes a task's level row (inside the writer's transaction).
pub(super) async fn put_task_level(
    conn: &mut SqliteConnection,
    t: &TaskLevel,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT OR REPLACE INTO task_levels (task, level, epoch, previous_level, \
         restore_level, changed_ms, changed_by, reason, automatic) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&t.task)
    .bind(i64::from(t.level.get()))
    .bind(i64::try_from(t.epoch).unwrap_or(i64::MAX))
    .bind(i64::from(t.previous_level.get()))
    .bind(t.restore_level.map(|l| i64::from(l.get())))
    .bind(t.changed_at.timestamp_millis())
    .bind(&t.by)
    .bind(&t.reason)
    .bind(t.automatic)
    .execute(conn)
    .await?;
    Ok(())
}

fn level(n: i64) -> Result<Level, sqlx::Error> {
    Level::new(n).map_err(|e| sqlx::Error::Decode(e.into()))
}

/// A `task_levels` row, its columns in table order.
pub(super) fn decode_task_level(row: &SqliteRow) -> Result<TaskLevel, sqlx::Error> {
    let restore: Option<i64> = row.try_get(4)?;
    Ok(TaskLevel {
        task: row.try_get(0)?,
        level: level(row.try_get(1)?)?,
        epoch: u64::try_from(row.try_get::<i64, _>(2)?).unwrap_or(0),
        previous_level: level(row.try_get(3)?)?,
        restore_level: restore.map(level).transpose()?,
        changed_at: from_ms(row.try_get(5)?),
        by: row.try_get(6)?,
        reason: row.try_get(7)?,
        automatic: row.try_get(8)?,
    })
}
