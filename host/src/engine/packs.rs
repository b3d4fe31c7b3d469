//! Putting a pack to work in a running engine: its actions join the
//! catalog, its trigger types are stored, its poll sensors start and its
//! webhook sensors get their routes. Verifying and granting come with the
//! pack lifecycle; this is what happens once a pack is accepted.

use std::sync::{Arc, PoisonError};

use super::actions::{Actions, CatalogError};
use super::executor::Engine;
use super::sensors::PollSensor;
use super::webhooks::{WebhookSensor, WebhookSensors};
use crate::pack::{Manifest, SensorKind};
use crate::runtime::{Limits, LoadedComponent};
use crate::store::{PackRecord, ReadError, TriggerTypeRecord, WriteError, now_millis};

/// Sensors run within the pack's `[capabilities]` ceilings, when it sets
/// any, else the runtime's defaults.
fn sensor_limits(manifest: &Manifest) -> Limits {
    let defaults = Limits::default();
    Limits {
        timeout: manifest
            .capabilities
            .timeout
            .map_or(defaults.timeout, |t| t.min(defaults.timeout)),
        memory_bytes: manifest
            .capabilities
            .memory_bytes
            .map_or(defaults.memory_bytes, |m| m.min(defaults.memory_bytes)),
        ..defaults
    }
}

/// The trigger types `manifest` declares, as stored.
pub(super) fn trigger_type_records(manifest: &Manifest) -> Vec<TriggerTypeRecord> {
    manifest
        .triggers
        .iter()
        .map(|(name, trigger)| TriggerTypeRecord {
            name: format!("{}.{name}", manifest.name),
            pack: manifest.name.clone(),
            description: trigger.description.clone(),
            payload_schema: trigger.payload.clone(),
            parameters_schema: trigger.parameters.clone(),
        })
        .collect()
}

/// Why a pack was not put to work. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstallError {
    /// The component cannot run what the manifest declares.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The manifest declares sensors but the component exports none.
    #[error(
        "pack {pack}: the manifest declares sensors but {component} exports no sensor interface"
    )]
    NoSensorExport {
        /// Pack name.
        pack: String,
        /// Component file.
        component: String,
    },
    /// The store could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The store refused or failed the commit.
    #[error(transparent)]
    Write(#[from] WriteError),
}

impl Engine {
    /// Installs `manifest`'s pack, run by `component`, replacing a pack of
    /// the same name: records the pack and its trigger types, adds its
    /// actions, starts its poll sensors (each poll is handed `config`, the
    /// pack's configuration) and routes its webhook sensors.
    pub async fn install_pack(
        &self,
        manifest: &Manifest,
        component: Arc<LoadedComponent>,
        config: serde_json::Value,
    ) -> Result<(), InstallError> {
        let actions = self.catalog_with(manifest, &component)?;
        let pack = PackRecord {
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            manifest: manifest.source.clone(),
            component_sha256: component.sha256().to_owned(),
            installed_at: now_millis(),
            publisher: manifest.publisher.clone(),
            signer: None,
            grants: serde_json::to_value(component.grants()).unwrap_or_default(),
            has_bundle: false,
            config: config.clone(),
        };
        let trigger_types = trigger_type_records(manifest);
        self.store()
            .write(move |tx| {
                tx.put_pack(&pack)?;
                trigger_types.iter().try_for_each(|t| tx.put_trigger_type(t))
            })
            .await?;
        self.activate_pack(manifest, component, actions, config)
    }

    /// The action catalog in force with `manifest`'s pack replaced by the
    /// actions `component` runs; checked, not yet in force.
    pub(super) fn catalog_with(
        &self,
        manifest: &Manifest,
        component: &Arc<LoadedComponent>,
    ) -> Result<Actions, InstallError> {
        let mut actions = (*self.shared.ingest.actions()).clone();
        actions.remove_pack(&manifest.name);
        actions.add_pack(manifest, component.clone())?;
        if !manifest.sensors.is_empty() && !component.exports_sensor() {
            return Err(InstallError::NoSensorExport {
                pack: manifest.name.clone(),
                component: component.path().display().to_string(),
            });
        }
        Ok(actions)
    }

    /// Puts a pack whose records are already stored to work: `actions`
    /// (from [`Engine::catalog_with`]) replaces the catalog in force, then
    /// trigger types and rules are reloaded from the store, and the pack's
    /// sensors replace those of any earlier version. Each swap is atomic,
    /// so an event sees the old pack or the new one, never neither;
    /// executions already running finish on the component they hold.
    pub(super) fn activate_pack(
        &self,
        manifest: &Manifest,
        component: Arc<LoadedComponent>,
        actions: Actions,
        config: serde_json::Value,
    ) -> Result<(), InstallError> {
        self.set_actions(actions);
        self.reload_pack_types(&manifest.name)?;
        let mut webhooks = self.stop_sensors(&manifest.name);
        let limits = sensor_limits(manifest);
        for (name, sensor) in &manifest.sensors {
            match &sensor.kind {
                SensorKind::Poll { interval } => {
                    let poll = PollSensor {
                        component: component.clone(),
                        name: name.clone(),
                        config: config.clone(),
                        limits: limits.clone(),
                    };
                    self.add_poll_sensor(poll, *interval);
                }
                SensorKind::Webhook { route } => {
                    let hook = WebhookSensor {
                        component: component.clone(),
                        name: name.clone(),
                        limits: limits.clone(),
                    };
                    webhooks.insert(route.clone(), hook);
                }
            }
        }
        self.set_webhook_sensors(webhooks);
        Ok(())
    }

    /// Takes a removed pack out of service: its actions, trigger types,
    /// sensors and webhook routes go; rules are reloaded from the store.
    /// Executions already running finish on the component they hold.
    pub(super) fn deactivate_pack(&self, name: &str) -> Result<(), ReadError> {
        let mut actions = (*self.shared.ingest.actions()).clone();
        actions.remove_pack(name);
        self.set_actions(actions);
        self.reload_pack_types(name)?;
        let webhooks = self.stop_sensors(name);
        self.set_webhook_sensors(webhooks);
        Ok(())
    }

    /// Drops `pack`'s trigger types from those in force, then reloads types
    /// and rules from the store, so that types a new version no longer
    /// declares are gone.
    fn reload_pack_types(&self, pack: &str) -> Result<(), ReadError> {
        let mut types = (*self.shared.ingest.trigger_types()).clone();
        types.remove_pack(pack);
        self.shared.ingest.set_trigger_types(types);
        let problems = self.reload_rules()?;
        if !problems.is_empty() {
            tracing::warn!(?problems, "stored catalog entries not loaded");
        }
        Ok(())
    }

    /// Stops `pack`'s poll sensors and returns the webhook routes without
    /// its webhook sensors, for the caller to add to and put in force.
    fn stop_sensors(&self, pack: &str) -> WebhookSensors {
        self.pollers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|running| crate::limits::ref_pack(&running.reference) != Some(pack));
        let mut webhooks = (*self.webhook_sensors()).clone();
        webhooks.retain(|_, sensor| sensor.component.pack() != pack);
        webhooks
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;

    #[test]
    fn sensors_run_within_the_pack_ceilings() {
        let text = "name = \"p\"\nversion = \"1.0.0\"\n[capabilities]\nmemory = \"16MiB\"\ntimeout = \"5s\"\n";
        let manifest = Manifest::from_toml(text, Path::new("pack.toml")).expect("manifest");
        let limits = sensor_limits(&manifest);
        assert_eq!((limits.memory_bytes, limits.timeout), (16 << 20, Duration::from_secs(5)));
        let plain =
            Manifest::from_toml("name = \"p\"\nversion = \"1.0.0\"\n", Path::new("pack.toml"))
                .expect("manifest");
        assert_eq!(sensor_limits(&plain), Limits::default());
    }
}
