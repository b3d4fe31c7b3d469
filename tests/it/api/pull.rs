//! `POST /packs/pull` and `GET /registries` against a real registry
//! (`docker-registry` on a loopback port): refused until the operator
//! names registries, a review that installs nothing, an install that
//! grants only what was sent, registries outside the list refused, and
//! the permissions.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use squall::pack::registry::{BundleMeta, RegistryClient, RegistryOptions};
use squall_tests::RegistryServer;

use super::Api;

/// The core component as pack `demo` 1.0.0, asking for `kv` and `exec` of
/// /bin/sh, signed with a key the server trusts; pushed to
/// `registry/demo:1.0.0`.
async fn push_demo(api: &Api, registry: &str) {
    let manifest = std::fs::read_to_string(squall_tests::CORE_MANIFEST)
        .expect("core manifest")
        .replacen("name = \"core\"", "name = \"demo\"", 1)
        .replacen("version = \"0.1.0\"", "version = \"1.0.0\"", 1)
        + "\n[capabilities]\nkv = true\nexec = [\"/bin/sh\"]\n";
    let files = squall::pack::BundleFiles { manifest, ..Default::default() };
    let component = std::fs::read(squall_tests::CORE_PACK).expect("core component");
    let bundle = squall::pack::assemble(&component, &files, "demo.wasm").expect("assemble");
    let (secret, public) = squall::pack::generate();
    let key: String = public.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let (status, body) = api
        .call(Method::POST, "/api/v1/trust", Some(json!({"name": "acme", "public_key": key})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let signed = secret.sign(&bundle).expect("sign");
    let meta = BundleMeta { name: "demo".into(), version: "1.0.0".into(), description: "".into() };
    let target = format!("{registry}/demo:1.0.0").parse().expect("reference");
    RegistryClient::new(RegistryOptions::default())
        .push(&target, &signed, &meta)
        .await
        .expect("push");
}

async fn pull(api: &Api, key: &str, body: Value) -> (StatusCode, Value) {
    api.call_as(key, Method::POST, "/api/v1/packs/pull", Some(body)).await
}

fn message(body: &Value) -> &str {
    body["error"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn packs_are_pulled_only_from_the_registries_the_operator_names() {
    let server = RegistryServer::start();
    let registry = server.host_port();
    let api = Api::start().await;
    api.enable_lifecycle();
    push_demo(&api, &registry).await;
    let admin = api.key.clone();

    // Without `--registry` the server pulls from nowhere, and says so.
    assert_eq!(api.get("/api/v1/registries").await, json!({"registries": []}));
    let full = format!("{registry}/demo:1.0.0");
    for body in [json!({"ref": "demo@1.0.0"}), json!({"ref": full, "review": false})] {
        let (status, answer) = pull(&api, &admin, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
        assert!(message(&answer).contains("squall serve --registry"), "{answer}");
    }

    api.state.allow_registries(vec![registry.clone()]);
    assert_eq!(api.get("/api/v1/registries").await, json!({"registries": [registry]}));

    // A registry not in the list is refused before anything is fetched.
    for body in [
        json!({"ref": "demo@1.0.0", "registry": "127.0.0.1:1"}),
        json!({"ref": "127.0.0.1:1/demo:1.0.0"}),
        json!({"ref": "evil.example/demo:1.0.0", "review": false, "grants": ["all"]}),
    ] {
        let (status, answer) = pull(&api, &admin, body.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}: {answer}");
        assert!(message(&answer).contains("is not one this server pulls from"), "{answer}");
    }

    // An observer may neither see the registries nor pull.
    let observer = api.key_for("watcher", &["observer"], &[]).await;
    let (status, _) = api.call_as(&observer, Method::GET, "/api/v1/registries", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, answer) = pull(&api, &observer, json!({"ref": "demo@1.0.0"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");

    // The review answers what the bundle is and requests; nothing installed.
    let before = api.stored();
    let (status, review) = pull(&api, &admin, json!({"ref": "demo@1.0.0"})).await;
    assert_eq!(status, StatusCode::OK, "{review}");
    assert_eq!(review["name"], "demo");
    assert_eq!(review["version"], "1.0.0");
    assert_eq!(review["signer"], "acme");
    assert_eq!(review["requested"], json!(["kv", "exec=/bin/sh"]));
    assert!(review["origin"].as_str().is_some_and(|o| o.starts_with(&full)), "{review}");
    assert_eq!(api.stored(), before, "a review changed the store");
    let (status, _) = api.call(Method::GET, "/api/v1/packs/demo", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, answer) = pull(&api, &admin, json!({"ref": "demo@9.9.9"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");

    // Installing grants what was sent and nothing more; the reference
    // the review answered pins the bundle reviewed by its digest.
    let pinned = review["origin"].clone();
    let (status, installed) =
        pull(&api, &admin, json!({"ref": pinned, "review": false, "grants": ["kv"]})).await;
    assert_eq!(status, StatusCode::CREATED, "{installed}");
    assert_eq!(
        (installed["name"].as_str(), installed["signer"].as_str()),
        (Some("demo"), Some("acme"))
    );
    let pack = api.get("/api/v1/packs/demo").await;
    assert_eq!(pack["requested"], json!(["kv", "exec=/bin/sh"]));
    assert_eq!(pack["grants"]["kv"], true, "{pack}");
    assert!(pack["grants"]["exec"].as_array().is_none_or(Vec::is_empty), "{pack}");
}
