//! `/keys`: the key-value datastore (StackStorm's `st2kv`), by scope
//! (`system` or `pack:NAME`). Every change goes through the engine, so it
//! commits with the `core.kv_changed` instance it causes. Secrets are
//! write-only: reads show `********`. Key names follow the store's rule
//! for names people read (`crate::limits::NAME_RULE`): a refusal is 422.

use std::time::Duration;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::audit::event;
use super::auth::Caller;
use super::error::{ApiError, Body, ErrorBody, Path, Query};
use super::page::timestamp_opt;
use super::state::ApiState;
use crate::access::{Permission, Resource};
use crate::engine::KvChange;
use crate::store::{KvItem, KvScope, now_millis};

/// A datastore entry; a secret's value is always `********`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KeyView {
    /// `SCOPE:NAME`: what identifies an entry (StackStorm's `id`).
    #[schema(example = "system:keep_days")]
    id: String,
    #[schema(example = "keep_days")]
    name: String,
    /// `system` or `pack:NAME`.
    #[schema(example = "system")]
    scope: String,
    /// The value, or `********` for a secret.
    value: String,
    secret: bool,
    /// StackStorm's name for `secret`: stored encrypted.
    encrypted: bool,
    #[schema(format = DateTime)]
    expires_at: Option<String>,
    /// StackStorm's name for `expires_at`.
    #[schema(format = DateTime)]
    expire_timestamp: Option<String>,
}

fn view(name: String, scope: &KvScope, item: KvItem) -> KeyView {
    KeyView {
        id: format!("{}:{name}", scope_name(scope)),
        name,
        scope: scope_name(scope),
        value: item.value,
        secret: item.secret,
        encrypted: item.secret,
        expires_at: timestamp_opt(item.expires_at),
        expire_timestamp: timestamp_opt(item.expires_at),
    }
}

/// The datastore key as an access resource.
fn resource(scope: &KvScope, name: &str) -> Resource {
    Resource::key(&scope_name(scope), name)
}

/// Records a datastore change in the audit log (never the value).
async fn audit(
    state: &ApiState,
    caller: &Caller,
    action: &str,
    scope: &KvScope,
    name: &str,
) -> Result<(), ApiError> {
    let subject = format!("{}:{name}", scope_name(scope));
    let audit = event(caller, action, &subject, serde_json::Value::Null);
    state.engine().store().write(move |tx| tx.append_audit(&audit).map(drop)).await?;
    Ok(())
}

fn scope_name(scope: &KvScope) -> String {
    match scope {
        KvScope::System => "system".to_owned(),
        KvScope::Pack(pack) => format!("pack:{pack}"),
    }
}

/// A scope as given (absent: `system`). One given but empty or not a
/// scope is refused, never read as `system`.
fn parse_scope(text: Option<&str>) -> Result<KvScope, ApiError> {
    match text {
        None | Some("system" | "st2kv.system") => Ok(KvScope::System),
        Some(other) => match other.strip_prefix("pack:") {
            Some(pack) if crate::pack::check_pack_name(pack).is_ok() => {
                Ok(KvScope::Pack(pack.to_owned()))
            }
            _ => Err(ApiError::bad_request(format!(
                "scope: expected `system` or `pack:NAME` (NAME a pack name: lowercase letters, digits and `_`, starting with a letter), got `{}`",
                other.escape_debug()
            ))
            .with_detail(serde_json::json!({"parameter": "scope"}))),
        },
    }
}

/// The scope of a `PUT`, which may be given in the query (as for the other
/// methods) or in the body (as StackStorm's clients send it), not both
/// differently.
fn put_scope(query: Option<&str>, body: Option<&str>) -> Result<KvScope, ApiError> {
    match (query, body) {
        (Some(query), Some(body)) if query != body => Err(ApiError::bad_request(format!(
            "scope: the query says `{}` and the body `{}`; give one",
            query.escape_debug(),
            body.escape_debug()
        ))
        .with_detail(serde_json::json!({"parameter": "scope"}))),
        (query, body) => parse_scope(query.or(body)),
    }
}

/// Longest TTL: about 100 years (`PutKey` documents it).
const MAX_TTL: u64 = 100 * 365 * 24 * 60 * 60;

// `scope` is documented with the pattern of what `parse_scope` accepts
// (`st2kv.system` is StackStorm's name for `system`).
/// The scope of a request.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ScopeQuery {
    /// `system` (default) or `pack:NAME`.
    #[param(pattern = r"^(system|st2kv\.system|pack:[a-z][a-z0-9_]{0,63})$")]
    scope: Option<String>,
}

/// Scope and prefix of a listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// `system` (default), `pack:NAME`, or `all` (StackStorm's default:
    /// the system scope and every pack's).
    #[param(pattern = r"^(all|system|st2kv\.system|pack:[a-z][a-z0-9_]{0,63})$")]
    scope: Option<String>,
    /// Only keys starting with this.
    prefix: Option<String>,
    /// Only the key of this name (how st2client's `get_by_name` asks).
    name: Option<String>,
    /// StackStorm's request to show secrets decrypted: accepted, and
    /// answered with secrets masked all the same (Squall never shows a
    /// stored secret).
    #[param(pattern = "^(true|false|True|False)$")]
    decrypt: Option<String>,
}

/// A value to store.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PutKey {
    /// The value (StackStorm's values are strings).
    value: String,
    /// Encrypt at rest and never show it again.
    #[serde(default)]
    secret: bool,
    /// Seconds until it expires, up to about 100 years.
    #[serde(default, deserialize_with = "whole_seconds")]
    #[schema(minimum = 1, maximum = 3_153_600_000_u64)]
    ttl: Option<u64>,
    /// `system` (default) or `pack:NAME`.
    #[schema(pattern = r"^(system|st2kv\.system|pack:[a-z][a-z0-9_]{0,63})$")]
    scope: Option<String>,
    /// What StackStorm's clients send along: the key's name (and `id`,
    /// the same), which must be the path's when given.
    name: Option<String>,
    id: Option<String>,
    /// StackStorm's owner of a user-scoped item; Squall has no user
    /// scope, so only null is taken.
    #[schema(value_type = Option<String>, nullable)]
    user: Option<serde_json::Value>,
    /// StackStorm's flag for a value sent already encrypted; Squall
    /// encrypts itself, so only `false` is taken.
    #[serde(default)]
    encrypted: bool,
}

/// A number of seconds: a JSON number with no fraction, written `60` or
/// `60.0` (JSON Schema's `integer` admits both).
fn whole_seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if let Some(seconds) = number.as_u64() {
        return Ok(Some(seconds));
    }
    match number.as_f64() {
        // Below 2^64, so the cast is exact.
        Some(seconds)
            if seconds.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&seconds) =>
        {
            Ok(Some(seconds as u64))
        }
        _ => Err(D::Error::custom(format!("expected a whole number of seconds, got {number}"))),
    }
}

/// The live keys of a scope, in order.
#[utoipa::path(
    get,
    path = "/keys",
    operation_id = "list_keys",
    tag = "keys",
    params(ListQuery),
    responses(
        (status = 200, description = "Entries by name; secrets masked", body = [KeyView]),
        (status = 400, description = "Malformed scope", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
    ),
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<KeyView>>, ApiError> {
    let scopes = match query.scope.as_deref() {
        // StackStorm's `all`: the system scope, then each pack's.
        Some("all") => std::iter::once(KvScope::System)
            .chain(state.manifests()?.into_keys().map(KvScope::Pack))
            .collect(),
        other => vec![parse_scope(other)?],
    };
    if let Some(decrypt) = query.decrypt.as_deref()
        && !["true", "false", "True", "False"].contains(&decrypt)
    {
        return Err(ApiError::bad_request(format!(
            "decrypt: expected true or false, got `{}`",
            decrypt.escape_debug()
        ))
        .with_detail(serde_json::json!({"parameter": "decrypt"})));
    }
    let snapshot = state.engine().store().read()?;
    let now = now_millis();
    let mut views = Vec::new();
    for scope in scopes {
        for name in snapshot.kv_keys(&scope, query.prefix.as_deref().unwrap_or(""), now)? {
            if query.name.as_ref().is_some_and(|wanted| *wanted != name) {
                continue;
            }
            // A list shows only what the caller may view, one by one.
            if !caller.allows(Permission::KeyValuePairView, Some(&resource(&scope, &name))) {
                continue;
            }
            if let Some(item) = snapshot.kv_item(&scope, &name, now)? {
                views.push(view(name, &scope, item));
            }
        }
    }
    Ok(Json(views))
}

/// One entry.
#[utoipa::path(
    get,
    path = "/keys/{name}",
    operation_id = "get_key",
    tag = "keys",
    params(("name" = String, Path, description = "Key"), ScopeQuery),
    responses(
        (status = 200, description = "The entry; a secret masked", body = KeyView),
        (status = 400, description = "Malformed scope, or the name is not UTF-8 once percent-decoded", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 404, description = "No live entry", body = ErrorBody),
    ),
)]
pub(crate) async fn get(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(query): Query<ScopeQuery>,
) -> Result<Json<KeyView>, ApiError> {
    let scope = parse_scope(query.scope.as_deref())?;
    caller.require(Permission::KeyValuePairView, Some(&resource(&scope, &name)))?;
    let item = state.engine().store().read()?.kv_item(&scope, &name, now_millis())?;
    let item = item.ok_or_else(|| not_found(&scope, &name))?;
    Ok(Json(view(name, &scope, item)))
}

fn not_found(scope: &KvScope, name: &str) -> ApiError {
    ApiError::not_found(format!("key `{name}` not found in scope {}", scope_name(scope)))
}

/// Stores a value (commits a `core.kv_changed` instance with it).
#[utoipa::path(
    put,
    path = "/keys/{name}",
    operation_id = "put_key",
    tag = "keys",
    params(("name" = String, Path, description = "Key: printable characters (no control characters, no whitespace but the space, no bidirectional controls)"), ScopeQuery),
    request_body = PutKey,
    responses(
        (status = 200, description = "Stored; a secret masked", body = KeyView),
        (status = 400, description = "Malformed JSON, wrong types, nested deeper than the limit, a malformed scope (query or body, or the two differ), or the name is not UTF-8 once percent-decoded", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 404, description = "Its ttl ran out before it could be read back", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "The body is not sent as application/json, or in a charset other than UTF-8", body = ErrorBody),
        (status = 422, description = "Key or ttl out of range: a key is 1 to 512 bytes of printable characters", body = ErrorBody),
    ),
)]
pub(crate) async fn put(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(query): Query<ScopeQuery>,
    Body(body): Body<PutKey>,
) -> Result<Json<KeyView>, ApiError> {
    let scope = put_scope(query.scope.as_deref(), body.scope.as_deref())?;
    caller.require(Permission::KeyValuePairSet, Some(&resource(&scope, &name)))?;
    for (field, given) in [("name", &body.name), ("id", &body.id)] {
        if given.as_ref().is_some_and(|given| *given != name) {
            return Err(ApiError::bad_request(format!(
                "{field}: the body names another key than the path (`{}`)",
                name.escape_debug()
            ))
            .with_detail(serde_json::json!({"parameter": field})));
        }
    }
    if body.user.as_ref().is_some_and(|user| !user.is_null()) {
        return Err(ApiError::bad_request(
            "user: Squall's datastore has no user scope; send no user (or null)",
        )
        .with_detail(serde_json::json!({"parameter": "user"})));
    }
    if body.encrypted {
        return Err(ApiError::bad_request(
            "encrypted: Squall encrypts secrets itself; send the plain value with `secret: true`",
        )
        .with_detail(serde_json::json!({"parameter": "encrypted"})));
    }
    if body.ttl.is_some_and(|ttl| !(1..=MAX_TTL).contains(&ttl)) {
        return Err(ApiError::invalid("ttl", format!("ttl: expected 1 to {MAX_TTL} seconds")));
    }
    let change = KvChange::Set {
        value: body.value,
        secret: body.secret,
        ttl: body.ttl.map(Duration::from_secs),
    };
    state.engine().kv_change(scope.clone(), &name, change).await?;
    audit(&state, &caller, "key.set", &scope, &name).await?;
    let item = state.engine().store().read()?.kv_item(&scope, &name, now_millis())?;
    // Gone already only if its ttl ran out in between.
    let item = item.ok_or_else(|| not_found(&scope, &name))?;
    Ok(Json(view(name, &scope, item)))
}

/// Removes an entry (commits a `core.kv_changed` instance with it).
#[utoipa::path(
    delete,
    path = "/keys/{name}",
    operation_id = "delete_key",
    tag = "keys",
    params(("name" = String, Path, description = "Key"), ScopeQuery),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "Malformed scope, or the name is not UTF-8 once percent-decoded", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 404, description = "No live entry", body = ErrorBody),
    ),
)]
pub(crate) async fn delete(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(query): Query<ScopeQuery>,
) -> Result<StatusCode, ApiError> {
    let scope = parse_scope(query.scope.as_deref())?;
    caller.require(Permission::KeyValuePairDelete, Some(&resource(&scope, &name)))?;
    if state.engine().store().read()?.kv_item(&scope, &name, now_millis())?.is_none() {
        return Err(not_found(&scope, &name));
    }
    state.engine().kv_change(scope.clone(), &name, KvChange::Delete).await?;
    audit(&state, &caller, "key.delete", &scope, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
