//! `/configs` and `/config_schemas`: packs' configurations, read and set
//! after install, and the schemas they are checked against, with
//! StackStorm's routes and shapes (`{"id", "pack", "values"}`, `{"id",
//! "pack", "attributes"}`). Values the schema marks `secret: true` are
//! masked (`********`) unless an admin asks with `show_secrets`; Squall
//! refuses that request from anyone else, where StackStorm masks silently.
//! Setting goes through [`PackManager::configure`](crate::engine::PackManager::configure):
//! checked, stored and audited in one commit, served to the next run.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::{ApiError, Body, ErrorBody, Path, Query};
use super::lifecycle::{lifecycle_error, manager};
use super::state::ApiState;
use crate::access::{Permission, Resource};
use crate::engine::{LifecycleError, config_problems, mask_config_secrets};

/// A pack's configuration, StackStorm's `ConfigAPI`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConfigView {
    /// The pack's name (StackStorm's is a database id).
    id: String,
    /// The pack's name.
    pack: String,
    /// The values; secret ones `********` unless an admin asked with
    /// `show_secrets`.
    #[schema(value_type = Object)]
    values: Value,
}

/// A pack's config schema, StackStorm's `ConfigSchemaAPI`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConfigSchemaView {
    /// The pack's name.
    id: String,
    /// The pack's name.
    pack: String,
    /// StackStorm's form: the schema's `properties`, name → JSON Schema.
    #[schema(value_type = Object)]
    attributes: Value,
    /// The whole JSON Schema from the pack's `pack.toml` (Squall's).
    #[schema(value_type = Object)]
    schema: Value,
}

/// Whether to show secret values.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SecretsQuery {
    /// Show secret values in plain text: only an admin may ask.
    #[param(pattern = "^(true|false|True|False|1|0)$")]
    show_secrets: Option<String>,
}

impl SecretsQuery {
    /// Whether secrets are shown: refused unless the caller is an admin.
    fn show(&self, caller: &Caller) -> Result<bool, ApiError> {
        let show = match self.show_secrets.as_deref() {
            None | Some("false" | "False" | "0") => false,
            Some("true" | "True" | "1") => true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "show_secrets: expected true or false, got `{}`",
                    other.escape_debug()
                ))
                .with_detail(json!({"parameter": "show_secrets"})));
            }
        };
        if show && !caller.principal.is_admin() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "show_secrets: only an admin may see secret config values; ask without it to see them masked",
            )
            .with_detail(json!({"parameter": "show_secrets", "permission": "admin"})));
        }
        Ok(show)
    }
}

/// `pack`'s stored configuration as the API shows it, or `None` when the
/// pack is not installed or has none set.
fn view(state: &ApiState, pack: &str, show: bool) -> Result<Option<ConfigView>, ApiError> {
    let Some(record) = state.engine().store().read()?.pack(pack)? else { return Ok(None) };
    if record.config.is_null() {
        return Ok(None);
    }
    let values = if show {
        record.config
    } else {
        let manifests = state.manifests()?;
        let schema = manifests.get(pack).and_then(|m| m.config.as_ref());
        mask_config_secrets(schema, &record.config)
    };
    Ok(Some(ConfigView { id: pack.to_owned(), pack: pack.to_owned(), values }))
}

/// The configuration of every pack that has one set.
#[utoipa::path(
    get,
    path = "/configs",
    operation_id = "list_configs",
    tag = "packs",
    params(SecretsQuery),
    responses(
        (status = 200, description = "Configurations by pack; secrets masked unless an admin asked", body = [ConfigView]),
        (status = 400, description = "A malformed show_secrets", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
    ),
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<SecretsQuery>,
) -> Result<Json<Vec<ConfigView>>, ApiError> {
    let show = query.show(&caller)?;
    let packs = state.engine().store().read()?.packs()?;
    let mut views = Vec::new();
    for pack in packs {
        // A list shows only the packs the caller may view.
        if !caller.allows(Permission::PackView, Some(&Resource::pack(&pack.name))) {
            continue;
        }
        views.extend(view(&state, &pack.name, show)?);
    }
    Ok(Json(views))
}

/// One pack's configuration.
#[utoipa::path(
    get,
    path = "/configs/{pack_ref}",
    operation_id = "get_config",
    tag = "packs",
    params(("pack_ref" = String, Path, description = "Pack name"), SecretsQuery),
    responses(
        (status = 200, description = "The configuration; secrets masked unless an admin asked", body = ConfigView),
        (status = 400, description = "A malformed show_secrets, or the name is not UTF-8 once percent-decoded", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 404, description = "No such pack, or none set", body = ErrorBody),
    ),
)]
pub(crate) async fn get(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(pack): Path<String>,
    Query(query): Query<SecretsQuery>,
) -> Result<Json<ConfigView>, ApiError> {
    caller.require(Permission::PackView, Some(&Resource::pack(&pack)))?;
    let show = query.show(&caller)?;
    view(&state, &pack, show)?.map(Json).ok_or_else(|| not_set(&state, &pack))
}

fn not_set(state: &ApiState, pack: &str) -> ApiError {
    let installed = state.engine().store().read().ok().and_then(|s| s.pack(pack).ok().flatten());
    match installed {
        Some(_) => ApiError::not_found(format!(
            "pack `{pack}` has no config set; set one with PUT /api/v1/configs/{pack} (squall pack config {pack} FILE)"
        )),
        None => ApiError::not_found(format!("pack `{pack}` is not installed")),
    }
}

/// Sets a pack's configuration: checked against its config schema (400
/// naming the failing paths; the stored one is kept), stored, audited,
/// used by its actions from their next run; its poll sensors start over
/// with it.
#[utoipa::path(
    put,
    path = "/configs/{pack_ref}",
    operation_id = "put_config",
    tag = "packs",
    params(("pack_ref" = String, Path, description = "Pack name"), SecretsQuery),
    request_body(content = Object, description = "The configuration's values"),
    responses(
        (status = 200, description = "Stored; secrets masked unless an admin asked", body = ConfigView),
        (status = 400, description = "Not a JSON object, or it does not fit the pack's config schema: `detail.path` is the first failing JSON path, `detail.problems` all of them", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 404, description = "No such pack", body = ErrorBody),
        (status = 409, description = "The pack is loaded from files (`squall serve --pack`) and keeps no configuration", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "The body is not sent as application/json, or in a charset other than UTF-8", body = ErrorBody),
    ),
)]
pub(crate) async fn put(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(pack): Path<String>,
    Query(query): Query<SecretsQuery>,
    Body(values): Body<Value>,
) -> Result<Json<ConfigView>, ApiError> {
    let show = query.show(&caller)?;
    let manager = manager(&state)?;
    let installed = state.engine().store().read()?.pack(&pack)?;
    let Some(installed) = installed else {
        return Err(ApiError::not_found(format!("pack `{pack}` is not installed")));
    };
    if !installed.has_bundle {
        return Err(ApiError::conflict(format!(
            "pack `{pack}` is loaded from files (`squall serve --pack`), which keeps no configuration; install it from a bundle to configure it"
        )));
    }
    if !values.is_object() {
        return Err(ApiError::bad_request(format!(
            "pack {pack}: config: expected an object of values, got {}",
            match values {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            }
        ))
        .with_detail(json!({"field": "values", "path": "/"})));
    }
    // The problems, each with its path, for the answer; the manager checks
    // again under its lock, against the version installed then.
    let manifests = state.manifests()?;
    if let Some(schema) = manifests.get(&pack).and_then(|m| m.config.as_ref()) {
        let problems = config_problems(schema, &values).map_err(ApiError::internal)?;
        if let Some(first) = problems.first() {
            let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
            return Err(ApiError::bad_request(format!(
                "pack {pack}: config: {}",
                listed.join("; ")
            ))
            .with_detail(json!({"field": "values", "path": first.path, "problems": problems})));
        }
    }
    match manager.configure(&pack, values, &caller.actor()).await {
        Ok(_) => {}
        Err(error @ LifecycleError::Config { .. }) => {
            return Err(
                ApiError::bad_request(error.to_string()).with_detail(json!({"field": "values"}))
            );
        }
        Err(error) => return Err(lifecycle_error(error)),
    }
    view(&state, &pack, show)?.map(Json).ok_or_else(|| not_set(&state, &pack))
}

/// `pack`'s config schema as the API shows it.
fn schema_view(pack: &str, schema: &Value) -> ConfigSchemaView {
    ConfigSchemaView {
        id: pack.to_owned(),
        pack: pack.to_owned(),
        attributes: schema.get("properties").cloned().unwrap_or_else(|| json!({})),
        schema: schema.clone(),
    }
}

/// The config schema of every pack that declares one.
#[utoipa::path(
    get,
    path = "/config_schemas",
    operation_id = "list_config_schemas",
    tag = "packs",
    responses(
        (status = 200, description = "Config schemas by pack", body = [ConfigSchemaView]),
        (status = 401, description = "No live API key", body = ErrorBody),
    ),
)]
pub(crate) async fn list_schemas(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<ConfigSchemaView>>, ApiError> {
    let views = state
        .manifests()?
        .iter()
        .filter(|(name, _)| caller.allows(Permission::PackView, Some(&Resource::pack(name))))
        .filter_map(|(name, m)| m.config.as_ref().map(|schema| schema_view(name, schema)))
        .collect();
    Ok(Json(views))
}

/// One pack's config schema.
#[utoipa::path(
    get,
    path = "/config_schemas/{pack_ref}",
    operation_id = "get_config_schema",
    tag = "packs",
    params(("pack_ref" = String, Path, description = "Pack name")),
    responses(
        (status = 200, description = "The config schema", body = ConfigSchemaView),
        (status = 400, description = "The name is not UTF-8 once percent-decoded", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 404, description = "No such pack, or it declares no config schema", body = ErrorBody),
    ),
)]
pub(crate) async fn get_schema(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(pack): Path<String>,
) -> Result<Json<ConfigSchemaView>, ApiError> {
    caller.require(Permission::PackView, Some(&Resource::pack(&pack)))?;
    let manifests = state.manifests()?;
    let manifest = manifests
        .get(&pack)
        .ok_or_else(|| ApiError::not_found(format!("pack `{pack}` is not installed")))?;
    let schema = manifest.config.as_ref().ok_or_else(|| {
        ApiError::not_found(format!(
            "pack `{pack}` declares no config schema ([config] in pack.toml)"
        ))
    })?;
    Ok(Json(schema_view(&pack, schema)))
}
