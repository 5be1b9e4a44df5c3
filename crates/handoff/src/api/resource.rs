//! The handoff resource of SPEC §3, rendered from the stored record.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use handoff_domain::Handoff;
use serde_json::{Value, json};

pub fn resource(h: &Handoff) -> Value {
    let e = &h.evaluation;
    let s = &h.state;
    json!({
        "id": h.id,
        "version": s.version,
        "status": s.status,
        "task": h.task,
        "agent": s.agent,
        "packet": h.packet,
        "evaluation": {
            "level": e.level,
            "risk": e.risk,
            "route": e.route,
            "approvals_required": e.approvals_required,
            "sla": e.sla,
            "expire_after": e.expire_after,
            "sla_due_at": e.sla_due_at,
            "expires_at": e.expires_at,
            "flags": e.flags,
            "reasons": e.reasons,
            "policy_version": e.policy_version,
        },
        "assigned_team": s.assigned_team,
        "approvals": s.approvals,
        "decision": s.decision,
        "draft_versions": s.draft_versions,
        "approved_draft": s.approved_draft(),
        "outcome": s.outcome,
        "receipt": h.receipt,
        "created_at": h.created_at,
        "updated_at": h.updated_at,
    })
}

/// The resource with its `ETag: "<version>"`.
pub fn respond(status: StatusCode, h: &Handoff) -> Response {
    let mut res = (status, axum::Json(resource(h))).into_response();
    if let Ok(tag) = HeaderValue::from_str(&format!("\"{}\"", h.state.version)) {
        res.headers_mut().insert(header::ETAG, tag);
    }
    res
}
