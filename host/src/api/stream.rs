//! `GET /stream`: what the engine commits, live, as Server-Sent Events
//! (`event: trigger_instance` and `event: execution`, JSON data), filtered
//! by event type and execution id. A client that falls behind gets
//! `event: lagged` with how many events it missed, and the stream goes on.
//! The caller's credential is checked again whenever keys, tokens, users or
//! roles change (and every second, for token expiry): a stream whose
//! caller was revoked or lost `stream_view` ends at once.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Extension, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{broadcast, watch};

use utoipa::openapi::RefOr;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
use uuid::Uuid;

use super::auth::{Caller, Credential, reauthenticate};
use super::error::{ApiError, ErrorBody, Query};
use super::executions::Status;
use super::metrics::status_name;
use super::state::ApiState;
use crate::access::Permission;
use crate::engine::EngineEvent;

/// How often an idle stream sends a comment, so proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Which events to send.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct StreamQuery {
    /// Comma-separated event types: `trigger_instance`, `execution`
    /// (default both; none when empty).
    #[param(value_type = Option<EventTypes>, inline, style = Form, explode = false)]
    events: Option<String>,
    /// Only execution events of this execution.
    execution: Option<Uuid>,
}

/// The event types a client may ask for.
const EVENT_TYPES: [&str; 2] = ["trigger_instance", "execution"];

/// `events` for the OpenAPI document: a list of event types, sent
/// comma-separated.
#[derive(Debug)]
pub(crate) struct EventTypes;

impl utoipa::PartialSchema for EventTypes {
    fn schema() -> RefOr<Schema> {
        let item = ObjectBuilder::new().schema_type(Type::String).enum_values(Some(EVENT_TYPES));
        RefOr::T(ArrayBuilder::new().items(item).into())
    }
}

impl utoipa::ToSchema for EventTypes {}

/// One event of the stream as Server-Sent Events parse it: its type
/// (`event`) and its data, JSON text whose shape the type decides.
#[derive(Debug)]
pub(crate) struct StreamEvent;

impl utoipa::PartialSchema for StreamEvent {
    fn schema() -> RefOr<Schema> {
        let uuid = json!({"type": "string", "format": "uuid"});
        let status = serde_json::to_value(<Status as utoipa::PartialSchema>::schema())
            .unwrap_or_else(|_| json!({"type": "string"}));
        let events = [
            (
                "trigger_instance",
                "A trigger instance committed",
                json!({"id": uuid, "trigger": {"type": "string"}}),
            ),
            (
                "execution",
                "An execution reached a new state",
                json!({"id": uuid, "action": {"type": "string"}, "status": status}),
            ),
            (
                "lagged",
                "The client fell behind and missed this many events",
                json!({"missed": {"type": "integer", "minimum": 0}}),
            ),
        ];
        let mut one_of = OneOfBuilder::new();
        for (name, description, properties) in events {
            let required: Vec<&String> =
                properties.as_object().map(|p| p.keys().collect()).unwrap_or_default();
            // JSON Schema's `contentSchema` (utoipa has no field for it):
            // the shape of the JSON the `data` text holds.
            let content = json!({"type": "object", "required": required, "properties": properties});
            let data = ObjectBuilder::new()
                .schema_type(Type::String)
                .content_media_type("application/json")
                .extensions(Some(Extensions::from_iter([("contentSchema", content)])));
            one_of = one_of.item(
                ObjectBuilder::new()
                    .description(Some(description))
                    .property(
                        "event",
                        ObjectBuilder::new().schema_type(Type::String).enum_values(Some([name])),
                    )
                    .required("event")
                    .property("data", data)
                    .required("data"),
            );
        }
        RefOr::T(one_of.into())
    }
}

impl utoipa::ToSchema for StreamEvent {}

/// What a client asked for.
#[derive(Debug, Clone, Copy)]
struct Filter {
    trigger_instances: bool,
    executions: bool,
    execution: Option<Uuid>,
}

impl Filter {
    fn parse(query: &StreamQuery) -> Result<Self, ApiError> {
        let mut filter = Self {
            trigger_instances: query.events.is_none(),
            executions: query.events.is_none(),
            execution: query.execution,
        };
        for name in query.events.iter().flat_map(|e| e.split(',')).map(str::trim) {
            match name {
                "trigger_instance" => filter.trigger_instances = true,
                "execution" => filter.executions = true,
                "" => {}
                other => {
                    return Err(ApiError::bad_request(format!(
                        "events: expected `trigger_instance` and/or `execution`, got `{other}`"
                    )));
                }
            }
        }
        Ok(filter)
    }

    /// The event as SSE, if the client wants it.
    fn render(&self, event: &EngineEvent) -> Option<Event> {
        match event {
            EngineEvent::TriggerInstance { id, trigger } if self.trigger_instances => Some(
                Event::default()
                    .event("trigger_instance")
                    .data(json!({"id": id, "trigger": trigger}).to_string()),
            ),
            EngineEvent::Execution { id, action, status }
                if self.executions && self.execution.is_none_or(|wanted| wanted == *id) =>
            {
                Some(Event::default().event("execution").data(
                    json!({"id": id, "action": action, "status": status_name(*status)}).to_string(),
                ))
            }
            _ => None,
        }
    }
}

/// How often an open stream checks its credential when nothing changed
/// (a token expires without anyone changing anything).
const RECHECK: Duration = Duration::from_secs(1);

struct Feed {
    events: broadcast::Receiver<EngineEvent>,
    closing: watch::Receiver<bool>,
    filter: Filter,
    state: ApiState,
    credential: Credential,
    access: watch::Receiver<u64>,
    recheck: tokio::time::Interval,
}

impl Feed {
    /// Whether the caller's credential is still live and still allows
    /// `stream_view`.
    fn still_allowed(&self) -> bool {
        reauthenticate(&self.state, &self.credential)
            .is_some_and(|caller| caller.allows(Permission::StreamView, None))
    }

    /// The next event to send; `None` once the server is stopping.
    async fn next(&mut self) -> Option<Event> {
        loop {
            let received = tokio::select! {
                received = self.events.recv() => Some(received),
                _ = self.closing.wait_for(|closing| *closing) => return None,
                changed = self.access.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                    None
                }
                _ = self.recheck.tick() => None,
            };
            let Some(received) = received else {
                if self.still_allowed() {
                    continue;
                }
                return None;
            };
            match received {
                Ok(event) => {
                    if let Some(rendered) = self.filter.render(&event) {
                        return Some(rendered);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    return Some(
                        Event::default()
                            .event("lagged")
                            .data(json!({"missed": missed}).to_string()),
                    );
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// Live events as Server-Sent Events: `trigger_instance` (`{"id",
/// "trigger"}`), `execution` (`{"id", "action", "status"}`) and `lagged`
/// (`{"missed"}`); a comment every 15 s when idle.
#[utoipa::path(
    get,
    path = "/stream",
    operation_id = "stream_events",
    tag = "stream",
    params(StreamQuery),
    responses(
        (status = 200, description = "An endless text/event-stream; the schema is one event's", body = inline(StreamEvent), content_type = "text/event-stream"),
        (status = 400, description = "Unknown event type or malformed execution id", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
    ),
)]
pub(crate) async fn stream(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<StreamQuery>,
) -> Result<Response, ApiError> {
    let filter = Filter::parse(&query)?;
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Subscribed before the answer starts: the client sees every event
    // committed after its request was answered.
    let feed = Feed {
        events: state.engine().subscribe(),
        closing: state.closing(),
        filter,
        access: state.watch_access(),
        state: state.clone(),
        credential: caller.credential,
        recheck,
    };
    let events = stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await?;
        Some((Ok::<_, Infallible>(event), feed))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
        .into_response())
}
