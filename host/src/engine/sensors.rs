//! Poll sensors: each poll starts from the last committed cursor, and the
//! events it returns are committed together with the new cursor, in one
//! transaction, so a restart neither repeats nor skips events. Between polls
//! a sensor holds nothing: no instance, no memory beyond its schedule.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;

use super::ingest::Ingest;
use super::trigger_types::TriggerError;
use crate::runtime::{InvokeError, Limits, LoadedComponent, LogBuffer};
use crate::store::{Millis, ReadError, WriteError, now_millis};

/// One sensor of one loaded pack, with its config.
#[derive(Debug, Clone)]
pub struct PollSensor {
    /// The pack's component.
    pub component: Arc<LoadedComponent>,
    /// The sensor's name within the pack.
    pub name: String,
    /// Its configuration object.
    pub config: Value,
    /// Sandbox limits for each poll.
    pub limits: Limits,
}

impl PollSensor {
    /// `pack.sensor`, the key its cursor is stored under.
    pub fn reference(&self) -> String {
        format!("{}.{}", self.component.pack(), self.name)
    }
}

/// What one poll committed.
#[derive(Debug, Clone, PartialEq)]
pub struct PollReport {
    /// Ids of the trigger instances committed, in the sensor's order.
    pub committed: Vec<Uuid>,
    /// The cursor now stored.
    pub cursor: Option<String>,
    /// What the sensor logged.
    pub logs: LogBuffer,
}

/// Why a poll committed nothing. The cursor stays where it was, so the next
/// poll asks for the same events again.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PollError {
    /// The sensor failed, timed out or was refused by the sandbox.
    #[error("sensor {sensor}: {error}")]
    Sensor {
        /// `pack.sensor`.
        sensor: String,
        /// What the runtime reported.
        error: InvokeError,
    },
    /// One event did not fit its trigger type; none of the poll's events
    /// were committed.
    #[error("sensor {sensor}: event {index}: {error}")]
    Event {
        /// `pack.sensor`.
        sensor: String,
        /// Position of the event in the poll.
        index: usize,
        /// Why it was refused.
        error: TriggerError,
    },
    /// The store could not read the cursor.
    #[error("sensor {sensor}: {error}")]
    Read {
        /// `pack.sensor`.
        sensor: String,
        /// The store's error.
        error: ReadError,
    },
    /// The store could not commit.
    #[error("sensor {sensor}: {error}")]
    Write {
        /// `pack.sensor`.
        sensor: String,
        /// The store's error.
        error: WriteError,
    },
}

/// On a cluster node, takes or renews the lease that makes this node the
/// one polling `sensor` (held for two intervals and 5 s more, so a dead
/// node's sensors move within that); a single node always polls.
async fn holds_lease(ingest: &Ingest, sensor: &str, interval: Duration) -> bool {
    let store = ingest.store();
    if !store.replicated() {
        return true;
    }
    let hold = interval.saturating_mul(2).saturating_add(Duration::from_secs(5));
    let (name, node) = (format!("lease:sensor:{sensor}"), store.node().to_owned());
    let taken = store
        .write(move |tx| {
            let now = now_millis();
            let held = tx.sensor_cursor(&name)?.and_then(|lease| {
                let (holder, until) = lease.split_once(' ')?;
                Some((holder.to_owned(), until.parse::<Millis>().ok()?))
            });
            if let Some((holder, until)) = held
                && holder != node
                && until > now
            {
                return Ok(false);
            }
            let until =
                now.saturating_add(Millis::try_from(hold.as_millis()).unwrap_or(Millis::MAX));
            tx.set_sensor_cursor(&name, &format!("{node} {until}"))?;
            Ok(true)
        })
        .await;
    taken.unwrap_or_else(|error| {
        tracing::warn!(%sensor, %error, "cluster: cannot take the sensor's lease; not polling");
        false
    })
}

/// Polls `sensor` once, decides its events against the rules, and commits
/// them, the executions they start and the new cursor in one transaction.
pub async fn poll_once(ingest: &Ingest, sensor: &PollSensor) -> Result<PollReport, PollError> {
    let reference = sensor.reference();
    let cursor = ingest
        .store()
        .read()
        .and_then(|snapshot| snapshot.sensor_cursor(&reference))
        .map_err(|error| PollError::Read { sensor: reference.clone(), error })?;
    let config = sensor.config.to_string();
    let invocation = sensor
        .component
        .poll_sensor(&sensor.name, &config, cursor.as_deref(), &sensor.limits)
        .await;
    let polled = invocation
        .result
        .map_err(|error| PollError::Sensor { sensor: reference.clone(), error })?;

    let decided = ingest
        .decide_sensor_events(polled.events)
        .map_err(|(index, error)| PollError::Event { sensor: reference.clone(), index, error })?;

    let mut committed: Vec<Uuid> = decided.iter().map(|d| d.instance.id).collect();
    let new_cursor = polled.cursor.clone();
    let (key, guard_key, polled_from) = (reference.clone(), reference.clone(), cursor.clone());
    let stored = ingest
        .commit_if(
            decided,
            // The cursor this poll started from is still the stored one:
            // no other cluster node committed a poll in between.
            move |tx| Ok(tx.sensor_cursor(&guard_key)? == polled_from),
            move |tx| match &new_cursor {
                Some(cursor) => tx.set_sensor_cursor(&key, cursor),
                None => Ok(()),
            },
        )
        .await
        .map_err(|error| PollError::Write { sensor: reference, error })?;
    if stored.is_none() {
        committed.clear();
    }
    Ok(PollReport { committed, cursor: polled.cursor.or(cursor), logs: invocation.logs })
}

/// How a poll sensor has been doing, for operators.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SensorStatus {
    /// Polls attempted.
    pub polls: u64,
    /// Trigger instances committed.
    pub events: u64,
    /// When the last poll ended.
    pub last_poll: Option<Millis>,
    /// The last failure, if the last poll failed.
    pub last_error: Option<String>,
    /// Failed polls in all.
    pub errors: u64,
}

/// Polls a sensor every `interval` until dropped.
#[derive(Debug)]
pub struct Poller {
    task: tokio::task::JoinHandle<()>,
    status: Arc<Mutex<SensorStatus>>,
}

impl Poller {
    /// Starts polling `sensor` every `interval` on the current tokio runtime.
    /// A failed poll is logged and retried at the next tick.
    pub fn spawn(ingest: Ingest, sensor: PollSensor, interval: Duration) -> Self {
        Self::spawn_on(&tokio::runtime::Handle::current(), ingest, sensor, interval)
    }

    /// Like [`Self::spawn`], on `runtime`.
    pub fn spawn_on(
        runtime: &tokio::runtime::Handle,
        ingest: Ingest,
        sensor: PollSensor,
        interval: Duration,
    ) -> Self {
        let status = Arc::new(Mutex::new(SensorStatus::default()));
        let shared = status.clone();
        let task = runtime.spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if !holds_lease(&ingest, &sensor.reference(), interval).await {
                    continue;
                }
                // Boxed: the poll's future is large and would otherwise sit
                // in every idle sensor's task between polls.
                let outcome = Box::pin(poll_once(&ingest, &sensor)).await;
                let mut status = shared.lock().unwrap_or_else(PoisonError::into_inner);
                status.polls += 1;
                status.last_poll = Some(now_millis());
                match outcome {
                    Ok(report) => {
                        status.events += report.committed.len() as u64;
                        status.last_error = None;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "poll failed; the cursor was kept");
                        status.errors += 1;
                        status.last_error = Some(error.to_string());
                    }
                }
            }
        });
        Self { task, status }
    }

    /// How it has been doing.
    pub fn status(&self) -> SensorStatus {
        self.status.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.task.abort();
    }
}
