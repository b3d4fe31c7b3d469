//! The packs shipped with Squall (`packs/github`, `packs/diskguard`,
//! `packs/http`) run through the real runtime with the capabilities an
//! operator grants them: GitHub deliveries checked and turned into events,
//! disk usage measured and old files really deleted, HTTP requests to a
//! loopback server, and the rules they ship chained in a running engine.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use squall::engine::{Actions, Catalog, Engine, EngineConfig, Ingest, register_rule_files};
use squall::pack::Manifest;
use squall::runtime::{
    Grants, HostServices, Limits, LoadedComponent, OutboundHost, StaticConfig, StaticSecrets,
    WebhookOutcome, WebhookRequest,
};
use squall::store::{Execution, ExecutionStatus, Store, StoreConfig};
use squall_tests::{CORE_MANIFEST, CORE_PACK, DISKGUARD_PACK, GITHUB_PACK, HTTP_PACK, TestRuntime};

/// The directory of shipped pack `name`, beside the tests.
fn pack_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../packs").join(name)
}

/// Loads the component at `path` as `pack` with `grants`.
fn load_granted(runtime: &TestRuntime, path: &str, pack: &str, grants: Grants) -> LoadedComponent {
    let wasm = std::fs::read(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    runtime
        .runtime
        .load_bytes_granted(Path::new(path), &wasm, pack, grants)
        .unwrap_or_else(|e| panic!("loading {path}: {e}"))
}

/// A fresh engine on a store in `dir`, with the core pack installed.
async fn engine(dir: &Path, runtime: &TestRuntime) -> Engine {
    let store = Store::open(
        &dir.join("squall.redb"),
        StoreConfig { retention: None, ..Default::default() },
    )
    .expect("store");
    let catalog = Catalog::load(&store).expect("catalog");
    let ingest =
        Ingest::new(store, Arc::new(catalog.trigger_types), catalog.rules, Actions::default());
    let engine = Engine::start(
        ingest,
        EngineConfig { worker_threads: 1, max_running: 4, ..EngineConfig::default() },
    )
    .await
    .expect("engine");
    let core = Manifest::load(Path::new(CORE_MANIFEST)).expect("core manifest");
    engine
        .install_pack(&core, Arc::new(runtime.load(CORE_PACK, "core")), json!({}))
        .await
        .expect("core installed");
    engine
}

/// Installs shipped pack `name` (its manifest and rules) into `engine`.
async fn install(engine: &Engine, name: &str, component: LoadedComponent, config: Value) {
    let manifest = Manifest::load(&pack_dir(name).join("pack.toml"))
        .unwrap_or_else(|e| panic!("{name} manifest: {e}"));
    engine.install_pack(&manifest, Arc::new(component), config).await.expect("installed");
    register_rule_files(engine.store(), &pack_dir(name).join("rules")).await.expect("rules");
    let problems = engine.reload_rules().expect("reload");
    assert!(problems.is_empty(), "{problems:?}");
}

/// The finished execution of `action` started by rule `rule`, waiting up
/// to 20 s for it.
async fn finished(engine: &Engine, rule: &str) -> Execution {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let executions = engine.store().read().expect("read").executions(None, 1000).expect("list");
        if let Some(done) = executions
            .into_iter()
            .find(|e| e.rule.as_deref() == Some(rule) && e.status.is_finished())
        {
            return done;
        }
        assert!(Instant::now() < deadline, "no finished execution of rule {rule}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------- github

const WEBHOOK_SECRET: &str = "It's a Secret to Everybody";

/// HMAC-SHA256 (RFC 2104), written out so the test does not share the
/// pack's implementation.
fn hmac_sha256(key: &[u8], message: &[u8]) -> String {
    let mut block = [0u8; 64];
    if key.len() > block.len() {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner =
        Sha256::new().chain_update(block.map(|b| b ^ 0x36)).chain_update(message).finalize();
    let outer = Sha256::new().chain_update(block.map(|b| b ^ 0x5c)).chain_update(inner).finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_test_hmac_agrees_with_githubs_documented_example() {
    assert_eq!(
        hmac_sha256(WEBHOOK_SECRET.as_bytes(), b"Hello, World!"),
        "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
}

/// The github pack, granted its secret (set to [`WEBHOOK_SECRET`]) or not.
fn github(granted: bool) -> (TestRuntime, LoadedComponent) {
    let secrets = HashMap::from([("github_webhook_secret".to_owned(), WEBHOOK_SECRET.to_owned())]);
    let runtime = TestRuntime::with_services(HostServices {
        secrets: Arc::new(StaticSecrets(secrets)),
        ..HostServices::default()
    });
    let grants = if granted {
        Grants { secrets: ["github_webhook_secret".to_owned()].into(), ..Grants::default() }
    } else {
        Grants::default()
    };
    let component = load_granted(&runtime, GITHUB_PACK, "github", grants);
    (runtime, component)
}

/// A delivery of `event` carrying `body`, signed with `secret` when given.
fn delivery(event: &str, body: &[u8], secret: Option<&str>) -> WebhookRequest {
    let mut headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("x-github-event".to_owned(), event.to_owned()),
        ("x-github-delivery".to_owned(), "72d3162e-cc78-11e3-81ab-4c9367dc0958".to_owned()),
    ];
    if let Some(secret) = secret {
        let signature = format!("sha256={}", hmac_sha256(secret.as_bytes(), body));
        headers.push(("x-hub-signature-256".to_owned(), signature));
    }
    WebhookRequest {
        method: "POST".into(),
        path: "/".into(),
        query: String::new(),
        headers,
        body: body.to_vec(),
    }
}

/// A `push` delivery's body, trimmed to what matters and a little more.
fn push_body() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "ref": "refs/heads/main",
        "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        "after": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
        "created": false,
        "repository": {"id": 1296269, "name": "squall", "full_name": "squall-automation/squall"},
        "pusher": {"name": "octocat", "email": "octocat@github.com"},
        "sender": {"login": "octocat", "id": 1},
        "commits": [
            {"id": "1481a2de7b2a7d02428ad93446ab166be7793fbb", "message": "Fix the webhook route"},
            {"id": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", "message": "Release 0.2.0"}
        ],
        "head_commit": {"id": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", "message": "Release 0.2.0"}
    }))
    .expect("JSON")
}

async fn hook(component: &LoadedComponent, request: &WebhookRequest) -> WebhookOutcome {
    component
        .on_webhook("webhook", request, &Limits::default())
        .await
        .result
        .unwrap_or_else(|e| panic!("webhook sensor failed: {e}"))
}

fn events(outcome: &WebhookOutcome) -> Vec<(String, Value)> {
    outcome
        .events
        .iter()
        .map(|e| (e.trigger.clone(), serde_json::from_str(&e.payload).expect("JSON payload")))
        .collect()
}

#[tokio::test]
async fn github_a_signed_push_emits_github_push_with_its_fields() {
    let (_runtime, github) = github(true);
    let outcome = hook(&github, &delivery("push", &push_body(), Some(WEBHOOK_SECRET))).await;
    assert_eq!(outcome.response.status, 202);
    assert_eq!(
        events(&outcome),
        [(
            "github.push".to_owned(),
            json!({
                "repository": "squall-automation/squall",
                "ref": "refs/heads/main",
                "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
                "after": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
                "pusher": "octocat",
                "commits": 2,
                "head_commit_message": "Release 0.2.0",
                "delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"
            })
        )]
    );
}

#[tokio::test]
async fn github_a_signed_pull_request_emits_github_pull_request() {
    let (_runtime, github) = github(true);
    let body = serde_json::to_vec(&json!({
        "action": "closed",
        "number": 42,
        "pull_request": {
            "number": 42, "title": "Ship the github pack", "merged": true,
            "base": {"ref": "main"}, "head": {"ref": "github-pack"}
        },
        "repository": {"full_name": "squall-automation/squall"},
        "sender": {"login": "hubot"}
    }))
    .expect("JSON");
    let outcome = hook(&github, &delivery("pull_request", &body, Some(WEBHOOK_SECRET))).await;
    assert_eq!(outcome.response.status, 202);
    assert_eq!(
        events(&outcome),
        [(
            "github.pull_request".to_owned(),
            json!({
                "action": "closed", "number": 42, "title": "Ship the github pack",
                "repository": "squall-automation/squall", "sender": "hubot", "merged": true,
                "base_ref": "main", "head_ref": "github-pack",
                "delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"
            })
        )]
    );
}

#[tokio::test]
async fn github_bad_or_missing_signatures_get_401_with_the_reason_and_no_event() {
    let (_runtime, github) = github(true);
    let body = push_body();
    let wrong_secret = delivery("push", &body, Some("guessed"));
    let mut tampered = delivery("push", &body, Some(WEBHOOK_SECRET));
    tampered.body = body.iter().map(|&b| if b == b'2' { b'3' } else { b }).collect();
    let unsigned = delivery("push", &body, None);
    let mut not_hex = delivery("push", &body, None);
    not_hex.headers.push(("x-hub-signature-256".into(), "sha256=zz".into()));
    let mut answers = Vec::new();
    for request in [wrong_secret, tampered, unsigned, not_hex] {
        let outcome = hook(&github, &request).await;
        assert!(outcome.events.is_empty(), "{outcome:?}");
        answers.push(format!(
            "{} {}",
            outcome.response.status,
            String::from_utf8_lossy(&outcome.response.body)
        ));
    }
    assert_eq!(
        answers,
        [
            "401 X-Hub-Signature-256 does not match the body",
            "401 X-Hub-Signature-256 does not match the body",
            "401 missing X-Hub-Signature-256 header",
            "401 X-Hub-Signature-256 is not 64 hexadecimal digits",
        ]
    );
}

#[tokio::test]
async fn github_ping_gets_204_and_other_events_202_without_events() {
    let (_runtime, github) = github(true);
    let ping = hook(
        &github,
        &delivery("ping", br#"{"zen": "Keep it logically awesome."}"#, Some(WEBHOOK_SECRET)),
    )
    .await;
    assert_eq!((ping.response.status, ping.events.len()), (204, 0));
    let issues =
        hook(&github, &delivery("issues", br#"{"action": "opened"}"#, Some(WEBHOOK_SECRET))).await;
    assert_eq!((issues.response.status, issues.events.len()), (202, 0));
    // Signed but not JSON: refused with the reason.
    let junk = hook(&github, &delivery("push", b"{not json", Some(WEBHOOK_SECRET))).await;
    assert_eq!(junk.response.status, 400);
    assert!(junk.events.is_empty());
}

#[tokio::test]
async fn github_without_the_secret_granted_the_sensor_reports_denied() {
    let (_runtime, github) = github(false);
    let error = github
        .on_webhook(
            "webhook",
            &delivery("push", &push_body(), Some(WEBHOOK_SECRET)),
            &Limits::default(),
        )
        .await
        .result
        .expect_err("no secret");
    assert!(
        error
            .to_string()
            .starts_with("denied: secret `github_webhook_secret` was not granted to this pack"),
        "{error}"
    );
}

#[tokio::test]
async fn github_push_through_the_engine_runs_the_shipped_log_push_rule() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (runtime, component) = github(true);
    let engine = engine(dir.path(), &runtime).await;
    install(&engine, "github", component, json!({})).await;
    let reply = engine
        .webhook("github", &delivery("push", &push_body(), Some(WEBHOOK_SECRET)))
        .await
        .expect("delivered");
    assert_eq!(reply.response.status, 202);
    let [emitted] = &reply.emitted[..] else { panic!("one event: {reply:?}") };
    assert_eq!(emitted.executions.len(), 1, "log_push matched");
    let echo = finished(&engine, "github.log_push").await;
    assert_eq!(echo.status, ExecutionStatus::Succeeded, "{echo:?}");
    assert_eq!(
        echo.result,
        Some(
            json!({"message": "octocat pushed 2 commit(s) to squall-automation/squall refs/heads/main (6113728..0d1a26e)"})
        )
    );
    // A badly signed delivery is answered by the sensor and commits nothing.
    let refused = engine
        .webhook("github", &delivery("push", &push_body(), Some("guessed")))
        .await
        .expect("answered");
    assert_eq!((refused.response.status, refused.emitted.len()), (401, 0));
    engine.shutdown().await;
}

// ------------------------------------------------------------- diskguard

/// Makes `path` look last modified `days` days ago.
fn set_age(path: &Path, days: u64) {
    let file = std::fs::File::options().write(true).open(path).expect("open");
    let when = SystemTime::now() - Duration::from_secs(days * 24 * 3600);
    file.set_modified(when).expect("set mtime");
}

/// The use of `path`'s filesystem in percent, as `df` reports it natively.
fn native_df(path: &Path) -> u64 {
    let output =
        std::process::Command::new("/usr/bin/df").arg("-P").arg(path).output().expect("df");
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    let line = text.lines().nth(1).expect("a filesystem line");
    let capacity = line.split_whitespace().find(|f| f.ends_with('%')).expect("capacity");
    capacity.trim_end_matches('%').parse().expect("a number")
}

/// The diskguard pack granted `df` and `find` (and HTTP to `outbound`), with
/// `config` as its pack configuration.
fn diskguard(exec: bool, outbound: Option<&str>, config: Value) -> (TestRuntime, LoadedComponent) {
    let configs = HashMap::from([("diskguard".to_owned(), config.to_string())]);
    let runtime = TestRuntime::with_services(HostServices {
        config: Arc::new(StaticConfig(configs)),
        ..HostServices::default()
    });
    let mut grants = Grants::default();
    if exec {
        grants.exec = ["/usr/bin/df", "/usr/bin/find"].map(PathBuf::from).into();
    }
    if let Some(host) = outbound {
        grants.outbound_hosts = vec![OutboundHost::parse(host).expect("grant")];
    }
    let component = load_granted(&runtime, DISKGUARD_PACK, "diskguard", grants);
    (runtime, component)
}

#[tokio::test]
async fn diskguard_usage_emits_once_per_crossing_of_the_threshold() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().display().to_string();
    let before = native_df(dir.path());
    let (_runtime, diskguard) = diskguard(true, None, json!({}));
    let limits = Limits::default();
    let poll = async |threshold: u64, cursor: Option<&str>| {
        let config = json!({"path": path, "cleanup_dir": path, "threshold_percent": threshold});
        diskguard
            .poll_sensor("usage", &config.to_string(), cursor, &limits)
            .await
            .result
            .unwrap_or_else(|e| panic!("poll: {e}"))
    };
    // Threshold 0: always full; 101: never.
    let first = poll(0, None).await;
    let [event] = &first.events[..] else { panic!("one event: {first:?}") };
    assert_eq!(event.trigger, "diskguard.almost_full");
    let payload: Value = serde_json::from_str(&event.payload).expect("JSON");
    let used = payload["used_percent"].as_u64().expect("used_percent");
    let after = native_df(dir.path());
    assert!(
        (before.min(after)..=before.max(after)).contains(&used),
        "{used} vs df {before}..{after}"
    );
    assert_eq!(payload, json!({"path": path, "used_percent": used, "threshold_percent": 0}));
    assert_eq!(first.cursor.as_deref(), Some("full"));

    let still = poll(0, Some("full")).await;
    assert!(still.events.is_empty(), "no repeat while still full: {still:?}");
    assert_eq!(still.cursor, None, "the state did not change");
    let dropped = poll(101, Some("full")).await;
    assert!(dropped.events.is_empty());
    assert_eq!(dropped.cursor.as_deref(), Some("ok"));
    let again = poll(0, Some("ok")).await;
    assert_eq!(again.events.len(), 1, "a new crossing emits again");
    assert_eq!(again.cursor.as_deref(), Some("full"));
}

#[tokio::test]
async fn diskguard_without_exec_granted_reports_denied() {
    let (_runtime, diskguard) = diskguard(false, None, json!({}));
    let polled = diskguard
        .poll_sensor("usage", r#"{"path": "/", "cleanup_dir": "/tmp"}"#, None, &Limits::default())
        .await;
    let error = polled.result.expect_err("denied");
    assert!(error.to_string().starts_with("denied: host command `/usr/bin/df`"), "{error}");
}

#[tokio::test]
async fn diskguard_cleanup_deletes_old_files_and_keeps_new_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir(root.join("nested")).expect("mkdir");
    for (name, age) in [("old.log", 30), ("nested/old.log", 9), ("edge.log", 3), ("new.log", 0)] {
        std::fs::write(root.join(name), name).expect("write");
        set_age(&root.join(name), age);
    }
    // The config is a fallback: parameters win over it.
    let config =
        json!({"path": "/nonexistent", "cleanup_dir": "/nonexistent", "older_than_days": 1});
    let (_runtime, diskguard) = diskguard(true, None, config);
    let params = |threshold: u64| {
        json!({"dir": root, "older_than_days": 7, "path": root, "threshold_percent": threshold})
            .to_string()
    };
    let invocation = squall_tests::call(&diskguard, "cleanup", &params(0)).await;
    let mut output: Value =
        serde_json::from_str(&invocation.result.unwrap_or_else(|e| panic!("cleanup: {e}")))
            .expect("JSON");
    let mut removed: Vec<String> = serde_json::from_value(output["removed"].take()).expect("list");
    removed.sort();
    let expected: Vec<String> =
        ["nested/old.log", "old.log"].map(|n| root.join(n).display().to_string()).into();
    assert_eq!(removed, expected);
    assert!(!root.join("old.log").exists() && !root.join("nested/old.log").exists());
    assert!(root.join("new.log").exists() && root.join("edge.log").exists(), "recent files kept");
    assert!(output["used_percent"].as_u64().is_some_and(|u| u <= 100), "{output}");
    output["used_percent"] = json!("n");
    assert_eq!(
        output,
        json!({
            "dir": root, "older_than_days": 7, "path": root, "removed": null, "removed_count": 2,
            "used_percent": "n", "threshold_percent": 0, "still_full": true
        })
    );
    // Again: nothing left to delete, and a threshold above 100 is never full.
    let again = squall_tests::call(&diskguard, "cleanup", &params(101)).await;
    let again: Value = serde_json::from_str(&again.result.expect("cleanup")).expect("JSON");
    assert_eq!((&again["removed"], &again["still_full"]), (&json!([]), &json!(false)));
    // `find … -delete` is never pointed at the root or a relative path.
    let root_dir = squall_tests::call(&diskguard, "cleanup", r#"{"dir": "/"}"#).await;
    assert_eq!(
        root_dir.result.expect_err("refused").to_string(),
        "invalid-input: `dir` must not be the root directory"
    );
}

/// A loopback server that records every request's method, path, headers
/// and body, and answers `/json` with JSON, `/echo` with what it got, and
/// anything else with `text/plain` 200.
struct Server {
    url: String,
    seen: Arc<Mutex<Vec<Value>>>,
}

async fn server() -> Server {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    use axum::response::IntoResponse;

    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let record = seen.clone();
    let handler = move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let record = record.clone();
        async move {
            let headers: serde_json::Map<String, Value> = headers
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or("?"))))
                .collect();
            let request = json!({
                "method": method.as_str(), "path": uri.path(), "headers": headers,
                "body": String::from_utf8_lossy(&body),
            });
            record.lock().expect("lock").push(request.clone());
            match uri.path() {
                "/json" => (
                    [("content-type", "application/json"), ("x-answer", "42")],
                    r#"{"hello": "world", "n": [1, 2]}"#.to_owned(),
                )
                    .into_response(),
                "/echo" => axum::Json(request).into_response(),
                "/missing" => (StatusCode::NOT_FOUND, "no such thing").into_response(),
                "/slow" => {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "too late".into_response()
                }
                _ => "plain text".into_response(),
            }
        }
    };
    let app = axum::Router::new().fallback(handler);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server { url, seen }
}

#[tokio::test]
async fn diskguard_notify_posts_json_to_the_configured_url() {
    let server = server().await;
    let config =
        json!({"path": "/", "cleanup_dir": "/tmp", "notify_url": format!("{}/hook", server.url)});
    let (_runtime, diskguard) = diskguard(false, Some(&server.url), config);
    let sent =
        squall_tests::call(&diskguard, "notify", r#"{"message": "/var is still 97% full"}"#).await;
    assert_eq!(sent.result.expect("notified"), r#"{"status":200}"#);
    let seen = server.seen.lock().expect("lock").clone();
    let [request] = &seen[..] else { panic!("one request: {seen:?}") };
    assert_eq!((&request["method"], &request["path"]), (&json!("POST"), &json!("/hook")));
    assert_eq!(request["headers"]["content-type"], json!("application/json"));
    assert_eq!(request["body"], json!(r#"{"text":"/var is still 97% full"}"#));
    // A non-2xx answer fails the execution, naming the status.
    let params = json!({"url": format!("{}/missing", server.url), "message": "m"}).to_string();
    let missing = squall_tests::call(&diskguard, "notify", &params).await;
    assert!(missing.result.expect_err("404").to_string().contains("answered 404: no such thing"),);
}

#[tokio::test]
async fn diskguard_notify_to_a_host_not_granted_is_denied() {
    let server = server().await;
    let (_runtime, diskguard) = diskguard(false, None, json!({}));
    let params = json!({"url": format!("{}/hook", server.url), "message": "m"}).to_string();
    let error = squall_tests::call(&diskguard, "notify", &params).await.result.expect_err("denied");
    assert!(error.to_string().starts_with("denied: "), "{error}");
    assert!(server.seen.lock().expect("lock").is_empty(), "nothing was sent");
}

/// A directory holding `logs/old.log`, 30 days old: what cleanup deletes.
fn old_logs() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).expect("mkdir");
    std::fs::write(logs.join("old.log"), "x").expect("write");
    set_age(&logs.join("old.log"), 30);
    (dir, logs)
}

#[tokio::test]
async fn diskguard_rules_chain_almost_full_to_cleanup_to_notify() {
    let (dir, logs) = old_logs();
    let server = server().await;
    // The sensor's own threshold (100) does not fire; the test emits the event.
    let config = json!({
        "path": dir.path(), "cleanup_dir": logs, "older_than_days": 7, "threshold_percent": 100,
        "notify_url": format!("{}/chat", server.url)
    });
    let (runtime, component) = diskguard(true, Some(&server.url), config.clone());
    let store_dir = tempfile::tempdir().expect("tempdir");
    let engine = engine(store_dir.path(), &runtime).await;
    install(&engine, "diskguard", component, config).await;

    let path = dir.path().display().to_string();
    let full = squall::engine::Event::new(
        "diskguard.almost_full",
        json!({"path": path, "used_percent": 99, "threshold_percent": 1}),
    );
    let emitted = engine.emit(full).await.expect("emitted");
    assert_eq!(emitted.executions.len(), 1, "clean_when_full matched");
    let cleanup = finished(&engine, "diskguard.clean_when_full").await;
    assert_eq!(cleanup.status, ExecutionStatus::Succeeded, "{cleanup:?}");
    let result = cleanup.result.expect("result");
    assert_eq!(result["removed"], json!([logs.join("old.log")]));
    assert_eq!(result["still_full"], json!(true));
    assert!(!logs.join("old.log").exists());

    let notify = finished(&engine, "diskguard.notify_when_still_full").await;
    assert_eq!(notify.status, ExecutionStatus::Succeeded, "{notify:?}");
    let seen = server.seen.lock().expect("lock").clone();
    let [request] = &seen[..] else { panic!("one notification: {seen:?}") };
    assert_eq!(request["path"], json!("/chat"));
    let body: Value = serde_json::from_str(request["body"].as_str().expect("text")).expect("JSON");
    let used = result["used_percent"].as_u64().expect("used");
    assert_eq!(
        body,
        json!({"text": format!(
            "{path} is still {used}% full (threshold 1%) after deleting 1 file(s) older than 7 day(s) from {}",
            logs.display()
        )})
    );
    engine.shutdown().await;
}

/// The same remediation as one workflow action (`diskguard.remediate`,
/// declared in pack.toml, its YAML in workflows/): cleanup, then notify
/// only because the disk is still over the threshold.
#[tokio::test]
async fn diskguard_remediate_workflow_cleans_up_then_notifies() {
    let (dir, logs) = old_logs();
    let server = server().await;
    let config = json!({
        "path": dir.path(), "cleanup_dir": logs, "older_than_days": 7,
        "notify_url": format!("{}/chat", server.url)
    });
    let (runtime, component) = diskguard(true, Some(&server.url), config.clone());
    let store_dir = tempfile::tempdir().expect("tempdir");
    let engine = engine(store_dir.path(), &runtime).await;
    let manifest = Manifest::load(&pack_dir("diskguard").join("pack.toml")).expect("manifest");
    engine.install_pack(&manifest, Arc::new(component), config).await.expect("installed");

    let path = dir.path().display().to_string();
    let parameters = json!({"path": path, "threshold_percent": 1});
    let id = engine
        .request("diskguard.remediate", parameters.as_object().cloned().expect("map"))
        .await
        .expect("requested");
    let deadline = Instant::now() + Duration::from_secs(20);
    let run = loop {
        let run = engine.store().read().expect("read").execution(id).expect("read").expect("run");
        if run.status.is_finished() {
            break run;
        }
        assert!(Instant::now() < deadline, "the workflow did not finish: {run:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(run.status, ExecutionStatus::Succeeded, "{run:?}");
    assert_eq!(run.result, Some(json!({"output": {"removed": 1, "notified": true}})));
    assert!(!logs.join("old.log").exists());
    let seen = server.seen.lock().expect("lock").clone();
    let [request] = &seen[..] else { panic!("one notification: {seen:?}") };
    let body: Value = serde_json::from_str(request["body"].as_str().expect("text")).expect("JSON");
    let text = body["text"].as_str().expect("text");
    assert!(text.starts_with(&format!("{path} is still ")), "{text}");
    assert!(text.ends_with("% full after deleting 1 old file(s)"), "{text}");
    engine.shutdown().await;
}

// ------------------------------------------------------------------ http

/// The http pack granted `outbound` hosts.
fn http_pack(outbound: &[&str]) -> (TestRuntime, LoadedComponent) {
    let runtime = TestRuntime::new();
    let grants = Grants {
        outbound_hosts: outbound.iter().map(|h| OutboundHost::parse(h).expect("grant")).collect(),
        ..Grants::default()
    };
    let component = load_granted(&runtime, HTTP_PACK, "http", grants);
    (runtime, component)
}

async fn http_request(http: &LoadedComponent, params: Value) -> Result<Value, String> {
    let invocation = squall_tests::call(http, "request", &params.to_string()).await;
    invocation
        .result
        .map(|output| serde_json::from_str(&output).expect("JSON output"))
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn http_get_returns_status_headers_body_and_parsed_json() {
    let server = server().await;
    let (_runtime, http) = http_pack(&[&server.url]);
    let answer =
        http_request(&http, json!({"url": format!("{}/json", server.url)})).await.expect("GET");
    assert_eq!(answer["status"], json!(200));
    assert_eq!(answer["headers"]["x-answer"], json!("42"));
    assert_eq!(answer["headers"]["content-type"], json!("application/json"));
    assert_eq!(answer["body"], json!(r#"{"hello": "world", "n": [1, 2]}"#));
    assert_eq!(answer["json"], json!({"hello": "world", "n": [1, 2]}));
    // Text stays text, and a 404 is an answer, not a failure.
    let text =
        http_request(&http, json!({"url": format!("{}/plain", server.url)})).await.expect("GET");
    assert_eq!((&text["body"], text.get("json")), (&json!("plain text"), None));
    let missing =
        http_request(&http, json!({"url": format!("{}/missing", server.url)})).await.expect("GET");
    assert_eq!((&missing["status"], &missing["body"]), (&json!(404), &json!("no such thing")));
}

#[tokio::test]
async fn http_sends_method_headers_and_body() {
    let server = server().await;
    let (_runtime, http) = http_pack(&[&server.url]);
    let answer = http_request(
        &http,
        json!({
            "method": "put", "url": format!("{}/echo", server.url),
            "headers": {"X-Token": "abc", "content-type": "text/plain"}, "body": "ping"
        }),
    )
    .await
    .expect("PUT");
    let echoed = &answer["json"];
    assert_eq!((&echoed["method"], &echoed["path"]), (&json!("PUT"), &json!("/echo")));
    assert_eq!(echoed["headers"]["x-token"], json!("abc"));
    assert_eq!(echoed["headers"]["content-type"], json!("text/plain"));
    assert_eq!(echoed["body"], json!("ping"));
    assert_eq!(server.seen.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn http_gives_up_after_timeout_seconds() {
    let server = server().await;
    let (_runtime, http) = http_pack(&[&server.url]);
    let started = Instant::now();
    let params = json!({"url": format!("{}/slow", server.url), "timeout_seconds": 0.3});
    let error = http_request(&http, params).await.expect_err("timed out");
    assert!(error.starts_with("timeout: "), "{error}");
    // Well before the server's 5 s answer (generous bound: shared machines).
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
}

#[tokio::test]
async fn http_to_a_host_not_granted_is_denied_and_never_sent() {
    let server = server().await;
    let (_runtime, ungranted) = http_pack(&[]);
    let url = format!("{}/json", server.url);
    let error = http_request(&ungranted, json!({"url": url})).await.expect_err("denied");
    assert!(error.starts_with("denied: "), "{error}");
    // Granting another port of the same address does not help.
    let (_runtime, elsewhere) = http_pack(&["http://127.0.0.1:1"]);
    let error = http_request(&elsewhere, json!({"url": url})).await.expect_err("denied");
    assert!(error.starts_with("denied: "), "{error}");
    assert!(server.seen.lock().expect("lock").is_empty(), "nothing reached the server");
    let bad = http_request(&ungranted, json!({"url": "ftp://example.com/"})).await;
    assert_eq!(
        bad.expect_err("refused"),
        "invalid-input: parameter `url`: expected an http:// or https:// URL, got `ftp://example.com/`"
    );
}
