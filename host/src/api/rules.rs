//! `/rules`: StackStorm rules, sent as YAML or JSON, checked (the rule
//! loads, its trigger type and parameters fit, its action is installed
//! and its literal action parameters fit the action's schema)
//! before anything is stored, stored verbatim, and put in force at once
//! (`Engine::reload_rules`). Enable and disable override the source's
//! `enabled`.

use axum::Json;
use axum::extract::{Extension, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jsonschema::error::ValidationErrorKind;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::audit::event;
use super::auth::Caller;
use super::document::{Document, read_document};
use super::error::{ApiError, ErrorBody, Path, Query, RawBody, off_thread};
use super::page::{CatalogQuery, summary_of, timestamp};
use super::state::ApiState;
use crate::access::{Permission, Resource};
use crate::engine::TriggerError;
use crate::rules::{LoadError, Rule};
use crate::store::{AuditEvent, RuleRecord, now_millis};

/// A rule as stored.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RuleView {
    /// `pack.name`: Squall identifies rules by ref, so `/rules/{ref}`
    /// takes either.
    #[schema(example = "examples.hello")]
    id: String,
    /// `pack.name`.
    #[serde(rename = "ref")]
    #[schema(example = "examples.hello")]
    reference: String,
    /// `rule:PACK:NAME`.
    #[schema(example = "rule:examples:hello")]
    uid: String,
    pack: Option<String>,
    name: Option<String>,
    description: Option<String>,
    /// Whether it is in force.
    enabled: bool,
    /// `{"type": ..., "parameters": {...}}`, as written.
    #[schema(value_type = Object)]
    trigger: Value,
    /// Criteria keyed by `trigger.<path>`, as written.
    #[schema(value_type = Object)]
    criteria: Value,
    /// `{"ref": ..., "parameters": {...}}`, as written.
    #[schema(value_type = Object)]
    action: Value,
    /// The YAML or JSON text it was created from.
    source: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    /// Why the stored rule no longer loads (it is then not in force).
    error: Option<String>,
    /// What loads, as in StackStorm, but cannot do what it seems to, each
    /// naming its field (`criteria.payload.x: ...` for a criteria key
    /// without `trigger.`). Squall's addition, left out when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

impl From<&RuleRecord> for RuleView {
    fn from(record: &RuleRecord) -> Self {
        let raw: Map<String, Value> = serde_yaml_ng::from_str(&record.source).unwrap_or_default();
        let loaded = Rule::from_yaml(&record.source, &format!("rule {}", record.reference));
        let text = |key: &str| raw.get(key).and_then(Value::as_str).map(str::to_owned);
        // An absent or empty (null) field is an empty map, as the loader
        // reads it; so is a field of a stored rule that no longer loads
        // when it is not a map (`source` shows what it is).
        let field = |key: &str| match raw.get(key) {
            Some(Value::Object(map)) => Value::Object(map.clone()),
            _ => Value::Object(Map::new()),
        };
        let (pack, name) =
            crate::limits::split_ref(&record.reference).unwrap_or(("", &record.reference));
        Self {
            id: record.reference.clone(),
            uid: format!("rule:{pack}:{name}"),
            reference: record.reference.clone(),
            pack: loaded.as_ref().map(|r| r.pack.clone()).ok().or_else(|| text("pack")),
            name: loaded.as_ref().map(|r| r.name.clone()).ok().or_else(|| text("name")),
            description: text("description"),
            enabled: record.enabled,
            trigger: field("trigger"),
            criteria: field("criteria"),
            action: field("action"),
            source: record.source.clone(),
            created_at: timestamp(record.created_at),
            updated_at: timestamp(record.updated_at),
            warnings: loaded.as_ref().map(|r| r.warnings.clone()).unwrap_or_default(),
            error: loaded.err().map(|e| e.to_string()),
        }
    }
}

/// What a rule's answer carries besides the rule: a JSON body that sends
/// them back (as `st2 rule enable` PUTs what it got) has them taken out
/// before the rule is read and stored.
const READ_ONLY: &[&str] = &["source", "created_at", "updated_at", "error", "warnings"];

/// Reads a rule from the body (YAML unless the content type says JSON)
/// and checks it against the engine's trigger types and actions; answers
/// it with the text to store (a JSON body without [`READ_ONLY`] fields).
fn parse(state: &ApiState, headers: &HeaderMap, body: &[u8]) -> Result<(Rule, String), ApiError> {
    let (loaded, source, written) = match read_document("rule", headers, body, READ_ONLY)? {
        Document::Json { value, source } => (Rule::from_value(&value, "rule"), source, Some(value)),
        Document::Yaml(text) => (Rule::from_yaml(text, "rule"), text.to_owned(), None),
    };
    let rule = loaded.map_err(|error| match &error {
        LoadError::Syntax { .. } => ApiError::bad_request(error.to_string()),
        LoadError::Field { field, .. } => ApiError::invalid(field, error.to_string()),
    })?;
    let parameters = Value::Object(rule.trigger_parameters.clone());
    let types = state.engine().ingest().trigger_types();
    types.validate_parameters(&rule.trigger_type, &parameters).map_err(|error| {
        let field = match error {
            TriggerError::Unknown(_) => "trigger.type",
            _ => "trigger.parameters",
        };
        ApiError::invalid(field, format!("rule: {field}: {error}"))
    })?;
    let Some(action) = state.engine().ingest().action(&rule.action_ref) else {
        return Err(ApiError::invalid(
            "action.ref",
            format!("rule: action.ref: unknown action `{}`", rule.action_ref),
        ));
    };
    // Read again as a value once the loader has taken it (within the
    // document limits), as the rule's view reads it.
    let written = written.unwrap_or_else(|| serde_yaml_ng::from_str(&source).unwrap_or_default());
    let given = match written.pointer("/action/parameters") {
        Some(Value::Object(given)) => given.clone(),
        _ => Map::new(),
    };
    if let Err((field, message)) = check_literal_parameters(&action.parameters_schema, given) {
        return Err(ApiError::invalid(&field, format!("rule: {field}: {message}")));
    }
    Ok((rule, source))
}

/// Whether `value` holds a template anywhere (a string with Jinja markers,
/// as the rule loader tells them): only matching a trigger instance gives
/// its value.
fn has_template(value: &Value) -> bool {
    match value {
        Value::String(text) => ["{{", "{%", "{#"].iter().any(|marker| text.contains(marker)),
        Value::Array(items) => items.iter().any(has_template),
        Value::Object(map) => map.values().any(has_template),
        _ => false,
    }
}

/// Checks a rule's action parameters, as written, against the action's
/// schema as an execution request is checked (defaults applied, then
/// validated), as far as they are known before a trigger instance: a
/// parameter holding a template counts as given (it may render to what
/// is required) and its value is left to the match, where a refusal
/// becomes a failed enforcement. On a refusal, the field
/// (`action.parameters.NAME`) and why.
fn check_literal_parameters(
    schema: &Value,
    mut given: Map<String, Value>,
) -> Result<(), (String, String)> {
    // The catalog compiled it when the action was installed.
    let Ok(validator) = jsonschema::validator_for(schema) else { return Ok(()) };
    let templated: Vec<String> =
        given.iter().filter(|(_, value)| has_template(value)).map(|(k, _)| k.clone()).collect();
    crate::engine::fill_defaults(schema, &mut given);
    let parameters = Value::Object(given);
    for error in validator.iter_errors(&parameters) {
        let path = error.instance_path().to_string();
        let first = path.strip_prefix('/').and_then(|p| p.split('/').next()).unwrap_or("");
        let mut name = first.replace("~1", "/").replace("~0", "~");
        // A templated parameter's value is known only at the match.
        if templated.contains(&name) {
            continue;
        }
        if name.is_empty() {
            // At the top: the parameter the schema does not know, or the
            // one it requires.
            name = match error.kind() {
                ValidationErrorKind::AdditionalProperties { unexpected } => {
                    unexpected.first().cloned().unwrap_or_default()
                }
                ValidationErrorKind::Required { property } => {
                    property.as_str().unwrap_or_default().to_owned()
                }
                _ => String::new(),
            };
        }
        let field = if name.is_empty() {
            "action.parameters".to_owned()
        } else {
            format!("action.parameters.{name}")
        };
        return Err((field, error.to_string()));
    }
    Ok(())
}

/// `text` as one percent-encoded path segment: a ref may hold `/`, `?`,
/// spaces or control characters, none of which may stand in a URL (or a
/// header) as they are.
fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// [`parse`] on a blocking thread: YAML is parsed and templates compiled
/// there, off the API's threads.
async fn parse_off_thread(
    state: &ApiState,
    headers: &HeaderMap,
    body: &axum::body::Bytes,
) -> Result<(Rule, String), ApiError> {
    let (state, headers, body) = (state.clone(), headers.clone(), body.clone());
    off_thread(move || parse(&state, &headers, &body)).await
}

/// [`RuleView::from`] on a blocking thread (it loads the rule's text).
async fn view_off_thread(record: RuleRecord) -> Result<(RuleView, RuleRecord), ApiError> {
    off_thread(move || Ok((RuleView::from(&record), record))).await
}

/// Puts the stored rules in force.
fn reload(state: &ApiState) -> Result<(), ApiError> {
    for problem in state.engine().reload_rules()? {
        tracing::warn!(%problem, "stored catalog entry not loaded");
    }
    Ok(())
}

fn stored(state: &ApiState, reference: &str) -> Result<RuleRecord, ApiError> {
    state
        .engine()
        .store()
        .read()?
        .rule(reference)?
        .ok_or_else(|| ApiError::not_found(format!("rule `{reference}` not found")))
}

/// What a rule puts in motion needs permissions of its own, as in
/// StackStorm: `action_execute` on its action, and `webhook_create` on the
/// webhook it listens to.
fn require_rule_powers(caller: &Caller, rule: &Rule) -> Result<(), ApiError> {
    caller.require(Permission::ActionExecute, Some(&Resource::action(&rule.action_ref)))?;
    let url = rule.trigger_parameters.get("url").and_then(Value::as_str);
    if let Some(url) = url.filter(|_| rule.trigger_type.ends_with("webhook")) {
        let url = url.trim_start_matches('/');
        caller.require(Permission::WebhookCreate, Some(&Resource::webhook(url)))?;
    }
    Ok(())
}

/// The stored rule's own text, loaded (to check what enabling it allows).
fn loaded(record: &RuleRecord) -> Result<Rule, ApiError> {
    Rule::from_yaml(&record.source, &format!("rule {}", record.reference))
        .map_err(|e| ApiError::invalid("rule", format!("the stored rule does not load: {e}")))
}

async fn store(state: &ApiState, record: RuleRecord, audit: AuditEvent) -> Result<(), ApiError> {
    state
        .engine()
        .store()
        .write(move |tx| {
            tx.put_rule(&record)?;
            tx.append_audit(&audit).map(drop)
        })
        .await?;
    reload(state)
}

summary_of!(RuleSummary, RuleView);

/// Every rule, by reference.
#[utoipa::path(
    get,
    path = "/rules",
    operation_id = "list_rules",
    tag = "rules",
    params(CatalogQuery),
    responses(
        (status = 200, description = "Rules by reference (the attributes asked for)", body = [RuleSummary]),
        (status = 400, description = "A malformed or unknown query parameter; the message names it", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
    ),
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
    Query(query): Query<CatalogQuery>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let rules = state.engine().store().read()?.rules()?;
    let views = off_thread(move || Ok(rules.iter().map(RuleView::from).collect())).await?;
    Ok(Json(query.apply(raw.as_deref(), views)?))
}

const RULE_BODY: &str = "A StackStorm rule: YAML (application/yaml, text/yaml) or JSON";

/// A rule as JSON (YAML has the same fields): what the body of a create
/// or replace holds. Only documentation: the text is read by `Rule`.
#[derive(Debug, ToSchema)]
#[expect(dead_code, reason = "documents the request body; `Rule` reads it")]
pub(crate) struct RuleDocument {
    /// The rule's name; its ref is `pack.name`.
    #[schema(example = "hello", min_length = 1)]
    name: String,
    /// Default `default`.
    #[schema(example = "examples")]
    pack: Option<String>,
    description: Option<String>,
    /// Whether it is in force at once; default false.
    enabled: Option<bool>,
    trigger: RuleTrigger,
    /// Criteria keyed by `trigger.<path>`, each
    /// `{"type": operator, "pattern": ...}`.
    #[schema(value_type = Option<Object>)]
    criteria: Option<Value>,
    action: RuleAction,
}

/// What a rule matches.
#[derive(Debug, ToSchema)]
#[expect(dead_code, reason = "documents the request body; `Rule` reads it")]
pub(crate) struct RuleTrigger {
    /// A trigger type (`GET /triggertypes`; StackStorm's names accepted).
    #[schema(rename = "type", example = "core.webhook", min_length = 1)]
    kind: String,
    /// What its `parameters_schema` asks for, e.g. a webhook's `url`.
    #[schema(value_type = Option<Object>, example = json!({"url": "hello"}))]
    parameters: Option<Value>,
}

/// What a rule starts.
#[derive(Debug, ToSchema)]
#[expect(dead_code, reason = "documents the request body; `Rule` reads it")]
pub(crate) struct RuleAction {
    /// An installed action (`GET /actions`).
    #[schema(rename = "ref", example = "core.echo", min_length = 1)]
    reference: String,
    /// Its parameters; strings may be Jinja templates over `trigger`.
    #[schema(value_type = Option<Object>, example = json!({"message": "hello {{ trigger.body.name }}"}))]
    parameters: Option<Value>,
}

/// Creates a rule and puts it in force (if it says `enabled: true`).
#[utoipa::path(
    post,
    path = "/rules",
    operation_id = "create_rule",
    tag = "rules",
    request_body(description = RULE_BODY, content((String = "application/yaml"), (RuleDocument = "application/json"))),
    responses(
        (status = 201, description = "Stored and in force; `warnings` says what in it cannot do what it seems to", body = RuleView,
            headers(("location" = String, description = "Where the rule lives"))),
        (status = 400, description = "Not valid YAML or JSON, or nested deeper than the limit (64 levels)", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 409, description = "A rule with this ref exists", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "Neither YAML nor JSON, or a charset other than UTF-8", body = ErrorBody),
        (status = 422, description = "The rule does not load, names an action not installed, or gives the action a parameter its schema refuses; `detail.field` names the field (`action.parameters.NAME`)", body = ErrorBody),
    ),
)]
pub(crate) async fn create(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let (rule, source) = parse_off_thread(&state, &headers, &body).await?;
    caller.require(Permission::RuleCreate, Some(&Resource::rule(&rule.reference)))?;
    require_rule_powers(&caller, &rule)?;
    let _serial = state.rule_changes().lock().await;
    if state.engine().store().read()?.rule(&rule.reference)?.is_some() {
        return Err(ApiError::conflict(format!("rule `{}` already exists", rule.reference)));
    }
    let now = now_millis();
    let record = RuleRecord {
        reference: rule.reference.clone(),
        source,
        enabled: rule.enabled,
        created_at: now,
        updated_at: now,
    };
    let (view, record) = view_off_thread(record).await?;
    let audit = event(&caller, "rule.create", &rule.reference, Value::Object(Map::new()));
    store(&state, record, audit).await?;
    let location = format!("{}/rules/{}", super::API_PREFIX, path_segment(&rule.reference));
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(view)).into_response())
}

/// One rule.
#[utoipa::path(
    get,
    path = "/rules/{ref}",
    operation_id = "get_rule",
    tag = "rules",
    params(("ref" = String, Path, description = "`pack.name`")),
    responses(
        (status = 200, description = "The rule", body = RuleView),
        (status = 400, description = "The ref is not UTF-8 once percent-decoded", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 404, description = "No such rule", body = ErrorBody),
    ),
)]
pub(crate) async fn get(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(reference): Path<String>,
) -> Result<Json<RuleView>, ApiError> {
    caller.require(Permission::RuleView, Some(&Resource::rule(&reference)))?;
    Ok(Json(RuleView::from(&stored(&state, &reference)?)))
}

/// Replaces a rule; the body's pack and name must give the same ref.
#[utoipa::path(
    put,
    path = "/rules/{ref}",
    operation_id = "replace_rule",
    tag = "rules",
    params(("ref" = String, Path, description = "`pack.name`")),
    request_body(description = RULE_BODY, content((String = "application/yaml"), (RuleDocument = "application/json"))),
    responses(
        (status = 200, description = "Replaced and in force; `warnings` says what in it cannot do what it seems to", body = RuleView),
        (status = 400, description = "Not valid YAML or JSON, nested deeper than the limit (64 levels), or the ref is not UTF-8 once percent-decoded", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 404, description = "No such rule", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "Neither YAML nor JSON, or a charset other than UTF-8", body = ErrorBody),
        (status = 422, description = "The rule does not load, names another ref or an action not installed, or gives the action a parameter its schema refuses; `detail.field` names the field", body = ErrorBody),
    ),
)]
pub(crate) async fn replace(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(reference): Path<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<RuleView>, ApiError> {
    caller.require(Permission::RuleModify, Some(&Resource::rule(&reference)))?;
    let (rule, source) = parse_off_thread(&state, &headers, &body).await?;
    require_rule_powers(&caller, &rule)?;
    if rule.reference != reference {
        return Err(ApiError::invalid(
            "name",
            format!("rule: the body is rule `{}`, the path says `{reference}`", rule.reference),
        ));
    }
    let _serial = state.rule_changes().lock().await;
    let old = stored(&state, &reference)?;
    let record = RuleRecord { source, enabled: rule.enabled, updated_at: now_millis(), ..old };
    let (view, record) = view_off_thread(record).await?;
    let audit = event(&caller, "rule.replace", &reference, Value::Object(Map::new()));
    store(&state, record, audit).await?;
    Ok(Json(view))
}

/// Deletes a rule.
#[utoipa::path(
    delete,
    path = "/rules/{ref}",
    operation_id = "delete_rule",
    tag = "rules",
    params(("ref" = String, Path, description = "`pack.name`")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The ref is not UTF-8 once percent-decoded", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 404, description = "No such rule", body = ErrorBody),
    ),
)]
pub(crate) async fn delete(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(reference): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Permission::RuleDelete, Some(&Resource::rule(&reference)))?;
    let _serial = state.rule_changes().lock().await;
    let key = reference.clone();
    let audit = event(&caller, "rule.delete", &reference, Value::Object(Map::new()));
    let existed = state
        .engine()
        .store()
        .write(move |tx| {
            let existed = tx.delete_rule(&key)?;
            if existed {
                tx.append_audit(&audit)?;
            }
            Ok(existed)
        })
        .await?;
    if !existed {
        return Err(ApiError::not_found(format!("rule `{reference}` not found")));
    }
    reload(&state)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_enabled(
    state: &ApiState,
    caller: &Caller,
    reference: &str,
    enabled: bool,
) -> Result<RuleView, ApiError> {
    caller.require(Permission::RuleModify, Some(&Resource::rule(reference)))?;
    let _serial = state.rule_changes().lock().await;
    let record = RuleRecord { enabled, updated_at: now_millis(), ..stored(state, reference)? };
    if enabled {
        require_rule_powers(caller, &loaded(&record)?)?;
    }
    let view = RuleView::from(&record);
    let action = if enabled { "rule.enable" } else { "rule.disable" };
    store(state, record, event(caller, action, reference, Value::Null)).await?;
    Ok(view)
}

/// Puts a rule in force.
#[utoipa::path(
    post,
    path = "/rules/{ref}/enable",
    operation_id = "enable_rule",
    tag = "rules",
    params(("ref" = String, Path, description = "`pack.name`")),
    responses(
        (status = 200, description = "Enabled", body = RuleView),
        (status = 400, description = "The ref is not UTF-8 once percent-decoded", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 404, description = "No such rule", body = ErrorBody),
    ),
)]
pub(crate) async fn enable(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(reference): Path<String>,
) -> Result<Json<RuleView>, ApiError> {
    set_enabled(&state, &caller, &reference, true).await.map(Json)
}

/// Takes a rule out of force, keeping it stored.
#[utoipa::path(
    post,
    path = "/rules/{ref}/disable",
    operation_id = "disable_rule",
    tag = "rules",
    params(("ref" = String, Path, description = "`pack.name`")),
    responses(
        (status = 200, description = "Disabled", body = RuleView),
        (status = 400, description = "The ref is not UTF-8 once percent-decoded", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 404, description = "No such rule", body = ErrorBody),
    ),
)]
pub(crate) async fn disable(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(reference): Path<String>,
) -> Result<Json<RuleView>, ApiError> {
    set_enabled(&state, &caller, &reference, false).await.map(Json)
}
