//! [`StoreKv`]: the runtime's `kv` import answered from the durable store,
//! each pack in its own scope.

use std::time::Duration;

use crate::runtime::{BoxFuture, KvBackend};
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
