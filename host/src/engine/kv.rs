//! The datastore as operators change it (API, CLI): every change commits
//! together with the `core.kv_changed` instance it causes and what the rules
//! start from it. Secret values are sealed before they are written and
//! appear in no payload, log or error: `core.kv_changed` shows them masked.
//! Packs' own writes through the `kv` import are their private state and
//! emit nothing.

use std::time::Duration;

use serde_json::{Value, json};

use super::ingest::{Emitted, Ingest};
use crate::store::{KvItem, KvScope, Millis, TriggerInstance, WriteError, now_millis};

/// One change to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvChange {
    /// Store a value.
    Set {
        /// The value (for a secret, the plaintext, sealed before writing).
        value: String,
        /// Seal it and show it masked.
        secret: bool,
        /// Expire after this long.
        ttl: Option<Duration>,
    },
    /// Remove the key.
    Delete,
}

/// What a change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvChanged {
    /// Whether a live value was there before.
    pub existed: bool,
    /// The `core.kv_changed` instance committed with it.
    pub emitted: Emitted,
}

/// Applies `change` to `key` in `scope` and commits it with its
/// `core.kv_changed` instance, decided in the same transaction so the
/// payload's `old_object` is exactly what was replaced.
pub(crate) async fn change(
    ingest: &Ingest,
    scope: KvScope,
    key: String,
    change: KvChange,
) -> Result<KvChanged, WriteError> {
    let decider = ingest.clone();
    let (existed, decided) = ingest
        .store()
        .write(move |tx| {
            let now = now_millis();
            let old = tx.kv_item(&scope, &key, now)?;
            let new = match change.clone() {
                KvChange::Set { value, secret, ttl } => {
                    let expires_at = ttl.map(|ttl| {
                        now.saturating_add(Millis::try_from(ttl.as_millis()).unwrap_or(Millis::MAX))
                    });
                    if secret {
                        tx.kv_set_secret(&scope, &key, &value, expires_at)?;
                    } else {
                        tx.kv_set(&scope, &key, value, expires_at)?;
                    }
                    tx.kv_item(&scope, &key, now)?
                }
                KvChange::Delete => {
                    tx.kv_delete(&scope, &key, now)?;
                    None
                }
            };
            let payload = json!({
                "old_object": object(&scope, &key, old.as_ref()),
                "new_object": object(&scope, &key, new.as_ref()),
            });
            let decided = decider.decide_instance(TriggerInstance::new("core.kv_changed", payload));
            decided.commit(tx)?;
            Ok((old.is_some(), decided))
        })
        .await?;
    ingest.announce_decided(&decided);
    let emitted = Emitted {
        id: decided.instance.id,
        executions: decided.executions.iter().map(|e| e.id).collect(),
        duplicate: false,
        failed: decided.failed(),
    };
    Ok(KvChanged { existed, emitted })
}

/// StackStorm's key-value object, as `core.kv_changed` carries it.
fn object(scope: &KvScope, key: &str, item: Option<&KvItem>) -> Value {
    let Some(item) = item else { return Value::Null };
    let scope = match scope {
        KvScope::System => "system".to_owned(),
        KvScope::Pack(pack) => format!("pack:{pack}"),
    };
    let mut object =
        json!({"name": key, "scope": scope, "value": item.value, "secret": item.secret});
    if let Some(expiry) = item.expires_at.and_then(|at| jiff::Timestamp::from_millisecond(at).ok())
    {
        object["expire_timestamp"] = Value::String(expiry.to_string());
    }
    object
}
