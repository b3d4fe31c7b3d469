//! What the host imports are backed by: `kv`, `config` and `secrets` read
//! from small traits the store implements, denials go to an [`AuditSink`];
//! in-memory implementations serve tests and one-shot runs.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

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

/// Named secrets, read only for a pack that was granted them.
/// Implementations must never log a value.
pub trait SecretSource: Send + Sync + std::fmt::Debug + 'static {
    /// The secret `name`; `None` when it is not set. Errors are messages for
    /// the pack, so they must not contain the value either.
    fn secret<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<String>, String>>;
}

/// Where the runtime reports a pack's use of a capability it was not granted.
pub trait AuditSink: Send + Sync + std::fmt::Debug + 'static {
    /// Records that `denial.pack` was refused a capability; awaited before the pack sees `denied`.
    fn denied<'a>(&'a self, denial: Denial) -> BoxFuture<'a, ()>;
}

/// A capability a pack can be granted (or refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    /// Outbound HTTP through `wasi:http`.
    Http,
    /// Reading a named secret.
    Secret,
    /// The pack's key-value scope.
    Kv,
    /// Running a host program.
    Exec,
}

impl Capability {
    /// The lowercase name, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Secret => "secret",
            Self::Kv => "kv",
            Self::Exec => "exec",
        }
    }
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One refused use of a capability. Never carries a secret value: the
/// target is a URL (without user information or query), a secret's name, a
/// key or a program path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Denial {
    /// The pack that asked.
    pub pack: String,
    /// What it asked for.
    pub capability: Capability,
    /// What it asked for it on.
    pub target: String,
}

/// The services the host imports are backed by.
#[derive(Debug, Clone)]
pub struct HostServices {
    /// Backs `squall:pack/kv`.
    pub kv: Arc<dyn KvBackend>,
    /// Backs `squall:pack/config`.
    pub config: Arc<dyn ConfigSource>,
    /// Backs `squall:pack/secrets` (for granted names only).
    pub secrets: Arc<dyn SecretSource>,
    /// Hears about every capability a pack was refused.
    pub audit: Arc<dyn AuditSink>,
}

impl Default for HostServices {
    /// In-memory kv, no config, no secrets, denials logged as warnings.
    fn default() -> Self {
        Self {
            kv: Arc::new(MemoryKv::default()),
            config: Arc::new(StaticConfig::default()),
            secrets: Arc::new(StaticSecrets::default()),
            audit: Arc::new(LogAudit),
        }
    }
}

/// Secrets fixed at start-up, by name. Its `Debug` shows names only.
#[derive(Default, Clone)]
pub struct StaticSecrets(pub HashMap<String, String>);

impl std::fmt::Debug for StaticSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.0.keys().collect();
        names.sort();
        f.debug_struct("StaticSecrets").field("names", &names).finish()
    }
}

impl SecretSource for StaticSecrets {
    fn secret<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<String>, String>> {
        Box::pin(std::future::ready(Ok(self.0.get(name).cloned())))
    }
}

/// Denials as `tracing` warnings only: the default sink.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogAudit;

fn log_denial(denial: &Denial) {
    tracing::warn!(
        pack = %denial.pack,
        capability = %denial.capability,
        target = %denial.target,
        "capability denied"
    );
}

impl AuditSink for LogAudit {
    fn denied<'a>(&'a self, denial: Denial) -> BoxFuture<'a, ()> {
        log_denial(&denial);
        Box::pin(std::future::ready(()))
    }
}

/// Denials kept in memory (and logged), for tests and one-shot runs.
#[derive(Debug, Default)]
pub struct MemoryAudit {
    denials: Mutex<Vec<Denial>>,
}

impl MemoryAudit {
    /// Every denial recorded so far, oldest first.
    pub fn denials(&self) -> Vec<Denial> {
        self.denials.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

impl AuditSink for MemoryAudit {
    fn denied<'a>(&'a self, denial: Denial) -> BoxFuture<'a, ()> {
        log_denial(&denial);
        self.denials.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(denial);
        Box::pin(std::future::ready(()))
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
