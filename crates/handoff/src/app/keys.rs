//! Registering an API key: only its SHA-256 is stored, and its creation is audited.

use super::Role;
use handoff_domain::audit::NewEntry;
use handoff_store::{KeyRecord, Store, StoreError};
use serde_json::json;

/// Registers `key` under `name` with `role`, audited as created by `actor`. `Ok(false)`
/// when a key by that name exists (nothing is written then).
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
        role: role.as_str().to_owned(),
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
