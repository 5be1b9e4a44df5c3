//! Turns policy text into a `Policy`, or into every error found, each with its line and
//! column. Syntax and unknown-field errors come from the TOML parser one at a time; the
//! checks after it (levels, durations, teams, CEL, tests) are all collected.

use super::file::{RawExpect, RawPolicy, RawTask, RawTest};
use super::{
    Defaults, Expect, Learning, NotifyTarget, Person, Policy, PolicyTest, RiskTable, Rule,
    TaskPolicy, Team,
};
use crate::duration::Span;
use crate::level::{Dimension, Level, Risk, Rubric};
use crate::packet::Packet;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use toml::Spanned;

/// One problem in a policy file, at a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

/// Every problem found, in the order of the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyErrors(pub Vec<PolicyError>);

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

pub(super) fn load(text: &str) -> Result<Policy, PolicyErrors> {
    let mut cx = Checker {
        text,
        errors: Vec::new(),
    };
    let raw: RawPolicy = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let at = e.span().map_or(0, |s| s.start);
            cx.err_at(at, e.message().trim_end().to_owned());
            return Err(cx.finish());
        }
    };
    let policy = cx.build(raw);
    if cx.errors.is_empty() {
        Ok(policy)
    } else {
        Err(cx.finish())
    }
}

struct Checker<'a> {
    text: &'a str,
    errors: Vec<PolicyError>,
}

impl Checker<'_> {
    fn finish(mut self) -> PolicyErrors {
        if self.errors.is_empty() {
            self.err_at(0, "the policy is invalid".into());
        }
        self.errors.sort_by_key(|e| (e.line, e.column));
        PolicyErrors(self.errors)
    }

    fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
        (line, column)
    }

    fn err_at(&mut self, offset: usize, message: String) {
        let (line, column) = self.position(offset);
        self.errors.push(PolicyError {
            line,
            column,
            message,
        });
    }

    fn err(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.err_at(span.start, message.into());
    }

    fn level(&mut self, v: &Spanned<i64>) -> Option<Level> {
        Level::new(*v.get_ref())
            .map_err(|e| self.err(v.span(), e))
            .ok()
    }

    fn span(&mut self, v: &Spanned<String>) -> Option<Span> {
        Span::parse(v.get_ref())
            .map_err(|e| self.err(v.span(), e))
            .ok()
    }

    fn approvals(&mut self, v: &Spanned<i64>) -> Option<u32> {
        match *v.get_ref() {
            n @ 1..=20 => Some(n as u32),
            n => {
                self.err(
                    v.span(),
                    format!("approvals must be between 1 and 20, not {n}"),
                );
                None
            }
        }
    }

    fn rate(&mut self, v: &Spanned<f64>, what: &str) -> Option<f64> {
        let x = *v.get_ref();
        if (0.0..=1.0).contains(&x) {
            Some(x)
        } else {
            self.err(v.span(), format!("{what} must be between 0 and 1, not {x}"));
            None
        }
    }

    fn team_ref(&mut self, v: &Spanned<String>, teams: &BTreeSet<&str>, what: &str) -> String {
        let name = v.get_ref();
        if !teams.contains(name.as_str()) {
            let known: Vec<&str> = teams.iter().copied().collect();
            self.err(
                v.span(),
                format!(
                    "{what} names team `{name}`, which is not defined (teams: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            );
        }
        name.clone()
    }

    fn build(&mut self, raw: RawPolicy) -> Policy {
        let team_names: BTreeSet<&str> = raw.teams.keys().map(|k| k.get_ref().as_str()).collect();

        // [defaults]
        let d = raw.defaults.as_ref().map(|d| d.get_ref());
        let defaults_at = raw.defaults.as_ref().map_or(0..0, |d| d.span());
        let level = d.and_then(|d| d.level.as_ref()).map(|v| self.level(v));
        let threshold = d
            .and_then(|d| d.confidence_threshold.as_ref())
            .map(|v| self.rate(v, "confidence_threshold"));
        let sla = d.and_then(|d| d.sla.as_ref()).map(|v| self.span(v));
        let expire_after = d
            .and_then(|d| d.expire_after.as_ref())
            .map(|v| self.span(v));
        let approvals = d
            .and_then(|d| d.approvals.as_ref())
            .map(|v| self.approvals(v));
        let route = match d.and_then(|d| d.route.as_ref()) {
            Some(r) => self.team_ref(r, &team_names, "defaults.route"),
            None => {
                if !team_names.contains("ops") {
                    self.err(
                        defaults_at,
                        "no team `ops`: define [teams.ops] or set defaults.route to a team",
                    );
                }
                "ops".to_string()
            }
        };
        let defaults = Defaults {
            level: level.flatten().unwrap_or(Level::REVIEW),
            confidence_threshold: threshold.flatten().unwrap_or(0.85),
            sla: sla.flatten().unwrap_or(Span::from_secs(4 * 3600)),
            expire_after: expire_after.flatten().unwrap_or(Span::from_secs(72 * 3600)),
            approvals: approvals.flatten().unwrap_or(1),
            route,
        };

        // [risk]; an invalid value has been reported, its default keeps the checks going.
        let r = &raw.risk;
        let mut risk_level = |v: &Option<Spanned<i64>>, default: Level| {
            v.as_ref().and_then(|v| self.level(v)).unwrap_or(default)
        };
        let risk_levels = RiskTable {
            low: risk_level(&r.low, Level::AUTONOMOUS),
            medium: risk_level(&r.medium, Level::REVIEW),
            high: risk_level(&r.high, Level::STOP),
        };

        let teams = self.teams(&raw, &team_names);
        let people = self.people(&raw, &teams);
        let tasks = self.tasks(&raw.tasks, &defaults, &team_names);
        let cel_env = Arc::new(cel::Env::stdlib());
        let rules = self.rules(&raw, &cel_env, &team_names);
        let learning = self.learning(&raw);
        let tests = self.tests(&raw.tests, &team_names);

        let mut cel_needs = super::cel_check::Needs::default();
        rules.iter().for_each(|r| cel_needs.add(&r.program));
        Policy {
            cel_needs,
            text: self.text.to_owned(),
            version: super::policy_version(self.text),
            defaults,
            risk_levels,
            teams,
            people,
            tasks,
            rules,
            learning,
            tests,
            cel_env,
        }
    }

    /// `[people]`: each person must review for some team (a Slack id of someone who is
    /// in no team could decide nothing, and is most likely a typo of a member's name), and
    /// a Slack user id names one person only (else a button press would decide as
    /// whichever came first).
    fn people(
        &mut self,
        raw: &RawPolicy,
        teams: &BTreeMap<String, Team>,
    ) -> BTreeMap<String, Person> {
        let mut people = BTreeMap::new();
        let mut slack_ids: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, p) in &raw.people {
            let name_str = name.get_ref().as_str();
            if !teams
                .values()
                .any(|t| t.members.iter().any(|m| m == name_str))
            {
                self.err(
                    name.span(),
                    format!(
                        "person `{name_str}` is a member of no team: add them to a team's `members` or remove [people.{name_str}]"
                    ),
                );
            }
            let slack = p.slack.as_ref().map(|id| {
                let text = id.get_ref().as_str();
                if !valid_slack_user(text) {
                    self.err(
                        id.span(),
                        format!(
                            "`{text}` is not a Slack user id (an upper-case U or W, then letters and digits, as in U024BE7LH)"
                        ),
                    );
                } else if let Some(first) = slack_ids.insert(text, name_str) {
                    self.err(
                        id.span(),
                        format!("Slack user `{text}` is already [people.{first}]'s: one Slack user is one person"),
                    );
                    slack_ids.insert(text, first);
                }
                text.to_owned()
            });
            people.insert(name_str.to_owned(), Person { slack });
        }
        people
    }

    fn teams(&mut self, raw: &RawPolicy, names: &BTreeSet<&str>) -> BTreeMap<String, Team> {
        let mut teams = BTreeMap::new();
        for (name, t) in &raw.teams {
            let escalate_to = t
                .escalate_to
                .as_ref()
                .map(|e| self.team_ref(e, names, "escalate_to"));
            let mut notify = Vec::new();
            for n in &t.notify {
                match parse_notify(n.get_ref()) {
                    Ok(target) => notify.push(target),
                    Err(e) => self.err(n.span(), e),
                }
            }
            let mut members = Vec::new();
            for m in &t.members {
                if m.get_ref().trim().is_empty() {
                    self.err(m.span(), "a member name must not be empty");
                }
                members.push(m.get_ref().clone());
            }
            teams.insert(
                name.get_ref().clone(),
                Team {
                    members,
                    escalate_to,
                    notify,
                },
            );
        }
        // Escalation must climb somewhere: a chain that returns to itself would bounce a
        // stalled handoff between teams forever. Each team on a loop is reported at its own
        // `escalate_to`; a team that merely leads into a loop is not at fault.
        for (name, t) in &raw.teams {
            let (Some(first), start) = (&t.escalate_to, name.get_ref()) else {
                continue;
            };
            let mut chain = vec![start.as_str()];
            let mut next = Some(first.get_ref().as_str());
            while let Some(n) = next.filter(|n| !chain.contains(n)) {
                chain.push(n);
                next = teams.get(n).and_then(|t| t.escalate_to.as_deref());
            }
            if next == Some(start.as_str()) {
                chain.push(start);
                self.err(
                    first.span(),
                    format!("escalation loops back to `{start}`: {}", chain.join(" -> ")),
                );
            }
        }
        teams
    }

    fn tasks(
        &mut self,
        raw: &BTreeMap<Spanned<String>, RawTask>,
        defaults: &Defaults,
        teams: &BTreeSet<&str>,
    ) -> BTreeMap<String, TaskPolicy> {
        let mut tasks = BTreeMap::new();
        for (name, t) in raw {
            if let Err(e) = crate::packet::TaskName::parse(name.get_ref()) {
                self.err(name.span(), format!("task name `{}` {e}", name.get_ref()));
            }
            let level = t
                .level
                .as_ref()
                .map_or(Some(defaults.level), |v| self.level(v));
            let route = t.route.as_ref().map(|r| self.team_ref(r, teams, "route"));
            let sla = t.sla.as_ref().and_then(|v| self.span(v));
            let expire_after = t.expire_after.as_ref().and_then(|v| self.span(v));
            let approvals = t.approvals.as_ref().and_then(|v| self.approvals(v));
            let confidence_threshold = t
                .confidence_threshold
                .as_ref()
                .and_then(|v| self.rate(v, "confidence_threshold"));
            let mut rubric = Rubric::default();
            for (dim, grade) in t
                .rubric
                .as_ref()
                .map(|r| r.get_ref().iter())
                .into_iter()
                .flatten()
            {
                let Some(d) = Dimension::parse(dim.get_ref()) else {
                    self.err(dim.span(), format!("unknown rubric dimension `{}`; use impact, reversibility, uncertainty or policy_sensitivity", dim.get_ref()));
                    continue;
                };
                match Risk::parse(grade.get_ref()) {
                    Some(r) => rubric.set(d, r),
                    None => self.err(
                        grade.span(),
                        "a rubric grade is \"low\", \"medium\" or \"high\"",
                    ),
                }
            }
            if let Some(level) = level {
                tasks.insert(
                    name.get_ref().clone(),
                    TaskPolicy {
                        description: t.description.clone(),
                        level,
                        route,
                        sla,
                        expire_after,
                        approvals,
                        confidence_threshold,
                        rubric,
                    },
                );
            }
        }
        tasks
    }

    fn rules(&mut self, raw: &RawPolicy, env: &cel::Env, teams: &BTreeSet<&str>) -> Vec<Rule> {
        let mut rules = Vec::new();
        let mut names = BTreeSet::new();
        for rule in &raw.rules {
            let r = rule.get_ref();
            if !names.insert(r.name.get_ref().as_str()) {
                self.err(
                    r.name.span(),
                    format!("a rule named `{}` is already defined", r.name.get_ref()),
                );
            }
            let program = match env.compile(r.when.get_ref()) {
                Ok(p) => {
                    let unknown: Vec<String> = super::cel_check::unknown_variables(&p)
                        .into_iter()
                        .map(|v| format!("`{v}`"))
                        .collect();
                    if unknown.is_empty() {
                        Some(p)
                    } else {
                        self.err(
                            r.when.span(),
                            format!(
                                "condition uses unknown variable {}; conditions see handoff, context and now",
                                unknown.join(", ")
                            ),
                        );
                        None
                    }
                }
                Err(errs) => {
                    for e in errs.errors {
                        // CEL positions are within the expression; point into the string.
                        let at = r.when.span().start + 1 + usize::try_from(e.pos.1).unwrap_or(0);
                        self.err_at(at, format!("bad CEL in `when`: {}", e.msg));
                    }
                    None
                }
            };
            let level = r.level.as_ref().and_then(|v| self.level(v));
            let approvals = r.approvals.as_ref().and_then(|v| self.approvals(v));
            let route = r.route.as_ref().map(|v| self.team_ref(v, teams, "route"));
            let add_flags = r
                .add_flags
                .iter()
                .map(|f| {
                    if f.get_ref().is_empty() || f.get_ref().chars().count() > 100 {
                        self.err(f.span(), "a flag is 1 to 100 characters");
                    }
                    f.get_ref().clone()
                })
                .collect();
            if let Some(program) = program {
                rules.push(Rule {
                    name: r.name.get_ref().clone(),
                    when: r.when.get_ref().clone(),
                    level,
                    approvals,
                    route,
                    add_flags,
                    program,
                });
            }
        }
        rules
    }

    fn learning(&mut self, raw: &RawPolicy) -> Learning {
        let l = &raw.learning;
        let days = |n: u64| Span::from_secs(n * 86_400);
        let span = |c: &mut Self, v: &Option<Spanned<String>>, d: Span| {
            v.as_ref().and_then(|v| c.span(v)).unwrap_or(d)
        };
        let rate = |c: &mut Self, v: &Option<Spanned<f64>>, d: f64, what: &str| {
            v.as_ref().and_then(|v| c.rate(v, what)).unwrap_or(d)
        };
        let min_decisions = self.at_least_one(&l.min_decisions, 30, "min_decisions");
        let trip_errors = self.at_least_one(&l.trip_errors, 3, "trip_errors");
        let trip_window = self.at_least_one(&l.trip_window, 10, "trip_window");
        // With a default on one side, the error points at the side the file wrote.
        if let Some(v) = l.trip_errors.as_ref().or(l.trip_window.as_ref())
            && trip_errors > trip_window
        {
            self.err(
                v.span(),
                format!("trip_errors ({trip_errors}) must be at most trip_window ({trip_window})"),
            );
        }
        Learning {
            window: span(self, &l.window, days(30)),
            min_decisions,
            min_unchanged_rate: rate(self, &l.min_unchanged_rate, 0.95, "min_unchanged_rate"),
            min_lower_bound: rate(self, &l.min_lower_bound, 0.90, "min_lower_bound"),
            monitor_window: span(self, &l.monitor_window, days(14)),
            spot_check_rate: rate(self, &l.spot_check_rate, 0.10, "spot_check_rate"),
            max_error_rate: rate(self, &l.max_error_rate, 0.05, "max_error_rate"),
            trip_errors,
            trip_window,
        }
    }

    /// A count of at least 1, or `default` when absent (or wrong, with an error).
    fn at_least_one(&mut self, v: &Option<Spanned<i64>>, default: u32, what: &str) -> u32 {
        match v {
            Some(v) if *v.get_ref() < 1 => {
                self.err(v.span(), format!("{what} must be at least 1"));
                default
            }
            Some(v) => u32::try_from(*v.get_ref()).unwrap_or(u32::MAX),
            None => default,
        }
    }

    fn tests(&mut self, raw: &[Spanned<RawTest>], teams: &BTreeSet<&str>) -> Vec<PolicyTest> {
        let mut tests = Vec::new();
        for t in raw {
            let line = self.position(t.span().start).0;
            let t = t.get_ref();
            let json = serde_json::to_value(t.packet.get_ref()).unwrap_or_default();
            let packet = match Packet::parse(json) {
                Ok(p) => Some(p),
                Err(errs) => {
                    for e in errs {
                        self.err(
                            t.packet.span(),
                            format!("test `{}`: packet {e}", t.name.get_ref()),
                        );
                    }
                    None
                }
            };
            let expect = self.expect(t.expect.get_ref(), teams);
            if let (Some(packet), Some(expect)) = (packet, expect) {
                tests.push(PolicyTest {
                    name: t.name.get_ref().clone(),
                    line,
                    packet,
                    expect,
                });
            }
        }
        tests
    }

    fn expect(&mut self, e: &RawExpect, teams: &BTreeSet<&str>) -> Option<Expect> {
        let before = self.errors.len();
        let out = Expect {
            level: e.level.as_ref().and_then(|v| self.level(v)),
            risk: e.risk.as_ref().and_then(|v| {
                Risk::parse(v.get_ref()).or_else(|| {
                    self.err(v.span(), "risk is \"low\", \"medium\" or \"high\"");
                    None
                })
            }),
            route: e
                .route
                .as_ref()
                .map(|v| self.team_ref(v, teams, "expect.route")),
            approvals_required: e
                .approvals_required
                .as_ref()
                .and_then(|v| self.approvals(v)),
            flags: e.flags.clone(),
            sla: e.sla.as_ref().and_then(|v| self.span(v)),
            expire_after: e.expire_after.as_ref().and_then(|v| self.span(v)),
        };
        (self.errors.len() == before).then_some(out)
    }
}

/// A Slack user id as Slack writes it: `U` (or `W`, on Enterprise Grid), then upper-case
/// letters and digits.
fn valid_slack_user(s: &str) -> bool {
    (3..=32).contains(&s.len())
        && s.starts_with(['U', 'W'])
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

fn parse_notify(s: &str) -> Result<NotifyTarget, String> {
    let url_ok = |u: &str| {
        url::Url::parse(u)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .is_some()
    };
    match s.split_once(':') {
        Some(("webhook", u)) if url_ok(u) => Ok(NotifyTarget::Webhook(u.to_owned())),
        Some(("slack", u)) if url_ok(u) => Ok(NotifyTarget::Slack(u.to_owned())),
        Some(("email", a)) if a.contains('@') && !a.contains(char::is_whitespace) => {
            Ok(NotifyTarget::Email(a.to_owned()))
        }
        Some(("webhook" | "slack", _)) => {
            Err(format!("`{s}`: expected an http(s) URL after the colon"))
        }
        Some(("email", _)) => Err(format!("`{s}`: expected an email address after `email:`")),
        _ => Err(format!(
            "`{s}`: a notify target is `webhook:URL`, `slack:URL` or `email:ADDRESS`"
        )),
    }
}
