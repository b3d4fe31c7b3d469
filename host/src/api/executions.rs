//! `/executions`: runs of actions — request one, list and filter them
//! newest first, read one and its output, cancel (`DELETE`, as st2 does),
//! and re-run with the same parameters.

use axum::Json;
use axum::extract::{Extension, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use super::auth::Caller;
use super::error::{ApiError, Body, ErrorBody, Path, Query, RawBody, parse_id};
pub(crate) use super::execution_view::{ExecutionView, children_of};
use super::page::{
    Fields, Listing, Page, TimeFilter, check_order, id_ceiling, id_floor, newest_first, only_known,
    parse_time, saturating_offset, summary_of,
};
use super::state::ApiState;
use crate::access::{Permission, Resource};
use crate::engine::{CancelError, ControlError, EmitError, RequestError};
use crate::store::{Execution, ExecutionStatus};

/// Where an execution is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    /// Created, waiting for the scheduler.
    Requested,
    /// Queued for a worker (or waiting for a retry or a concurrency slot).
    Scheduled,
    /// A worker is running it.
    Running,
    /// Finished with output.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Stopped at its deadline.
    Timeout,
    /// Stopped on request.
    Canceled,
    /// Was running when the host stopped and is not retried.
    Abandoned,
    /// A workflow paused: running tasks finish, no new ones start.
    Paused,
    /// A `core.ask` waiting for a response.
    Pending,
}

impl From<ExecutionStatus> for Status {
    fn from(status: ExecutionStatus) -> Self {
        match status {
            ExecutionStatus::Requested => Self::Requested,
            ExecutionStatus::Scheduled => Self::Scheduled,
            ExecutionStatus::Running => Self::Running,
            ExecutionStatus::Succeeded => Self::Succeeded,
            ExecutionStatus::Failed => Self::Failed,
            ExecutionStatus::Timeout => Self::Timeout,
            ExecutionStatus::Canceled => Self::Canceled,
            ExecutionStatus::Abandoned => Self::Abandoned,
            ExecutionStatus::Paused => Self::Paused,
            ExecutionStatus::Pending => Self::Pending,
        }
    }
}

/// The answer to a cancel.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CanceledView {
    id: Uuid,
    /// The state it was in when the cancel arrived.
    previous_status: Status,
    /// Its state now: `canceled`, or still `running` while its worker stops.
    status: Status,
}

/// A request to run an action.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateExecution {
    /// `pack.action`.
    #[schema(example = "core.echo")]
    action: String,
    /// Parameters, checked against the action's schema.
    #[serde(default)]
    #[schema(value_type = Object, example = json!({"message": "hi"}))]
    parameters: Map<String, Value>,
    /// Run on behalf of this user (StackStorm's `user`): only an admin may
    /// name another user than themselves; null or absent is the caller.
    user: Option<String>,
}

/// Every attribute of an execution, in the order the view has them.
const ATTRIBUTES: &[&str] = &[
    "id",
    "action",
    "runner",
    "liveaction",
    "parameters",
    "status",
    "start_timestamp",
    "end_timestamp",
    "elapsed_seconds",
    "log",
    "trigger_instance",
    "rule",
    "attempt",
    "created_at",
    "updated_at",
    "started_at",
    "finished_at",
    "result",
    "error",
    "retries",
    "logs",
    "parent",
    "workflow_task",
    "children",
    "context",
];

/// What a list leaves out unless asked: the parts that can be large (and
/// `children`, which costs a scan).
const HEAVY: &[&str] = &["parameters", "result", "liveaction", "logs", "children"];

/// Filters and paging for the execution list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only executions of this action (`pack.action`).
    action: Option<String>,
    /// Only executions in this state.
    #[param(inline)]
    status: Option<Status>,
    /// Only executions started by this rule (`pack.name`), as StackStorm's
    /// `rule_ref`.
    rule_ref: Option<String>,
    /// Only executions this user requested (`context.user`), as
    /// StackStorm's `user`.
    user: Option<String>,
    /// Only the tasks' executions of this workflow execution; `null` for
    /// only those that are no workflow's task (as `st2 execution list`
    /// asks).
    #[param(value_type = Option<String>, pattern = "^(null|[0-9a-fA-F-]{32,36})$")]
    parent: Option<String>,
    /// Only those created at or after this time (RFC 3339 or epoch ms).
    #[param(value_type = Option<TimeFilter>, inline)]
    since: Option<String>,
    /// Only those created at or before this time (RFC 3339 or epoch ms).
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
    /// too; `action.ref` chooses `action`), e.g. `status,result`. Without it or `exclude_attributes`,
    /// every attribute but `parameters` and `result`.
    include_attributes: Option<String>,
    /// Every attribute but these, separated by commas, e.g. `parameters`
    /// for everything with the results.
    exclude_attributes: Option<String>,
}

/// The parameters [`ListQuery`] reads; any other is refused.
const PARAMETERS: &[&str] = &[
    "action",
    "status",
    "rule_ref",
    "user",
    "parent",
    "since",
    "until",
    "limit",
    "offset",
    "sort_desc",
    "sort_asc",
    "include_attributes",
    "exclude_attributes",
];

// An execution in a list: the attributes asked for, by default all but
// `parameters` and `result`. Only `id` is always there.
summary_of!(ExecutionSummary, ExecutionView);

/// Lists executions newest first, in pages bounded by count and by bytes.
/// Read from the store's reverse order: the first page costs the same at
/// any number of executions; filters scan until the page is full.
#[utoipa::path(
    get,
    path = "/executions",
    operation_id = "list_executions",
    tag = "executions",
    params(ListQuery),
    responses(
        (status = 200, description = "Matching executions, newest first", body = [ExecutionSummary],
            headers(
                ("x-total-count" = u64, description = "How many executions match: always without filters (read from the table's length, not its records); with filters only when the scan reached the last match"),
                ("x-next-offset" = usize, description = "The offset of the next page, when more executions match"),
                ("x-page-truncated" = String, description = "`true` when the page stopped at 4 MiB of JSON before `limit`; the next page starts at `x-next-offset`"),
            )),
        (status = 400, description = "A filter, paging or attribute value is malformed, or a parameter is unknown; the message names it", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
    ),
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
    Query(query): Query<ListQuery>,
) -> Result<Listing, ApiError> {
    only_known(raw.as_deref(), PARAMETERS)?;
    check_order(query.sort_asc.as_deref(), query.sort_desc.as_deref())?;
    let page = Page::new(query.limit, query.offset)?;
    // `Some(None)`: only executions without a parent.
    let parent = match query.parent.as_deref() {
        None => None,
        Some("null") => Some(None),
        Some(id) => Some(Some(parse_query_id("parent", id)?)),
    };
    let since = query.since.as_deref().map(|t| parse_time("since", t)).transpose()?;
    let until = query.until.as_deref().map(|t| parse_time("until", t)).transpose()?;
    let fields = Fields::parse(
        query.include_attributes.as_deref(),
        query.exclude_attributes.as_deref(),
        ATTRIBUTES,
        HEAVY,
    )?;
    let filtered = query.action.is_some()
        || query.status.is_some()
        || query.rule_ref.is_some()
        || query.user.is_some()
        || query.parent.is_some()
        || since.is_some()
        || until.is_some();
    let store = state.engine().store().clone();
    let scan = move || {
        let snapshot = store.read()?;
        // Ids are UUIDv7: their time is within a moment of `created_at`,
        // so a time filter narrows the range read, and is then exact.
        let oldest = since.map_or(Uuid::nil(), |s| id_floor(s.saturating_sub(1000)));
        let newest = until.map_or(Uuid::max(), |u| id_ceiling(u.saturating_add(1000)));
        let rows = snapshot.executions_newest_first(oldest, newest)?;
        let count = if filtered { None } else { Some(snapshot.execution_count()?) };
        let body = ["parameters", "result", "liveaction", "logs"].iter().any(|a| fields.wants(a));
        let children = fields.wants("children");
        newest_first(
            rows,
            |e: &Execution| {
                query.action.as_deref().is_none_or(|a| a == e.action)
                    && query.status.is_none_or(|s| s == Status::from(e.status))
                    && query.rule_ref.as_deref().is_none_or(|r| e.rule.as_deref() == Some(r))
                    && query.user.as_deref().is_none_or(|u| e.user.as_deref() == Some(u))
                    && parent.is_none_or(|p| e.parent.as_ref().map(|t| t.workflow) == p)
                    && since.is_none_or(|s| e.created_at >= s)
                    && until.is_none_or(|u| e.created_at <= u)
            },
            |mut execution| {
                if body && let Some(body) = snapshot.execution_body(execution.id)? {
                    body.join(&mut execution);
                }
                let children = if children { children_of(&state, &execution)? } else { Vec::new() };
                Ok(fields.select(&ExecutionView::new(&execution, &state, children)))
            },
            page,
            count,
        )
    };
    Ok(tokio::task::spawn_blocking(scan).await.map_err(ApiError::internal)??)
}

/// Requests one execution of an action. An unknown action or parameters
/// that do not fit its schema are 422, naming the field.
#[utoipa::path(
    post,
    path = "/executions",
    operation_id = "create_execution",
    tag = "executions",
    request_body = CreateExecution,
    responses(
        (status = 201, description = "Requested", body = ExecutionView,
            headers(("location" = String, description = "Where the execution lives"))),
        (status = 400, description = "Malformed JSON or wrong types", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "The body is not sent as application/json", body = ErrorBody),
        (status = 422, description = "Unknown action, or parameters that do not fit its schema", body = ErrorBody),
    ),
)]
pub(crate) async fn create(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Body(request): Body<CreateExecution>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ActionExecute, Some(&Resource::action(&request.action)))?;
    let user = match request.user {
        Some(user) if user != caller.user() => {
            // As StackStorm: acting as another user is for admins.
            if !caller.principal.is_admin() {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    format!(
                        "user: only an admin may run an action as another user (`{}`)",
                        user.escape_debug()
                    ),
                )
                .with_detail(json!({"parameter": "user", "user": caller.user()})));
            }
            user
        }
        _ => caller.user().to_owned(),
    };
    let user = Some(user);
    let id = state
        .engine()
        .request_by(&request.action, request.parameters, user)
        .await
        .map_err(request_error)?;
    created(&state, id)
}

/// 201 with the execution `id` and where it lives.
fn created(state: &ApiState, id: Uuid) -> Result<Response, ApiError> {
    let execution = find(state, id)?;
    let location = format!("{}/executions/{id}", super::API_PREFIX);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(ExecutionView::read(&execution, state)?),
    )
        .into_response())
}

pub(crate) fn find(state: &ApiState, id: Uuid) -> Result<Execution, ApiError> {
    state
        .engine()
        .store()
        .read()?
        .execution(id)?
        .ok_or_else(|| ApiError::not_found(format!("execution {id} not found")))
}

/// The execution `id`, once the caller may do `permission` on it (decided
/// by the grants on its action, as in StackStorm).
pub(crate) fn find_for(
    state: &ApiState,
    caller: &Caller,
    id: Uuid,
    permission: Permission,
) -> Result<Execution, ApiError> {
    let execution = find(state, id)?;
    caller.require(permission, Some(&Resource::execution(&id.to_string(), &execution.action)))?;
    Ok(execution)
}

/// One execution.
#[utoipa::path(
    get,
    path = "/executions/{id}",
    operation_id = "get_execution",
    tag = "executions",
    params(("id" = Uuid, Path, description = "Execution id")),
    responses(
        (status = 200, description = "The execution", body = ExecutionView),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 404, description = "No such execution", body = ErrorBody),
    ),
)]
pub(crate) async fn get(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<ExecutionView>, ApiError> {
    let id = parse_id("execution", &id)?;
    let execution = find_for(&state, &caller, id, Permission::ExecutionView)?;
    Ok(Json(ExecutionView::read(&execution, &state)?))
}

/// Which output `/executions/{id}/output` answers.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct OutputQuery {
    /// StackStorm's output type: `all` (the default), `stdout` (lines
    /// logged at trace, debug and info) or `stderr` (warn and error).
    #[param(pattern = "^(all|stdout|stderr)$")]
    output_type: Option<String>,
}

/// What an execution's action logged during its last attempt (so far,
/// while it runs), as text, one line per message, as StackStorm serves an
/// action's output (Squall's actions write no stdout; their log lines are
/// their output).
#[utoipa::path(
    get,
    path = "/executions/{id}/output",
    operation_id = "get_execution_output",
    tag = "executions",
    params(("id" = Uuid, Path, description = "Execution id"), OutputQuery),
    responses(
        (status = 200, description = "What it logged so far, one message a line", body = String, content_type = "text/plain"),
        (status = 400, description = "The id is not a UUID, or an unknown output_type", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 404, description = "No such execution", body = ErrorBody),
    ),
)]
pub(crate) async fn output(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<OutputQuery>,
) -> Result<Response, ApiError> {
    let id = parse_id("execution", &id)?;
    let errors = match query.output_type.as_deref() {
        None | Some("all") => None,
        Some("stdout") => Some(false),
        Some("stderr") => Some(true),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "output_type: expected all, stdout or stderr, got `{}`",
                other.escape_debug()
            ))
            .with_detail(json!({"parameter": "output_type"})));
        }
    };
    let e = find_for(&state, &caller, id, Permission::ExecutionView)?;
    // A running component's lines so far, from its sandbox's buffer; the
    // stored ones once it ended.
    let live = if e.status.is_finished() { None } else { state.engine().logs_so_far(id) };
    let lines: Vec<(String, &str)> = match &live {
        Some(live) => live.iter().map(|l| (l.level.to_string(), l.message.as_str())).collect(),
        None => e.logs.iter().map(|l| (l.level.clone(), l.message.as_str())).collect(),
    };
    let mut text = String::new();
    for (level, message) in lines {
        let error = matches!(level.as_str(), "warn" | "error");
        if errors.is_none_or(|wanted| wanted == error) {
            text.push_str(message);
            text.push('\n');
        }
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// Cancels an execution: a queued one at once, a running one as soon as
/// its worker stops it.
#[utoipa::path(
    delete,
    path = "/executions/{id}",
    operation_id = "cancel_execution",
    tag = "executions",
    params(("id" = Uuid, Path, description = "Execution id")),
    responses(
        (status = 200, description = "Canceled (or being canceled)", body = CanceledView),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 404, description = "No such execution", body = ErrorBody),
        (status = 409, description = "It already finished; `detail.status` says how", body = ErrorBody),
    ),
)]
pub(crate) async fn cancel(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<CanceledView>, ApiError> {
    let id = parse_id("execution", &id)?;
    find_for(&state, &caller, id, Permission::ExecutionStop)?;
    let before = state.engine().cancel(id).await.map_err(|error| match error {
        CancelError::NotFound(_) => ApiError::not_found(error.to_string()),
        CancelError::Finished(_, status) => ApiError::conflict(format!(
            "execution {id} already finished ({})",
            super::metrics::status_name(status)
        ))
        .with_detail(json!({"status": Status::from(status)})),
        CancelError::Read(e) => e.into(),
        CancelError::Write(e) => e.into(),
    })?;
    let now = find(&state, id)?;
    Ok(Json(CanceledView { id, previous_status: before.into(), status: now.status.into() }))
}

/// Requests a new execution of the same action with the same parameters.
#[utoipa::path(
    post,
    path = "/executions/{id}/re_run",
    operation_id = "re_run_execution",
    tag = "executions",
    params(("id" = Uuid, Path, description = "Execution to run again")),
    request_body(content = Option<ReRunBody>, description = "Optional: the workflow tasks to re-run from"),
    responses(
        (status = 200, description = "The new execution (200, as StackStorm answers)", body = ExecutionView,
            headers(("location" = String, description = "Where the new execution lives"))),
        (status = 400, description = "The id is not a UUID, or the body is malformed (a non-zero delay, reset tasks not among tasks, parameters with tasks); the message names the field", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 404, description = "No such execution", body = ErrorBody),
        (status = 409, description = "Tasks were named but the workflow is still going", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "A body not sent as application/json", body = ErrorBody),
        (status = 422, description = "The action is no longer installed, its schema changed, or a named task cannot be re-run", body = ErrorBody),
    ),
)]
pub(crate) async fn re_run(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: http::HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let id = parse_id("execution", &id)?;
    find_for(&state, &caller, id, Permission::ExecutionRerun)?;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|m| m.trim() == "application/json"));
    let request: ReRunBody = if body.iter().all(u8::is_ascii_whitespace) {
        ReRunBody::default()
    } else if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a re-run body must be sent as application/json",
        ));
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!("body: expected {{\"tasks\": [names]}}: {e}"))
        })?
    };
    if request.delay.is_some_and(|delay| delay != 0) {
        return Err(ApiError::bad_request(
            "delay: a re-run starts at once here; send 0 or leave it out",
        )
        .with_detail(json!({"parameter": "delay"})));
    }
    if let Some(task) = request.reset.iter().find(|task| !request.tasks.contains(task)) {
        return Err(ApiError::bad_request(format!(
            "reset: task `{}` is not among the tasks to re-run",
            task.escape_debug()
        ))
        .with_detail(json!({"parameter": "reset"})));
    }
    let new = if request.tasks.is_empty() {
        let user = Some(caller.user().to_owned());
        state.engine().rerun_by(id, user, request.parameters).await.map_err(control_error)?
    } else {
        if !request.parameters.is_empty() {
            return Err(ApiError::bad_request(
                "parameters: a re-run from tasks runs them with the context they ran with; send parameters only to re-run the whole execution",
            )
            .with_detail(json!({"parameter": "parameters"})));
        }
        state.engine().rerun_tasks(id, request.tasks).await.map_err(super::workflows::flow_error)?
    };
    // 200, as StackStorm answers a re-run (st2client expects it).
    let execution = find(&state, new)?;
    let location = format!("{}/executions/{new}", super::API_PREFIX);
    Ok((
        StatusCode::OK,
        [(header::LOCATION, location)],
        Json(ExecutionView::read(&execution, &state)?),
    )
        .into_response())
}

/// What to re-run; an empty body re-runs the whole execution.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReRunBody {
    /// For a finished workflow: the tasks to run again, each from the
    /// context it ran with; the run carries on from them as a new
    /// execution. Tasks whose failure ended the workflow must be among
    /// them.
    #[serde(default)]
    tasks: Vec<String>,
    /// Parameters to change for a whole re-run; the others are the
    /// original execution's.
    #[serde(default)]
    #[schema(value_type = Object)]
    parameters: Map<String, Value>,
    /// StackStorm's tasks to restart from scratch rather than resume; each
    /// must be among `tasks` (Squall re-runs every named task from the
    /// context it ran with).
    #[serde(default)]
    reset: Vec<String>,
    /// StackStorm's delay before the re-run, in milliseconds: only 0.
    #[schema(minimum = 0, maximum = 0)]
    delay: Option<u64>,
}

/// A UUID given in query parameter `name`.
fn parse_query_id(name: &str, text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|e| {
        ApiError::bad_request(format!("{name}: expected an execution id (a UUID) or null: {e}"))
            .with_detail(json!({"parameter": name}))
    })
}

pub(crate) fn request_error(error: RequestError) -> ApiError {
    match error {
        RequestError::UnknownAction(_) => ApiError::invalid("action", error.to_string()),
        RequestError::Parameters(message) => ApiError::invalid("parameters", message),
        RequestError::Write(e) => e.into(),
    }
}

pub(crate) fn control_error(error: ControlError) -> ApiError {
    match error {
        ControlError::NotFound(_) => ApiError::not_found(error.to_string()),
        ControlError::Read(e) => e.into(),
        ControlError::Emit(EmitError::Trigger(e)) => ApiError::invalid("payload", e.to_string()),
        ControlError::Emit(EmitError::Write(e)) | ControlError::Write(e) => e.into(),
        ControlError::Request(e) => request_error(e),
    }
}
