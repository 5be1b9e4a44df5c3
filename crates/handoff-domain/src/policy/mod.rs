//! The policy (SPEC §5): what the admin wrote, compiled once into the form evaluation
//! needs. A `Policy` exists only if the whole file is valid: loading never half-loads.

mod cel_check;
mod cel_input;
mod evaluate;
mod file;
mod load;
mod selftest;

pub use evaluate::{Evaluation, InForce, Reason, rubric_floor};
pub use load::{PolicyError, PolicyErrors};
pub use selftest::TestOutcome;

use crate::duration::Span;
use crate::level::{Level, Risk, Rubric};
use crate::packet::Packet;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The example policy built into the binary, used when the server is given none.
pub const EXAMPLE_POLICY: &str = include_str!("../../policies/example.toml");

pub struct Policy {
    text: String,
    version: String,
    pub defaults: Defaults,
    pub risk_levels: RiskTable,
    pub teams: BTreeMap<String, Team>,
    /// `[people.NAME]`: reviewers' identities in other tools, by principal name.
    pub people: BTreeMap<String, Person>,
    pub tasks: BTreeMap<String, TaskPolicy>,
    pub rules: Vec<Rule>,
    pub learning: Learning,
    pub tests: Vec<PolicyTest>,
    /// Shared by every evaluation: building the CEL standard library costs ~25 µs.
    cel_env: Arc<cel::Env>,
    /// What the conditions read of the packet: only that is converted for CEL.
    cel_needs: cel_check::Needs,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("version", &self.version)
            .field("tasks", &self.tasks.len())
            .field("rules", &self.rules.len())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct Defaults {
    pub level: Level,
    pub confidence_threshold: f64,
    pub sla: Span,
    pub expire_after: Span,
    pub approvals: u32,
    pub route: String,
}

/// The minimum level for each risk.
#[derive(Debug, Clone, Copy)]
pub struct RiskTable {
    pub low: Level,
    pub medium: Level,
    pub high: Level,
}

impl RiskTable {
    pub fn floor(&self, risk: Risk) -> Level {
        match risk {
            Risk::Low => self.low,
            Risk::Medium => self.medium,
            Risk::High => self.high,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Team {
    pub members: Vec<String>,
    pub escalate_to: Option<String>,
    pub notify: Vec<NotifyTarget>,
}

/// A reviewer's identities in other tools (`[people.NAME]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Person {
    /// The Slack user id (`U024BE7LH`) whose button presses decide as this person.
    pub slack: Option<String>,
}

/// Where a team hears about its handoffs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyTarget {
    Webhook(String),
    Slack(String),
    Email(String),
}

#[derive(Debug, Clone)]
pub struct TaskPolicy {
    pub description: Option<String>,
    pub level: Level,
    pub route: Option<String>,
    pub sla: Option<Span>,
    pub expire_after: Option<Span>,
    pub approvals: Option<u32>,
    pub confidence_threshold: Option<f64>,
    /// Floors for the agent's rubric: the agent may claim more risk, never less.
    pub rubric: Rubric,
}

#[derive(Debug)]
pub struct Rule {
    pub name: String,
    pub when: String,
    pub level: Option<Level>,
    pub approvals: Option<u32>,
    pub route: Option<String>,
    pub add_flags: Vec<String>,
    program: cel::Program,
}

#[derive(Debug, Clone)]
pub struct Learning {
    pub window: Span,
    pub min_decisions: u32,
    pub min_unchanged_rate: f64,
    pub min_lower_bound: f64,
    pub monitor_window: Span,
    pub spot_check_rate: f64,
    pub max_error_rate: f64,
    /// The fast trip: this many errors among the last `trip_window` checked items of one
    /// stream demote a task. At least 1 and at most `trip_window`.
    pub trip_errors: u32,
    pub trip_window: u32,
}

#[derive(Debug, Clone)]
pub struct PolicyTest {
    pub name: String,
    pub line: usize,
    pub packet: Packet,
    pub expect: Expect,
}

/// The fields of an evaluation a policy test pins down; `None` means "not checked".
#[derive(Debug, Clone, Default)]
pub struct Expect {
    pub level: Option<Level>,
    pub risk: Option<Risk>,
    pub route: Option<String>,
    pub approvals_required: Option<u32>,
    /// Each of these must be among the evaluation's flags.
    pub flags: Option<Vec<String>>,
    pub sla: Option<Span>,
    pub expire_after: Option<Span>,
}

impl Policy {
    /// Parses and checks a policy file; on failure, every error found, with its position.
    pub fn load(text: &str) -> Result<Policy, PolicyErrors> {
        load::load(text)
    }

    /// The built-in example policy.
    pub fn example() -> Policy {
        match load::load(EXAMPLE_POLICY) {
            Ok(p) => p,
            // A unit test loads it; a broken example cannot ship.
            Err(e) => panic!("the built-in example policy is invalid: {e}"),
        }
    }

    /// The text this policy was loaded from.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// `sha256:` + the hex digest of the text.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The person whose `[people.NAME] slack` is `user` (a Slack user id), if any.
    pub fn person_by_slack(&self, user: &str) -> Option<&str> {
        self.people
            .iter()
            .find(|(_, p)| p.slack.as_deref() == Some(user))
            .map(|(name, _)| name.as_str())
    }

    /// The task's base level, or `None` for a task the policy does not list.
    pub fn task_level(&self, task: &str) -> Option<Level> {
        self.tasks.get(task).map(|t| t.level)
    }
}

/// The version string of a policy text.
pub fn policy_version(text: &str) -> String {
    use sha2::{Digest, Sha256};
    format!(
        "sha256:{}",
        crate::canonical::hex(&Sha256::digest(text.as_bytes()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_policy_loads() {
        let p = Policy::example();
        assert!(p.version().starts_with("sha256:") && p.version().len() == 71);
    }

    #[test]
    fn a_policy_is_shareable_between_threads() {
        fn is_send_sync<T: Send + Sync>() {}
        is_send_sync::<Policy>();
    }
}
