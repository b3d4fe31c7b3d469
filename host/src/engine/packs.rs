//! Putting a pack to work in a running engine: its actions join the
//! catalog, its trigger types are stored, its poll sensors start and its
//! webhook sensors get their routes. Verifying and granting come with the
//! pack lifecycle; this is what happens once a pack is accepted.

use std::sync::{Arc, PoisonError};

use super::actions::CatalogError;
use super::executor::Engine;
use super::sensors::PollSensor;
use super::webhooks::WebhookSensor;
use crate::pack::{Manifest, SensorKind};
use crate::runtime::{Limits, LoadedComponent};
use crate::store::{PackRecord, ReadError, TriggerTypeRecord, WriteError, now_millis};

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
        let mut actions = (*self.shared.ingest.actions()).clone();
        actions.add_pack(manifest, component.clone())?;
        if !manifest.sensors.is_empty() && !component.exports_sensor() {
            return Err(InstallError::NoSensorExport {
                pack: manifest.name.clone(),
                component: component.path().display().to_string(),
            });
        }
        let pack = PackRecord {
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            manifest: manifest.source.clone(),
            component_sha256: component.sha256().to_owned(),
            installed_at: now_millis(),
        };
        let trigger_types: Vec<TriggerTypeRecord> = manifest
            .triggers
            .iter()
            .map(|(name, trigger)| TriggerTypeRecord {
                name: format!("{}.{name}", manifest.name),
                pack: manifest.name.clone(),
                description: trigger.description.clone(),
                payload_schema: trigger.payload.clone(),
                parameters_schema: trigger.parameters.clone(),
            })
            .collect();
        self.store()
            .write(move |tx| {
                tx.put_pack(&pack)?;
                trigger_types.iter().try_for_each(|t| tx.put_trigger_type(t))
            })
            .await?;
        let problems = self.reload_rules()?;
        if !problems.is_empty() {
            tracing::warn!(?problems, "stored catalog entries not loaded");
        }
        self.set_actions(actions);
        // Sensors of the version being replaced stop, whatever the new one
        // declares.
        let prefix = format!("{}.", manifest.name);
        self.pollers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|running| !running.reference.starts_with(&prefix));
        let mut webhooks = (*self.webhook_sensors()).clone();
        webhooks.retain(|_, sensor| sensor.component.pack() != manifest.name);
        for (name, sensor) in &manifest.sensors {
            match &sensor.kind {
                SensorKind::Poll { interval } => {
                    let poll = PollSensor {
                        component: component.clone(),
                        name: name.clone(),
                        config: config.clone(),
                        limits: Limits::default(),
                    };
                    self.add_poll_sensor(poll, *interval);
                }
                SensorKind::Webhook { route } => {
                    let hook = WebhookSensor {
                        component: component.clone(),
                        name: name.clone(),
                        limits: Limits::default(),
                    };
                    webhooks.insert(route.clone(), hook);
                }
            }
        }
        self.set_webhook_sensors(webhooks);
        Ok(())
    }
}
