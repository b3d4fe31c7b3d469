//! Workflows run by the real engine, data-driven: each
//! `workflows/engine/NAME.yaml` declares the workflows of a test pack
//! `flows` (run by the core pack's real Wasm actions), the input, and the
//! operator's steps; the trace (what each step answered, snapshots of the
//! execution tree, and the tree and outputs at the end) is compared with
//! `NAME.expected`; `UPDATE_EXPECT=1` rewrites them.
//!
//! ```yaml
//! workflows: {main: "version: 1.0 ...", child: "..."}
//! input: {name: x}
//! kv: {greeting: hello}            # system datastore keys, set first
//! steps:
//!   - pause                      # also: resume, cancel, trace
//!   - wait: {started: a}         # until task `a` has a child execution
//!   - wait: {task: a}            # until a child of task `a` has finished
//!   - wait: {status: paused}     # until the workflow is in that state
//!   - wait_inquiry               # until an inquiry is pending
//!   - respond: {continue: true}  # answers it (refusals are traced)
//!   - rerun: [b]                 # re-runs the finished workflow from `b`
//! ```
//!
//! Every execution is read back from the store; children are listed under
//! their workflow by task (then item, then creation), so branches that
//! finish in either order trace the same.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use squall::engine::{Actions, Engine, EngineConfig, Ingest, KvChange, TriggerTypes};
use squall::pack::Manifest;
use squall::rules::RuleIndex;
use squall::runtime::HostServices;
use squall::store::{Execution, ExecutionStatus, KvScope, Store};
use squall_tests::{CORE_MANIFEST, CORE_PACK, TestRuntime};

use super::engine::open_store;
use uuid::Uuid;

/// The `flows` pack: one workflow action per entry of `workflows`, each
/// taking any input the workflow declares.
pub(crate) fn flows_manifest(workflows: &BTreeMap<String, String>) -> Manifest {
    let mut toml = String::from("name = \"flows\"\nversion = \"1.0.0\"\n");
    for name in workflows.keys() {
        toml.push_str(&format!("[actions.{name}]\nworkflow = \"workflows/{name}.yaml\"\n"));
    }
    let mut manifest = Manifest::from_toml(&toml, Path::new("flows/pack.toml")).expect("manifest");
    let files = workflows.iter().map(|(n, t)| (format!("{n}.yaml"), t.clone())).collect();
    manifest.attach_workflows(&files, Path::new("flows/pack.toml")).expect("workflows attach");
    manifest
}

/// The catalog: the core pack and the `flows` pack.
pub(crate) fn catalog(runtime: &TestRuntime, workflows: &BTreeMap<String, String>) -> Actions {
    let core = Manifest::load(Path::new(CORE_MANIFEST)).expect("core manifest");
    let mut actions = Actions::default();
    actions.add_pack(&core, Arc::new(runtime.load(CORE_PACK, "core"))).expect("core actions");
    let flows = flows_manifest(workflows);
    actions.add_pack(&flows, Arc::new(runtime.load(CORE_PACK, "flows"))).expect("flows actions");
    actions
}

pub(crate) async fn start_engine(store: Store, actions: Actions) -> Engine {
    let ingest =
        Ingest::new(store, Arc::new(TriggerTypes::builtin()), RuleIndex::default(), actions);
    let config = EngineConfig { worker_threads: 2, max_running: 8, ..EngineConfig::default() };
    Engine::start(ingest, config).await.expect("engine starts")
}

/// Every execution in the store.
pub(crate) fn executions(engine: &Engine) -> Vec<Execution> {
    executions_in(&engine.store().read().expect("read"))
}

/// Every execution in `snapshot`, oldest first.
fn executions_in(snapshot: &squall::store::Snapshot) -> Vec<Execution> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = snapshot.executions(after, 500).expect("executions");
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        all.extend(page);
    }
    all
}

/// Waits until `done` holds of the store's executions (at most 20 s).
pub(crate) async fn wait_for(engine: &Engine, what: &str, done: impl Fn(&[Execution]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if done(&executions(engine)) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The tree under `root`: one line per execution, children indented.
pub(crate) fn tree(all: &[Execution], root: Uuid) -> String {
    let mut out = String::new();
    let execution = all.iter().find(|e| e.id == root).expect("root");
    line(all, execution, "", 0, &mut out);
    out
}

fn line(all: &[Execution], execution: &Execution, task: &str, depth: usize, out: &mut String) {
    let status = format!("{:?}", execution.status).to_lowercase();
    let indent = "  ".repeat(depth);
    let task = if task.is_empty() { String::new() } else { format!("{task}: ") };
    out.push_str(&format!("{indent}{task}{} {status}", execution.action));
    if execution.action.starts_with("flows.") && execution.status.is_finished() {
        let result = execution.result.clone().unwrap_or(Value::Null);
        out.push_str(&format!(" {}", result.get("output").unwrap_or(&Value::Null)));
    } else if let Some(error) = &execution.error
        && !execution.action.starts_with("flows.")
        && execution.status != ExecutionStatus::Canceled
    {
        // A canceled child's message depends on whether it was queued or
        // running at that moment; the status says enough.
        out.push_str(&format!(" ({error})"));
        // A child refused before it ran keeps the input it was given.
        if execution.started_at.is_none()
            && execution.parameters.as_object().is_some_and(|p| !p.is_empty())
        {
            out.push_str(&format!(" input {}", execution.parameters));
        }
    }
    out.push('\n');
    let errors = execution.result.as_ref().and_then(|r| r.get("errors")).and_then(Value::as_array);
    for error in errors.into_iter().flatten() {
        let task = error.get("task_id").and_then(Value::as_str).unwrap_or("-");
        let message = error.get("message").and_then(Value::as_str).unwrap_or("?");
        out.push_str(&format!("{indent}  ! {task}: {message}\n"));
    }
    let mut children: Vec<&Execution> = all
        .iter()
        .filter(|e| e.parent.as_ref().is_some_and(|p| p.workflow == execution.id))
        .collect();
    children.sort_by_key(|e| {
        let parent = e.parent.as_ref().expect("child");
        (parent.task.clone(), parent.route, parent.item, e.id)
    });
    for child in children {
        let parent = child.parent.as_ref().expect("child");
        let mut name = parent.task.clone();
        if parent.route > 0 {
            name.push_str(&format!("@{}", parent.route));
        }
        if let Some(item) = parent.item {
            name.push_str(&format!("[{item}]"));
        }
        if parent.retry > 0 {
            name.push_str(&format!(" (retry {})", parent.retry));
        }
        line(all, child, &name, depth + 1, out);
    }
}

fn finished(all: &[Execution], id: Uuid) -> bool {
    all.iter().any(|e| e.id == id && e.status.is_finished())
}

async fn run_fixture(path: &Path) -> String {
    let fixture: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("YAML");
    let workflows: BTreeMap<String, String> =
        serde_json::from_value(fixture["workflows"].clone()).expect("workflows");
    let input: Map<String, Value> =
        fixture.get("input").and_then(Value::as_object).cloned().unwrap_or_default();
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = TestRuntime::with_services(HostServices::default());
    let engine = start_engine(open_store(dir.path()), catalog(&runtime, &workflows)).await;
    let kv = fixture.get("kv").and_then(Value::as_object).cloned().unwrap_or_default();
    for (key, value) in kv {
        let value = value.as_str().expect("kv values are text").to_owned();
        let change = KvChange::Set { value, secret: false, ttl: None };
        engine.kv_change(KvScope::System, &key, change).await.expect("kv set");
    }
    let mut roots = vec![engine.request("flows.main", input).await.expect("requested")];
    let mut trace = String::new();
    let steps = fixture.get("steps").and_then(Value::as_array).cloned().unwrap_or_default();
    for step in steps {
        let root = *roots.last().expect("a root");
        let (op, arg) = match &step {
            Value::String(op) => (op.clone(), Value::Null),
            Value::Object(map) => {
                let (op, arg) = map.iter().next().expect("one key");
                (op.clone(), arg.clone())
            }
            other => panic!("step {other}"),
        };
        match op.as_str() {
            "pause" => {
                let before = engine.pause(root).await.map_err(|e| e.to_string());
                trace.push_str(&format!("pause: {}\n", answer(before)));
            }
            "resume" => {
                let before = engine.resume(root).await.map_err(|e| e.to_string());
                trace.push_str(&format!("resume: {}\n", answer(before)));
            }
            "cancel" => {
                let before = engine.cancel(root).await.map_err(|e| e.to_string());
                trace.push_str(&format!("cancel: {}\n", answer(before)));
            }
            "trace" => trace.push_str(&tree(&executions(&engine), root)),
            "wait" if arg.get("task").is_some() => {
                let task = arg["task"].as_str().expect("task").to_owned();
                wait_for(&engine, &format!("task {task}"), |all| {
                    all.iter().any(|e| {
                        e.parent.as_ref().is_some_and(|p| p.task == task) && e.status.is_finished()
                    })
                })
                .await;
            }
            "wait" if arg.get("started").is_some() => {
                let task = arg["started"].as_str().expect("task").to_owned();
                wait_for(&engine, &format!("task {task} to start"), |all| {
                    all.iter().any(|e| e.parent.as_ref().is_some_and(|p| p.task == task))
                })
                .await;
            }
            "wait" => {
                let status: ExecutionStatus =
                    serde_json::from_value(arg["status"].clone()).expect("status");
                wait_for(&engine, &format!("status {status:?}"), |all| {
                    all.iter().any(|e| e.id == root && e.status == status)
                })
                .await;
            }
            "wait_inquiry" => {
                wait_for(&engine, "an inquiry", |all| {
                    all.iter().any(|e| e.status == ExecutionStatus::Pending)
                })
                .await;
            }
            "respond" => {
                let asked =
                    engine.store().read().expect("read").inquiries(None, None, 10).expect("read");
                let inquiry = asked.last().expect("an inquiry").id;
                let answered = engine.respond(inquiry, arg.clone()).await;
                let answered = answered.map(|()| "accepted").map_err(|e| e.to_string());
                trace.push_str(&format!("respond {arg}: {}\n", answer(answered)));
            }
            "rerun" => {
                wait_for(&engine, "the workflow to finish", |all| finished(all, root)).await;
                let tasks: Vec<String> = serde_json::from_value(arg.clone()).expect("tasks");
                match engine.rerun_tasks(root, tasks).await {
                    Ok(new) => {
                        trace.push_str(&format!("rerun {arg}: started\n"));
                        roots.push(new);
                    }
                    Err(error) => trace.push_str(&format!("rerun {arg}: refused: {error}\n")),
                }
            }
            other => panic!("unknown step {other}"),
        }
    }
    for root in &roots {
        let root = *root;
        wait_for(&engine, "the workflow to finish", |all| finished(all, root)).await;
    }
    // Children still running after a cancel report their ending.
    wait_for(&engine, "every execution to end", |all| {
        all.iter().all(|e| e.status.is_finished() || e.status == ExecutionStatus::Pending)
    })
    .await;
    let all = executions(&engine);
    trace.push_str("--- end\n");
    for root in roots {
        trace.push_str(&tree(&all, root));
    }
    engine.shutdown().await;
    redact_ids(&trace)
}

/// The trace with every UUID replaced by `<id>`, so that it compares.
fn redact_ids(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while !rest.is_empty() {
        if rest.len() >= 36 && rest.is_char_boundary(36) && Uuid::parse_str(&rest[..36]).is_ok() {
            out.push_str("<id>");
            rest = &rest[36..];
        } else {
            let c = rest.chars().next().expect("not empty");
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

fn answer<T: std::fmt::Debug>(result: Result<T, String>) -> String {
    match result {
        Ok(value) => format!("ok (was {})", format!("{value:?}").to_lowercase()),
        Err(error) => format!("refused: {error}"),
    }
}

#[test]
fn engine_fixtures() {
    let files = squall_tests::yaml_fixtures("it/workflows/engine");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    squall_tests::check_expected(&files, |path| runtime.block_on(run_fixture(path)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_action_from_a_manifest_runs_with_defaults_and_refuses_unknown_input() {
    let workflows = BTreeMap::from([(
        "main".to_owned(),
        "version: 1.0\ninput:\n  - who: world\ntasks:\n  greet:\n    action: core.echo\n    input: {message: '{{ ctx().who }}'}\n    next:\n      - publish: [said: '{{ result().message }}']\noutput:\n  - said: '{{ ctx().said }}'\n".to_owned(),
    )]);
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = TestRuntime::with_services(HostServices::default());
    let engine = start_engine(open_store(dir.path()), catalog(&runtime, &workflows)).await;
    let good = engine.request("flows.main", Map::new()).await.expect("requested");
    let bad = engine
        .request("flows.main", json!({"whom": 1}).as_object().cloned().expect("map"))
        .await
        .expect("requested");
    wait_for(&engine, "both", |all| finished(all, good) && finished(all, bad)).await;
    let all = executions(&engine);
    let good = all.iter().find(|e| e.id == good).expect("good");
    assert_eq!(good.status, ExecutionStatus::Succeeded);
    assert_eq!(good.result, Some(json!({"output": {"said": "world"}})));
    let bad = all.iter().find(|e| e.id == bad).expect("bad");
    assert_eq!(bad.status, ExecutionStatus::Failed);
    let error = bad.error.clone().unwrap_or_default();
    assert!(error.contains("workflows/main.yaml") && error.contains("whom"), "{error}");
    engine.shutdown().await;
}

/// with-items keeps each item in a row of its own: mid-way (paused) the
/// run's record holds counters, not the items (inline, 120 items would be
/// about 10 KB), the rows of items that ended have their results and the
/// rest are as rendered; at the end every row has its result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_items_keeps_each_item_in_a_row_of_its_own() {
    const ITEMS: usize = 120;
    let workflows = BTreeMap::from([(
        "each".to_owned(),
        format!(
            "version: 1.0\ntasks:\n  each:\n    with:\n      items: '{{{{ range({ITEMS}) | list }}}}'\n      concurrency: 2\n    action: core.sleep\n    input: {{seconds: 0.01}}\n    next:\n      - publish: [n: '{{{{ result() | length }}}}']\noutput:\n  - n: '{{{{ ctx().n }}}}'\n"
        ),
    )]);
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = TestRuntime::with_services(HostServices::default());
    let engine = start_engine(open_store(dir.path()), catalog(&runtime, &workflows)).await;
    let id = engine.request("flows.each", Map::new()).await.expect("requested");
    let ended_items = |all: &[Execution]| {
        all.iter()
            .filter(|e| e.parent.as_ref().is_some_and(|p| p.workflow == id))
            .filter(|e| e.status.is_finished())
            .count()
    };
    wait_for(&engine, "a few items", |all| ended_items(all) >= 4).await;
    engine.pause(id).await.expect("paused");
    wait_for(&engine, "paused", |all| {
        all.iter().any(|e| e.id == id && e.status == ExecutionStatus::Paused)
    })
    .await;
    {
        let snapshot = engine.store().read().expect("read");
        let record = snapshot.workflow(id).expect("read").expect("a record");
        let task = &record.state["sequence"][0];
        assert!(task.get("items").is_none(), "no items inline: {task}");
        let counts = &task["item_counts"];
        assert_eq!(counts["total"], ITEMS);
        let bytes = serde_json::to_vec(&record.state).expect("json").len();
        assert!(bytes < 2_000, "the state holds counters, not {ITEMS} items: {bytes} bytes");
        let rows: Vec<((usize, usize), Value)> = snapshot.workflow_items(id).expect("rows");
        assert_eq!(rows.len(), ITEMS, "every item rendered into its row");
        let ended = rows.iter().filter(|(_, row)| row["status"] == "succeeded").count();
        // From the same snapshot: tasks running at the pause still end.
        let done = ended_items(&executions_in(&snapshot));
        assert_eq!(ended, done, "a row ends with its item, the others are left as rendered");
    }
    engine.resume(id).await.expect("resumed");
    wait_for(&engine, "the run", |all| finished(all, id)).await;
    let all = executions(&engine);
    let run = all.iter().find(|e| e.id == id).expect("the run");
    assert_eq!(run.status, ExecutionStatus::Succeeded, "{run:?}");
    assert_eq!(run.result.as_ref().expect("result")["output"]["n"], ITEMS);
    let snapshot = engine.store().read().expect("read");
    let rows: Vec<((usize, usize), Value)> = snapshot.workflow_items(id).expect("rows");
    for (i, ((task, item), row)) in rows.iter().enumerate() {
        assert_eq!((*task, *item), (0, i));
        assert_eq!(row["status"], "succeeded");
        assert_eq!(row["result"], json!({"slept_seconds": 0.01}));
    }
    engine.shutdown().await;
}

/// A with-items task retried with fewer items than its first attempt
/// (its list read from the datastore, which changed meanwhile) leaves no
/// row of the first attempt beyond them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_with_fewer_items_leaves_no_rows_of_the_attempt_before() {
    let workflows = BTreeMap::from([(
        "main".to_owned(),
        "version: 1.0\ntasks:\n  each:\n    with:\n      items: '{{ range(st2kv(\"system.n\") | int) | list }}'\n    action: core.sleep\n    input: {seconds: '{{ 0.01 if item() < 2 else -1 }}'}\n    retry: {count: 1, delay: 3}\n    next:\n      - when: <% succeeded() %>\n        publish: [n: '{{ result() | length }}']\noutput:\n  - n: '{{ ctx().n }}'\n"
            .to_owned(),
    )]);
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = TestRuntime::with_services(HostServices::default());
    let engine = start_engine(open_store(dir.path()), catalog(&runtime, &workflows)).await;
    let set_n = |n: &str| KvChange::Set { value: n.to_owned(), secret: false, ttl: None };
    engine.kv_change(KvScope::System, "n", set_n("4")).await.expect("kv set");
    let id = engine.request("flows.main", Map::new()).await.expect("requested");
    // Items 2 and 3 fail (a negative sleep); the retry waits 3 s.
    wait_for(&engine, "a failed item", |all| {
        all.iter().any(|e| {
            e.parent.as_ref().is_some_and(|p| p.workflow == id)
                && e.status == ExecutionStatus::Failed
        })
    })
    .await;
    engine.kv_change(KvScope::System, "n", set_n("2")).await.expect("kv set");
    wait_for(&engine, "the run", |all| finished(all, id)).await;
    let all = executions(&engine);
    let run = all.iter().find(|e| e.id == id).expect("the run");
    assert_eq!(run.status, ExecutionStatus::Succeeded, "{run:?}");
    assert_eq!(run.result.as_ref().expect("result")["output"]["n"], 2);
    let snapshot = engine.store().read().expect("read");
    let rows: Vec<((usize, usize), Value)> = snapshot.workflow_items(id).expect("rows");
    let keys: Vec<(usize, usize)> = rows.iter().map(|(key, _)| *key).collect();
    assert_eq!(keys, [(0, 0), (0, 1)], "the retry's two rows, none of the first attempt's");
    assert!(rows.iter().all(|(_, row)| row["status"] == "succeeded"), "{rows:?}");
    engine.shutdown().await;
}
