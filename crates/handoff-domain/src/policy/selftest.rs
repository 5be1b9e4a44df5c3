//! The policy's own `[[tests]]`: each packet evaluated and compared with what it expects.

use super::{Expect, Policy};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub struct TestOutcome {
    pub name: String,
    pub line: usize,
    /// Empty when the case passed; else one line per field that differed.
    pub failures: Vec<String>,
}

impl TestOutcome {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

impl Policy {
    pub fn run_tests(&self, now: DateTime<Utc>) -> Vec<TestOutcome> {
        self.tests
            .iter()
            .map(|t| {
                let got = self.evaluate(&t.packet, now);
                TestOutcome {
                    name: t.name.clone(),
                    line: t.line,
                    failures: compare(&t.expect, &got),
                }
            })
            .collect()
    }
}

fn compare(want: &Expect, got: &super::Evaluation) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |field: &str, want: Option<String>, got: String| {
        if let Some(w) = want.filter(|w| *w != got) {
            out.push(format!("{field}: expected {w}, got {got}"));
        }
    };
    check(
        "level",
        want.level.map(|l| l.to_string()),
        got.level.to_string(),
    );
    check(
        "risk",
        want.risk.map(|r| r.to_string()),
        got.risk.to_string(),
    );
    check("route", want.route.clone(), got.route.clone());
    check(
        "approvals_required",
        want.approvals_required.map(|a| a.to_string()),
        got.approvals_required.to_string(),
    );
    check("sla", want.sla.map(|s| s.to_string()), got.sla.to_string());
    check(
        "expire_after",
        want.expire_after.map(|s| s.to_string()),
        got.expire_after.to_string(),
    );
    for f in want.flags.iter().flatten() {
        if !got.flags.contains(f) {
            out.push(format!("flags: expected {f:?} among {:?}", got.flags));
        }
    }
    out
}
