//! The handoff operations: submit, read, decide, cancel, report an outcome. Each checks
//! the role, then makes exactly one store call; changes are computed from the state inside
//! the store's transaction, so concurrent requests see each other.

use super::{App, AppError, AppResult, Principal, Role};
use chrono::{DateTime, Utc};
use handoff_domain::audit::NewEntry;
use handoff_domain::canonical::sha256_hex;
use handoff_domain::lifecycle::{Applied, Command, DecisionAction, OutcomeResult, Status};
use handoff_domain::revision::{self, RevisionOf};
use handoff_domain::schedule::Notice;
use handoff_domain::{Handoff, Packet};
use handoff_store::{Change, Idempotency, Refused, Submission, Submitted};
use serde_json::{Value, json};

/// The answer to a submission.
pub enum Submit {
    Created(Handoff),
    Replayed(Handoff),
}

/// What a principal may decide on a handoff now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenDecisions {
    pub actions: Vec<DecisionAction>,
    /// Set when this principal approved the current draft already: the approvals it needs
    /// in all.
    pub approved_already: Option<u32>,
}

impl OpenDecisions {
    pub fn allows(&self, action: DecisionAction) -> bool {
        self.actions.contains(&action)
    }
}

/// A reviewer's decision on a handoff.
#[derive(Debug, Clone)]
pub struct Decision {
    pub action: DecisionAction,
    pub rationale: Option<String>,
    /// The new draft, for `edit`.
    pub draft: Option<Value>,
    /// The id (or label) of the agent's option chosen.
    pub option: Option<String>,
    /// For `escalate`: the team to send it to (default: the team's `escalate_to`).
    pub to_team: Option<String>,
}

impl Decision {
    /// A decision with only its action.
    pub fn new(action: DecisionAction) -> Decision {
        Decision {
            action,
            rationale: None,
            draft: None,
            option: None,
            to_team: None,
        }
    }

    /// The action a front door received as text, or the field error that names them all.
    pub fn parse_action(text: &str) -> AppResult<DecisionAction> {
        DecisionAction::parse(text).ok_or_else(|| {
            AppError::field(
                "action",
                "must be approve, edit, reject, escalate, take_over, resolve, acknowledge or assign",
            )
        })
    }
}

/// The agent's report of what happened when it acted.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub result: OutcomeResult,
    pub detail: Option<String>,
    /// For `executed`: the digest of the draft acted on; another than the approved one
    /// is refused.
    pub draft_sha256: Option<String>,
}

impl Outcome {
    /// The result a front door received as text, or the field error that names them.
    pub fn parse_result(text: &str) -> AppResult<OutcomeResult> {
        OutcomeResult::parse(text)
            .ok_or_else(|| AppError::field("result", "must be executed, failed or rolled_back"))
    }
}

/// One accepted lifecycle step, with what its audit entry records.
struct Step {
    applied: Applied,
    actor: String,
    action: &'static str,
    data: Value,
}

impl Step {
    fn new(applied: Applied, who: &Principal, action: &'static str, mut data: Value) -> Step {
        who.mark(&mut data);
        Step {
            applied,
            actor: who.name.clone(),
            action,
            data,
        }
    }
}

const MAX_IDEMPOTENCY_KEY: usize = 255;

impl App {
    pub async fn submit(
        &self,
        who: &Principal,
        body: Value,
        idempotency_key: Option<&str>,
    ) -> AppResult<Submit> {
        if who.role != Role::Agent {
            return Err(AppError::forbidden("only agents submit handoffs"));
        }
        let idempotency = match idempotency_key {
            Some(k) if k.is_empty() || k.len() > MAX_IDEMPOTENCY_KEY => {
                return Err(AppError::field(
                    "Idempotency-Key",
                    "must be 1 to 255 characters",
                ));
            }
            Some(k) => Some(Idempotency {
                key: k.to_owned(),
                body_sha256: sha256_hex(&body),
            }),
            None => None,
        };
        let packet = Packet::parse(body).map_err(AppError::Invalid)?;
        if let Some(url) = &packet.callback_url {
            crate::notify::ssrf::check_url(url, &self.notifier.settings.callback_allow)
                .map_err(|e| AppError::field("callback_url", e))?;
        }
        let revision = self.revision(who, &packet).await?;
        let now = self.now();
        let policy = self.policy();
        let (in_force, epoch) = self.in_force(&policy, packet.task.as_str());
        let evaluation = policy.evaluate_with(&packet, now, in_force.as_ref());
        let id = crate::ids::handoff_id(now);
        // The request's span names the handoff from here on (see `api::observe`).
        tracing::Span::current().record("handoff", id.as_str());
        let mut h = Handoff::submitted(id, &who.name, &packet, evaluation, now)
            .map_err(|e| AppError::field("packet", e.to_string()))?;
        h.epoch = epoch;
        if let Some((of, revisions)) = revision {
            h.revision_of = Some(of);
            h.revisions = revisions;
        }
        // A monitored task's autonomous handoff is drawn for a spot check once, here.
        if h.is_autonomous()
            && handoff_domain::handoff::drawn_for_spot_check(&h.id, policy.learning.spot_check_rate)
        {
            h.spot_check = Some(handoff_domain::handoff::SpotCheck::default());
        }
        if h.state.status == Status::Approved {
            let (receipt, ed25519) = super::receipts(&self.receipts, &h, now);
            h.receipt = Some(receipt);
            h.receipt_ed25519 = Some(ed25519);
        }
        let mut audit = h.submitted_entry();
        who.mark(&mut audit.data);
        let deliveries = self.notifier.on_submit(&policy, &h);
        let sub = Submission {
            handoff: h,
            audit,
            idempotency,
            deliveries,
        };
        match self.store.submit(sub).await? {
            Submitted::Created(h) => {
                self.metrics.submitted(h.evaluation.level.get());
                let check = self
                    .next_deadline_check
                    .load(std::sync::atomic::Ordering::Relaxed);
                if h.next_deadline()
                    .is_some_and(|d| d.timestamp_millis() < check)
                {
                    self.deadlines.notify_one();
                }
                Ok(Submit::Created(self.complete(*h)))
            }
            Submitted::Replayed(h) => Ok(Submit::Replayed(self.complete(*h))),
            Submitted::KeyReused => Err(AppError::field(
                "Idempotency-Key",
                "this key was used with another body in the last 24 hours",
            )),
        }
    }

    /// What a packet's `supersedes` names (SPEC §2): an earlier handoff of the same agent,
    /// rejected, expired or cancelled (all final, so what is said of it is said once, here),
    /// with the revision's place in its chain; anything else is a 422 naming the field.
    async fn revision(
        &self,
        who: &Principal,
        packet: &Packet,
    ) -> AppResult<Option<(RevisionOf, u32)>> {
        let Some(id) = &packet.supersedes else {
            return Ok(None);
        };
        let old = self.store.get(id).await?;
        if let Some(why) = revision::refusal(&who.name, old.as_ref()) {
            return Err(AppError::field("supersedes", why));
        }
        Ok(old.map(|o| {
            (
                RevisionOf::of(&o, packet.draft.as_ref()),
                o.revisions.saturating_add(1),
            )
        }))
    }

    /// A handoff the caller may see; one it may not see does not exist for it.
    pub async fn visible(&self, who: &Principal, id: &str) -> AppResult<Handoff> {
        match self.store.get(id).await? {
            Some(h) if who.can_see(&h, &self.policy()) => Ok(self.complete(h)),
            _ => Err(AppError::NotFound("such handoff")),
        }
    }

    /// The decisions `who` may take on `h` as it is now (what a page shows as forms, a
    /// chat message as buttons), and, when approving is not among them although the
    /// handoff is pending, why.
    pub fn decisions_open_to(&self, who: &Principal, h: &Handoff) -> OpenDecisions {
        use DecisionAction as A;
        let s = &h.state;
        let mut open = OpenDecisions::default();
        if !who.decides() || !who.can_see(h, &self.policy()) {
            return open;
        }
        open.actions = match s.status {
            Status::Pending => {
                let current = s.current_draft_version();
                let mine = s
                    .approvals
                    .iter()
                    .any(|a| a.by == who.name && a.draft_version == current);
                if mine {
                    open.approved_already = Some(s.approvals_required);
                    vec![A::Edit, A::Reject, A::Escalate, A::TakeOver]
                } else {
                    vec![A::Approve, A::Edit, A::Reject, A::Escalate, A::TakeOver]
                }
            }
            Status::Alerted => vec![A::Acknowledge],
            Status::HandedOver | Status::Acknowledged if s.owner() == Some(who.name.as_str()) => {
                vec![A::Resolve]
            }
            Status::HandedOver | Status::Acknowledged => vec![A::Assign, A::Resolve],
            _ => Vec::new(),
        };
        open
    }

    /// The teams `who` works with: a reviewer's own, every team for the others.
    pub fn teams_of(&self, who: &Principal) -> Vec<String> {
        let policy = self.policy();
        match who.role {
            Role::Reviewer => who.teams(&policy),
            _ => policy.teams.keys().cloned().collect(),
        }
    }

    /// Decides `id` as `who`, on the version `if_match` when given.
    pub async fn decide(
        &self,
        who: &Principal,
        id: &str,
        if_match: Option<u64>,
        req: Decision,
    ) -> AppResult<Handoff> {
        if who.role == Role::Agent {
            return Err(AppError::forbidden("agents do not decide handoffs"));
        }
        let action = req.action;
        let policy = self.policy();
        if let Some(team) = &req.to_team
            && !policy.teams.contains_key(team)
        {
            return Err(AppError::field(
                "to_team",
                format!("no team named {team:?}"),
            ));
        }
        let who = who.clone();
        let h = self
            .transition(id, if_match, move |h, now| {
                if !who.can_see(h, &policy) {
                    return Err(Refused::NotFound);
                }
                let to_team = match action {
                    DecisionAction::Escalate => req.to_team.clone().or_else(|| {
                        policy
                            .teams
                            .get(&h.state.assigned_team)
                            .and_then(|t| t.escalate_to.clone())
                    }),
                    _ => None,
                };
                let cmd = Command::Decide {
                    by: who.name.clone(),
                    action,
                    rationale: req.rationale.clone(),
                    draft: req.draft.clone(),
                    option: req.option.clone(),
                    to_team,
                };
                let applied = h.state.apply(cmd, now)?;
                let data = json!({
                    "action": action,
                    "rationale": req.rationale,
                    "option": req.option,
                    "to_team": applied.to_team,
                    "draft_sha256": applied.state.current_draft_sha256(),
                    "from_status": applied.from,
                    "to_status": applied.to,
                });
                Ok(Step::new(applied, &who, "handoff.decision", data))
            })
            .await?;
        // A person ended it: counted for the metrics' time to decision.
        let ended = match (action, h.state.status) {
            (DecisionAction::Approve | DecisionAction::Edit, Status::Approved) => {
                Some(if h.state.current_draft_version() == 1 {
                    "unchanged"
                } else {
                    "edited"
                })
            }
            (DecisionAction::Reject, Status::Rejected) => Some("rejected"),
            (DecisionAction::TakeOver, Status::HandedOver) => Some("taken_over"),
            _ => None,
        };
        if let Some(kind) = ended {
            let seconds = (h.updated_at - h.created_at).num_milliseconds() as f64 / 1e3;
            self.metrics
                .decided(&h.task, &h.state.assigned_team, kind, seconds);
        }
        Ok(h)
    }

    /// The agent withdraws its pending handoff.
    pub async fn cancel(&self, who: &Principal, id: &str) -> AppResult<Handoff> {
        let who = self.agent_only(who, "cancel")?;
        self.transition(id, None, move |h, now| {
            if h.agent() != who.name {
                return Err(Refused::NotFound);
            }
            let applied = h.state.apply(
                Command::Cancel {
                    by: who.name.clone(),
                },
                now,
            )?;
            let data = json!({"from_status": applied.from, "to_status": applied.to});
            Ok(Step::new(applied, &who, "handoff.cancelled", data))
        })
        .await
    }

    /// The agent reports what happened when it acted on an approval.
    pub async fn outcome(&self, who: &Principal, id: &str, req: Outcome) -> AppResult<Handoff> {
        let who = self.agent_only(who, "report outcomes")?;
        let result = req.result;
        let h = self
            .transition(id, None, move |h, now| {
                if h.agent() != who.name {
                    return Err(Refused::NotFound);
                }
                let cmd = Command::Outcome {
                    by: who.name.clone(),
                    result,
                    detail: req.detail.clone(),
                    draft_sha256: req.draft_sha256.clone(),
                };
                let applied = h.state.apply(cmd, now)?;
                let data = json!({
                    "result": result,
                    "detail": req.detail,
                    "draft_sha256": req.draft_sha256,
                    "from_status": applied.from,
                    "to_status": applied.to,
                });
                Ok(Step::new(applied, &who, "handoff.outcome", data))
            })
            .await?;
        // An autonomous handoff's outcome is an item of its task's monitor.
        if h.is_autonomous() {
            self.watch(&h).await?;
        }
        Ok(h)
    }

    fn agent_only(&self, who: &Principal, what: &str) -> AppResult<Principal> {
        if who.role == Role::Agent {
            Ok(who.clone())
        } else {
            Err(AppError::forbidden(format!(
                "only the submitting agent may {what}"
            )))
        }
    }

    /// Runs one lifecycle step inside the store: `step` sees the handoff as it is in the
    /// transaction and returns the applied command and its audit action.
    async fn transition<F>(&self, id: &str, if_match: Option<u64>, step: F) -> AppResult<Handoff>
    where
        F: FnOnce(&Handoff, DateTime<Utc>) -> Result<Step, Refused> + Send + 'static,
    {
        let now = self.now();
        let receipts = self.receipts.clone();
        let notifier = self.notifier.clone();
        let policy = self.policy();
        let f = Box::new(move |h: &Handoff| {
            let Step {
                applied,
                actor,
                action,
                data,
            } = step(h, now)?;
            let to_team = applied.to_team.clone();
            let audit = NewEntry {
                at: now,
                actor,
                action: action.to_owned(),
                handoff_id: Some(h.id.clone()),
                data,
            };
            let became_approved = applied.became_approved();
            let mut next = h.clone();
            next.state = applied.state;
            next.updated_at = now;
            if became_approved {
                let (receipt, ed25519) = super::receipts(&receipts, &next, now);
                next.receipt = Some(receipt);
                next.receipt_ed25519 = Some(ed25519);
            }
            // The team it was escalated to hears of it (`v<version>` is unique).
            let cause = format!("v{}", next.version());
            let notice = to_team
                .as_deref()
                .map(|t| (t, Notice::Routed, cause.as_str()));
            let deliveries = notifier.on_change(&policy, h, &next, action, notice, now);
            Ok(Change {
                handoff: next,
                audit,
                deliveries,
            })
        });
        let id = id.to_owned();
        let h = self.store.update(id, if_match, f).await??;
        Ok(self.complete(h))
    }
}
