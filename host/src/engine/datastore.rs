//! [`StoreKv`] and [`StoreSecrets`]: the runtime's `kv` and `secrets`
//! imports answered from the durable store, pack data each pack in its own
//! scope (its StackStorm-named keys in the system scope, see [`place`]),
//! secrets from the system scope.

use std::time::Duration;

use crate::runtime::{BoxFuture, KvBackend, SecretSource};
use crate::store::{KvScope, Millis, Store, WriteError, now_millis};

/// Pack key-value data in the store. A secret reads back masked: packs get
/// secrets through the `secrets` import, which checks the grant.
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

/// The prefix of `pack`'s keys that live in the system scope:
/// StackStorm names a pack's local datastore keys `PACK.CLASS:NAME` and
/// keeps them with the operator's, so `st2 key get` and `squall key get`
/// find them there. A pack name has no dot, so no pack's prefix is
/// another's.
fn system_prefix(pack: &str) -> String {
    format!("{pack}.")
}

/// Where `pack`'s `key` is stored: under its [`system_prefix`], in the
/// system scope by that same name; any other key in the pack's own scope.
/// Either way only keys of `pack` are reachable from it.
fn place(pack: &str, key: &str) -> KvScope {
    if key.starts_with(&system_prefix(pack)) {
        KvScope::System
    } else {
        KvScope::Pack(pack.to_owned())
    }
}

/// A pack's write never replaces or removes an operator's secret: the
/// `kv` import would turn it into a plain value.
fn refuse_secret(
    tx: &mut crate::store::Tx<'_>,
    scope: &KvScope,
    key: &str,
    now: Millis,
) -> Result<(), WriteError> {
    if tx.kv_item(scope, key, now)?.is_some_and(|item| item.secret) {
        return Err(WriteError::Invalid {
            field: "key",
            message: format!(
                "`{key}` is a secret in the datastore; a pack's kv cannot change it (an operator sets it with `squall key set --secret`)"
            ),
        });
    }
    Ok(())
}

impl KvBackend for StoreKv {
    fn get<'a>(
        &'a self,
        pack: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, String>> {
        let scope = place(pack, key);
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
        let (scope, key, expires_at) = (place(pack, key), key.to_owned(), expiry(ttl));
        Box::pin(async move {
            self.store
                .write(move |tx| {
                    refuse_secret(tx, &scope, &key, now_millis())?;
                    tx.kv_set(&scope, &key, value.clone(), expires_at)
                })
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn delete<'a>(&'a self, pack: &'a str, key: &'a str) -> BoxFuture<'a, Result<bool, String>> {
        let (scope, key) = (place(pack, key), key.to_owned());
        Box::pin(async move {
            self.store
                .write(move |tx| {
                    let now = now_millis();
                    refuse_secret(tx, &scope, &key, now)?;
                    tx.kv_delete(&scope, &key, now)
                })
                .await
                .map_err(|e| e.to_string())
        })
    }

    /// The pack's own keys and its system-scope ones, merged in order.
    fn list_keys<'a>(
        &'a self,
        pack: &'a str,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, String>> {
        let system = system_prefix(pack);
        let keys = self.store.read().and_then(|snapshot| {
            let now = now_millis();
            if prefix.starts_with(&system) {
                return snapshot.kv_keys(&KvScope::System, prefix, now);
            }
            let mut keys = snapshot.kv_keys(&KvScope::Pack(pack.to_owned()), prefix, now)?;
            if system.starts_with(prefix) {
                keys.extend(snapshot.kv_keys(&KvScope::System, &system, now)?);
                keys.sort_unstable();
            }
            Ok(keys)
        });
        Box::pin(std::future::ready(keys.map_err(|e| e.to_string())))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreConfig;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store =
            Store::open(&dir.path().join("squall.redb"), StoreConfig::default()).expect("open");
        (dir, store)
    }

    #[tokio::test]
    async fn a_packs_stackstorm_named_keys_live_in_the_system_scope() {
        let (_dir, store) = store();
        let kv = StoreKv::new(store.clone());
        kv.set("github", "github.Sensor:last", "7".into(), None).await.expect("set");
        kv.set("github", "cursor", "a".into(), None).await.expect("set");
        let snapshot = store.read().expect("read");
        let now = now_millis();
        assert_eq!(
            snapshot.kv_get(&KvScope::System, "github.Sensor:last", now).expect("get"),
            Some("7".into()),
            "where st2 key get looks"
        );
        let own = KvScope::Pack("github".into());
        assert_eq!(snapshot.kv_get(&own, "cursor", now).expect("get"), Some("a".into()));
        assert_eq!(snapshot.kv_get(&KvScope::System, "cursor", now).expect("get"), None);
        assert_eq!(kv.get("github", "github.Sensor:last").await.expect("get"), Some("7".into()));
        // Another pack reaches neither: `github.` is not its prefix.
        assert_eq!(kv.get("git", "github.Sensor:last").await.expect("get"), None);
        assert_eq!(kv.get("git", "cursor").await.expect("get"), None);
    }

    #[tokio::test]
    async fn list_keys_merges_both_places_in_order() {
        let (_dir, store) = store();
        let kv = StoreKv::new(store.clone());
        for key in ["zeta", "github.A:x", "alpha", "github.B:y"] {
            kv.set("github", key, "v".into(), None).await.expect("set");
        }
        store
            .write(|tx| tx.kv_set(&KvScope::System, "other", "o".into(), None))
            .await
            .expect("operator key");
        assert_eq!(
            kv.list_keys("github", "").await.expect("list"),
            ["alpha", "github.A:x", "github.B:y", "zeta"]
        );
        assert_eq!(kv.list_keys("github", "github.B").await.expect("list"), ["github.B:y"]);
        assert_eq!(kv.list_keys("github", "gi").await.expect("list"), ["github.A:x", "github.B:y"]);
        assert_eq!(kv.list_keys("github", "z").await.expect("list"), ["zeta"]);
    }

    #[tokio::test]
    async fn an_operators_secret_under_the_prefix_stays_as_set() {
        let (_dir, store) = store();
        let kv = StoreKv::new(store.clone());
        store
            .write(|tx| tx.kv_set_secret(&KvScope::System, "github.A:token", "hunter2", None))
            .await
            .expect("secret");
        assert_eq!(
            kv.get("github", "github.A:token").await.expect("get"),
            Some(crate::store::MASKED_SECRET.into()),
            "kv never reveals a secret"
        );
        let refused = kv.set("github", "github.A:token", "plain".into(), None).await;
        assert!(refused.is_err_and(|e| e.contains("github.A:token") && e.contains("secret")));
        assert!(kv.delete("github", "github.A:token").await.is_err());
        let snapshot = store.read().expect("read");
        assert_eq!(
            snapshot.kv_reveal(&KvScope::System, "github.A:token", now_millis()).expect("reveal"),
            Some("hunter2".into())
        );
    }
}
