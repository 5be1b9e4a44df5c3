//! `handoff simulate`: the learning loop of SPEC §7 driven through a real server by a
//! synthetic population with known true rates, on a manual clock, many independent runs
//! at once (one task type per run on one server).
//!
//! - `rng`: the seeded generator; `server`: the in-process server and its policy;
//! - `runs`: one run's agent and reviewer; `drive`: rounds over all runs of a server;
//! - `report`: the figures, as a table or JSON.

mod drive;
mod report;
mod rng;
mod runs;
mod server;

use anyhow::Context;
use clap::Args;
use rng::Rng;
use runs::{Kind, Run};
use server::{Settings, SimServer};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The base seed; the same seed gives the same population.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Runs per experiment (the trade-off table uses half as many per setting).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=2000))]
    runs: u64,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
    /// Leave out the trade-off table of other `[learning]` settings.
    #[arg(long)]
    no_tradeoffs: bool,
}

/// The true rates of the population (the same in every run of an experiment).
pub const P_HIGH: f64 = 0.98;
pub const P_LOW: f64 = 0.90;
pub const E_STEADY: f64 = 0.02;
pub const E_JUMP: f64 = 0.15;
/// Checked items at the steady rate before the jump.
pub const BEFORE_JUMP: u64 = 20;
pub const STEADY_ITEMS: u64 = 200;
pub const JUMP_MAX: u64 = 300;
pub const THRESHOLD_DECISIONS: u64 = 400;

pub fn run(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let report = super::runtime()?.block_on(simulate(&args))?;
    let report = report::Report {
        seconds: started.elapsed().as_secs_f64(),
        ..report
    };
    let text = if args.json {
        let mut t = serde_json::to_string_pretty(&report)?;
        t.push('\n');
        t
    } else {
        report::render(&report)
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

async fn simulate(args: &SimulateArgs) -> anyhow::Result<report::Report> {
    let n = args.runs;
    let seed = args.seed;
    let make = |stream: u64, name: &str, count: u64, kind: &dyn Fn(&mut Rng) -> Kind| {
        (0..count)
            .map(|i| {
                let mut rng = Rng::for_run(seed, stream, i);
                let k = kind(&mut rng);
                Run::new(format!("{name}_run{i}"), k, rng)
            })
            .collect::<Vec<Run>>()
    };

    // The defaults: promotion at 98% and 90%, monitoring at a steady 2% and after a jump.
    let defaults = Settings::default();
    let monitor = |e1: f64, before: u64, max: u64, at_once: bool| Kind::Monitor {
        p: P_HIGH,
        e0: E_STEADY,
        e1,
        before,
        max,
        promote_at_once: at_once,
    };
    let mut main = make(1, "steady", n, &|_| {
        monitor(E_STEADY, 0, STEADY_ITEMS, false)
    });
    main.extend(make(2, "jump", n, &|_| {
        monitor(E_JUMP, BEFORE_JUMP, JUMP_MAX, false)
    }));
    main.extend(make(3, "p90", n, &|_| Kind::Promotion {
        p: P_LOW,
        max: 300,
    }));
    run_on("defaults", &mut main, &defaults).await?;

    let mut thresholds = make(4, "threshold", n, &|rng| Kind::Threshold {
        tau: rng.between(0.70, 0.90),
        p_hi: 0.99,
        p_lo: 0.70,
        n: THRESHOLD_DECISIONS,
    });
    run_on("threshold", &mut thresholds, &defaults).await?;

    let mut report = report::Report::of_defaults(seed, n, &main, &thresholds);

    if !args.no_tradeoffs {
        let m = n.div_ceil(2);
        for (i, s) in tradeoff_settings().into_iter().enumerate() {
            let stream = 10 + 2 * i as u64;
            let mut runs = make(stream, "steady", m, &|_| {
                monitor(E_STEADY, 0, STEADY_ITEMS, true)
            });
            runs.extend(make(stream + 1, "jump", m, &|_| {
                monitor(E_JUMP, BEFORE_JUMP, JUMP_MAX, true)
            }));
            run_on(&format!("tradeoff{i}"), &mut runs, &s).await?;
            report.tradeoffs.push(report::Tradeoff::of(s, m, &runs));
        }
        for (i, bound) in [0.85, 0.88, 0.90, 0.92].into_iter().enumerate() {
            let s = Settings {
                min_lower_bound: bound,
                ..defaults
            };
            let stream = 40 + 2 * i as u64;
            let mut runs = make(stream, "p98", m, &|_| Kind::Promotion {
                p: P_HIGH,
                max: 300,
            });
            runs.extend(make(stream + 1, "p90", m, &|_| Kind::Promotion {
                p: P_LOW,
                max: 300,
            }));
            run_on(&format!("promotion{i}"), &mut runs, &s).await?;
            report
                .promotion_tradeoffs
                .push(report::PromotionTradeoff::of(bound, m, &runs));
        }
    }
    Ok(report)
}

/// The `[learning]` settings of the trade-off table: the defaults first, then one change
/// each.
fn tradeoff_settings() -> Vec<Settings> {
    let d = Settings::default();
    vec![
        d,
        Settings {
            trip_errors: 2,
            ..d
        },
        Settings {
            trip_errors: 4,
            ..d
        },
        Settings {
            trip_window: 20,
            ..d
        },
        Settings {
            max_error_rate: 0.03,
            ..d
        },
        Settings {
            max_error_rate: 0.10,
            ..d
        },
    ]
}

async fn run_on(name: &str, runs: &mut [Run], settings: &Settings) -> anyhow::Result<()> {
    let tasks: Vec<String> = runs.iter().map(|r| r.task.clone()).collect();
    let server = SimServer::start(name, &server::policy(&tasks, settings)).await?;
    let driven = drive::drive(&server, runs, settings)
        .await
        .with_context(|| format!("the {name} simulation failed"));
    server.stop().await?;
    driven
}
