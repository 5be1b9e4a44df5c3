//! The API's request and response bodies as Rust types (SPEC §3, §4). The words of the
//! state machine (`Status`, `DecisionAction`, `OutcomeResult`, the recorded decision, the
//! evaluation) are the domain crate's own types, so client and server cannot disagree on
//! them; shapes the client only passes through (statistics, audit entries) stay JSON.

use chrono::{DateTime, Utc};
use handoff_domain::handoff::SpotCheck;
use handoff_domain::lifecycle::{Approval, DraftVersion, Outcome};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use handoff_domain::handoff::SpotVerdict;
pub use handoff_domain::lifecycle::Decision as RecordedDecision;
pub use handoff_domain::lifecycle::{Approval as ApprovalRecord, OutcomeResult};
pub use handoff_domain::revision::{PatchKind, PatchOp, RevisionOf};
pub use handoff_domain::{DecisionAction, Evaluation, Reason, Status};

/// A handoff as the server shows it (SPEC §3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handoff {
    /// `hnd_` and a ULID.
    pub id: String,
    /// Grows by one with every change; what `If-Match` names.
    pub version: u64,
    pub status: Status,
    pub task: String,
    /// The name of the submitting agent's key.
    pub agent: String,
    /// The packet as submitted, with canonical field names.
    pub packet: Value,
    pub evaluation: Evaluation,
    pub assigned_team: String,
    #[serde(default)]
    pub approvals: Vec<Approval>,
    #[serde(default)]
    pub decision: Option<RecordedDecision>,
    #[serde(default)]
    pub draft_versions: Vec<DraftVersion>,
    /// The draft as approved (after any edit), once approved.
    #[serde(default)]
    pub approved_draft: Option<Value>,
    #[serde(default)]
    pub outcome: Option<Outcome>,
    /// The approval receipt, a compact JWS, once approved.
    #[serde(default)]
    pub receipt: Option<String>,
    /// The same receipt under RFC 9864's algorithm name `Ed25519` (same payload and key).
    #[serde(default)]
    pub receipt_ed25519: Option<String>,
    #[serde(default)]
    pub spot_check: Option<SpotCheck>,
    /// Set when this handoff revises an earlier one (`supersedes`): its id and final
    /// status, the rationale that ended it, and the JSON Patch from its draft to this one's.
    #[serde(default)]
    pub revision_of: Option<RevisionOf>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Handoff {
    /// Approved and not yet acted on: the one status in which the agent may act. Pending
    /// is never approval, nor is anything else.
    pub fn is_approved(&self) -> bool {
        self.status == Status::Approved
    }

    /// Still waiting for a person to decide.
    pub fn is_pending(&self) -> bool {
        self.status == Status::Pending
    }

    /// The SHA-256 of the approved draft's canonical JSON (what the receipt binds), to
    /// quote in the outcome; `None` before approval or without a draft.
    pub fn approved_draft_sha256(&self) -> Option<String> {
        self.approved_draft
            .as_ref()
            .map(handoff_domain::canonical::sha256_hex)
    }

    /// The reviewer's rationale, when the decision gave one (a rejection always does).
    pub fn rationale(&self) -> Option<&str> {
        self.decision.as_ref()?.rationale.as_deref()
    }
}

/// One page of a listing; pass `next_cursor` back for the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// The filters of `GET /v1/handoffs`; the default lists the first page of all you may see.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListQuery {
    pub status: Option<Status>,
    pub task: Option<String>,
    pub team: Option<String>,
    pub level: Option<u8>,
    /// Handoffs per page, at most 500.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

impl ListQuery {
    /// The query string's pairs.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(s) = self.status {
            q.push(("status", s.as_str().to_owned()));
        }
        q.extend(self.task.clone().map(|t| ("task", t)));
        q.extend(self.team.clone().map(|t| ("team", t)));
        q.extend(self.level.map(|l| ("level", l.to_string())));
        q.extend(self.limit.map(|l| ("limit", l.to_string())));
        q.extend(self.cursor.clone().map(|c| ("cursor", c)));
        q
    }
}

/// A reviewer's decision, the body of `POST /v1/handoffs/{id}/decisions`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub action: DecisionAction,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rationale: Option<String>,
    /// The edited draft (`edit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draft: Option<Value>,
    /// The id or label of the agent's option chosen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub option: Option<String>,
    /// Where an `escalate` goes instead of the team's `escalate_to`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_team: Option<String>,
}

impl Decision {
    /// `action` with nothing else; add fields with the builders below.
    pub fn new(action: DecisionAction) -> Decision {
        Decision {
            action,
            rationale: None,
            draft: None,
            option: None,
            to_team: None,
        }
    }

    pub fn approve() -> Decision {
        Decision::new(DecisionAction::Approve)
    }

    /// Approve this edited draft instead of the agent's.
    pub fn edit(draft: Value) -> Decision {
        Decision::new(DecisionAction::Edit).draft(draft)
    }

    pub fn reject(rationale: impl Into<String>) -> Decision {
        Decision::new(DecisionAction::Reject).rationale(rationale)
    }

    pub fn rationale(mut self, text: impl Into<String>) -> Decision {
        self.rationale = Some(text.into());
        self
    }

    pub fn draft(mut self, draft: Value) -> Decision {
        self.draft = Some(draft);
        self
    }

    pub fn option(mut self, option: impl Into<String>) -> Decision {
        self.option = Some(option.into());
        self
    }

    pub fn to_team(mut self, team: impl Into<String>) -> Decision {
        self.to_team = Some(team.into());
        self
    }
}

/// What the agent reports after acting, the body of `POST /v1/handoffs/{id}/outcome`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutcomeReport {
    pub result: OutcomeResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The digest of the draft executed; the server refuses (409) one it did not approve.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draft_sha256: Option<String>,
}

impl OutcomeReport {
    pub fn new(result: OutcomeResult) -> OutcomeReport {
        OutcomeReport {
            result,
            detail: None,
            draft_sha256: None,
        }
    }

    /// `executed`, quoting the digest of the draft that was executed.
    pub fn executed(draft_sha256: Option<String>) -> OutcomeReport {
        OutcomeReport {
            draft_sha256,
            ..OutcomeReport::new(OutcomeResult::Executed)
        }
    }

    pub fn failed(detail: impl Into<String>) -> OutcomeReport {
        OutcomeReport::new(OutcomeResult::Failed).detail(detail)
    }

    pub fn detail(mut self, detail: impl Into<String>) -> OutcomeReport {
        self.detail = Some(detail.into());
        self
    }
}

/// One server-sent event of `GET /v1/events`: `id` the audit sequence number (give it back
/// as `last_event_id` to resume), `event` its kind (`handoff`), `data` its JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

impl Event {
    /// `data` parsed: for `handoff` events `{id, status, version, task, assigned_team}`.
    pub fn json(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_str(&self.data)
    }
}

/// The answer of `POST /v1/tasks/{task}/level`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelChange {
    pub task: String,
    pub level: u8,
    pub previous_level: u8,
    #[serde(default)]
    pub evidence: Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_leave_out_what_was_not_given() {
        let body = serde_json::to_value(Decision::reject("too risky").to_team("legal"));
        assert_eq!(
            body.ok(),
            Some(json!({"action": "reject", "rationale": "too risky", "to_team": "legal"}))
        );
        let body = serde_json::to_value(OutcomeReport::executed(None));
        assert_eq!(body.ok(), Some(json!({"result": "executed"})));
        let q = ListQuery {
            status: Some(Status::HandedOver),
            limit: Some(10),
            ..ListQuery::default()
        };
        assert_eq!(
            q.pairs(),
            vec![
                ("status", "handed_over".to_owned()),
                ("limit", "10".to_owned())
            ]
        );
    }

    #[test]
    fn a_pending_resource_without_its_optional_parts_reads_and_is_not_approved() {
        let h: Handoff = serde_json::from_value(json!({
            "id": "hnd_01", "version": 1, "status": "pending",
            "task": "respond_to_client_inquiry", "agent": "sales-bot",
            "packet": {"task": "respond_to_client_inquiry"},
            "evaluation": {"level": 2, "risk": "medium", "route": "sales",
                "approvals_required": 1, "sla": "2h", "expire_after": "3d",
                "sla_due_at": "2026-11-21T12:00:00Z", "expires_at": "2026-11-24T10:00:00Z",
                "flags": [], "reasons": [], "policy_version": "sha256:x"},
            "assigned_team": "sales",
            "created_at": "2026-11-21T10:00:00Z", "updated_at": "2026-11-21T10:00:00Z",
            "a_field_of_a_newer_server": true
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(h.is_pending() && !h.is_approved());
        assert_eq!(
            (h.receipt.as_deref(), h.approved_draft_sha256()),
            (None, None)
        );
    }
}
