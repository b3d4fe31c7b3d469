//! `/triggertypes`, `/triggerinstances` and `/sensors`: the kinds of event
//! rules can match, the events that happened (newest first, re-emit one),
//! and how the poll sensors are doing.

use axum::Json;
use axum::extract::{Extension, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::auth::Caller;
use super::error::{ApiError, ErrorBody, Path, Query, parse_id};
use super::executions::control_error;
use super::page::{
    CatalogQuery, Fields, Listing, Page, TimeFilter, check_order, newest_first, only_known,
    parse_time, saturating_offset, summary_of, timestamp, timestamp_opt,
};
use super::state::ApiState;
use crate::access::{Permission, Resource};
use crate::engine::TriggerType;
use crate::rules::canonical_trigger_type;
use crate::store::{TriggerInstance, TriggerInstanceStatus};

/// A kind of event rules can match.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TriggerTypeView {
    /// `pack.name`: Squall identifies trigger types by ref.
    #[schema(example = "core.webhook")]
    id: String,
    /// `pack.name`, StackStorm's `ref`.
    #[serde(rename = "ref")]
    #[schema(example = "core.webhook")]
    reference: String,
    /// `trigger_type:PACK:NAME`.
    #[schema(example = "trigger_type:core:webhook")]
    uid: String,
    /// The name within its pack (StackStorm's `name`; `ref` is the whole).
    #[schema(example = "webhook")]
    name: String,
    pack: String,
    description: String,
    /// JSON Schema every payload satisfies.
    #[schema(value_type = Object)]
    payload_schema: Value,
    /// JSON Schema of the `trigger.parameters` a rule gives it, if any.
    #[schema(value_type = Option<Object>)]
    parameters_schema: Option<Value>,
}

impl From<&TriggerType> for TriggerTypeView {
    fn from(t: &TriggerType) -> Self {
        let (pack, short) = crate::limits::split_ref(&t.name).unwrap_or(("", &t.name));
        Self {
            id: t.name.clone(),
            reference: t.name.clone(),
            uid: format!("trigger_type:{pack}:{short}"),
            pack: pack.to_owned(),
            name: short.to_owned(),
            description: t.description.clone(),
            payload_schema: t.payload_schema.clone(),
            parameters_schema: t.parameters_schema.clone(),
        }
    }
}

/// One event that happened.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TriggerInstanceView {
    id: Uuid,
    /// Its trigger type.
    #[schema(example = "core.webhook")]
    trigger: String,
    /// The trigger's parameters (a webhook's `url`, a timer's schedule).
    #[schema(value_type = Object)]
    parameters: Map<String, Value>,
    payload: Value,
    #[schema(format = DateTime)]
    occurred_at: String,
    /// StackStorm's name for `occurred_at`.
    #[schema(format = DateTime)]
    occurrence_time: String,
    /// `pending` until the rules ran, then `processed`.
    status: &'static str,
    /// What each matching rule did with it.
    rule_enforcements: Vec<EnforcementView>,
}

/// One rule that matched, and what came of it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EnforcementView {
    rule: String,
    /// The execution it started.
    execution: Option<Uuid>,
    /// Why it started none.
    error: Option<String>,
}

impl From<TriggerInstance> for TriggerInstanceView {
    fn from(i: TriggerInstance) -> Self {
        Self {
            id: i.id,
            trigger: i.trigger,
            parameters: i.parameters,
            payload: i.payload,
            occurred_at: timestamp(i.occurred_at),
            occurrence_time: timestamp(i.occurred_at),
            status: match i.status {
                TriggerInstanceStatus::Pending => "pending",
                TriggerInstanceStatus::Processed => "processed",
            },
            rule_enforcements: i
                .decisions
                .into_iter()
                .map(|d| EnforcementView { rule: d.rule, execution: d.execution, error: d.error })
                .collect(),
        }
    }
}

/// What a re-emit committed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EmittedView {
    /// The new trigger instance.
    trigger_instance: Uuid,
    /// The executions its rules started.
    executions: Vec<Uuid>,
}

/// A poll sensor and how it is doing.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SensorView {
    /// `pack.sensor`.
    #[serde(rename = "ref")]
    reference: String,
    /// Time between polls.
    interval_ms: u64,
    polls: u64,
    /// Trigger instances its polls committed.
    events: u64,
    /// Failed polls.
    errors: u64,
    #[schema(format = DateTime)]
    last_poll: Option<String>,
    /// The last poll's failure, if it failed.
    last_error: Option<String>,
}

summary_of!(TriggerTypeSummary, TriggerTypeView);
summary_of!(SensorTypeSummary, SensorTypeView);

/// Every trigger type, by name.
#[utoipa::path(
    get,
    path = "/triggertypes",
    operation_id = "list_trigger_types",
    tag = "triggers",
    params(CatalogQuery),
    responses(
        (status = 200, description = "Trigger types by name (the attributes asked for)", body = [TriggerTypeSummary]),
        (status = 400, description = "A malformed or unknown query parameter; the message names it", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
    ),
)]
pub(crate) async fn list_types(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
    Query(query): Query<CatalogQuery>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let types = state.engine().ingest().trigger_types();
    let views = types.iter().map(TriggerTypeView::from).collect();
    Ok(Json(query.apply(raw.as_deref(), views)?))
}

/// One trigger type (StackStorm's names are accepted too).
#[utoipa::path(
    get,
    path = "/triggertypes/{name}",
    operation_id = "get_trigger_type",
    tag = "triggers",
    params(("name" = String, Path, description = "`pack.name`, e.g. core.webhook or core.st2.webhook")),
    responses(
        (status = 200, description = "The trigger type", body = TriggerTypeView),
        (status = 400, description = "The name is not UTF-8 once percent-decoded", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 404, description = "No such trigger type", body = ErrorBody),
    ),
)]
pub(crate) async fn get_type(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<TriggerTypeView>, ApiError> {
    caller.require(Permission::TriggerView, Some(&Resource::trigger_type(&name)))?;
    let types = state.engine().ingest().trigger_types();
    types
        .get(&name)
        .map(|t| Json(TriggerTypeView::from(t)))
        .ok_or_else(|| ApiError::not_found(format!("trigger type `{name}` not found")))
}

/// Every attribute of a trigger instance, in the order the view has them.
const ATTRIBUTES: &[&str] = &[
    "id",
    "trigger",
    "parameters",
    "payload",
    "occurred_at",
    "occurrence_time",
    "status",
    "rule_enforcements",
];

/// Whether an instance's rules ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum InstanceStatus {
    /// Committed, rules not yet evaluated.
    Pending,
    /// Rules evaluated.
    Processed,
}

/// Filters and paging for the trigger instance list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct InstanceQuery {
    /// Only instances of this trigger type (StackStorm's names accepted).
    trigger: Option<String>,
    /// Only instances in this state.
    #[param(inline)]
    status: Option<InstanceStatus>,
    /// Only those that occurred at or after this time (RFC 3339 or epoch
    /// ms).
    #[param(value_type = Option<TimeFilter>, inline)]
    since: Option<String>,
    /// Only those that occurred at or before this time (RFC 3339 or epoch
    /// ms).
    #[param(value_type = Option<TimeFilter>, inline)]
    until: Option<String>,
    /// Page size, 1 to 1000, or -1 for the largest page; default 50.
    #[param(minimum = -1, maximum = 1000)]
    limit: Option<i64>,
    /// Matches to skip, newest first.
    #[serde(default, deserialize_with = "saturating_offset")]
    offset: Option<usize>,
    /// StackStorm's order: `true` (the default here: newest first).
    #[param(pattern = "^(true|false|True|False)$")]
    sort_desc: Option<String>,
    /// StackStorm's order: only `false` is taken (lists come newest first).
    #[param(pattern = "^(false|False)$")]
    sort_asc: Option<String>,
    /// Only these attributes, separated by commas (`id` always comes
    /// too), e.g. `trigger,payload`. Without it or `exclude_attributes`,
    /// every attribute but `payload`.
    include_attributes: Option<String>,
    /// Every attribute but these, separated by commas; an unknown name is
    /// refused.
    exclude_attributes: Option<String>,
}

/// The parameters [`InstanceQuery`] reads; any other is refused.
const PARAMETERS: &[&str] = &[
    "trigger",
    "status",
    "since",
    "until",
    "limit",
    "offset",
    "sort_desc",
    "sort_asc",
    "include_attributes",
    "exclude_attributes",
];

// A trigger instance in a list: the attributes asked for, by default
// all but `payload`. Only `id` is always there.
summary_of!(TriggerInstanceSummary, TriggerInstanceView);

/// Lists trigger instances newest first, in pages bounded by count and by
/// bytes, read from the store's reverse order; filters scan until the
/// page is full.
#[utoipa::path(
    get,
    path = "/triggerinstances",
    operation_id = "list_trigger_instances",
    tag = "triggers",
    params(InstanceQuery),
    responses(
        (status = 200, description = "Matching instances, newest first", body = [TriggerInstanceSummary],
            headers(
                ("x-total-count" = u64, description = "How many instances match: always without filters (read from the table's length, not its records); with filters only when the scan reached the last match"),
                ("x-next-offset" = usize, description = "The offset of the next page, when more instances match"),
                ("x-page-truncated" = String, description = "`true` when the page stopped at 4 MiB of JSON before `limit`; the next page starts at `x-next-offset`"),
            )),
        (status = 400, description = "A filter, paging or attribute value is malformed, or a parameter is unknown; the message names it", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
    ),
)]
pub(crate) async fn list_instances(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
    Query(query): Query<InstanceQuery>,
) -> Result<Listing, ApiError> {
    only_known(raw.as_deref(), PARAMETERS)?;
    check_order(query.sort_asc.as_deref(), query.sort_desc.as_deref())?;
    let page = Page::new(query.limit, query.offset)?;
    let since = query.since.as_deref().map(|t| parse_time("since", t)).transpose()?;
    let until = query.until.as_deref().map(|t| parse_time("until", t)).transpose()?;
    let fields = Fields::parse(
        query.include_attributes.as_deref(),
        query.exclude_attributes.as_deref(),
        ATTRIBUTES,
        &["payload"],
    )?;
    let trigger = query.trigger.map(|t| canonical_trigger_type(&t).to_owned());
    let status = query.status.map(|s| match s {
        InstanceStatus::Pending => TriggerInstanceStatus::Pending,
        InstanceStatus::Processed => TriggerInstanceStatus::Processed,
    });
    let filtered = trigger.is_some() || status.is_some() || since.is_some() || until.is_some();
    let store = state.engine().store().clone();
    let scan = move || {
        let snapshot = store.read()?;
        // The whole range: an event's id may come from its source, so its
        // time need not be when the event occurred.
        let rows = snapshot.trigger_instances_newest_first(Uuid::nil(), Uuid::max())?;
        let count = if filtered { None } else { Some(snapshot.trigger_instance_count()?) };
        let payload = fields.wants("payload");
        newest_first(
            rows,
            |i: &TriggerInstance| {
                trigger.as_deref().is_none_or(|t| t == i.trigger)
                    && status.is_none_or(|s| s == i.status)
                    && since.is_none_or(|s| i.occurred_at >= s)
                    && until.is_none_or(|u| i.occurred_at <= u)
            },
            |mut instance| {
                if payload && let Some(stored) = snapshot.trigger_payload(instance.id)? {
                    instance.payload = stored;
                }
                Ok(fields.select(&TriggerInstanceView::from(instance)))
            },
            page,
            count,
        )
    };
    Ok(tokio::task::spawn_blocking(scan).await.map_err(ApiError::internal)??)
}

/// One trigger instance.
#[utoipa::path(
    get,
    path = "/triggerinstances/{id}",
    operation_id = "get_trigger_instance",
    tag = "triggers",
    params(("id" = Uuid, Path, description = "Trigger instance id")),
    responses(
        (status = 200, description = "The trigger instance", body = TriggerInstanceView),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 404, description = "No such trigger instance", body = ErrorBody),
    ),
)]
pub(crate) async fn get_instance(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<TriggerInstanceView>, ApiError> {
    let id = parse_id("trigger instance", &id)?;
    let instance = instance_for(&state, &caller, id, Permission::TriggerView)?;
    Ok(Json(TriggerInstanceView::from(instance)))
}

/// The trigger instance `id`, once the caller may do `permission` on its
/// trigger type.
fn instance_for(
    state: &ApiState,
    caller: &Caller,
    id: Uuid,
    permission: Permission,
) -> Result<TriggerInstance, ApiError> {
    let instance = state
        .engine()
        .store()
        .read()?
        .trigger_instance(id)?
        .ok_or_else(|| ApiError::not_found(format!("trigger instance {id} not found")))?;
    caller.require(permission, Some(&Resource::trigger_type(&instance.trigger)))?;
    Ok(instance)
}

/// Emits a new instance with the same trigger, parameters and payload,
/// matched against the rules in force now.
#[utoipa::path(
    post,
    path = "/triggerinstances/{id}/re_emit",
    operation_id = "re_emit_trigger_instance",
    tag = "triggers",
    params(("id" = Uuid, Path, description = "Trigger instance to emit again")),
    responses(
        (status = 201, description = "The new instance and what it started", body = EmittedView,
            headers(("location" = String, description = "Where the new instance lives"))),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 404, description = "No such trigger instance", body = ErrorBody),
        (status = 422, description = "Its payload no longer fits its trigger type", body = ErrorBody),
    ),
)]
pub(crate) async fn re_emit(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id("trigger instance", &id)?;
    instance_for(&state, &caller, id, Permission::TriggerAll)?;
    let emitted = state.engine().re_emit(id).await.map_err(control_error)?;
    let location = format!("{}/triggerinstances/{}", super::API_PREFIX, emitted.id);
    let view = EmittedView { trigger_instance: emitted.id, executions: emitted.executions };
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(view)).into_response())
}

/// The poll sensors the engine runs, by reference.
#[utoipa::path(
    get,
    path = "/sensors",
    operation_id = "list_sensors",
    tag = "triggers",
    responses(
        (status = 200, description = "Poll sensors by reference", body = [SensorView]),
        (status = 401, description = "No live API key", body = ErrorBody),
    ),
)]
pub(crate) async fn list_sensors(State(state): State<ApiState>) -> Json<Vec<SensorView>> {
    Json(
        state
            .engine()
            .sensors()
            .into_iter()
            .map(|s| SensorView {
                reference: s.reference,
                interval_ms: s.interval_ms,
                polls: s.status.polls,
                events: s.status.events,
                errors: s.status.errors,
                last_poll: timestamp_opt(s.status.last_poll),
                last_error: s.status.last_error,
            })
            .collect(),
    )
}

/// A sensor a pack declares, as StackStorm's sensor type.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SensorTypeView {
    /// `pack.sensor` (Squall identifies sensors by ref).
    #[schema(example = "github.push")]
    id: String,
    #[serde(rename = "ref")]
    #[schema(example = "github.push")]
    reference: String,
    /// `sensor_type:PACK:NAME`.
    uid: String,
    pack: String,
    name: String,
    description: String,
    /// Whether the engine runs it now.
    enabled: bool,
    /// `poll` or `webhook`.
    kind: &'static str,
    /// A poll sensor's time between polls, in seconds.
    poll_interval: Option<f64>,
    /// A webhook sensor's route under `/api/v1/webhooks/`.
    route: Option<String>,
    /// The trigger types it emits (`pack.name`).
    trigger_types: Vec<String>,
}

/// The sensors the packs declare, by ref.
#[utoipa::path(
    get,
    path = "/sensortypes",
    operation_id = "list_sensor_types",
    tag = "triggers",
    params(CatalogQuery),
    responses(
        (status = 200, description = "Sensor types by ref (the attributes asked for)", body = [SensorTypeSummary]),
        (status = 400, description = "A malformed or unknown query parameter; the message names it", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
    ),
)]
pub(crate) async fn list_sensor_types(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
    Query(query): Query<CatalogQuery>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let polling: Vec<String> = state.engine().sensors().into_iter().map(|s| s.reference).collect();
    let webhooks = state.engine().webhook_sensors();
    let mut views = Vec::new();
    for (pack, manifest) in state.manifests()? {
        for (name, sensor) in &manifest.sensors {
            let reference = format!("{pack}.{name}");
            let (kind, poll_interval, route, enabled) = match &sensor.kind {
                crate::pack::SensorKind::Poll { interval } => {
                    ("poll", Some(interval.as_secs_f64()), None, polling.contains(&reference))
                }
                crate::pack::SensorKind::Webhook { route } => (
                    "webhook",
                    None,
                    Some(route.clone()),
                    webhooks.get(route).is_some_and(|w| w.name == *name),
                ),
            };
            views.push(SensorTypeView {
                id: reference.clone(),
                uid: format!("sensor_type:{pack}:{name}"),
                reference,
                pack: pack.clone(),
                name: name.clone(),
                description: sensor.description.clone(),
                enabled,
                kind,
                poll_interval,
                route,
                trigger_types: sensor.emits.clone(),
            });
        }
    }
    views.sort_by(|a, b| a.reference.cmp(&b.reference));
    Ok(Json(query.apply(raw.as_deref(), views)?))
}
