//! The application layer: the only way in. Every front door (the HTTP API, the web
//! inbox, the background jobs, and MCP and Slack to come) calls one `App` operation, which
//! checks the caller's rights itself and makes its store calls; the front door only
//! parses and renders. Nothing here knows HTTP: refusals are [`AppError`]s.
//!
//! - `handoffs`: submit, read, decide, cancel, report an outcome; `wait`: long-polls;
//!   `batch`: approving several routine handoffs at once;
//! - `list`: listings with each role's scope, their cursors, timelines;
//! - `events`: the feed of changes a principal may see;
//! - `policy`, `keys`, `audit`, `deliveries`: the admin's operations; `checkpoints`: the
//!   audit chain's signed heads, made, listed and checked against;
//! - `learning`: statistics, recommendations, task levels, spot checks, the monitor
//!   that demotes, the decisions export;
//! - `slack`: whether a request is Slack's, the reviewer a Slack user decides as, the
//!   answers through `response_url` (the decision is `decide`);
//! - `revisions`: the chain of handoffs that supersede one another (SPEC §2);
//! - `timers`: what the scheduler fires; `principal`: who calls; `clock`: what time it is.

mod audit;
mod batch;
mod checkpoints;
mod clock;
mod deliveries;
mod error;
mod events;
mod handoffs;
mod keys;
mod learning;
mod list;
mod policy;
mod principal;
mod revisions;
mod shared;
mod slack;
mod throttle;
mod timers;
mod wait;

pub use audit::MAX_PAGE as MAX_AUDIT_PAGE;
pub use checkpoints::{CHECKPOINT_EVERY, MAX_PAGE as MAX_CHECKPOINT_PAGE, verify_chain};
pub use clock::{Clock, ManualClock};
pub use deliveries::MAX_PAGE as MAX_DELIVERY_PAGE;
pub use error::{AppError, AppResult};
pub use events::Event;
pub use handoff_store::TaskLevel;
pub use handoffs::{Decision, OpenDecisions, Outcome, Submit};
pub use keys::{CreatedKey, register_key, valid_key_name};
pub use learning::{
    DayKpis, Evidence, Kpis, LevelChanged, MAX_SPOT_PAGE, Monitoring, RecommendationItem, Stats,
    TaskStats, export_record,
};
pub use list::MAX_PAGE as MAX_LIST_PAGE;
pub use list::{Cursor, ListRequest, Order, Page};
pub use principal::{Principal, Role, Via};
pub use revisions::Chain;
pub use slack::{SLACK_WINDOW_SECS, SlackRefusal};
pub use throttle::ThrottleRule;
pub use wait::MAX_WAIT;

use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::receipt::{Alg, ReceiptKey, ReceiptPayload};
use chrono::{DateTime, Utc};
use handoff_domain::{Handoff, Policy};
use handoff_store::Store;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

pub struct App {
    store: Arc<dyn Store>,
    policy: RwLock<Arc<Policy>>,
    receipts: Arc<ReceiptKey>,
    /// Keys seen so far, by digest. Revoking through this server removes the entry at
    /// once; a key made beside the server (`handoff keys create`) is found on first use.
    keys: RwLock<HashMap<String, Principal>>,
    pub metrics: Metrics,
    /// Flips to true when the server starts draining: long-polls and streams end.
    shutdown: tokio::sync::watch::Sender<bool>,
    /// Woken when a submission brings a deadline before the scheduler's next look.
    pub(crate) deadlines: tokio::sync::Notify,
    /// When the scheduler looks next (Unix ms).
    pub(crate) next_deadline_check: std::sync::atomic::AtomicI64,
    notifier: Arc<Notifier>,
    clock: Clock,
    /// Task levels changed by an admin or the monitor (SPEC §7), as stored.
    levels: RwLock<HashMap<String, handoff_store::TaskLevel>>,
    /// How far the audit chain was verified for the statistics, and the answer; the
    /// checkpoints sign the head it reached.
    audit_checked: tokio::sync::Mutex<Option<learning::AuditCheckpoint>>,
    /// Slack requests taken in the last five minutes: a replay is refused.
    slack_seen: slack::SeenSignatures,
    /// The seq of the newest checkpoint (`checkpoints::UNKNOWN` until read).
    last_checkpoint_seq: std::sync::atomic::AtomicI64,
    /// Failed authentications by source: too many and the source waits (429).
    throttle: throttle::Throttle,
}

impl App {
    /// The store writer's counters, when the store has a writer.
    pub fn writer_stats(&self) -> Option<&handoff_store::WriterStats> {
        self.store.writer_stats()
    }

    pub fn new(
        store: Arc<dyn Store>,
        policy: Policy,
        receipts: ReceiptKey,
        notifier: Notifier,
    ) -> App {
        App {
            store,
            policy: RwLock::new(Arc::new(policy)),
            receipts: Arc::new(receipts),
            keys: RwLock::new(HashMap::new()),
            metrics: Metrics::default(),
            shutdown: tokio::sync::watch::Sender::new(false),
            deadlines: tokio::sync::Notify::new(),
            next_deadline_check: std::sync::atomic::AtomicI64::new(0),
            notifier: Arc::new(notifier),
            clock: Clock::System,
            levels: RwLock::new(HashMap::new()),
            audit_checked: tokio::sync::Mutex::new(None),
            slack_seen: slack::SeenSignatures::default(),
            last_checkpoint_seq: std::sync::atomic::AtomicI64::new(checkpoints::UNKNOWN),
            throttle: throttle::Throttle::new(Some(ThrottleRule::default())),
        }
    }

    /// The same app with another limit on failed authentications (`None`: no limit).
    pub fn with_auth_throttle(mut self, rule: Option<ThrottleRule>) -> App {
        self.throttle = throttle::Throttle::new(rule);
        self
    }

    /// The same app reading `clock` (tests move a manual or paused clock by hand).
    pub fn with_clock(mut self, clock: Clock) -> App {
        self.clock = clock;
        self
    }

    /// Tells long-polls and event streams to finish: the server is draining.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Resolves once the server starts draining.
    pub fn closing(&self) -> impl std::future::Future<Output = ()> + Send + use<> {
        let mut rx = self.shutdown.subscribe();
        async move {
            let _ = rx.wait_for(|closing| *closing).await;
        }
    }

    /// The clock every operation reads once, at its start.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn policy(&self) -> Arc<Policy> {
        self.policy
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The store itself, for unit tests that look beneath the operations.
    #[cfg(test)]
    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The clock itself, for the jobs that sleep until a deadline on it.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    fn set_policy(&self, policy: Policy) {
        *self.policy.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(policy);
    }

    /// The notification settings (the public URL pages link to, …).
    pub fn notify_settings(&self) -> &crate::notify::Settings {
        &self.notifier.settings
    }

    /// Whether this node should be sent requests (readiness): not while it drains, and
    /// only while its store answers.
    pub async fn ready(&self) -> Result<(), AppError> {
        if *self.shutdown.borrow() {
            return Err(AppError::Unavailable("the server is draining".into()));
        }
        self.store.policy().await?;
        Ok(())
    }

    /// What the metrics read from the store at a scrape (open handoffs, the outbox's
    /// backlog), in the Prometheus text format.
    pub async fn store_metrics(&self) -> AppResult<String> {
        let gauges = self.store.gauges().await?;
        Ok(crate::metrics::render_store(&gauges, self.now()))
    }

    /// The public key of approval receipts, as a JWK Set.
    pub fn receipt_jwks(&self) -> serde_json::Value {
        self.receipts.jwks()
    }

    /// Woken by the store's hub when a commit queued deliveries.
    pub(crate) fn outbox_bell(&self) -> &tokio::sync::Notify {
        self.store.hub().outbox()
    }

    /// The principal a key's digest names, looked up in the store every time (web
    /// sessions name the key by its digest; a revoked key's row is gone at once).
    pub async fn authenticate_digest(&self, digest: &str) -> AppResult<Option<Principal>> {
        let Some(record) = self.store.find_key(digest).await? else {
            return Ok(None);
        };
        Ok(Some(Principal::new(record.name, record.role)))
    }

    /// The principal a key names, if the key is live.
    pub async fn authenticate(&self, key: &str) -> AppResult<Option<Principal>> {
        let digest = crate::ids::key_sha256(key);
        if let Some(p) = self
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&digest)
        {
            return Ok(Some(p.clone()));
        }
        let Some(p) = self.authenticate_digest(&digest).await? else {
            return Ok(None);
        };
        self.keys
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest, p.clone());
        Ok(Some(p))
    }

    /// Forgets a revoked key at once.
    fn forget_key(&self, name: &str) {
        self.keys
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, p| p.name != name);
    }

    /// `h` with its `receipt_ed25519` when it has a receipt. The store keeps it (in the
    /// record or the state row); a handoff approved before the server offered it has none,
    /// and gets it derived from the `EdDSA` receipt (the same payload, re-signed,
    /// deterministic) wherever it leaves the store for a caller.
    pub(crate) fn complete(&self, mut h: Handoff) -> Handoff {
        if h.receipt_ed25519.is_none()
            && let Some(receipt) = h.receipt.as_deref()
        {
            h.receipt_ed25519 = self.receipts.ed25519_form(receipt);
        }
        h
    }

    pub fn receipt(&self, h: &Handoff, now: DateTime<Utc>) -> String {
        key_sign(&self.receipts, h, now, Alg::EdDSA)
    }
}

/// The receipt of an approved handoff under both names of its algorithm: `EdDSA` (the
/// resource's `receipt`) and `Ed25519` (its `receipt_ed25519`), one payload.
fn receipts(key: &ReceiptKey, h: &Handoff, now: DateTime<Utc>) -> (String, String) {
    (
        key_sign(key, h, now, Alg::EdDSA),
        key_sign(key, h, now, Alg::Ed25519),
    )
}

/// The receipt of an approved handoff: what was approved and by whom, valid until the
/// handoff would have expired.
fn key_sign(key: &ReceiptKey, h: &Handoff, now: DateTime<Utc>, alg: Alg) -> String {
    let approvers = match h.state.decision.as_ref() {
        Some(d) if d.by == handoff_domain::lifecycle::BY_POLICY => vec![d.by.clone()],
        _ => h.state.approvers().into_iter().map(str::to_owned).collect(),
    };
    let iat = now.timestamp();
    let lifetime = i64::try_from(h.evaluation.expire_after.as_secs()).unwrap_or(i64::MAX);
    key.sign_as(
        &ReceiptPayload {
            handoff: h.id.clone(),
            task: h.task.clone(),
            draft_sha256: h.state.current_draft_sha256().map(str::to_owned),
            approvers,
            iat,
            exp: iat.saturating_add(lifetime),
        },
        alg,
    )
}
