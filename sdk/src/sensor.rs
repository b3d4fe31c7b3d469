//! What sensors return: events, cursors and webhook answers.

use serde::Serialize;

use crate::Result;

/// One trigger instance emitted by a sensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Trigger type, e.g. `github.push`.
    pub trigger: String,
    /// Payload as JSON text.
    pub payload: String,
}

impl Event {
    /// An event of trigger type `trigger` carrying `payload`.
    pub fn new(trigger: impl Into<String>, payload: &impl Serialize) -> Result<Self> {
        Ok(Self { trigger: trigger.into(), payload: serde_json::to_string(payload)? })
    }
}

/// What one poll found, and where the next one starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Poll {
    /// Events to commit.
    pub events: Vec<Event>,
    /// The next cursor; `None` keeps the previous one.
    pub cursor: Option<String>,
}

/// An inbound HTTP request routed to a webhook sensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    /// HTTP method, upper case.
    pub method: String,
    /// Path below the webhook's route.
    pub path: String,
    /// Raw query string.
    pub query: String,
    /// Header names (lower case) and values, in arrival order.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl WebhookRequest {
    /// The first value of header `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// The HTTP answer to a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookResponse {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: Vec<u8>,
}

impl WebhookResponse {
    /// An empty response with `status`.
    pub fn status(status: u16) -> Self {
        Self { status, headers: Vec::new(), body: Vec::new() }
    }
}

/// Events to commit and the answer to send once they are committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookResult {
    /// Events to commit.
    pub events: Vec<Event>,
    /// The answer.
    pub response: WebhookResponse,
}
