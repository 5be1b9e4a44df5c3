//! API keys: admins create and revoke them. A key is shown once; only its SHA-256 is
//! stored; its creation and revocation are audited; a revoked key stops working at once.

use super::{App, AppError, AppResult, Principal, Role};
use handoff_domain::FieldError;
use handoff_domain::audit::NewEntry;
use handoff_store::{KeyRecord, Store, StoreError};
use serde_json::json;

/// A key just made: shown to its creator once.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub name: String,
    pub role: Role,
    pub key: String,
}

/// A principal's name: 1–64 of letters, digits, `_ . @ -`.
pub fn valid_key_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.@-".contains(&b))
}

/// Registers `key` under `name` with `role`, audited as created by `actor`. `Ok(false)`
/// when a key by that name exists (nothing is written then). Also used at start (the
/// admin key) and by `handoff keys create` beside a running server.
pub async fn register_key(
    store: &dyn Store,
    key: &str,
    name: &str,
    role: Role,
    actor: &str,
) -> Result<bool, StoreError> {
    let now = chrono::Utc::now();
    let record = KeyRecord {
        name: name.to_owned(),
        role,
        key_sha256: crate::ids::key_sha256(key),
        created_at: now,
    };
    let audit = NewEntry {
        at: now,
        actor: actor.to_owned(),
        action: "key.created".to_owned(),
        handoff_id: None,
        data: json!({"name": name, "role": role}),
    };
    store.create_key(record, audit).await
}

impl App {
    /// Makes a key named `name` with the role `role` (as the caller wrote them: every
    /// field at fault is named at once); admins only.
    pub async fn create_key(
        &self,
        who: &Principal,
        role: &str,
        name: &str,
    ) -> AppResult<CreatedKey> {
        who.require_admin("manage keys")?;
        let mut errors = Vec::new();
        let parsed = Role::parse(role);
        if parsed.is_none() {
            errors.push(FieldError::new("role", "must be agent, reviewer or admin"));
        }
        if !valid_key_name(name) {
            errors.push(FieldError::new(
                "name",
                "1 to 64 letters, digits, '_', '.', '@' or '-'",
            ));
        }
        let Some(role) = parsed.filter(|_| errors.is_empty()) else {
            return Err(AppError::Invalid(errors));
        };
        let key = crate::ids::api_key();
        if !register_key(self.store.as_ref(), &key, name, role, &who.name).await? {
            return Err(AppError::conflict(format!("a key named {name:?} exists")));
        }
        Ok(CreatedKey {
            name: name.to_owned(),
            role,
            key,
        })
    }

    /// Revokes the key named `name`, at once; admins only.
    pub async fn revoke_key(&self, who: &Principal, name: &str) -> AppResult<()> {
        who.require_admin("manage keys")?;
        let audit = NewEntry {
            at: self.now(),
            actor: who.name.clone(),
            action: "key.revoked".to_owned(),
            handoff_id: None,
            data: json!({ "name": name }),
        };
        // Forget it before and after: no request may authenticate with it from now on.
        self.forget_key(name);
        let revoked = self.store.revoke_key(name.to_owned(), audit).await?;
        self.forget_key(name);
        if revoked {
            Ok(())
        } else {
            Err(AppError::NotFound("key by that name"))
        }
    }
}
