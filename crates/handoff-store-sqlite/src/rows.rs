//! Between Rust values and SQLite rows: the handoff row's columns and its two JSON
//! parts (the record written once, the state written at every change), timestamps, audit
//! rows.

use chrono::{DateTime, Utc};
use handoff_domain::Level;
use handoff_domain::{AuditEntry, Handoff, Role};
use handoff_store::{Channel, Delivery, DeliveryState, Idempotency, KeyRecord, TaskLevel};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

pub(super) use handoff_store::record::{
    AUDIT_COLUMNS, OUTBOX_COLUMNS, POLICY_ACTIVE, POLICY_FILE, decode, encode_doc, encode_state,
    from_ms, ts, version,
};

/// A new handoff's record, appended to its own table (never updated).
pub(super) const INSERT_DOC: &str = "INSERT INTO handoff_docs (doc) VALUES (?)";

/// A new handoff's row; `doc_n` is its record's row in `handoff_docs`.
pub(super) const INSERT_HANDOFF: &str = "INSERT INTO handoffs (id, agent, task, status, level, \
     assigned_team, version, sla_due_ms, expires_ms, created_ms, updated_ms, idem_key, \
     idem_sha256, doc_n, due_ms, spot_due) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// A changed handoff's row: its state and the columns the inbox filters on.
pub(super) const UPDATE_STATE: &str = "UPDATE handoffs SET status = ?, version = ?, \
     updated_ms = ?, state = ?, due_ms = ?, spot_due = ? WHERE id = ?";

/// The same for a handoff an escalation moved (another team, a later SLA due time): the
/// inbox's (team, due time) index is touched only then.
pub(super) const UPDATE_MOVED_STATE: &str = "UPDATE handoffs SET status = ?, version = ?, \
     updated_ms = ?, state = ?, due_ms = ?, spot_due = ?, assigned_team = ?, sla_due_ms = ? \
     WHERE id = ?";

pub(super) const INSERT_AUDIT: &str = "INSERT INTO audit (seq, at, actor, action, handoff_id, \
     data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";

pub(super) const INSERT_DELIVERY: &str = "INSERT INTO outbox (id, handoff_id, event, channel, \
     target, payload, state, attempts, next_ms, created_ms, updated_ms, last_error) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING";

/// A handoff to write.
pub(super) struct HandoffRow {
    pub(super) handoff: Handoff,
    /// The whole record's JSON when it was made off the writer's path (a new row).
    pub(super) doc: Option<String>,
    /// The state's JSON when it was made off the writer's path (a changed row).
    pub(super) state: Option<String>,
    /// The idempotency key it was submitted with (new rows only).
    pub(super) idem: Option<Idempotency>,
    /// `None` for a new row; for a stored one, its team and SLA due time as stored, which
    /// say whether the inbox's index must be touched.
    pub(super) stored: Option<(String, i64)>,
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

fn parse_ts(s: &str) -> Result<DateTime<Utc>, sqlx::Error> {
    handoff_store::record::parse_ts(s).map_err(|e| sqlx::Error::Decode(e.into()))
}

/// A handoff from a row whose columns `first` and `first + 1` are `doc` and `state`.
pub(super) fn decode_row(row: &SqliteRow, first: usize) -> Result<Handoff, sqlx::Error> {
    let doc: &str = row.try_get(first)?;
    let state: Option<&str> = row.try_get(first + 1)?;
    decode(doc, state).map_err(|e| sqlx::Error::Decode(Box::new(e)))
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

/// The same audit row read by rusqlite (the chain's check, on a connection of its own).
pub(super) fn decode_audit_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AuditEntry> {
    let bad = |column: usize, e: String| {
        rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, e.into())
    };
    let text = |column: usize| -> rusqlite::Result<&str> {
        row.get_ref(column)?
            .as_str()
            .map_err(|e| bad(column, e.to_string()))
    };
    Ok(AuditEntry {
        seq: row.get(0)?,
        at: handoff_store::record::parse_ts(text(1)?).map_err(|e| bad(1, e))?,
        actor: row.get(2)?,
        action: row.get(3)?,
        handoff_id: row.get(4)?,
        data: serde_json::from_str(text(5)?).map_err(|e| bad(5, e.to_string()))?,
        prev_hash: row.get(6)?,
        hash: row.get(7)?,
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

/// Writes a task's level row (inside the writer's transaction).
pub(super) fn put_task_level(conn: &rusqlite::Connection, t: &TaskLevel) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO task_levels (task, level, epoch, previous_level, \
         restore_level, changed_ms, changed_by, reason, automatic) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(rusqlite::params![
        t.task,
        i64::from(t.level.get()),
        i64::try_from(t.epoch).unwrap_or(i64::MAX),
        i64::from(t.previous_level.get()),
        t.restore_level.map(|l| i64::from(l.get())),
        t.changed_at.timestamp_millis(),
        t.by,
        t.reason,
        t.automatic,
    ])?;
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
