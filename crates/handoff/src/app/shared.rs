//! What the App keeps in memory of state other nodes may change on a shared database: the
//! key cache, the active policy, the task levels in force. A store shared by several
//! nodes tells of another node's change with a `Notice` (`jobs::notices` hears them); the
//! node that made the change updated its own memory already.

use super::{App, AppError, AppResult};
use handoff_domain::Policy;
use handoff_store::Notice;
use tokio::sync::broadcast;

impl App {
    /// Notices of other nodes' changes, from now on.
    pub(crate) fn notices(&self) -> broadcast::Receiver<Notice> {
        self.store.hub().notices()
    }

    /// Drops or reloads what `n` says another node changed.
    pub async fn apply_notice(&self, n: Notice) -> AppResult<()> {
        match n {
            Notice::Keys => {
                self.apply_notice_keys();
                Ok(())
            }
            Notice::Policy => self.reload_policy().await,
            Notice::TaskLevels => self.load_task_levels().await,
        }
    }

    /// Every cached key is forgotten: the next request of each reads the store (a revoked
    /// key is refused from then on).
    pub(crate) fn apply_notice_keys(&self) {
        self.keys.write().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Everything reloaded, after notices were missed.
    pub(crate) async fn reload_shared(&self) -> AppResult<()> {
        self.apply_notice_keys();
        self.reload_policy().await?;
        self.load_task_levels().await
    }

    /// The stored active policy becomes this node's.
    async fn reload_policy(&self) -> AppResult<()> {
        let Some(text) = self.store.policy().await?.active else {
            return Ok(());
        };
        if text == self.policy().text() {
            return Ok(());
        }
        let policy = Policy::load(&text).map_err(|e| {
            AppError::Unavailable(format!("the policy another node stored does not load: {e}"))
        })?;
        tracing::info!(version = %policy.version(), "policy replaced by another node");
        self.set_policy(policy);
        Ok(())
    }
}
