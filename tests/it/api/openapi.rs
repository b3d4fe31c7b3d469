//! The OpenAPI document: it lists exactly the routes the API serves (each
//! documented route is mounted, and paths or methods it does not list are
//! not), with their security, tags and responses.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::Value;

use super::{Api, json_body};

/// The API as the brief asks for it: `METHOD path`.
const EXPECTED: &[&str] = &[
    "DELETE /api/v1/actionalias/{ref_or_id}",
    "DELETE /api/v1/apikeys/{id}",
    "DELETE /api/v1/executions/{id}",
    "DELETE /api/v1/keys/{name}",
    "DELETE /api/v1/packs/{name}",
    "DELETE /api/v1/rbac/roles/{name}",
    "DELETE /api/v1/rules/{ref}",
    "DELETE /api/v1/trust/{name}",
    "DELETE /api/v1/users/{name}",
    "DELETE /api/v1/users/{name}/roles/{role}",
    "DELETE /auth/v1/tokens/{id}",
    "GET /",
    "GET /api/v1",
    "GET /api/v1/actionalias",
    "GET /api/v1/actionalias/help",
    "GET /api/v1/actionalias/{ref_or_id}",
    "GET /api/v1/actions",
    "GET /api/v1/actions/{ref}",
    "GET /api/v1/apikeys",
    "GET /api/v1/audit",
    "GET /api/v1/config_schemas",
    "GET /api/v1/config_schemas/{pack_ref}",
    "GET /api/v1/configs",
    "GET /api/v1/configs/{pack_ref}",
    "GET /api/v1/executions",
    "GET /api/v1/executions/{id}",
    "GET /api/v1/executions/{id}/output",
    "GET /api/v1/health",
    "GET /api/v1/inquiries",
    "GET /api/v1/inquiries/{id}",
    "GET /api/v1/keys",
    "GET /api/v1/keys/{name}",
    "GET /api/v1/openapi.json",
    "GET /api/v1/packs",
    "GET /api/v1/packs/{name}",
    "GET /api/v1/rbac/permission_types",
    "GET /api/v1/rbac/role_assignments",
    "GET /api/v1/rbac/roles",
    "GET /api/v1/rbac/roles/{name}",
    "GET /api/v1/registries",
    "GET /api/v1/ruleenforcements",
    "GET /api/v1/rules",
    "GET /api/v1/rules/{ref}",
    "GET /api/v1/runnertypes",
    "GET /api/v1/runnertypes/{name}",
    "GET /api/v1/sensors",
    "GET /api/v1/sensortypes",
    "GET /api/v1/stream",
    "GET /api/v1/triggerinstances",
    "GET /api/v1/triggerinstances/{id}",
    "GET /api/v1/triggertypes",
    "GET /api/v1/triggertypes/{name}",
    "GET /api/v1/trust",
    "GET /api/v1/user",
    "GET /api/v1/users",
    "GET /api/v1/users/{name}",
    "GET /api/v1/webhooks",
    "GET /metrics",
    "GET /stream/v1/stream",
    "GET /ui/{path}",
    "POST /api/v1/actionalias",
    "POST /api/v1/actionalias/match",
    "POST /api/v1/aliasexecution",
    "POST /api/v1/aliasexecution/match_and_execute",
    "POST /api/v1/apikeys",
    "POST /api/v1/chatops/mattermost",
    "POST /api/v1/chatops/slack",
    "POST /api/v1/executions",
    "POST /api/v1/executions/{id}/pause",
    "POST /api/v1/executions/{id}/re_run",
    "POST /api/v1/executions/{id}/resume",
    "POST /api/v1/packs",
    "POST /api/v1/packs/pull",
    "POST /api/v1/rules",
    "POST /api/v1/rules/{ref}/disable",
    "POST /api/v1/rules/{ref}/enable",
    "POST /api/v1/triggerinstances/{id}/re_emit",
    "POST /api/v1/trust",
    "POST /api/v1/users",
    "POST /api/v1/webhooks/{name}",
    "POST /auth/v1/tokens",
    "POST /auth/v1/tokens/validate",
    "PUT /api/v1/actionalias/{ref_or_id}",
    "PUT /api/v1/configs/{pack_ref}",
    "PUT /api/v1/inquiries/{id}",
    "PUT /api/v1/keys/{name}",
    "PUT /api/v1/rbac/roles/{name}",
    "PUT /api/v1/rules/{ref}",
    "PUT /api/v1/users/{name}/password",
    "PUT /api/v1/users/{name}/roles",
    "PUT /api/v1/users/{name}/roles/{role}",
];

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Every `(METHOD, path, operation)` the document lists.
pub(crate) fn operations(doc: &Value) -> Vec<(Method, String, Value)> {
    let paths = doc["paths"].as_object().expect("paths");
    let mut found = Vec::new();
    for (path, item) in paths {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
                found.push((method, path.clone(), operation.clone()));
            }
        }
    }
    found
}

/// A concrete path for a documented one: ids as UUIDs, webhook names
/// with a `/` in them, other parameters as words.
pub(crate) fn concrete(path: &str) -> String {
    path.replace("{id}", "00000000-0000-7000-8000-000000000000")
        .replace("webhooks/{name}", "webhooks/some/hook")
        .replace("{name}", "some_name")
        .replace("{role}", "some_role")
        .replace("{ref}", "some.ref")
        .replace("{pack_ref}", "some_pack")
        .replace("/ui/{path}", "/ui/executions")
}

pub(crate) async fn document(api: &Api) -> Value {
    api.get("/api/v1/openapi.json").await
}

#[tokio::test]
async fn the_document_lists_exactly_the_routes_the_brief_asks_for() {
    let api = Api::start().await;
    let doc = document(&api).await;
    assert_eq!(doc, serde_json::to_value(squall::api::openapi()).expect("serialises"));
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", doc["openapi"]);
    let mut listed: Vec<String> =
        operations(&doc).iter().map(|(method, path, _)| format!("{method} {path}")).collect();
    listed.sort();
    assert_eq!(listed, EXPECTED);
}

#[tokio::test]
async fn every_documented_route_is_mounted_and_nothing_else_is() {
    let api = Api::start().await;
    let doc = document(&api).await;
    for (method, path, _) in operations(&doc) {
        // Without a key a mounted route answers 401 (health: 200); the
        // router's fallback would answer 404.
        let request =
            Request::builder().method(method.clone()).uri(concrete(&path)).body(Body::empty());
        let response = api.send(request.expect("request")).await;
        let expected = match path.as_str() {
            // Health and the web UI's page shell need no credentials.
            "/api/v1/health" | "/" | "/ui/{path}" => StatusCode::OK,
            // Chat platforms sign their requests; without settings: 404.
            p if p.starts_with("/api/v1/chatops/") => StatusCode::NOT_FOUND,
            _ => StatusCode::UNAUTHORIZED,
        };
        assert_eq!(response.status(), expected, "{method} {path}");
    }
    for path in ["/api/v1/nope", "/api/v1/packs/core/extra", "/api/v2/packs", "/health"] {
        let (status, body) = api.call(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "GET {path}");
        assert_eq!(body["error"], format!("no route for GET {path}"));
    }
    // A documented path with a method it does not list.
    for (method, path) in [
        (Method::PATCH, "/api/v1/packs"),
        (Method::DELETE, "/api/v1/actions/core.echo"),
        (Method::GET, "/api/v1/webhooks/hello"),
    ] {
        let (status, body) = api.call(method.clone(), path, None).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}: {body}");
        assert_eq!(body["error"], format!("{method} is not allowed on {path}"));
    }
}

#[tokio::test]
async fn the_document_describes_security_tags_and_responses() {
    let api = Api::start().await;
    let doc = document(&api).await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["st2_api_key"]["in"], "header");
    assert_eq!(schemes["st2_api_key"]["name"], "St2-Api-Key");
    assert_eq!(schemes["query_api_key"]["in"], "query");
    let global: Vec<String> = doc["security"]
        .as_array()
        .expect("global security")
        .iter()
        .flat_map(|r| r.as_object().expect("requirement").keys().cloned())
        .collect();
    assert_eq!(global, ["bearer", "st2_api_key", "x_auth_token"]);
    for (method, path, operation) in operations(&doc) {
        let at = format!("{method} {path}");
        assert!(operation["tags"].as_array().is_some_and(|t| !t.is_empty()), "{at}: no tag");
        let responses = operation["responses"].as_object().expect("responses");
        assert!(responses.keys().any(|code| code.starts_with('2')), "{at}: no success response");
        if ["/api/v1/health", "/", "/ui/{path}"].contains(&path.as_str()) {
            // An empty requirement: no key needed.
            assert_eq!(operation["security"], serde_json::json!([{}]), "{at}");
        } else {
            assert!(responses.contains_key("401"), "{at}: 401 not documented");
        }
    }
    let webhook = &doc["paths"]["/api/v1/webhooks/{name}"]["post"];
    assert!(webhook["security"].to_string().contains("query_api_key"), "{webhook}");
    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(error["required"], serde_json::json!(["error"]));
    // Served as JSON.
    let request = api.authed(Method::GET, "/api/v1/openapi.json").body(Body::empty());
    let response = api.send(request.expect("request")).await;
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(json_body(response).await, doc);
}

#[tokio::test]
async fn every_operation_has_its_own_id_and_documents_the_answers_any_request_may_get() {
    let api = Api::start().await;
    let doc = document(&api).await;
    let mut ids = Vec::new();
    for (method, path, operation) in operations(&doc) {
        let at = format!("{method} {path}");
        // Clients (and schemathesis' links) find operations by id.
        let id = operation["operationId"].as_str().unwrap_or_else(|| panic!("{at}: no id"));
        ids.push(id.to_owned());
        let responses = operation["responses"].as_object().expect("responses");
        assert!(responses.contains_key("500"), "{at}: 500 not documented");
        assert_eq!(responses.contains_key("503"), method != Method::GET, "{at}: 503");
        // A path parameter that is not a UUID, or not UTF-8, is a 400.
        if path.contains('{') {
            assert!(responses.contains_key("400"), "{at}: 400 not documented");
        }
        // A JSON body without its content type, or over the limit.
        let body = &operation["requestBody"]["content"];
        if body.get("application/json").is_some() && path != "/api/v1/webhooks/{name}" {
            for status in ["413", "415"] {
                assert!(responses.contains_key(status), "{at}: {status} not documented");
            }
        }
    }
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count, "operation ids are not unique: {ids:?}");
}
