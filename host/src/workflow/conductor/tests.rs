//! Unit tests of the conductor: joins, refused events, input, failure.
use serde_json::json;

use super::*;

fn load(text: &str) -> Workflow {
    super::super::load(text, "w.yaml").expect("valid")
}

fn run_action(commands: &[Command]) -> Vec<(String, Value)> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::RunAction { task, input, .. } => Some((task.to_string(), input.clone())),
            Command::Wait { .. } => None,
        })
        .collect()
}

#[test]
fn a_join_merges_the_inbound_contexts_and_waits_for_all() {
    let workflow = load(
        "version: 1.0\ntasks:\n  a:\n    action: x.a\n    next:\n      - publish: [{left: 1}, {shared: a}]\n        do: j\n  b:\n    action: x.b\n    next:\n      - publish: [{right: 2}, {shared: b}]\n        do: j\n  j:\n    join: all\n    action: x.j\n    input:\n      all: <% [ctx(left), ctx(right), ctx(shared)] %>\n",
    );
    let (mut conductor, commands) = Conductor::start(&workflow, Map::new()).expect("started");
    assert_eq!(run_action(&commands).len(), 2);
    let a = TaskId::new("a", 0);
    let b = TaskId::new("b", 0);
    let after_a = conductor.on_action_finished(&a, None, Outcome::Succeeded(json!({}))).expect("a");
    assert_eq!(after_a, []);
    let after_b = conductor.on_action_finished(&b, None, Outcome::Succeeded(json!({}))).expect("b");
    assert_eq!(run_action(&after_b), [("j".to_owned(), json!({"all": [1, 2, "b"]}))]);
    let j = TaskId::new("j", 0);
    conductor.on_action_finished(&j, None, Outcome::Succeeded(json!(null))).expect("j");
    assert_eq!(conductor.status(), WorkflowStatus::Succeeded);
    assert_eq!(conductor.in_flight(), 0);
}

#[test]
fn events_for_tasks_not_running_are_refused() {
    let workflow = load("version: 1.0\ntasks:\n  a:\n    action: x.a\n");
    let (mut conductor, _) = Conductor::start(&workflow, Map::new()).expect("started");
    let other = TaskId::new("b", 0);
    assert_eq!(
        conductor.on_action_finished(&other, None, Outcome::Succeeded(json!(1))),
        Err(ConductorError::NotRunning("b".to_owned()))
    );
    let a = TaskId::new("a", 0);
    assert_eq!(
        conductor.on_action_finished(&a, Some(0), Outcome::Succeeded(json!(1))),
        Err(ConductorError::NoSuchItem("a".to_owned(), 0))
    );
    assert_eq!(conductor.on_timer(&a), Ok(Vec::new()));
}

#[test]
fn input_is_checked_and_defaults_render() {
    let workflow = load(
        "version: 1.0\ninput:\n  - name\n  - greeting: <% 'hi ' + ctx(name) %>\ntasks:\n  a:\n    action: x.a m=<% ctx(greeting) %>\n",
    );
    // Not given and no default: null, as in Orquesta (the default after
    // it then fails to render `'hi ' + null`).
    assert!(matches!(
        Conductor::start(&workflow, Map::new()),
        Err(ConductorError::Expression(message)) if message.starts_with("input `greeting`")
    ));
    let extra: Map<String, Value> = [("nope".to_owned(), json!(1))].into_iter().collect();
    assert!(matches!(
        Conductor::start(&workflow, extra),
        Err(ConductorError::UnknownInput(names)) if names == ["nope"]
    ));
    let input: Map<String, Value> = [("name".to_owned(), json!("ops"))].into_iter().collect();
    let (_, commands) = Conductor::start(&workflow, input).expect("started");
    assert_eq!(run_action(&commands), [("a".to_owned(), json!({"m": "hi ops"}))]);
}

#[test]
fn a_failed_workflow_drops_delayed_tasks() {
    let workflow =
        load("version: 1.0\ntasks:\n  a:\n    action: x.a\n  b:\n    delay: 5\n    action: x.b\n");
    let (mut conductor, commands) = Conductor::start(&workflow, Map::new()).expect("started");
    assert_eq!(commands.len(), 2);
    assert!(
        matches!(&commands[1], Command::Wait { task, seconds } if task.name == "b" && *seconds == 5.0)
    );
    let a = TaskId::new("a", 0);
    conductor.on_action_finished(&a, None, Outcome::Failed(json!({}))).expect("a");
    assert_eq!(conductor.status(), WorkflowStatus::Failed);
    assert_eq!(conductor.on_timer(&TaskId::new("b", 0)), Ok(Vec::new()));
    assert_eq!(conductor.in_flight(), 0);
}
