//! `POST /packs` (install or upgrade from a bundle), `DELETE /packs/{name}`
//! and `/trust`: the pack lifecycle and the keyring, over the
//! [`PackManager`](crate::engine::PackManager). Uploads are bounded in size
//! and number (`upload.rs`); reading a bundle's manifest, like verifying
//! and compiling it, happens off the API's threads.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::{ApiError, Body, ErrorBody, Path, off_thread};
use super::state::ApiState;
use crate::access::Permission;
use crate::engine::{InstallRequest, LifecycleError, PackManager};
use crate::pack::{Bundle, parse_grants, public_key_from_bytes};

/// How to install a bundle.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct InstallQuery {
    /// Comma-separated grants: `all`, `kv`, `http=URL-PATTERN`,
    /// `secret=NAME`, `exec=/ABS/PATH`. None given grants nothing.
    #[serde(default)]
    grants: Option<String>,
    /// Accept a bundle without a signature (written to the audit log).
    /// Only where the server allows unsigned bundles at all (`squall serve
    /// --allow-unsigned`): the client can narrow the server's policy,
    /// never widen it.
    #[serde(default)]
    allow_unsigned: bool,
    /// Where the bundle came from, for the audit log.
    #[serde(default)]
    origin: Option<String>,
    /// The pack's configuration, as JSON text.
    #[serde(default)]
    config: Option<String>,
}

/// A pack bundle: a WebAssembly component with its manifest sections.
#[derive(Debug, ToSchema)]
#[schema(value_type = String, format = Binary)]
pub(crate) struct BundleBytes(#[allow(dead_code)] Vec<u8>);

/// What an install did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InstalledView {
    name: String,
    version: String,
    /// The version replaced, on an upgrade.
    previous: Option<String>,
    /// The trusted key that signed it; null when installed unsigned.
    signer: Option<String>,
    sha256: String,
    /// Microseconds spent verifying the signature.
    verify_us: u64,
    /// Microseconds spent compiling (or loading from the compile cache).
    compile_us: u64,
}

/// What a removal did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RemovedView {
    name: String,
    version: String,
    /// Other packs' rules disabled because of `force`.
    disabled_rules: Vec<String>,
}

/// Removal options.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RemoveQuery {
    /// Remove even when other packs' rules use it (they are disabled).
    #[serde(default)]
    force: bool,
}

/// A trusted key.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TrustedKeyView {
    name: String,
    /// Short identifier: first 16 hex digits of the key's sha256.
    fingerprint: String,
    /// The id its signatures carry (wasmsign2's key id, hex): what a
    /// refused bundle's message names.
    key_id: String,
    /// The key in wasmsign2's raw encoding, hex.
    public_key: String,
    /// Milliseconds since the Unix epoch.
    added_at: i64,
}

/// The key id of a stored public key (hex of wasmsign2's encoding); empty
/// if the stored text does not decode.
fn key_id_of(public_key: &str) -> String {
    hex::decode(public_key)
        .ok()
        .and_then(|bytes| public_key_from_bytes(&bytes).ok())
        .map(|key| crate::pack::key_id_hex(&key))
        .unwrap_or_default()
}

/// A key to trust.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct TrustBody {
    name: String,
    /// The public key: PEM text, or the hex of its raw, DER or OpenSSH
    /// encoding.
    public_key: String,
}

pub(super) fn manager(state: &ApiState) -> Result<&PackManager, ApiError> {
    state.packs().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "this server was started without pack installation",
        )
    })
}

pub(super) fn lifecycle_error(error: LifecycleError) -> ApiError {
    match error {
        LifecycleError::Signature { .. } => ApiError::new(StatusCode::FORBIDDEN, error.to_string()),
        LifecycleError::NotInstalled(_) => ApiError::not_found(error.to_string()),
        LifecycleError::InUse { ref rules, .. } => {
            let rules = Value::from(rules.clone());
            ApiError::conflict(error.to_string()).with_detail(serde_json::json!({"rules": rules}))
        }
        LifecycleError::Read(e) => e.into(),
        LifecycleError::Write(e) => e.into(),
        other => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, other.to_string()),
    }
}

/// The bundle's manifest, read on a blocking thread; answers the bundle
/// back with it.
async fn read_manifest(
    bundle: Vec<u8>,
    origin: &str,
) -> Result<(Vec<u8>, crate::pack::Manifest), ApiError> {
    let origin = origin.to_owned();
    off_thread(move || {
        let manifest =
            Bundle::read(&bundle, &origin).map_err(|e| lifecycle_error(e.into()))?.manifest;
        Ok((bundle, manifest))
    })
    .await
}

/// Granting a pack capabilities (`exec`, outbound hosts, secrets, `kv`)
/// needs `capability_grant`, unless the grants are within what an operator
/// already granted the installed pack of that name (an upgrade that asks
/// for nothing new is pre-approved).
fn require_grant_power(
    state: &ApiState,
    caller: &Caller,
    name: &str,
    grants: &crate::runtime::Grants,
) -> Result<(), ApiError> {
    if grants.is_empty() || caller.allows(Permission::CapabilityGrant, None) {
        return Ok(());
    }
    let approved = state
        .engine()
        .store()
        .read()?
        .pack(name)?
        .and_then(|p| serde_json::from_value::<crate::runtime::Grants>(p.grants).ok());
    if approved.is_some_and(|approved| grants.within(&approved)) {
        return Ok(());
    }
    caller.require(Permission::CapabilityGrant, None)
}

/// Installs or upgrades a pack from a bundle (the request body, as
/// `application/wasm`). The signature is checked against the trust keyring
/// before anything is compiled. The body may be at most the server's
/// `--max-bundle-size` (64 MiB by default), and at most
/// `--max-concurrent-installs` (2) run at once.
#[utoipa::path(
    post,
    path = "/packs",
    operation_id = "install_pack",
    tag = "packs",
    params(InstallQuery),
    request_body(
        content = BundleBytes,
        content_type = "application/octet-stream",
        description = "The pack bundle (`application/wasm` is accepted too)"
    ),
    responses(
        (status = 201, description = "Installed or upgraded", body = InstalledView),
        (status = 400, description = "Malformed query parameters", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 403, description = "Unsigned (and not allowed by the server), tampered, corrupt or untrusted bundle, or grants the caller may not give", body = ErrorBody),
        (status = 413, description = "Bundle over the server's upload limit (`squall serve --max-bundle-size`)", body = ErrorBody),
        (status = 415, description = "Not application/wasm", body = ErrorBody),
        (status = 422, description = "Not a usable bundle (an impossible section length, a section over its cap, a manifest or rule that does not load), bad grants or config, or a config that does not fit", body = ErrorBody),
        (status = 503, description = "As many installs are in progress as the server takes at once (`squall serve --max-concurrent-installs`), or the store is closing; try again",
            body = ErrorBody,
            headers(("retry-after" = u32, description = "Seconds to wait, when installs are what is busy"))),
    ),
)]
pub(crate) async fn install(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<InstallQuery>, QueryRejection>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<(StatusCode, Json<InstalledView>), ApiError> {
    let content_type =
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !["application/wasm", "application/octet-stream"].contains(&content_type) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("expected a bundle as application/wasm, got `{content_type}`"),
        ));
    }
    let Query(query) = query?;
    manager(&state)?;
    let origin = query.origin.unwrap_or_else(|| "uploaded bundle".to_owned());
    let config: Value = match &query.config {
        Some(text) => {
            crate::limits::check(text, crate::limits::Format::Json)
                .map_err(|e| ApiError::invalid("config", format!("config: {e}")))?;
            serde_json::from_str(text)
                .map_err(|e| ApiError::invalid("config", format!("expected JSON: {e}")))?
        }
        None => Value::Null,
    };
    // Held until the install ends; taken before the body is read, so that
    // surplus uploads are refused without reading them.
    let _admitted = state.uploads().admit()?;
    let body = state.uploads().read(&headers, body).await?;
    let texts: Vec<String> = query
        .grants
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    let installed =
        install_bundle(&state, &caller, body, origin, &texts, query.allow_unsigned, config).await?;
    Ok((StatusCode::CREATED, Json(installed)))
}

/// Installs `bundle` with the grants `texts` (as `--grant` spells them):
/// the one install path, for an upload and a registry pull alike. The
/// caller holds an install permit.
pub(super) async fn install_bundle(
    state: &ApiState,
    caller: &Caller,
    mut body: Vec<u8>,
    origin: String,
    texts: &[String],
    allow_unsigned: bool,
    config: Value,
) -> Result<InstalledView, ApiError> {
    let manager = manager(state)?;
    // The grant `all` needs the request, and grants beyond the caller's
    // power the pack's name; reading the manifest is not compiling, and the
    // signature is still checked before anything runs.
    let mut manifest = None;
    if !texts.is_empty() {
        let (bundle, read) = read_manifest(body, &origin).await?;
        (body, manifest) = (bundle, Some(read));
    }
    let requested = match (&manifest, texts.iter().any(|t| t == "all")) {
        (Some(manifest), true) => manifest.capabilities.clone(),
        _ => Default::default(),
    };
    let grants =
        parse_grants(&requested, texts).map_err(|e| ApiError::invalid("grants", e.to_string()))?;
    let name = manifest.map(|m| m.name).unwrap_or_default();
    require_grant_power(state, caller, &name, &grants)?;
    if allow_unsigned && !state.policy().allow_unsigned {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this server does not accept unsigned bundles (the operator would start it with `squall serve --allow-unsigned`); sign the bundle with `squall pack sign`",
        ));
    }
    let installed = manager
        .install(InstallRequest {
            bundle: body,
            origin,
            grants,
            allow_unsigned: allow_unsigned && state.policy().allow_unsigned,
            config,
            actor: caller.actor(),
        })
        .await
        .map_err(lifecycle_error)?;
    let micros = |d: std::time::Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    Ok(InstalledView {
        name: installed.name,
        version: installed.version,
        previous: installed.previous,
        signer: installed.signer,
        sha256: installed.sha256,
        verify_us: micros(installed.verify),
        compile_us: micros(installed.compile),
    })
}

/// Removes a pack: its actions, sensors, trigger types and rules.
#[utoipa::path(
    delete,
    path = "/packs/{name}",
    operation_id = "remove_pack",
    tag = "packs",
    params(("name" = String, Path, description = "Pack name"), RemoveQuery),
    responses(
        (status = 200, description = "Removed", body = RemovedView),
        (status = 400, description = "The name is not UTF-8 once percent-decoded, or a malformed query", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 404, description = "No such pack", body = ErrorBody),
        (status = 409, description = "Other packs' rules use it", body = ErrorBody),
    ),
)]
pub(crate) async fn remove(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    query: Result<Query<RemoveQuery>, QueryRejection>,
) -> Result<Json<RemovedView>, ApiError> {
    let Query(query) = query?;
    let removed = manager(&state)?
        .remove(&name, query.force, &caller.actor())
        .await
        .map_err(lifecycle_error)?;
    Ok(Json(RemovedView {
        name: removed.name,
        version: removed.version,
        disabled_rules: removed.disabled_rules,
    }))
}

/// The trust keyring.
#[utoipa::path(
    get,
    path = "/trust",
    operation_id = "list_trusted_keys",
    tag = "packs",
    responses(
        (status = 200, description = "Trusted keys by name", body = [TrustedKeyView]),
        (status = 401, description = "No live API key", body = ErrorBody),
    ),
)]
pub(crate) async fn list_trust(
    State(state): State<ApiState>,
) -> Result<Json<Vec<TrustedKeyView>>, ApiError> {
    let keys = state.engine().store().read()?.trusted_keys()?;
    Ok(Json(
        keys.into_iter()
            .map(|k| TrustedKeyView {
                key_id: key_id_of(&k.public_key),
                name: k.name,
                fingerprint: k.fingerprint,
                public_key: k.public_key,
                added_at: k.added_at,
            })
            .collect(),
    ))
}

/// Trusts a public key to sign bundles, under a name.
#[utoipa::path(
    post,
    path = "/trust",
    operation_id = "add_trusted_key",
    tag = "packs",
    request_body = TrustBody,
    responses(
        (status = 201, description = "Trusted", body = TrustedKeyView),
        (status = 400, description = "Malformed JSON, or nested deeper than the limit (64 levels)", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 415, description = "Not JSON, or a charset other than UTF-8", body = ErrorBody),
        (status = 422, description = "Not a usable key or name", body = ErrorBody),
    ),
)]
pub(crate) async fn add_trust(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<TrustBody>,
) -> Result<(StatusCode, Json<TrustedKeyView>), ApiError> {
    let text = body.public_key.trim();
    let bytes = if text.starts_with("-----") || text.starts_with("ssh-") {
        text.as_bytes().to_vec()
    } else {
        hex::decode(text).map_err(|e| {
            ApiError::invalid("public_key", format!("expected PEM text or hex: {e}"))
        })?
    };
    let key = public_key_from_bytes(&bytes).map_err(|m| ApiError::invalid("public_key", m))?;
    let record =
        manager(&state)?.trust(&body.name, &key, &caller.actor()).await.map_err(|e| match e {
            LifecycleError::Key { .. } => ApiError::invalid("name", e.to_string()),
            other => lifecycle_error(other),
        })?;
    Ok((
        StatusCode::CREATED,
        Json(TrustedKeyView {
            key_id: key_id_of(&record.public_key),
            name: record.name,
            fingerprint: record.fingerprint,
            public_key: record.public_key,
            added_at: record.added_at,
        }),
    ))
}

/// Stops trusting a key. Packs it signed stay installed.
#[utoipa::path(
    delete,
    path = "/trust/{name}",
    operation_id = "remove_trusted_key",
    tag = "packs",
    params(("name" = String, Path, description = "The key's name")),
    responses(
        (status = 204, description = "No longer trusted"),
        (status = 400, description = "The name is not UTF-8 once percent-decoded", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 404, description = "No such key", body = ErrorBody),
    ),
)]
pub(crate) async fn remove_trust(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let removed =
        manager(&state)?.distrust(&name, &caller.actor()).await.map_err(lifecycle_error)?;
    if removed {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("trusted key `{name}` not found")))
    }
}
