//! [`StoreKv`] and [`StoreSecrets`]: the runtime's `kv` and `secrets`
//! imports answered from the durable store, pack data each pack in its own
//! scope, secrets from the system scope.

use std::time::Duration;

use crate::runtime::{BoxFuture, KvBackend, SecretSource};
use crate::store::{KvScope, Millis, Store, now_millis};

/// Pack key-value data in the store. A secret stored under a pack's scope
/// reads back masked: packs get secrets through the `secrets` import, which
/// checks the grant.
#[derive(Debug, Clone)]
pub struct StoreKv {
    store: Store,
}

impl StoreKv {
    /// Serves pack key-value data from `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

fn expiry(ttl: Option<Duration>) -> Option<Millis> {
    ttl.map(|ttl| {
        now_millis().saturating_add(Millis::try_from(ttl.as_millis()).unwrap_or(Millis::MAX))
    })
}

impl KvBackend for StoreKv {
    fn get<'a>(
        &'a self,
        pack: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, String>> {
        let scope = KvScope::Pack(pack.to_owned());
        let value = self
            .store
            .read()
            .and_then(|snapshot| snapshot.kv_get(&scope, key, now_millis()))
            .map_err(|e| e.to_string());
        Box::pin(std::future::ready(value))
    }

    fn set<'a>(
        &'a self,
        pack: &'a str,
        key: &'a str,
        value: String,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), String>> {
        let (scope, key, expires_at) =
            (KvScope::Pack(pack.to_owned()), key.to_owned(), expiry(ttl));
        Box::pin(async move {
            self.store
                .write(move |tx| tx.kv_set(&scope, &key, value, expires_at))
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn delete<'a>(&'a self, pack: &'a str, key: &'a str) -> BoxFuture<'a, Result<bool, String>> {
        let (scope, key) = (KvScope::Pack(pack.to_owned()), key.to_owned());
        Box::pin(async move {
            self.store
                .write(move |tx| tx.kv_delete(&scope, &key, now_millis()))
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn list_keys<'a>(
        &'a self,
        pack: &'a str,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, String>> {
        let scope = KvScope::Pack(pack.to_owned());
        let keys = self
            .store
            .read()
            .and_then(|snapshot| snapshot.kv_keys(&scope, prefix, now_millis()))
            .map_err(|e| e.to_string());
        Box::pin(std::future::ready(keys))
    }
}

/// The runtime's `secrets` import answered from the store: a named secret
/// is a *secret* datastore item in the system scope. A plain (non-secret)
/// item of that name does not count, so an operator's ordinary setting is
/// never handed out as a credential.
#[derive(Debug, Clone)]
pub struct StoreSecrets {
    store: Store,
}

impl StoreSecrets {
    /// Serves secrets from `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

impl SecretSource for StoreSecrets {
    fn secret<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<String>, String>> {
        let now = now_millis();
        let value = self
            .store
            .read()
            .and_then(|snapshot| {
                if !snapshot.kv_is_secret(&KvScope::System, name, now)? {
                    return Ok(None);
                }
                snapshot.kv_reveal(&KvScope::System, name, now)
            })
            .map_err(|e| e.to_string());
        Box::pin(std::future::ready(value))
    }
}
