//! `/actionalias`: StackStorm's action aliases — CRUD (YAML or JSON,
//! checked before anything is stored), `help` (the listing chat bots show)
//! and `match` (which alias a command means), in StackStorm's shapes.

use axum::Json;
use axum::extract::{Extension, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::audit::event;
use super::auth::Caller;
use super::document::{Document, read_document};
use super::error::{ApiError, Body, ErrorBody, Path, Query, RawBody, off_thread};
use super::page::{CatalogQuery, timestamp};
use super::state::ApiState;
use crate::access::{Permission, Resource};
use crate::chatops::{ActionAlias, AliasError, MatchError, Matched};
use crate::store::{AliasRecord, now_millis};

/// The stored aliases that load, with their definitions: `aliases[i]`
/// is `records[i]`'s. One that no longer loads (stored by an older
/// version) is left out of matching and help with a warning; the list
/// still shows it, with its error.
pub(crate) struct Loaded {
    records: Vec<AliasRecord>,
    aliases: Vec<ActionAlias>,
}

impl Loaded {
    /// Every stored alias that loads, by reference.
    pub(crate) fn read(state: &ApiState) -> Result<Self, ApiError> {
        let (mut records, mut aliases) = (Vec::new(), Vec::new());
        for record in state.engine().store().read()?.aliases()? {
            let file = format!("alias {}", record.reference);
            match ActionAlias::from_yaml(&record.source, &file, None) {
                Ok(alias) => {
                    records.push(record);
                    aliases.push(alias);
                }
                Err(error) => tracing::warn!(%error, "stored action alias does not load"),
            }
        }
        Ok(Self { records, aliases })
    }

    /// The definitions.
    pub(crate) fn aliases(&self) -> &[ActionAlias] {
        &self.aliases
    }

    /// The alias named `name`: its `pack.name`, or else its name alone.
    pub(crate) fn by_name(&self, name: &str) -> Option<(&AliasRecord, &ActionAlias)> {
        let at = (self.records.iter().position(|r| r.reference == name))
            .or_else(|| self.aliases.iter().position(|a| a.name == name))?;
        Some((&self.records[at], &self.aliases[at]))
    }

    /// The one alias format `command` matches, with the alias's record, or
    /// why none or several do (as StackStorm: both 400, saying which).
    pub(crate) fn match_command(
        &self,
        command: &str,
    ) -> Result<(Matched<'_>, &AliasRecord), ApiError> {
        let matched = crate::chatops::match_command(command, &self.aliases)
            .map_err(|error: MatchError| ApiError::bad_request(error.to_string()))?;
        let at = self
            .aliases
            .iter()
            .position(|alias| std::ptr::eq(alias, matched.alias))
            .ok_or_else(|| ApiError::internal("a matched alias is not among those loaded"))?;
        Ok((matched, &self.records[at]))
    }
}

/// The alias named by `ref_or_id`: its id (StackStorm's bots use ids) or
/// its `pack.name`.
pub(crate) fn find(state: &ApiState, ref_or_id: &str) -> Result<AliasRecord, ApiError> {
    let id = uuid::Uuid::parse_str(ref_or_id).ok();
    state
        .engine()
        .store()
        .read()?
        .aliases()?
        .into_iter()
        .find(|r| r.reference == ref_or_id || Some(r.id) == id)
        .ok_or_else(|| ApiError::not_found(format!("action alias `{ref_or_id}` not found")))
}

/// An alias as the API shows it: StackStorm's fields (`id`, `ref`, `uid`,
/// `name`, `pack`, `action_ref`, `formats`, `ack`, `result`, …) and
/// Squall's (`source`, `from_pack`, times).
pub(crate) fn view(record: &AliasRecord) -> Value {
    let loaded =
        ActionAlias::from_yaml(&record.source, &format!("alias {}", record.reference), None);
    let mut fields = match &loaded {
        Ok(alias) => match serde_json::to_value(alias) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        },
        Err(_) => Map::new(),
    };
    let (pack, name) =
        crate::limits::split_ref(&record.reference).unwrap_or(("", &record.reference));
    fields.insert("id".into(), json!(record.id));
    fields.insert("ref".into(), json!(record.reference));
    fields.insert("uid".into(), json!(format!("action_alias:{pack}:{name}")));
    fields.entry("name").or_insert_with(|| json!(name));
    fields.entry("pack").or_insert_with(|| json!(pack));
    fields.insert("source".into(), json!(record.source));
    fields.insert("from_pack".into(), json!(record.from_pack));
    fields.insert("created_at".into(), json!(timestamp(record.created_at)));
    fields.insert("updated_at".into(), json!(timestamp(record.updated_at)));
    if let Err(error) = loaded {
        fields.insert("error".into(), json!(error.to_string()));
    }
    Value::Object(fields)
}

/// An action alias as JSON (YAML has the same fields). Only
/// documentation: the text is read by `ActionAlias`.
#[derive(Debug, ToSchema)]
#[expect(dead_code, reason = "documents the request body; `ActionAlias` reads it")]
pub(crate) struct AliasDocument {
    /// Its name; its ref is `pack.name`.
    #[schema(example = "say", min_length = 1)]
    name: String,
    /// Default `default`.
    #[schema(example = "chatops")]
    pack: Option<String>,
    description: Option<String>,
    /// Whether it matches and shows in help; default true.
    enabled: Option<bool>,
    /// The action it runs.
    #[schema(example = "core.echo")]
    action_ref: String,
    /// Strings (`say {{message}}`) or `{display, representation: [...]}`.
    #[schema(value_type = Vec<Object>)]
    formats: Vec<Value>,
    /// `{enabled, format, append_url, extra}`.
    #[schema(value_type = Option<Object>)]
    ack: Option<Value>,
    /// `{enabled, format, extra}`.
    #[schema(value_type = Option<Object>)]
    result: Option<Value>,
    /// Parameters every execution gets (Jinja allowed).
    #[schema(value_type = Option<Object>)]
    immutable_parameters: Option<Value>,
}

const ALIAS_BODY: &str = "A StackStorm action alias: YAML (application/yaml) or JSON";

/// What an alias's answer carries besides the alias: a JSON body that
/// sends them back has them taken out before the alias is read and stored.
const READ_ONLY: &[&str] = &["source", "from_pack", "created_at", "updated_at", "error"];

/// Reads an alias from a body (YAML unless the content type says JSON)
/// and checks that its action exists; answers it with the text to store
/// (YAML verbatim, JSON without [`READ_ONLY`] fields).
fn parse(
    state: &ApiState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(ActionAlias, String), ApiError> {
    let (loaded, source) = match read_document("action alias", headers, body, READ_ONLY)? {
        Document::Json { value, source } => {
            (ActionAlias::from_value(&value, "action alias", None), source)
        }
        Document::Yaml(text) => {
            (ActionAlias::from_yaml(text, "action alias", None), text.to_owned())
        }
    };
    let alias = loaded.map_err(|error| match &error {
        AliasError::Syntax { .. } => ApiError::bad_request(error.to_string()),
        AliasError::Field { field, .. } | AliasError::Format { field, .. } => {
            ApiError::invalid(field, error.to_string())
        }
    })?;
    if state.engine().ingest().action(&alias.action_ref).is_none() {
        return Err(ApiError::invalid(
            "action_ref",
            format!("action alias: action_ref: unknown action `{}`", alias.action_ref),
        ));
    }
    Ok((alias, source))
}

async fn parse_off_thread(
    state: &ApiState,
    headers: &HeaderMap,
    body: &axum::body::Bytes,
) -> Result<(ActionAlias, String), ApiError> {
    let (state, headers, body) = (state.clone(), headers.clone(), body.clone());
    off_thread(move || parse(&state, &headers, &body)).await
}

/// Every action alias, by reference.
#[utoipa::path(
    get,
    path = "/actionalias",
    operation_id = "list_action_aliases",
    tag = "chatops",
    params(CatalogQuery),
    responses(
        (status = 200, description = "Action aliases by reference (the attributes asked for)", body = [Object]),
        (status = 400, description = "A malformed or unknown query parameter; the message names it", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
    ),
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
    Query(query): Query<CatalogQuery>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let records = state.engine().store().read()?.aliases()?;
    let views = off_thread(move || Ok(records.iter().map(view).collect::<Vec<_>>())).await?;
    Ok(Json(query.apply(raw.as_deref(), views)?))
}

/// Creates an action alias.
#[utoipa::path(
    post,
    path = "/actionalias",
    operation_id = "create_action_alias",
    tag = "chatops",
    request_body(description = ALIAS_BODY, content((String = "application/yaml"), (AliasDocument = "application/json"))),
    responses(
        (status = 201, description = "Stored", body = Object,
            headers(("location" = String, description = "Where the alias lives"))),
        (status = 400, description = "Not valid YAML or JSON, or nested deeper than the limit", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 409, description = "An alias with this ref exists", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "Neither YAML nor JSON, or a charset other than UTF-8", body = ErrorBody),
        (status = 422, description = "The alias does not load; `detail.field` names the field", body = ErrorBody),
    ),
)]
pub(crate) async fn create(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let (alias, source) = parse_off_thread(&state, &headers, &body).await?;
    let reference = alias.reference();
    caller.require(Permission::ActionAliasCreate, Some(&Resource::action_alias(&reference)))?;
    let now = now_millis();
    let record = AliasRecord {
        reference: reference.clone(),
        id: crate::store::new_id(),
        source,
        from_pack: false,
        created_at: now,
        updated_at: now,
    };
    let audit = event(&caller, "alias.create", &reference, json!({"id": record.id}));
    let stored = state
        .engine()
        .store()
        .write(move |tx| {
            if tx.alias(&record.reference)?.is_some() {
                return Ok(None);
            }
            let stored = tx.put_alias(&record)?;
            tx.append_audit(&audit)?;
            Ok(Some(stored))
        })
        .await?
        .ok_or_else(|| ApiError::conflict(format!("action alias `{reference}` already exists")))?;
    let location = format!("{}/actionalias/{}", super::API_PREFIX, stored.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(view(&stored))).into_response())
}

/// One action alias, by id or ref.
#[utoipa::path(
    get,
    path = "/actionalias/{ref_or_id}",
    operation_id = "get_action_alias",
    tag = "chatops",
    params(("ref_or_id" = String, Path, description = "`pack.name` or the alias's id")),
    responses(
        (status = 200, description = "The alias", body = Object),
        (status = 400, description = "Not UTF-8 once percent-decoded", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 404, description = "No such alias", body = ErrorBody),
    ),
)]
pub(crate) async fn get(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(ref_or_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let record = find(&state, &ref_or_id)?;
    caller
        .require(Permission::ActionAliasView, Some(&Resource::action_alias(&record.reference)))?;
    Ok(Json(view(&record)))
}

/// Replaces an action alias; the body must name the same ref.
#[utoipa::path(
    put,
    path = "/actionalias/{ref_or_id}",
    operation_id = "replace_action_alias",
    tag = "chatops",
    params(("ref_or_id" = String, Path, description = "`pack.name` or the alias's id")),
    request_body(description = ALIAS_BODY, content((String = "application/yaml"), (AliasDocument = "application/json"))),
    responses(
        (status = 200, description = "Replaced", body = Object),
        (status = 400, description = "Not valid YAML or JSON, or the path is not UTF-8", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 404, description = "No such alias", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "Neither YAML nor JSON, or a charset other than UTF-8", body = ErrorBody),
        (status = 422, description = "The alias does not load, or names another ref", body = ErrorBody),
    ),
)]
pub(crate) async fn replace(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(ref_or_id): Path<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    let old = find(&state, &ref_or_id)?;
    caller.require(Permission::ActionAliasModify, Some(&Resource::action_alias(&old.reference)))?;
    let (alias, source) = parse_off_thread(&state, &headers, &body).await?;
    if alias.reference() != old.reference {
        return Err(ApiError::invalid(
            "name",
            format!(
                "action alias: the body is alias `{}`, the path names `{}`",
                alias.reference(),
                old.reference
            ),
        ));
    }
    let record = AliasRecord { source, updated_at: now_millis(), ..old };
    let audit = event(&caller, "alias.replace", &record.reference, json!({"id": record.id}));
    let stored = state
        .engine()
        .store()
        .write(move |tx| {
            let stored = tx.put_alias(&record)?;
            tx.append_audit(&audit)?;
            Ok(stored)
        })
        .await?;
    Ok(Json(view(&stored)))
}

/// Deletes an action alias.
#[utoipa::path(
    delete,
    path = "/actionalias/{ref_or_id}",
    operation_id = "delete_action_alias",
    tag = "chatops",
    params(("ref_or_id" = String, Path, description = "`pack.name` or the alias's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Not UTF-8 once percent-decoded", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 404, description = "No such alias", body = ErrorBody),
    ),
)]
pub(crate) async fn delete(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(ref_or_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let record = find(&state, &ref_or_id)?;
    caller
        .require(Permission::ActionAliasDelete, Some(&Resource::action_alias(&record.reference)))?;
    let audit = event(&caller, "alias.delete", &record.reference, json!({"id": record.id}));
    let reference = record.reference.clone();
    let existed = state
        .engine()
        .store()
        .write(move |tx| {
            let existed = tx.delete_alias(&reference)?;
            if existed {
                tx.append_audit(&audit)?;
            }
            Ok(existed)
        })
        .await?;
    if !existed {
        return Err(ApiError::not_found(format!("action alias `{ref_or_id}` not found")));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /actionalias/help`'s parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct HelpQuery {
    /// A Python regular expression the help line must contain (any case).
    filter: Option<String>,
    /// Only this pack's aliases.
    pack: Option<String>,
    /// At most this many lines; 0: all. Default 100.
    #[param(minimum = 0)]
    limit: Option<usize>,
    /// Lines to skip first.
    #[param(minimum = 0)]
    offset: Option<usize>,
}

/// The help lines of the enabled aliases, as StackStorm's chat bots show
/// them: `{"available": N, "helpstrings": [{pack, display, description}]}`.
#[utoipa::path(
    get,
    path = "/actionalias/help",
    operation_id = "action_alias_help",
    tag = "chatops",
    params(HelpQuery),
    responses(
        (status = 200, description = "Help lines", body = Object),
        (status = 400, description = "A filter that is not a valid regular expression", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
    ),
)]
pub(crate) async fn help(
    State(state): State<ApiState>,
    Query(query): Query<HelpQuery>,
) -> Result<Json<Value>, ApiError> {
    let loaded = Loaded::read(&state)?;
    let help = crate::chatops::help(
        loaded.aliases(),
        query.filter.as_deref(),
        query.pack.as_deref(),
        query.limit.unwrap_or(100),
        query.offset.unwrap_or(0),
    )
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(Json(serde_json::to_value(help).map_err(ApiError::internal)?))
}

/// `POST /actionalias/match`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MatchRequest {
    /// The chat command, without the bot's prefix.
    #[schema(example = "say hello")]
    pub(crate) command: String,
}

/// Which alias and format a command matches (StackStorm's
/// `{"actionalias", "display", "representation"}`).
#[utoipa::path(
    post,
    path = "/actionalias/match",
    operation_id = "match_action_alias",
    tag = "chatops",
    request_body = MatchRequest,
    responses(
        (status = 200, description = "The matching alias and format", body = Object),
        (status = 400, description = "Nothing or more than one format matches; the message says which", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "The body is not sent as application/json", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
    ),
)]
pub(crate) async fn match_command(
    State(state): State<ApiState>,
    Body(request): Body<MatchRequest>,
) -> Result<Json<Value>, ApiError> {
    let loaded = Loaded::read(&state)?;
    let (matched, record) = loaded.match_command(&request.command)?;
    Ok(Json(json!({
        "actionalias": view(record),
        "display": matched.display,
        "representation": matched.representation,
    })))
}
