//! "Why this is here" in a line or three, with the values that matter: "confidence 60% <
//! 85%", "purchase over threshold: amount EUR 48,000 > 10,000 → approvals >= 2". Made
//! from the stored evaluation's reasons, the packet, and the active policy's numbers and
//! rule conditions; the full trace stays on the page, folded.

use handoff_domain::{Handoff, Policy};
use serde_json::Value;

/// At most this many headline lines.
const MAX: usize = 3;

/// The headline reasons of `h`, most telling first.
pub fn headline(policy: &Policy, h: &Handoff) -> Vec<String> {
    let p = &h.packet;
    let reasons = &h.evaluation.reasons;
    let mut out = Vec::new();
    // Rules that matched, with the values their conditions compare.
    for r in reasons {
        let Some(rule) = policy.rules.iter().find(|x| x.name == r.rule) else {
            continue;
        };
        let values = compared_values(&rule.when, p);
        out.push(if values.is_empty() {
            format!("{}: {}", r.rule, r.effect)
        } else {
            format!("{}: {} → {}", r.rule, values.join(", "), r.effect)
        });
    }
    // Confidence against the task's threshold.
    let confidence = p.get("confidence").and_then(Value::as_f64).unwrap_or(0.0);
    let threshold = policy
        .tasks
        .get(&h.task)
        .and_then(|t| t.confidence_threshold)
        .unwrap_or(policy.defaults.confidence_threshold);
    if confidence < threshold {
        out.push(format!(
            "confidence {} < {} (the task's threshold)",
            percent(confidence),
            percent(threshold)
        ));
    }
    let level = h.evaluation.level.get();
    match policy.tasks.get(&h.task) {
        None => out.push(format!(
            "task {} is not in the policy: never autonomous",
            h.task
        )),
        Some(t) if t.level.get() == level => {
            out.push(format!("the policy puts every {} at level {level}", h.task))
        }
        Some(_) => {}
    }
    // The risk, when it is what set the level.
    if policy.risk_levels.floor(h.evaluation.risk).get() == level && out.is_empty() && level > 1 {
        out.push(format!("risk {}", h.evaluation.risk));
    }
    out.truncate(MAX);
    out
}

/// 0.6 → "60%", 0.855 → "85.5%".
fn percent(x: f64) -> String {
    let s = format!("{:.1}", x * 100.0);
    format!("{}%", s.strip_suffix(".0").unwrap_or(&s))
}

/// 48000 → "48,000"; fractions as they are.
fn number(v: &Value) -> String {
    match v.as_i64() {
        Some(n) => {
            let digits = n.unsigned_abs().to_string();
            let mut out = String::new();
            for (i, c) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i) % 3 == 0 {
                    out.push(',');
                }
                out.push(c);
            }
            if n < 0 { format!("-{out}") } else { out }
        }
        None => match v.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => number(&Value::from(f as i64)),
            _ => v.to_string(),
        },
    }
}

/// The `context.<key> <op> <number>` comparisons and `'<flag>' in handoff.flags` tests of
/// a rule's condition, with the packet's values: "amount EUR 48,000 > 10,000",
/// "flag “possible fraud”".
fn compared_values(when: &str, p: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let context = p.get("context");
    let mut rest = when;
    while let Some(at) = rest.find("context.") {
        rest = &rest[at + "context.".len()..];
        let key: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let after = rest[key.len()..].trim_start();
        let Some(op) = [">=", "<=", "==", "!=", ">", "<"]
            .into_iter()
            .find(|op| after.starts_with(op))
        else {
            continue;
        };
        let lit: String = after[op.len()..]
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '-')
            .collect();
        let (Some(value), Ok(limit)) = (
            context.and_then(|c| c.get(&key)).filter(|v| v.is_number()),
            lit.parse::<f64>(),
        ) else {
            continue;
        };
        let currency = context
            .and_then(|c| c.get("currency"))
            .and_then(Value::as_str)
            .filter(|_| ["amount", "total", "price"].iter().any(|k| key.contains(k)))
            .map(|c| format!("{} ", super::text::reveal(c)))
            .unwrap_or_default();
        let line = format!(
            "{key} {currency}{} {op} {}",
            number(value),
            number(&serde_json::json!(limit))
        );
        if !out.contains(&line) {
            out.push(line);
        }
    }
    let flags: Vec<&str> = p
        .get("flags")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut rest = when;
    while let Some(at) = rest.find("' in handoff.flags") {
        let head = &rest[..at];
        rest = &rest[at + 1..];
        let Some(open) = head.rfind('\'') else {
            continue;
        };
        let flag = &head[open + 1..];
        let line = format!("flag “{}”", super::text::reveal(flag));
        if flags.contains(&flag) && !out.contains(&line) {
            out.push(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use handoff_domain::Packet;
    use serde_json::json;

    fn judged(packet: Value) -> (Policy, Handoff) {
        let policy = Policy::load(include_str!(
            "../../../handoff-domain/policies/example.toml"
        ))
        .expect("the example policy loads");
        let parsed = Packet::parse(packet).expect("a valid packet");
        let now = Utc::now();
        let evaluation = policy.evaluate(&parsed, now);
        let h = Handoff::submitted("h_1".to_owned(), "bot", &parsed, evaluation, now)
            .expect("a handoff");
        (policy, h)
    }

    #[test]
    fn a_purchase_over_the_threshold_names_the_amount_and_the_limit() {
        let (policy, h) = judged(json!({
            "task": "make_purchase", "summary": "40 laptops", "confidence": 0.95,
            "context": {"amount": 48000, "currency": "EUR"}
        }));
        let lines = headline(&policy, &h);
        assert_eq!(
            lines[0],
            "purchase over threshold: amount EUR 48,000 > 10,000 → approvals >= 2, flag four-eyes"
        );
    }

    #[test]
    fn low_confidence_is_against_the_threshold() {
        let (policy, h) = judged(json!({
            "task": "respond_to_client_inquiry", "summary": "s", "confidence": 0.6
        }));
        assert!(
            headline(&policy, &h)
                .contains(&"confidence 60% < 85% (the task's threshold)".to_owned()),
            "{:?}",
            headline(&policy, &h)
        );
    }

    #[test]
    fn a_flag_rule_names_the_flag() {
        let (policy, h) = judged(json!({
            "task": "report_data_anomaly", "summary": "s", "confidence": 0.9,
            "flags": ["possible fraud"]
        }));
        assert_eq!(
            headline(&policy, &h)[0],
            "possible fraud: flag “possible fraud” → level >= 4, route = security, flag alert"
        );
    }

    #[test]
    fn a_task_level_is_named() {
        let (policy, h) = judged(json!({
            "task": "delete_data", "summary": "s", "confidence": 0.99
        }));
        assert_eq!(
            headline(&policy, &h),
            ["the policy puts every delete_data at level 3"]
        );
    }

    #[test]
    fn numbers_read_like_amounts() {
        assert_eq!(number(&json!(48000)), "48,000");
        assert_eq!(number(&json!(1234567.0)), "1,234,567");
        assert_eq!(number(&json!(0.8)), "0.8");
        assert_eq!(percent(0.855), "85.5%");
    }
}
