//! The simulated runner the workflow tests share: a workflow run by the
//! conductor against canned action outcomes, traced as text.
//!
//! A script is JSON: the workflow input and how actions end:
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
//! once. The trace has each action run with its input (and, for items, how
//! many of that task are in flight), each outcome, each timer, then the
//! final status, output and errors.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use squall::rules::Datastore;
use squall::workflow::{Command, Conductor, ItemKey, ItemState, Outcome, Workflow, WorkflowState};

/// Canned outcomes of actions, and the workflow's input.
#[derive(Debug, Default)]
pub struct Script {
    pub input: Map<String, Value>,
    actions: Map<String, Value>,
    used: BTreeMap<String, usize>,
}

impl Script {
    /// The script in `path`; an empty one when there is no path.
    pub fn load(path: Option<&Path>) -> Script {
        let text = path.map(|p| std::fs::read_to_string(p).expect("a script")).unwrap_or_default();
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

/// How a run is traced.
#[derive(Default)]
pub struct Options {
    /// What `st2kv()` reads.
    pub datastore: Option<Arc<dyn Datastore>>,
    /// Rebuild the conductor from its state serialized to JSON after every
    /// step (which must give the same trace), handing it only the item rows
    /// it asks for, as the engine does.
    pub round_trip: bool,
    /// Rewrites each error message before it is traced.
    pub clean: Option<fn(&str) -> String>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("datastore", &self.datastore.is_some())
            .field("round_trip", &self.round_trip)
            .finish_non_exhaustive()
    }
}

/// Runs `workflow` against `script` and traces it.
pub fn trace(workflow: &Workflow, mut script: Script, options: &Options, what: &str) -> String {
    let clean = |text: &str| options.clean.map_or_else(|| text.to_owned(), |clean| clean(text));
    let mut trace = String::new();
    let started = Conductor::start_with(workflow, script.input.clone(), options.datastore.clone());
    let (mut conductor, commands) = match started {
        Ok(started) => started,
        Err(error) => return format!("start refused: {}\n", clean(&error.to_string())),
    };
    let mut queue: VecDeque<Command> = commands.into();
    // The item rows as a store would keep them.
    let mut rows: BTreeMap<ItemKey, ItemState> = BTreeMap::new();
    rows.extend(conductor.take_item_writes());
    let mut steps = 0;
    while let Some(command) = queue.pop_front() {
        steps += 1;
        assert!(steps < 1000, "{what}: the workflow does not end");
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
                let failed = matches!(outcome, Outcome::Failed(_));
                let wanted = conductor.items_wanted(&task, item, failed);
                conductor.load_items(
                    wanted.into_iter().filter_map(|k| rows.get(&k).map(|row| (k, row.clone()))),
                );
                conductor.on_action_finished(&task, item, outcome).expect("accepted")
            }
            Command::Wait { task, seconds } => {
                trace.push_str(&format!("wait {task} {seconds}s\n"));
                conductor.on_timer(&task).expect("accepted")
            }
        };
        queue.extend(commands);
        rows.extend(conductor.take_item_writes());
        if options.round_trip {
            let text = serde_json::to_string(conductor.state()).expect("serializable");
            let state: WorkflowState = serde_json::from_str(&text).expect("deserializable");
            assert_eq!(&state, conductor.state(), "the state survives JSON");
            conductor = Conductor::resume(workflow, state);
            if let Some(datastore) = &options.datastore {
                conductor = conductor.with_datastore(datastore.clone());
            }
        }
    }
    let status = serde_json::to_value(conductor.status()).expect("a status");
    trace.push_str(&format!("status: {}\n", status.as_str().unwrap_or("?")));
    let output = conductor.output().map_or_else(|| "none".to_owned(), ToString::to_string);
    trace.push_str(&format!("output: {output}\n"));
    for error in &conductor.state().errors {
        let mut error = error.clone();
        if let Some(message) = error.get_mut("message")
            && let Some(text) = message.as_str()
        {
            *message = Value::String(clean(text));
        }
        trace.push_str(&format!("error: {error}\n"));
    }
    trace
}
