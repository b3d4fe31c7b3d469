//! The checks Orquesta makes along the paths from the start tasks:
//! variables read before any assignment on some path to the read
//! (`inspect_context`), and joins reached through nested splits, which
//! Orquesta calls unreachable (`detect_unreachable_tasks`). Both walk the
//! graph breadth first from the start tasks sorted by name, as Orquesta
//! does, so that what is refused is what Orquesta refuses.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::Value;

use super::expr;
use super::graph::TaskGraph;
use super::model::{Count, Target, Task, Workflow};

/// What StackStorm's Orquesta runner puts in a workflow's context before
/// its input: `ctx().st2` and `ctx().parent` may always be read.
pub(crate) const APP_CONTEXT: [&str; 2] = ["st2", "parent"];

/// A variable read (by the field at `path`) where some path from the
/// start has not assigned it yet.
pub(crate) struct EarlyRead {
    pub path: String,
    pub name: String,
}

/// The names `value`'s expressions read with `ctx(…)`.
fn reads(value: &Value) -> BTreeSet<String> {
    match value {
        Value::String(text) if expr::has_expression(text) => {
            if text.contains("<%") {
                super::yaql::check(text).1.variables
            } else {
                expr::check(text).1.variables
            }
        }
        Value::Array(items) => items.iter().flat_map(reads).collect(),
        Value::Object(map) => map.values().flat_map(reads).collect(),
        _ => BTreeSet::new(),
    }
}

fn text(text: &str) -> Value {
    Value::String(text.to_owned())
}

/// Orquesta's `inspect_context`: input, vars, the tasks along every
/// path, then the output, each read checked against what is assigned
/// before it. Names assigned nowhere are not reported here (the caller
/// reports them with their own message).
pub(crate) fn early_reads(workflow: &Workflow) -> Vec<EarlyRead> {
    let mut found = Vec::new();
    let mut check = |path: String, value: &Value, known: &BTreeSet<String>| {
        for name in reads(value) {
            if !known.contains(&name) && !name.starts_with("__") {
                found.push(EarlyRead { path: path.clone(), name });
            }
        }
    };
    let mut rolling: BTreeSet<String> = APP_CONTEXT.iter().map(|s| (*s).to_owned()).collect();
    for (section, list) in [("input", &workflow.input), ("vars", &workflow.vars)] {
        for (i, binding) in list.iter().enumerate() {
            if let Some(value) = &binding.value {
                check(format!("{section}[{i}].{}", binding.name), value, &rolling);
            }
            rolling.insert(binding.name.clone());
        }
    }
    let from_tasks = tasks(workflow, &rolling, &mut check);
    rolling.extend(from_tasks);
    for (i, binding) in workflow.output.iter().enumerate() {
        if let Some(value) = &binding.value {
            check(format!("output[{i}].{}", binding.name), value, &rolling);
        }
        rolling.insert(binding.name.clone());
    }
    found
}

/// The task part of `inspect_context`: each task is checked with the
/// names assigned on the path it was reached by (a join with the union of
/// its branches'); a task already checked is not queued again. Returns
/// every name seen on any path.
fn tasks(
    workflow: &Workflow,
    start: &BTreeSet<String>,
    check: &mut impl FnMut(String, &Value, &BTreeSet<String>),
) -> BTreeSet<String> {
    let graph = TaskGraph::new(workflow);
    let mut starts = graph.start.clone();
    starts.sort();
    let mut queue: VecDeque<(String, BTreeSet<String>)> =
        starts.into_iter().map(|name| (name, start.clone())).collect();
    let mut joined: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut queued_with: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut traversed: BTreeSet<String> = BTreeSet::new();
    let mut rolling = start.clone();
    while let Some((name, names)) = queue.pop_front() {
        traversed.insert(name.clone());
        let names =
            if names.is_empty() { joined.get(&name).cloned().unwrap_or_default() } else { names };
        // Engine commands are queued too, as Orquesta queues them; they
        // have no fields.
        let Some(task) = workflow.task(&name) else {
            rolling.extend(names);
            continue;
        };
        for (path, value) in task_fields(task) {
            check(path, &value, &names);
        }
        rolling.extend(names.iter().cloned());
        for (i, transition) in task.next.iter().enumerate() {
            let base = format!("tasks.{name}.next[{i}]");
            let targets: Vec<&str> = if transition.targets.is_empty() {
                vec!["continue"]
            } else {
                transition.targets.iter().map(Target::name).collect()
            };
            for next in targets {
                if let Some(when) = &transition.when {
                    check(format!("{base}.when"), &text(when), &names);
                }
                let mut branch = names.clone();
                for (j, binding) in transition.publish.iter().enumerate() {
                    if let Some(value) = &binding.value {
                        check(format!("{base}.publish[{j}].{}", binding.name), value, &branch);
                    }
                    branch.insert(binding.name.clone());
                }
                if traversed.contains(next) {
                    continue;
                }
                let is_join = workflow.task(next).is_some_and(|t| t.join.is_some());
                if is_join {
                    joined.entry(next.to_owned()).or_default().extend(branch);
                    queue.push_back((next.to_owned(), BTreeSet::new()));
                } else if queued_with.get(next) != Some(&branch) {
                    queued_with.insert(next.to_owned(), branch.clone());
                    queue.push_back((next.to_owned(), branch));
                }
            }
        }
    }
    rolling
}

/// A task's fields in Orquesta's evaluation order (delay, with, action,
/// input), with their paths.
fn task_fields(task: &Task) -> Vec<(String, Value)> {
    let base = format!("tasks.{}", task.name);
    let mut fields = Vec::new();
    if let Some(Count::Expr(delay)) = &task.delay {
        fields.push((format!("{base}.delay"), text(delay)));
    }
    if let Some(with) = &task.with {
        fields.push((format!("{base}.with.items"), text(&with.items)));
        if let Some(Count::Expr(concurrency)) = &with.concurrency {
            fields.push((format!("{base}.with.concurrency"), text(concurrency)));
        }
    }
    if let Some(action) = &task.action {
        fields.push((format!("{base}.action"), text(action)));
    }
    if let Some(input) = &task.input_expression {
        fields.push((format!("{base}.input"), text(input)));
    }
    for (name, value) in &task.input {
        fields.push((format!("{base}.input.{name}"), value.clone()));
    }
    fields
}

/// Orquesta's `detect_unreachable_tasks`: the join tasks reached through
/// a different set of splits (tasks reached by several transitions,
/// without a join, outside a cycle) than some task leading into them.
/// Orquesta cannot tell at which level such a join happens and refuses
/// the workflow.
pub(crate) fn ambiguous_joins(workflow: &Workflow) -> Vec<String> {
    let graph = TaskGraph::new(workflow);
    let is_split = |name: &str| workflow.task(name).is_some_and(|t| graph.is_split(t));
    #[derive(Default)]
    struct Seen {
        splits: BTreeSet<String>,
        prev: BTreeSet<String>,
    }
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    let mut tracked: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut starts = graph.start.clone();
    starts.sort();
    let mut queue: VecDeque<(Option<String>, String, Vec<String>)> =
        starts.into_iter().map(|name| (None, name, Vec::new())).collect();
    while let Some((prev, name, mut splits)) = queue.pop_front() {
        let Some(task) = workflow.task(&name) else { continue };
        if is_split(&name) {
            splits.push(name.clone());
        }
        let entry = seen.entry(name.clone()).or_default();
        entry.splits.extend(splits.iter().cloned());
        if let Some(prev) = prev {
            entry.prev.insert(prev);
        }
        let mut next: Vec<&str> =
            task.next.iter().flat_map(|t| t.targets.iter().map(Target::name)).collect();
        next.sort();
        for next in next {
            if seen.contains_key(next) && graph.in_cycle(next) {
                continue;
            }
            let here: BTreeSet<String> = splits.iter().cloned().collect();
            let key = (name.clone(), next.to_owned());
            match tracked.get_mut(&key) {
                // An edge is walked again only with splits it has not
                // carried yet (an empty set too is "seen": a loop without
                // splits would otherwise be walked for ever).
                Some(existing) => {
                    if !here.is_subset(existing) {
                        existing.extend(here);
                        queue.push_back((Some(name.clone()), next.to_owned(), splits.clone()));
                    }
                }
                None => {
                    tracked.insert(key, here);
                    queue.push_back((Some(name.clone()), next.to_owned(), splits.clone()));
                }
            }
        }
    }
    let mut ambiguous = Vec::new();
    for (name, entry) in &seen {
        if workflow.task(name).is_none_or(|t| t.join.is_none()) {
            continue;
        }
        let differs =
            entry.prev.iter().any(|prev| seen.get(prev).is_none_or(|p| p.splits != entry.splits));
        if differs {
            ambiguous.push(name.clone());
        }
    }
    ambiguous
}
