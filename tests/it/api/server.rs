//! `squall serve` as a real process on 127.0.0.1 (port 0), driven by a
//! real HTTP client: a webhook fires a rule whose execution shows up in
//! the API and on the event stream; a graceful stop and a restart keep
//! everything; without `--pack` the core pack built into the binary and the
//! example rule are used.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use squall_tests::{CORE_MANIFEST, CORE_PACK};

use super::stream::Events;

const E2E_RULE: &str = r#"
name: e2e
pack: tests
enabled: true
trigger: {type: core.webhook, parameters: {url: e2e/hello}}
action:
  ref: core.echo
  parameters: {message: "hello {{ trigger.body.name }}"}
"#;

/// A running `squall serve`; killed if a test fails before stopping it.
/// Other test modules start theirs through [`Server::launch`].
pub(crate) struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    /// The admin API key from the data directory.
    pub(crate) key: String,
    pub(crate) http: Client<HttpConnector, Full<Bytes>>,
}

/// How to start `squall serve` beyond its data directory.
#[derive(Debug, Default)]
pub(crate) struct Launch<'a> {
    /// Where to run it (the test's directory by default).
    pub(crate) cwd: Option<&'a Path>,
    /// Pass the core pack with `--pack`; without, the one built into the
    /// binary is used.
    pub(crate) packs: bool,
    /// More arguments for `squall serve`.
    pub(crate) args: Vec<&'a str>,
    /// Environment variables for it.
    pub(crate) env: Vec<(&'a str, &'a str)>,
    /// Its standard error (the test's own by default).
    pub(crate) stderr: Option<Stdio>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the server on `data` and waits until it listens; `packs`
    /// passes the core pack explicitly, `cwd` runs it elsewhere.
    fn start(data: &Path, cwd: Option<&Path>, packs: bool) -> (Self, Vec<String>) {
        Self::launch(data, Launch { cwd, packs, ..Launch::default() })
    }

    /// Starts the server on `data` as `launch` says and waits until it
    /// listens; answers it and the lines it printed until then.
    pub(crate) fn launch(data: &Path, launch: Launch<'_>) -> (Self, Vec<String>) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_squall-host"));
        command.arg("serve").arg("--data-dir").arg(data).args(["--listen", "127.0.0.1:0"]);
        if launch.packs {
            command.args(["--pack", CORE_MANIFEST, CORE_PACK]);
        }
        command.args(launch.args).envs(launch.env);
        if let Some(cwd) = launch.cwd {
            command.current_dir(cwd);
        }
        command
            .env_remove("SQUALL_DATA_DIR")
            .env_remove("SQUALL_LISTEN")
            .stdout(Stdio::piped())
            .stderr(launch.stderr.unwrap_or_else(Stdio::inherit));
        let mut child = command.spawn().expect("start squall serve");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        let http = Client::builder(TokioExecutor::new()).build_http();
        let mut server = Self { child, lines, base: String::new(), key: String::new(), http };
        let mut seen = Vec::new();
        let listening = server.line(&mut seen, |l| l.contains("listening on "));
        let base = listening.split("listening on ").nth(1).and_then(|rest| rest.split(' ').next());
        server.base = base.expect("address").to_owned();
        server.key = std::fs::read_to_string(data.join("admin-api-key"))
            .expect("admin key file")
            .trim()
            .to_owned();
        (server, seen)
    }

    /// Waits (up to 2 minutes: the first start compiles the pack) for a
    /// line of standard output; keeps every line read in `seen`.
    pub(crate) fn line(&self, seen: &mut Vec<String>, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("no such line from squall serve ({e}); saw {seen:#?}"));
            seen.push(line.clone());
            if wanted(&line) {
                return line;
            }
        }
    }

    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: String,
    ) -> Response<Body> {
        let request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(header::AUTHORIZATION, format!("Bearer {}", self.key))
            .header(header::CONTENT_TYPE, content_type)
            .body(Full::new(Bytes::from(body)))
            .expect("request");
        self.http.request(request).await.expect("the server answers").map(Body::new)
    }

    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let body = body.map_or_else(String::new, |b| b.to_string());
        let response = self.send(method, path, "application/json", body).await;
        let status = response.status();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("JSON")
        };
        (status, json)
    }

    pub(crate) async fn finished(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, execution) =
                self.call(Method::GET, &format!("/api/v1/executions/{id}"), None).await;
            assert_eq!(status, StatusCode::OK, "{execution}");
            if execution["finished_at"].is_string() {
                return execution;
            }
            assert!(Instant::now() < deadline, "execution stuck: {execution}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// POSTs `body` to webhook `name`; returns the execution it started.
    pub(crate) async fn fire(&self, name: &str, query: &str, body: Value) -> String {
        let (status, answer) =
            self.call(Method::POST, &format!("/api/v1/webhooks/{name}{query}"), Some(body)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        let instance = answer["trigger_instances"][0].as_str().expect("instance");
        let (_, instance) =
            self.call(Method::GET, &format!("/api/v1/triggerinstances/{instance}"), None).await;
        instance["rule_enforcements"][0]["execution"].as_str().expect("an execution").to_owned()
    }

    /// SIGTERM, then waits for a clean exit.
    pub(crate) fn stop(mut self) -> Vec<String> {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(Instant::now() < deadline, "squall serve did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "{status}");
        self.lines.try_iter().collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_fires_a_rule_over_http_and_what_it_did_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (server, seen) = Server::start(&data, None, true);
    assert!(seen.iter().any(|l| l.ends_with("(created now)")), "{seen:#?}");
    assert!(!seen.iter().any(|l| l.contains("example rule")), "{seen:#?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for file in ["admin-api-key", "admin-password"] {
            let mode = std::fs::metadata(data.join(file)).expect(file).permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
    }
    assert!(
        seen.iter()
            .any(|l| l.contains("user `admin` (system_admin) created")
                && l.contains("admin-password")),
        "{seen:#?}"
    );
    // The first admin signs in with the password from its file, and the
    // token works as StackStorm's clients send it.
    let password = std::fs::read_to_string(data.join("admin-password")).expect("password");
    let token = {
        use base64::Engine as _;
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("admin:{}", password.trim()));
        let request = Request::post(format!("{}/auth/v1/tokens", server.base))
            .header(header::AUTHORIZATION, format!("Basic {basic}"))
            .body(Full::default());
        let response = server.http.request(request.expect("request")).await.expect("answer");
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value =
            serde_json::from_slice(&response.into_body().collect().await.expect("body").to_bytes())
                .expect("JSON");
        body["token"].as_str().expect("token").to_owned()
    };
    let request = Request::get(format!("{}/api/v1/user", server.base))
        .header("X-Auth-Token", &token)
        .body(Full::default());
    let response = server.http.request(request.expect("request")).await.expect("answer");
    assert_eq!(response.status(), StatusCode::OK);
    let me: Value =
        serde_json::from_slice(&response.into_body().collect().await.expect("body").to_bytes())
            .expect("JSON");
    assert_eq!(
        (&me["username"], &me["rbac"]["roles"]),
        (&json!("admin"), &json!(["system_admin"]))
    );
    let (status, health) = {
        let request = Request::get(format!("{}/api/v1/health", server.base)).body(Full::default());
        let response = server.http.request(request.expect("request")).await.expect("answer");
        let status = response.status();
        (status, response.into_body().collect().await.expect("body").to_bytes())
    };
    assert_eq!((status, &health[..]), (StatusCode::OK, &br#"{"status":"ok"}"#[..]));

    let response =
        server.send(Method::POST, "/api/v1/rules", "application/yaml", E2E_RULE.into()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = server
        .send(Method::GET, "/api/v1/stream?events=execution", "text/plain", String::new())
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut events = Events::new(response.into_body());

    let key = server.key.clone();
    let execution =
        server.fire("e2e/hello", &format!("?st2-api-key={key}"), json!({"name": "e2e"})).await;
    let seen = events
        .until(|name, data| {
            name == "execution" && data["id"] == execution.as_str() && data["status"] == "succeeded"
        })
        .await;
    assert!(seen.iter().all(|(name, _)| name == "execution"));
    let done = server.finished(&execution).await;
    assert_eq!(done["status"], "succeeded");
    assert_eq!(done["result"], json!({"message": "hello e2e"}));
    assert_eq!(done["rule"], "tests.e2e");

    // A graceful stop, with the event stream still open.
    let said = server.stop();
    assert!(said.iter().any(|l| l == "squall serve: stopped"), "{said:#?}");
    drop(events);

    let (server, seen) = Server::start(&data, None, true);
    assert!(seen.iter().any(|l| l.ends_with("(created on first start)")), "{seen:#?}");
    assert_eq!(server.key, key, "the admin key file was rewritten");
    assert_eq!(server.finished(&execution).await, done);
    let (status, rule) = server.call(Method::GET, "/api/v1/rules/tests.e2e", None).await;
    assert_eq!((status, &rule["enabled"]), (StatusCode::OK, &json!(true)));
    let again = server.fire("e2e/hello", "", json!({"name": "again"})).await;
    assert_eq!(server.finished(&again).await["result"], json!({"message": "hello again"}));
    let (_, pack) = server.call(Method::GET, "/api/v1/packs/core", None).await;
    assert_eq!(pack["version"], "0.1.0");
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_packs_it_runs_the_built_in_core_pack_with_the_example_rule() {
    // Run in an empty directory: the core pack comes from the binary.
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = dir.path().join("elsewhere");
    std::fs::create_dir_all(&cwd).expect("cwd");
    let data = dir.path().join("data");

    let (server, mut seen) = Server::start(&data, Some(&cwd), false);
    let curl = server.line(&mut seen, |l| l.trim_start().starts_with("curl "));
    assert!(seen.iter().any(|l| l.contains("try the example rule examples.hello")), "{seen:#?}");
    assert!(curl.contains(&format!("{}/api/v1/webhooks/hello", server.base)), "{curl}");
    assert!(curl.contains(&data.join("admin-api-key").display().to_string()), "{curl}");
    let (status, rule) = server.call(Method::GET, "/api/v1/rules/examples.hello", None).await;
    assert_eq!(status, StatusCode::OK, "{rule}");
    assert_eq!(rule["enabled"], true);
    assert!(rule["error"].is_null(), "{rule}");
    let execution = server.fire("hello", "", json!({"name": "world"})).await;
    assert_eq!(server.finished(&execution).await["result"], json!({"message": "hello world"}));
    server.stop();
}

/// A core pack installed from a bundle replaces the built-in one at once,
/// and is the one loaded after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installed_core_pack_replaces_the_built_in_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let launch = || Launch { args: vec!["--allow-unsigned"], ..Launch::default() };
    let (server, _) = Server::launch(&data, launch());
    let (_, pack) = server.call(Method::GET, "/api/v1/packs/core", None).await;
    assert_eq!(pack["version"], "0.1.0", "{pack}");

    let manifest = std::fs::read_to_string(CORE_MANIFEST).expect("core manifest").replacen(
        "version = \"0.1.0\"",
        "version = \"0.2.0\"",
        1,
    );
    let files = squall::pack::BundleFiles { manifest, ..Default::default() };
    let component = std::fs::read(CORE_PACK).expect("core component");
    let bundle = squall::pack::assemble(&component, &files, "core.wasm").expect("assemble");
    let request = Request::post(format!("{}/api/v1/packs?allow_unsigned=true", server.base))
        .header(header::AUTHORIZATION, format!("Bearer {}", server.key))
        .header(header::CONTENT_TYPE, "application/wasm")
        .body(Full::new(Bytes::from(bundle)))
        .expect("request");
    let response = server.http.request(request).await.expect("the server answers");
    let status = response.status();
    let body = response.into_body().collect().await.expect("body").to_bytes();
    assert!(status.is_success(), "{status}: {}", String::from_utf8_lossy(&body));

    let mut running = Some(server);
    for _ in 0..2 {
        let server = running.take().unwrap_or_else(|| Server::launch(&data, launch()).0);
        let (_, pack) = server.call(Method::GET, "/api/v1/packs/core", None).await;
        assert_eq!(pack["version"], "0.2.0", "{pack}");
        let request = json!({"action": "core.echo", "parameters": {"message": "hi"}});
        let (status, created) =
            server.call(Method::POST, "/api/v1/executions", Some(request)).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let done = server.finished(created["id"].as_str().expect("id")).await;
        assert_eq!(done["result"], json!({"message": "hi"}), "{done}");
        server.stop();
    }
}
