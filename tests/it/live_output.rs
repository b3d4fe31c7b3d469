//! An action's log lines, live: on the event stream as the action writes
//! them (Squall's `output`, StackStorm's `st2.execution.output__create`),
//! only to callers who may view the execution, in `GET
//! /executions/{id}/output` while it runs, on `squall run`'s stderr as they
//! come, and in `squall execution tail` of a workflow with the task's name,
//! a sub-workflow's tasks' too. Ordering only: a line arrives while its
//! execution still runs (it sleeps until the test cancels it).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use squall::pack::Manifest;
use squall_tests::{CORE_PACK, HOSTILE_GUEST, TestRuntime};

use super::api::stream::Events;
use squall::api::AccessPolicy;

use super::api::{Api, text_body};
use super::client::Server;
use super::workflow_engine::flows_manifest;

/// The hostile guest's `chatter`: logs, then sleeps `sleep_ms`.
fn hostile_manifest() -> Manifest {
    Manifest::from_toml(
        "name = \"hostile\"\nversion = \"1.0.0\"\n[actions.chatter]\nparameters = { type = \"object\" }\n",
        std::path::Path::new("hostile/pack.toml"),
    )
    .expect("hostile manifest")
}

async fn api_with_chatter() -> Api {
    Api::start_with_packs(AccessPolicy::default(), |runtime, actions| {
        let manifest = hostile_manifest();
        actions
            .add_pack(&manifest, Arc::new(runtime.load(HOSTILE_GUEST, "hostile")))
            .expect("hostile actions");
        vec![manifest]
    })
    .await
}

async fn open(api: &Api, key: &str, path: &str) -> Events {
    let request = Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .body(Body::empty())
        .expect("request");
    let response = api.send(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    Events::new(response.into_body())
}

/// Starts `hostile.chatter`, which logs one line and then sleeps until
/// canceled; answers its id.
async fn start_chatter(api: &Api) -> String {
    let request = json!({
        "action": "hostile.chatter",
        "parameters": {"lines": 1, "bytes": 8, "sleep_ms": 20_000},
    });
    let (status, created) = api.call(Method::POST, "/api/v1/executions", Some(request)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_str().expect("id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_line_is_on_the_stream_while_its_execution_runs_and_only_for_its_viewers() {
    let api = api_with_chatter().await;
    // A caller who may read the stream but not this action's executions.
    let role = "name: streamer\npermission_grants:\n  - permission_types: [stream_view]\n";
    let (status, body) =
        api.call(Method::PUT, "/api/v1/rbac/roles/streamer", Some(json!(role))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let outsider = api.key_for("outsider", &["streamer"], &[]).await;

    let mut squall = open(&api, &api.key, "/api/v1/stream?events=execution,output").await;
    let mut st2 =
        open(&api, &api.key, "/stream/v1/stream?events=st2.execution.output__create").await;
    let mut theirs = open(&api, &outsider, "/api/v1/stream?events=execution,output").await;
    let id = start_chatter(&api).await;

    let seen = squall.until(|name, _| name == "output").await;
    let (_, line) = seen.last().expect("the output event");
    assert_eq!(line["execution_id"], id.as_str(), "{line}");
    assert_eq!(line["action"], "hostile.chatter", "{line}");
    assert_eq!(line["level"], "info", "{line}");
    assert_eq!(line["message"], "line 0 .", "{line}");
    assert_eq!(line["workflow_task"], Value::Null, "{line}");
    assert!(line["timestamp"].is_string() && line["id"].is_string(), "{line}");
    // No execution event said it ended before its line came.
    let ended = seen.iter().any(|(name, data)| {
        name == "execution"
            && data["id"] == id.as_str()
            && !matches!(data["status"].as_str(), Some("requested" | "scheduled" | "running"))
    });
    assert!(!ended, "{seen:?}");
    // It still runs, and what it logged so far is its output.
    assert_eq!(api.get(&format!("/api/v1/executions/{id}")).await["status"], "running");
    let request = api.authed(Method::GET, &format!("/api/v1/executions/{id}/output"));
    let response = api.send(request.body(Body::empty()).expect("request")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(text_body(response).await, "line 0 .\n");

    // StackStorm's shape: its ActionExecutionOutputDB.
    let (name, output) = st2.next().await.expect("an st2 event");
    assert_eq!(name, "st2.execution.output__create");
    assert_eq!(output["execution_id"], id.as_str(), "{output}");
    assert_eq!(output["action_ref"], "hostile.chatter", "{output}");
    assert_eq!(output["runner_ref"], "wasm", "{output}");
    assert_eq!(output["output_type"], "stdout", "{output}");
    assert_eq!(output["data"], "line 0 .\n", "{output}");
    assert!(output["timestamp"].is_string(), "{output}");
    // Squall's beside it, as its own stream has them.
    assert_eq!(output["level"], "info", "{output}");
    assert_eq!(output["workflow_task"], Value::Null, "{output}");

    let (status, body) = api.call(Method::DELETE, &format!("/api/v1/executions/{id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The outsider sees the execution change (what `stream_view` shows)
    // but not what it logged.
    let seen = theirs
        .until(|name, data| {
            name == "execution" && data["id"] == id.as_str() && data["status"] == "canceled"
        })
        .await;
    assert!(seen.iter().all(|(name, _)| name != "output"), "{seen:?}");
}

/// What a CLI run has written so far, readable while it runs.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Shared {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }

    /// Waits (20 s at most, against a hang) until `done` holds of the text.
    async fn until(&self, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = self.text();
            if done(&text) {
                return text;
            }
            assert!(Instant::now() < deadline, "timed out; so far: {text}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Write for Shared {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `squall ARGS --url … --api-key …` on a blocking thread, its stdout and
/// stderr readable as it runs.
fn spawn_cli(server: &Server, args: &[&str]) -> (tokio::task::JoinHandle<u8>, Shared, Shared) {
    let argv: Vec<String> = std::iter::once("squall")
        .chain(args.iter().copied())
        .chain(server.credentials())
        .map(str::to_owned)
        .collect();
    let (stdout, stderr) = (Shared::default(), Shared::default());
    let (mut out, mut err) = (stdout.clone(), stderr.clone());
    let cli = tokio::task::spawn_blocking(move || squall::cli::execute(argv, &mut out, &mut err));
    (cli, stdout, stderr)
}

async fn server_with(workflows: &[(&str, &str)]) -> (Server, TestRuntime) {
    let server = Server::start().await;
    let runtime = TestRuntime::new();
    let engine = server.api.state.engine();
    let mut actions = (*engine.ingest().actions()).clone();
    actions
        .add_pack(&hostile_manifest(), Arc::new(runtime.load(HOSTILE_GUEST, "hostile")))
        .expect("hostile actions");
    let workflows: BTreeMap<String, String> =
        workflows.iter().map(|(n, t)| ((*n).to_owned(), (*t).to_owned())).collect();
    actions
        .add_pack(&flows_manifest(&workflows), Arc::new(runtime.load(CORE_PACK, "flows")))
        .expect("flows actions");
    engine.set_actions(actions);
    (server, runtime)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_prints_a_log_line_while_the_action_still_runs_and_only_once() {
    let (server, _runtime) = server_with(&[]).await;
    let (cli, stdout, stderr) =
        spawn_cli(&server, &["run", "hostile.chatter", "lines=1", "sleep_ms=20000"]);
    stderr.until(|text| text.contains("[info] line 0 .\n")).await;
    let listed = server.api.get("/api/v1/executions?action=hostile.chatter").await;
    let id = listed[0]["id"].as_str().expect("an execution").to_owned();
    assert_eq!(listed[0]["status"], "running", "the line came before the end: {listed}");
    let (status, body) =
        server.api.call(Method::DELETE, &format!("/api/v1/executions/{id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let code = cli.await.expect("the CLI thread");
    let (stdout, stderr) = (stdout.text(), stderr.text());
    assert_eq!(code, 1, "canceled: {stdout}{stderr}");
    assert_eq!(stderr.matches("line 0").count(), 1, "printed once: {stderr}");
    assert!(stderr.starts_with("[info] line 0 .\n"), "{stderr}");
    assert!(stdout.contains("canceled"), "{stdout}");
}

const OUTER: &str = r#"
version: 1.0
tasks:
  ask:
    action: core.ask
    input:
      schema:
        type: object
        properties:
          go: {type: boolean}
    next:
      - when: '{{ succeeded() }}'
        do: inner
  inner:
    action: flows.inner
"#;

const INNER: &str = r#"
version: 1.0
tasks:
  talk:
    action: hostile.chatter
    input: {lines: 1, bytes: 8}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_of_a_workflow_shows_a_sub_workflow_task_s_log_line_with_its_name() {
    let (server, _runtime) = server_with(&[("outer", OUTER), ("inner", INNER)]).await;
    let workflow = server.cli(&["run", "--async", "flows.outer"]).await.ok().trim().to_owned();
    // The workflow waits for an answer; the tail is on the stream once it
    // printed the workflow's state.
    let (tail, stdout, stderr) = spawn_cli(&server, &["execution", "tail", &workflow]);
    stdout.until(|text| text.starts_with(&workflow)).await;
    let inquiry = loop {
        let pending = server.cli(&["inquiry", "list", "--json"]).await.json();
        if let Some(id) = pending[0]["id"].as_str() {
            break id.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    server.cli(&["inquiry", "respond", &inquiry, "-r", r#"{"go": true}"#]).await.ok();
    let code = tail.await.expect("the tail thread");
    let (stdout, stderr) = (stdout.text(), stderr.text());
    assert_eq!(code, 0, "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    let logged = lines.iter().position(|l| *l == "  [info] inner/talk: line 0 .");
    let logged = logged.unwrap_or_else(|| panic!("the sub-workflow task's line: {stdout}"));
    assert_eq!(stdout.matches("line 0").count(), 1, "{stdout}");
    let inner_ended = lines.iter().position(|l| l.contains(" task inner succeeded"));
    assert!(inner_ended.is_some_and(|ended| logged < ended), "{stdout}");
    assert_eq!(lines.last().copied(), Some(format!("{workflow} flows.outer succeeded").as_str()));
}
