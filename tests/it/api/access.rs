//! Access control through the router: the permission table covers every
//! route; each system role gets exactly what StackStorm gives it on every
//! route; the attack of a key that could do everything fails; tokens are
//! issued, used, expire and are revoked; StackStorm role and assignment
//! files give the decisions their fixture expects; a revoked key's open
//! stream ends.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use squall::access::{Permission, parse_assignment};
use squall::api::{AccessPolicy, Need, ROUTES};

use super::openapi::{document, operations};
use super::{Api, HELLO_RULE, json_body};

/// The router's paths as the table spells them (`{*name}` for the
/// webhook's rest-of-path parameter, `{*path}` for the web UI's).
fn table_path(documented: &str) -> String {
    documented.replace("/webhooks/{name}", "/webhooks/{*name}").replace("/ui/{path}", "/ui/{*path}")
}

#[tokio::test]
async fn the_permission_table_has_exactly_one_entry_per_route() {
    let api = Api::start().await;
    let doc = document(&api).await;
    let routed: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(method, path, _)| (method.to_string(), table_path(&path)))
        .collect();
    let table: Vec<(String, String)> =
        ROUTES.iter().map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned())).collect();
    let unique: BTreeSet<(String, String)> = table.iter().cloned().collect();
    assert_eq!(unique.len(), table.len(), "a route is in the table twice");
    let missing: Vec<_> = routed.difference(&unique).collect();
    let stale: Vec<_> = unique.difference(&routed).collect();
    assert!(missing.is_empty(), "routes without a permission: {missing:?}");
    assert!(stale.is_empty(), "table entries without a route: {stale:?}");
    // Only health, the web UI's static files, signing in and the chat
    // platforms (which check the platform's signature instead) are open.
    let open: Vec<&str> =
        ROUTES.iter().filter(|(_, _, need)| *need == Need::Open).map(|(_, p, _)| *p).collect();
    assert_eq!(
        open,
        [
            "/api/v1/health",
            "/",
            "/ui/{*path}",
            "/auth/v1/tokens",
            "/api/v1/chatops/slack",
            "/api/v1/chatops/mattermost"
        ]
    );
}

/// An action alias for `core.echo`.
const SAY_ALIAS: &str =
    "name: say\npack: tests\naction_ref: core.echo\nformats: ['say {{message}}']\n";

/// Real resources for every path parameter, so that a refusal is the
/// permission's and not a 404's.
struct Fixture {
    execution: String,
    instance: String,
    token: String,
    admin_key_id: String,
}

async fn fixture(api: &Api) -> Fixture {
    api.add_rule(HELLO_RULE).await;
    let (status, body) =
        api.call(Method::POST, "/api/v1/webhooks/hello", Some(json!({"name": "x"}))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let execution = body["executions"][0].as_str().expect("execution").to_owned();
    let instance = body["trigger_instances"][0].as_str().expect("instance").to_owned();
    api.finished(&execution).await;
    let (status, _) =
        api.call(Method::PUT, "/api/v1/keys/colour", Some(json!({"value": "blue"}))).await;
    assert_eq!(status, StatusCode::OK);
    super::add_user(api.engine.store(), "target", &[], Some("target-password")).await;
    let role = "name: helpers\npermission_grants:\n  - permission_types: [action_list]\n";
    let (status, body) =
        api.call_as(&api.key, Method::PUT, "/api/v1/rbac/roles/helpers", Some(json!(role))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = token(api, "target", "target-password", None).await;
    let token = token["id"].as_str().expect("token id").to_owned();
    let keys = api.get("/api/v1/apikeys").await;
    let admin_key_id = keys[0]["id"].as_str().expect("id").to_owned();
    let (status, body) =
        api.call(Method::POST, "/api/v1/actionalias", Some(json!(SAY_ALIAS))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    Fixture { execution, instance, token, admin_key_id }
}

fn concrete(path: &str, f: &Fixture) -> String {
    path.replace("/executions/{id}", &format!("/executions/{}", f.execution))
        .replace("/triggerinstances/{id}", &format!("/triggerinstances/{}", f.instance))
        .replace("/inquiries/{id}", "/inquiries/00000000-0000-7000-8000-000000000000")
        .replace("/tokens/{id}", &format!("/tokens/{}", f.token))
        .replace("/apikeys/{id}", &format!("/apikeys/{}", f.admin_key_id))
        .replace("/packs/{name}", "/packs/core")
        .replace("{pack_ref}", "core")
        .replace("/trust/{name}", "/trust/nobody")
        .replace("/actions/{ref}", "/actions/core.echo")
        .replace("/rules/{ref}", "/rules/tests.hello")
        .replace("/actionalias/{ref_or_id}", "/actionalias/tests.say")
        .replace("/triggertypes/{name}", "/triggertypes/core.st2.webhook")
        .replace("/keys/{name}", "/keys/colour")
        .replace("/webhooks/{*name}", "/webhooks/hello")
        .replace("/users/{name}", "/users/target")
        .replace("/roles/{role}", "/roles/helpers")
        .replace("/rbac/roles/{name}", "/rbac/roles/helpers")
        .replace("/ui/{*path}", "/ui/executions")
}

/// A body each route accepts, so that the answer is about permission.
fn body_for(method: &str, path: &str) -> Option<Value> {
    let body = match (method, path) {
        ("POST", "/api/v1/executions") => {
            json!({"action": "core.echo", "parameters": {"message": "m"}})
        }
        ("POST", "/api/v1/rules") => json!(HELLO_RULE.replace("name: hello", "name: hello2")),
        ("PUT", "/api/v1/rules/{ref}") => json!(HELLO_RULE),
        ("POST", "/api/v1/actionalias") => json!(SAY_ALIAS.replace("name: say", "name: say2")),
        ("PUT", "/api/v1/actionalias/{ref_or_id}") => json!(SAY_ALIAS),
        ("POST", "/api/v1/actionalias/match") => json!({"command": "say hi"}),
        ("POST", "/api/v1/aliasexecution/match_and_execute") => {
            json!({"command": "say hi", "source_channel": "c"})
        }
        ("POST", "/api/v1/aliasexecution") => json!({
            "name": "say", "format": "say {{message}}", "command": "say hi", "source_channel": "c"
        }),
        ("PUT", "/api/v1/keys/{name}") => json!({"value": "red"}),
        ("POST", "/api/v1/webhooks/{*name}") => json!({"name": "y"}),
        ("POST", "/api/v1/apikeys") => json!({"name": "more"}),
        ("POST", "/api/v1/trust") => json!({"name": "k", "public_key": "00"}),
        ("PUT", "/api/v1/inquiries/{id}") => json!({"response": {}}),
        ("POST", "/api/v1/users") => json!({"name": "newcomer"}),
        ("PUT", "/api/v1/users/{name}/password") => json!({"password": "a-new-password"}),
        ("PUT", "/api/v1/users/{name}/roles") => json!({"roles": []}),
        ("PUT", "/api/v1/rbac/roles/{name}") => {
            json!("name: helpers\npermission_grants:\n  - permission_types: [rule_list]\n")
        }
        ("POST", "/auth/v1/tokens/validate") => json!({"token": "sqt_x"}),
        _ => return None,
    };
    Some(body)
}

/// Sends one request as `key`; the status, and the body unless it is the
/// endless event stream or not JSON.
async fn attempt(
    api: &Api,
    key: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let method = Method::from_bytes(method.as_bytes()).expect("method");
    // The endless stream, metrics' text and the web UI's HTML are not JSON.
    if path.ends_with("/stream") || path == "/metrics" || path == "/" || path.starts_with("/ui/") {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .body(Body::empty())
            .expect("request");
        let response = api.send(request).await;
        let status = response.status();
        let body = if status.is_success() { Value::Null } else { json_body(response).await };
        return (status, body);
    }
    api.call_as(key, method, path, body).await
}

/// Whether a system role (or none) is expected to hold what a route needs.
fn expected_allowed(role: Option<&str>, need: Need) -> bool {
    let permission = match need {
        Need::Open | Need::Authenticated => return true,
        Need::Global(p) | Need::OnResource(p) => p,
    };
    match role {
        Some("system_admin" | "admin") => true,
        Some("observer") => permission.is_read(),
        _ => false,
    }
}

#[tokio::test]
async fn every_route_under_every_system_role() {
    for role in [Some("system_admin"), Some("admin"), Some("observer"), None] {
        // A fresh server per role: what an admin changes does not leak
        // into the next role's answers.
        let api = Api::start().await;
        let f = fixture(&api).await;
        let roles: Vec<&str> = role.into_iter().collect();
        let key = api.key_for("subject", &roles, &[]).await;
        let mut refusals = 0;
        for (method, path, need) in ROUTES {
            if *path == "/auth/v1/tokens" || path.starts_with("/api/v1/chatops/") {
                continue; // a password or a platform's signature, not a key: tested elsewhere
            }
            let uri = concrete(path, &f);
            let (status, body) = attempt(&api, &key, method, &uri, body_for(method, path)).await;
            let who = role.unwrap_or("no role");
            assert_ne!(status, StatusCode::UNAUTHORIZED, "{who}: {method} {uri}: {body}");
            if expected_allowed(role, *need) {
                assert_ne!(status, StatusCode::FORBIDDEN, "{who}: {method} {uri}: {body}");
            } else {
                refusals += 1;
                assert_eq!(status, StatusCode::FORBIDDEN, "{who}: {method} {uri}: {body}");
                let (Need::Global(p) | Need::OnResource(p)) = need else { unreachable!() };
                assert_eq!(
                    body["detail"]["permission"],
                    p.as_str(),
                    "{who}: {method} {uri}: {body}"
                );
                assert!(body["error"].as_str().is_some_and(|e| e.contains(p.as_str())), "{body}");
            }
        }
        let expected = ROUTES
            .iter()
            .filter(|(_, p, n)| *p != "/auth/v1/tokens" && !expected_allowed(role, *n))
            .count();
        assert_eq!(refusals, expected);
        if role == Some("observer") {
            assert!(refusals > 25, "the observer was refused only {refusals} routes");
        }
    }
}

/// A signed bundle of the core component under another name, asking for
/// `exec` of /bin/sh (`sign`: with a fresh key the server trusts).
async fn demo_bundle(api: &Api, sign: bool) -> Vec<u8> {
    let manifest = std::fs::read_to_string(squall_tests::CORE_MANIFEST)
        .expect("core manifest")
        .replacen("name = \"core\"", "name = \"demo\"", 1)
        + "\n[capabilities]\nexec = [\"/bin/sh\"]\n";
    let files = squall::pack::BundleFiles { manifest, ..Default::default() };
    let component = std::fs::read(squall_tests::CORE_PACK).expect("core component");
    let bundle = squall::pack::assemble(&component, &files, "demo.wasm").expect("assemble");
    if !sign {
        return bundle;
    }
    let (secret, public) = squall::pack::generate();
    let (status, body) = api
        .call(Method::POST, "/api/v1/trust", Some(json!({"name": format!("k{}", bundle.len() % 1000), "public_key": hex(&public.to_bytes())})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    secret.sign(&bundle).expect("sign")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn install(api: &Api, key: &str, bundle: &[u8], query: &str) -> (StatusCode, Value) {
    let request = Request::post(format!("/api/v1/packs?{query}"))
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header(header::CONTENT_TYPE, "application/wasm")
        .body(Body::from(bundle.to_vec()))
        .expect("request");
    let response = api.send(request).await;
    let status = response.status();
    (status, json_body(response).await)
}

#[tokio::test]
async fn an_ordinary_key_can_no_longer_do_everything() {
    let api = Api::start().await;
    api.enable_lifecycle();
    api.add_rule(HELLO_RULE).await;
    let signed = demo_bundle(&api, true).await;
    let unsigned = demo_bundle(&api, false).await;
    let observer = api.key_for("watcher", &["observer"], &[]).await;
    let hook = api.key_for("alertmanager", &["system_admin"], &["hello", "alerts/*"]).await;
    let keys = api.get("/api/v1/apikeys").await;
    let admin_key = keys[0]["id"].as_str().expect("id").to_owned();
    let before = api.stored();
    for (who, key) in [("observer", &observer), ("webhook key", &hook)] {
        for query in ["", "grants=all", "allow_unsigned=true&grants=all"] {
            for bundle in [&signed, &unsigned] {
                let (status, body) = install(&api, key, bundle, query).await;
                assert_eq!(status, StatusCode::FORBIDDEN, "{who} install ?{query}: {body}");
            }
        }
        let refused = [
            (
                Method::POST,
                "/api/v1/trust".to_owned(),
                Some(json!({"name": "evil", "public_key": "00"})),
            ),
            (Method::DELETE, "/api/v1/trust/anything".to_owned(), None),
            (Method::POST, "/api/v1/apikeys".to_owned(), Some(json!({"name": "more"}))),
            (Method::DELETE, format!("/api/v1/apikeys/{admin_key}"), None),
            (
                Method::POST,
                "/api/v1/rules".to_owned(),
                Some(json!(HELLO_RULE.replace("name: hello", "name: evil"))),
            ),
            (
                Method::POST,
                "/api/v1/executions".to_owned(),
                Some(json!({"action": "core.echo", "parameters": {"message": "m"}})),
            ),
            (Method::PUT, "/api/v1/users/watcher/roles/admin".to_owned(), None),
        ];
        for (method, path, body) in refused {
            let (status, answer) = api.call_as(key, method.clone(), &path, body).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{who}: {method} {path}: {answer}");
        }
    }
    assert_eq!(api.stored(), before, "a refused request changed something");
    // The admin's key still works: nothing revoked it.
    assert_eq!(api.call(Method::GET, "/api/v1/packs", None).await.0, StatusCode::OK);

    // The webhook key sends its webhooks, and only those.
    let (status, body) = api
        .call_as(&hook, Method::POST, "/api/v1/webhooks/hello", Some(json!({"name": "gh"})))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, body) =
        api.call_as(&hook, Method::POST, "/api/v1/webhooks/other", Some(json!({}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("hello, alerts/*")), "{body}");
    for path in ["/api/v1/executions", "/api/v1/packs", "/api/v1/stream", "/api/v1/user"] {
        let (status, body) = attempt(&api, &hook, "GET", path, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "webhook key: GET {path}: {body}");
    }

    // Unsigned bundles: not even an admin, unless the server allows them.
    let (status, body) = install(&api, &api.key, &unsigned, "allow_unsigned=true").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("--allow-unsigned")), "{body}");

    // pack_install alone installs what asks for nothing granted, not exec.
    let role = "name: installer\npermission_grants:\n  - permission_types: [pack_install]\n";
    let (status, body) =
        api.call_as(&api.key, Method::PUT, "/api/v1/rbac/roles/installer", Some(json!(role))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let installer = api.key_for("installer", &["installer"], &[]).await;
    let (status, body) = install(&api, &installer, &signed, "grants=exec%3D%2Fbin%2Fsh").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["detail"]["permission"], "capability_grant", "{body}");
    let (status, body) = install(&api, &installer, &signed, "").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // An admin grants it; an upgrade within that grant is pre-approved.
    let (status, body) = install(&api, &api.key, &signed, "grants=exec%3D%2Fbin%2Fsh").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = install(&api, &installer, &signed, "grants=exec%3D%2Fbin%2Fsh").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Every change above is in the audit log with its actor.
    let audit = api.get("/api/v1/audit?limit=1000").await;
    let actors: Vec<(String, String)> = audit
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or("").to_owned(),
                e["actor"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert!(actors.contains(&("rule.create".into(), "admin (API key admin)".into())), "{actors:?}");
    assert!(actors.contains(&("role.put".into(), "admin (API key admin)".into())), "{actors:?}");
    assert!(
        actors.contains(&("pack.install".into(), "installer (API key installer-key)".into())),
        "{actors:?}"
    );
}

#[tokio::test]
async fn a_server_that_allows_unsigned_bundles_still_needs_the_client_to_ask() {
    let api =
        Api::start_with(AccessPolicy { allow_unsigned: true, ..AccessPolicy::default() }).await;
    api.enable_lifecycle();
    let unsigned = demo_bundle(&api, false).await;
    let (status, body) = install(&api, &api.key, &unsigned, "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = install(&api, &api.key, &unsigned, "allow_unsigned=true").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body["signer"].is_null(), "{body}");
}

/// Signs in as `user`; the token's JSON.
async fn token(api: &Api, user: &str, password: &str, ttl: Option<u64>) -> Value {
    let (status, body) = sign_in(api, user, password, ttl).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn sign_in(api: &Api, user: &str, password: &str, ttl: Option<u64>) -> (StatusCode, Value) {
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let body = ttl.map_or_else(String::new, |ttl| json!({"ttl": ttl}).to_string());
    let request = Request::post("/auth/v1/tokens")
        .header(header::AUTHORIZATION, format!("Basic {basic}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("request");
    let response = api.send(request).await;
    let status = response.status();
    (status, json_body(response).await)
}

async fn with_token(api: &Api, token: &str, how: &str) -> StatusCode {
    let request = match how {
        "header" => Request::get("/api/v1/executions").header("X-Auth-Token", token),
        "query" => Request::get(format!("/api/v1/executions?x-auth-token={token}")),
        _ => Request::get("/api/v1/executions")
            .header(header::AUTHORIZATION, format!("Bearer {token}")),
    };
    api.send(request.body(Body::empty()).expect("request")).await.status()
}

async fn validate(api: &Api, token: &str) -> Value {
    let (status, body) =
        api.call(Method::POST, "/auth/v1/tokens/validate", Some(json!({"token": token}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn tokens_are_issued_used_expire_and_are_revoked() {
    let api = Api::start().await;
    super::add_user(api.engine.store(), "carol", &["observer"], Some("carol-password")).await;
    let issued = token(&api, "carol", "carol-password", None).await;
    let secret = issued["token"].as_str().expect("token").to_owned();
    assert_eq!(issued["user"], "carol");
    assert!(secret.starts_with("sqt_"), "{issued}");
    assert!(issued["id"].is_string() && issued["metadata"].is_object(), "{issued}");
    let expiry: jiff::Timestamp = issued["expiry"].as_str().expect("expiry").parse().expect("time");
    let left = expiry.as_second() - jiff::Timestamp::now().as_second();
    assert!((86_300..=86_400).contains(&left), "the default lifetime is 24 h: {issued}");
    for how in ["header", "query", "bearer"] {
        assert_eq!(with_token(&api, &secret, how).await, StatusCode::OK, "{how}");
    }
    // The token acts for carol, with carol's permissions.
    let (status, body) =
        api.call_as(&secret, Method::POST, "/api/v1/apikeys", Some(json!({"name": "x"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["detail"]["user"], "carol");
    assert_eq!(validate(&api, &secret).await, json!({"valid": true}));

    // A wrong password is 401 and audited, never the password itself.
    let (status, body) = sign_in(&api, "carol", "not-her-password", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _) = sign_in(&api, "nobody", "whatever-password", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let failed = api.get("/api/v1/audit?action=auth.failed").await;
    let actors: Vec<&str> =
        failed.as_array().expect("events").iter().filter_map(|e| e["actor"].as_str()).collect();
    assert_eq!(actors, ["carol", "nobody"]);
    let log = api.get("/api/v1/audit?limit=1000").await.to_string();
    assert!(!log.contains("not-her-password") && !log.contains(&secret), "{log}");

    // Lifetimes: too long is refused, a short one expires.
    let (status, body) = sign_in(&api, "carol", "carol-password", Some(100_000)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.starts_with("ttl:")), "{body}");
    let short = token(&api, "carol", "carol-password", Some(1)).await;
    let short = short["token"].as_str().expect("token").to_owned();
    assert_eq!(with_token(&api, &short, "header").await, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(with_token(&api, &short, "header").await, StatusCode::UNAUTHORIZED);
    assert_eq!(validate(&api, &short).await, json!({"valid": false}));

    // Revoked: refused from the next request on.
    let id = issued["id"].as_str().expect("id");
    let (status, body) =
        api.call_as(&secret, Method::DELETE, &format!("/auth/v1/tokens/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(with_token(&api, &secret, "header").await, StatusCode::UNAUTHORIZED);
    assert_eq!(validate(&api, &secret).await, json!({"valid": false}));
}

/// The fixture of StackStorm RBAC definitions and what they should allow.
const RBAC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/it/api/rbac");

#[tokio::test]
async fn stackstorm_rbac_files_give_the_expected_decisions() {
    let api = Api::start().await;
    api.add_rule(HELLO_RULE).await;
    let dir = Path::new(RBAC);
    let mut roles: Vec<_> = std::fs::read_dir(dir.join("roles"))
        .expect("roles")
        .map(|e| e.expect("entry").path())
        .collect();
    roles.sort();
    for file in roles {
        let text = std::fs::read_to_string(&file).expect("role file");
        let name = squall::access::parse_role(&text, &file).expect("role").name;
        let (status, body) = api
            .call_as(
                &api.key,
                Method::PUT,
                &format!("/api/v1/rbac/roles/{name}"),
                Some(json!(text)),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", file.display());
    }
    let mut keys = std::collections::BTreeMap::new();
    let mut assignments: Vec<_> = std::fs::read_dir(dir.join("assignments"))
        .expect("assignments")
        .map(|e| e.expect("entry").path())
        .collect();
    assignments.sort();
    for file in assignments {
        let text = std::fs::read_to_string(&file).expect("assignment file");
        let assignment = parse_assignment(&text, &file).expect("assignment");
        let body = json!({"roles": assignment.roles, "enabled": assignment.enabled});
        let path = format!("/api/v1/users/{}/roles", assignment.username);
        let (status, answer) = api.call(Method::PUT, &path, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{}: {answer}", file.display());
        let key = api.key_for(&assignment.username, &[], &[]).await;
        keys.insert(assignment.username, key);
    }
    let expected = std::fs::read_to_string(dir.join("expected.txt")).expect("expected");
    let mut checked = 0;
    for line in expected.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        // USER METHOD PATH [JSON-BODY] -> allow | deny PERMISSION
        let (request, outcome) = line.split_once(" -> ").expect("USER METHOD PATH -> OUTCOME");
        let mut words = request.splitn(4, ' ');
        let (user, method, path) = (
            words.next().expect("user"),
            words.next().expect("method"),
            words.next().expect("path"),
        );
        let body = words.next().map(|b| serde_json::from_str(b).unwrap_or_else(|_| json!(b)));
        let key = &keys[user];
        let (status, answer) = attempt(&api, key, method, path, body).await;
        match outcome.split_once(' ') {
            None => {
                assert_eq!(outcome, "allow", "{line}");
                assert!(status.is_success(), "{line}: {status} {answer}");
            }
            Some(("deny", permission)) => {
                assert!(permission.parse::<Permission>().is_ok(), "{line}: unknown permission");
                assert_eq!(status, StatusCode::FORBIDDEN, "{line}: {answer}");
                assert_eq!(answer["detail"]["permission"], permission, "{line}: {answer}");
            }
            _ => panic!("{line}: expected `allow` or `deny PERMISSION`"),
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} expectations");
}

#[tokio::test]
async fn a_revoked_key_loses_its_open_stream_within_a_second() {
    let api = Api::start().await;
    for revoke_how in ["key", "user", "role"] {
        let key = api.key_for(&format!("streamer-{revoke_how}"), &["observer"], &[]).await;
        let request = Request::get("/api/v1/stream")
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .body(Body::empty())
            .expect("request");
        let response = api.send(request).await;
        assert_eq!(response.status(), StatusCode::OK);
        let mut body = response.into_body();
        // The stream is live: an event arrives.
        let (status, _) =
            api.call(Method::PUT, "/api/v1/keys/tick", Some(json!({"value": "1"}))).await;
        assert_eq!(status, StatusCode::OK);
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame()).await;
        assert!(matches!(frame, Ok(Some(Ok(_)))), "no event on the stream: {frame:?}");
        let user = format!("streamer-{revoke_how}");
        let revoked = Instant::now();
        let (status, answer) = match revoke_how {
            "key" => {
                let keys = api.get("/api/v1/apikeys").await;
                let id = keys
                    .as_array()
                    .expect("keys")
                    .iter()
                    .find(|k| k["user"] == user.as_str())
                    .expect("the key")["id"]
                    .as_str()
                    .expect("id")
                    .to_owned();
                api.call(Method::DELETE, &format!("/api/v1/apikeys/{id}"), None).await
            }
            "user" => api.call(Method::DELETE, &format!("/api/v1/users/{user}"), None).await,
            _ => {
                api.call(Method::DELETE, &format!("/api/v1/users/{user}/roles/observer"), None)
                    .await
            }
        };
        assert!(status.is_success(), "{revoke_how}: {answer}");
        // Ends within a second: only keep-alives could come before the end.
        loop {
            let left = Duration::from_secs(1).saturating_sub(revoked.elapsed());
            match tokio::time::timeout(left, body.frame()).await {
                Ok(None) => break,
                Ok(Some(Ok(frame))) => {
                    let text = frame
                        .into_data()
                        .map(|d| String::from_utf8_lossy(&d).into_owned())
                        .unwrap_or_default();
                    assert!(
                        !text.contains("\"id\""),
                        "{revoke_how}: an event after revocation: {text}"
                    );
                }
                Ok(Some(Err(e))) => panic!("{revoke_how}: {e}"),
                Err(_) => {
                    panic!("{revoke_how}: the stream was still open a second after revocation")
                }
            }
        }
        assert!(revoked.elapsed() < Duration::from_secs(1));
    }
}
