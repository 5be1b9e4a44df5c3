//! The simulation's figures: what each target of SPEC §7 asks, measured over the runs, and
//! the trade-off table; as text or JSON.

use super::runs::{Kind, Run};
use super::server::Settings;
use super::{BEFORE_JUMP, E_JUMP, E_STEADY, JUMP_MAX, P_HIGH, P_LOW, STEADY_ITEMS};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Report {
    pub seed: u64,
    pub runs: u64,
    pub seconds: f64,
    pub promotion_98: Promotion,
    pub promotion_90: Promotion,
    pub jump: Jump,
    pub steady: Steady,
    pub threshold: Threshold,
    pub tradeoffs: Vec<Tradeoff>,
    pub promotion_tradeoffs: Vec<PromotionTradeoff>,
    /// Monitored runs where the server's demotion came after another item than the one
    /// after which the rule, judged by the simulator on its own items, said demote.
    pub monitor_mismatches: u64,
}

/// Decisions until the server first listed the task as a candidate.
#[derive(Debug, Serialize)]
pub struct Promotion {
    pub true_unchanged_rate: f64,
    pub runs: u64,
    pub within_100: u64,
    pub within_300: u64,
    pub never: u64,
    pub median: Option<u64>,
    pub p95: Option<u64>,
    pub earliest: Option<u64>,
    /// Rounds where the server's answer differed from the rule computed by the simulator.
    pub rule_mismatches: u64,
}

/// Checked items from the error rate's jump to the automatic demotion.
#[derive(Debug, Serialize)]
pub struct Jump {
    pub runs: u64,
    pub demoted_before_jump: u64,
    pub not_demoted: u64,
    pub median: Option<u64>,
    pub p95: Option<u64>,
    pub worst: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Steady {
    pub runs: u64,
    pub demoted_within_200: u64,
    /// Errors over checked items, all steady runs together (the true rate is 2%).
    pub observed_error_rate: Option<f64>,
    /// Demotions by stream and rule, and the checked items each came after.
    pub by_rule: std::collections::BTreeMap<String, Vec<u64>>,
}

#[derive(Debug, Serialize)]
pub struct Threshold {
    pub runs: u64,
    pub within_005: u64,
    pub no_suggestion: u64,
    pub mean_abs_error: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Tradeoff {
    pub settings: Settings,
    pub runs: u64,
    pub monitor_mismatches: u64,
    pub jump: Jump,
    pub steady: Steady,
}

/// Promotion under another `min_lower_bound`.
#[derive(Debug, Serialize)]
pub struct PromotionTradeoff {
    pub min_lower_bound: f64,
    pub runs: u64,
    pub p98: Promotion,
    pub p90: Promotion,
}

impl PromotionTradeoff {
    pub fn of(min_lower_bound: f64, runs: u64, all: &[Run]) -> PromotionTradeoff {
        let at = |want: f64| -> Vec<&Run> {
            all.iter()
                .filter(|r| matches!(r.kind, Kind::Promotion { p, .. } if p == want))
                .collect()
        };
        PromotionTradeoff {
            min_lower_bound,
            runs,
            p98: promotion(P_HIGH, &at(P_HIGH)),
            p90: promotion(P_LOW, &at(P_LOW)),
        }
    }
}

impl Report {
    pub fn of_defaults(seed: u64, runs: u64, main: &[Run], thresholds: &[Run]) -> Report {
        let monitored: Vec<&Run> = main
            .iter()
            .filter(|r| matches!(r.kind, Kind::Monitor { .. }))
            .collect();
        let p90: Vec<&Run> = main
            .iter()
            .filter(|r| matches!(r.kind, Kind::Promotion { .. }))
            .collect();
        Report {
            seed,
            runs,
            seconds: 0.0,
            promotion_98: promotion(P_HIGH, &monitored),
            promotion_90: promotion(P_LOW, &p90),
            jump: jump(main),
            steady: steady(main),
            threshold: threshold(thresholds),
            tradeoffs: Vec::new(),
            promotion_tradeoffs: Vec::new(),
            monitor_mismatches: monitor_mismatches(main),
        }
    }
}

impl Tradeoff {
    pub fn of(settings: Settings, runs: u64, all: &[Run]) -> Tradeoff {
        Tradeoff {
            settings,
            runs,
            monitor_mismatches: monitor_mismatches(all),
            jump: jump(all),
            steady: steady(all),
        }
    }
}

pub fn monitor_mismatches(runs: &[Run]) -> u64 {
    runs.iter()
        .filter(|r| matches!(r.kind, Kind::Monitor { .. }))
        .filter(|r| {
            // A demotion after the run's last item is not seen (nothing is submitted after).
            let seen = r.demoted_at.map(|(c, _)| c);
            seen.is_some() && seen != r.own_demotion_at
                || seen.is_none() && r.own_demotion_at.is_some_and(|c| c < r.checked)
        })
        .count() as u64
}

fn promotion(p: f64, runs: &[&Run]) -> Promotion {
    let mut at: Vec<u64> = runs.iter().filter_map(|r| r.candidate_at).collect();
    at.sort_unstable();
    Promotion {
        true_unchanged_rate: p,
        runs: runs.len() as u64,
        within_100: at.iter().filter(|&&d| d <= 100).count() as u64,
        within_300: at.iter().filter(|&&d| d <= 300).count() as u64,
        never: (runs.len() - at.len()) as u64,
        median: percentile(&at, 50.0),
        p95: percentile(&at, 95.0),
        earliest: at.first().copied(),
        rule_mismatches: runs.iter().map(|r| r.mismatches).sum(),
    }
}

fn is_jump(r: &Run) -> bool {
    matches!(r.kind, Kind::Monitor { e1, .. } if e1 > e0_of(r))
}

fn e0_of(r: &Run) -> f64 {
    match r.kind {
        Kind::Monitor { e0, .. } => e0,
        _ => 0.0,
    }
}

fn jump(all: &[Run]) -> Jump {
    let runs: Vec<&Run> = all.iter().filter(|r| is_jump(r)).collect();
    let early = runs
        .iter()
        .filter(|r| r.demoted_at.is_some_and(|(c, _)| c < BEFORE_JUMP))
        .count() as u64;
    let mut after: Vec<u64> = runs
        .iter()
        .filter_map(|r| {
            r.demoted_at
                .filter(|(c, _)| *c >= BEFORE_JUMP)
                .map(|(_, a)| a)
        })
        .collect();
    after.sort_unstable();
    Jump {
        runs: runs.len() as u64,
        demoted_before_jump: early,
        not_demoted: runs.iter().filter(|r| r.demoted_at.is_none()).count() as u64,
        median: percentile(&after, 50.0),
        p95: percentile(&after, 95.0),
        worst: after.last().copied(),
    }
}

fn steady(all: &[Run]) -> Steady {
    let runs: Vec<&Run> = all
        .iter()
        .filter(|r| matches!(r.kind, Kind::Monitor { .. }) && !is_jump(r))
        .collect();
    let mut by_rule: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    for r in &runs {
        if let (Some((c, _)), Some(rule)) = (r.demoted_at, &r.demoted_by) {
            by_rule.entry(rule.clone()).or_default().push(c);
        }
    }
    let items: usize = runs.iter().map(|r| r.spot_items.len()).sum();
    let errors: usize = runs
        .iter()
        .map(|r| r.spot_items.iter().filter(|&&e| e).count())
        .sum();
    Steady {
        observed_error_rate: (items > 0).then(|| errors as f64 / items as f64),
        runs: runs.len() as u64,
        demoted_within_200: runs
            .iter()
            .filter(|r| r.demoted_at.is_some_and(|(c, _)| c <= STEADY_ITEMS))
            .count() as u64,
        by_rule,
    }
}

fn threshold(runs: &[Run]) -> Threshold {
    let mut errors = Vec::new();
    let mut none = 0;
    for r in runs {
        let Kind::Threshold { tau, .. } = r.kind else {
            continue;
        };
        match r.suggested {
            Some(s) => errors.push((s - tau).abs()),
            None => none += 1,
        }
    }
    Threshold {
        runs: runs.len() as u64,
        within_005: errors.iter().filter(|&&e| e <= 0.05 + 1e-9).count() as u64,
        no_suggestion: none,
        mean_abs_error: (!errors.is_empty())
            .then(|| errors.iter().sum::<f64>() / errors.len() as f64),
    }
}

/// Nearest rank.
fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

fn pct(a: u64, b: u64) -> String {
    if b == 0 {
        "-".to_owned()
    } else {
        format!("{:.1}%", 100.0 * a as f64 / b as f64)
    }
}

fn num(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

pub fn render(r: &Report) -> String {
    let mut out = format!(
        "handoff simulate: seed {}, {} runs per experiment, {:.0} s\n\n",
        r.seed, r.runs, r.seconds
    );
    let (a, b) = (&r.promotion_98, &r.promotion_90);
    out.push_str("target                                                      measured\n");
    let rows = [
        (
            format!(
                "{:.0}% unchanged: candidate within 100 decisions (>= 99%)",
                P_HIGH * 100.0
            ),
            format!(
                "{} of {} ({}); median {}, p95 {}, earliest {}; never {}",
                a.within_100,
                a.runs,
                pct(a.within_100, a.runs),
                num(a.median),
                num(a.p95),
                num(a.earliest),
                a.never
            ),
        ),
        (
            "never a candidate before the Wilson bound allows".to_owned(),
            format!(
                "{} rounds where the server and the rule differed",
                a.rule_mismatches + b.rule_mismatches
            ),
        ),
        (
            "demoted after exactly the item the rule names".to_owned(),
            format!(
                "{} monitored runs where the server and the rule differed",
                r.monitor_mismatches
            ),
        ),
        (
            format!(
                "{:.0}% unchanged: candidate within 300 decisions (<= 10%)",
                P_LOW * 100.0
            ),
            format!(
                "{} of {} ({}); median of those {}",
                b.within_300,
                b.runs,
                pct(b.within_300, b.runs),
                num(b.median)
            ),
        ),
        (
            format!(
                "error {:.0}% -> {:.0}%: checked items to demotion (median <= 25)",
                E_STEADY * 100.0,
                E_JUMP * 100.0
            ),
            jump_text(&r.jump),
        ),
        (
            format!(
                "steady {:.0}%: demoted within {STEADY_ITEMS} checked (<= 6%)",
                E_STEADY * 100.0
            ),
            format!(
                "{} of {} ({}); observed error rate {}",
                r.steady.demoted_within_200,
                r.steady.runs,
                pct(r.steady.demoted_within_200, r.steady.runs),
                r.steady
                    .observed_error_rate
                    .map_or_else(|| "-".to_owned(), |e| format!("{:.2}%", e * 100.0))
            ),
        ),
        (
            "suggested threshold within 0.05 of the true one (>= 90%)".to_owned(),
            format!(
                "{} of {} ({}); no suggestion {}; mean |error| {}",
                r.threshold.within_005,
                r.threshold.runs,
                pct(r.threshold.within_005, r.threshold.runs),
                r.threshold.no_suggestion,
                r.threshold
                    .mean_abs_error
                    .map_or_else(|| "-".to_owned(), |e| format!("{e:.3}"))
            ),
        ),
    ];
    for (t, m) in rows {
        out.push_str(&format!("{t:<60}{m}\n"));
    }
    let rules: Vec<String> = r
        .steady
        .by_rule
        .iter()
        .map(|(k, v)| format!("{k} {}", v.len()))
        .collect();
    if !rules.is_empty() {
        out.push_str(&format!(
            "{:<60}{}\n",
            "  steady demotions by stream and rule",
            rules.join(", ")
        ));
    }
    if !r.tradeoffs.is_empty() {
        out.push_str(&format!(
            "\ntrade-offs ({} runs each; promoted at once; jump after {BEFORE_JUMP} checked items, \
             followed up to {JUMP_MAX})\n",
            r.tradeoffs[0].runs
        ));
        out.push_str(
            "trip_errors/trip_window  max_error_rate  jump: median  p95  worst  before jump  \
             not demoted  steady: false alarms in 200  rule mismatches\n",
        );
        for t in &r.tradeoffs {
            let s = &t.settings;
            out.push_str(&format!(
                "{:<25}{:<16}{:<14}{:<5}{:<7}{:<13}{:<13}{:<29}{}\n",
                format!("{}/{}", s.trip_errors, s.trip_window),
                format!("{:.2}", s.max_error_rate),
                num(t.jump.median),
                num(t.jump.p95),
                num(t.jump.worst),
                pct(t.jump.demoted_before_jump, t.jump.runs),
                t.jump.not_demoted,
                pct(t.steady.demoted_within_200, t.steady.runs),
                t.monitor_mismatches,
            ));
        }
    }
    if !r.promotion_tradeoffs.is_empty() {
        out.push_str(&format!(
            "\npromotion by min_lower_bound ({} runs each at {:.0}% and at {:.0}%)\n",
            r.promotion_tradeoffs[0].runs,
            P_HIGH * 100.0,
            P_LOW * 100.0
        ));
        out.push_str(
            "min_lower_bound  first possible  98%: within 100  median  p95   90%: within 300  mismatches\n",
        );
        for t in &r.promotion_tradeoffs {
            out.push_str(&format!(
                "{:<17}{:<16}{:<17}{:<8}{:<6}{:<17}{}\n",
                format!("{:.2}", t.min_lower_bound),
                num(first_possible(t.min_lower_bound)),
                pct(t.p98.within_100, t.p98.runs),
                num(t.p98.median),
                num(t.p98.p95),
                pct(t.p90.within_300, t.p90.runs),
                t.p98.rule_mismatches + t.p90.rule_mismatches,
            ));
        }
    }
    out
}

/// The fewest decisions (all unchanged) that make a candidate under `bound`.
fn first_possible(bound: f64) -> Option<u64> {
    (1..=1_000).find(|&n| super::runs::rule_holds(n, n, bound))
}

fn jump_text(j: &Jump) -> String {
    format!(
        "median {}, p95 {}, worst {}; {} of {} demoted before the jump, {} not within {JUMP_MAX}",
        num(j.median),
        num(j.p95),
        num(j.worst),
        j.demoted_before_jump,
        j.runs,
        j.not_demoted
    )
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=20).collect();
        assert_eq!(percentile(&v, 50.0), Some(10));
        assert_eq!(percentile(&v, 95.0), Some(19));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7], 95.0), Some(7));
    }
}
