//! `handoff policy check | explain | test`: the policy engine on files, no server needed.

use anyhow::{Context, bail};
use chrono::{DateTime, SubsecRound, Utc};
use clap::Subcommand;
use handoff_domain::{Packet, Policy};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy file; print FILE:LINE:COLUMN: message per error, exit 1 on error.
    Check { file: PathBuf },
    /// Print the evaluation of a packet as JSON.
    Explain {
        /// The policy file; the built-in example policy when omitted.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// The packet as JSON; `-` reads standard input.
        packet: PathBuf,
        /// Evaluate as of this RFC 3339 time instead of now.
        #[arg(long)]
        now: Option<DateTime<Utc>>,
    },
    /// Run the policy's own [[tests]]: a line per case, then `N passed, M failed`.
    Test { file: PathBuf },
    /// Print the built-in example policy.
    Example,
}

pub fn run(cmd: PolicyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCommand::Check { file } => {
            let Some(policy) = load(&file)? else {
                return Ok(ExitCode::FAILURE);
            };
            println!(
                "{}: ok ({} teams, {} tasks, {} rules, {} tests) {}",
                file.display(),
                policy.teams.len(),
                policy.tasks.len(),
                policy.rules.len(),
                policy.tests.len(),
                policy.version()
            );
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Explain {
            policy,
            packet,
            now,
        } => {
            let policy = match policy {
                Some(file) => match load(&file)? {
                    Some(p) => p,
                    None => return Ok(ExitCode::FAILURE),
                },
                None => Policy::example(),
            };
            let text = read_input(&packet)?;
            let json: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", packet.display()))?;
            let packet_parsed = match Packet::parse(json) {
                Ok(p) => p,
                Err(errors) => {
                    for e in errors {
                        eprintln!("{}: {e}", packet.display());
                    }
                    return Ok(ExitCode::FAILURE);
                }
            };
            // Millisecond precision, as the service stores times.
            let now = now.unwrap_or_else(Utc::now).trunc_subsecs(3);
            let evaluation = policy.evaluate(&packet_parsed, now);
            println!("{}", serde_json::to_string_pretty(&evaluation)?);
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Test { file } => {
            let Some(policy) = load(&file)? else {
                return Ok(ExitCode::FAILURE);
            };
            let outcomes = policy.run_tests(Utc::now());
            let failed = outcomes.iter().filter(|o| !o.passed()).count();
            for o in &outcomes {
                if o.passed() {
                    println!("ok   {}", o.name);
                } else {
                    println!("FAIL {} ({}:{})", o.name, file.display(), o.line);
                    for f in &o.failures {
                        println!("       {f}");
                    }
                }
            }
            println!("{} passed, {failed} failed", outcomes.len() - failed);
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        PolicyCommand::Example => {
            print!("{}", handoff_domain::policy::EXAMPLE_POLICY);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Loads a policy file; its errors are printed as `FILE:LINE:COLUMN: message` and `None`
/// returned. An unreadable file is an error of its own.
pub fn load(file: &Path) -> anyhow::Result<Option<Policy>> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read policy file {}", file.display()))?;
    match Policy::load(&text) {
        Ok(p) => Ok(Some(p)),
        Err(errors) => {
            for e in errors.0 {
                eprintln!("{}:{e}", file.display());
            }
            Ok(None)
        }
    }
}

fn read_input(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read standard input")?;
        return Ok(s);
    }
    if !path.exists() {
        bail!("{} does not exist", path.display());
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}
