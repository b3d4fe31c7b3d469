//! Webhooks, the engine side (the HTTP route comes with the API): a request
//! to `webhooks/{name}` either goes to the pack webhook sensor registered
//! under that name, whose `on-webhook` turns it into trigger instances and
//! an answer, or becomes one `core.webhook` instance with `body` and
//! `headers`, matched by rules whose `trigger.parameters.url` is the name.
//! Either way the caller is answered only after the instances commit. A
//! pack's sensor takes at most its pack's limit of calls at once
//! (`pack_limits`); the sandbox runs on the runtime's guest threads, never
//! on the thread of the request.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError};

use serde_json::{Map, Value, json};

use super::executor::Engine;
use super::ingest::{Decided, Emitted, Event, Ingest};
use super::trigger_types::TriggerError;
use crate::runtime::{InvokeError, Limits, LoadedComponent, WebhookRequest, WebhookResponse};
use crate::store::WriteError;

/// A pack's webhook sensor, reachable under a route name.
#[derive(Debug, Clone)]
pub struct WebhookSensor {
    /// The pack's component.
    pub component: Arc<LoadedComponent>,
    /// The sensor's name within the pack.
    pub name: String,
    /// Sandbox limits per request.
    pub limits: Limits,
}

/// Webhook sensors by route name.
pub type WebhookSensors = HashMap<String, WebhookSensor>;

/// What the caller of a webhook gets back, after the commit.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookReply {
    /// The HTTP answer: the sensor's own, or 202 with the instance id.
    pub response: WebhookResponse,
    /// The trigger instances committed.
    pub emitted: Vec<Emitted>,
}

/// Why a webhook request committed nothing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WebhookError {
    /// No sensor is registered under the name and no enabled rule listens
    /// to `core.webhook` with that `url`.
    #[error("no webhook named `{0}`")]
    Unknown(String),
    /// The body could not be read as its content type says.
    #[error("body: {0}")]
    Body(String),
    /// The pack's sensor failed or was refused by the sandbox.
    #[error("webhook sensor {sensor}: {error}")]
    Sensor {
        /// `pack.sensor`.
        sensor: String,
        /// What the runtime reported.
        error: InvokeError,
    },
    /// An event the sensor returned does not fit its trigger type; none
    /// were committed.
    #[error("webhook sensor {sensor}: event {index}: {error}")]
    Event {
        /// `pack.sensor`.
        sensor: String,
        /// Position of the event.
        index: usize,
        /// Why it was refused.
        error: TriggerError,
    },
    /// The sensor's pack already runs its limit of webhook calls and as
    /// many requests wait for them.
    #[error(
        "webhook sensor {sensor}: its pack already runs {limit} webhook calls and {limit} more wait; try again later"
    )]
    Busy {
        /// `pack.sensor`.
        sensor: String,
        /// The per-pack limit.
        limit: usize,
    },
    /// The store refused or failed the commit.
    #[error(transparent)]
    Write(WriteError),
}

impl Engine {
    /// The pack webhook sensors, by route name.
    pub fn webhook_sensors(&self) -> Arc<WebhookSensors> {
        self.webhooks.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Replaces the pack webhook sensors, by route name.
    pub fn set_webhook_sensors(&self, sensors: WebhookSensors) {
        *self.webhooks.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(sensors);
    }

    /// Handles a request to `webhooks/{name}`: a registered pack sensor
    /// turns it into trigger instances and its own answer; otherwise it
    /// becomes a `core.webhook` instance answered 202. The answer comes
    /// after the commit.
    pub async fn webhook(
        &self,
        name: &str,
        request: &WebhookRequest,
    ) -> Result<WebhookReply, WebhookError> {
        let sensors = self.webhooks.read().unwrap_or_else(PoisonError::into_inner).clone();
        // A place among its pack's calls, held while the sensor runs.
        let place = match sensors.get(name) {
            Some(sensor) => {
                let gates = &self.shared.webhook_gates;
                let pack = sensor.component.pack();
                let place = gates.enter(pack).await.ok_or_else(|| WebhookError::Busy {
                    sensor: format!("{pack}.{}", sensor.name),
                    limit: gates.limit(),
                })?;
                Some(place)
            }
            None => None,
        };
        let (decided, response) = decide(&self.shared.ingest, &sensors, name, request).await?;
        drop(place);
        let emitted = self.commit_claimed(decided).await.map_err(WebhookError::Write)?;
        let response = response.unwrap_or_else(|| accepted(&emitted));
        Ok(WebhookReply { response, emitted })
    }
}

/// Decides a webhook request: through `sensors[name]` when registered,
/// else as a `core.webhook` instance. Returns the instances to commit and
/// the answer to give once they are.
pub(crate) async fn decide(
    ingest: &Ingest,
    sensors: &WebhookSensors,
    name: &str,
    request: &WebhookRequest,
) -> Result<(Vec<Decided>, Option<WebhookResponse>), WebhookError> {
    if let Some(sensor) = sensors.get(name) {
        let reference = format!("{}.{}", sensor.component.pack(), sensor.name);
        let invocation = sensor.component.on_webhook(&sensor.name, request, &sensor.limits).await;
        let outcome = invocation
            .result
            .map_err(|error| WebhookError::Sensor { sensor: reference.clone(), error })?;
        let decided = ingest.decide_sensor_events(outcome.events).map_err(|(index, error)| {
            WebhookError::Event { sensor: reference.clone(), index, error }
        })?;
        return Ok((decided, Some(outcome.response)));
    }
    let mut parameters = Map::new();
    parameters.insert("url".into(), Value::String(name.to_owned()));
    let listened_to = ingest
        .rules()
        .rules_for("core.webhook")
        .any(|rule| rule.trigger_parameters.get("url").and_then(Value::as_str) == Some(name));
    if !listened_to {
        return Err(WebhookError::Unknown(name.to_owned()));
    }
    let payload = webhook_payload(request)?;
    let event = Event { parameters, ..Event::new("core.webhook", payload) };
    let decided = ingest.decide(event).map_err(|error| WebhookError::Event {
        sensor: "core.webhook".into(),
        index: 0,
        error,
    })?;
    Ok((vec![decided], None))
}

/// The answer to a plain webhook: 202 with the trigger instance id, as
/// StackStorm answers, and the ids of the executions its rules started, so a
/// caller can follow them; a rule that matched but started nothing is
/// named with why (`failed_enforcements`), so it never fails silently.
pub(crate) fn accepted(emitted: &[Emitted]) -> WebhookResponse {
    let ids: Vec<String> = emitted.iter().map(|e| e.id.to_string()).collect();
    let executions: Vec<String> =
        emitted.iter().flat_map(|e| &e.executions).map(ToString::to_string).collect();
    let mut body = json!({"trigger_instances": ids, "executions": executions});
    let failed: Vec<Value> = emitted
        .iter()
        .flat_map(|e| &e.failed)
        .map(|(rule, reason)| json!({"rule": rule, "failure_reason": reason}))
        .collect();
    if !failed.is_empty() {
        body["failed_enforcements"] = Value::Array(failed);
    }
    WebhookResponse {
        status: 202,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

/// The `core.webhook` payload a plain webhook request becomes: `headers`
/// (see [`headers`]) and `body` (see [`body`]). Public so that the fuzz
/// targets and tests reach the decoding [`decide`] uses; it changes nothing.
pub fn webhook_payload(request: &WebhookRequest) -> Result<Value, WebhookError> {
    Ok(json!({"headers": headers(&request.headers), "body": body(request)?}))
}

/// Header names lowercased; repeated headers joined with `, ` (RFC 9110).
fn headers(raw: &[(String, String)]) -> Map<String, Value> {
    let mut joined: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in raw {
        joined
            .entry(name.to_ascii_lowercase())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(value);
            })
            .or_insert_with(|| value.clone());
    }
    joined.into_iter().map(|(k, v)| (k, Value::String(v))).collect()
}

/// A JSON body as JSON (required when the content type says JSON), any
/// other body as text; an empty body is `null`.
fn body(request: &WebhookRequest) -> Result<Value, WebhookError> {
    if request.body.is_empty() {
        return Ok(Value::Null);
    }
    let declared_json = request.headers.iter().any(|(name, value)| {
        name.eq_ignore_ascii_case("content-type") && value.to_ascii_lowercase().contains("json")
    });
    match serde_json::from_slice::<Value>(&request.body) {
        Ok(value) => Ok(value),
        Err(error) if declared_json => {
            Err(WebhookError::Body(format!("content type is JSON but the body is not: {error}")))
        }
        Err(_) => String::from_utf8(request.body.clone())
            .map(Value::String)
            .map_err(|_| WebhookError::Body("expected JSON or UTF-8 text".into())),
    }
}
