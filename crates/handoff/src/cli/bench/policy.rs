//! `handoff bench policy`: how long one evaluation takes on this machine, for the example
//! policy (or a given one) and for a synthetic policy of many rules.

use handoff_domain::{Packet, Policy};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

pub fn run(policy: Option<PathBuf>, rules: usize, iterations: usize) -> anyhow::Result<ExitCode> {
    let packet = Packet::parse(json!({
        "task": "respond_to_client_inquiry",
        "client": "Acme Corp",
        "summary": "Client asked about custom pricing for 50+ seats",
        "draft_response": "Dear Acme, thank you for your interest in 50+ seats...",
        "confidence": 0.72,
        "flags": ["non-standard request", "high-value account"],
        "recommended_action": "send_with_modifications",
        "options": ["approve", "edit", "reject", "escalate_to_sales"],
        "context": {"amount": 48000, "currency": "EUR", "tier": "enterprise"}
    }))
    .map_err(|e| anyhow::anyhow!("bench packet: {e:?}"))?;

    println!("policy evaluation, {iterations} evaluations each, one thread");
    println!(
        "{:<28} {:>10} {:>10} {:>10}",
        "policy", "median", "p99", "evals/s"
    );
    measure(
        "example (built-in)",
        &Policy::example(),
        &packet,
        iterations,
    );
    if let Some(file) = policy {
        let Some(p) = crate::cli::policy::load(&file)? else {
            return Ok(ExitCode::FAILURE);
        };
        measure(&file.display().to_string(), &p, &packet, iterations);
    }
    let synthetic = Policy::load(&synthetic_policy(rules))
        .map_err(|e| anyhow::anyhow!("synthetic policy: {e}"))?;
    measure(
        &format!("synthetic, {rules} rules"),
        &synthetic,
        &packet,
        iterations,
    );
    Ok(ExitCode::SUCCESS)
}

fn measure(name: &str, policy: &Policy, packet: &Packet, iterations: usize) {
    let now = chrono::Utc::now();
    for _ in 0..iterations / 10 {
        std::hint::black_box(policy.evaluate(packet, now));
    }
    let mut samples = Vec::with_capacity(iterations);
    let start = Instant::now();
    for _ in 0..iterations {
        let t = Instant::now();
        std::hint::black_box(policy.evaluate(std::hint::black_box(packet), now));
        samples.push(t.elapsed().as_nanos() as u64);
    }
    let total = start.elapsed();
    samples.sort_unstable();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "{:<28} {:>8.2}µs {:>8.2}µs {:>10.0}",
        name,
        pct(0.5) as f64 / 1000.0,
        pct(0.99) as f64 / 1000.0,
        iterations as f64 / total.as_secs_f64()
    );
}

/// A policy of `n` rules of the shapes people write: flag tests, context thresholds with
/// `has()`, task comparisons and string functions.
pub fn synthetic_policy(n: usize) -> String {
    let mut s = String::from(
        "[defaults]\nroute = \"ops\"\n[teams.ops]\nmembers = [\"oz\"]\n[teams.leads]\nmembers = [\"lea\"]\n\
         [tasks.respond_to_client_inquiry]\nlevel = 2\nrubric = { impact = \"medium\" }\n",
    );
    for i in 0..n {
        let when = match i % 4 {
            0 => format!("'flag-{i}' in handoff.flags"),
            1 => format!(
                "has(context.amount) && context.amount > {}",
                50_000 + i * 1000
            ),
            2 => format!("handoff.task == 'task-{i}' && handoff.confidence < 0.5"),
            _ => format!("handoff.summary.contains('keyword-{i}') || context.tier == 'tier-{i}'"),
        };
        s.push_str(&format!(
            "[[rules]]\nname = \"rule {i}\"\nwhen = \"{when}\"\nlevel = {}\nroute = \"leads\"\n",
            2 + i % 2
        ));
    }
    s
}
