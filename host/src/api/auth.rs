//! Authentication: API keys and tokens (generated here, stored only as
//! sha256), how a request presents them (StackStorm's ways), and the
//! middleware that turns a credential into a [`Caller`] — a user with
//! their roles — and applies the route's permission from
//! [`super::permissions`]. Keys and tokens are looked up in the store on
//! every request, so a revocation holds from the next request on.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::error::ApiError;
use super::permissions::{Need, need_of};
use super::state::ApiState;
use crate::access::{Denied, Grant, Permission, Principal, Resource, Role, webhook_matches};
use crate::store::{ApiKeyRecord, ReadError, Snapshot, Store, WriteError, new_id, now_millis};

/// What every key Squall issues starts with, so a leaked one is easy to
/// recognise (secret scanners, logs).
pub const KEY_PREFIX: &str = "sq_";
/// What every token starts with.
pub const TOKEN_PREFIX: &str = "sqt_";

/// StackStorm's API key header.
pub const ST2_API_KEY_HEADER: &str = "st2-api-key";
/// StackStorm's token header.
pub const AUTH_TOKEN_HEADER: &str = "x-auth-token";

/// Query parameters a key may be carried in on every route, as StackStorm
/// accepts; webhooks also take `api_key`.
const QUERY_KEY: &str = "st2-api-key";
const QUERY_WEBHOOK_KEY: &str = "api_key";
/// The query parameter a token may be carried in.
const QUERY_TOKEN: &str = "x-auth-token";

/// A new key: [`KEY_PREFIX`] and 32 random bytes from the OS, in hex.
pub fn generate_key() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{KEY_PREFIX}{}", hex::encode(bytes)))
}

/// The hex sha256 of a key or token: what the store keeps and looks them
/// up by.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Creates and stores a key named `name` for `user`, limited to
/// `webhooks` when not empty; returns the record and the key, which exists
/// nowhere else from now on.
pub async fn create_api_key(
    store: &Store,
    name: &str,
    user: &str,
    webhooks: Vec<String>,
) -> Result<(ApiKeyRecord, String), WriteError> {
    let key = generate_key().map_err(|e| WriteError::Storage(format!("no randomness: {e}")))?;
    let record = ApiKeyRecord {
        id: new_id(),
        name: name.to_owned(),
        hash: hash_key(&key),
        created_at: now_millis(),
        revoked_at: None,
        user: user.to_owned(),
        webhooks,
    };
    let stored = record.clone();
    store.write(move |tx| tx.insert_api_key(&stored)).await?;
    Ok((record, key))
}

/// How a caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// An API key, by id and name.
    ApiKey { id: Uuid, name: String },
    /// A token from `/auth/v1/tokens`, by id.
    Token { id: Uuid },
}

/// Who made a request: the user, how they signed in, and their roles.
/// Handlers take it as an `Extension<Caller>`.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub credential: Credential,
    /// Webhook patterns a scoped key is limited to; empty: not limited.
    pub webhooks: Vec<String>,
}

impl Caller {
    /// The user's name.
    pub fn user(&self) -> &str {
        &self.principal.user
    }

    /// The actor the audit log records: `user` and how they signed in.
    pub fn actor(&self) -> String {
        match &self.credential {
            Credential::ApiKey { name, .. } => format!("{} (API key {name})", self.user()),
            Credential::Token { .. } => format!("{} (token)", self.user()),
        }
    }

    /// Refuses with 403 unless the user may do `permission` on `resource`.
    pub fn require(
        &self,
        permission: Permission,
        resource: Option<&Resource>,
    ) -> Result<(), ApiError> {
        self.principal.require(permission, resource).map_err(forbidden)
    }

    /// Whether the user may do `permission` on `resource`.
    pub fn allows(&self, permission: Permission, resource: Option<&Resource>) -> bool {
        self.principal.allows(permission, resource)
    }
}

/// The 403 for a refusal: `{"error", "detail": {"permission", "resource"}}`.
pub(crate) fn forbidden(denied: Denied) -> ApiError {
    let detail = json!({
        "permission": denied.permission.as_str(),
        "resource": denied.resource,
        "user": denied.user,
    });
    ApiError::new(StatusCode::FORBIDDEN, denied.to_string()).with_detail(detail)
}

/// Where the credential came from, so it can be taken out of the request
/// before a handler (a webhook) passes headers on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Bearer,
    KeyHeader,
    TokenHeader,
    Query,
}

/// A credential as presented: a key or a token (told apart by prefix;
/// `Bearer` carries either).
#[derive(Debug, Clone)]
pub(crate) struct Presented {
    secret: String,
    token: bool,
    source: Source,
}

/// The user named by a credential, after checking it is live.
fn identify(
    snapshot: &Snapshot,
    presented: &Presented,
) -> Result<Option<(String, Credential, Vec<String>)>, ReadError> {
    let hash = hash_key(&presented.secret);
    if presented.token || presented.secret.starts_with(TOKEN_PREFIX) {
        let Some(token) = snapshot.token_by_hash(&hash)? else { return Ok(None) };
        if token.revoked_at.is_some() || token.expiry <= now_millis() {
            return Ok(None);
        }
        return Ok(Some((token.user, Credential::Token { id: token.id }, Vec::new())));
    }
    let Some(key) = snapshot.api_key_by_hash(&hash)? else { return Ok(None) };
    if key.revoked_at.is_some() {
        return Ok(None);
    }
    Ok(Some((key.user, Credential::ApiKey { id: key.id, name: key.name }, key.webhooks)))
}

/// The roles `user` holds, resolved: system roles by name, custom roles
/// from the store; `None` when the user does not exist or is disabled.
pub(crate) fn principal(snapshot: &Snapshot, user: &str) -> Result<Option<Principal>, ReadError> {
    let Some(record) = snapshot.user(user)? else { return Ok(None) };
    if !record.enabled {
        return Ok(None);
    }
    let mut roles = Vec::with_capacity(record.roles.len());
    for name in &record.roles {
        if let Some(system) = Role::system(name) {
            roles.push(system);
        } else if let Some(stored) = snapshot.role(name)? {
            roles.push(role_from_record(stored));
        }
    }
    Ok(Some(Principal { user: record.name, roles }))
}

/// A stored role as `access` reads it; a permission name that no longer
/// parses grants nothing.
pub(crate) fn role_from_record(record: crate::store::RoleRecord) -> Role {
    Role {
        name: record.name,
        description: record.description,
        enabled: record.enabled,
        permission_grants: record
            .permission_grants
            .into_iter()
            .map(|g| Grant {
                resource_uid: g.resource_uid,
                permission_types: g
                    .permission_types
                    .iter()
                    .filter_map(|p| p.parse().ok())
                    .collect(),
            })
            .collect(),
    }
}

/// Checks a credential again (an open stream does so when access changes):
/// the caller as it stands now, or `None` when it is no longer accepted.
pub(crate) fn reauthenticate(state: &ApiState, credential: &Credential) -> Option<Caller> {
    let snapshot = state.engine().store().read().ok()?;
    let (user, webhooks) = match credential {
        Credential::ApiKey { id, .. } => {
            let key = snapshot.api_key(*id).ok()??;
            if key.revoked_at.is_some() {
                return None;
            }
            (key.user, key.webhooks)
        }
        Credential::Token { id } => {
            let token = snapshot.token(*id).ok()??;
            if token.revoked_at.is_some() || token.expiry <= now_millis() {
                return None;
            }
            (token.user, Vec::new())
        }
    };
    let principal = principal(&snapshot, &user).ok()??;
    Some(Caller { principal, credential: credential.clone(), webhooks })
}

/// Admits the request only with a live credential of an existing, enabled
/// user, and only when the route's permission (from the one table in
/// [`super::permissions`]) allows it; the credential is taken out of the
/// request before the handler sees it.
pub(crate) async fn authorize(
    State(state): State<ApiState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let Some(route) = route else {
        return Err(ApiError::not_found(format!("no route for {}", request.uri().path())));
    };
    let need = need_of(request.method(), &route).ok_or_else(|| {
        tracing::error!(route, method = %request.method(), "a route has no entry in the permission table");
        ApiError::new(StatusCode::FORBIDDEN, "this route has no permission declared; refused")
    })?;
    if need == Need::Open {
        return Ok(next.run(request).await);
    }
    let webhook = route.starts_with(super::WEBHOOKS_PREFIX);
    let presented = presented(request.headers(), request.uri().query(), webhook).ok_or_else(|| {
        ApiError::unauthorized(
            "missing credentials: send an API key (`St2-Api-Key: KEY` or `Authorization: Bearer KEY`) or a token (`X-Auth-Token`)",
        )
    })?;
    let snapshot = state.engine().store().read()?;
    let (user, credential, webhooks) = identify(&snapshot, &presented)?
        .ok_or_else(|| ApiError::unauthorized("unknown, expired or revoked API key or token"))?;
    let principal = principal(&snapshot, &user)?.ok_or_else(|| {
        ApiError::unauthorized(format!("the user `{user}` does not exist or is disabled"))
    })?;
    drop(snapshot);
    let caller = Caller { principal, credential, webhooks };
    if !caller.webhooks.is_empty() && !webhook {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "this API key may only send webhooks matching {}; it cannot use {} {}",
                caller.webhooks.join(", "),
                request.method(),
                request.uri().path()
            ),
        )
        .with_detail(
            json!({"permission": Permission::WebhookSend.as_str(), "webhooks": caller.webhooks}),
        ));
    }
    if let Need::Global(permission) = need {
        caller.require(permission, None)?;
    }
    match presented.source {
        Source::Bearer => drop(request.headers_mut().remove(header::AUTHORIZATION)),
        Source::KeyHeader => drop(request.headers_mut().remove(ST2_API_KEY_HEADER)),
        Source::TokenHeader => drop(request.headers_mut().remove(AUTH_TOKEN_HEADER)),
        Source::Query => {} // handlers that read the query leave these names out
    }
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

/// Whether a scoped key may send webhook `name` (an unscoped key may send
/// any, as its user's permissions allow).
pub(crate) fn webhook_in_scope(caller: &Caller, name: &str) -> bool {
    caller.webhooks.is_empty() || caller.webhooks.iter().any(|p| webhook_matches(p, name))
}

fn presented(headers: &HeaderMap, query: Option<&str>, webhook: bool) -> Option<Presented> {
    let text = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok()).map(str::trim);
    let bearer = text(header::AUTHORIZATION.as_str())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim());
    let found = |secret: Option<&str>, token, source| {
        secret.filter(|s| !s.is_empty()).map(|s| Presented { secret: s.to_owned(), token, source })
    };
    found(bearer, false, Source::Bearer)
        .or_else(|| found(text(AUTH_TOKEN_HEADER), true, Source::TokenHeader))
        .or_else(|| found(text(ST2_API_KEY_HEADER), false, Source::KeyHeader))
        .or_else(|| {
            let mut key = None;
            let mut token = None;
            for (name, value) in query_pairs(query?) {
                if value.is_empty() {
                    continue;
                }
                match name.as_str() {
                    QUERY_TOKEN => token = token.or(Some(value)),
                    QUERY_KEY => key = key.or(Some(value)),
                    QUERY_WEBHOOK_KEY if webhook => key = key.or(Some(value)),
                    _ => {}
                }
            }
            let (secret, token) = match (token, key) {
                (Some(token), _) => (token, true),
                (None, Some(key)) => (key, false),
                (None, None) => return None,
            };
            Some(Presented { secret, token, source: Source::Query })
        })
}

/// Query parameters that carry credentials, which handlers must not treat
/// as their own (a webhook leaves them out of its payload).
pub(crate) const CREDENTIAL_PARAMS: [&str; 3] = [QUERY_KEY, QUERY_WEBHOOK_KEY, QUERY_TOKEN];

/// The pairs of a query string, percent-decoded.
pub(crate) fn query_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|pair| !pair.is_empty()).map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(name), decode(value))
    })
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 3)
            .filter(|hex| bytes[i] == b'%' && hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match (bytes[i], escaped) {
            (_, Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (other, None) => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
