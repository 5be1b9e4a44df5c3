//! The timers on tokio's paused clock: time moves only when a test advances it, so an
//! hour of SLA takes no time and no test sleeps. The store is the real SQLite store. A
//! spinning task keeps the runtime from idling, so tokio never skips ahead by itself
//! while the test waits for the store's threads. Two schedulers run against one app in
//! every test, so "fires once" is tested against a race, not assumed.

use super::*;
use crate::app::{App, Clock, Decision, Principal, Role, Submit};
use crate::notify::{AllowList, Notifier, Settings};
use crate::receipt::ReceiptKey;
use chrono::{DateTime, TimeZone, Utc};
use handoff_domain::{Handoff, Policy, Status};
use handoff_store_sqlite::SqliteStore;
use serde_json::json;

const POLICY: &str = r#"
[defaults]
level = 2
sla = "1h"
expire_after = "8h"
route = "sales"

[teams.sales]
members = ["ana"]
escalate_to = "leads"
notify = ["webhook:http://127.0.0.1:9/sales"]

[teams.leads]
members = ["lea"]
notify = ["email:leads@example.com"]

[tasks.refund]
level = 2

[tasks.outage]
level = 4
"#;

const MIN: Duration = Duration::from_secs(60);

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0)
        .single()
        .unwrap_or_else(|| panic!("bad date"))
}

struct Harness {
    app: Arc<App>,
    _dir: tempfile::TempDir,
}

fn settings() -> Settings {
    Settings {
        callback_allow: AllowList::parse(&["127.0.0.1".to_owned()]).unwrap_or_default(),
        ..Settings::defaults("https://handoff.example").unwrap_or_else(|e| panic!("{e}"))
    }
}

async fn app_at(dir: &std::path::Path, start: DateTime<Utc>) -> Arc<App> {
    let store = SqliteStore::open(&dir.join("handoff.db"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let policy = Policy::load(POLICY).unwrap_or_else(|e| panic!("{e}"));
    let notifier = Notifier::new(settings()).unwrap_or_else(|e| panic!("{e}"));
    let app = App::new(Arc::new(store), policy, ReceiptKey::generate(), notifier)
        .with_clock(Clock::tokio(start));
    Arc::new(app)
}

impl Harness {
    async fn start() -> Harness {
        tokio::spawn(async {
            loop {
                tokio::task::yield_now().await;
            }
        });
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let app = app_at(dir.path(), t0()).await;
        Harness::schedulers(&app);
        Harness { app, _dir: dir }
    }

    /// Two schedulers racing on one app.
    fn schedulers(app: &Arc<App>) {
        tokio::spawn(run(app.clone()));
        tokio::spawn(run(app.clone()));
    }

    async fn submit(&self, task: &str) -> Handoff {
        let agent = Principal::new("bot", Role::Agent);
        let body = json!({
            "task": task, "summary": "Refund order 42", "confidence": 0.9,
            "callback_url": "http://127.0.0.1:9/callback",
        });
        match self.app.submit(&agent, body, None).await {
            Ok(Submit::Created(h)) => h,
            Ok(Submit::Replayed(_)) => panic!("replayed"),
            Err(e) => panic!("{e:?}"),
        }
    }

    async fn advance(&self, d: Duration) {
        tokio::time::advance(d).await;
    }

    /// The handoff's audit actions, once they are `expected` (the schedulers work on
    /// other tasks and the store on other threads). While they are not, time moves on a
    /// second now and then: a scheduler whose read failed (the pool's timeouts see the
    /// jumps of the paused clock too) looks again a second later, as in production.
    async fn expect_actions(&self, id: &str, expected: &[&str]) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        for round in 0u64.. {
            let actions: Vec<String> = match self.app.store().timeline(id).await {
                Ok(entries) => entries
                    .into_iter()
                    .map(|e| e.action)
                    .filter(|a| a.starts_with("handoff."))
                    .collect(),
                Err(_) => Vec::new(),
            };
            if actions == expected {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timeline {actions:?}, expected {expected:?}"
            );
            tokio::task::yield_now().await;
            if round % 100 == 99 {
                tokio::time::advance(Duration::from_secs(1)).await;
            }
        }
    }

    /// The handoff once `ready` holds (the store's cache of recent records is updated
    /// just after the commit that the timeline already shows).
    async fn handoff(&self, id: &str, ready: impl Fn(&Handoff) -> bool) -> Handoff {
        loop {
            if let Ok(Some(h)) = self.app.store().get(id).await
                && ready(&h)
            {
                return h;
            }
            tokio::task::yield_now().await;
        }
    }

    /// `(event, channel)` of every delivery of the handoff, oldest first.
    async fn deliveries(&self, id: &str) -> Vec<(String, String)> {
        let mut all = self
            .app
            .store()
            .deliveries(None, None, 500)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        all.reverse();
        all.into_iter()
            .filter(|d| d.handoff_id.as_deref() == Some(id))
            .map(|d| (d.event, d.channel.as_str().to_owned()))
            .collect()
    }
}

fn pair(event: &str, channel: &str) -> (String, String) {
    (event.to_owned(), channel.to_owned())
}

#[tokio::test(start_paused = true)]
async fn reminder_escalation_chain_and_expiry_each_fire_once_at_their_time() {
    let t = Harness::start().await;
    let h = t.submit("refund").await;
    let id = h.id.as_str();
    assert_eq!(t.deliveries(id).await, [pair("handoff.routed", "webhook")]);

    t.advance(29 * MIN).await;
    t.expect_actions(id, &["handoff.submitted"]).await;

    // Half the SLA: the team is reminded.
    t.advance(MIN + Duration::from_secs(1)).await;
    t.expect_actions(id, &["handoff.submitted", "handoff.reminded"])
        .await;

    // The SLA: up to sales' escalate_to, with a new SLA period.
    t.advance(30 * MIN).await;
    t.expect_actions(
        id,
        &["handoff.submitted", "handoff.reminded", "handoff.escalated"],
    )
    .await;
    let now = t.handoff(id, |h| h.version() == 2).await;
    assert_eq!(now.state.assigned_team, "leads");
    assert_eq!(now.state.status, Status::Pending);
    assert_eq!(
        now.evaluation.sla_due_at,
        h.evaluation.sla_due_at + chrono::Duration::hours(1)
    );

    // Leads are reminded half-way, then, with nobody above them, told it is overdue.
    t.advance(30 * MIN).await;
    t.expect_actions(
        id,
        &[
            "handoff.submitted",
            "handoff.reminded",
            "handoff.escalated",
            "handoff.reminded",
        ],
    )
    .await;
    t.advance(30 * MIN).await;
    let chain = [
        "handoff.submitted",
        "handoff.reminded",
        "handoff.escalated",
        "handoff.reminded",
        "handoff.reminded",
    ];
    t.expect_actions(id, &chain).await;

    // Nothing more until expiry, which never approves and tells the agent.
    t.advance(5 * 60 * MIN).await;
    t.expect_actions(id, &chain).await;
    t.advance(60 * MIN).await;
    let mut all = chain.to_vec();
    all.push("handoff.expired");
    t.expect_actions(id, &all).await;
    let expired = t.handoff(id, |h| h.version() == 3).await;
    assert_eq!(expired.state.status, Status::Expired);
    assert!(expired.state.decision.is_none());
    assert_eq!(expired.next_deadline(), None);

    assert_eq!(
        t.deliveries(id).await,
        [
            pair("handoff.routed", "webhook"),
            pair("handoff.reminder", "webhook"),
            pair("handoff.routed", "email"),
            pair("handoff.reminder", "email"),
            pair("handoff.reminder", "email"),
            pair("handoff.expired", "callback"),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn level_four_re_alerts_every_quarter_hour_until_acknowledged() {
    let t = Harness::start().await;
    let h = t.submit("outage").await;
    let id = h.id.as_str();
    assert_eq!(h.state.status, Status::Alerted);
    assert_eq!(t.deliveries(id).await, [pair("handoff.alert", "webhook")]);

    t.advance(15 * MIN + Duration::from_secs(1)).await;
    t.expect_actions(id, &["handoff.submitted", "handoff.reminded"])
        .await;
    t.advance(15 * MIN).await;
    t.expect_actions(
        id,
        &["handoff.submitted", "handoff.reminded", "handoff.reminded"],
    )
    .await;
    t.handoff(id, |h| h.timers.alerts == 3).await;

    let ana = Principal::new("ana", Role::Reviewer);
    let ack = Decision::new(handoff_domain::DecisionAction::Acknowledge);
    t.app
        .decide(&ana, id, None, ack)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    t.advance(60 * MIN).await;
    let acked = [
        "handoff.submitted",
        "handoff.reminded",
        "handoff.reminded",
        "handoff.decision",
    ];
    t.expect_actions(id, &acked).await;
    assert_eq!(
        t.deliveries(id).await.len(),
        4,
        "three alerts and the agent's callback"
    );
}

#[tokio::test(start_paused = true)]
async fn a_deadline_that_passed_while_the_server_was_down_fires_once_at_start() {
    let t = Harness::start().await;
    let h = t.submit("refund").await;
    let id = h.id.clone();
    // The server stops before anything is due...
    t.app.begin_shutdown();
    t.app.store().close().await;
    drop(t.app);

    // ...and starts nine hours later: past the reminder, the SLA and the expiry.
    let app = app_at(t._dir.path(), t0() + chrono::Duration::hours(9)).await;
    Harness::schedulers(&app);
    let t = Harness { app, _dir: t._dir };
    t.expect_actions(&id, &["handoff.submitted", "handoff.expired"])
        .await;
    t.advance(60 * MIN).await;
    t.expect_actions(&id, &["handoff.submitted", "handoff.expired"])
        .await;
}
