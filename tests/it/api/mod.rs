//! The HTTP API: most tests drive `squall::api::router` in process with
//! `tower::ServiceExt::oneshot` (no socket), against a real engine running
//! the core pack; `server` runs `squall serve` as a real process and talks
//! to it over TCP.

mod access;
mod audit;
mod auth;
mod chat_platforms;
mod errors;
mod openapi;
mod pull;
mod resources;
mod rule_checks;
pub(crate) mod server;
mod st2;
pub(crate) mod stream;
mod ui;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, Response, StatusCode, header};
use serde_json::{Value, json};
use squall::api::{AccessPolicy, ApiState, create_api_key, router};
use squall::engine::{
    Actions, Catalog, Engine, EngineConfig, Ingest, WebhookSensor, WebhookSensors,
};
use squall::pack::Manifest;
use squall::runtime::Limits;
use squall::store::{Store, StoreConfig, TriggerTypeRecord, UserRecord};
use squall_tests::{CORE_MANIFEST, CORE_PACK, HOSTILE_GUEST, TestRuntime};
use tower::ServiceExt as _;

/// A rule that echoes `hello {{ trigger.body.name }}` for webhook `hello`.
pub(crate) const HELLO_RULE: &str = r#"
name: hello
pack: tests
enabled: true
trigger: {type: core.st2.webhook, parameters: {url: hello}}
action:
  ref: core.echo
  parameters: {message: "hello {{ trigger.body.name }}"}
"#;

/// Stores a user with `roles` and, if given, a password.
pub(crate) async fn add_user(store: &Store, name: &str, roles: &[&str], password: Option<&str>) {
    let now = squall::store::now_millis();
    let user = UserRecord {
        name: name.to_owned(),
        password_hash: password.map(|p| squall::access::hash_password(p).expect("hash")),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        enabled: true,
        description: String::new(),
        created_at: now,
        updated_at: now,
    };
    store.write(move |tx| tx.insert_user(&user)).await.expect("user");
}

/// An engine with the core pack (and the hostile guest's webhook sensor
/// under `webhooks/hostile`), the API in front of it, and an admin key.
pub(crate) struct Api {
    pub(crate) engine: Engine,
    pub(crate) state: ApiState,
    router: Router,
    /// A live key.
    pub(crate) key: String,
    _runtime: TestRuntime,
    _dir: tempfile::TempDir,
}

impl Api {
    pub(crate) async fn start() -> Self {
        Self::start_with(AccessPolicy::default()).await
    }

    /// [`start`](Self::start) with the server's access policy.
    pub(crate) async fn start_with(policy: AccessPolicy) -> Self {
        Self::start_with_packs(policy, |_, _| Vec::new()).await
    }

    /// [`start_with`](Self::start_with), with more packs: `add` loads them
    /// into the catalog and answers their manifests.
    pub(crate) async fn start_with_packs(
        policy: AccessPolicy,
        add: impl FnOnce(&TestRuntime, &mut Actions) -> Vec<Manifest>,
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(
            &dir.path().join("squall.redb"),
            StoreConfig { retention: None, ..StoreConfig::default() },
        )
        .expect("store");
        let runtime = TestRuntime::new();
        let manifest = Manifest::load(Path::new(CORE_MANIFEST)).expect("manifest");
        let mut actions = Actions::default();
        actions.add_pack(&manifest, Arc::new(runtime.load(CORE_PACK, "core"))).expect("actions");
        let mut manifests = add(&runtime, &mut actions);
        manifests.push(manifest);
        // Stored, as a pack install stores it: rule reloads keep it.
        let hook = TriggerTypeRecord {
            name: "hostile.hook".into(),
            pack: "hostile".into(),
            description: "a request the hook sensor saw".into(),
            payload_schema: json!({"type": "object", "required": ["method", "path", "query"]}),
            parameters_schema: None,
        };
        store.write(move |tx| tx.put_trigger_type(&hook)).await.expect("hook type");
        let catalog = Catalog::load(&store).expect("catalog");
        let types = Arc::new(catalog.trigger_types);
        let ingest = Ingest::new(store.clone(), types, catalog.rules, actions);
        let engine = Engine::start(
            ingest,
            EngineConfig { worker_threads: 1, max_running: 4, ..EngineConfig::default() },
        )
        .await
        .expect("engine");
        let mut sensors = WebhookSensors::new();
        sensors.insert(
            "hostile".into(),
            WebhookSensor {
                component: Arc::new(runtime.load(HOSTILE_GUEST, "hostile")),
                name: "hook".into(),
                limits: Limits::default(),
            },
        );
        engine.set_webhook_sensors(sensors);
        add_user(&store, "admin", &["system_admin"], None).await;
        let (_, key) =
            create_api_key(&store, "admin", "admin", Vec::new()).await.expect("admin key");
        let state = ApiState::with_policy(engine.clone(), manifests, policy);
        let router = router(state.clone());
        Self { engine, state, router, key, _runtime: runtime, _dir: dir }
    }

    /// Lets the API install packs (compile cache in the test's directory).
    pub(crate) fn enable_lifecycle(&self) {
        let cache = self._dir.path().join("cache");
        let runtime = squall::runtime::Runtime::new(
            squall::runtime::RuntimeConfig::with_cache_dir(cache),
            squall::runtime::HostServices::default(),
        )
        .expect("runtime");
        let packs = squall::engine::PackManager::new(self.engine.clone(), Arc::new(runtime));
        self.state.enable_pack_lifecycle(packs);
    }

    /// Creates user `name` with `roles` (no password) and an API key for
    /// them, limited to `webhooks` when not empty; returns the key.
    pub(crate) async fn key_for(&self, name: &str, roles: &[&str], webhooks: &[&str]) -> String {
        let store = self.engine.store();
        if store.read().expect("read").user(name).expect("user").is_none() {
            add_user(store, name, roles, None).await;
        }
        let webhooks = webhooks.iter().map(|w| (*w).to_owned()).collect();
        create_api_key(store, &format!("{name}-key"), name, webhooks).await.expect("key").1
    }

    /// Sends a request with `key`; answers the status and the body as
    /// JSON (`null` when empty). A string body goes as YAML.
    pub(crate) async fn call_as(
        &self,
        key: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {key}"));
        let body = match body {
            Some(Value::String(text)) => {
                request = request.header(header::CONTENT_TYPE, "application/yaml");
                Body::from(text)
            }
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let response = self.send(request.body(body).expect("request")).await;
        let status = response.status();
        (status, json_body(response).await)
    }

    /// Sends `request` through the router as it is.
    pub(crate) async fn send(&self, request: Request<Body>) -> Response<Body> {
        self.router.clone().oneshot(request).await.expect("the router is infallible")
    }

    /// Sends a request with the admin key and a JSON body, if any; answers
    /// the status and the body as JSON (`null` when empty). A string body
    /// goes as YAML.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_as(&self.key, method, path, body).await
    }

    /// A request carrying the admin key.
    pub(crate) fn authed(&self, method: Method, path: &str) -> http::request::Builder {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.key))
    }

    /// GETs `path` and expects 200.
    pub(crate) async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    /// Stores a rule (YAML) through the API.
    pub(crate) async fn add_rule(&self, yaml: &str) -> Value {
        let request = self
            .authed(Method::POST, "/api/v1/rules")
            .header(header::CONTENT_TYPE, "application/yaml")
            .body(Body::from(yaml.to_owned()))
            .expect("request");
        let response = self.send(request).await;
        let status = response.status();
        let body = json_body(response).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Polls `GET /executions/{id}` until it finished; returns it.
    pub(crate) async fn finished(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let execution = self.get(&format!("/api/v1/executions/{id}")).await;
            let status = execution["status"].as_str().expect("status");
            if ["succeeded", "failed", "timeout", "canceled", "abandoned"].contains(&status) {
                return execution;
            }
            assert!(Instant::now() < deadline, "execution {id} stuck: {execution}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Everything a request could have stored, to show that a refused one
    /// stored nothing: executions, trigger instances, rules, datastore
    /// keys, API keys.
    pub(crate) fn stored(&self) -> String {
        let snapshot = self.engine.store().read().expect("read");
        let executions = snapshot.executions(None, usize::MAX).expect("executions");
        let instances = snapshot.trigger_instances(None, usize::MAX).expect("instances");
        let rules = snapshot.rules().expect("rules");
        let now = squall::store::now_millis();
        let keys = snapshot.kv_keys(&squall::store::KvScope::System, "", now).expect("keys");
        let api_keys = snapshot.api_keys().expect("api keys");
        format!("{executions:?}\n{instances:?}\n{rules:?}\n{keys:?}\n{api_keys:?}")
    }
}

/// The body as JSON; `null` when empty. Panics on a body that is not JSON.
pub(crate) async fn json_body(response: Response<Body>) -> Value {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
}

/// The body as text.
pub(crate) async fn text_body(response: Response<Body>) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
    String::from_utf8(bytes.to_vec()).expect("UTF-8")
}

/// Host source files outside `host/src/api` whose code names the HTTP
/// server crates.
fn http_outside_api(dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            if !path.ends_with("host/src/api") {
                http_outside_api(&path, found);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("read");
            let code: String = text.lines().map(|l| l.split("//").next().unwrap_or("")).collect();
            if ["axum", "tower_http", "utoipa"].iter().any(|name| code.contains(name)) {
                found.push(path.display().to_string());
            }
        }
    }
}

#[test]
fn only_api_knows_the_http_server() {
    let host = Path::new(env!("CARGO_MANIFEST_DIR")).join("../host/src");
    let mut found = Vec::new();
    http_outside_api(&host, &mut found);
    assert!(found.is_empty(), "only host/src/api may use axum, tower-http, utoipa: {found:?}");
}
