//! The handoff resource of SPEC §3, rendered from the stored record by borrowing (no copy
//! of the packet on the way out), and its schema for the OpenAPI document.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use handoff_domain::handoff::SpotCheck;
use handoff_domain::lifecycle::{Approval, Decision, DraftVersion, Outcome, Status};
use handoff_domain::revision::RevisionOf;
use handoff_domain::{Handoff, Level, Reason, Risk, Span};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// A handoff: the agent's packet, the policy's evaluation, where it stands.
#[derive(Serialize, ToSchema)]
#[schema(as = Handoff)]
pub struct Resource<'a> {
    /// `hnd_` and a ULID.
    id: &'a str,
    /// Grows by one with every change; `ETag` and `If-Match` carry it.
    version: u64,
    status: Status,
    task: &'a str,
    /// The name of the agent's key.
    agent: &'a str,
    /// The packet as the agent sent it (SPEC §2).
    #[schema(value_type = Object)]
    packet: &'a Value,
    evaluation: EvaluationView<'a>,
    assigned_team: &'a str,
    approvals: &'a [Approval],
    decision: Option<&'a Decision>,
    draft_versions: &'a [DraftVersion],
    /// The draft as approved (after any edit), once approved.
    #[schema(value_type = Option<Value>)]
    approved_draft: Option<&'a Value>,
    outcome: Option<&'a Outcome>,
    /// The approval receipt (a compact JWS, `alg: "EdDSA"`), once approved.
    receipt: Option<&'a str>,
    /// The same receipt under RFC 9864's fully specified algorithm name (`alg:
    /// "Ed25519"`; same payload, same key), once approved. `null` for handoffs approved
    /// before the server offered it.
    receipt_ed25519: Option<&'a str>,
    /// Set when this autonomous handoff was drawn for a spot check (SPEC §7); `verdict`
    /// is `null` until a reviewer gives one.
    spot_check: Option<&'a SpotCheck>,
    /// Set when this handoff supersedes an earlier one of the same agent (its packet's
    /// `supersedes`): that handoff's id and final status, the rationale of the decision
    /// that ended it (`null` when no person decided), and an RFC 6902 JSON Patch from its
    /// draft to this one's.
    revision_of: Option<&'a RevisionOf>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// What the policy decided when the handoff was submitted.
#[derive(Serialize, ToSchema)]
#[schema(as = HandoffEvaluation)]
struct EvaluationView<'a> {
    level: Level,
    risk: Risk,
    route: &'a str,
    approvals_required: u32,
    #[schema(value_type = String, example = "4h")]
    sla: Span,
    #[schema(value_type = String, example = "3d")]
    expire_after: Span,
    sla_due_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    flags: &'a [String],
    reasons: &'a [Reason],
    policy_version: &'a str,
}

/// One page of handoffs.
#[derive(Serialize, ToSchema)]
pub struct HandoffPage<'a> {
    pub items: Vec<Resource<'a>>,
    /// Pass it as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

pub fn resource(h: &Handoff) -> Resource<'_> {
    let e = &h.evaluation;
    let s = &h.state;
    Resource {
        id: &h.id,
        version: s.version,
        status: s.status,
        task: &h.task,
        agent: &s.agent,
        packet: &h.packet,
        evaluation: EvaluationView {
            level: e.level,
            risk: e.risk,
            route: &e.route,
            approvals_required: e.approvals_required,
            sla: e.sla,
            expire_after: e.expire_after,
            sla_due_at: e.sla_due_at,
            expires_at: e.expires_at,
            flags: &e.flags,
            reasons: &e.reasons,
            policy_version: &e.policy_version,
        },
        assigned_team: &s.assigned_team,
        approvals: &s.approvals,
        decision: s.decision.as_ref(),
        draft_versions: &s.draft_versions,
        approved_draft: s.approved_draft(),
        outcome: s.outcome.as_ref(),
        receipt: h.receipt.as_deref(),
        receipt_ed25519: h.receipt_ed25519.as_deref(),
        spot_check: h.spot_check.as_ref(),
        revision_of: h.revision_of.as_ref(),
        created_at: h.created_at,
        updated_at: h.updated_at,
    }
}

/// The resource with its `ETag: "<version>"`.
pub fn respond(status: StatusCode, h: &Handoff) -> Response {
    // Serialised once into a buffer the size of a typical resource (`axum::Json` starts
    // at 128 bytes and copies as it grows).
    let mut body = Vec::with_capacity(4096);
    let mut res = match serde_json::to_writer(&mut body, &resource(h)) {
        Ok(()) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        // A record of plain data always serialises; this is a bug, not the caller's fault.
        Err(e) => {
            tracing::error!(error = %e, "a handoff resource did not serialise");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    if let Ok(tag) = HeaderValue::from_str(&format!("\"{}\"", h.state.version)) {
        res.headers_mut().insert(header::ETAG, tag);
    }
    res
}
