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

/// A with-items workflow over `n` items at concurrency 3.
fn items_workflow(n: usize) -> Workflow {
    load(&format!(
        "version: 1.0\ntasks:\n  each:\n    with:\n      items: '{{{{ range({n}) | list }}}}'\n      concurrency: 3\n    action: x.each\n    input:\n      n: '{{{{ item() }}}}'\n      pad: 'item {{{{ item() }}}}'\n    next:\n      - publish: [{{all: <% result() %>}}]\noutput:\n  - all: <% ctx(all) %>\n"
    ))
}

fn key(item: usize) -> ItemKey {
    ItemKey { task: 0, item }
}

#[test]
fn items_are_rows_apart_and_a_step_writes_the_one_item_it_ends() {
    let each = TaskId::new("each", 0);
    let mut sizes = Vec::new();
    for n in [10, 400] {
        let workflow = items_workflow(n);
        let (mut conductor, commands) = Conductor::start(&workflow, Map::new()).expect("started");
        // Rendered up front, every row once.
        let rendered = conductor.take_item_writes();
        assert_eq!(rendered.len(), n);
        assert_eq!(rendered[n - 1].1.input, json!({"n": n - 1, "pad": format!("item {}", n - 1)}));
        let mut queue: std::collections::VecDeque<Command> = commands.into();
        assert_eq!(queue.len(), 3);
        let mut largest = 0;
        while let Some(Command::RunAction { item: Some(i), .. }) = queue.pop_front() {
            let more = conductor
                .on_action_finished(&each, Some(i), Outcome::Succeeded(json!(i * 10)))
                .expect("accepted");
            queue.extend(more);
            let written = conductor.take_item_writes();
            assert_eq!(written.len(), 1, "item {i}: {written:?}");
            assert_eq!(written[0].0, key(i));
            assert_eq!(written[0].1.status, ItemStatus::Succeeded);
            assert_eq!(written[0].1.result, json!(i * 10));
            if conductor.status() == WorkflowStatus::Running {
                largest = largest.max(serde_json::to_vec(conductor.state()).expect("json").len());
            }
        }
        assert_eq!(conductor.status(), WorkflowStatus::Succeeded);
        let all: Vec<Value> = (0..n).map(|i| json!(i * 10)).collect();
        assert_eq!(conductor.output(), Some(&json!({"all": all})));
        sizes.push(largest);
    }
    // The state a step rewrites does not grow with the number of items
    // (a few digits of the counters at most).
    assert!(sizes[1] <= sizes[0] + 16, "state bytes at 10 and 400 items: {sizes:?}");
}

#[test]
fn a_resumed_conductor_asks_for_the_rows_an_event_reads_and_refuses_without_them() {
    let workflow = items_workflow(5);
    let each = TaskId::new("each", 0);
    let (mut conductor, _) = Conductor::start(&workflow, Map::new()).expect("started");
    let rows: BTreeMap<ItemKey, ItemState> = conductor.take_item_writes().into_iter().collect();
    let state = conductor.state().clone();
    // Item 0 ends: its row, and item 3, the next to start.
    let mut resumed = Conductor::resume(&workflow, state.clone());
    assert_eq!(resumed.items_wanted(&each, Some(0), false), [key(0), key(3)]);
    assert_eq!(resumed.items_wanted(&each, Some(0), true), [key(0)]);
    assert_eq!(resumed.items_wanted(&each, Some(4), false), [], "not started");
    assert_eq!(
        resumed.on_action_finished(&each, Some(0), Outcome::Succeeded(json!(0))),
        Err(ConductorError::ItemsNotLoaded("each".into(), 2))
    );
    resumed.load_items([(key(0), rows[&key(0)].clone()), (key(3), rows[&key(3)].clone())]);
    let commands =
        resumed.on_action_finished(&each, Some(0), Outcome::Succeeded(json!(0))).expect("ok");
    assert!(matches!(&commands[..], [Command::RunAction { item: Some(3), .. }]));
    // A duplicate report of the item is refused.
    assert_eq!(
        resumed.on_action_finished(&each, Some(0), Outcome::Succeeded(json!(0))),
        Err(ConductorError::NoSuchItem("each".into(), 0))
    );
}

#[test]
fn a_state_stored_with_its_items_inline_resumes_with_them_as_rows() {
    let workflow = items_workflow(5);
    let each = TaskId::new("each", 0);
    let (mut conductor, _) = Conductor::start(&workflow, Map::new()).expect("started");
    let mut rows: Vec<ItemState> =
        conductor.take_item_writes().into_iter().map(|(_, r)| r).collect();
    conductor.on_action_finished(&each, Some(1), Outcome::Succeeded(json!("one"))).expect("1");
    // As a previous version stored it: items 0 and 2 running, 1 ended,
    // 3 running (started after 1), 4 pending, every item inline.
    rows[1].status = ItemStatus::Succeeded;
    rows[1].result = json!("one");
    for i in [0, 2, 3] {
        rows[i].status = ItemStatus::Running;
    }
    let mut legacy = serde_json::to_value(conductor.state()).expect("json");
    let execution = &mut legacy["sequence"][0];
    execution.as_object_mut().expect("task").remove("item_counts");
    execution["items"] = serde_json::to_value(&rows).expect("json");
    let state: WorkflowState = serde_json::from_value(legacy).expect("a stored state");
    let mut resumed = Conductor::resume(&workflow, state);
    assert_eq!(resumed.state(), conductor.state(), "counters rebuilt from the items");
    assert_eq!(resumed.take_item_writes().len(), 5, "every item to be written as a row");
    for (i, result) in [(0, "zero"), (2, "two"), (3, "three")] {
        let more = resumed
            .on_action_finished(&each, Some(i), Outcome::Succeeded(json!(result)))
            .expect("accepted");
        if i == 0 {
            assert!(matches!(&more[..], [Command::RunAction { item: Some(4), .. }]));
        }
    }
    resumed.on_action_finished(&each, Some(4), Outcome::Succeeded(json!("four"))).expect("4");
    assert_eq!(resumed.output(), Some(&json!({"all": ["zero", "one", "two", "three", "four"]})));
}

/// Carries out `commands` to the end as the engine does: after every event
/// the conductor is rebuilt from its state as JSON and handed only the item
/// rows it asks for, out of `rows` (the rows it wrote). `outcome(item,
/// retry)` says how each item's run ends.
fn drive_resumed<'w>(
    workflow: &'w Workflow,
    mut conductor: Conductor<'w>,
    commands: Commands,
    rows: &mut BTreeMap<ItemKey, ItemState>,
    outcome: impl Fn(usize, u64) -> Outcome,
) -> Conductor<'w> {
    rows.extend(conductor.take_item_writes());
    let mut queue: std::collections::VecDeque<Command> = commands.into();
    while let Some(command) = queue.pop_front() {
        let Command::RunAction { task, item: Some(item), retry, .. } = command else {
            panic!("only items run here: {command:?}");
        };
        let text = serde_json::to_string(conductor.state()).expect("json");
        conductor = Conductor::resume(workflow, serde_json::from_str(&text).expect("state"));
        let ended = outcome(item, retry);
        let failed = matches!(ended, Outcome::Failed(_));
        let wanted = conductor.items_wanted(&task, Some(item), failed);
        conductor.load_items(wanted.into_iter().map(|key| (key, rows[&key].clone())));
        queue.extend(conductor.on_action_finished(&task, Some(item), ended).expect("accepted"));
        rows.extend(conductor.take_item_writes());
    }
    conductor
}

const ITEMS_RETRIED: &str = "version: 1.0\ntasks:\n  each:\n    with:\n      items: '{{ range(4) | list }}'\n      concurrency: 2\n    action: x.each\n    input: {n: '{{ item() }}'}\n    retry:\n      count: 1\n    next:\n      - when: <% succeeded() %>\n        publish: [all: <% result() %>]\noutput:\n  - all: <% ctx(all) %>\n";

#[test]
fn a_with_items_task_retried_renders_new_rows_and_ends_with_the_retry_s_results() {
    let workflow = load(ITEMS_RETRIED);
    let (conductor, commands) = Conductor::start(&workflow, Map::new()).expect("started");
    let mut rows = BTreeMap::new();
    // Item 1 fails on the first run: the task fails once item 0 is done,
    // is retried, and every item runs again.
    let outcome = |item: usize, retry: u64| {
        if item == 1 && retry == 0 {
            Outcome::Failed(json!({"item": item}))
        } else {
            Outcome::Succeeded(json!(format!("{item}.{retry}")))
        }
    };
    let conductor = drive_resumed(&workflow, conductor, commands, &mut rows, outcome);
    assert_eq!(conductor.status(), WorkflowStatus::Succeeded);
    assert_eq!(conductor.output(), Some(&json!({"all": ["0.1", "1.1", "2.1", "3.1"]})));
    let counts = conductor.state().sequence[0].item_counts;
    assert_eq!(counts, Some(ItemCounts { total: 4, next: 4, running: 0, failed: 0 }));
}

#[test]
fn a_with_items_task_rerun_gets_rows_of_its_own_execution() {
    let workflow = load(&ITEMS_RETRIED.replace("    retry:\n      count: 1\n", ""));
    let (conductor, commands) = Conductor::start(&workflow, Map::new()).expect("started");
    let mut rows = BTreeMap::new();
    let fails = |item: usize, _| {
        if item == 0 {
            Outcome::Failed(json!({"item": item}))
        } else {
            Outcome::Succeeded(json!(item))
        }
    };
    let mut conductor = drive_resumed(&workflow, conductor, commands, &mut rows, fails);
    assert_eq!(conductor.status(), WorkflowStatus::Failed);
    // Items 2 and 3 never started: their results are null, as Orquesta has it.
    assert_eq!(conductor.state().sequence[0].result, json!([{"item": 0}, 1, null, null]));
    let commands = conductor.rerun(&["each".to_owned()]).expect("re-run");
    assert!(commands.iter().all(|c| matches!(c, Command::RunAction { .. })));
    let passes = |item: usize, _| Outcome::Succeeded(json!(item * 10));
    let conductor = drive_resumed(&workflow, conductor, commands, &mut rows, passes);
    assert_eq!(conductor.status(), WorkflowStatus::Succeeded);
    assert_eq!(conductor.output(), Some(&json!({"all": [0, 10, 20, 30]})));
    // The first execution's rows are as it left them; the re-run's are its own.
    assert_eq!(rows[&ItemKey { task: 0, item: 0 }].result, json!({"item": 0}));
    assert_eq!(rows[&ItemKey { task: 0, item: 2 }].status, ItemStatus::Pending);
    assert_eq!(rows[&ItemKey { task: 1, item: 0 }].result, json!(0));
    assert_eq!(rows[&ItemKey { task: 1, item: 2 }].result, json!(20));
}

/// A datastore with one key, `n`, that a test changes between steps.
struct Count(std::sync::Mutex<String>);

impl Datastore for Count {
    fn get(&self, key: &str) -> Option<String> {
        (key == "n").then(|| self.0.lock().expect("count").clone())
    }
}

#[test]
fn a_retry_rendering_fewer_items_drops_the_earlier_attempts_rows_beyond_them() {
    let workflow = load(&ITEMS_RETRIED.replace("range(4)", "range(st2kv(\"system.n\") | int)"));
    let count = Arc::new(Count(std::sync::Mutex::new("4".to_owned())));
    let datastore: Arc<dyn Datastore> = count.clone();
    let (mut conductor, _) =
        Conductor::start_with(&workflow, Map::new(), Some(datastore)).expect("started");
    assert_eq!(conductor.take_item_writes().len(), 4);
    assert_eq!(conductor.take_stale_items(), [], "a first attempt has no earlier rows");
    *count.0.lock().expect("count") = "2".to_owned();
    let each = TaskId::new("each", 0);
    conductor.on_action_finished(&each, Some(1), Outcome::Failed(json!("no"))).expect("1");
    let retried =
        conductor.on_action_finished(&each, Some(0), Outcome::Succeeded(json!(0))).expect("0");
    assert_eq!(run_action(&retried).len(), 2, "the retry renders two items and starts both");
    assert_eq!(conductor.take_stale_items(), [(0, 2)], "rows from item 2 on are the first run's");
    let written: Vec<ItemKey> = conductor.take_item_writes().into_iter().map(|(k, _)| k).collect();
    assert_eq!(written, [key(0), key(1)]);
    for item in [0, 1] {
        conductor.on_action_finished(&each, Some(item), Outcome::Succeeded(json!(item))).expect("");
    }
    assert_eq!(conductor.output(), Some(&json!({"all": [0, 1]})));
    assert_eq!(conductor.take_stale_items(), []);
}
