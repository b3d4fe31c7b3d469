//! The task graph: tasks are nodes, each target of each transition is an
//! edge carrying the transition's condition. As in Orquesta, the start
//! tasks are those no transition leads to.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::model::{Count, Join, Target, Task, Workflow};

/// One edge: `from` goes to `to` when `when` holds (on completion when
/// `None`), publishing `publish`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub from: String,
    pub to: Target,
    pub when: Option<String>,
    /// Index of the transition in the task's `next`.
    pub transition: usize,
    pub publish: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskGraph {
    /// Tasks without inbound transitions, in document order.
    pub start: Vec<String>,
    /// In document order of tasks, then transitions, then targets.
    pub edges: Vec<Edge>,
}

impl TaskGraph {
    pub fn new(workflow: &Workflow) -> TaskGraph {
        let mut edges = Vec::new();
        for task in &workflow.tasks {
            for (index, transition) in task.next.iter().enumerate() {
                let publish: Vec<String> =
                    transition.publish.iter().map(|b| b.name.clone()).collect();
                let targets = if transition.targets.is_empty() {
                    vec![Target::Command(super::model::EngineCommand::Continue)]
                } else {
                    transition.targets.clone()
                };
                for to in targets {
                    edges.push(Edge {
                        from: task.name.clone(),
                        to,
                        when: transition.when.clone(),
                        transition: index,
                        publish: publish.clone(),
                    });
                }
            }
        }
        let targeted: BTreeSet<&str> = edges
            .iter()
            .filter_map(|edge| match &edge.to {
                Target::Task(name) => Some(name.as_str()),
                Target::Command(_) => None,
            })
            .collect();
        let start = workflow
            .tasks
            .iter()
            .filter(|task| !targeted.contains(task.name.as_str()))
            .map(|task| task.name.clone())
            .collect();
        TaskGraph { start, edges }
    }

    /// The distinct tasks with a transition to `task`, sorted.
    pub fn inbound(&self, task: &str) -> BTreeSet<&str> {
        self.edges
            .iter()
            .filter(|edge| matches!(&edge.to, Target::Task(name) if name == task))
            .map(|edge| edge.from.as_str())
            .collect()
    }

    /// Whether `task` is a split (Orquesta's `is_split_task` outside a
    /// cycle): no `join`, and more than one transition target leads to it,
    /// counting a task once per transition that names it (Orquesta's
    /// `get_prev_tasks`). Each arrival at a split opens its own route.
    pub fn is_split(&self, task: &Task) -> bool {
        let inbound = self
            .edges
            .iter()
            .filter(|edge| matches!(&edge.to, Target::Task(name) if *name == task.name))
            .count();
        task.join.is_none() && inbound > 1 && !self.in_cycle(&task.name)
    }

    /// Whether a path of transitions leads from `task` back to it.
    pub fn in_cycle(&self, task: &str) -> bool {
        let mut seen = BTreeSet::new();
        let mut queue: Vec<&str> = vec![task];
        while let Some(current) = queue.pop() {
            for edge in self.outbound(current) {
                if let Target::Task(next) = &edge.to {
                    if next == task {
                        return true;
                    }
                    if seen.insert(next.as_str()) {
                        queue.push(next);
                    }
                }
            }
        }
        false
    }

    /// The edges leaving `task`.
    pub fn outbound<'a>(&'a self, task: &'a str) -> impl Iterator<Item = &'a Edge> + 'a {
        self.edges.iter().filter(move |edge| edge.from == task)
    }

    /// Tasks reachable from the start tasks, following every edge.
    pub fn reachable(&self) -> BTreeSet<&str> {
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut queue: Vec<&str> = self.start.iter().map(String::as_str).collect();
        while let Some(task) = queue.pop() {
            if !seen.insert(task) {
                continue;
            }
            for edge in self.outbound(task) {
                if let Target::Task(next) = &edge.to {
                    queue.push(next);
                }
            }
        }
        seen
    }
}

/// The workflow as readable text for `squall workflow inspect`: inputs,
/// start tasks, then each task with its action, options and transitions
/// (condition, publishes, targets), then the outputs.
pub fn render(workflow: &Workflow) -> String {
    let graph = TaskGraph::new(workflow);
    let mut out = String::new();
    if let Some(description) = &workflow.description {
        let _ = writeln!(out, "description: {}", description.trim());
    }
    let bindings = |list: &[super::model::Binding]| {
        list.iter()
            .map(|b| match &b.value {
                Some(value) => format!("{} = {}", b.name, show(value)),
                None => b.name.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !workflow.input.is_empty() {
        let _ = writeln!(out, "input: {}", bindings(&workflow.input));
    }
    if !workflow.vars.is_empty() {
        let _ = writeln!(out, "vars: {}", bindings(&workflow.vars));
    }
    let _ = writeln!(out, "start: {}", graph.start.join(", "));
    for task in &workflow.tasks {
        let _ = writeln!(out);
        let _ = writeln!(out, "{} (line {})", task.name, task.line);
        let action = task.action.as_deref().unwrap_or("(no action)");
        let _ = writeln!(out, "  action: {action}");
        for (name, value) in &task.input {
            let _ = writeln!(out, "    {name} = {}", show(value));
        }
        if let Some(delay) = &task.delay {
            let _ = writeln!(out, "  delay: {delay}s");
        }
        if let Some(join) = task.join {
            let inbound: Vec<&str> = graph.inbound(&task.name).into_iter().collect();
            let how = match join {
                Join::All => "all".to_owned(),
                Join::Count(n) => format!("{n} of {}", inbound.len()),
            };
            let _ = writeln!(out, "  join: {how} ({})", inbound.join(", "));
        }
        if let Some(with) = &task.with {
            let keys = if with.keys.is_empty() {
                String::new()
            } else {
                format!("{} in ", with.keys.join(", "))
            };
            let concurrency = match &with.concurrency {
                Some(c) => format!(", {c} at a time"),
                None => String::new(),
            };
            let _ = writeln!(out, "  with: {keys}{}{concurrency}", with.items);
        }
        if let Some(retry) = &task.retry {
            let when = retry.when.as_deref().unwrap_or("failed");
            let delay = match &retry.delay {
                Some(Count::Fixed(0)) | None => String::new(),
                Some(delay) => format!(", {delay}s apart"),
            };
            let _ = writeln!(out, "  retry: up to {} times when {when}{delay}", retry.count);
        }
        for (index, transition) in task.next.iter().enumerate() {
            let when = transition.when.as_deref().unwrap_or("completed");
            let targets: Vec<&str> = if transition.targets.is_empty() {
                vec!["continue"]
            } else {
                transition.targets.iter().map(Target::name).collect()
            };
            let _ = writeln!(out, "  next[{index}] when {when} -> {}", targets.join(", "));
            for binding in &transition.publish {
                let value = binding.value.as_ref().map_or_else(|| "null".to_owned(), show);
                let _ = writeln!(out, "    publish {} = {value}", binding.name);
            }
        }
        if task.next.is_empty() {
            let _ = writeln!(out, "  (end)");
        }
    }
    if !workflow.output.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "output: {}", bindings(&workflow.output));
    }
    out
}

/// A value on one line: strings as written, the rest as JSON.
fn show(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
