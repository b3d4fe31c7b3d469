//! `GET /stream`: what the engine commits, live, as Server-Sent Events
//! (`event: trigger_instance` and `event: execution`, JSON data), and each
//! line an action logs as it writes it (`event: output`), filtered by event
//! type and execution id. A caller sees an output line only if it may view
//! the execution that logged it. A client that falls behind gets
//! `event: lagged` with how many events it missed, and the stream goes on.
//! `GET /stream/v1/stream` is the same feed as StackStorm's stream:
//! `st2.execution__create|update` with the execution as the API shows it,
//! `st2.execution.output__create` (an output line as StackStorm's
//! `ActionExecutionOutputDB`, with Squall's `level` and `workflow_task`
//! beside), `st2.trigger_instance__create`, StackStorm's filters (`events` globs,
//! `action_refs`, `execution_ids`) and its end (`end_execution_id`,
//! `end_event`).
//! The caller's credential is checked again whenever keys, tokens, users or
//! roles change (and every second, for token expiry): a stream whose
//! caller was revoked or lost `stream_view` ends at once.

use std::convert::Infallible;
use std::sync::Arc;
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

use super::auth::{Caller, reauthenticate};
use super::error::{ApiError, ErrorBody, Query};
use super::executions::Status;
use super::metrics::status_name;
use super::page::timestamp;
use super::state::ApiState;
use crate::access::{Permission, Resource};
use crate::engine::{EngineEvent, OutputLine};
use crate::runtime::LogLevel;

/// How often an idle stream sends a comment, so proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Which events to send.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct StreamQuery {
    /// Comma-separated event types: `trigger_instance`, `execution`,
    /// `output`, `announcement` (default all; none when empty).
    #[param(value_type = Option<EventTypes>, inline, style = Form, explode = false)]
    events: Option<String>,
    /// Only execution and output events of this execution.
    execution: Option<Uuid>,
}

/// The event types a client may ask for.
const EVENT_TYPES: [&str; 4] = ["trigger_instance", "execution", "output", "announcement"];

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
                "output",
                "A line an action logged while its execution runs",
                json!({
                    "id": uuid,
                    "execution_id": uuid,
                    "action": {"type": "string"},
                    "workflow_task": {
                        "type": ["object", "null"],
                        "properties": {"workflow": uuid, "task": {"type": "string"}},
                    },
                    "timestamp": {"type": "string", "format": "date-time"},
                    "level": {"type": "string", "enum": ["trace", "debug", "info", "warn", "error"]},
                    "message": {"type": "string"},
                }),
            ),
            (
                "announcement",
                "A message for chat, on a route a chat bot listens to",
                json!({"route": {"type": "string"}, "payload": {"type": "object"}}),
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
    outputs: bool,
    announcements: bool,
    execution: Option<Uuid>,
}

impl Filter {
    fn parse(query: &StreamQuery) -> Result<Self, ApiError> {
        let mut filter = Self {
            trigger_instances: query.events.is_none(),
            executions: query.events.is_none(),
            outputs: query.events.is_none(),
            announcements: query.events.is_none(),
            execution: query.execution,
        };
        for name in query.events.iter().flat_map(|e| e.split(',')).map(str::trim) {
            match name {
                "trigger_instance" => filter.trigger_instances = true,
                "execution" => filter.executions = true,
                "output" => filter.outputs = true,
                "announcement" => filter.announcements = true,
                "" => {}
                other => {
                    return Err(ApiError::bad_request(format!(
                        "events: expected `trigger_instance`, `execution`, `output` or `announcement`, got `{other}`"
                    )));
                }
            }
        }
        Ok(filter)
    }

    /// The event as SSE, if the client wants it.
    fn render(&self, event: &EngineEvent) -> Option<Event> {
        match event {
            EngineEvent::TriggerInstance { id, trigger, .. } if self.trigger_instances => Some(
                Event::default()
                    .event("trigger_instance")
                    .data(json!({"id": id, "trigger": trigger}).to_string()),
            ),
            EngineEvent::Execution { id, action, status, .. }
                if self.executions && self.execution.is_none_or(|wanted| wanted == *id) =>
            {
                Some(Event::default().event("execution").data(
                    json!({"id": id, "action": action, "status": status_name(*status)}).to_string(),
                ))
            }
            EngineEvent::Announcement { route, payload } if self.announcements => Some(
                Event::default()
                    .event("announcement")
                    .data(json!({"route": route, "payload": payload}).to_string()),
            ),
            _ => None,
        }
    }

    /// An output line as SSE, if the client wants it.
    fn render_output(&self, line: &OutputLine) -> Option<Event> {
        if !self.outputs || self.execution.is_some_and(|wanted| wanted != line.execution) {
            return None;
        }
        let data = json!({
            "id": line.id,
            "execution_id": line.execution,
            "action": line.action,
            "workflow_task": workflow_task(line),
            "timestamp": timestamp(line.at),
            "level": line.level,
            "message": line.message,
        });
        Some(Event::default().event("output").data(data.to_string()))
    }
}

/// The workflow task that logged `line` (`{"workflow", "task"}`), or null.
fn workflow_task(line: &OutputLine) -> serde_json::Value {
    line.task.as_ref().map_or(
        serde_json::Value::Null,
        |(workflow, task)| json!({"workflow": workflow, "task": task}),
    )
}

/// How often an open stream checks its credential when nothing changed
/// (a token expires without anyone changing anything).
const RECHECK: Duration = Duration::from_secs(1);

/// Which API's events a stream sends.
enum Dialect {
    /// Squall's `/api/v1/stream`.
    Squall(Filter),
    /// StackStorm's `/stream/v1/stream`.
    St2(St2Filter),
}

/// What a StackStorm client asked for.
#[derive(Debug)]
struct St2Filter {
    /// Glob patterns of event names (`st2.execution__*`); empty: all.
    events: Vec<String>,
    action_refs: Vec<String>,
    execution_ids: Vec<Uuid>,
    /// The stream ends once this execution finished…
    end_execution: Option<Uuid>,
    /// …and this event about it was sent.
    end_event: Option<String>,
}

/// Whether `name` matches the glob `pattern` (`*` any run, `?` any one
/// character), as StackStorm's stream matches event names.
fn glob_matches(pattern: &str, name: &str) -> bool {
    let (pattern, name): (Vec<char>, Vec<char>) =
        (pattern.chars().collect(), name.chars().collect());
    let (mut p, mut n, mut star, mut resume) = (0, 0, None, 0);
    while n < name.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == name[n]) {
            p += 1;
            n += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some(p);
            resume = n;
            p += 1;
        } else if let Some(at) = star {
            p = at + 1;
            resume += 1;
            n = resume;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

impl St2Filter {
    fn wants(&self, name: &str) -> bool {
        self.events.is_empty() || self.events.iter().any(|pattern| glob_matches(pattern, name))
    }

    /// The event as StackStorm's stream sends it, if the client wants it,
    /// and whether the stream ends after it.
    fn render(&self, state: &ApiState, event: &EngineEvent) -> Option<(Event, bool)> {
        match event {
            EngineEvent::TriggerInstance { id, trigger, .. } => {
                let name = "st2.trigger_instance__create";
                if !self.wants(name)
                    || !self.action_refs.is_empty()
                    || !self.execution_ids.is_empty()
                {
                    return None;
                }
                let data = json!({"id": id, "trigger": trigger});
                Some((Event::default().event(name).data(data.to_string()), false))
            }
            EngineEvent::Execution { id, action, status, .. } => {
                let name = if *status == crate::store::ExecutionStatus::Requested {
                    "st2.execution__create"
                } else {
                    "st2.execution__update"
                };
                if !self.wants(name)
                    || !(self.action_refs.is_empty() || self.action_refs.contains(action))
                    || !(self.execution_ids.is_empty() || self.execution_ids.contains(id))
                {
                    return None;
                }
                // The execution as it is now, as the API shows it.
                let execution = state.engine().store().read().ok()?.execution(*id).ok()??;
                let view = super::executions::ExecutionView::read(&execution, state).ok()?;
                let data = serde_json::to_string(&view).ok()?;
                let ends = self.end_execution == Some(*id)
                    && self.end_event.as_deref().is_none_or(|end| end == name)
                    && status.is_finished();
                Some((Event::default().event(name).data(data), ends))
            }
            EngineEvent::Announcement { route, payload } => {
                let name = format!("st2.announcement__{route}");
                if !self.wants(&name)
                    || !self.action_refs.is_empty()
                    || !self.execution_ids.is_empty()
                {
                    return None;
                }
                // StackStorm's shape: the announcement under `payload`.
                let data = json!({"payload": payload});
                Some((Event::default().event(name).data(data.to_string()), false))
            }
        }
    }

    /// An output line as StackStorm's stream sends one (its
    /// `ActionExecutionOutputDB`), if the client wants it: `output_type`
    /// is `stdout` for trace to info and `stderr` for warn and error, as
    /// `/executions/{id}/output` splits them, and `data` the line with its
    /// newline, as a StackStorm runner stores a line it read; beside them
    /// Squall's `level` and `workflow_task` (as on Squall's stream), so a
    /// client of this stream can show a line as the stored log has it and
    /// name the workflow task that logged it.
    fn render_output(&self, line: &OutputLine) -> Option<Event> {
        if !self.wants(OUTPUT_EVENT)
            || !(self.action_refs.is_empty() || self.action_refs.contains(&line.action))
            || !(self.execution_ids.is_empty() || self.execution_ids.contains(&line.execution))
        {
            return None;
        }
        let output_type = if line.level >= LogLevel::Warn { "stderr" } else { "stdout" };
        let data = json!({
            "id": line.id,
            "execution_id": line.execution,
            "action_ref": line.action,
            "runner_ref": "wasm",
            "timestamp": timestamp(line.at),
            "output_type": output_type,
            "data": format!("{}\n", line.message),
            "level": line.level,
            "workflow_task": workflow_task(line),
        });
        Some(Event::default().event(OUTPUT_EVENT).data(data.to_string()))
    }
}

/// StackStorm's name for an output line.
const OUTPUT_EVENT: &str = "st2.execution.output__create";

struct Feed {
    events: broadcast::Receiver<EngineEvent>,
    /// Actions' log lines, when the client asked for them.
    output: Option<broadcast::Receiver<Arc<OutputLine>>>,
    closing: watch::Receiver<bool>,
    dialect: Dialect,
    /// The last event was the one the client asked to end with.
    ended: bool,
    state: ApiState,
    /// The caller as last checked: whose executions' output it may see.
    caller: Caller,
    access: watch::Receiver<u64>,
    recheck: tokio::time::Interval,
}

impl Feed {
    /// Whether the caller's credential is still live and still allows
    /// `stream_view`; keeps the caller as it stands now.
    fn still_allowed(&mut self) -> bool {
        match reauthenticate(&self.state, &self.caller.credential) {
            Some(caller) if caller.allows(Permission::StreamView, None) => {
                self.caller = caller;
                true
            }
            _ => false,
        }
    }

    /// Whether the caller may view the execution that logged `line`, as
    /// `GET /executions/{id}/output` asks.
    fn may_view(&self, line: &OutputLine) -> bool {
        let execution = Resource::execution(&line.execution.to_string(), &line.action);
        self.caller.allows(Permission::ExecutionView, Some(&execution))
    }

    /// An output line as the client's dialect sends it, if it wants it and
    /// may see it.
    fn render_output(&self, line: &OutputLine) -> Option<Event> {
        let rendered = match &self.dialect {
            Dialect::Squall(filter) => filter.render_output(line),
            Dialect::St2(filter) => filter.render_output(line),
        }?;
        self.may_view(line).then_some(rendered)
    }

    /// How a missed stretch is told: `event: lagged` on Squall's stream, a
    /// comment on StackStorm's (its clients read every event's data as one
    /// of theirs).
    fn lagged(&self, missed: u64) -> Event {
        match self.dialect {
            Dialect::St2(_) => Event::default().comment(format!("lagged: missed {missed} events")),
            Dialect::Squall(_) => {
                Event::default().event("lagged").data(json!({"missed": missed}).to_string())
            }
        }
    }

    /// The next event to send; `None` once the server is stopping (or the
    /// StackStorm client's end event was sent).
    async fn next(&mut self) -> Option<Event> {
        if self.ended {
            return None;
        }
        loop {
            let received = tokio::select! {
                // Output lines first: a line was sent before the end of the
                // execution that logged it, and is sent before it here too.
                biased;
                _ = self.closing.wait_for(|closing| *closing) => return None,
                line = next_line(&mut self.output) => Some(Err(line)),
                received = self.events.recv() => Some(Ok(received)),
                changed = self.access.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                    None
                }
                _ = self.recheck.tick() => None,
            };
            let received = match received {
                Some(Ok(received)) => Some(received),
                Some(Err(Ok(line))) => match self.render_output(&line) {
                    Some(rendered) => return Some(rendered),
                    None => continue,
                },
                Some(Err(Err(broadcast::error::RecvError::Lagged(missed)))) => {
                    return Some(self.lagged(missed));
                }
                Some(Err(Err(broadcast::error::RecvError::Closed))) => {
                    self.output = None;
                    continue;
                }
                None => None,
            };
            let Some(received) = received else {
                if self.still_allowed() {
                    continue;
                }
                return None;
            };
            match received {
                Ok(event) => match &self.dialect {
                    Dialect::Squall(filter) => {
                        if let Some(rendered) = filter.render(&event) {
                            return Some(rendered);
                        }
                    }
                    Dialect::St2(filter) => {
                        if let Some((rendered, ends)) = filter.render(&self.state, &event) {
                            self.ended = ends;
                            return Some(rendered);
                        }
                    }
                },
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    return Some(self.lagged(missed));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// Live events as Server-Sent Events: `trigger_instance` (`{"id",
/// "trigger"}`), `execution` (`{"id", "action", "status"}`), `output` (a
/// line an action logged, of an execution the caller may view),
/// `announcement` and `lagged` (`{"missed"}`); a comment every 15 s when
/// idle.
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
    Ok(open(&state, caller, Dialect::Squall(filter)))
}

/// The next line of `output`; never, without one.
async fn next_line(
    output: &mut Option<broadcast::Receiver<Arc<OutputLine>>>,
) -> Result<Arc<OutputLine>, broadcast::error::RecvError> {
    match output {
        Some(output) => output.recv().await,
        None => std::future::pending().await,
    }
}

/// The stream of `dialect`'s events for `caller`.
fn open(state: &ApiState, caller: Caller, dialect: Dialect) -> Response {
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Subscribed before the answer starts: the client sees every event
    // committed (and every line logged) after its request was answered.
    let outputs = match &dialect {
        Dialect::Squall(filter) => filter.outputs,
        Dialect::St2(filter) => filter.wants(OUTPUT_EVENT),
    };
    let feed = Feed {
        events: state.engine().subscribe(),
        output: outputs.then(|| state.engine().subscribe_output()),
        closing: state.closing(),
        dialect,
        ended: false,
        access: state.watch_access(),
        state: state.clone(),
        caller,
        recheck,
    };
    let events = stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await?;
        Some((Ok::<_, Infallible>(event), feed))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
        .into_response()
}

/// What StackStorm's clients ask of `/stream/v1/stream`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct St2StreamQuery {
    /// Comma-separated event names or glob patterns:
    /// `st2.execution__create`, `st2.execution__update`,
    /// `st2.execution.output__create`, `st2.trigger_instance__create`,
    /// `st2.execution__*`; all without it.
    events: Option<String>,
    /// Comma-separated action refs: only executions of these.
    action_refs: Option<String>,
    /// Comma-separated execution ids: only these executions.
    execution_ids: Option<String>,
    /// End the stream once this execution finished…
    end_execution_id: Option<Uuid>,
    /// …with this event (default: any event about it).
    end_event: Option<String>,
}

/// One event of StackStorm's stream: its name and its data, JSON text
/// (an execution as `/executions/{id}` shows it, an output line, or a
/// trigger instance's id and trigger).
#[derive(Debug)]
pub(crate) struct St2StreamEvent;

impl utoipa::PartialSchema for St2StreamEvent {
    fn schema() -> RefOr<Schema> {
        let names = [
            "st2.execution__create",
            "st2.execution__update",
            OUTPUT_EVENT,
            "st2.trigger_instance__create",
        ];
        RefOr::T(
            ObjectBuilder::new()
                .property(
                    "event",
                    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(names)),
                )
                .required("event")
                .property(
                    "data",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .content_media_type("application/json"),
                )
                .required("data")
                .into(),
        )
    }
}

impl utoipa::ToSchema for St2StreamEvent {}

/// StackStorm's event stream: live events as Server-Sent Events under
/// StackStorm's names, its filters and its end; a comment every 15 s when
/// idle. The key may come as `?st2-api-key=`, the token as
/// `?x-auth-token=`, as StackStorm's clients send them.
#[utoipa::path(
    get,
    path = "/stream/v1/stream",
    operation_id = "st2_stream_events",
    tag = "stream",
    params(St2StreamQuery),
    security(("bearer" = []), ("st2_api_key" = []), ("query_api_key" = []), ("x_auth_token" = []), ("query_auth_token" = [])),
    responses(
        (status = 200, description = "An endless text/event-stream (it ends after the end event, when asked); the schema is one event's", body = inline(St2StreamEvent), content_type = "text/event-stream"),
        (status = 400, description = "A malformed execution id", body = ErrorBody),
        (status = 401, description = "No live API key or token", body = ErrorBody),
    ),
)]
pub(crate) async fn st2_stream(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<St2StreamQuery>,
) -> Result<Response, ApiError> {
    let list = |text: Option<&str>| -> Vec<String> {
        text.iter()
            .flat_map(|t| t.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let execution_ids = list(query.execution_ids.as_deref())
        .iter()
        .map(|id| {
            Uuid::parse_str(id).map_err(|e| {
                ApiError::bad_request(format!(
                    "execution_ids: `{}` is not an execution id: {e}",
                    id.escape_debug()
                ))
                .with_detail(json!({"parameter": "execution_ids"}))
            })
        })
        .collect::<Result<_, _>>()?;
    let filter = St2Filter {
        events: list(query.events.as_deref()),
        action_refs: list(query.action_refs.as_deref()),
        execution_ids,
        end_execution: query.end_execution_id,
        end_event: query.end_event.filter(|e| !e.is_empty()),
    };
    Ok(open(&state, caller, Dialect::St2(filter)))
}
