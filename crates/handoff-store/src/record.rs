//! How a backend lays a handoff out in its rows, the same for every database: the whole
//! record as JSON written once at creation (`doc`), the part that changes written at
//! every change (`state`, laid over `doc` when read), and the plain columns beside them
//! (timestamps as milliseconds or RFC 3339 text, the version, what a revision supersedes).
//! The SQL that stores them is each backend's own.

use chrono::{DateTime, SecondsFormat, Utc};
use handoff_domain::Handoff;
use handoff_domain::handoff::SpotCheck;
use handoff_domain::lifecycle::Lifecycle;
use handoff_domain::schedule::Timers;
use serde::{Deserialize, Serialize};

/// The `settings` names of the active policy and of the `--policy` file's text.
pub const POLICY_ACTIVE: &str = "policy.active";
pub const POLICY_FILE: &str = "policy.file";

/// The outbox's columns, in the order the backends decode them.
pub const OUTBOX_COLUMNS: &str = "id, handoff_id, event, channel, target, payload, state, \
     attempts, next_ms, created_ms, updated_ms, last_error";

/// The audit log's columns, in the order the backends decode them.
pub const AUDIT_COLUMNS: &str = "seq, at, actor, action, handoff_id, data, prev_hash, hash";

/// The whole record: written once, when the handoff is created.
pub fn encode_doc(h: &Handoff) -> String {
    // A record of plain data always serialises.
    serde_json::to_string(h).unwrap_or_else(|_| "{}".to_owned())
}

/// The part of a record that changes after submission; the rest (the packet, the
/// evaluation, the task, the epoch, the creation time) is stored once, in `doc`.
#[derive(Serialize)]
struct StateOut<'a> {
    state: LifecycleOut<'a>,
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
pub fn encode_state(h: &Handoff) -> String {
    let s = StateOut {
        state: LifecycleOut(&h.state),
        receipt: &h.receipt,
        receipt_ed25519: &h.receipt_ed25519,
        updated_at: h.updated_at,
        timers: &h.timers,
        spot_check: &h.spot_check,
        sla_due_at: h.evaluation.sla_due_at,
    };
    serde_json::to_string(&s).unwrap_or_else(|_| "{}".to_owned())
}

/// The lifecycle as the `state` column holds it: the current draft is left out while it
/// is still the agent's own (draft version 1, which `doc` holds), since it is most of the
/// state's size and the state is rewritten at every change.
struct LifecycleOut<'a>(&'a Lifecycle);

impl Serialize for LifecycleOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        // Every field named: a field added to `Lifecycle` fails to compile here rather than
        // go unsaved.
        let Lifecycle {
            status,
            version,
            agent,
            assigned_team,
            approvals_required,
            approvals,
            draft_versions,
            current_draft,
            decision,
            outcome,
        } = self.0;
        let edited = self.0.current_draft_version() > 1;
        let mut m = s.serialize_struct("Lifecycle", 9 + usize::from(edited))?;
        m.serialize_field("status", status)?;
        m.serialize_field("version", version)?;
        m.serialize_field("agent", agent)?;
        m.serialize_field("assigned_team", assigned_team)?;
        m.serialize_field("approvals_required", approvals_required)?;
        m.serialize_field("approvals", approvals)?;
        m.serialize_field("draft_versions", draft_versions)?;
        if edited {
            m.serialize_field("current_draft", current_draft)?;
        } else {
            m.skip_field("current_draft")?;
        }
        m.serialize_field("decision", decision)?;
        m.serialize_field("outcome", outcome)?;
        m.end()
    }
}

/// A record from its row: `doc` as written at creation, with `state` (when the handoff
/// changed since) laid over it.
pub fn decode(doc: &str, state: Option<&str>) -> Result<Handoff, serde_json::Error> {
    let mut h: Handoff = serde_json::from_str(doc)?;
    if let Some(state) = state {
        let s: StateIn = serde_json::from_str(state)?;
        // The agent's draft as submitted, which a state without edits leaves out (states
        // written before that carry it, and keep theirs).
        let submitted = h.state.current_draft.take();
        h.state = s.state;
        if h.state.current_draft_version() == 1 && h.state.current_draft.is_none() {
            h.state.current_draft = submitted;
        }
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
pub fn same_immutable(a: &Handoff, b: &Handoff) -> bool {
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
pub fn supersedes(h: &Handoff) -> Option<String> {
    h.packet
        .get("supersedes")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

/// The version as a database integer.
pub fn version(h: &Handoff) -> i64 {
    i64::try_from(h.state.version).unwrap_or(i64::MAX)
}

/// A stored millisecond timestamp (the epoch when it is out of range).
pub fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Timestamps as text: RFC 3339 in UTC with milliseconds, the precision the audit hashes.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A timestamp written by [`ts`]; the error names the text.
pub fn parse_ts(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("bad timestamp {s:?}: {e}"))
}

/// A change computed inside a writer's transaction, and what the writer must record of it.
pub struct Applied {
    pub handoff: Handoff,
    pub audit: handoff_domain::NewEntry,
    pub deliveries: Vec<crate::Delivery>,
    /// What it adds to the learning aggregates (`Tally::of_change`).
    pub tally: handoff_domain::learning::Tally,
    /// The team it was routed to before, when the change moved it (for its event).
    pub previous_team: Option<String>,
}

/// Applies `f` to `current` as every backend's writer does for `Store::update`: the
/// `If-Match` version first (nothing runs on a stale one), then the change, checked not to
/// touch what is stored once, with its tally and the team it left.
pub fn apply_change(
    current: &Handoff,
    if_match: Option<u64>,
    f: crate::UpdateFn,
) -> Result<Applied, crate::Refused> {
    if let Some(v) = if_match
        && v != current.version()
    {
        return Err(crate::Refused::VersionMismatch {
            current: current.version(),
        });
    }
    let crate::Change {
        handoff,
        audit,
        deliveries,
    } = f(current)?;
    debug_assert!(
        same_immutable(current, &handoff),
        "a change altered what is stored once: {}",
        current.id
    );
    let tally = handoff_domain::learning::Tally::of_change(current, &handoff);
    let previous_team = (handoff.state.assigned_team != current.state.assigned_team)
        .then(|| current.state.assigned_team.clone());
    Ok(Applied {
        handoff,
        audit,
        deliveries,
        tally,
        previous_team,
    })
}
