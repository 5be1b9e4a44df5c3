//! Between Rust values and PostgreSQL rows, as the SQLite store maps them: the handoff's
//! two JSON parts (the record written once, `doc`; the state written at every change,
//! `state`, laid over it), timestamps, audit, outbox, key and task-level rows.

use chrono::{DateTime, Utc};
use handoff_domain::Level;
use handoff_domain::{AuditEntry, Handoff, Role};
use handoff_store::{Channel, Delivery, DeliveryState, KeyRecord, TaskLevel};
use sqlx::Row;
use sqlx::postgres::PgRow;

pub(crate) use handoff_store::record::{
    AUDIT_COLUMNS, OUTBOX_COLUMNS, POLICY_ACTIVE, POLICY_FILE, decode, encode_doc, encode_state,
    from_ms, supersedes, ts, version,
};

pub(crate) fn parse_ts(s: &str) -> Result<DateTime<Utc>, sqlx::Error> {
    handoff_store::record::parse_ts(s).map_err(|e| sqlx::Error::Decode(e.into()))
}

/// A handoff from a row whose columns `first` and `first + 1` are `doc` and `state`.
pub(crate) fn decode_row(row: &PgRow, first: usize) -> Result<Handoff, sqlx::Error> {
    let doc: &str = row.try_get(first)?;
    let state: Option<&str> = row.try_get(first + 1)?;
    decode(doc, state).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// An outbox row selected with [`OUTBOX_COLUMNS`].
pub(crate) fn decode_delivery(row: &PgRow) -> Result<Delivery, sqlx::Error> {
    decode_delivery_at(row, 0)
}

/// An outbox row whose [`OUTBOX_COLUMNS`] start at column `f`.
pub(crate) fn decode_delivery_at(row: &PgRow, f: usize) -> Result<Delivery, sqlx::Error> {
    let channel: &str = row.try_get(f + 3)?;
    let state: &str = row.try_get(f + 6)?;
    Ok(Delivery {
        id: row.try_get(f)?,
        handoff_id: row.try_get(f + 1)?,
        event: row.try_get(f + 2)?,
        channel: Channel::parse(channel).ok_or_else(|| {
            sqlx::Error::Decode(format!("bad delivery channel {channel:?}").into())
        })?,
        target: row.try_get(f + 4)?,
        payload: row.try_get(f + 5)?,
        state: DeliveryState::parse(state)
            .ok_or_else(|| sqlx::Error::Decode(format!("bad delivery state {state:?}").into()))?,
        attempts: u32::try_from(row.try_get::<i32, _>(f + 7)?).unwrap_or(0),
        next_at: from_ms(row.try_get(f + 8)?),
        created_at: from_ms(row.try_get(f + 9)?),
        updated_at: from_ms(row.try_get(f + 10)?),
        last_error: row.try_get(f + 11)?,
    })
}

/// An audit row selected with [`AUDIT_COLUMNS`].
pub(crate) fn decode_audit(row: &PgRow) -> Result<AuditEntry, sqlx::Error> {
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
pub(crate) fn decode_key(row: &PgRow) -> Result<KeyRecord, sqlx::Error> {
    let role: &str = row.try_get(1)?;
    Ok(KeyRecord {
        name: row.try_get(0)?,
        role: Role::parse(role)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown key role {role:?}").into()))?,
        key_sha256: row.try_get(2)?,
        created_at: parse_ts(row.try_get(3)?)?,
    })
}

fn level(n: i32) -> Result<Level, sqlx::Error> {
    Level::new(i64::from(n)).map_err(|e| sqlx::Error::Decode(e.into()))
}

/// The columns of `task_levels`, in table order.
pub(crate) const TASK_LEVEL_COLUMNS: &str = "task, level, epoch, previous_level, restore_level, \
     changed_ms, changed_by, reason, automatic";

/// A `task_levels` row selected with [`TASK_LEVEL_COLUMNS`].
pub(crate) fn decode_task_level(row: &PgRow) -> Result<TaskLevel, sqlx::Error> {
    let restore: Option<i32> = row.try_get(4)?;
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
