//! The running service's state and its operations, between the HTTP handlers and the
//! store: the active policy, the key cache, receipts, notifications, the clock, and the
//! operations that turn a request into one store call: handoffs (`handoffs.rs`), timers
//! (`timers.rs`), deliveries (`deliveries.rs`).

mod clock;
mod deliveries;
mod handoffs;
mod keys;
mod principal;
mod timers;

pub use clock::Clock;
pub use handoffs::{DecisionRequest, OutcomeRequest, Submit};
pub use keys::register_key;
pub use principal::{Principal, Role};

use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::receipt::{ReceiptKey, ReceiptPayload};
use chrono::{DateTime, Utc};
use handoff_domain::{Handoff, Policy};
use handoff_store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

pub struct App {
    pub store: Arc<dyn Store>,
    policy: RwLock<Arc<Policy>>,
    pub receipts: Arc<ReceiptKey>,
    /// Keys seen so far, by digest. Revoking through this server removes the entry at
    /// once; a key made beside the server (`handoff keys create`) is found on first use.
    keys: RwLock<HashMap<String, Principal>>,
    pub metrics: Metrics,
    /// Flips to true when the server starts draining: long-polls and streams end.
    shutdown: tokio::sync::watch::Sender<bool>,
    /// Woken when a submission brings a deadline before the scheduler's next look.
    pub deadlines: tokio::sync::Notify,
    /// When the scheduler looks next (Unix ms).
    pub next_deadline_check: std::sync::atomic::AtomicI64,
    pub notifier: Arc<Notifier>,
    clock: Clock,
}

impl App {
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
        }
    }

    /// The same app reading `clock` (tests run on tokio's paused clock).
    #[cfg(test)]
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

    pub fn set_policy(&self, policy: Policy) {
        *self.policy.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(policy);
    }

    /// The principal a key names, if the key is live.
    pub async fn authenticate(&self, key: &str) -> Result<Option<Principal>, StoreError> {
        let digest = crate::ids::key_sha256(key);
        if let Some(p) = self
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&digest)
        {
            return Ok(Some(p.clone()));
        }
        let Some(record) = self.store.find_key(&digest).await? else {
            return Ok(None);
        };
        let Some(role) = Role::parse(&record.role) else {
            tracing::warn!(key = %record.name, role = %record.role, "a key with an unknown role");
            return Ok(None);
        };
        let p = Principal {
            name: record.name,
            role,
        };
        self.keys
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest, p.clone());
        Ok(Some(p))
    }

    /// Forgets a revoked key at once.
    pub fn forget_key(&self, name: &str) {
        self.keys
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, p| p.name != name);
    }

    pub fn receipt(&self, h: &Handoff, now: DateTime<Utc>) -> String {
        receipt(&self.receipts, h, now)
    }
}

/// The receipt of an approved handoff: what was approved and by whom, valid until the
/// handoff would have expired.
fn receipt(key: &ReceiptKey, h: &Handoff, now: DateTime<Utc>) -> String {
    let approvers = match h.state.decision.as_ref() {
        Some(d) if d.by == handoff_domain::lifecycle::BY_POLICY => vec![d.by.clone()],
        _ => h.state.approvers().into_iter().map(str::to_owned).collect(),
    };
    let iat = now.timestamp();
    let lifetime = i64::try_from(h.evaluation.expire_after.as_secs()).unwrap_or(i64::MAX);
    key.sign(&ReceiptPayload {
        handoff: h.id.clone(),
        task: h.task.clone(),
        draft_sha256: h.state.current_draft_sha256().map(str::to_owned),
        approvers,
        iat,
        exp: iat.saturating_add(lifetime),
    })
}
