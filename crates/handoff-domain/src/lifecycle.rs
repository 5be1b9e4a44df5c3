//! The handoff state machine (SPEC §3) as a pure function: a [`Lifecycle`] and a
//! [`Command`] give the next state or the reason the command is refused.
//!
//! The caller (the store, inside a transaction) loads the state, applies one command with
//! the current time, and saves the result if its version is still the one it read. Who may
//! send which command (roles, team membership) is the HTTP layer's business; the rules
//! here are the ones that hold whoever asks: the agent never approves its own handoff,
//! one reviewer counts once, expiry never approves.

mod types;

#[cfg(test)]
mod tests;

pub use types::{
    Approval, Decision, DecisionAction, DraftVersion, Outcome, OutcomeResult, Status,
    TransitionError,
};

use crate::canonical::sha256_hex;
use crate::level::Level;
use crate::shared_json::SharedJson;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeSet;

/// The `by` of decisions and draft versions made by the policy and the agent.
pub const BY_POLICY: &str = "policy";
pub const BY_AGENT: &str = "agent";

/// Where a handoff starts, by level: 1 approved by policy, 2 pending, 3 handed over,
/// 4 alerted.
pub fn initial_status(level: Level) -> Status {
    match level.get() {
        1 => Status::Approved,
        2 => Status::Pending,
        3 => Status::HandedOver,
        _ => Status::Alerted,
    }
}

/// The decision-relevant state of one handoff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lifecycle {
    pub status: Status,
    /// Starts at 1 and grows by exactly 1 per accepted command (the resource's `ETag`).
    pub version: u64,
    /// The submitting agent's principal name.
    pub agent: String,
    pub assigned_team: String,
    pub approvals_required: u32,
    /// The approvals that count: all of them are of the current draft version.
    pub approvals: Vec<Approval>,
    /// Version 1 is the agent's; every `edit` adds one.
    pub draft_versions: Vec<DraftVersion>,
    /// Shared by the state's copies: a draft is replaced by an edit, never changed.
    pub current_draft: Option<SharedJson>,
    /// The last decision taken, by a reviewer or by the policy.
    pub decision: Option<Decision>,
    pub outcome: Option<Outcome>,
}

/// Something that happens to a handoff after submission.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// A reviewer's decision. `to_team` is the escalation target, already resolved by the
    /// caller: the reviewer's choice, else the assigned team's `escalate_to`.
    Decide {
        by: String,
        action: DecisionAction,
        rationale: Option<String>,
        draft: Option<Value>,
        option: Option<String>,
        to_team: Option<String>,
    },
    /// The agent withdraws its handoff.
    Cancel { by: String },
    /// The agent reports what happened when it acted.
    Outcome {
        by: String,
        result: OutcomeResult,
        detail: Option<String>,
        draft_sha256: Option<String>,
    },
    /// `expires_at` has passed.
    Expire,
    /// The SLA passed while pending: the handoff moves up the chain to `to_team`. Not a
    /// decision: the last decision stays what it was.
    SlaEscalate { to_team: String },
}

/// An accepted command: the new state and what changed, for the audit entry and
/// notifications.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub state: Lifecycle,
    pub from: Status,
    pub to: Status,
    /// The team the handoff was escalated to, for an `escalate`.
    pub to_team: Option<String>,
}

impl Applied {
    /// Whether this command is the one that approved the handoff (time to issue a receipt).
    pub fn became_approved(&self) -> bool {
        self.from != Status::Approved && self.to == Status::Approved
    }
}

/// What a decision carries besides its action.
struct Asked<'a> {
    rationale: Option<&'a str>,
    draft: Option<Value>,
    option: Option<&'a str>,
    to_team: Option<String>,
}

impl Lifecycle {
    /// The state of a handoff just submitted at `now` with the policy's `level`.
    pub fn submitted(
        agent: impl Into<String>,
        team: impl Into<String>,
        level: Level,
        approvals_required: u32,
        draft: Option<Value>,
        now: DateTime<Utc>,
    ) -> Lifecycle {
        let status = initial_status(level);
        let decision = (status == Status::Approved).then(|| Decision {
            action: DecisionAction::Approve,
            by: BY_POLICY.to_owned(),
            at: now,
            rationale: None,
            option: None,
        });
        Lifecycle {
            status,
            version: 1,
            agent: agent.into(),
            assigned_team: team.into(),
            approvals_required,
            approvals: Vec::new(),
            draft_versions: vec![DraftVersion {
                version: 1,
                by: BY_AGENT.to_owned(),
                sha256: draft.as_ref().map(sha256_hex),
            }],
            current_draft: draft.map(SharedJson::new),
            decision,
            outcome: None,
        }
    }

    /// The number of the current draft version (1 before any edit).
    pub fn current_draft_version(&self) -> u32 {
        self.draft_versions.last().map_or(1, |d| d.version)
    }

    /// The SHA-256 of the current draft, if there is a draft.
    pub fn current_draft_sha256(&self) -> Option<&str> {
        self.draft_versions.last().and_then(|d| d.sha256.as_deref())
    }

    /// The draft that was approved, once the handoff has been approved (and acted on).
    pub fn approved_draft(&self) -> Option<&Value> {
        let was_approved = matches!(
            self.status,
            Status::Approved | Status::Executed | Status::Failed | Status::RolledBack
        );
        if was_approved {
            self.current_draft.as_deref()
        } else {
            None
        }
    }

    /// The distinct reviewers whose approval of the current draft version counts, sorted.
    pub fn approvers(&self) -> Vec<&str> {
        let current = self.current_draft_version();
        let set: BTreeSet<&str> = self
            .approvals
            .iter()
            .filter(|a| a.draft_version == current && a.by != self.agent)
            .map(|a| a.by.as_str())
            .collect();
        set.into_iter().collect()
    }

    /// Who is doing the work of a handed-over or acknowledged handoff: whoever took it
    /// over, acknowledged it or assigned it to themselves last; `None` while it waits for
    /// someone (a level-3 handoff as the policy handed it over).
    pub fn owner(&self) -> Option<&str> {
        if !matches!(self.status, Status::HandedOver | Status::Acknowledged) {
            return None;
        }
        self.decision
            .as_ref()
            .filter(|d| {
                matches!(
                    d.action,
                    DecisionAction::TakeOver | DecisionAction::Acknowledge | DecisionAction::Assign
                )
            })
            .map(|d| d.by.as_str())
    }

    /// Approvals needed: a handoff that waits for people waits for at least one.
    fn approvals_needed(&self) -> usize {
        self.approvals_required.max(1) as usize
    }

    /// Applies `cmd` at `now`. Checks run in the order a client can act on: a malformed
    /// command (422), then a forbidden one (403), then one the state does not allow (409).
    pub fn apply(&self, cmd: Command, now: DateTime<Utc>) -> Result<Applied, TransitionError> {
        let from = self.status;
        let mut next = self.clone();
        let mut to_team = None;
        match cmd {
            Command::Decide {
                by,
                action,
                rationale,
                draft,
                option,
                to_team: target,
            } => {
                let asked = Asked {
                    rationale: rationale.as_deref(),
                    draft,
                    option: option.as_deref(),
                    to_team: target,
                };
                to_team = next.decide(&by, action, asked, now)?;
                next.decision = Some(Decision {
                    action,
                    by,
                    at: now,
                    rationale: rationale.filter(|r| !r.trim().is_empty()),
                    option,
                });
            }
            Command::Cancel { by } => {
                if by != self.agent {
                    return Err(TransitionError::forbidden(
                        "only the submitting agent can cancel a handoff",
                    ));
                }
                next.status = self.require(&[Status::Pending], "cancel", Status::Cancelled)?;
            }
            Command::Outcome {
                by,
                result,
                detail,
                draft_sha256,
            } => {
                if by != self.agent {
                    return Err(TransitionError::forbidden(
                        "only the submitting agent reports an outcome",
                    ));
                }
                let (allowed, to) = match result {
                    OutcomeResult::Executed => (Status::Approved, Status::Executed),
                    OutcomeResult::Failed => (Status::Approved, Status::Failed),
                    OutcomeResult::RolledBack => (Status::Executed, Status::RolledBack),
                };
                next.status = self.require(&[allowed], &format!("report {result} for"), to)?;
                if result == OutcomeResult::Executed {
                    self.check_quoted_draft(draft_sha256.as_deref())?;
                }
                next.outcome = Some(Outcome {
                    result,
                    detail,
                    at: now,
                });
            }
            Command::Expire => {
                next.status = self.require(&[Status::Pending], "expire", Status::Expired)?;
            }
            Command::SlaEscalate { to_team: team } => {
                self.require(&[Status::Pending], "escalate", Status::Pending)?;
                next.assigned_team.clone_from(&team);
                to_team = Some(team);
            }
        }
        next.version = self.version + 1;
        let to = next.status;
        Ok(Applied {
            state: next,
            from,
            to,
            to_team,
        })
    }

    /// A reviewer's decision, applied to `self` (a copy). Returns the escalation target.
    fn decide(
        &mut self,
        by: &str,
        action: DecisionAction,
        asked: Asked<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, TransitionError> {
        let Asked {
            rationale,
            draft,
            option,
            to_team,
        } = asked;
        let pending = [Status::Pending];
        match action {
            DecisionAction::Approve => {
                // Approving "with" other content would approve what nobody stored.
                if let Some(d) = &draft
                    && Some(sha256_hex(d).as_str()) != self.current_draft_sha256()
                {
                    return Err(TransitionError::invalid(
                        "draft",
                        "approve approves the current draft; use edit to change it",
                    ));
                }
                self.refuse_agent(by)?;
                self.require(&pending, "approve", Status::Pending)?;
                if self.approvers().contains(&by) {
                    return Err(TransitionError::Conflict {
                        from: self.status,
                        message: format!(
                            "{by} has already approved draft version {}",
                            self.current_draft_version()
                        ),
                    });
                }
                // Four eyes agree on one course: approvals of another option (or of
                // none) approved something else, as approvals of another draft did.
                self.approvals.retain(|a| a.option.as_deref() == option);
                self.approve(by, option, now);
            }
            DecisionAction::Edit => {
                let Some(draft) = draft else {
                    return Err(TransitionError::invalid(
                        "draft",
                        "edit needs the new draft",
                    ));
                };
                self.refuse_agent(by)?;
                self.require(&pending, "edit", Status::Pending)?;
                let version = self.current_draft_version() + 1;
                self.draft_versions.push(DraftVersion {
                    version,
                    by: by.to_owned(),
                    sha256: Some(sha256_hex(&draft)),
                });
                self.current_draft = Some(SharedJson::new(draft));
                // Earlier approvals were of other content; only the editor's now counts.
                self.approvals.clear();
                self.approve(by, option, now);
            }
            DecisionAction::Reject => {
                require_rationale(rationale, "reject")?;
                self.status = self.require(&pending, "reject", Status::Rejected)?;
            }
            DecisionAction::Escalate => {
                require_rationale(rationale, "escalate")?;
                // Where to escalate depends on the team the handoff is at, which only
                // matters while it is pending: other states refuse first (409).
                self.require(&pending, "escalate", Status::Pending)?;
                let Some(team) = to_team.filter(|t| !t.trim().is_empty()) else {
                    return Err(TransitionError::invalid(
                        "to_team",
                        format!(
                            "team {} has no escalate_to; name a team",
                            self.assigned_team
                        ),
                    ));
                };
                self.assigned_team.clone_from(&team);
                return Ok(Some(team));
            }
            DecisionAction::TakeOver => {
                self.status = self.require(&pending, "take over", Status::HandedOver)?;
            }
            DecisionAction::Resolve => {
                let from = [Status::HandedOver, Status::Acknowledged];
                self.status = self.require(&from, "resolve", Status::Resolved)?;
            }
            DecisionAction::Acknowledge => {
                let from = [Status::Alerted];
                self.status = self.require(&from, "acknowledge", Status::Acknowledged)?;
            }
            DecisionAction::Assign => {
                let from = [Status::HandedOver, Status::Acknowledged];
                self.status = self.require(&from, "assign", self.status)?;
                if self.owner() == Some(by) {
                    return Err(TransitionError::Conflict {
                        from: self.status,
                        message: format!("{by} owns it already"),
                    });
                }
            }
        }
        Ok(None)
    }

    /// Records `by`'s approval of the current version with `option`; approved once enough
    /// people agree.
    fn approve(&mut self, by: &str, option: Option<&str>, now: DateTime<Utc>) {
        self.approvals.push(Approval {
            by: by.to_owned(),
            at: now,
            draft_version: self.current_draft_version(),
            option: option.map(str::to_owned),
        });
        if self.approvers().len() >= self.approvals_needed() {
            self.status = Status::Approved;
        }
    }

    /// `to` if the handoff is in one of the `from` statuses, else a 409.
    fn require(&self, from: &[Status], what: &str, to: Status) -> Result<Status, TransitionError> {
        if from.contains(&self.status) {
            Ok(to)
        } else {
            Err(TransitionError::Conflict {
                from: self.status,
                message: format!("cannot {what} a handoff that is {}", self.status),
            })
        }
    }

    fn refuse_agent(&self, by: &str) -> Result<(), TransitionError> {
        if by == self.agent {
            Err(TransitionError::forbidden(
                "the submitting agent never approves its own handoff",
            ))
        } else {
            Ok(())
        }
    }

    /// An `executed` outcome that quotes a digest must quote the approved draft's.
    fn check_quoted_draft(&self, quoted: Option<&str>) -> Result<(), TransitionError> {
        let Some(quoted) = quoted else {
            return Ok(());
        };
        let approved = self.current_draft_sha256();
        if approved.is_some_and(|a| a.eq_ignore_ascii_case(quoted)) {
            return Ok(());
        }
        Err(TransitionError::Conflict {
            from: self.status,
            message: match approved {
                Some(a) => format!("draft_sha256 {quoted} is not the approved draft's ({a})"),
                None => format!("draft_sha256 {quoted} quoted, but no draft was approved"),
            },
        })
    }
}

fn require_rationale(rationale: Option<&str>, what: &str) -> Result<(), TransitionError> {
    match rationale {
        Some(r) if !r.trim().is_empty() => Ok(()),
        _ => Err(TransitionError::invalid(
            "rationale",
            format!("{what} needs a rationale"),
        )),
    }
}
