//! StackStorm's token API under `/auth/v1`: sign in with HTTP Basic
//! credentials for a token (`POST /tokens`), check one
//! (`POST /tokens/validate`), revoke one (`DELETE /tokens/{id}`, Squall's);
//! and `GET /api/v1/user`, who the caller is. A wrong password is 401 and
//! is audited; the password never is.

use std::time::Duration;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use super::audit::event;
use super::auth::{Caller, Credential, TOKEN_PREFIX, hash_key, principal};
use super::error::{
    ApiError, Body, ErrorBody, Path, RawBody, check_charset, content_type, parse_id,
};
use super::page::timestamp;
use super::state::ApiState;
use crate::access::{Permission, Resource, random_secret, verify_password};
use crate::store::{AuditEvent, Millis, TokenRecord, new_id, now_millis};

/// A token: StackStorm's shape.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenView {
    user: String,
    /// The token; shown only now.
    token: String,
    /// When it stops being accepted.
    #[schema(format = DateTime)]
    expiry: String,
    id: Uuid,
    #[schema(value_type = Object)]
    metadata: Value,
}

/// Optional body of a sign-in.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct TokenRequest {
    /// Seconds the token lives: 1 up to the server's maximum (default 24 h).
    #[serde(default)]
    #[schema(minimum = 1)]
    ttl: Option<i64>,
}

/// Signs in: HTTP Basic credentials for a token.
#[utoipa::path(
    post,
    path = "/tokens",
    operation_id = "create_token",
    tag = "auth",
    request_body(content = Option<TokenRequest>, description = "Optional: the token's lifetime"),
    security(("basic" = [])),
    responses(
        (status = 201, description = "A new token", body = TokenView),
        (status = 400, description = "A malformed body or a ttl out of range", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "A body not sent as application/json, or in a charset other than UTF-8", body = ErrorBody),
    ),
)]
pub(crate) async fn create(
    State(state): State<ApiState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<TokenView>), ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|m| m.trim() == "application/json"));
    let request: TokenRequest = if body.iter().all(u8::is_ascii_whitespace) {
        TokenRequest::default()
    } else if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a sign-in body must be sent as application/json",
        ));
    } else {
        check_charset(&content_type(&headers))?;
        crate::limits::check(&body, crate::limits::Format::Json)
            .map_err(|e| ApiError::bad_request(format!("body: {e}")))?;
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!("body: expected {{\"ttl\": SECONDS}}: {e}"))
        })?
    };
    let policy = state.policy();
    let max = policy.token_max_ttl.as_secs();
    let ttl = match request.ttl {
        None => policy.token_ttl.as_secs(),
        Some(ttl) if ttl >= 1 && ttl.unsigned_abs() <= max => ttl.unsigned_abs(),
        Some(ttl) => {
            return Err(ApiError::bad_request(format!(
                "ttl: expected 1 to {max} seconds (the server's maximum), got {ttl}"
            )));
        }
    };
    let (user, password) = basic_credentials(&headers).ok_or_else(|| {
        ApiError::unauthorized(
            "missing credentials: send `Authorization: Basic base64(user:password)`",
        )
    })?;
    let store = state.engine().store().clone();
    let claimed = user.clone();
    let known = tokio::task::spawn_blocking(move || -> Result<bool, ApiError> {
        let record = store.read()?.user(&claimed)?;
        let hash = record.filter(|u| u.enabled).and_then(|u| u.password_hash);
        // A user without a password still costs a hash, so timing does not
        // tell who exists.
        match hash {
            Some(hash) => Ok(verify_password(&password, &hash)),
            None => {
                let _ = verify_password(&password, dummy_hash());
                Ok(false)
            }
        }
    })
    .await
    .map_err(ApiError::internal)??;
    if !known {
        let audit = AuditEvent {
            at: now_millis(),
            actor: user.chars().take(200).collect(),
            action: "auth.failed".into(),
            subject: "token".into(),
            detail: json!({"reason": "wrong user name or password"}),
        };
        state.engine().store().write(move |tx| tx.append_audit(&audit).map(drop)).await?;
        return Err(ApiError::unauthorized("invalid user name or password"));
    }
    let secret = random_secret(TOKEN_PREFIX).map_err(ApiError::internal)?;
    let now = now_millis();
    let lifetime = Millis::try_from(Duration::from_secs(ttl).as_millis()).unwrap_or(Millis::MAX);
    let record = TokenRecord {
        id: new_id(),
        user: user.clone(),
        hash: hash_key(&secret),
        created_at: now,
        expiry: now.saturating_add(lifetime),
        revoked_at: None,
    };
    let view = TokenView {
        user: user.clone(),
        token: secret,
        expiry: timestamp(record.expiry),
        id: record.id,
        metadata: json!({}),
    };
    let audit = AuditEvent {
        at: now,
        actor: user,
        action: "token.create".into(),
        subject: record.id.to_string(),
        detail: json!({"ttl": ttl}),
    };
    state
        .engine()
        .store()
        .write(move |tx| {
            tx.insert_token(&record)?;
            tx.append_audit(&audit).map(drop)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// A hash verified when the user has no password (or does not exist), so
/// that a refusal takes as long either way.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| crate::access::hash_password("squall timing filler").unwrap_or_default())
}

/// `Authorization: Basic base64(user:password)`, decoded.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    (!user.is_empty()).then(|| (user.to_owned(), password.to_owned()))
}

/// A token to check.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ValidateBody {
    token: String,
}

/// Whether a token is accepted.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Validity {
    valid: bool,
}

/// Checks whether a token is live (not expired, not revoked, its user
/// enabled).
#[utoipa::path(
    post,
    path = "/tokens/validate",
    operation_id = "validate_token",
    tag = "auth",
    request_body = ValidateBody,
    responses(
        (status = 200, description = "Whether it is accepted", body = Validity),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No live API key or token", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
)]
pub(crate) async fn validate(
    State(state): State<ApiState>,
    Body(request): Body<ValidateBody>,
) -> Result<Json<Validity>, ApiError> {
    let snapshot = state.engine().store().read()?;
    let token = snapshot.token_by_hash(&hash_key(&request.token))?;
    let valid = match token {
        Some(token) if token.revoked_at.is_none() && token.expiry > now_millis() => {
            principal(&snapshot, &token.user)?.is_some()
        }
        _ => false,
    };
    Ok(Json(Validity { valid }))
}

/// Revokes a token: it is refused from the next request on, and its open
/// event streams end.
#[utoipa::path(
    delete,
    path = "/tokens/{id}",
    operation_id = "revoke_token",
    tag = "auth",
    params(("id" = Uuid, Path, description = "Token id")),
    responses(
        (status = 204, description = "Revoked (or already revoked)"),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "No live API key or token", body = ErrorBody),
        (status = 403, description = "Another user's token, without `api_key_delete`", body = ErrorBody),
        (status = 404, description = "No such token", body = ErrorBody),
    ),
)]
pub(crate) async fn revoke(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id("token", &id)?;
    let token = state.engine().store().read()?.token(id)?;
    let token = token.ok_or_else(|| ApiError::not_found(format!("token {id} not found")))?;
    if token.user != caller.user() {
        caller.require(Permission::ApiKeyDelete, Some(&Resource::api_key(&id.to_string())))?;
    }
    let now = now_millis();
    let audit = event(&caller, "token.revoke", &id.to_string(), json!({"user": token.user}));
    state
        .engine()
        .store()
        .write(move |tx| {
            tx.revoke_token(id, now)?;
            tx.append_audit(&audit).map(drop)
        })
        .await?;
    state.access_changed();
    Ok(StatusCode::NO_CONTENT)
}

/// Who the caller is (StackStorm's `GET /api/v1/user`).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserInfo {
    username: String,
    #[schema(value_type = Object)]
    authentication: Value,
    #[schema(value_type = Object)]
    rbac: Value,
}

/// The signed-in user, how they signed in, their roles, and the
/// permission types they hold on at least one resource
/// (`rbac.permissions`, what a client may offer).
#[utoipa::path(
    get,
    path = "/user",
    operation_id = "get_current_user",
    tag = "auth",
    responses(
        (status = 200, description = "The caller", body = UserInfo),
        (status = 401, description = "No live API key or token", body = ErrorBody),
    ),
)]
pub(crate) async fn whoami(Extension(caller): Extension<Caller>) -> Json<UserInfo> {
    let method = match &caller.credential {
        Credential::ApiKey { .. } => "api key",
        Credential::Token { .. } => "authentication token",
    };
    let roles: Vec<&str> = caller.principal.roles.iter().map(|r| r.name.as_str()).collect();
    Json(UserInfo {
        username: caller.user().to_owned(),
        authentication: json!({"method": method, "webhooks": caller.webhooks}),
        rbac: json!({
            "enabled": true,
            "roles": roles,
            "is_admin": caller.principal.is_admin(),
            // What a client may offer (the web UI hides the rest); each
            // request is still decided on its resource.
            "permissions": caller.principal.held(),
        }),
    })
}
