//! The HTTP API: the axum router under `/api/v1`, `/auth/v1` and `/stream/v1` (resource
//! names as in StackStorm's API), authentication by API key or token,
//! authorization by the one permission table (`permissions.rs`), webhooks,
//! the live event stream, Prometheus metrics, the OpenAPI document
//! generated from the handlers, and the web UI's static files (`ui.rs`).
//! Only this module knows HTTP; it drives the engine and reads the store.
//!
//! [`router`] is a pure function of an [`ApiState`]: tests call it with
//! `tower::ServiceExt::oneshot`; [`serve`] runs it on a listener for
//! `squall serve`.
//! Every route is declared once, with its OpenAPI description, through
//! `utoipa_axum::routes!`, so the router and [`openapi`] cannot disagree.

mod alias_execution;
mod aliases;
mod apikeys;
mod audit;
mod auth;
mod chat_notify;
mod chat_platforms;
mod configs;
mod connection;
mod document;
mod enforcements;
mod error;
mod execution_view;
mod executions;
mod inquiries;
mod keys;
mod lifecycle;
mod listen;
mod meta;
mod metrics;
mod packs;
mod page;
mod permissions;
mod pull;
mod roles;
mod rules;
mod runners;
mod state;
mod stream;
mod tokens;
mod triggers;
mod ui;
mod upload;
mod users;
mod webhooks;
mod workflows;

use std::any::Any;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use tower::ServiceExt as _;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::classify::StatusInRangeAsFailures;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi as _;
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::router::UtoipaMethodRouterExt as _;
use utoipa_axum::routes;

pub use auth::{
    Caller, Credential, KEY_PREFIX, TOKEN_PREFIX, create_api_key, generate_key, hash_key,
};
pub use error::{ApiError, ErrorBody};
pub use listen::{
    ConnectionLimits, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    RESERVED_FILES,
};
pub use permissions::{Need, ROUTES, need_of};
pub use state::{AccessPolicy, ApiState, DEFAULT_TOKEN_TTL};
pub use upload::{DEFAULT_MAX_BUNDLE_BYTES, DEFAULT_MAX_CONCURRENT_INSTALLS, InstallLimits};

/// Where the versioned API lives.
pub const API_PREFIX: &str = "/api/v1";
/// Where StackStorm's auth API lives.
pub const AUTH_PREFIX: &str = "/auth/v1";
/// Largest request body, except webhooks.
pub const BODY_LIMIT: usize = 1 << 20;
/// Largest webhook body.
pub const WEBHOOK_BODY_LIMIT: usize = 4 << 20;

pub(crate) const WEBHOOKS_PREFIX: &str = "/api/v1/webhooks/";

/// The API as an axum router, ready to serve: every route passes the
/// authorization middleware, which applies what the permission table says
/// (only `/api/v1/health`, signing in and the web UI's static files need
/// no credentials).
///
/// A path answers with and without a trailing slash (StackStorm's clients
/// ask for `/rules/`, `/keys/?scope=all`): [`trim_trailing_slash`] rewrites
/// the request before the routes see it, so every route has one spelling.
pub fn router(state: ApiState) -> Router {
    let routes =
        routes().route_layer(middleware::from_fn_with_state(state.clone(), auth::authorize));
    let (router, _) = routes.split_for_parts();
    let router = router
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(CatchPanicLayer::custom(answer_panic))
        .layer(middleware::from_fn_with_state(state.clone(), metrics::track))
        // Refusals that pass by themselves (503 busy or recovering, 507 disk
        // full) are answered and counted, not logged one by one: a full disk
        // would otherwise flood the log, often on the same disk.
        .layer(
            TraceLayer::new(StatusInRangeAsFailures::new(500..=502).into_make_classifier())
                .make_span_with(span),
        )
        .with_state(state);
    Router::new().fallback_service(router.map_request(trim_trailing_slash))
}

/// The request with its path's trailing slashes removed (`/api/v1/rules/`
/// is `/api/v1/rules`, `/api/v1/` is `/api/v1`); the query is kept. A
/// webhook's name is left as it is (a rule's `url` may end in `/`).
fn trim_trailing_slash(mut request: Request) -> Request {
    let uri = request.uri();
    let path = uri.path();
    let trimmed = path.trim_end_matches('/');
    if trimmed.len() == path.len()
        || trimmed.is_empty()
        || (path.starts_with(WEBHOOKS_PREFIX) && trimmed.len() >= WEBHOOKS_PREFIX.len())
    {
        return request;
    }
    let path_and_query = match uri.query() {
        Some(query) => format!("{trimmed}?{query}"),
        None => trimmed.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    match path_and_query.parse() {
        Ok(path_and_query) => parts.path_and_query = Some(path_and_query),
        Err(_) => return request,
    }
    if let Ok(uri) = Uri::from_parts(parts) {
        *request.uri_mut() = uri;
    }
    request
}

/// Serves [`router`] on `listener` within `limits` until `stop` completes,
/// then ends the open event streams, closes idle connections and lets the
/// requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    limits: ConnectionLimits,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let streams = state.clone();
    let stop = async move {
        stop.await;
        streams.close_streams();
    };
    listen::run(listener, router(state), limits, stop).await
}

/// The OpenAPI 3 document of every route [`router`] serves.
pub fn openapi() -> OpenApi {
    let mut doc =
        OpenApiRouter::with_openapi(meta::ApiDoc::openapi()).merge(routes()).into_openapi();
    // axum spells a rest-of-path parameter `{*name}`, OpenAPI `{name}`.
    doc.paths.paths = std::mem::take(&mut doc.paths.paths)
        .into_iter()
        .map(|(path, item)| (path.replace("{*", "{"), item))
        .collect();
    add_common_responses(&mut doc);
    doc
}

/// Documents, on every operation, the answers that do not depend on the
/// route: 500 when something inside the server failed (logged in full,
/// answered without internals), and on operations that write (every one
/// but `GET`) 503 when the store no longer takes writes.
fn add_common_responses(doc: &mut OpenApi) {
    let error = |description: &str| {
        let body = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content("application/json", body)
                .build(),
        )
    };
    let internal = error("Internal error; the server log has the cause");
    let closing = error("The store is closing and takes no more writes; try again");
    let forbidden =
        error("The caller lacks the permission this route needs; `detail.permission` names it");
    let malformed =
        error("A path parameter is malformed (not a UUID, or not UTF-8 once percent-decoded)");
    for (path, item) in doc.paths.paths.iter_mut() {
        // Only health, signing in and the web UI's static files need no
        // permission.
        let guarded =
            !["/api/v1/health", "/auth/v1/tokens", "/", "/ui/{path}"].contains(&path.as_str());
        let writes = [&mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for (operation, writes) in std::iter::once((&mut item.get, false))
            .chain(writes.into_iter().map(|operation| (operation, true)))
        {
            let Some(operation) = operation else { continue };
            let responses = &mut operation.responses.responses;
            responses.entry("500".to_owned()).or_insert_with(|| internal.clone());
            if guarded {
                responses.entry("403".to_owned()).or_insert_with(|| forbidden.clone());
            }
            if path.contains('{') {
                responses.entry("400".to_owned()).or_insert_with(|| malformed.clone());
            }
            if writes {
                responses.entry("503".to_owned()).or_insert_with(|| closing.clone());
            }
        }
    }
}

/// Every route, declared with its documentation; what each needs is in
/// `permissions::ROUTES`.
fn routes() -> OpenApiRouter<ApiState> {
    let v1 = OpenApiRouter::new()
        .routes(routes!(meta::health))
        .routes(routes!(tokens::whoami))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::get, users::delete))
        .routes(routes!(users::set_password))
        .routes(routes!(users::set_roles))
        .routes(routes!(users::assign, users::revoke))
        .routes(routes!(roles::list))
        .routes(routes!(roles::get, roles::put, roles::delete))
        .routes(routes!(roles::assignments))
        .routes(routes!(roles::permission_types))
        .routes(routes!(meta::openapi_json))
        // `install` counts the body against `--max-bundle-size` itself,
        // while it arrives.
        .routes(routes!(packs::list_packs, lifecycle::install).layer(DefaultBodyLimit::disable()))
        .routes(routes!(packs::get_pack, lifecycle::remove))
        .routes(routes!(configs::list))
        .routes(routes!(configs::get, configs::put))
        .routes(routes!(configs::list_schemas))
        .routes(routes!(configs::get_schema))
        .routes(routes!(pull::pull))
        .routes(routes!(pull::list_registries))
        .routes(routes!(lifecycle::list_trust, lifecycle::add_trust))
        .routes(routes!(lifecycle::remove_trust))
        .routes(routes!(packs::list_actions))
        .routes(routes!(packs::get_action))
        .routes(routes!(runners::list))
        .routes(routes!(runners::get))
        .routes(routes!(executions::list, executions::create))
        .routes(routes!(executions::get, executions::cancel))
        .routes(routes!(executions::output))
        .routes(routes!(executions::re_run))
        .routes(routes!(workflows::pause))
        .routes(routes!(workflows::resume))
        .routes(routes!(inquiries::list))
        .routes(routes!(inquiries::get, inquiries::respond))
        .routes(routes!(rules::list, rules::create))
        .routes(routes!(rules::get, rules::replace, rules::delete))
        .routes(routes!(rules::enable))
        .routes(routes!(enforcements::list))
        .routes(routes!(rules::disable))
        .routes(routes!(triggers::list_types))
        .routes(routes!(triggers::get_type))
        .routes(routes!(triggers::list_instances))
        .routes(routes!(triggers::get_instance))
        .routes(routes!(triggers::re_emit))
        .routes(routes!(triggers::list_sensors))
        .routes(routes!(triggers::list_sensor_types))
        .routes(routes!(keys::list))
        .routes(routes!(keys::get, keys::put, keys::delete))
        .routes(routes!(webhooks::list))
        .routes(routes!(webhooks::receive).layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT)))
        .routes(routes!(stream::stream))
        .routes(routes!(apikeys::list, apikeys::create))
        .routes(routes!(apikeys::revoke))
        .routes(routes!(audit::list))
        .routes(routes!(aliases::list, aliases::create))
        .routes(routes!(aliases::help))
        .routes(routes!(aliases::match_command))
        .routes(routes!(aliases::get, aliases::replace, aliases::delete))
        .routes(routes!(alias_execution::execute))
        .routes(routes!(alias_execution::match_and_execute))
        .routes(routes!(chat_platforms::slack))
        .routes(routes!(chat_platforms::mattermost));
    let auth = OpenApiRouter::new()
        .routes(routes!(tokens::create))
        .routes(routes!(tokens::validate))
        .routes(routes!(tokens::revoke));
    OpenApiRouter::new()
        .routes(routes!(meta::root))
        // The web UI's page shell and assets: static, public (`ui.rs`).
        .routes(routes!(ui::home))
        .routes(routes!(ui::page_or_asset))
        .nest(API_PREFIX, v1)
        .nest(AUTH_PREFIX, auth)
        .routes(routes!(metrics::render))
        .routes(routes!(stream::st2_stream))
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// The answer to a handler that panicked (the router's catch-panic layer
/// uses it): the panic is logged, the client gets a 500 without internals.
pub fn answer_panic(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    ApiError::internal(format!("a request handler panicked: {message}")).into_response()
}

/// The request span: method and route template, never the URI (a webhook's
/// query may carry its API key).
fn span(request: &Request) -> tracing::Span {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
    tracing::info_span!("http", method = %request.method(), route)
}
