//! Who is calling: a key's name and role. Identities come from authentication alone;
//! team membership comes from the active policy's `members`.

use handoff_domain::{Handoff, Policy};

pub use handoff_domain::Role;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
    /// The front door the request came through: the audit records it (SPEC §9's `via`).
    pub via: Via,
}

/// A front door, as the audit names it: `web`, `mcp`, `slack`; the API's own requests
/// carry none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Via {
    #[default]
    Api,
    Web,
    Mcp,
    Slack,
}

impl Via {
    /// The word in the audit's `data.via`, `None` for the API.
    pub fn audit_word(self) -> Option<&'static str> {
        match self {
            Via::Api => None,
            Via::Web => Some("web"),
            Via::Mcp => Some("mcp"),
            Via::Slack => Some("slack"),
        }
    }
}

impl Principal {
    /// A principal of the API (`via` the API).
    pub fn new(name: impl Into<String>, role: Role) -> Principal {
        Principal {
            name: name.into(),
            role,
            via: Via::Api,
        }
    }

    /// The same principal coming through another front door.
    pub fn through(mut self, via: Via) -> Principal {
        self.via = via;
        self
    }

    /// Adds `via` to an audit entry's data when the request came through another door
    /// than the API.
    pub(super) fn mark(&self, data: &mut serde_json::Value) {
        if let (Some(word), Some(map)) = (self.via.audit_word(), data.as_object_mut()) {
            map.insert("via".to_owned(), serde_json::Value::from(word));
        }
    }

    /// The teams this principal reviews for: those whose `members` name it.
    pub fn teams(&self, policy: &Policy) -> Vec<String> {
        policy
            .teams
            .iter()
            .filter(|(_, t)| t.members.iter().any(|m| m == &self.name))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Whether this principal may see `h` at all (if not, it does not exist for them).
    pub fn can_see(&self, h: &Handoff, policy: &Policy) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Agent => h.agent() == self.name,
            Role::Reviewer => self.reviews(&h.state.assigned_team, policy),
        }
    }

    /// Admins only: anyone else is refused with `what` they may not do.
    pub(super) fn require_admin(&self, what: &str) -> Result<(), super::AppError> {
        if self.role == Role::Admin {
            Ok(())
        } else {
            Err(super::AppError::forbidden(format!("only admins {what}")))
        }
    }

    /// Whether this principal decides handoffs at all (reviewers and admins do).
    pub fn decides(&self) -> bool {
        self.role != Role::Agent
    }

    pub fn reviews(&self, team: &str, policy: &Policy) -> bool {
        policy
            .teams
            .get(team)
            .is_some_and(|t| t.members.iter().any(|m| m == &self.name))
    }
}
