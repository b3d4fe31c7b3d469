//! `/packs` and `/actions`: the packs the engine runs and their actions,
//! from the engine's action catalog, described by the packs' manifests
//! (stored ones first, then those this process loaded).

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::extract::{Extension, RawQuery, State};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::{ApiError, ErrorBody, Path, Query};
use super::page::{CatalogQuery, summary_of};
use super::runners::{parameter_metadata, runner_name};
use super::state::ApiState;
use crate::access::{Permission, Resource};
use crate::engine::{ActionSpec, Runner};

/// What `core.ask` is, for the action list.
const INQUIRY_DESCRIPTION: &str = "Ask a person: the workflow waits until a response that fits `schema` arrives, or `ttl` minutes pass";
const POST_MESSAGE_DESCRIPTION: &str =
    "Post a message to chat: announced on the event stream for the chat bot listening on `route`";
use crate::pack::{CrashPolicy, Manifest, OverLimit, Policy, RetryOn};

/// A pack.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PackView {
    /// The pack's name: Squall identifies packs by name (StackStorm's `id`
    /// is a database id; any string identifies here).
    #[schema(example = "core")]
    id: String,
    /// StackStorm's `ref`: the name.
    #[serde(rename = "ref")]
    #[schema(example = "core")]
    reference: String,
    /// StackStorm's uid: `pack:NAME`.
    #[schema(example = "pack:core")]
    uid: String,
    #[schema(example = "core")]
    name: String,
    version: Option<String>,
    description: Option<String>,
    /// Its actions the engine runs, as `pack.action`.
    actions: Vec<String>,
    publisher: Option<String>,
    /// StackStorm's name for `publisher`.
    author: Option<String>,
    /// The trusted key that signed the installed bundle; null when it was
    /// installed unsigned or loaded from files.
    signer: Option<String>,
    /// What the pack asks for, one `kind=value` per capability.
    requested: Vec<String>,
    /// What the operator granted.
    #[schema(value_type = Object)]
    grants: Value,
}

/// An action the engine can run, with StackStorm's attributes.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ActionView {
    /// `pack.action`: Squall identifies actions by ref, so `id` is the ref.
    #[schema(example = "core.echo")]
    id: String,
    /// `pack.action`.
    #[serde(rename = "ref")]
    #[schema(example = "core.echo")]
    reference: String,
    /// StackStorm's uid: `action:PACK:NAME`.
    #[schema(example = "action:core:echo")]
    uid: String,
    pack: String,
    name: String,
    description: Option<String>,
    /// What runs it: `wasm`, `orquesta` or `inquirer` (`/runnertypes`).
    #[schema(example = "wasm")]
    runner_type: &'static str,
    /// Its parameters in StackStorm's metadata form (name → schema with
    /// `type`, `required`, `default`, `description`, …), made from
    /// `parameters_schema`.
    #[schema(value_type = Object)]
    parameters: Map<String, Value>,
    /// Installed actions are always enabled.
    enabled: bool,
    /// JSON Schema of its parameters.
    #[schema(value_type = Object)]
    parameters_schema: Value,
    /// JSON Schema of its output, when declared.
    #[schema(value_type = Option<Object>)]
    output_schema: Option<Value>,
    policy: PolicyView,
    /// A workflow action's task graph (what `squall workflow inspect`
    /// shows): absent for other actions. The web UI draws it.
    #[serde(skip_serializing_if = "Option::is_none")]
    workflow: Option<WorkflowGraphView>,
}

/// A workflow's tasks and transitions, as the checked definition has them.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WorkflowGraphView {
    /// The definition's file in its pack (`workflows/NAME.yaml`).
    file: String,
    /// Tasks without inbound transitions: where a run starts.
    start: Vec<String>,
    /// Every task, in document order.
    tasks: Vec<WorkflowTaskView>,
    /// Every transition target, in document order of tasks, then
    /// transitions, then targets.
    edges: Vec<WorkflowEdgeView>,
}

/// A task of a workflow.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WorkflowTaskView {
    name: String,
    /// The action it runs; null for a task that does nothing.
    action: Option<String>,
    /// Whether it waits for its inbound branches (`join`).
    join: bool,
    /// Whether it runs once per item (`with`).
    with_items: bool,
}

/// One transition target.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WorkflowEdgeView {
    from: String,
    /// A task's name, or an engine command (`continue`, `fail`, `noop`,
    /// `retry`) when `to_task` is false.
    to: String,
    to_task: bool,
    /// The transition's condition, as written.
    when: Option<String>,
}

impl WorkflowGraphView {
    fn new(definition: &crate::engine::WorkflowDefinition) -> Self {
        let model = &definition.model;
        let graph = crate::workflow::TaskGraph::new(model);
        Self {
            file: definition.file.clone(),
            start: graph.start.clone(),
            tasks: model
                .tasks
                .iter()
                .map(|task| WorkflowTaskView {
                    name: task.name.clone(),
                    action: task.action.clone(),
                    join: task.join.is_some(),
                    with_items: task.with.is_some(),
                })
                .collect(),
            edges: graph
                .edges
                .iter()
                .map(|edge| WorkflowEdgeView {
                    from: edge.from.clone(),
                    to: edge.to.name().to_owned(),
                    to_task: matches!(edge.to, crate::workflow::Target::Task(_)),
                    when: edge.when.clone(),
                })
                .collect(),
        }
    }
}

/// How the engine runs an action.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PolicyView {
    /// Wall-clock limit per attempt.
    timeout_ms: u64,
    /// Memory cap of the sandbox.
    memory_bytes: u64,
    retry: Option<RetryView>,
    concurrency: Option<ConcurrencyView>,
    /// `retry` (run again, up to `max_crash_retries` times in a row) or
    /// `abandon`, for an execution cut short by a host crash.
    on_crash: &'static str,
    max_crash_retries: Option<u32>,
}

/// Retries on failure or timeout.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RetryView {
    /// `failure` and/or `timeout`.
    on: Vec<&'static str>,
    count: u32,
    delay_ms: u64,
}

/// The limit on executions running at once.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConcurrencyView {
    threshold: u32,
    /// `delay` or `cancel`.
    over_limit: &'static str,
    /// With `delay`: how long before trying again.
    delay_ms: Option<u64>,
}

fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl From<&Policy> for PolicyView {
    fn from(policy: &Policy) -> Self {
        let (on_crash, max_crash_retries) = match policy.on_crash {
            CrashPolicy::Retry { max } => ("retry", Some(max)),
            CrashPolicy::Abandon => ("abandon", None),
        };
        Self {
            timeout_ms: millis(policy.timeout),
            memory_bytes: policy.memory_bytes,
            retry: policy.retry.as_ref().map(|r| RetryView {
                on: r
                    .on
                    .iter()
                    .map(|on| match on {
                        RetryOn::Failure => "failure",
                        RetryOn::Timeout => "timeout",
                    })
                    .collect(),
                count: r.count,
                delay_ms: millis(r.delay),
            }),
            concurrency: policy.concurrency.as_ref().map(|c| {
                let (over_limit, delay_ms) = match c.over_limit {
                    OverLimit::Delay(delay) => ("delay", Some(millis(delay))),
                    OverLimit::Cancel => ("cancel", None),
                };
                ConcurrencyView { threshold: c.threshold, over_limit, delay_ms }
            }),
            on_crash,
            max_crash_retries,
        }
    }
}

fn action_view(spec: &ActionSpec, manifests: &BTreeMap<String, Manifest>) -> ActionView {
    let pack = spec.pack.clone();
    let declared = manifests.get(&pack).and_then(|m| m.actions.get(&spec.name));
    let description = match spec.runner {
        Runner::Inquiry => Some(INQUIRY_DESCRIPTION.to_owned()),
        Runner::Announcement => Some(POST_MESSAGE_DESCRIPTION.to_owned()),
        Runner::ChatTool => Some(
            match spec.name.as_str() {
                "list_inquiries" => "List the pending inquiries, for chat",
                "get_execution" => {
                    "An execution's status and outcome (not its parameters), for chat"
                }
                _ => "Answer an inquiry with `response`, which must fit its schema",
            }
            .to_owned(),
        ),
        _ => declared.map(|d| d.description.clone()).filter(|d| !d.is_empty()),
    };
    ActionView {
        id: spec.reference.clone(),
        uid: format!("action:{}:{}", spec.pack, spec.name),
        runner_type: runner_name(&spec.runner),
        parameters: parameter_metadata(&spec.parameters_schema),
        enabled: true,
        reference: spec.reference.clone(),
        name: spec.name.clone(),
        description,
        parameters_schema: spec.parameters_schema.clone(),
        output_schema: declared.and_then(|d| d.output.clone()),
        policy: PolicyView::from(&spec.policy),
        workflow: match &spec.runner {
            Runner::Workflow(definition) => Some(WorkflowGraphView::new(definition)),
            _ => None,
        },
        pack,
    }
}

summary_of!(ActionSummary, ActionView);

/// Every action, by reference.
fn actions(state: &ApiState) -> Result<Vec<ActionView>, ApiError> {
    let manifests = state.manifests()?;
    let catalog = state.engine().ingest().actions();
    let mut views: Vec<ActionView> = catalog.iter().map(|a| action_view(a, &manifests)).collect();
    views.sort_by(|a, b| a.reference.cmp(&b.reference));
    Ok(views)
}

/// Every pack the engine runs actions of or that is stored, by name.
fn packs(state: &ApiState) -> Result<Vec<PackView>, ApiError> {
    let manifests = state.manifests()?;
    let stored = state.engine().store().read()?.packs()?;
    let mut by_pack: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // Built-in actions belong to no installed pack.
    let catalog = state.engine().ingest().actions();
    for action in catalog.iter().filter(|a| !a.runner.is_builtin()) {
        by_pack.entry(action.pack.clone()).or_default().push(action.reference.clone());
    }
    let names: BTreeSet<String> = by_pack
        .keys()
        .cloned()
        .chain(manifests.keys().cloned())
        .chain(stored.iter().map(|p| p.name.clone()))
        .collect();
    Ok(names
        .into_iter()
        .map(|name| {
            let manifest = manifests.get(&name);
            let mut actions = by_pack.remove(&name).unwrap_or_default();
            actions.sort();
            let record = stored.iter().find(|p| p.name == name);
            PackView {
                id: name.clone(),
                reference: name.clone(),
                uid: format!("pack:{name}"),
                author: manifest.map(|m| m.publisher.clone()).filter(|p| !p.is_empty()),
                publisher: manifest.map(|m| m.publisher.clone()).filter(|p| !p.is_empty()),
                signer: record.and_then(|p| p.signer.clone()),
                requested: manifest.map(|m| m.capabilities.describe()).unwrap_or_default(),
                grants: record
                    .map(|p| p.grants.clone())
                    .filter(|g| !g.is_null())
                    .unwrap_or_else(|| serde_json::json!({})),
                version: stored
                    .iter()
                    .find(|p| p.name == name)
                    .map(|p| p.version.clone())
                    .or_else(|| manifest.map(|m| m.version.clone())),
                description: manifest.map(|m| m.description.clone()).filter(|d| !d.is_empty()),
                actions,
                name,
            }
        })
        .collect())
}

/// Every pack, by name.
#[utoipa::path(
    get,
    path = "/packs",
    operation_id = "list_packs",
    tag = "packs",
    responses(
        (status = 200, description = "Packs by name", body = [PackView]),
        (status = 401, description = "No live API key", body = ErrorBody),
    ),
)]
pub(crate) async fn list_packs(
    State(state): State<ApiState>,
) -> Result<Json<Vec<PackView>>, ApiError> {
    packs(&state).map(Json)
}

/// One pack.
#[utoipa::path(
    get,
    path = "/packs/{name}",
    operation_id = "get_pack",
    tag = "packs",
    params(("name" = String, Path, description = "Pack name")),
    responses(
        (status = 200, description = "The pack", body = PackView),
        (status = 400, description = "The name is not UTF-8 once percent-decoded", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 404, description = "No such pack", body = ErrorBody),
    ),
)]
pub(crate) async fn get_pack(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<PackView>, ApiError> {
    caller.require(Permission::PackView, Some(&Resource::pack(&name)))?;
    packs(&state)?
        .into_iter()
        .find(|p| p.name == name)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("pack `{name}` not found")))
}

/// Every action, by reference.
#[utoipa::path(
    get,
    path = "/actions",
    operation_id = "list_actions",
    tag = "packs",
    params(CatalogQuery),
    responses(
        (status = 200, description = "Actions by reference (the attributes asked for)", body = [ActionSummary]),
        (status = 400, description = "A malformed or unknown query parameter; the message names it", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
    ),
)]
pub(crate) async fn list_actions(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
    Query(query): Query<CatalogQuery>,
) -> Result<Json<Vec<Value>>, ApiError> {
    Ok(Json(query.apply(raw.as_deref(), actions(&state)?)?))
}

/// One action.
#[utoipa::path(
    get,
    path = "/actions/{ref}",
    operation_id = "get_action",
    tag = "packs",
    params(("ref" = String, Path, description = "`pack.action`")),
    responses(
        (status = 200, description = "The action", body = ActionView),
        (status = 400, description = "The ref is not UTF-8 once percent-decoded", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 404, description = "No such action", body = ErrorBody),
    ),
)]
pub(crate) async fn get_action(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(reference): Path<String>,
) -> Result<Json<ActionView>, ApiError> {
    caller.require(Permission::ActionView, Some(&Resource::action(&reference)))?;
    let spec = state
        .engine()
        .ingest()
        .action(&reference)
        .ok_or_else(|| ApiError::not_found(format!("action `{reference}` not found")))?;
    Ok(Json(action_view(&spec, &state.manifests()?)))
}
