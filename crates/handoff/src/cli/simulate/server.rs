//! The server a simulation drives: the real service, built in-process by
//! `Application::build` on a free loopback port with a manual clock (days pass by a call,
//! not by sleeping), its data on `/dev/shm` where there is one, and the keys of the
//! simulated population.

use crate::app::{Clock, ManualClock};
use crate::cli::client::http::Api;
use crate::server::{Application, Config};
use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The reviewer of the simulated team (the policy's `[teams.sim]`).
pub const REVIEWER: &str = "rita";
pub const TEAM: &str = "sim";

pub struct SimServer {
    pub clock: Arc<ManualClock>,
    pub admin: Api,
    pub agent: Api,
    pub reviewer: Api,
    stop: Option<oneshot::Sender<()>>,
    served: JoinHandle<anyhow::Result<()>>,
    dir: PathBuf,
}

impl SimServer {
    /// Starts the service with `policy`, and creates an agent key and a reviewer key.
    pub async fn start(name: &str, policy: &str) -> anyhow::Result<SimServer> {
        let base = Some(PathBuf::from("/dev/shm"))
            .filter(|p| p.is_dir())
            .unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("handoff-simulate-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let policy_file = dir.join("policy.toml");
        std::fs::write(&policy_file, policy).context("cannot write the policy")?;
        let mut cfg = Config::new(dir.join("data"));
        cfg.policy_file = Some(policy_file);
        let start: DateTime<Utc> = DateTime::from_timestamp(1_793_520_000, 0).unwrap_or_default();
        let clock = ManualClock::new(start);
        let (tx, rx) = oneshot::channel::<()>();
        let app = Application::build(cfg, Clock::Manual(clock.clone()), async move {
            let _ = rx.await;
        })
        .await?;
        let url = format!("http://{}", app.addr()?);
        let admin_key = app
            .new_admin_key()
            .context("a fresh data dir made no admin key")?
            .to_owned();
        let served = tokio::spawn(app.run_until_stopped());
        let admin = Api::new(&url, &admin_key)?;
        let mut keys = Vec::new();
        for (role, who) in [("agent", "sim-agent"), ("reviewer", REVIEWER)] {
            let reply = admin
                .post(&["v1", "keys"], &json!({"role": role, "name": who}), &[])
                .await?;
            let key = reply.body["key"]
                .as_str()
                .context("POST /v1/keys answered no key")?
                .to_owned();
            keys.push(Api::new(&url, &key)?);
        }
        let reviewer = keys.pop().context("no reviewer key")?;
        let agent = keys.pop().context("no agent key")?;
        Ok(SimServer {
            clock,
            admin,
            agent,
            reviewer,
            stop: Some(tx),
            served,
            dir,
        })
    }

    /// Drains the server and removes its data.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        drop(self.stop.take());
        let served = (&mut self.served).await;
        let _ = std::fs::remove_dir_all(&self.dir);
        served.context("the server task failed")?
    }
}

/// The `[learning]` settings a simulation varies; the rest are the defaults.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Settings {
    pub min_lower_bound: f64,
    pub max_error_rate: f64,
    pub trip_errors: u32,
    pub trip_window: u32,
    pub spot_check_rate: f64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            min_lower_bound: 0.90,
            max_error_rate: 0.05,
            trip_errors: 3,
            trip_window: 10,
            spot_check_rate: 1.0,
        }
    }
}

/// A policy with every task of `tasks` at level 2, routed to the simulated team, and the
/// SPEC's `[learning]` defaults but for `settings`. SLAs are long, so that no timer fires
/// while the clock moves a minute per round.
pub fn policy(tasks: &[String], s: &Settings) -> String {
    let mut p = format!(
        "[defaults]\nlevel = 2\nconfidence_threshold = 0.85\nsla = \"30d\"\nexpire_after = \"60d\"\n\
         approvals = 1\nroute = \"{TEAM}\"\n\n[teams.{TEAM}]\nmembers = [\"{REVIEWER}\"]\n\n\
         [learning]\nwindow = \"30d\"\nmin_decisions = 30\nmin_unchanged_rate = 0.95\n\
         min_lower_bound = {}\nmonitor_window = \"14d\"\nspot_check_rate = {}\n\
         max_error_rate = {}\ntrip_errors = {}\ntrip_window = {}\n",
        s.min_lower_bound, s.spot_check_rate, s.max_error_rate, s.trip_errors, s.trip_window
    );
    for t in tasks {
        p.push_str(&format!("\n[tasks.{t}]\nlevel = 2\nroute = \"{TEAM}\"\n"));
    }
    p
}
