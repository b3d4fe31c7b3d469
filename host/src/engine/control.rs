//! What operators do to a running engine besides feeding it events: reload
//! the rules, re-emit a trigger instance, re-run an execution, run and
//! inspect poll sensors.

use std::sync::PoisonError;
use std::time::Duration;

use uuid::Uuid;

use super::catalog::Catalog;
use super::error::{EmitError, RequestError};
use super::executor::{Engine, RunningSensor};
use super::ingest::Emitted;
use super::sensors::{PollSensor, Poller, SensorStatus};
use crate::store::{ReadError, TriggerInstance, WriteError};

/// A poll sensor and how it has been doing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SensorInfo {
    /// `pack.sensor`.
    pub reference: String,
    /// Time between polls, in milliseconds.
    pub interval_ms: u64,
    /// Polls, events, last poll and last error.
    pub status: SensorStatus,
}

/// Why an operator request on a stored record failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// No record has that id.
    #[error("{0} not found")]
    NotFound(String),
    /// The store could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The new event was refused.
    #[error(transparent)]
    Emit(#[from] EmitError),
    /// The new execution was refused.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The store refused or failed the commit.
    #[error(transparent)]
    Write(#[from] WriteError),
}

impl Engine {
    /// Reloads rules from the store (after a rule was created, changed,
    /// enabled, disabled or deleted), adds the stored trigger types to the
    /// ones in force, and re-arms timers. Returns what did not load.
    pub fn reload_rules(&self) -> Result<Vec<String>, ReadError> {
        let mut catalog = Catalog::load(self.store())?;
        // Stored types join the ones in force; none is dropped, so a type
        // registered without being stored keeps working.
        let mut types = (*self.shared.ingest.trigger_types()).clone();
        for declared in catalog.trigger_types.iter() {
            if let Err(error) = types.register(declared.clone()) {
                catalog.problems.push(error.to_string());
            }
        }
        self.shared.ingest.set_trigger_types(types);
        self.set_rules(catalog.rules);
        Ok(catalog.problems)
    }

    /// Emits a new trigger instance with the trigger, parameters and payload
    /// of a stored one, decided against the rules in force now.
    pub async fn re_emit(&self, id: Uuid) -> Result<Emitted, ControlError> {
        let stored = self
            .store()
            .read()?
            .trigger_instance(id)?
            .ok_or_else(|| ControlError::NotFound(format!("trigger instance {id}")))?;
        let copy = TriggerInstance {
            parameters: stored.parameters,
            ..TriggerInstance::new(stored.trigger, stored.payload)
        };
        let decided = self.shared.ingest.decide_instance(copy);
        let emitted = self.shared.ingest.commit(vec![decided], |_| Ok(())).await?;
        emitted.into_iter().next().ok_or(ControlError::Write(WriteError::Closed))
    }

    /// Requests a new execution of the same action with the same
    /// parameters as a stored one (StackStorm's re-run).
    pub async fn rerun(&self, id: Uuid) -> Result<Uuid, ControlError> {
        self.rerun_by(id, None, serde_json::Map::new()).await
    }

    /// [`rerun`](Self::rerun) on behalf of `user`, recorded on the new
    /// execution, with `overrides` in place of the parameters of the same
    /// names (checked against the action's schema like any request).
    pub async fn rerun_by(
        &self,
        id: Uuid,
        user: Option<String>,
        overrides: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Uuid, ControlError> {
        let stored = self
            .store()
            .read()?
            .execution(id)?
            .ok_or_else(|| ControlError::NotFound(format!("execution {id}")))?;
        let mut parameters = stored.parameters.as_object().cloned().unwrap_or_default();
        parameters.extend(overrides);
        Ok(self.request_by(&stored.action, parameters, user).await?)
    }

    /// Starts polling `sensor` every `interval` on the engine's threads; a
    /// sensor with the same reference is replaced.
    pub fn add_poll_sensor(&self, sensor: PollSensor, interval: Duration) {
        let reference = sensor.reference();
        let poller =
            Poller::spawn_on(&self.shared.workers, self.shared.ingest.clone(), sensor, interval);
        let mut pollers = self.pollers.lock().unwrap_or_else(PoisonError::into_inner);
        pollers.retain(|running| running.reference != reference);
        pollers.push(RunningSensor { reference, interval, poller });
    }

    /// The poll sensors running, by reference.
    pub fn sensors(&self) -> Vec<SensorInfo> {
        let pollers = self.pollers.lock().unwrap_or_else(PoisonError::into_inner);
        let mut sensors: Vec<SensorInfo> = pollers
            .iter()
            .map(|running| SensorInfo {
                reference: running.reference.clone(),
                interval_ms: u64::try_from(running.interval.as_millis()).unwrap_or(u64::MAX),
                status: running.poller.status(),
            })
            .collect();
        sensors.sort_by(|a, b| a.reference.cmp(&b.reference));
        sensors
    }
}
