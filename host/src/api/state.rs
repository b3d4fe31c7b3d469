//! [`ApiState`]: what every handler shares — the engine, the manifests of
//! the packs this process loaded, the metrics, the server's access policy,
//! the switch that ends live event streams when the server stops, the
//! signal that tells open streams to check their credentials again, and
//! the limits on bundle uploads.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, watch};

use super::metrics::Metrics;
use super::upload::{InstallLimits, Uploads};
use crate::chatops::ChatConfig;
use crate::engine::{Engine, PackManager};
use crate::pack::Manifest;

/// The API's shared state. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ApiState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    engine: Engine,
    manifests: BTreeMap<String, Manifest>,
    metrics: Arc<Metrics>,
    /// Serialises rule changes, so that "no rule with this ref yet, store
    /// it" cannot interleave with another request doing the same.
    rule_changes: Mutex<()>,
    closing: watch::Sender<bool>,
    feed: tokio::task::AbortHandle,
    /// The task that sends alias executions' results to chat.
    chat_feed: std::sync::OnceLock<tokio::task::AbortHandle>,
    /// Installs and removes packs; absent on servers that only run the
    /// packs they were started with.
    packs: std::sync::OnceLock<PackManager>,
    policy: AccessPolicy,
    /// Bumped whenever a key, token, user or role changes, so that open
    /// event streams check their caller again at once.
    access_changed: watch::Sender<u64>,
    /// The limits on bundle uploads; the defaults unless set first.
    uploads: std::sync::OnceLock<Uploads>,
    /// The operator's ChatOps settings (`--chatops FILE`), when given.
    chat: std::sync::OnceLock<ChatConfig>,
    /// The registries (`host[:port]`) the operator lets the server pull
    /// packs from (`squall serve --registry`); none unless set.
    registries: std::sync::OnceLock<Vec<String>>,
}

/// The server's own rules for access, which no client can widen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPolicy {
    /// Whether bundles without a signature may be installed at all
    /// (`squall serve --allow-unsigned`); a client's `allow_unsigned` can
    /// only narrow this.
    pub allow_unsigned: bool,
    /// A token's lifetime when the client asks for none.
    pub token_ttl: Duration,
    /// The longest lifetime a client may ask for.
    pub token_max_ttl: Duration,
}

/// StackStorm's default token lifetime: 24 hours.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(24 * 60 * 60);

impl Default for AccessPolicy {
    fn default() -> Self {
        Self {
            allow_unsigned: false,
            token_ttl: DEFAULT_TOKEN_TTL,
            token_max_ttl: DEFAULT_TOKEN_TTL,
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.feed.abort();
        if let Some(chat_feed) = self.chat_feed.get() {
            chat_feed.abort();
        }
    }
}

impl ApiState {
    /// State for an API in front of `engine`; `manifests` describe the
    /// packs loaded into it (descriptions and output schemas that the
    /// action catalog does not keep). Must be called inside a tokio
    /// runtime: it starts the task that counts the engine's events for
    /// `/metrics`.
    pub fn new(engine: Engine, manifests: impl IntoIterator<Item = Manifest>) -> Self {
        Self::with_policy(engine, manifests, AccessPolicy::default())
    }

    /// [`new`](Self::new), with the server's access policy.
    pub fn with_policy(
        engine: Engine,
        manifests: impl IntoIterator<Item = Manifest>,
        policy: AccessPolicy,
    ) -> Self {
        let metrics = Arc::new(Metrics::default());
        let feed = tokio::spawn(metrics.clone().count(engine.subscribe())).abort_handle();
        let manifests = manifests.into_iter().map(|m| (m.name.clone(), m)).collect();
        let chat_events = engine.subscribe();
        let state = Self {
            inner: Arc::new(Inner {
                engine,
                manifests,
                metrics,
                rule_changes: Mutex::new(()),
                closing: watch::Sender::new(false),
                feed,
                packs: std::sync::OnceLock::new(),
                policy,
                access_changed: watch::Sender::new(0),
                uploads: std::sync::OnceLock::new(),
                chat: std::sync::OnceLock::new(),
                chat_feed: std::sync::OnceLock::new(),
                registries: std::sync::OnceLock::new(),
            }),
        };
        // The notifier holds the state weakly, so that dropping the last
        // handle still drops the state (and aborts it).
        let notifier = super::chat_notify::follow(Arc::downgrade(&state.inner), chat_events);
        let _ = state.inner.chat_feed.set(tokio::spawn(notifier).abort_handle());
        state
    }

    /// The state again from a weak handle, while it lives.
    pub(crate) fn upgrade(inner: &std::sync::Weak<Inner>) -> Option<Self> {
        inner.upgrade().map(|inner| Self { inner })
    }

    /// Lets the API install, upgrade and remove packs through `packs`
    /// (which must drive the same engine). Only the first call counts.
    pub fn enable_pack_lifecycle(&self, packs: PackManager) {
        let _ = self.inner.packs.set(packs);
    }

    /// Sets the limits on bundle uploads (`squall serve
    /// --max-bundle-size`, `--max-concurrent-installs`). Only a call before
    /// the first install counts.
    pub fn limit_installs(&self, limits: InstallLimits) {
        let _ = self.inner.uploads.set(Uploads::new(limits));
    }

    /// Sets the ChatOps settings (`squall serve --chatops FILE`): chat
    /// users are then mapped as it says, and its chat platforms answered.
    /// Only the first call counts.
    pub fn set_chat_config(&self, config: ChatConfig) {
        let _ = self.inner.chat.set(config);
    }

    /// Sets the registries the server may pull packs from for a client
    /// (`squall serve --registry HOST[:PORT]`). Only the first call counts.
    pub fn allow_registries(&self, registries: Vec<String>) {
        let _ = self.inner.registries.set(registries);
    }

    /// The registries the server may pull packs from; empty unless the
    /// operator named some.
    pub(crate) fn registries(&self) -> &[String] {
        self.inner.registries.get().map(Vec::as_slice).unwrap_or_default()
    }

    /// The ChatOps settings, when the operator gave any.
    pub(crate) fn chat_config(&self) -> Option<&ChatConfig> {
        self.inner.chat.get()
    }

    /// The limits on bundle uploads and their permits.
    pub(crate) fn uploads(&self) -> &Uploads {
        self.inner.uploads.get_or_init(|| Uploads::new(InstallLimits::default()))
    }

    /// The pack manager, when lifecycle changes are enabled.
    pub(crate) fn packs(&self) -> Option<&PackManager> {
        self.inner.packs.get()
    }

    /// The engine the API drives.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Ends every open event stream (and refuses new ones), so that a
    /// graceful shutdown does not wait on clients that never hang up.
    pub fn close_streams(&self) {
        self.inner.closing.send_replace(true);
    }

    pub(crate) fn closing(&self) -> watch::Receiver<bool> {
        self.inner.closing.subscribe()
    }

    /// The server's access policy.
    pub fn policy(&self) -> &AccessPolicy {
        &self.inner.policy
    }

    /// Tells open streams that keys, tokens, users or roles changed.
    pub(crate) fn access_changed(&self) {
        self.inner
            .access_changed
            .send_modify(|generation| *generation = generation.wrapping_add(1));
    }

    /// Wakes when [`access_changed`](Self::access_changed) is called.
    pub(crate) fn watch_access(&self) -> watch::Receiver<u64> {
        self.inner.access_changed.subscribe()
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub(crate) fn rule_changes(&self) -> &Mutex<()> {
        &self.inner.rule_changes
    }

    /// Every pack manifest known: the stored packs' (installed), then the
    /// ones this process was given for packs not stored.
    pub(crate) fn manifests(&self) -> Result<BTreeMap<String, Manifest>, crate::store::ReadError> {
        let mut manifests = self.inner.manifests.clone();
        for record in self.engine().store().read()?.packs()? {
            let file = format!("stored pack {}", record.name);
            match Manifest::from_toml(&record.manifest, Path::new(&file)) {
                Ok(manifest) => {
                    manifests.insert(manifest.name.clone(), manifest);
                }
                Err(error) => tracing::warn!(%error, "stored pack manifest does not load"),
            }
        }
        Ok(manifests)
    }
}
