//! [`ApiState`]: what every handler shares — the engine, the manifests of
//! the packs this process loaded, the metrics, and the switch that ends
//! live event streams when the server stops.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::{Mutex, watch};

use super::metrics::Metrics;
use crate::engine::{Engine, PackManager};
use crate::pack::Manifest;

/// The API's shared state. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ApiState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    engine: Engine,
    manifests: BTreeMap<String, Manifest>,
    metrics: Arc<Metrics>,
    /// Serialises rule changes, so that "no rule with this ref yet, store
    /// it" cannot interleave with another request doing the same.
    rule_changes: Mutex<()>,
    closing: watch::Sender<bool>,
    feed: tokio::task::AbortHandle,
    /// Installs and removes packs; absent on servers that only run the
    /// packs they were started with.
    packs: std::sync::OnceLock<PackManager>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.feed.abort();
    }
}

impl ApiState {
    /// State for an API in front of `engine`; `manifests` describe the
    /// packs loaded into it (descriptions and output schemas that the
    /// action catalog does not keep). Must be called inside a tokio
    /// runtime: it starts the task that counts the engine's events for
    /// `/metrics`.
    pub fn new(engine: Engine, manifests: impl IntoIterator<Item = Manifest>) -> Self {
        let metrics = Arc::new(Metrics::default());
        let feed = tokio::spawn(metrics.clone().count(engine.subscribe())).abort_handle();
        let manifests = manifests.into_iter().map(|m| (m.name.clone(), m)).collect();
        Self {
            inner: Arc::new(Inner {
                engine,
                manifests,
                metrics,
                rule_changes: Mutex::new(()),
                closing: watch::Sender::new(false),
                feed,
                packs: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Lets the API install, upgrade and remove packs through `packs`
    /// (which must drive the same engine). Only the first call counts.
    pub fn enable_pack_lifecycle(&self, packs: PackManager) {
        let _ = self.inner.packs.set(packs);
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
