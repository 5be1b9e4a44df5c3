//! The policy through `App`: admins read and replace it (checked whole first, kept in the
//! store so that it survives a restart, audited); anyone may ask how a packet would be
//! judged.

use super::{App, AppError, AppResult, Principal};
use handoff_domain::audit::NewEntry;
use handoff_domain::{Evaluation, FieldError, Packet, Policy};
use serde_json::{Value, json};

impl App {
    /// The active policy's text; admins only.
    pub fn policy_text(&self, who: &Principal) -> AppResult<String> {
        who.require_admin("read and change the policy")?;
        Ok(self.policy().text().to_owned())
    }

    /// Replaces the active policy by `text`, or names every error (`LINE:COLUMN`) and
    /// changes nothing; admins only. Answers the new version.
    pub async fn replace_policy(&self, who: &Principal, text: &str) -> AppResult<String> {
        who.require_admin("read and change the policy")?;
        let policy = Policy::load(text).map_err(|errs| {
            AppError::Invalid(
                errs.0
                    .into_iter()
                    .map(|e| FieldError::new(format!("{}:{}", e.line, e.column), e.message))
                    .collect(),
            )
        })?;
        let version = policy.version().to_owned();
        let audit = NewEntry {
            at: self.now(),
            actor: who.name.clone(),
            action: "policy.updated".to_owned(),
            handoff_id: None,
            data: json!({"policy_version": version, "previous": self.policy().version()}),
        };
        self.store
            .set_policy(text.to_owned(), None, Some(audit))
            .await?;
        self.set_policy(policy);
        Ok(version)
    }

    /// How the active policy would judge `packet` now, without storing anything.
    pub fn explain(&self, _who: &Principal, packet: Value) -> AppResult<Evaluation> {
        let packet = Packet::parse(packet).map_err(AppError::Invalid)?;
        let policy = self.policy();
        let (in_force, _) = self.in_force(&policy, packet.task.as_str());
        Ok(policy.evaluate_with(&packet, self.now(), in_force.as_ref()))
    }
}
