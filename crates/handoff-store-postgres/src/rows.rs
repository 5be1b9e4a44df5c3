//! Between Rust values and PostgreSQL rows, as the SQLite store maps them: the handoff's
//! two JSON parts (the record written once, `doc`; the state written at every change,
//! `state`, laid over it), timestamps, audit, outbox, key and task-level rows.

use chrono::{DateTime, SecondsFormat, Utc};
use handoff_domain::Level;
use handoff_domain::handoff::SpotCheck;
use handoff_domain::lifecycle::Lifecycle;
use handoff_domain::schedule::Timers;
use handoff_domain::{AuditEntry, Handoff, Role};
use handoff_store::{Channel, Delivery, DeliveryState, KeyRecord, TaskLevel};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::postgres::PgRow;

pub(crate) const POLICY_ACTIVE: &str = "policy.active";
pub(crate) const POLICY_FILE: &str = "policy.file";

pub(crate) const OUTBOX_COLUMNS: &str = "id, handoff_id, event, channel, target, payload, state, \
     attempts, next_ms, created_ms, updated_ms, last_error";

pub(crate) const AUDIT_COLUMNS: &str = "seq, at, actor, action, handoff_id, data, prev_hash, hash";

/// The whole record: written once, when the handoff is created.
pub(crate) fn encode_doc(h: &Handoff) -> String {
    // A record of plain data always serialises.
    serde_json::to_string(h).unwrap_or_else(|_| "{}".to_owned())
}

/// The part of a record that changes after submission; the rest (the packet, the
/// evaluation, the task, the epoch, the creation time) is stored once, in `doc`.
#[derive(Serialize)]
struct StateOut<'a> {
    state: &'a Lifecycle,
    #[serde(skip_serializing_if = "Option::is_none")]
    receipt: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    receipt_ed25519: &'a Option<String>,
    updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Timers::is_untouched")]
    timers: &'a Timers,
    #[serde(skip_serializing_if = "Option::is_none")]
    spot_check: &'a Option<SpotCheck>,
    sla_due_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct StateIn {
    state: Lifecycle,
    #[serde(default)]
    receipt: Option<String>,
    #[serde(default)]
    receipt_ed25519: Option<String>,
    updated_at: DateTime<Utc>,
    #[serde(default)]
    timers: Timers,
    #[serde(default)]
    spot_check: Option<SpotCheck>,
    sla_due_at: DateTime<Utc>,
}

/// The `state` column of a changed handoff.
pub(crate) fn encode_state(h: &Handoff) -> String {
    let s = StateOut {
        state: &h.state,
        receipt: &h.receipt,
        receipt_ed25519: &h.receipt_ed25519,
        updated_at: h.updated_at,
        timers: &h.timers,
        spot_check: &h.spot_check,
        sla_due_at: h.evaluation.sla_due_at,
    };
    serde_json::to_string(&s).unwrap_or_else(|_| "{}".to_owned())
}

/// A record from its row: `doc` as written at creation, with `state` (when the handoff
/// changed since) laid over it.
pub(crate) fn decode(doc: &str, state: Option<&str>) -> Result<Handoff, serde_json::Error> {
    let mut h: Handoff = serde_json::from_str(doc)?;
    if let Some(state) = state {
        let s: StateIn = serde_json::from_str(state)?;
        h.state = s.state;
        h.receipt = s.receipt;
        h.receipt_ed25519 = s.receipt_ed25519;
        h.updated_at = s.updated_at;
        h.timers = s.timers;
        h.spot_check = s.spot_check;
        h.evaluation.sla_due_at = s.sla_due_at;
    }
    Ok(h)
}

/// Whether `a` and `b` agree on everything [`encode_state`] leaves out.
pub(crate) fn same_immutable(a: &Handoff, b: &Handoff) -> bool {
    let mut eval = b.evaluation.clone();
    eval.sla_due_at = a.evaluation.sla_due_at;
    a.id == b.id
        && a.task == b.task
        && a.packet == b.packet
        && a.evaluation == eval
        && a.created_at == b.created_at
        && a.epoch == b.epoch
}

/// The handoff a revision's packet `supersedes`, for its indexed column.
pub(crate) fn supersedes(h: &Handoff) -> Option<String> {
    h.packet
        .get("supersedes")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

pub(crate) fn version(h: &Handoff) -> i64 {
    i64::try_from(h.state.version).unwrap_or(i64::MAX)
}

pub(crate) fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Timestamps as text: RFC 3339 in UTC with milliseconds, the precision the audit hashes.
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(crate) fn parse_ts(s: &str) -> Result<DateTime<Utc>, sqlx::Error> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| sqlx::Error::Decode(format!("bad timestamp {s:?}: {e}").into()))
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
