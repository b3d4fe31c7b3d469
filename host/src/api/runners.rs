//! `/runnertypes`: what runs actions, under StackStorm's runner names
//! (`wasm` for a pack component, `orquesta` for a workflow, `inquirer` for
//! `core.ask`), and StackStorm's parameter metadata made from an action's
//! JSON Schema, which `st2 run` reads to type its `name=value` arguments.

use axum::Json;
use axum::extract::{Extension, RawQuery, State};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::{ApiError, ErrorBody, Path, Query};
use super::page::only_known;
use super::state::ApiState;
use crate::access::{Permission, Resource};
use crate::engine::Runner;

/// A runner: what runs an action (StackStorm's runner type).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct RunnerTypeView {
    /// The runner's name (StackStorm identifies runner types by it too).
    #[schema(example = "wasm")]
    id: &'static str,
    #[schema(example = "wasm")]
    name: &'static str,
    description: &'static str,
    /// Runners are always on.
    enabled: bool,
    /// Parameters every action of this runner takes besides its own, in
    /// StackStorm's parameter metadata form (none for Squall's runners).
    #[schema(value_type = Object)]
    runner_parameters: Map<String, Value>,
    /// How many of the engine's actions this runner runs.
    actions: usize,
}

/// The runners, in StackStorm's names.
const RUNNERS: [(&str, &str); 5] = [
    ("wasm", "Runs the action's export of a pack's WebAssembly component in a fresh sandbox"),
    ("orquesta", "Conducts an Orquesta workflow; its tasks run as child executions"),
    ("inquirer", "Asks a person (core.ask): waits for a response that fits a JSON Schema"),
    (
        "announcement",
        "Announces its parameters on the event stream for chat bots (chatops.post_message)",
    ),
    ("chatops", "What chat asks of the engine: list and answer inquiries, look up an execution"),
];

/// StackStorm's runner name for `runner`.
pub(crate) fn runner_name(runner: &Runner) -> &'static str {
    match runner {
        Runner::Wasm(_) => "wasm",
        Runner::Workflow(_) => "orquesta",
        Runner::Inquiry => "inquirer",
        Runner::Announcement => "announcement",
        Runner::ChatTool => "chatops",
    }
}

/// Whether StackStorm's clients treat runs of this runner as workflows
/// (with children).
pub(crate) fn is_workflow(runner: &str) -> bool {
    runner == "orquesta"
}

/// An action's parameters in StackStorm's metadata form: one entry per
/// property of the JSON Schema `schema`, that property's schema with a
/// single `type` (the first that is not `null`), `required` when the
/// schema requires it, and `secret` when it is `writeOnly`.
pub(crate) fn parameter_metadata(schema: &Value) -> Map<String, Value> {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema["properties"].as_object() else { return Map::new() };
    properties
        .iter()
        .map(|(name, property)| {
            let mut meta = property.as_object().cloned().unwrap_or_default();
            if let Some(Value::Array(types)) = meta.get("type") {
                let single =
                    types.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("null");
                meta.insert("type".to_owned(), Value::from(single));
            }
            meta.insert("required".to_owned(), Value::Bool(required.contains(&name.as_str())));
            if meta.get("writeOnly").and_then(Value::as_bool) == Some(true) {
                meta.insert("secret".to_owned(), Value::Bool(true));
            }
            (name.clone(), Value::Object(meta))
        })
        .collect()
}

fn runner_types(state: &ApiState) -> Vec<RunnerTypeView> {
    let catalog = state.engine().ingest().actions();
    RUNNERS
        .iter()
        .map(|(name, description)| RunnerTypeView {
            id: name,
            name,
            description,
            enabled: true,
            runner_parameters: Map::new(),
            actions: catalog.iter().filter(|a| runner_name(&a.runner) == *name).count(),
        })
        .collect()
}

/// Filters of the runner list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only the runner of this name (how st2client looks one up).
    name: Option<String>,
    /// StackStorm's paging; every runner fits one page.
    limit: Option<i64>,
    /// StackStorm's attribute choice; every runner has few attributes, so
    /// all are sent.
    include_attributes: Option<String>,
}

/// The runners, optionally one by name.
#[utoipa::path(
    get,
    path = "/runnertypes",
    operation_id = "list_runner_types",
    tag = "packs",
    params(ListQuery),
    responses(
        (status = 200, description = "The runners", body = [RunnerTypeView]),
        (status = 400, description = "An unknown query parameter; the message names it", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
    ),
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<RunnerTypeView>>, ApiError> {
    only_known(raw.as_deref(), &["name", "limit", "include_attributes"])?;
    let _ = (query.limit, query.include_attributes);
    let mut runners = runner_types(&state);
    runners.retain(|r| query.name.as_deref().is_none_or(|name| name == r.name));
    Ok(Json(runners))
}

/// One runner, by name.
#[utoipa::path(
    get,
    path = "/runnertypes/{name}",
    operation_id = "get_runner_type",
    tag = "packs",
    params(("name" = String, Path, description = "`wasm`, `orquesta` or `inquirer`")),
    responses(
        (status = 200, description = "The runner", body = RunnerTypeView),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 404, description = "No such runner", body = ErrorBody),
    ),
)]
pub(crate) async fn get(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<RunnerTypeView>, ApiError> {
    caller.require(Permission::RunnerTypeView, Some(&Resource::runner_type(&name)))?;
    runner_types(&state).into_iter().find(|r| r.name == name).map(Json).ok_or_else(|| {
        ApiError::not_found(format!("runner type `{}` not found", name.escape_debug()))
    })
}
