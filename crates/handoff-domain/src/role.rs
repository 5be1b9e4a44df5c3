//! What a key may do: an agent submits and follows its own handoffs, a reviewer decides
//! those routed to its teams, an admin manages keys, the policy and deliveries. Stored
//! with each API key, as the snake_case word.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Role {
    Agent,
    Reviewer,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Agent, Role::Reviewer, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_is_its_snake_case_word_in_json_text_and_parse() {
        for role in Role::ALL {
            let json = serde_json::to_value(role).expect("a role serialises");
            assert_eq!(json, serde_json::json!(role.as_str()));
            assert_eq!(role.to_string(), role.as_str());
            assert_eq!(Role::parse(role.as_str()), Some(role));
            let back: Role = serde_json::from_value(json).expect("a role deserialises");
            assert_eq!(back, role);
        }
        assert_eq!(Role::parse("Admin"), None);
        assert_eq!(Role::parse("superuser"), None);
    }
}
