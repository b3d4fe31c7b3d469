//! Workflows run by the conductor against a simulated runner,
//! data-driven. Each `workflows/run/NAME.yaml` has beside it
//! `NAME.script.json`, the workflow input and canned action outcomes:
//!
//! ```json
//! {"input": {"name": "x"},
//!  "actions": {"core.echo": "echo", "core.fail": "fail",
//!              "ops.check": [{"failed": {"code": 1}}, {"succeeded": {"code": 0}}]}}
//! ```
//!
//! `echo` succeeds with `{"result": input}`, `fail` fails with
//! `{"error": "failed", "input": input}`, a list is consumed in order per
//! action (its last entry repeats); actions not named echo. The runner
//! takes commands one at a time, first in first out, and fires timers at
//! once. The trace (each action run with its input and how many actions
//! of that task are in flight, each outcome, each timer, then the final
//! status, output and errors) is compared with `NAME.expected`;
//! `UPDATE_EXPECT=1` rewrites them. Every fixture also runs a second time
//! with the state serialized to JSON and the conductor resumed from it
//! after every step, which must give the same trace.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use squall::workflow::{self, Command, Conductor, Outcome, Workflow, WorkflowState};

fn fixtures() -> Vec<PathBuf> {
    squall_tests::yaml_fixtures("it/workflows/run")
}

struct Script {
    input: Map<String, Value>,
    actions: Map<String, Value>,
    used: BTreeMap<String, usize>,
}

impl Script {
    fn load(path: &Path) -> Script {
        let text = std::fs::read_to_string(path.with_extension("script.json")).unwrap_or_default();
        let script: Value =
            if text.is_empty() { json!({}) } else { serde_json::from_str(&text).expect("JSON") };
        let field = |name: &str| script.get(name).and_then(Value::as_object).cloned();
        Script {
            input: field("input").unwrap_or_default(),
            actions: field("actions").unwrap_or_default(),
            used: BTreeMap::new(),
        }
    }

    fn outcome(&mut self, action: &str, input: &Value) -> Outcome {
        let behaviour = self.actions.get(action).cloned().unwrap_or_else(|| json!("echo"));
        let entry = match behaviour {
            Value::Array(list) => {
                let used = self.used.entry(action.to_owned()).or_insert(0);
                let entry = list.get(*used).or(list.last()).cloned().unwrap_or(json!("echo"));
                *used += 1;
                entry
            }
            other => other,
        };
        match entry {
            Value::String(kind) if kind == "fail" => {
                Outcome::Failed(json!({"error": "failed", "input": input}))
            }
            Value::Object(map) if map.contains_key("failed") => {
                Outcome::Failed(map["failed"].clone())
            }
            Value::Object(map) if map.contains_key("succeeded") => {
                Outcome::Succeeded(map["succeeded"].clone())
            }
            _ => Outcome::Succeeded(json!({"result": input})),
        }
    }
}

/// Runs the fixture; with `round_trip`, the conductor is rebuilt from its
/// state serialized to JSON after every step.
fn run(workflow: &Workflow, path: &Path, round_trip: bool) -> String {
    let mut script = Script::load(path);
    let mut trace = String::new();
    let (mut conductor, commands) = match Conductor::start(workflow, script.input.clone()) {
        Ok(started) => started,
        Err(error) => return format!("start refused: {error}\n"),
    };
    let mut queue: VecDeque<Command> = commands.into();
    let mut steps = 0;
    while let Some(command) = queue.pop_front() {
        steps += 1;
        assert!(steps < 1000, "{}: the workflow does not end", path.display());
        let commands = match command {
            Command::RunAction { task, action, input, item, .. } => {
                let in_flight = 1 + queue
                    .iter()
                    .filter(|c| matches!(c, Command::RunAction { task: t, .. } if *t == task))
                    .count();
                let shown = match item {
                    Some(i) => format!("{task}[{i}]"),
                    None => task.to_string(),
                };
                trace.push_str(&format!("run  {shown} {action} {input}"));
                if item.is_some() {
                    trace.push_str(&format!("  ({in_flight} in flight)"));
                }
                trace.push('\n');
                let outcome = script.outcome(&action, &input);
                match &outcome {
                    Outcome::Succeeded(result) => trace.push_str(&format!("  ok   {result}\n")),
                    Outcome::Failed(result) => trace.push_str(&format!("  fail {result}\n")),
                }
                conductor.on_action_finished(&task, item, outcome).expect("accepted")
            }
            Command::Wait { task, seconds } => {
                trace.push_str(&format!("wait {task} {seconds}s\n"));
                conductor.on_timer(&task).expect("accepted")
            }
        };
        queue.extend(commands);
        if round_trip {
            let text = serde_json::to_string(conductor.state()).expect("serializable");
            let state: WorkflowState = serde_json::from_str(&text).expect("deserializable");
            assert_eq!(&state, conductor.state(), "the state survives JSON");
            conductor = Conductor::resume(workflow, state);
        }
    }
    let status = serde_json::to_value(conductor.status()).expect("a status");
    trace.push_str(&format!("status: {}\n", status.as_str().unwrap_or("?")));
    let output = conductor.output().map_or_else(|| "none".to_owned(), ToString::to_string);
    trace.push_str(&format!("output: {output}\n"));
    for error in &conductor.state().errors {
        trace.push_str(&format!("error: {error}\n"));
    }
    trace
}

#[test]
fn every_run_fixture_matches_its_expected_trace() {
    let files = fixtures();
    assert!(files.len() >= 15, "fixtures missing: {files:?}");
    squall_tests::check_expected(&files, |path| {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_owned();
        let text = std::fs::read_to_string(path).expect("a fixture");
        let loaded = workflow::load(&text, &name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let actual = run(&loaded, path, false);
        let resumed = run(&loaded, path, true);
        assert_eq!(actual, resumed, "{name}: resuming from the serialized state changes the run");
        actual
    });
}

#[test]
fn a_state_serialized_mid_run_resumes_to_the_same_end() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("it/workflows/run/join_all.yaml");
    let text = std::fs::read_to_string(&path).expect("a fixture");
    let loaded = workflow::load(&text, "join_all.yaml").expect("valid");
    let (mut conductor, commands) = Conductor::start(&loaded, Map::new()).expect("started");
    let mut queue: VecDeque<Command> = commands.into();
    // Finish one action, then persist, drop and resume.
    if let Some(Command::RunAction { task, input, .. }) = queue.pop_front() {
        let more = conductor
            .on_action_finished(&task, None, Outcome::Succeeded(json!({"result": input})))
            .expect("accepted");
        queue.extend(more);
    }
    let saved = serde_json::to_value(conductor.state()).expect("serializable");
    drop(conductor);
    let state: WorkflowState = serde_json::from_value(saved).expect("deserializable");
    let mut conductor = Conductor::resume(&loaded, state);
    while let Some(command) = queue.pop_front() {
        let more = match command {
            Command::RunAction { task, input, item, .. } => conductor
                .on_action_finished(&task, item, Outcome::Succeeded(json!({"result": input})))
                .expect("accepted"),
            Command::Wait { task, .. } => conductor.on_timer(&task).expect("accepted"),
        };
        queue.extend(more);
    }
    assert_eq!(conductor.status(), workflow::WorkflowStatus::Succeeded);
    assert!(conductor.output().is_some());
}
