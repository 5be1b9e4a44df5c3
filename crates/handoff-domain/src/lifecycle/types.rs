//! The words of the state machine: statuses, decisions, outcomes, and why a command is
//! refused.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a handoff is in its life (SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Status {
    Pending,
    Approved,
    Rejected,
    HandedOver,
    Alerted,
    Acknowledged,
    Resolved,
    Expired,
    Cancelled,
    Executed,
    Failed,
    RolledBack,
}

impl Status {
    pub const ALL: [Status; 12] = [
        Status::Pending,
        Status::Approved,
        Status::Rejected,
        Status::HandedOver,
        Status::Alerted,
        Status::Acknowledged,
        Status::Resolved,
        Status::Expired,
        Status::Cancelled,
        Status::Executed,
        Status::Failed,
        Status::RolledBack,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
            Status::HandedOver => "handed_over",
            Status::Alerted => "alerted",
            Status::Acknowledged => "acknowledged",
            Status::Resolved => "resolved",
            Status::Expired => "expired",
            Status::Cancelled => "cancelled",
            Status::Executed => "executed",
            Status::Failed => "failed",
            Status::RolledBack => "rolled_back",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Waiting for a person: the inbox shows these, and only these can go stale.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Status::Pending | Status::HandedOver | Status::Alerted | Status::Acknowledged
        )
    }

    /// No command is accepted any more. `approved` and `executed` are not terminal: the
    /// agent still reports an outcome, or a roll-back.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Status::Rejected
                | Status::Expired
                | Status::Cancelled
                | Status::Resolved
                | Status::Failed
                | Status::RolledBack
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a reviewer (or, for level 1, the policy) decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DecisionAction {
    Approve,
    Edit,
    Reject,
    Escalate,
    TakeOver,
    Resolve,
    Acknowledge,
    /// A person makes a handed-over or acknowledged handoff theirs (not in SPEC §3's
    /// table: an addition, see docs/API.md).
    Assign,
}

impl DecisionAction {
    pub const ALL: [DecisionAction; 8] = [
        DecisionAction::Approve,
        DecisionAction::Edit,
        DecisionAction::Reject,
        DecisionAction::Escalate,
        DecisionAction::TakeOver,
        DecisionAction::Resolve,
        DecisionAction::Acknowledge,
        DecisionAction::Assign,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DecisionAction::Approve => "approve",
            DecisionAction::Edit => "edit",
            DecisionAction::Reject => "reject",
            DecisionAction::Escalate => "escalate",
            DecisionAction::TakeOver => "take_over",
            DecisionAction::Resolve => "resolve",
            DecisionAction::Acknowledge => "acknowledge",
            DecisionAction::Assign => "assign",
        }
    }

    pub fn parse(s: &str) -> Option<DecisionAction> {
        DecisionAction::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for DecisionAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the agent reports after acting (or undoing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum OutcomeResult {
    Executed,
    Failed,
    RolledBack,
}

impl OutcomeResult {
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeResult::Executed => "executed",
            OutcomeResult::Failed => "failed",
            OutcomeResult::RolledBack => "rolled_back",
        }
    }

    pub fn parse(s: &str) -> Option<OutcomeResult> {
        [
            OutcomeResult::Executed,
            OutcomeResult::Failed,
            OutcomeResult::RolledBack,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

impl fmt::Display for OutcomeResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One reviewer's approval of one draft version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Approval {
    pub by: String,
    pub at: DateTime<Utc>,
    pub draft_version: u32,
    /// The id or label of the agent's option this reviewer chose, if any. Approvals that
    /// count always name the same one: naming another dismisses them.
    #[serde(default)]
    pub option: Option<String>,
}

/// One version of the draft: 1 is the agent's, each edit adds one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DraftVersion {
    pub version: u32,
    pub by: String,
    /// Lowercase hex SHA-256 of the draft's RFC 8785 JSON; `None` when there is no draft.
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Decision {
    pub action: DecisionAction,
    pub by: String,
    pub at: DateTime<Utc>,
    pub rationale: Option<String>,
    /// The id or label of the agent's option the reviewer chose, if any.
    pub option: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Outcome {
    pub result: OutcomeResult,
    pub detail: Option<String>,
    pub at: DateTime<Utc>,
}

/// Why a command was refused; each variant maps to one HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The handoff's status does not allow it (409).
    #[error("{message}")]
    Conflict { from: Status, message: String },
    /// The command itself is incomplete or wrong (422), naming the field.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// Nobody may do this, whatever the state (403).
    #[error("{message}")]
    Forbidden { message: String },
}

impl TransitionError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> TransitionError {
        TransitionError::Invalid {
            field,
            message: message.into(),
        }
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> TransitionError {
        TransitionError::Forbidden {
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statuses_and_actions_use_the_specs_snake_case_words() {
        for st in Status::ALL {
            assert_eq!(serde_json::to_value(st).ok(), Some(json!(st.as_str())));
            assert_eq!(Status::parse(st.as_str()), Some(st));
        }
        assert_eq!(Status::HandedOver.as_str(), "handed_over");
        assert_eq!(DecisionAction::TakeOver.as_str(), "take_over");
        assert_eq!(
            OutcomeResult::parse("rolled_back"),
            Some(OutcomeResult::RolledBack)
        );
        let open: Vec<&str> = Status::ALL
            .into_iter()
            .filter(|s| s.is_open())
            .map(Status::as_str)
            .collect();
        assert_eq!(open, ["pending", "handed_over", "alerted", "acknowledged"]);
    }

    #[test]
    fn six_statuses_end_a_handoff_and_approved_and_executed_are_not_among_them() {
        let terminal: Vec<&str> = Status::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .map(Status::as_str)
            .collect();
        assert_eq!(
            terminal,
            [
                "rejected",
                "resolved",
                "expired",
                "cancelled",
                "failed",
                "rolled_back"
            ]
        );
        assert!(
            Status::ALL
                .iter()
                .all(|s| !(s.is_open() && s.is_terminal()))
        );
    }
}
