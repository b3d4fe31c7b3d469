//! StackStorm's names everywhere: the rule for action, trigger type and
//! sensor names (dots, capitals, dashes) and for pack names, as a table of
//! names accepted and refused with the refusal's text; and live, a pack
//! whose action is `ops.Count-calls` and whose trigger type is
//! `Alert.Fired`, run by `squall serve` on 127.0.0.1: a rule on them fired
//! through the pack's webhook sensor, the action run by ref through the
//! API, the CLI, an action alias and a workflow task, and RBAC grants on
//! its uid.

use std::path::Path;

use axum::body::Bytes;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use serde_json::{Value, json};
use squall::pack::Manifest;
use squall_tests::HOSTILE_GUEST;

use crate::api::server::{Launch, Server};

/// A pack declaring `name` as an action, a trigger type and a sensor.
fn declaring(name: &str) -> String {
    format!(
        r#"name = "names"
version = "1.0.0"

[actions."{name}"]
description = "an action"

[triggers."{name}"]
payload = {{ type = "object" }}

[sensors."{name}"]
kind = "webhook"
emits = ["{name}"]
"#
    )
}

#[test]
fn names_inside_a_pack_are_stackstorms_and_the_refusal_says_the_rule() {
    let long = "N".repeat(128);
    let accepted = [
        "kv.get",
        "alert.aggregation",
        "GitHubPollingSensor",
        "orquesta-basic",
        "subworkflow-default-value-from-action-context.yaml",
        "file_watch.line",
        "_private",
        "2fa",
        "a.B-c_9.d",
        long.as_str(),
    ];
    for name in accepted {
        let manifest = Manifest::from_toml(&declaring(name), Path::new("pack.toml"))
            .unwrap_or_else(|e| panic!("`{name}` refused: {e}"));
        assert!(manifest.actions.contains_key(name), "{name}");
        assert!(manifest.triggers.contains_key(name), "{name}");
        assert_eq!(manifest.sensors[name].emits, [format!("names.{name}")], "{name}");
    }
    let too_long = "N".repeat(129);
    let refused = [
        "",
        ".hidden",
        "-flag",
        "trailing.",
        "a..b",
        "has space",
        "pack:name",
        "a/b",
        "é",
        too_long.as_str(),
    ];
    for name in refused {
        let error = Manifest::from_toml(&declaring(name), Path::new("pack.toml"))
            .expect_err(name)
            .to_string();
        let expected = format!(
            "pack.toml:4: actions.{name}: expected up to 128 ASCII letters (either case), digits, `_`, `-` and `.`, not starting with `-` or `.`, not ending with `.`, no `..`, got `{name}`"
        );
        assert_eq!(error, expected, "{name}");
    }
}

#[test]
fn pack_names_stay_lowercase_without_dots() {
    for (name, ok) in [("ops", true), ("ops_2", true), ("my.pack", false), ("Ops", false)] {
        let text = format!("name = \"{name}\"\nversion = \"1.0.0\"\n");
        let loaded = Manifest::from_toml(&text, Path::new("pack.toml"));
        assert_eq!(loaded.is_ok(), ok, "{name}: {loaded:?}");
        if let Err(e) = loaded {
            assert_eq!(
                e.to_string(),
                format!(
                    "pack.toml:1: name: expected up to 64 lowercase letters, digits and `_`, starting with a letter, got `{name}`"
                )
            );
        }
    }
}

#[test]
fn a_dotted_name_is_a_quoted_key_and_errors_point_at_its_line() {
    let text = r#"name = "names"
version = "1.0.0"

[actions."kv.get"]
description = "reads a key"

[actions."kv.get".policy]
timeout = "0s"
"#;
    let error = Manifest::from_toml(text, Path::new("pack.toml")).expect_err("a zero timeout");
    assert_eq!(error.field, "actions.kv.get.policy.timeout");
    assert_eq!(error.line, Some(8), "{error}");
    // A sensor may name what it emits by ref or by its name in the pack.
    let text = r#"name = "linux"
version = "1.0.0"

[triggers."file_watch.line"]
payload = { type = "object" }

[sensors.FileWatchSensor]
kind = "poll"
interval = "5s"
emits = ["file_watch.line", "linux.file_watch.line"]
"#;
    let manifest = Manifest::from_toml(text, Path::new("pack.toml")).expect("loads");
    assert_eq!(
        manifest.sensors["FileWatchSensor"].emits,
        ["linux.file_watch.line", "linux.file_watch.line"]
    );
}

#[test]
fn a_dotted_action_runs_locally_by_its_name_or_its_ref() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let manifest = dir.path().join("pack.toml");
    std::fs::write(&manifest, PACK).expect("pack.toml");
    std::fs::create_dir(dir.path().join("workflows")).expect("workflows/");
    std::fs::write(dir.path().join("workflows/run_both.yaml"), WORKFLOW).expect("workflow");
    let cache = dir.path().join("cache");
    for action in ["ops.Count-calls", "names.ops.Count-calls"] {
        let argv = [
            "squall",
            "run",
            "--component",
            HOSTILE_GUEST,
            "--manifest",
            manifest.to_str().expect("UTF-8"),
            "--cache-dir",
            cache.to_str().expect("UTF-8"),
            action,
        ];
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let code = squall::cli::execute(argv, &mut stdout, &mut stderr);
        let (stdout, stderr) = (String::from_utf8_lossy(&stdout), String::from_utf8_lossy(&stderr));
        assert_eq!(code, 0, "{action}: {stdout} {stderr}");
        let output: Value = serde_json::from_str(&stdout).expect("JSON");
        assert_eq!(output, json!({"calls": 1}), "{action}");
    }
}

const PACK: &str = r#"name = "names"
version = "1.0.0"
description = "StackStorm's names"

[actions."ops.Count-calls"]
description = "counts its calls (always 1: a fresh sandbox)"

[actions."flow.Run-Both"]
description = "runs ops.Count-calls twice, once written inline"
workflow = "workflows/run_both.yaml"

[triggers."Alert.Fired"]
description = "an alert"
payload = { type = "object", properties = { level = { type = "string" } }, required = ["level"] }

[sensors."Relay.In"]
description = "relays a webhook as the trigger type its query names"
kind = "webhook"
emits = ["Alert.Fired"]
"#;

const WORKFLOW: &str = r#"version: 1.0
tasks:
  first:
    action: names.ops.Count-calls
    next:
      - when: <% succeeded() %>
        publish:
          - first: <% result().calls %>
        do: second
  second:
    action: names.ops.Count-calls level=inline
    next:
      - when: <% succeeded() %>
        publish:
          - second: <% result().calls %>
output:
  - calls: <% [ctx(first), ctx(second)] %>
"#;

/// `method path` with `key`, JSON in and out (`Value::String` for a body
/// that is not JSON).
async fn call_as(
    server: &Server,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(format!("{}{path}", server.base))
        .header("St2-Api-Key", key)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.map_or_else(String::new, |b| b.to_string()))))
        .expect("request");
    let response = server.http.request(request).await.expect("the server answers");
    let status = response.status();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// The executions of `action`.
async fn executions_of(server: &Server, action: &str) -> Vec<Value> {
    let path = format!("/api/v1/executions?action={action}");
    let (status, listed) = call_as(server, &server.key, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    listed.as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pack_with_stackstorms_names_runs_on_a_real_server() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let pack = dir.path().join("names");
    std::fs::create_dir_all(pack.join("workflows")).expect("pack dir");
    std::fs::write(pack.join("pack.toml"), PACK).expect("pack.toml");
    std::fs::write(pack.join("workflows/run_both.yaml"), WORKFLOW).expect("workflow");
    let manifest = pack.join("pack.toml");
    let manifest = manifest.to_str().expect("UTF-8");
    let data = dir.path().join("data");
    let launch = Launch { args: vec!["--pack", manifest, HOSTILE_GUEST], ..Launch::default() };
    let (server, _) = Server::launch(&data, launch);
    let key = server.key.clone();

    // The catalog shows the names split at the first dot.
    let (status, action) =
        call_as(&server, &key, Method::GET, "/api/v1/actions/names.ops.Count-calls", None).await;
    assert_eq!(status, StatusCode::OK, "{action}");
    assert_eq!(
        (&action["pack"], &action["name"], &action["uid"]),
        (&json!("names"), &json!("ops.Count-calls"), &json!("action:names:ops.Count-calls"))
    );
    let (status, trigger) =
        call_as(&server, &key, Method::GET, "/api/v1/triggertypes/names.Alert.Fired", None).await;
    assert_eq!(status, StatusCode::OK, "{trigger}");
    assert_eq!((&trigger["pack"], &trigger["name"]), (&json!("names"), &json!("Alert.Fired")));

    // A rule on the capitalised trigger type runs the dotted action.
    let rule = json!({
        "name": "on_alert", "pack": "names", "enabled": true,
        "trigger": {"type": "names.Alert.Fired"},
        "criteria": {"trigger.level": {"type": "equals", "pattern": "high"}},
        "action": {"ref": "names.ops.Count-calls", "parameters": {"level": "{{ trigger.level }}"}},
    });
    let (status, created) = call_as(&server, &key, Method::POST, "/api/v1/rules", Some(rule)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let hook = "/api/v1/webhooks/names/Relay.In?trigger=names.Alert.Fired";
    for level in ["low", "high"] {
        let body = Some(json!({ "level": level }));
        let (status, answer) = call_as(&server, &key, Method::POST, hook, body).await;
        assert_eq!((status, answer), (StatusCode::ACCEPTED, json!("relayed")));
    }
    // The webhook's answer comes after its instance, enforcements and
    // executions committed: they are all there.
    let fired = executions_of(&server, "names.ops.Count-calls").await;
    assert_eq!(fired.len(), 1, "only the high alert matches: {fired:?}");
    let id = fired[0]["id"].as_str().expect("an id");
    let execution = server.finished(id).await;
    assert_eq!(execution["status"], "succeeded", "{execution}");
    assert_eq!(execution["result"], json!({"calls": 1}));
    assert_eq!(execution["parameters"], json!({"level": "high"}));

    // By ref through the API and through the CLI.
    let body = json!({"action": "names.ops.Count-calls", "parameters": {}});
    let (status, requested) =
        call_as(&server, &key, Method::POST, "/api/v1/executions", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{requested}");
    let execution = server.finished(requested["id"].as_str().expect("an id")).await;
    assert_eq!(
        (&execution["status"], &execution["result"]),
        (&json!("succeeded"), &json!({"calls": 1}))
    );
    let argv = ["run", "names.ops.Count-calls", "--json", "--url", &server.base, "--api-key", &key];
    let ran = crate::client::execute(argv.iter().map(|a| (*a).to_owned()).collect()).await;
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.contains("\"calls\": 1") || ran.stdout.contains("\"calls\":1"), "{ran:?}");

    // Through an action alias.
    let alias = json!({
        "name": "count", "pack": "names", "action_ref": "names.ops.Count-calls",
        "formats": ["count calls"],
    });
    let (status, stored) =
        call_as(&server, &key, Method::POST, "/api/v1/actionalias", Some(alias)).await;
    assert_eq!(status, StatusCode::CREATED, "{stored}");
    let command = json!({"command": "count calls", "source_channel": "ops"});
    let path = "/api/v1/aliasexecution/match_and_execute";
    let (status, ran) = call_as(&server, &key, Method::POST, path, Some(command)).await;
    assert_eq!(status, StatusCode::CREATED, "{ran}");
    let execution = &ran["results"][0]["execution"];
    assert_eq!(execution["action"]["ref"], "names.ops.Count-calls", "{ran}");
    let execution = server.finished(execution["id"].as_str().expect("an id")).await;
    assert_eq!(execution["result"], json!({"calls": 1}), "{execution}");

    // Through a workflow's tasks, plain and inline.
    let body = json!({"action": "names.flow.Run-Both"});
    let (status, requested) =
        call_as(&server, &key, Method::POST, "/api/v1/executions", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{requested}");
    let flow = server.finished(requested["id"].as_str().expect("an id")).await;
    assert_eq!(flow["status"], "succeeded", "{flow}");
    assert_eq!(flow["result"]["output"], json!({"calls": [1, 1]}), "{flow}");

    // RBAC: a grant on the dotted action's uid is a grant on it alone.
    let role = json!({
        "name": "names_runner", "enabled": true,
        "permission_grants": [{
            "resource_uid": "action:names:ops.Count-calls",
            "permission_types": ["action_execute", "action_view"],
        }],
    });
    let (status, stored) =
        call_as(&server, &key, Method::PUT, "/api/v1/rbac/roles/names_runner", Some(role)).await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    let user = json!({"name": "runner", "roles": ["names_runner"]});
    let (status, made) = call_as(&server, &key, Method::POST, "/api/v1/users", Some(user)).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let new_key = json!({"name": "runner's", "user": "runner"});
    let (status, made) =
        call_as(&server, &key, Method::POST, "/api/v1/apikeys", Some(new_key)).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let runner = made["key"].as_str().expect("the key").to_owned();
    for (reference, allowed) in [("names.ops.Count-calls", true), ("names.flow.Run-Both", false)] {
        let path = format!("/api/v1/actions/{reference}");
        let (status, _) = call_as(&server, &runner, Method::GET, &path, None).await;
        let expected = if allowed { StatusCode::OK } else { StatusCode::FORBIDDEN };
        assert_eq!(status, expected, "view {reference}");
        let body = json!({"action": reference});
        let (status, answer) =
            call_as(&server, &runner, Method::POST, "/api/v1/executions", Some(body)).await;
        let expected = if allowed { StatusCode::CREATED } else { StatusCode::FORBIDDEN };
        assert_eq!(status, expected, "run {reference}: {answer}");
    }
    server.stop();
}
