//! The periodic audit checkpoint (SPEC §9): listens to the committed changes (each names
//! its audit entry's seq) and has `App` sign the chain's head once the log has grown
//! `CHECKPOINT_EVERY` entries past the newest checkpoint. The one at shutdown is signed by
//! `server.rs` after the drain, when nothing more can be written.

use crate::app::App;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

pub async fn run(app: Arc<App>) {
    // Subscribed before the first look: a commit in between is not missed.
    let mut commits = app.audit_commits();
    let closing = app.closing();
    tokio::pin!(closing);
    // A log that passed the mark while no server ran (or before this one listened).
    check(&app, None).await;
    loop {
        tokio::select! {
            () = &mut closing => break,
            commit = commits.recv() => match commit {
                Ok(event) => check(&app, Some(event.seq)).await,
                // Fell behind: the log is the judge of where it stands.
                Err(RecvError::Lagged(_)) => check(&app, None).await,
                Err(RecvError::Closed) => break,
            },
        }
    }
}

async fn check(app: &App, seq: Option<i64>) {
    if let Err(e) = app.checkpoint_if_due(seq).await {
        tracing::warn!(error = %e, "audit checkpoint: not signed");
    }
}
