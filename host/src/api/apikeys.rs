//! `/apikeys`: create a key (shown once, in the answer) for oneself or, as
//! an admin, for another user, optionally limited to named webhooks; list
//! keys (never the key or its hash); revoke one (refused from the next
//! request on, and its open event streams closed).

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::audit::event;
use super::auth::{Caller, create_api_key};
use super::error::{ApiError, Body, ErrorBody, Path, parse_id};
use super::page::{timestamp, timestamp_opt};
use super::state::ApiState;
use crate::access::{Permission, Resource, check_webhook_pattern};
use crate::store::{ApiKeyRecord, WriteError, now_millis};

/// Longest key name, in characters (`CreateKey` documents it).
const MAX_NAME: usize = 200;

/// A key to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateKey {
    /// What it is for: 1 to 200 characters, not all blank.
    #[schema(example = "ci", min_length = 1, max_length = 200, pattern = r"\S")]
    name: String,
    /// The user the key acts for; default the caller. Another user's key
    /// needs an admin.
    #[serde(default)]
    user: Option<String>,
    /// Limit the key to sending webhooks whose name matches one of these
    /// patterns (`*` matches any run); it can then do nothing else.
    #[serde(default)]
    webhooks: Vec<String>,
}

/// Most webhook patterns on one key.
const MAX_PATTERNS: usize = 100;

/// A new key: the only time the key itself is shown.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedKey {
    id: Uuid,
    name: String,
    /// The key; store it now, it cannot be shown again.
    #[schema(example = "sq_0f1e…")]
    key: String,
    /// The user it acts for.
    user: String,
    /// The webhooks it is limited to; empty: not limited.
    webhooks: Vec<String>,
    #[schema(format = DateTime)]
    created_at: String,
}

/// A key as listed: never the key or its hash.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KeyInfo {
    id: Uuid,
    name: String,
    /// The user it acts for.
    user: String,
    /// The webhooks it is limited to; empty: not limited.
    webhooks: Vec<String>,
    #[schema(format = DateTime)]
    created_at: String,
    /// When it was revoked; a revoked key is refused.
    #[schema(format = DateTime)]
    revoked_at: Option<String>,
}

impl From<&ApiKeyRecord> for KeyInfo {
    fn from(record: &ApiKeyRecord) -> Self {
        Self {
            id: record.id,
            name: record.name.clone(),
            user: record.user.clone(),
            webhooks: record.webhooks.clone(),
            created_at: timestamp(record.created_at),
            revoked_at: timestamp_opt(record.revoked_at),
        }
    }
}

/// Creates an API key.
#[utoipa::path(
    post,
    path = "/apikeys",
    operation_id = "create_api_key",
    tag = "apikeys",
    request_body = CreateKey,
    responses(
        (status = 201, description = "Created; the answer holds the key", body = CreatedKey,
            headers(("location" = String, description = "Where the key's record lives"))),
        (status = 400, description = "Malformed JSON or wrong types", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 403, description = "Without `api_key_create`, or a key for another user without admin", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "The body is not sent as application/json", body = ErrorBody),
        (status = 422, description = "Empty or overlong name, a bad webhook pattern, or an unknown user", body = ErrorBody),
    ),
)]
pub(crate) async fn create(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<CreateKey>,
) -> Result<Response, ApiError> {
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(ApiError::invalid(
            "name",
            format!("name: expected 1 to {MAX_NAME} characters, not all blank"),
        ));
    }
    if body.webhooks.len() > MAX_PATTERNS {
        return Err(ApiError::invalid(
            "webhooks",
            format!("webhooks: at most {MAX_PATTERNS} patterns"),
        ));
    }
    for (index, pattern) in body.webhooks.iter().enumerate() {
        check_webhook_pattern(pattern)
            .map_err(|m| ApiError::invalid("webhooks", format!("webhooks[{index}]: {m}")))?;
    }
    let user = body.user.unwrap_or_else(|| caller.user().to_owned());
    if user != caller.user() && !caller.principal.is_admin() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("only an admin may create API keys for another user (`{user}`)"),
        ));
    }
    if state.engine().store().read()?.user(&user)?.is_none() {
        return Err(ApiError::invalid("user", format!("user: no user `{user}`")));
    }
    let (record, key) = create_api_key(state.engine().store(), name, &user, body.webhooks).await?;
    let detail =
        serde_json::json!({"id": record.id, "user": record.user, "webhooks": record.webhooks});
    let audit = event(&caller, "apikey.create", name, detail);
    state.engine().store().write(move |tx| tx.append_audit(&audit).map(drop)).await?;
    let location = format!("{}/apikeys/{}", super::API_PREFIX, record.id);
    let created = CreatedKey {
        id: record.id,
        name: record.name,
        key,
        user: record.user,
        webhooks: record.webhooks,
        created_at: timestamp(record.created_at),
    };
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(created)).into_response())
}

/// Every API key, oldest first.
#[utoipa::path(
    get,
    path = "/apikeys",
    operation_id = "list_api_keys",
    tag = "apikeys",
    responses(
        (status = 200, description = "Keys, oldest first, without the keys", body = [KeyInfo]),
        (status = 401, description = "No live API key", body = ErrorBody),
    ),
)]
pub(crate) async fn list(State(state): State<ApiState>) -> Result<Json<Vec<KeyInfo>>, ApiError> {
    let keys = state.engine().store().read()?.api_keys()?;
    Ok(Json(keys.iter().map(KeyInfo::from).collect()))
}

/// Revokes an API key: requests with it are refused from now on.
#[utoipa::path(
    delete,
    path = "/apikeys/{id}",
    operation_id = "revoke_api_key",
    tag = "apikeys",
    params(("id" = Uuid, Path, description = "Key id")),
    responses(
        (status = 204, description = "Revoked (or already revoked)"),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 403, description = "Another user's key, without `api_key_delete`", body = ErrorBody),
        (status = 404, description = "No such key", body = ErrorBody),
    ),
)]
pub(crate) async fn revoke(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id("API key", &id)?;
    let key = state.engine().store().read()?.api_key(id)?;
    let key = key.ok_or_else(|| ApiError::not_found(format!("API key {id} not found")))?;
    // Anyone may revoke their own keys.
    if key.user != caller.user() {
        caller.require(Permission::ApiKeyDelete, Some(&Resource::api_key(&id.to_string())))?;
    }
    let now = now_millis();
    let audit =
        event(&caller, "apikey.revoke", &key.name, serde_json::json!({"id": id, "user": key.user}));
    let revoked = state
        .engine()
        .store()
        .write(move |tx| {
            let revoked = tx.revoke_api_key(id, now)?;
            tx.append_audit(&audit)?;
            Ok(revoked)
        })
        .await;
    state.access_changed();
    match revoked {
        Ok(_) => Ok(StatusCode::NO_CONTENT),
        Err(WriteError::NotFound(_)) => Err(ApiError::not_found(format!("API key {id} not found"))),
        Err(error) => Err(error.into()),
    }
}
