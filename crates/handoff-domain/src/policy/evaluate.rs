//! Evaluation (SPEC §5): the task's level, then the rubric's risk, then the confidence
//! threshold, then each rule in file order. Every step can only raise the level, and
//! every step that fired leaves a reason, even when it changed nothing.

use super::{Policy, cel_input};
use crate::duration::Span;
use crate::level::{Dimension, Level, Risk};
use crate::packet::Packet;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Below this confidence, uncertainty is high whatever the threshold.
const HIGH_UNCERTAINTY_BELOW: f64 = 0.6;

/// The lowest level a task's own rubric floors allow (SPEC §7: a task whose floor implies
/// level ≥ 2 cannot become autonomous), with the floor that sets it in words.
pub fn rubric_floor(policy: &Policy, task: &str) -> Option<(Level, String)> {
    let t = policy.tasks.get(task)?;
    let mut worst = Risk::Low;
    let mut named = None;
    for (dim, risk) in t.rubric.iter() {
        if named.is_none() || risk > worst {
            worst = risk;
            named = Some(format!("task rubric floor: {} {risk}", dim.as_str()));
        }
    }
    let level = policy.risk_levels.floor(worst);
    let why = match named {
        Some(n) => format!("{n} (risk {worst}: level >= {level})"),
        None => format!("[risk] low = {level}"),
    };
    Some((level, why))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Evaluation {
    pub level: Level,
    pub risk: Risk,
    pub route: String,
    pub approvals_required: u32,
    /// As the policy writes durations: `4h`, `1h30m`, `30d`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "4h"))]
    pub sla: Span,
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "3d"))]
    pub expire_after: Span,
    pub sla_due_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Flags the policy added; the agent's own stay in the packet.
    pub flags: Vec<String>,
    pub reasons: Vec<Reason>,
    pub policy_version: String,
}

/// One step of the evaluation that fired: which, and what it required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reason {
    pub rule: String,
    pub effect: String,
}

fn reason(rule: impl Into<String>, effect: impl Into<String>) -> Reason {
    Reason {
        rule: rule.into(),
        effect: effect.into(),
    }
}

/// A task's level in force when it differs from the file's (promoted or demoted, SPEC §7),
/// with the words its reason carries: `promoted 2026-11-30 by ana: …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InForce {
    pub level: Level,
    pub note: String,
}

impl Policy {
    /// Judges a packet at `now` (the time of submission; CEL sees it as `now`) by the file
    /// alone.
    pub fn evaluate(&self, packet: &Packet, now: DateTime<Utc>) -> Evaluation {
        self.evaluate_with(packet, now, None)
    }

    /// Judges a packet with its task's level in force taking the place of the file's; the
    /// later steps (rubric floors, the confidence step, rules) still only raise it. A task
    /// the file does not list is judged as unknown whatever was in force.
    pub fn evaluate_with(
        &self,
        packet: &Packet,
        now: DateTime<Utc>,
        in_force: Option<&InForce>,
    ) -> Evaluation {
        let task = self.tasks.get(packet.task.as_str());
        let d = &self.defaults;
        let mut reasons = Vec::new();
        let mut flags = Vec::new();

        // 1. The task's base level; an unknown task is never autonomous.
        let mut level = match task {
            Some(_) if let Some(f) = in_force => {
                reasons.push(reason(
                    format!("task level {} ({})", f.level, f.note),
                    format!("level >= {}", f.level),
                ));
                f.level
            }
            Some(t) => {
                reasons.push(reason(
                    format!("task {}", packet.task.as_str()),
                    format!("level >= {}", t.level),
                ));
                t.level
            }
            None => {
                let l = d.level.max(Level::REVIEW);
                flags.push("unknown task".to_owned());
                reasons.push(reason("unknown task", format!("level >= {l}")));
                l
            }
        };

        // 2. The rubric: each dimension the higher of the task's floor and the agent's claim.
        let threshold = task
            .and_then(|t| t.confidence_threshold)
            .unwrap_or(d.confidence_threshold);
        let below_threshold = packet.confidence < threshold;
        let mut risk = Risk::Low;
        for dim in Dimension::ALL {
            let floor = task.and_then(|t| t.rubric.get(dim));
            let claim = packet.rubric.get(dim);
            if let Some(f) = floor {
                reasons.push(reason(
                    format!("task rubric floor: {} {f}", dim.as_str()),
                    format!("risk >= {f}"),
                ));
            }
            if let Some(c) = claim {
                reasons.push(reason(
                    format!("agent rubric: {} {c}", dim.as_str()),
                    format!("risk >= {c}"),
                ));
            }
            let mut grade = floor.max(claim).unwrap_or(Risk::Low);
            if dim == Dimension::Uncertainty {
                if packet.confidence < HIGH_UNCERTAINTY_BELOW {
                    reasons.push(reason(
                        format!("confidence below {HIGH_UNCERTAINTY_BELOW}"),
                        "uncertainty >= high",
                    ));
                    grade = Risk::High;
                } else if below_threshold {
                    reasons.push(reason(
                        "confidence below threshold",
                        "uncertainty >= medium",
                    ));
                    grade = grade.max(Risk::Medium);
                }
            }
            risk = risk.max(grade);
        }
        let risk_floor = self.risk_levels.floor(risk);
        reasons.push(reason(
            format!("risk {risk}"),
            format!("level >= {risk_floor}"),
        ));
        level = level.max(risk_floor);

        // 3. Confidence below the threshold always needs a human.
        if below_threshold {
            reasons.push(reason("confidence below threshold", "level >= 2"));
            level = level.max(Level::REVIEW);
        }

        // 4. Rules, in file order. A condition that cannot be evaluated counts as matching:
        //    a broken rule must not let a risky packet through.
        let mut approvals = task.and_then(|t| t.approvals).unwrap_or(d.approvals);
        let mut rule_route: Option<&str> = None;
        if !self.rules.is_empty() {
            let (handoff, context) = cel_input::packet(packet, &self.cel_needs);
            let mut cx = cel::Context::with_env(self.cel_env.clone());
            cx.add_variable_from_value("handoff", handoff);
            if self.cel_needs.context {
                cx.add_variable_from_value("context", context);
            }
            if self.cel_needs.now {
                cx.add_variable_from_value("now", cel::Value::Timestamp(now.fixed_offset()));
            }
            for rule in &self.rules {
                let failure = match rule.program.execute(&cx) {
                    Ok(cel::Value::Bool(false)) => continue,
                    Ok(cel::Value::Bool(true)) => None,
                    Ok(other) => Some(format!("condition gave {:?}, not a bool", other.type_of())),
                    Err(e) => Some(e.to_string()),
                };
                let mut effects = Vec::new();
                if let Some(l) = rule.level {
                    level = level.max(l);
                    effects.push(format!("level >= {l}"));
                }
                if let Some(a) = rule.approvals {
                    approvals = approvals.max(a);
                    effects.push(format!("approvals >= {a}"));
                }
                if let Some(r) = &rule.route {
                    match rule_route {
                        None => {
                            rule_route = Some(r);
                            effects.push(format!("route = {r}"));
                        }
                        Some(first) => {
                            effects.push(format!("route {r} (already routed to {first})"))
                        }
                    }
                }
                for f in &rule.add_flags {
                    if !flags.contains(f) {
                        flags.push(f.clone());
                    }
                    effects.push(format!("flag {f}"));
                }
                let effect = if effects.is_empty() {
                    "matched".to_owned()
                } else {
                    effects.join(", ")
                };
                reasons.push(match failure {
                    None => reason(rule.name.clone(), effect),
                    Some(err) => reason(
                        rule.name.clone(),
                        format!("failed to evaluate ({err}); counted as matching: {effect}"),
                    ),
                });
            }
        }

        let route = rule_route
            .or_else(|| task.and_then(|t| t.route.as_deref()))
            .unwrap_or(&d.route)
            .to_owned();
        let sla = task.and_then(|t| t.sla).unwrap_or(d.sla);
        let expire_after = task.and_then(|t| t.expire_after).unwrap_or(d.expire_after);
        Evaluation {
            level,
            risk,
            route,
            approvals_required: approvals,
            sla,
            expire_after,
            sla_due_at: now + sla.to_chrono(),
            expires_at: now + expire_after.to_chrono(),
            flags,
            reasons,
            policy_version: self.version.clone(),
        }
    }
}
