//! Calling a component's sensors: `poll` with the last durable cursor and
//! `on-webhook` with an inbound request, each in a fresh sandbox.

use super::bindings::exports::squall::pack::sensor as wit;
use super::component::{Invocation, LoadedComponent, guest_call};
use super::error::InvokeError;
use super::limits::Limits;

/// One trigger instance a sensor emitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensorEvent {
    /// Trigger type, e.g. `github.push`.
    pub trigger: String,
    /// Payload as JSON text (checked to be JSON).
    pub payload: String,
}

/// What one poll returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Polled {
    /// Events to commit, in order.
    pub events: Vec<SensorEvent>,
    /// The cursor to commit with them; `None` keeps the previous one.
    pub cursor: Option<String>,
}

/// An inbound HTTP request for a webhook sensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    /// HTTP method, upper case.
    pub method: String,
    /// Path below the webhook's route, starting with `/`.
    pub path: String,
    /// Raw query string without the `?`.
    pub query: String,
    /// Header names and values in arrival order.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// The answer for the webhook's sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookResponse {
    /// HTTP status code (checked to be 100..=599).
    pub status: u16,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: Vec<u8>,
}

/// What a webhook sensor produced: events to commit, then the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookOutcome {
    /// Events to commit before answering.
    pub events: Vec<SensorEvent>,
    /// The answer to send once they are committed.
    pub response: WebhookResponse,
}

impl LoadedComponent {
    /// Polls sensor `sensor` with its config (a JSON object) and the last
    /// committed cursor, in a fresh sandbox under `limits`.
    pub async fn poll_sensor(
        &self,
        sensor: &str,
        config: &str,
        cursor: Option<&str>,
        limits: &Limits,
    ) -> Invocation<Polled> {
        let Some(indices) = self.sensor.clone() else {
            return Invocation::refused(InvokeError::NoSensorExport {
                component: self.file_name(),
            });
        };
        // The bindings take `json` (a `String` alias) by reference.
        let (sensor, config) = (sensor.to_owned(), config.to_owned());
        let cursor = cursor.map(str::to_owned);
        let call = guest_call(move |store, instance| {
            Box::pin(async move {
                let guest = indices.load(&mut *store, &instance)?;
                guest.call_poll(store, &sensor, &config, cursor.as_deref()).await
            })
        });
        let checked = limits.clone();
        let accept = move |polled: wit::PollResult| {
            let cursor_bytes = polled.cursor.as_ref().map_or(0, String::len);
            let events = check_events(polled.events, cursor_bytes, &checked)?;
            Ok(Polled { events, cursor: polled.cursor })
        };
        self.invoke(limits, call, accept).await
    }

    /// Hands an inbound request to webhook sensor `sensor`, in a fresh
    /// sandbox under `limits`.
    pub async fn on_webhook(
        &self,
        sensor: &str,
        request: &WebhookRequest,
        limits: &Limits,
    ) -> Invocation<WebhookOutcome> {
        let Some(indices) = self.sensor.clone() else {
            return Invocation::refused(InvokeError::NoSensorExport {
                component: self.file_name(),
            });
        };
        let request = wit::WebhookRequest {
            method: request.method.clone(),
            path: request.path.clone(),
            query: request.query.clone(),
            headers: request.headers.clone(),
            body: request.body.clone(),
        };
        let sensor = sensor.to_owned();
        let call = guest_call(move |store, instance| {
            Box::pin(async move {
                let guest = indices.load(&mut *store, &instance)?;
                guest.call_on_webhook(store, &sensor, &request).await
            })
        });
        let checked = limits.clone();
        let accept = move |result: wit::WebhookResult| {
            let response = result.response;
            if !(100..=599).contains(&response.status) {
                return Err(InvokeError::InvalidOutput(format!(
                    "webhook response status {} is not an HTTP status code",
                    response.status
                )));
            }
            let response_bytes = response.body.len()
                + response.headers.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
            let events = check_events(result.events, response_bytes, &checked)?;
            let response = WebhookResponse {
                status: response.status,
                headers: response.headers,
                body: response.body,
            };
            Ok(WebhookOutcome { events, response })
        };
        self.invoke(limits, call, accept).await
    }
}

/// Every payload must be JSON, and everything returned together must fit the
/// output limit.
fn check_events(
    events: Vec<wit::Event>,
    other_bytes: usize,
    limits: &Limits,
) -> Result<Vec<SensorEvent>, InvokeError> {
    let size =
        other_bytes + events.iter().map(|e| e.trigger.len() + e.payload.len()).sum::<usize>();
    if size > limits.max_output_bytes {
        return Err(InvokeError::OutputTooLarge { size, limit: limits.max_output_bytes });
    }
    events
        .into_iter()
        .enumerate()
        .map(|(index, event)| {
            if event.trigger.is_empty() {
                return Err(InvokeError::InvalidOutput(format!(
                    "event {index} has an empty trigger type"
                )));
            }
            serde_json::from_str::<serde::de::IgnoredAny>(&event.payload).map_err(|e| {
                InvokeError::InvalidOutput(format!(
                    "event {index} (`{}`): payload is not valid JSON: {e}",
                    event.trigger
                ))
            })?;
            Ok(SensorEvent { trigger: event.trigger, payload: event.payload })
        })
        .collect()
}
