//! What the host imports `kv` and `config` are backed by: small traits the
//! store implements later, and in-memory implementations for now.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A boxed future, so the traits below stay object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Key-value storage scoped by pack. Errors are messages for the pack.
pub trait KvBackend: Send + Sync + std::fmt::Debug + 'static {
    /// The live value under `key` in `pack`'s scope.
    fn get<'a>(
        &'a self,
        pack: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, String>>;
    /// Store `value`, expiring after `ttl` when given.
    fn set<'a>(
        &'a self,
        pack: &'a str,
        key: &'a str,
        value: String,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), String>>;
    /// Remove `key`; true when a live value was removed.
    fn delete<'a>(&'a self, pack: &'a str, key: &'a str) -> BoxFuture<'a, Result<bool, String>>;
    /// Live keys starting with `prefix`, in lexicographic order.
    fn list_keys<'a>(
        &'a self,
        pack: &'a str,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, String>>;
}

/// The validated configuration of each pack, as JSON text.
pub trait ConfigSource: Send + Sync + std::fmt::Debug + 'static {
    /// `pack`'s configuration; `None` when it has none.
    fn config(&self, pack: &str) -> Option<String>;
}

/// The services the host imports are backed by.
#[derive(Debug, Clone)]
pub struct HostServices {
    /// Backs `squall:pack/kv`.
    pub kv: Arc<dyn KvBackend>,
    /// Backs `squall:pack/config`.
    pub config: Arc<dyn ConfigSource>,
}

impl Default for HostServices {
    fn default() -> Self {
        Self { kv: Arc::new(MemoryKv::default()), config: Arc::new(StaticConfig::default()) }
    }
}

/// A value and when it expires.
type Entry = (String, Option<Instant>);
/// Entries by pack, then by key.
type Scopes = HashMap<String, BTreeMap<String, Entry>>;

/// A process-local key-value store with expiry, for one-shot runs and tests.
#[derive(Debug, Default)]
pub struct MemoryKv {
    entries: Mutex<Scopes>,
}

impl MemoryKv {
    fn with<T>(&self, f: impl FnOnce(&mut Scopes) -> T) -> T {
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut entries)
    }
}

fn live(entry: &Entry, now: Instant) -> bool {
    entry.1.is_none_or(|expiry| expiry > now)
}

impl KvBackend for MemoryKv {
    fn get<'a>(
        &'a self,
        pack: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, String>> {
        let now = Instant::now();
        let value = self.with(|all| {
            all.get(pack)
                .and_then(|scope| scope.get(key))
                .filter(|e| live(e, now))
                .map(|e| e.0.clone())
        });
        Box::pin(std::future::ready(Ok(value)))
    }

    fn set<'a>(
        &'a self,
        pack: &'a str,
        key: &'a str,
        value: String,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), String>> {
        let expiry = ttl.map(|ttl| Instant::now() + ttl);
        self.with(|all| {
            all.entry(pack.to_owned()).or_default().insert(key.to_owned(), (value, expiry))
        });
        Box::pin(std::future::ready(Ok(())))
    }

    fn delete<'a>(&'a self, pack: &'a str, key: &'a str) -> BoxFuture<'a, Result<bool, String>> {
        let now = Instant::now();
        let removed = self.with(|all| {
            all.get_mut(pack).and_then(|scope| scope.remove(key)).is_some_and(|e| live(&e, now))
        });
        Box::pin(std::future::ready(Ok(removed)))
    }

    fn list_keys<'a>(
        &'a self,
        pack: &'a str,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, String>> {
        let now = Instant::now();
        let keys = self.with(|all| {
            all.get(pack)
                .map(|scope| {
                    scope
                        .range(prefix.to_owned()..)
                        .take_while(|(k, _)| k.starts_with(prefix))
                        .filter(|(_, e)| live(e, now))
                        .map(|(k, _)| k.clone())
                        .collect()
                })
                .unwrap_or_default()
        });
        Box::pin(std::future::ready(Ok(keys)))
    }
}

/// Configuration fixed at start-up, by pack name.
#[derive(Debug, Default, Clone)]
pub struct StaticConfig(pub HashMap<String, String>);

impl ConfigSource for StaticConfig {
    fn config(&self, pack: &str) -> Option<String> {
        self.0.get(pack).cloned()
    }
}
