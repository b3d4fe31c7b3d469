//! An execution as the API shows it: StackStorm's attributes (the
//! `action` object with its runner type and parameter metadata, `runner`,
//! `liveaction`, `start_timestamp`, `end_timestamp`, `elapsed_seconds`,
//! `log`, `parent`, `children`) beside Squall's own.

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::ApiError;
use super::executions::Status;
use super::page::{timestamp, timestamp_opt};
use super::runners::{is_workflow, parameter_metadata, runner_name};
use super::state::ApiState;
use crate::store::{Execution, MASKED_SECRET, ReadError};

/// One run of an action, as StackStorm shows an execution (`action`,
/// `runner`, `liveaction`, `context`, `parent`, `children`,
/// `start_timestamp`, `end_timestamp`, `elapsed_seconds`, `log`), with
/// Squall's own attributes beside them.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ExecutionView {
    id: Uuid,
    /// The action it runs.
    action: ExecutionAction,
    /// What runs the action.
    runner: ExecutionRunner,
    /// StackStorm's live action: the request behind the execution (Squall
    /// keeps one record; its id is the execution's).
    liveaction: LiveActionView,
    /// Parameters after defaults and validation.
    #[schema(value_type = Object)]
    parameters: Value,
    status: Status,
    /// When it was requested (StackStorm's start).
    #[schema(format = DateTime)]
    start_timestamp: String,
    /// When it finished.
    #[schema(format = DateTime)]
    end_timestamp: Option<String>,
    /// Seconds from request to end, once it finished.
    elapsed_seconds: Option<f64>,
    /// Its state changes, oldest first.
    log: Vec<StateChange>,
    /// The trigger instance whose rule started it.
    trigger_instance: Option<Uuid>,
    /// The rule that started it (`pack.name`).
    rule: Option<String>,
    /// Attempt number, from 1.
    attempt: u32,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    /// When the current attempt started.
    #[schema(format = DateTime)]
    started_at: Option<String>,
    #[schema(format = DateTime)]
    finished_at: Option<String>,
    /// The action's output, once it succeeded.
    result: Option<Value>,
    /// Why it did not succeed.
    error: Option<String>,
    /// Earlier attempts that ended in a retry.
    retries: Vec<AttemptView>,
    /// What the action logged during its last attempt
    /// (`/executions/{id}/output` has the same as text).
    logs: Vec<LogView>,
    /// The workflow execution it is a task of (StackStorm's `parent`).
    parent: Option<Uuid>,
    /// The workflow task that started it.
    workflow_task: Option<ParentView>,
    /// A workflow's task executions, oldest first (empty for other
    /// actions).
    children: Vec<Uuid>,
    /// Who asked for it, as StackStorm shows it.
    context: ContextView,
}

/// The action of an execution, as StackStorm embeds it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ExecutionAction {
    /// `pack.action` (Squall identifies actions by ref).
    #[schema(example = "core.echo")]
    id: String,
    /// `pack.action`.
    #[serde(rename = "ref")]
    #[schema(example = "core.echo")]
    reference: String,
    #[schema(example = "action:core:echo")]
    uid: String,
    name: String,
    pack: String,
    /// `wasm`, `orquesta`, `inquirer`, `announcement` or `chatops`; null once the action is no
    /// longer installed.
    runner_type: Option<&'static str>,
    /// Its parameters in StackStorm's metadata form (empty once the
    /// action is no longer installed).
    #[schema(value_type = Object)]
    parameters: Map<String, Value>,
}

/// The runner of an execution.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ExecutionRunner {
    /// `wasm`, `orquesta`, `inquirer`, `announcement` or `chatops`; null once the action is no
    /// longer installed.
    name: Option<&'static str>,
}

/// StackStorm's live action of an execution.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LiveActionView {
    /// The execution's id.
    id: Uuid,
    /// `pack.action`.
    action: String,
    status: Status,
    #[schema(value_type = Object)]
    parameters: Value,
}

/// One state change of an execution.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StateChange {
    #[schema(format = DateTime)]
    timestamp: String,
    status: Status,
}

/// StackStorm's execution context: the user who requested it (null for
/// executions rules and workflows start) and, for one an action alias
/// started, the alias and where in chat it was asked for.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ContextView {
    user: Option<String>,
    /// The alias that started it (`{id, name}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    action_alias_ref: Option<Value>,
    /// The chat user who asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    api_user: Option<String>,
    /// The channel they asked in.
    #[serde(skip_serializing_if = "Option::is_none")]
    source_channel: Option<String>,
}

impl ContextView {
    fn new(e: &Execution) -> Self {
        let chat = e.chat.as_deref();
        Self {
            user: e.user.clone(),
            action_alias_ref: chat.map(|c| {
                let name = crate::limits::ref_name(&c.alias);
                serde_json::json!({"id": c.alias_id, "name": name, "ref": c.alias})
            }),
            api_user: chat.map(|c| c.chat_user.clone()),
            source_channel: chat.map(|c| c.source_channel.clone()),
        }
    }
}

/// `parameters` with every one its action's schema marks `secret: true`
/// (StackStorm's parameter attribute) shown as `********`.
pub(crate) fn mask_secret_parameters(parameters: &Value, schema: &Value) -> Value {
    let (Some(given), Some(properties)) =
        (parameters.as_object(), schema.get("properties").and_then(Value::as_object))
    else {
        return parameters.clone();
    };
    let masked = given
        .iter()
        .map(|(name, value)| {
            let secret = properties
                .get(name)
                .and_then(|p| p.get("secret"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let value = if secret { Value::from(MASKED_SECRET) } else { value.clone() };
            (name.clone(), value)
        })
        .collect();
    Value::Object(masked)
}

/// The workflow task an execution runs for.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ParentView {
    /// The workflow's execution.
    workflow: Uuid,
    /// The task.
    task: String,
    /// The task's route when it runs once per branch (0 otherwise).
    route: usize,
    /// The item of a with-items task.
    item: Option<usize>,
    /// Which retry of the task this run is (0: its first run).
    retry: u32,
}

/// An earlier attempt.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AttemptView {
    attempt: u32,
    status: Status,
    error: Option<String>,
    #[schema(format = DateTime)]
    ended_at: String,
}

impl ExecutionView {
    /// `e` as the API shows it, with its action described from the
    /// engine's catalog and `children` (its task executions, for a
    /// workflow).
    pub(crate) fn new(e: &Execution, state: &ApiState, children: Vec<Uuid>) -> Self {
        let spec = state.engine().ingest().action(&e.action);
        let runner = spec.as_ref().map(|spec| runner_name(&spec.runner));
        let (pack, name) = crate::limits::split_ref(&e.action).unwrap_or(("", &e.action));
        let mut log = vec![(e.created_at, Status::Requested)];
        log.extend(e.retries.iter().map(|a| (a.ended_at, Status::from(a.status))));
        log.extend(e.started_at.map(|at| (at, Status::Running)));
        log.extend(e.finished_at.map(|at| (at, Status::from(e.status))));
        log.sort_by_key(|(at, _)| *at);
        let parameters = match &spec {
            Some(spec) => mask_secret_parameters(&e.parameters, &spec.parameters_schema),
            None => e.parameters.clone(),
        };
        Self {
            id: e.id,
            action: ExecutionAction {
                id: e.action.clone(),
                reference: e.action.clone(),
                uid: format!("action:{pack}:{name}"),
                name: name.to_owned(),
                pack: pack.to_owned(),
                runner_type: runner,
                parameters: spec
                    .as_ref()
                    .map(|spec| parameter_metadata(&spec.parameters_schema))
                    .unwrap_or_default(),
            },
            runner: ExecutionRunner { name: runner },
            liveaction: LiveActionView {
                id: e.id,
                action: e.action.clone(),
                status: e.status.into(),
                parameters: parameters.clone(),
            },
            parameters,
            status: e.status.into(),
            start_timestamp: timestamp(e.created_at),
            end_timestamp: timestamp_opt(e.finished_at),
            elapsed_seconds: e.finished_at.map(|end| (end - e.created_at).max(0) as f64 / 1000.0),
            log: log
                .into_iter()
                .map(|(at, status)| StateChange { timestamp: timestamp(at), status })
                .collect(),
            trigger_instance: e.trigger_instance,
            rule: e.rule.clone(),
            attempt: e.attempt,
            created_at: timestamp(e.created_at),
            updated_at: timestamp(e.updated_at),
            started_at: timestamp_opt(e.started_at),
            finished_at: timestamp_opt(e.finished_at),
            result: e.result.clone(),
            error: e.error.clone(),
            retries: e
                .retries
                .iter()
                .map(|a| AttemptView {
                    attempt: a.attempt,
                    status: a.status.into(),
                    error: a.error.clone(),
                    ended_at: timestamp(a.ended_at),
                })
                .collect(),
            logs: e
                .logs
                .iter()
                .map(|l| LogView { level: l.level.clone(), message: l.message.clone() })
                .collect(),
            parent: e.parent.as_ref().map(|p| p.workflow),
            workflow_task: e.parent.as_ref().map(|p| ParentView {
                workflow: p.workflow,
                task: p.task.clone(),
                route: p.route,
                item: p.item,
                retry: p.retry,
            }),
            children,
            context: ContextView::new(e),
        }
    }

    /// [`new`](Self::new) with the children read from the store when the
    /// action is a workflow.
    pub(crate) fn read(e: &Execution, state: &ApiState) -> Result<Self, ApiError> {
        let children = children_of(state, e)?;
        Ok(Self::new(e, state, children))
    }
}

/// A workflow execution's task executions, oldest first: those created
/// after it whose parent it is (none for other actions, without reading).
pub(crate) fn children_of(state: &ApiState, e: &Execution) -> Result<Vec<Uuid>, ReadError> {
    let workflow = state
        .engine()
        .ingest()
        .action(&e.action)
        .is_some_and(|spec| is_workflow(runner_name(&spec.runner)));
    if !workflow {
        return Ok(Vec::new());
    }
    let snapshot = state.engine().store().read()?;
    let mut children = Vec::new();
    for child in snapshot.executions_newest_first(e.id, Uuid::max())? {
        let child = child?;
        if child.parent.as_ref().is_some_and(|p| p.workflow == e.id) {
            children.push(child.id);
        }
    }
    children.reverse();
    Ok(children)
}

/// One line an action logged.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LogView {
    /// `trace`, `debug`, `info`, `warn` or `error`.
    level: String,
    message: String,
}
