//! `POST /packs/pull` and `GET /registries`: installing a pack from an OCI
//! registry by the server. The server fetches only from the registries the
//! operator named (`squall serve --registry HOST[:PORT]`), never from a
//! URL a client chose; the pull is `pack::registry`'s, the same as
//! `squall pack install`'s, and the install goes through the upload's
//! install path (`lifecycle::install_bundle`).

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::{ApiError, Body, ErrorBody, off_thread};
use super::lifecycle::{InstalledView, install_bundle, lifecycle_error, manager};
use super::state::ApiState;
use crate::pack::registry::{PackRef, RegistryClient, RegistryError, RegistryOptions};

/// The registries this server pulls packs from.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RegistriesView {
    /// `host[:port]` each, as the operator named them (`squall serve
    /// --registry`); empty when the server pulls from none.
    registries: Vec<String>,
}

/// A pack to pull from a registry.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PullBody {
    /// `name@version` (or `name` for its highest version) in `registry`,
    /// or a full reference `registry/repository:tag` (or `@sha256:…`).
    #[serde(rename = "ref")]
    #[schema(example = "core@1.0.0")]
    reference: String,
    /// One of the server's registries (`GET /registries`); may be left out
    /// when the server has exactly one, or when `ref` names it.
    #[serde(default)]
    registry: Option<String>,
    /// What to grant, as `squall pack install --grant` spells it: `all`,
    /// `kv`, `http=URL-PATTERN`, `secret=NAME`, `exec=/ABS/PATH`. None
    /// grants nothing. Ignored with `review`.
    #[serde(default)]
    grants: Vec<String>,
    /// Only pull and check the bundle, and answer what it requests,
    /// installing nothing (the default); `false` installs it.
    #[serde(default = "yes")]
    review: bool,
}

fn yes() -> bool {
    true
}

/// What a bundle in a registry is and asks for, checked as an install
/// would check it (its signature against the trusted keys first).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReviewView {
    name: String,
    version: String,
    description: Option<String>,
    /// The trusted key that signed it.
    signer: Option<String>,
    /// What the pack asks for, one `kind=value` per capability, as
    /// `grants` takes them.
    requested: Vec<String>,
    /// Where it came from: `registry/repository:tag@sha256:…`.
    origin: String,
    /// The sha256 of the bundle, hex.
    sha256: String,
}

/// The registries this server pulls packs from, for a client that may
/// install packs.
#[utoipa::path(
    get,
    path = "/registries",
    operation_id = "list_registries",
    tag = "packs",
    responses(
        (status = 200, description = "The registries the operator allows", body = RegistriesView),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 403, description = "The caller may not install packs", body = ErrorBody),
    ),
)]
pub(crate) async fn list_registries(State(state): State<ApiState>) -> Json<RegistriesView> {
    Json(RegistriesView { registries: state.registries().to_vec() })
}

/// Whether `a` and `b` name the same registry.
fn same(a: &str, b: &str) -> bool {
    a.trim().trim_end_matches('/').eq_ignore_ascii_case(b.trim().trim_end_matches('/'))
}

/// The reference to pull, once its registry is known to be allowed.
fn allowed_ref(state: &ApiState, body: &PullBody) -> Result<PackRef, ApiError> {
    let allowed = state.registries();
    if allowed.is_empty() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this server pulls packs from no registry: the operator names the registries it may use with `squall serve --registry HOST[:PORT]`; or upload the bundle (POST /packs)",
        ));
    }
    let listed = allowed.join(", ");
    let not_allowed = |registry: &str| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "registry `{registry}` is not one this server pulls from ({listed}; `squall serve --registry`)"
            ),
        )
    };
    let default = match &body.registry {
        Some(registry) => {
            let Some(found) = allowed.iter().find(|a| same(a, registry)) else {
                return Err(not_allowed(registry));
            };
            Some(found.clone())
        }
        None if allowed.len() == 1 => Some(allowed[0].clone()),
        None => None,
    };
    let pack_ref = PackRef::parse(body.reference.trim(), default.as_deref()).map_err(|e| {
        let hint = if default.is_none() {
            format!(" (name the registry: one of {listed})")
        } else {
            String::new()
        };
        ApiError::invalid("ref", format!("{e}{hint}"))
    })?;
    if !allowed.iter().any(|a| same(a, pack_ref.registry())) {
        return Err(not_allowed(pack_ref.registry()));
    }
    Ok(pack_ref)
}

/// A registry's failure as an answer: what is not there is 404, the rest
/// is the registry's fault (502).
fn registry_error(error: RegistryError) -> ApiError {
    match error {
        RegistryError::NotFound { .. } => ApiError::not_found(error.to_string()),
        RegistryError::Reference(e) => ApiError::invalid("ref", e.to_string()),
        other => ApiError::new(StatusCode::BAD_GATEWAY, other.to_string()),
    }
}

/// Pulls a pack bundle from one of the registries the operator allows
/// (`squall serve --registry`) and, with `review` (the default), checks it
/// as an install would — its signature against the trusted keys first —
/// and answers what it requests, installing nothing; with `review: false`
/// installs it with `grants` exactly as an upload (`POST /packs`) would.
/// Bundles must be signed. Plain HTTP is spoken only to loopback
/// registries, as `squall pack install` does.
#[utoipa::path(
    post,
    path = "/packs/pull",
    operation_id = "pull_pack",
    tag = "packs",
    request_body = PullBody,
    responses(
        (status = 200, description = "Review: what the bundle is and requests; nothing installed", body = ReviewView),
        (status = 201, description = "Installed or upgraded", body = InstalledView),
        (status = 400, description = "Malformed JSON, unknown fields, or nested deeper than the limit (64 levels)", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 403, description = "The server pulls from no registry (`squall serve --registry`) or not from that one; an unsigned, tampered or untrusted bundle; or grants the caller may not give", body = ErrorBody),
        (status = 404, description = "No such pack, tag or version in the registry", body = ErrorBody),
        (status = 413, description = "Body over the limit, or a bundle over the server's upload limit (`squall serve --max-bundle-size`)", body = ErrorBody),
        (status = 415, description = "Not JSON, or a charset other than UTF-8", body = ErrorBody),
        (status = 422, description = "A malformed reference, not a usable bundle, or bad grants", body = ErrorBody),
        (status = 502, description = "The registry could not be reached, refused, or sent something that is not a pack bundle", body = ErrorBody),
        (status = 503, description = "As many installs are in progress as the server takes at once (`squall serve --max-concurrent-installs`), the server was started without pack installation, or the store is closing; try again",
            body = ErrorBody,
            headers(("retry-after" = u32, description = "Seconds to wait, when installs are what is busy"))),
    ),
)]
pub(crate) async fn pull(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<PullBody>,
) -> Result<Response, ApiError> {
    let pack_ref = allowed_ref(&state, &body)?;
    manager(&state)?;
    let _admitted = state.uploads().admit()?;
    // Loopback registries are plain HTTP, every other one HTTPS: what
    // `squall pack install` does without `--insecure-registry`.
    let client = RegistryClient::new(RegistryOptions::default());
    let fetched = client.fetch(&pack_ref, &|_, _, _| {}).await.map_err(registry_error)?;
    state.uploads().check_size(fetched.bytes.len())?;
    if !body.review {
        let installed = install_bundle(
            &state,
            &caller,
            fetched.bytes,
            fetched.origin,
            &body.grants,
            false,
            Value::Null,
        )
        .await?;
        return Ok((StatusCode::CREATED, Json(installed)).into_response());
    }
    let checking = state.clone();
    let review = off_thread(move || {
        let manager = manager(&checking)?;
        let (signer, manifest) =
            manager.review(&fetched.bytes, &fetched.origin, false).map_err(lifecycle_error)?;
        Ok(ReviewView {
            requested: manifest.capabilities.describe(),
            description: Some(manifest.description).filter(|d| !d.is_empty()),
            name: manifest.name,
            version: manifest.version,
            signer,
            sha256: crate::pack::sha256_hex(&fetched.bytes),
            origin: fetched.origin,
        })
    })
    .await?;
    Ok(Json(review).into_response())
}
