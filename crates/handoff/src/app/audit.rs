//! The audit log for admins: its entries in order, and the check of its hash chain.

use super::{App, AppError, AppResult, Principal};
use handoff_domain::{AuditEntry, Verification};

pub const DEFAULT_PAGE: u32 = 1000;
pub const MAX_PAGE: u32 = 10_000;

impl App {
    /// Entries after the seq `after`, oldest first, at most `limit` (default 1,000).
    pub async fn audit_log(
        &self,
        who: &Principal,
        after: Option<i64>,
        limit: Option<u32>,
    ) -> AppResult<Vec<AuditEntry>> {
        who.require_admin("read the audit log")?;
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(AppError::field("limit", "must be 1 to 10000"));
        }
        Ok(self.store.audit(after.unwrap_or(0), limit).await?)
    }

    /// Checks the whole chain (against a checkpoint: `verify_audit_against`).
    pub async fn verify_audit(&self, who: &Principal) -> AppResult<Verification> {
        self.verify_audit_against(who, None).await
    }
}
