//! One simulated run: an agent working on one task type of its own, a reviewer deciding
//! its handoffs with known probabilities, and, once the admin promoted the task, the
//! reviewer's spot checks and the agent's outcomes with known error rates. A run moves one
//! step per round; the rounds of all runs on a server go at once.

use super::rng::Rng;
use crate::cli::client::http::{Api, REQUEST_TIMEOUT};
use anyhow::{Context, bail};
use serde_json::{Value, json};

/// What the run's task is like, and what is measured.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Decisions at a true unchanged-approval rate until the task is a candidate or
    /// `max` decisions were made; then done.
    Promotion { p: f64, max: u64 },
    /// Earn a promotion at `p`, then autonomous: `before` checked items at error rate
    /// `e0`, then `e1` until demoted or `max` checked items after the change.
    Monitor {
        p: f64,
        e0: f64,
        e1: f64,
        before: u64,
        max: u64,
        /// Promote at once instead of earning it (to spare the trade-off table the wait).
        promote_at_once: bool,
    },
    /// Confidence uniform in [0.6, 1); approved unchanged with `p_hi` at or above `tau`,
    /// else `p_lo`; `n` decisions.
    Threshold {
        tau: f64,
        p_hi: f64,
        p_lo: f64,
        n: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Earning,
    Autonomous,
    Done,
}

pub struct Run {
    pub task: String,
    pub kind: Kind,
    pub rng: Rng,
    pub phase: Phase,
    pub decisions: u64,
    pub unchanged: u64,
    /// Decisions when the server first listed the task as a promotion candidate.
    pub candidate_at: Option<u64>,
    /// Rounds where the server's candidacy differed from the rule computed here.
    pub mismatches: u64,
    /// Checked items since the promotion, and since the error rate changed.
    pub checked: u64,
    pub checked_after_change: u64,
    /// Checked items at the demotion: (since the promotion, since the change).
    pub demoted_at: Option<(u64, u64)>,
    pub suggested: Option<f64>,
    /// Why the monitor demoted the task, as the next evaluation's reasons say.
    pub demoted_by: Option<String>,
    /// The monitor's rule, judged here on the run's own items after each one
    /// (independently of the server), and the checked items when it first said demote.
    pub rule: MonitorRule,
    pub spot_items: Vec<bool>,
    outcome_items: Vec<bool>,
    pub own_demotion_at: Option<u64>,
}

/// SPEC §7's demotion rule for one stream, with the settings of a simulation.
#[derive(Debug, Clone, Copy)]
pub struct MonitorRule {
    pub max_error_rate: f64,
    pub trip_errors: u32,
    pub trip_window: u32,
}

impl MonitorRule {
    /// Whether a stream holding `items` (oldest first) demotes its task.
    pub fn trips(&self, items: &[bool]) -> bool {
        let n = items.len() as u64;
        let errors = items.iter().filter(|&&e| e).count() as u64;
        let recent = items.len().saturating_sub(self.trip_window as usize);
        let recent_errors = items[recent..].iter().filter(|&&e| e).count() as u64;
        (n >= 10 && wilson_low(errors, n) > self.max_error_rate)
            || recent_errors >= u64::from(self.trip_errors.max(1))
    }
}

/// The APIs of the population.
pub struct Cast<'a> {
    pub admin: &'a Api,
    pub agent: &'a Api,
    pub reviewer: &'a Api,
}

impl Run {
    pub fn new(task: String, kind: Kind, rng: Rng) -> Run {
        let phase = match kind {
            Kind::Monitor {
                promote_at_once: true,
                ..
            } => Phase::Autonomous,
            _ => Phase::Earning,
        };
        Run {
            task,
            kind,
            rng,
            phase,
            decisions: 0,
            unchanged: 0,
            candidate_at: None,
            mismatches: 0,
            checked: 0,
            checked_after_change: 0,
            demoted_at: None,
            suggested: None,
            demoted_by: None,
            rule: MonitorRule {
                max_error_rate: 0.05,
                trip_errors: 3,
                trip_window: 10,
            },
            spot_items: Vec::new(),
            outcome_items: Vec::new(),
            own_demotion_at: None,
        }
    }

    /// Whether the run still listens to `GET /v1/recommendations`.
    pub fn wants_recommendations(&self) -> bool {
        self.phase == Phase::Earning && !matches!(self.kind, Kind::Threshold { .. })
    }

    /// One step: a decided handoff while earning, a checked autonomous one after.
    pub async fn step(&mut self, cast: &Cast<'_>) -> anyhow::Result<()> {
        match self.phase {
            Phase::Earning => self.decide_one(cast).await,
            Phase::Autonomous => self.act_alone(cast).await,
            Phase::Done => Ok(()),
        }
    }

    async fn submit(&mut self, agent: &Api, confidence: f64) -> anyhow::Result<Value> {
        let packet = json!({
            "task": self.task,
            "summary": format!("simulated {} handoff", self.task),
            "confidence": confidence,
            "draft": format!("draft {} of {}", self.decisions + self.checked, self.task),
        });
        Ok(agent.post(&["v1", "handoffs"], &packet, &[]).await?.body)
    }

    async fn decide_one(&mut self, cast: &Cast<'_>) -> anyhow::Result<()> {
        let (confidence, p) = match self.kind {
            Kind::Promotion { p, .. } | Kind::Monitor { p, .. } => (0.95, p),
            Kind::Threshold {
                tau, p_hi, p_lo, ..
            } => {
                let c = self.rng.between(0.60, 1.0);
                // Confidences as an agent sends them: two decimals.
                let c = (c * 100.0).floor() / 100.0;
                (c, if c >= tau { p_hi } else { p_lo })
            }
        };
        let h = self.submit(cast.agent, confidence).await?;
        let id = id_of(&h)?;
        if h["status"].as_str() != Some("pending") {
            bail!("{}: a level-2 handoff was {}", self.task, h["status"]);
        }
        let body = if self.rng.chance(p) {
            self.unchanged += 1;
            json!({"action": "approve", "rationale": "fine as written"})
        } else if self.rng.chance(0.7) {
            json!({"action": "edit", "draft": "a better draft", "rationale": "tone"})
        } else {
            json!({"action": "reject", "rationale": "wrong facts"})
        };
        cast.reviewer
            .post(&["v1", "handoffs", &id, "decisions"], &body, &[])
            .await?;
        self.decisions += 1;
        if let Kind::Threshold { n, .. } = self.kind
            && self.decisions >= n
        {
            self.phase = Phase::Done;
        }
        Ok(())
    }

    async fn act_alone(&mut self, cast: &Cast<'_>) -> anyhow::Result<()> {
        let Kind::Monitor {
            e0,
            e1,
            before,
            max,
            ..
        } = self.kind
        else {
            self.phase = Phase::Done;
            return Ok(());
        };
        let h = self.submit(cast.agent, 0.95).await?;
        if h["status"].as_str() != Some("approved") {
            // Judged at level 2 again: the monitor demoted the task after the last item.
            self.demoted_at = Some((self.checked, self.checked_after_change));
            self.demoted_by = Some(demotion_rule(&h));
            self.phase = Phase::Done;
            return Ok(());
        }
        let id = id_of(&h)?;
        let changed = self.checked >= before;
        let wrong = self.rng.chance(if changed { e1 } else { e0 });
        if h["spot_check"].is_object() {
            let verdict = if wrong { "would_change" } else { "fine" };
            cast.reviewer
                .post(
                    &["v1", "handoffs", &id, "spot-check"],
                    &json!({"verdict": verdict}),
                    &[],
                )
                .await?;
            self.checked += 1;
            if changed {
                self.checked_after_change += 1;
            }
            self.spot_items.push(wrong);
        }
        // Some wrong work also fails visibly when carried out.
        let failed = wrong && self.rng.chance(0.2);
        let result = if failed { "failed" } else { "executed" };
        cast.agent
            .post(
                &["v1", "handoffs", &id, "outcome"],
                &json!({"result": result}),
                &[],
            )
            .await?;
        self.outcome_items.push(failed);
        if self.own_demotion_at.is_none()
            && (self.rule.trips(&self.spot_items) || self.rule.trips(&self.outcome_items))
        {
            self.own_demotion_at = Some(self.checked);
        }
        let limit = if before == 0 { max } else { before + max };
        if self.checked >= limit {
            self.phase = Phase::Done;
        }
        Ok(())
    }

    /// After a round: what `GET /v1/recommendations` said about this task.
    pub async fn heard(
        &mut self,
        candidate: bool,
        cast: &Cast<'_>,
        min_lower_bound: f64,
    ) -> anyhow::Result<()> {
        if candidate != rule_holds(self.decisions, self.unchanged, min_lower_bound) {
            self.mismatches += 1;
        }
        if candidate && self.candidate_at.is_none() {
            self.candidate_at = Some(self.decisions);
        }
        match self.kind {
            Kind::Promotion { max, .. } if candidate || self.decisions >= max => {
                self.phase = Phase::Done;
            }
            Kind::Monitor { .. } if candidate => {
                promote(cast.admin, &self.task).await?;
                self.phase = Phase::Autonomous;
            }
            Kind::Monitor { .. } if self.decisions >= 1_000 => self.phase = Phase::Done,
            _ => {}
        }
        Ok(())
    }

    /// At the end of a threshold run: the server's suggested threshold.
    pub async fn read_threshold(&mut self, admin: &Api) -> anyhow::Result<()> {
        let reply = admin
            .get(
                &["v1", "stats"],
                &[("task", self.task.clone())],
                REQUEST_TIMEOUT,
            )
            .await?;
        self.suggested = reply.body["tasks"][0]["suggested_threshold"].as_f64();
        Ok(())
    }
}

/// The admin acts on a recommendation.
pub async fn promote(admin: &Api, task: &str) -> anyhow::Result<()> {
    admin
        .post(
            &["v1", "tasks", task, "level"],
            &json!({"level": 1, "reason": "recommended by the learning loop"}),
            &[],
        )
        .await
        .with_context(|| format!("promoting {task}"))?;
    Ok(())
}

/// SPEC §7's promotion rule with the defaults but for `min_lower_bound`, computed here
/// from the run's own counts, independently of the server.
pub fn rule_holds(decisions: u64, unchanged: u64, min_lower_bound: f64) -> bool {
    if decisions < 30 {
        return false;
    }
    let p = unchanged as f64 / decisions as f64;
    p >= 0.95 && wilson_low(unchanged, decisions) >= min_lower_bound
}

/// The Wilson score interval's lower bound (z = 1.96, no continuity correction), written
/// here again so that the simulation checks the server rather than sharing its code.
fn wilson_low(successes: u64, n: u64) -> f64 {
    let n = n as f64;
    let p = successes as f64 / n;
    let z = 1.96_f64;
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let margin = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    (centre - margin) / (1.0 + z2 / n)
}

/// `spot checks: error rate`, `outcomes: fast trip`…: the stream and the rule named in the
/// reason the evaluation gives for the task's level.
fn demotion_rule(h: &Value) -> String {
    let reasons = h["evaluation"]["reasons"].to_string();
    let stream = if reasons.contains("spot checks:") {
        "spot checks"
    } else if reasons.contains("outcomes:") {
        "outcomes"
    } else {
        return "not automatic".to_owned();
    };
    let rule = if reasons.contains("Wilson 95% lower bound of the error rate") {
        "error rate"
    } else {
        "fast trip"
    };
    format!("{stream}: {rule}")
}

fn id_of(h: &Value) -> anyhow::Result<String> {
    h["id"]
        .as_str()
        .map(str::to_owned)
        .context("the server answered a handoff without an id")
}

#[cfg(test)]
mod tests {
    use super::rule_holds;

    #[test]
    fn the_independent_rule_agrees_with_the_spec_s_first_candidate() {
        assert!(!rule_holds(30, 30, 0.90));
        assert!(!rule_holds(34, 34, 0.90));
        assert!(rule_holds(35, 35, 0.90));
        assert!(!rule_holds(40, 37, 0.90));
    }
}
