//! Workflows through the `squall` CLI against a real server: the inquiry
//! round trip (the workflow waits, a bad answer is refused, a good one
//! resumes it), and pause, resume and re-run from a task.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use squall_tests::{CORE_PACK, TestRuntime};

use super::client::Server;
use super::workflow_engine::flows_manifest;

const APPROVAL: &str = r#"
version: 1.0
input:
  - change
tasks:
  ask:
    action: core.ask
    input:
      route: oncall
      schema:
        type: object
        properties:
          approved: {type: boolean}
        required: [approved]
    next:
      - when: '{{ succeeded() and result().response.approved }}'
        do: apply
  apply:
    action: core.echo
    input: {message: 'applied {{ ctx().change }}'}
    next:
      - publish: [applied: '{{ result().message }}']
output:
  - applied: '{{ ctx().applied | default("nothing") }}'
"#;

const SLOW: &str = r#"
version: 1.0
tasks:
  nap:
    action: core.sleep
    input: {seconds: 0.5}
    next:
      - do: say
  say:
    action: core.echo
    input: {message: "said"}
    next:
      - publish: [said: '{{ result().message }}']
output:
  - said: '{{ ctx().said }}'
"#;

/// A server whose catalog also has the `flows` pack's workflows.
async fn server() -> (Server, TestRuntime) {
    let server = Server::start().await;
    let runtime = TestRuntime::new();
    let workflows = BTreeMap::from([
        ("approval".to_owned(), APPROVAL.to_owned()),
        ("slow".to_owned(), SLOW.to_owned()),
    ]);
    let engine = server.api.state.engine();
    let mut actions = (*engine.ingest().actions()).clone();
    actions
        .add_pack(&flows_manifest(&workflows), Arc::new(runtime.load(CORE_PACK, "flows")))
        .expect("flows actions");
    engine.set_actions(actions);
    (server, runtime)
}

/// Polls `squall ARGS --json` until `done` holds of its output (10 s).
async fn until(server: &Server, args: &[&str], done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut argv = args.to_vec();
        argv.push("--json");
        let value = server.cli(&argv).await.json();
        if done(&value) {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out: squall {}: {value}", args.join(" "));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inquiry_round_trip_through_the_cli() {
    let (server, _runtime) = server().await;
    let started = server.cli(&["run", "flows.approval", "change=db-42", "--async"]).await;
    let workflow = started.ok().trim().to_owned();
    assert_eq!(workflow.len(), 36, "the id: {workflow}");

    let pending =
        until(&server, &["inquiry", "list"], |v| v.as_array().is_some_and(|a| !a.is_empty())).await;
    let inquiry = pending[0]["id"].as_str().expect("id").to_owned();
    assert_eq!(pending[0]["workflow"], json!(workflow));
    assert_eq!(pending[0]["route"], "oncall");
    until(&server, &["execution", "get", &workflow], |v| v["status"] == "paused").await;
    let shown = server.cli(&["inquiry", "get", &inquiry]).await;
    assert!(shown.ok().contains("\"approved\""), "the schema is shown: {}", shown.stdout);

    let refused =
        server.cli(&["inquiry", "respond", &inquiry, "-r", r#"{"approved": "yes"}"#]).await;
    assert_ne!(refused.code, 0, "a bad answer is refused");
    assert!(
        refused.stderr.contains("/approved") && refused.stderr.contains("boolean"),
        "the refusal names the field: {}",
        refused.stderr
    );
    let not_json = server.cli(&["inquiry", "respond", &inquiry, "-r", "yes"]).await;
    assert!(not_json.stderr.contains("--response"), "{}", not_json.stderr);
    let still = server.cli(&["inquiry", "get", &inquiry, "--json"]).await.json();
    assert_eq!(still["status"], "pending", "a refused answer changes nothing");

    let answered =
        server.cli(&["inquiry", "respond", &inquiry, "-r", r#"{"approved": true}"#]).await;
    assert!(answered.ok().contains("answered"), "{}", answered.stdout);
    let done =
        until(&server, &["execution", "get", &workflow], |v| v["status"] == "succeeded").await;
    assert_eq!(done["result"]["output"], json!({"applied": "applied db-42"}));
    // For people, the workflow's tasks follow its fields, oldest first.
    let shown = server.cli(&["execution", "get", &workflow]).await;
    let tasks: Vec<Vec<&str>> = shown
        .ok()
        .lines()
        .skip_while(|l| !l.starts_with("TASK"))
        .skip(1)
        .map(|l| l.split_whitespace().filter(|w| w.len() != 36).collect())
        .collect();
    assert_eq!(
        tasks,
        [vec!["ask", "core.ask", "succeeded"], vec!["apply", "core.echo", "succeeded"]],
        "{}",
        shown.stdout
    );
    let closed = server.cli(&["inquiry", "get", &inquiry, "--json"]).await.json();
    assert_eq!(closed["status"], "responded");
    assert_eq!(closed["response"], json!({"approved": true}));
    let again = server.cli(&["inquiry", "respond", &inquiry, "-r", r#"{"approved": true}"#]).await;
    assert!(again.stderr.contains("no longer pending"), "{}", again.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_and_re_run_a_task_through_the_cli() {
    let (server, _runtime) = server().await;
    let workflow = server.cli(&["run", "flows.slow", "--async"]).await.ok().trim().to_owned();
    until(&server, &["execution", "list", "--all"], |v| {
        v.as_array().is_some_and(|all| all.iter().any(|e| e["action"]["ref"] == "core.sleep"))
    })
    .await;
    let paused = server.cli(&["execution", "pause", &workflow]).await;
    assert_eq!(paused.ok().trim(), format!("workflow {workflow} is paused"));
    // The nap finishes; `say` is held back while paused.
    until(&server, &["execution", "list", "--all"], |v| {
        v.as_array().is_some_and(|all| {
            all.iter().any(|e| e["action"]["ref"] == "core.sleep" && e["status"] == "succeeded")
        })
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let listed = server.cli(&["execution", "list", "--all", "--json"]).await.json();
    assert!(
        listed.as_array().expect("list").iter().all(|e| e["action"]["ref"] != "core.echo"),
        "nothing starts while paused: {listed}"
    );
    let resumed = server.cli(&["execution", "resume", &workflow]).await;
    assert_eq!(resumed.ok().trim(), format!("workflow {workflow} is running"));
    let done =
        until(&server, &["execution", "get", &workflow], |v| v["status"] == "succeeded").await;
    assert_eq!(done["result"]["output"], json!({"said": "said"}));

    let twice = server.cli(&["execution", "resume", &workflow]).await;
    assert!(twice.stderr.contains("already finished"), "{}", twice.stderr);
    let rerun = server.cli(&["execution", "re-run", &workflow, "--tasks", "say", "--json"]).await;
    let rerun = rerun.json();
    assert_eq!(rerun["status"], "succeeded", "{rerun}");
    assert_eq!(rerun["result"]["output"], json!({"said": "said"}));
    let bad = server.cli(&["execution", "re-run", &workflow, "--tasks", "nosuch"]).await;
    assert!(bad.stderr.contains("`nosuch`"), "{}", bad.stderr);
}

/// `squall workflow validate|inspect --json FIXTURE`: exit status and the
/// parsed object.
fn workflow_json(command: &str, fixture: &str) -> (u8, Value) {
    let path = format!("{}/it/workflows/{fixture}", env!("CARGO_MANIFEST_DIR"));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status =
        squall::cli::execute(["squall", "workflow", command, "--json", &path], &mut out, &mut err);
    let parsed = serde_json::from_slice(&out)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out)));
    (status, parsed)
}

#[test]
fn workflow_validate_json_reports_tasks_errors_and_warnings() {
    let (status, ok) = workflow_json("validate", "warnings.yaml");
    assert_eq!(status, 0);
    assert!(ok["file"].as_str().is_some_and(|f| f.ends_with("warnings.yaml")), "{ok}");
    assert_eq!(ok["ok"], json!(true));
    assert_eq!(ok["tasks"], json!(6));
    assert_eq!(ok["errors"], json!([]));
    let warnings = ok["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 4, "{ok}");
    assert_eq!(warnings[0]["line"], json!(16));
    assert_eq!(warnings[0]["path"], json!("tasks.single.join"));
    assert!(warnings[0]["message"].as_str().is_some_and(|m| m.contains("joins nothing")));

    let (status, bad) = workflow_json("validate", "bad_no_start.yaml");
    assert_eq!(status, 2, "exit status unchanged by --json");
    assert_eq!(bad["ok"], json!(false));
    assert_eq!(bad["tasks"], Value::Null);
    assert_eq!(bad["errors"][0]["line"], json!(2));
    assert_eq!(bad["errors"][0]["path"], json!("tasks"));
    assert!(bad["errors"][0]["message"].as_str().is_some_and(|m| m.contains("no task to start")));
}

#[test]
fn workflow_inspect_json_is_the_task_graph() {
    let (status, graph) = workflow_json("inspect", "branching.yaml");
    assert_eq!(status, 0);
    assert_eq!(graph["start"], json!(["cleanup"]));
    let names: Vec<&str> = graph["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["cleanup", "notify", "ticket", "page"]);
    assert_eq!(graph["tasks"][0]["action"], json!("diskguard.cleanup"));
    assert_eq!(graph["tasks"][0]["line"], json!(6));
    let edges: Vec<(&str, &str, u64)> = graph["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            (
                e["from"].as_str().unwrap_or("?"),
                e["to"].as_str().unwrap_or("?"),
                e["transition"].as_u64().unwrap_or(99),
            )
        })
        .collect();
    assert_eq!(
        edges,
        [
            ("cleanup", "notify", 0),
            ("cleanup", "ticket", 1),
            ("cleanup", "page", 1),
            ("page", "fail", 0)
        ]
    );
    assert_eq!(graph["edges"][0]["when"], json!("<% succeeded() %>"));
    assert_eq!(graph["edges"][0]["publish"], json!(["freed"]));
    assert_eq!(graph["edges"][3]["to_task"], json!(false));

    let (status, bad) = workflow_json("inspect", "bad_no_start.yaml");
    assert_eq!(status, 2);
    assert_eq!(bad["ok"], json!(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execution_list_shows_top_level_runs_unless_all() {
    let (server, _runtime) = server().await;
    let workflow = server.cli(&["run", "flows.slow"]).await;
    assert_eq!(workflow.code, 0, "{}", workflow.stderr);
    let direct = server.cli(&["run", "core.echo", "message=alone", "--json"]).await.json();
    let refs = |list: &Value| -> Vec<String> {
        list.as_array()
            .expect("a list")
            .iter()
            .map(|e| e["action"]["ref"].as_str().unwrap_or("?").to_owned())
            .collect()
    };

    // By default only what no workflow started: the workflow and the
    // direct run, newest first, not the workflow's two tasks.
    let top = server.cli(&["execution", "list", "--json"]).await.json();
    assert_eq!(refs(&top), ["core.echo", "flows.slow"], "{top}");
    assert_eq!(top[0]["id"], direct["id"]);
    let table = server.cli(&["execution", "list"]).await;
    assert_eq!(table.ok().lines().count(), 3, "a header and two rows: {}", table.stdout);
    assert!(!table.stdout.contains("core.sleep"), "{}", table.stdout);

    // --all has the tasks too, each with its workflow as parent.
    let all = server.cli(&["execution", "list", "--all", "--json"]).await.json();
    assert_eq!(refs(&all), ["core.echo", "core.echo", "core.sleep", "flows.slow"], "{all}");
    let workflow_id = &top[1]["id"];
    let children: Vec<&Value> =
        all.as_array().expect("a list").iter().filter(|e| e["parent"] == *workflow_id).collect();
    assert_eq!(children.len(), 2, "{all}");

    // --offset pages; a full page of a filtered list says where the next
    // one starts.
    let first = server.cli(&["execution", "list", "--limit", "1"]).await;
    assert!(first.ok().contains("core.echo"), "{}", first.stdout);
    assert_eq!(
        first.stderr,
        "note: 1 execution shown, newest first; more match: --offset 1 shows the next page\n"
    );
    let second =
        server.cli(&["execution", "list", "--limit", "1", "--offset", "1", "--json"]).await.json();
    assert_eq!(refs(&second), ["flows.slow"]);
    assert_eq!(&second[0]["id"], workflow_id);
    let past = server.cli(&["execution", "list", "--offset", "2", "--json"]).await.json();
    assert_eq!(past, serde_json::json!([]));
    let all_paged =
        server.cli(&["execution", "list", "--all", "--offset", "1", "--json"]).await.json();
    assert_eq!(refs(&all_paged), ["core.echo", "core.sleep", "flows.slow"]);
}
