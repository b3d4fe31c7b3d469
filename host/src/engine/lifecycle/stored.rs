//! A pack's stored record and bundle put to work on this node: after its
//! configuration changed (its poll sensors start over), and on a cluster
//! node, after other nodes installed, upgraded, configured or removed it
//! ([`PackManager::sync_with_store`]); and at start, the packs read by
//! [`load_installed`](super::load_installed).

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::{LifecycleError, PackManager, RestoredPack, check_bundle, sensor_config};
use crate::pack::{Bundle, Keyring};
use crate::runtime::{Grants, LoadError};
use crate::store::PackRecord;

impl PackManager {
    /// Notes the stored record of `name` as the one this node runs (none,
    /// once removed).
    pub(super) fn remember(&self, name: &str) {
        let stored = self.engine.store().read().and_then(|s| s.pack(name)).ok().flatten();
        let mut running = self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match stored {
            Some(record) => {
                running.insert(name.to_owned(), (record.installed_at, record.config.to_string()))
            }
            None => running.remove(name),
        };
    }

    /// On a cluster node, after other nodes' writes: puts to work the packs
    /// they installed, upgraded or configured, as stored (each bundle
    /// verified against the keyring and compiled here), and takes out of
    /// service those they removed. Returns one line per pack that did not
    /// load; it is tried again at the next change.
    pub async fn sync_with_store(&self) -> Vec<String> {
        let _serialised = self.changes.lock().await;
        let stored = match self.engine.store().read().and_then(|s| s.packs()) {
            Ok(stored) => stored,
            Err(error) => return vec![format!("cannot read the stored packs: {error}")],
        };
        let running =
            self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let mut problems = Vec::new();
        for record in stored.iter().filter(|r| r.has_bundle) {
            let stamp = (record.installed_at, record.config.to_string());
            if running.get(&record.name) == Some(&stamp) {
                continue;
            }
            match self.load_stored(record).await {
                Ok(()) => {
                    self.set_config(&record.name, &record.config);
                    // The record loaded, not the one stored now: a change
                    // applied meanwhile is loaded at the next sync.
                    self.running
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert(record.name.clone(), stamp);
                    tracing::info!(pack = %record.name, version = %record.version, "cluster: pack put to work as another node stored it");
                }
                Err(error) => problems.push(format!("pack {}: {error}", record.name)),
            }
        }
        for name in running.keys().filter(|n| stored.iter().all(|r| &r.name != *n)) {
            if let Err(error) = self.engine.deactivate_pack(name) {
                problems.push(format!("pack {name}: {error}"));
            }
            self.set_config(name, &Value::Null);
            self.remember(name);
        }
        problems
    }

    /// Verifies the stored bundle of `record` against the keyring (a
    /// signed one must still verify here), compiles it and puts it to work.
    async fn load_stored(&self, record: &PackRecord) -> Result<(), LifecycleError> {
        let keyring = self.keyring()?;
        self.put_stored_to_work(record, record.config.clone(), Some(keyring)).await
    }

    /// Puts `record`'s pack to work again with `config`, so that its poll
    /// sensors start over with it: the component from the stored bundle
    /// (the compile cache has it) and its grants, as after a restart.
    pub(super) async fn restart_sensors(
        &self,
        record: &PackRecord,
        config: Value,
    ) -> Result<(), LifecycleError> {
        self.put_stored_to_work(record, config, None).await
    }

    /// The stored bundle of `record` compiled with its grants and put to
    /// work with `config`; first checked against `keyring` when given (a
    /// bundle another node stored).
    async fn put_stored_to_work(
        &self,
        record: &PackRecord,
        config: Value,
        keyring: Option<Keyring>,
    ) -> Result<(), LifecycleError> {
        let name = record.name.clone();
        let unsigned = record.signer.is_none();
        let bundle = self
            .engine
            .store()
            .read()?
            .bundle(&name)?
            .ok_or_else(|| LifecycleError::NotInstalled(name.clone()))?;
        let grants: Grants = serde_json::from_value(record.grants.clone()).unwrap_or_default();
        let (runtime, origin) = (self.runtime.clone(), format!("stored bundle of {name}"));
        let path = std::path::PathBuf::from(&origin);
        // The manifest from the bundle: its workflows are sections of it.
        let (manifest, component) = tokio::task::spawn_blocking(move || {
            if let Some(keyring) = &keyring {
                check_bundle(keyring, &bundle, &origin, unsigned)?;
            }
            let manifest = Bundle::read(&bundle, &origin)?.manifest;
            let component =
                runtime.load_bytes_granted(Path::new(&origin), &bundle, &name, grants)?;
            Ok::<_, LifecycleError>((manifest, component))
        })
        .await
        .map_err(|e| LoadError::Compile {
            path,
            message: format!("the load task failed: {e}"),
        })??;
        let component = Arc::new(component);
        let actions = self.engine.catalog_with(&manifest, &component)?;
        self.engine.activate_pack(&manifest, component, actions, sensor_config(config))?;
        Ok(())
    }

    /// Puts packs read by [`load_installed`] to work: sensors start and
    /// webhook routes open. Their actions should already be in the catalog
    /// the engine started with, so that recovered executions find them.
    pub fn resume(&self, packs: Vec<RestoredPack>) -> Result<(), LifecycleError> {
        for pack in packs {
            self.remember(&pack.manifest.name);
            let actions = self.engine.catalog_with(&pack.manifest, &pack.component)?;
            self.set_config(&pack.manifest.name, &pack.config);
            let config = sensor_config(pack.config);
            self.engine.activate_pack(&pack.manifest, pack.component, actions, config)?;
        }
        Ok(())
    }
}
