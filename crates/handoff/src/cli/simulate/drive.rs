//! Driving runs through a server in rounds: every active run takes one step at once (up
//! to [`CONCURRENCY`] requests in flight), the clock moves a minute, and the admin reads
//! `GET /v1/recommendations` when a run is waiting for it, as an admin would after every
//! decision.

use super::runs::{Cast, Kind, Phase, Run, promote};
use super::server::{Settings, SimServer};
use anyhow::Context;
use futures_util::{StreamExt, TryStreamExt};
use std::collections::HashSet;
use std::time::Duration;

const CONCURRENCY: usize = 64;
/// How far the clock moves per round.
const ROUND: Duration = Duration::from_secs(60);

pub async fn drive(
    server: &SimServer,
    runs: &mut [Run],
    settings: &Settings,
) -> anyhow::Result<()> {
    let cast = Cast {
        admin: &server.admin,
        agent: &server.agent,
        reviewer: &server.reviewer,
    };
    for r in runs.iter_mut() {
        r.rule = super::runs::MonitorRule {
            max_error_rate: settings.max_error_rate,
            trip_errors: settings.trip_errors,
            trip_window: settings.trip_window,
        };
    }
    for r in runs.iter().filter(|r| {
        matches!(
            r.kind,
            Kind::Monitor {
                promote_at_once: true,
                ..
            }
        )
    }) {
        promote(cast.admin, &r.task).await?;
    }
    while runs.iter().any(|r| r.phase != Phase::Done) {
        futures_util::stream::iter(runs.iter_mut().filter(|r| r.phase != Phase::Done))
            .map(|r| r.step(&cast))
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        server.clock.advance(ROUND);
        if runs.iter().any(Run::wants_recommendations) {
            let candidates = candidates(&server.admin).await?;
            for r in runs.iter_mut().filter(|r| r.wants_recommendations()) {
                let candidate = candidates.contains(&r.task);
                r.heard(candidate, &cast, settings.min_lower_bound).await?;
            }
        }
    }
    for r in runs
        .iter_mut()
        .filter(|r| matches!(r.kind, Kind::Threshold { .. }))
    {
        r.read_threshold(&server.admin).await?;
    }
    Ok(())
}

/// The tasks `GET /v1/recommendations` says to promote.
async fn candidates(admin: &crate::cli::client::http::Api) -> anyhow::Result<HashSet<String>> {
    let reply = admin
        .get(
            &["v1", "recommendations"],
            &[],
            crate::cli::client::http::REQUEST_TIMEOUT,
        )
        .await?;
    let items = reply.body["items"]
        .as_array()
        .context("recommendations without `items`")?;
    Ok(items
        .iter()
        .filter(|i| i["kind"].as_str() == Some("promote"))
        .filter_map(|i| i["task"].as_str().map(str::to_owned))
        .collect())
}
