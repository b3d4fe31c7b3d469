//! The workflow crash test: the host as a real process starts 100
//! workflows (each a split into a sleep and a with-items task, a join,
//! and a sub-workflow), is killed with SIGKILL while they run, restarted,
//! and every workflow must finish with its expected output, exactly once.
//! A second one cuts long with-items tasks (items in rows of their own)
//! mid-way the same way.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use serde_json::{Value, json};
use squall::store::{ExecutionStatus, Store, StoreConfig, new_id};
use squall_tests::CORE_PACK;

use super::crash::{engine_process, exits_when_idle, webhook_lines};
use uuid::Uuid;

const WORKFLOWS: usize = 100;

const RULE: &str = r#"
name: each_event_starts_a_workflow
pack: load
enabled: true
trigger:
  type: core.webhook
  parameters: {url: flows}
action:
  ref: flows.main
  parameters:
    seq: "{{ trigger.body.seq }}"
"#;

const MAIN: &str = r#"
version: 1.0
input:
  - seq
tasks:
  first:
    action: core.echo
    input: {message: 'start {{ ctx().seq }}'}
    next:
      - publish: [a: '{{ result().message }}']
        do: [nap, items]
  nap:
    action: core.sleep
    input: {seconds: 0.3}
    next:
      - do: meet
  items:
    with:
      items: '{{ [1, 2, 3] }}'
      concurrency: 2
    action: core.echo
    input: {message: 'n{{ item() }}'}
    next:
      - publish: [b: '{{ result() | map(attribute="message") | join(",") }}']
        do: meet
  meet:
    join: all
    action: flows.child
    input: {seq: '{{ ctx().seq }}'}
    next:
      - publish: [c: '{{ result().output.done }}']
output:
  - a: '{{ ctx().a }}'
  - b: '{{ ctx().b }}'
  - c: '{{ ctx().c }}'
"#;

const CHILD: &str = r#"
version: 1.0
input:
  - seq
tasks:
  doze:
    action: core.sleep
    input: {seconds: 0.2}
    next:
      - publish: [done: 'child {{ ctx().seq }}']
output:
  - done: '{{ ctx().done }}'
"#;

fn host(data: &Path, rules: &Path, flows: &Path, exit_when_idle: bool) -> Child {
    let manifest = flows.join("pack.toml");
    engine_process(data, rules, &[(&manifest, Path::new(CORE_PACK))], exit_when_idle)
}

fn open(data: &Path) -> Store {
    let config = StoreConfig { retention: None, ..StoreConfig::default() };
    Store::open(&data.join("squall.redb"), config).expect("open the store")
}

/// Feeds `lines` and reads one acknowledgement per line.
fn feed_and_ack(child: &mut Child, lines: &[String]) {
    let mut stdin = child.stdin.take().expect("stdin");
    for line in lines {
        writeln!(stdin, "{line}").expect("write an event");
    }
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    for _ in lines {
        let answer: Value =
            serde_json::from_str(&stdout.next().expect("an ack").expect("ack line")).expect("JSON");
        assert!(answer.get("error").is_none(), "refused: {answer}");
    }
    // Kept open: closing standard input would make the host stop reading.
    std::mem::forget(stdin);
    std::mem::forget(stdout);
}

#[test]
fn workflows_cut_by_sigkill_finish_after_a_restart_with_their_outputs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, rules, flows) =
        (dir.path().join("data"), dir.path().join("rules"), dir.path().join("flows"));
    std::fs::create_dir_all(&rules).expect("rules dir");
    std::fs::create_dir_all(flows.join("workflows")).expect("flows dir");
    std::fs::write(rules.join("flows.yaml"), RULE).expect("rule");
    std::fs::write(
        flows.join("pack.toml"),
        "name = \"flows\"\nversion = \"1.0.0\"\n\
         [actions.main]\nworkflow = \"workflows/main.yaml\"\n\
         [actions.child]\nworkflow = \"workflows/child.yaml\"\n",
    )
    .expect("manifest");
    std::fs::write(flows.join("workflows/main.yaml"), MAIN).expect("main");
    std::fs::write(flows.join("workflows/child.yaml"), CHILD).expect("child");

    let ids: Vec<Uuid> = (0..WORKFLOWS).map(|_| new_id()).collect();
    let lines = webhook_lines(&ids, "flows");

    let mut first = host(&data, &rules, &flows, false);
    feed_and_ack(&mut first, &lines);
    // Every workflow started; the sleeps keep them mid-way.
    std::thread::sleep(Duration::from_millis(400));
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");

    let unfinished = {
        let store = open(&data);
        let snapshot = store.read().expect("read");
        let all = snapshot.executions(None, 100 * WORKFLOWS).expect("executions");
        all.iter().filter(|e| e.action == "flows.main" && !e.status.is_finished()).count()
    };
    assert!(unfinished > 0, "the kill came after every workflow had finished");

    // The restart replays nothing new; it recovers and runs to idle.
    let mut second = host(&data, &rules, &flows, true);
    drop(second.stdin.take());
    exits_when_idle(&mut second, Duration::from_secs(120));

    let store = open(&data);
    let snapshot = store.read().expect("read");
    let all = snapshot.executions(None, 100 * WORKFLOWS).expect("executions");
    let mut by_instance: HashMap<Uuid, Vec<&squall::store::Execution>> = HashMap::new();
    for execution in all.iter().filter(|e| e.action == "flows.main") {
        by_instance
            .entry(execution.trigger_instance.expect("started by the rule"))
            .or_default()
            .push(execution);
    }
    for (seq, id) in ids.iter().enumerate() {
        let runs = by_instance.get(id).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(runs.len(), 1, "workflow {seq} has exactly one execution");
        let run = runs[0];
        assert_eq!(run.status, ExecutionStatus::Succeeded, "workflow {seq}: {run:?}");
        let expected = json!({"output": {
            "a": format!("start {seq}"), "b": "n1,n2,n3", "c": format!("child {seq}")
        }});
        assert_eq!(run.result.as_ref(), Some(&expected), "workflow {seq}");
    }
    assert_eq!(snapshot.queued_executions().expect("queue"), 0);
    assert_eq!(snapshot.running_executions().expect("running"), 0);
    let again = all.iter().filter(|e| e.attempt > 1).count();
    eprintln!(
        "workflow crash test: {unfinished} of {WORKFLOWS} workflows unfinished at SIGKILL, {again} child executions run again"
    );
}

const ITEMS: usize = 40;

const ITEMS_RULE: &str = r#"
name: each_event_starts_a_with_items_run
pack: load
enabled: true
trigger:
  type: core.webhook
  parameters: {url: items}
action:
  ref: flows.each
"#;

/// Each item sleeps a little over 50 ms, a different time per item, so the
/// output says whether every item's result is there and in item order.
const EACH: &str = r#"
version: 1.0
tasks:
  each:
    with:
      items: '{{ range(40) | list }}'
      concurrency: 2
    action: core.sleep
    input: {seconds: '{{ 0.05 + item() * 0.0001 }}'}
    next:
      - publish: [slept: '{{ result() | map(attribute="slept_seconds") | list }}']
output:
  - slept: '{{ ctx().slept }}'
"#;

#[test]
fn with_items_runs_cut_by_sigkill_finish_after_a_restart_with_every_item_in_order() {
    const RUNS: usize = 4;
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, rules, flows) =
        (dir.path().join("data"), dir.path().join("rules"), dir.path().join("flows"));
    std::fs::create_dir_all(&rules).expect("rules dir");
    std::fs::create_dir_all(flows.join("workflows")).expect("flows dir");
    std::fs::write(rules.join("items.yaml"), ITEMS_RULE).expect("rule");
    std::fs::write(
        flows.join("pack.toml"),
        "name = \"flows\"\nversion = \"1.0.0\"\n[actions.each]\nworkflow = \"workflows/each.yaml\"\n",
    )
    .expect("manifest");
    std::fs::write(flows.join("workflows/each.yaml"), EACH).expect("each");

    let ids: Vec<Uuid> = (0..RUNS).map(|_| new_id()).collect();
    let lines = webhook_lines(&ids, "items");
    let mut first = host(&data, &rules, &flows, false);
    feed_and_ack(&mut first, &lines);
    // 40 items two at a time take about a second: cut them short.
    std::thread::sleep(Duration::from_millis(500));
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");

    let (unfinished, ended_rows) = {
        let store = open(&data);
        let snapshot = store.read().expect("read");
        let all = snapshot.executions(None, 100 * ITEMS).expect("executions");
        let runs: Vec<_> = all.iter().filter(|e| e.action == "flows.each").collect();
        let mut ended = 0;
        for run in &runs {
            let rows: Vec<((usize, usize), Value)> =
                snapshot.workflow_items(run.id).expect("item rows");
            if !rows.is_empty() {
                // Rendered all at once, in rows of their own.
                assert_eq!(rows.len(), ITEMS, "{}: item rows", run.id);
            }
            ended += rows.iter().filter(|(_, row)| row["status"] != "pending").count();
        }
        (runs.iter().filter(|e| !e.status.is_finished()).count(), ended)
    };
    assert!(unfinished > 0, "the kill came after every run had finished");

    let mut second = host(&data, &rules, &flows, true);
    drop(second.stdin.take());
    exits_when_idle(&mut second, Duration::from_secs(120));

    let store = open(&data);
    let snapshot = store.read().expect("read");
    let all = snapshot.executions(None, 100 * ITEMS).expect("executions");
    let expected: Vec<f64> = (0..ITEMS).map(|i| 0.05 + i as f64 * 0.0001).collect();
    let mut by_instance: HashMap<Uuid, Vec<&squall::store::Execution>> = HashMap::new();
    for execution in all.iter().filter(|e| e.action == "flows.each") {
        by_instance
            .entry(execution.trigger_instance.expect("started by the rule"))
            .or_default()
            .push(execution);
    }
    for (seq, id) in ids.iter().enumerate() {
        let runs = by_instance.get(id).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(runs.len(), 1, "run {seq} has exactly one execution");
        let run = runs[0];
        assert_eq!(run.status, ExecutionStatus::Succeeded, "run {seq}: {run:?}");
        let output = &run.result.as_ref().expect("a result")["output"]["slept"];
        let slept: Vec<f64> = serde_json::from_value(output.clone()).expect("a list of numbers");
        // Jinja's float sums round apart from Rust's in the last digit.
        let close = slept.len() == expected.len()
            && slept.iter().zip(&expected).all(|(a, b)| (a - b).abs() < 1e-9);
        assert!(close, "run {seq}: every item, in item order: {slept:?}");
        let children =
            all.iter().filter(|e| e.parent.as_ref().is_some_and(|p| p.workflow == run.id));
        let mut items: Vec<usize> = children
            .filter(|e| e.status == ExecutionStatus::Succeeded)
            .filter_map(|e| e.parent.as_ref().and_then(|p| p.item))
            .collect();
        items.sort_unstable();
        items.dedup();
        assert_eq!(items, (0..ITEMS).collect::<Vec<_>>(), "run {seq}: every item succeeded");
    }
    assert_eq!(snapshot.queued_executions().expect("queue"), 0);
    assert_eq!(snapshot.running_executions().expect("running"), 0);
    eprintln!(
        "with-items crash test: {unfinished} of {RUNS} runs unfinished at SIGKILL, {ended_rows} item rows ended by then"
    );
}
