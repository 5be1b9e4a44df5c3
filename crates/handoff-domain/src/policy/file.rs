//! The policy file exactly as written: serde types over the TOML, with spans kept on
//! every value a later check may need to point at. Nothing here is validated yet.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

type S<T> = Spanned<T>;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    #[serde(default)]
    pub defaults: Option<S<RawDefaults>>,
    #[serde(default)]
    pub risk: RawRisk,
    #[serde(default)]
    pub teams: BTreeMap<S<String>, RawTeam>,
    #[serde(default)]
    pub people: BTreeMap<S<String>, RawPerson>,
    #[serde(default)]
    pub tasks: BTreeMap<S<String>, RawTask>,
    #[serde(default)]
    pub rules: Vec<S<RawRule>>,
    #[serde(default)]
    pub learning: RawLearning,
    #[serde(default)]
    pub tests: Vec<S<RawTest>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDefaults {
    pub level: Option<S<i64>>,
    pub confidence_threshold: Option<S<f64>>,
    pub sla: Option<S<String>>,
    pub expire_after: Option<S<String>>,
    pub approvals: Option<S<i64>>,
    pub route: Option<S<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRisk {
    pub low: Option<S<i64>>,
    pub medium: Option<S<i64>>,
    pub high: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTeam {
    #[serde(default)]
    pub members: Vec<S<String>>,
    pub escalate_to: Option<S<String>>,
    #[serde(default)]
    pub notify: Vec<S<String>>,
}

/// `[people.NAME]`: how to reach a reviewer in other tools.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPerson {
    pub slack: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTask {
    pub description: Option<String>,
    pub level: Option<S<i64>>,
    pub route: Option<S<String>>,
    pub sla: Option<S<String>>,
    pub expire_after: Option<S<String>>,
    pub approvals: Option<S<i64>>,
    pub confidence_threshold: Option<S<f64>>,
    pub rubric: Option<S<BTreeMap<S<String>, S<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    pub name: S<String>,
    pub when: S<String>,
    pub level: Option<S<i64>>,
    pub approvals: Option<S<i64>>,
    pub route: Option<S<String>>,
    #[serde(default)]
    pub add_flags: Vec<S<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLearning {
    pub window: Option<S<String>>,
    pub min_decisions: Option<S<i64>>,
    pub min_unchanged_rate: Option<S<f64>>,
    pub min_lower_bound: Option<S<f64>>,
    pub monitor_window: Option<S<String>>,
    pub spot_check_rate: Option<S<f64>>,
    pub max_error_rate: Option<S<f64>>,
    pub trip_errors: Option<S<i64>>,
    pub trip_window: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTest {
    pub name: S<String>,
    pub packet: S<toml::Value>,
    pub expect: S<RawExpect>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExpect {
    pub level: Option<S<i64>>,
    pub risk: Option<S<String>>,
    pub route: Option<S<String>>,
    pub approvals_required: Option<S<i64>>,
    pub flags: Option<Vec<String>>,
    pub sla: Option<S<String>>,
    pub expire_after: Option<S<String>>,
}
