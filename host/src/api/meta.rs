//! The API about itself: `GET /health` (no key needed), `GET /openapi.json`,
//! and the document's fixed parts (title, security schemes, tags).

use std::sync::LazyLock;

use axum::Json;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::{Modify, OpenApi, ToSchema};

use super::error::ErrorBody;

/// The document's fixed parts; the paths come from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Squall API",
        description = "Event-driven automation with sandboxed WebAssembly packs. \
            Every route but /api/v1/health and /auth/v1/tokens needs an API key \
            (`Authorization: Bearer KEY`, `St2-Api-Key: KEY` or `?st2-api-key=KEY`) \
            or a token from /auth/v1/tokens (`X-Auth-Token: TOKEN` or \
            `?x-auth-token=TOKEN`), and the permission the route names; a \
            refusal is 403 naming the missing permission. Errors answer \
            `{\"error\": \"...\", \"detail\": ...}`. Times are RFC 3339 (UTC).",
    ),
    modifiers(&SecuritySchemes),
    components(schemas(ErrorBody)),
    tags(
        (name = "meta", description = "Health, metrics and this document"),
        (name = "packs", description = "Installed packs and their actions"),
        (name = "executions", description = "Runs of actions"),
        (name = "rules", description = "StackStorm rules: trigger, criteria, action"),
        (name = "triggers", description = "Trigger types, trigger instances and sensors"),
        (name = "keys", description = "The key-value datastore"),
        (name = "webhooks", description = "Inbound webhooks"),
        (name = "stream", description = "Live events (Server-Sent Events)"),
        (name = "apikeys", description = "API keys"),
        (name = "auth", description = "Tokens (StackStorm's /auth/v1) and the signed-in user"),
        (name = "users", description = "Users and their roles"),
        (name = "rbac", description = "Roles and permission types (StackStorm's RBAC)"),
        (name = "ui", description = "The web UI's page shell and static assets (no credentials; the pages use this API)"),
    ),
)]
pub(crate) struct ApiDoc;

/// The security schemes, required on every operation unless it says
/// otherwise (health says none).
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "st2_api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("St2-Api-Key"))),
        );
        components.add_security_scheme(
            "query_api_key",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::new("st2-api-key"))),
        );
        components.add_security_scheme(
            "x_auth_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Auth-Token"))),
        );
        components.add_security_scheme(
            "query_auth_token",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::new("x-auth-token"))),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
        doc.security = Some(vec![
            SecurityRequirement::new("bearer", Vec::<String>::new()),
            SecurityRequirement::new("st2_api_key", Vec::<String>::new()),
            SecurityRequirement::new("x_auth_token", Vec::<String>::new()),
        ]);
    }
}

/// The health answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// Always `ok` when the server answers.
    #[schema(example = "ok")]
    status: &'static str,
}

/// Whether the server answers; needs no key.
#[utoipa::path(
    get,
    path = "/health",
    operation_id = "health",
    tag = "meta",
    security(()),
    responses((status = 200, description = "The server is up", body = Health)),
)]
pub(crate) async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// What `GET /api/v1/` answers, as StackStorm's root does.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Root {
    /// Squall's version (StackStorm answers its own).
    #[schema(example = "0.1.0")]
    version: &'static str,
    /// Where the API is described: this server's OpenAPI document.
    #[schema(example = "/api/v1/openapi.json")]
    docs_url: &'static str,
}

/// General API information, as StackStorm's root answers: the version and
/// where the documentation is. Any signed-in user may ask.
#[utoipa::path(
    get,
    path = "/api/v1",
    operation_id = "root",
    tag = "meta",
    responses(
        (status = 200, description = "The version and where the documentation is", body = Root),
        (status = 401, description = "No live API key or token", body = ErrorBody),
    ),
)]
pub(crate) async fn root() -> Json<Root> {
    Json(Root { version: env!("CARGO_PKG_VERSION"), docs_url: "/api/v1/openapi.json" })
}

static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    super::openapi().to_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
});

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "get_openapi_document",
    tag = "meta",
    responses(
        (status = 200, description = "The OpenAPI 3 document", body = Object, content_type = "application/json"),
        (status = 401, description = "No live API key", body = ErrorBody),
    ),
)]
pub(crate) async fn openapi_json() -> Response {
    let mut response = DOCUMENT.clone().into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
