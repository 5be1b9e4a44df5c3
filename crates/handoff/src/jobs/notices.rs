//! What another node changed besides handoffs, heard through the store's hub
//! (`handoff_store::Notice`; only a store shared by several nodes sends them): the App
//! drops or reloads what it keeps in memory, so a key revoked, a policy replaced or a task
//! level changed on one node is in force on every node as soon as its commit is heard.

use crate::app::App;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

pub async fn run(app: Arc<App>) {
    let mut notices = app.notices();
    let closing = app.closing();
    tokio::pin!(closing);
    loop {
        let heard = tokio::select! {
            heard = notices.recv() => heard,
            () = &mut closing => return,
        };
        let result = match heard {
            Ok(n) => app.apply_notice(n).await,
            // Fell behind: whatever was missed, reload it all.
            Err(RecvError::Lagged(_)) => app.reload_shared().await,
            Err(RecvError::Closed) => return,
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot reload what another node changed");
            // Fail closed on keys at once; the rest is read again on the next notice.
            app.apply_notice_keys();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::{Principal, Role};
    use crate::notify::{Notifier, Settings};
    use crate::receipt::ReceiptKey;
    use handoff_domain::Policy;
    use handoff_store::Notice;
    use handoff_store_sqlite::SqliteStore;
    use std::time::Duration;

    /// Two nodes' Apps on one database file (SQLite stands in for a shared database; the
    /// notice is sent by hand, as a shared store's listener sends it).
    async fn node(path: &std::path::Path) -> Arc<App> {
        let store = SqliteStore::open(path)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let notifier = Notifier::new(
            Settings::defaults("https://handoff.example").unwrap_or_else(|e| panic!("{e}")),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        Arc::new(App::new(
            Arc::new(store),
            Policy::example(),
            ReceiptKey::generate(),
            notifier,
        ))
    }

    async fn eventually(what: &str, mut ok: impl AsyncFnMut() -> bool) {
        for _ in 0..500 {
            if ok().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{what}: not within 5 s");
    }

    #[tokio::test]
    async fn another_nodes_key_revocation_and_policy_are_in_force_after_its_notice() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("handoff.db");
        let (a, b) = (node(&path).await, node(&path).await);
        tokio::spawn(run(b.clone()));
        let admin = Principal::new("root", Role::Admin);

        // A key made on A authenticates on B, which caches it; A revokes it.
        let key = a
            .create_key(&admin, "agent", "bot")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(b.authenticate(&key.key).await, Ok(Some(_))));
        a.revoke_key(&admin, "bot")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        b.store().hub().notice(Notice::Keys);
        eventually("the revoked key refused on B", async || {
            matches!(b.authenticate(&key.key).await, Ok(None))
        })
        .await;

        // A policy stored on A is B's after the notice.
        let text = Policy::example().text().replace("4h", "5h");
        let version = a
            .replace_policy(&admin, &text)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(b.policy().version(), version);
        b.store().hub().notice(Notice::Policy);
        eventually("A's policy in force on B", async || {
            b.policy().version() == version
        })
        .await;
    }
}
