//! Semantic checks on a read workflow, after Orquesta's own
//! (`TaskMappingSpec.inspect_semantics` and `inspect_context`): names,
//! transitions to tasks that do not exist, start and unreachable tasks,
//! joins, with-items, and every expression (syntax, functions, filters,
//! variables that are never assigned, `item()` outside with-items).

use std::collections::BTreeSet;

use serde_json::Value;

use super::Diagnostic;
use super::expr;
use super::graph::TaskGraph;
use super::model::{Count, EngineCommand, Join, Target, Task, Workflow};

/// What the semantic checks found: errors refuse the workflow; warnings
/// name what Orquesta accepts but is likely a mistake (a task no start
/// task leads to, a join that can never or trivially complete).
#[derive(Debug, Default)]
pub struct Findings {
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

/// Every semantic problem of `workflow`, each list sorted by line.
pub fn validate(workflow: &Workflow) -> Findings {
    let mut checker =
        Checker { workflow, problems: Vec::new(), warnings: Vec::new(), reads: Vec::new() };
    checker.names();
    checker.transitions();
    checker.joins();
    checker.expressions();
    checker.variables();
    let mut findings = Findings { errors: checker.problems, warnings: checker.warnings };
    for list in [&mut findings.errors, &mut findings.warnings] {
        list.sort();
        list.dedup();
    }
    findings
}

struct Checker<'a> {
    workflow: &'a Workflow,
    problems: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
    /// Variables read, with the path that reads them.
    reads: Vec<(String, String)>,
}

impl Checker<'_> {
    fn problem(&mut self, path: &str, message: impl Into<String>) {
        let line = self.workflow.line_of(path);
        self.problems.push(Diagnostic::new(&self.workflow.file, line, path, message));
    }

    fn warn(&mut self, path: &str, message: impl Into<String>) {
        let line = self.workflow.line_of(path);
        self.warnings.push(Diagnostic::new(&self.workflow.file, line, path, message));
    }

    fn names(&mut self) {
        for task in &self.workflow.tasks {
            let path = format!("tasks.{}", task.name);
            if EngineCommand::parse(&task.name).is_some() {
                self.problem(
                    &path,
                    format!(
                        "`{}` is an engine command (continue, fail, noop, retry), not a task name",
                        task.name
                    ),
                );
            } else if task.name.is_empty()
                || !task.name.chars().all(|c| c.is_alphanumeric() || c == '_')
            {
                self.problem(&path, "task names are letters, digits and `_`");
            }
            if task.with.is_some() && task.action.is_none() {
                self.problem(&format!("{path}.with"), "a with-items task needs an `action`");
            }
        }
    }

    fn transitions(&mut self) {
        let workflow = self.workflow;
        let graph = TaskGraph::new(workflow);
        for task in &workflow.tasks {
            for (i, transition) in task.next.iter().enumerate() {
                for target in &transition.targets {
                    if let Target::Task(name) = target
                        && workflow.task(name).is_none()
                    {
                        let hint = crate::rules::closest(
                            name,
                            workflow.tasks.iter().map(|t| t.name.as_str()),
                        )
                        .map(|near| format!(" (did you mean `{near}`?)"))
                        .unwrap_or_default();
                        self.problem(
                            &format!("tasks.{}.next[{i}].do", task.name),
                            format!("unknown task `{name}`{hint}"),
                        );
                    }
                }
            }
        }
        if graph.start.is_empty() && !workflow.tasks.is_empty() {
            self.problem(
                "tasks",
                "no task to start from: every task is the target of a transition (a loop needs a task that leads into it)",
            );
        } else {
            let reachable = graph.reachable();
            for task in &workflow.tasks {
                if !reachable.contains(task.name.as_str()) {
                    let from: Vec<&str> = graph.inbound(&task.name).into_iter().collect();
                    self.warn(
                        &format!("tasks.{}", task.name),
                        format!(
                            "unreachable: reached only from {}, which no start task leads to, so it never runs",
                            from.join(", ")
                        ),
                    );
                }
            }
        }
        for task in &workflow.tasks {
            let Some(join) = task.join else { continue };
            let inbound = graph.inbound(&task.name);
            let path = format!("tasks.{}.join", task.name);
            let list = inbound.iter().copied().collect::<Vec<_>>().join(", ");
            if inbound.len() < 2 {
                let from = if inbound.is_empty() {
                    "no task leads here".to_owned()
                } else {
                    format!("only {list} leads here")
                };
                self.warn(
                    &path,
                    format!("a join with fewer than 2 inbound tasks joins nothing; {from}"),
                );
            } else if let Join::Count(n) = join
                && n > inbound.len() as u64
            {
                self.warn(
                    &path,
                    format!(
                        "joins {n} tasks but only {} lead here ({list}), so it never runs",
                        inbound.len()
                    ),
                );
            }
        }
    }

    /// Joins Orquesta calls unreachable: reached through nested splits.
    fn joins(&mut self) {
        for name in super::paths::ambiguous_joins(self.workflow) {
            self.problem(
                &format!("tasks.{name}"),
                format!(
                    "the join task `{name}` is unreachable: it is reached through nested splits \
                     (tasks reached by several transitions without a join), so it is ambiguous \
                     at which level it joins; Orquesta refuses this too"
                ),
            );
        }
    }

    fn expressions(&mut self) {
        let workflow = self.workflow;
        for (section, list) in
            [("input", &workflow.input), ("vars", &workflow.vars), ("output", &workflow.output)]
        {
            for (i, binding) in list.iter().enumerate() {
                if let Some(value) = &binding.value {
                    self.value(&format!("{section}[{i}].{}", binding.name), value, None);
                }
            }
        }
        for task in &workflow.tasks {
            let base = format!("tasks.{}", task.name);
            if let Some(action) = &task.action {
                self.text(&format!("{base}.action"), action, Some(task));
            }
            if let Some(input) = &task.input_expression {
                self.text(&format!("{base}.input"), input, Some(task));
            }
            for (name, value) in &task.input {
                // Inline `name=value` parameters live on the action's line.
                let mut path = format!("{base}.input.{name}");
                if workflow.line_of(&path) == task.line {
                    path = format!("{base}.action.{name}");
                }
                self.value(&path, value, Some(task));
            }
            if let Some(delay) = &task.delay {
                self.count(&format!("{base}.delay"), delay);
            }
            if let Some(with) = &task.with {
                // The items are computed before there is an item.
                self.text(&format!("{base}.with.items"), &with.items, None);
                if let Some(concurrency) = &with.concurrency {
                    self.count(&format!("{base}.with.concurrency"), concurrency);
                }
            }
            if let Some(retry) = &task.retry {
                if let Some(when) = &retry.when {
                    self.text(&format!("{base}.retry.when"), when, None);
                }
                self.count(&format!("{base}.retry.count"), &retry.count);
                if let Some(delay) = &retry.delay {
                    self.count(&format!("{base}.retry.delay"), delay);
                }
            }
            for (i, transition) in task.next.iter().enumerate() {
                let path = format!("{base}.next[{i}]");
                if let Some(when) = &transition.when {
                    self.text(&format!("{path}.when"), when, None);
                }
                for (j, binding) in transition.publish.iter().enumerate() {
                    if let Some(value) = &binding.value {
                        let field = format!("{path}.publish[{j}].{}", binding.name);
                        let field = if workflow.line_of(&field) == workflow.line_of(&path) {
                            format!("{path}.publish.{}", binding.name)
                        } else {
                            field
                        };
                        self.value(&field, value, None);
                    }
                }
            }
        }
    }

    fn count(&mut self, path: &str, count: &Count) {
        if let Count::Expr(text) = count {
            self.text(path, text, None);
        }
    }

    fn value(&mut self, path: &str, value: &Value, task: Option<&Task>) {
        match value {
            Value::String(text) => self.text(path, text, task),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.value(&format!("{path}[{i}]"), item, task);
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    self.value(&format!("{path}.{key}"), item, task);
                }
            }
            _ => {}
        }
    }

    /// One field's text; `task` is the with-items task whose input or
    /// action it is, where `item()` is defined.
    fn text(&mut self, path: &str, text: &str, task: Option<&Task>) {
        if !expr::has_expression(text) {
            return;
        }
        if let Err(why) = expr::check_one_language(text) {
            self.problem(path, why);
            return;
        }
        let (problems, references) =
            if text.contains("<%") { super::yaql::check(text) } else { expr::check(text) };
        for problem in problems {
            self.problem(path, problem);
        }
        for name in references.variables {
            self.reads.push((name, path.to_owned()));
        }
        if !references.item {
            return;
        }
        match task.and_then(|task| task.with.as_ref()) {
            None => self.problem(
                path,
                "item() is defined only in the action and input of a with-items task",
            ),
            Some(with) if !with.keys.is_empty() => {
                for key in references.item_keys {
                    if !with.keys.contains(&key) {
                        self.problem(
                            path,
                            format!(
                                "item('{key}'): `{key}` is not an item key (the keys are {})",
                                with.keys.join(", ")
                            ),
                        );
                    }
                }
            }
            Some(_) => {}
        }
    }

    /// Variables read but assigned nowhere: not an input, a var or a
    /// published name. (Orquesta also checks the order along each path;
    /// a variable assigned somewhere is left to the conductor.)
    fn variables(&mut self) {
        let workflow = self.workflow;
        let mut assigned: BTreeSet<&str> = BTreeSet::new();
        assigned.extend(super::paths::APP_CONTEXT);
        assigned.extend(workflow.input.iter().map(|b| b.name.as_str()));
        assigned.extend(workflow.vars.iter().map(|b| b.name.as_str()));
        assigned.extend(workflow.output.iter().map(|b| b.name.as_str()));
        for task in &workflow.tasks {
            for transition in &task.next {
                assigned.extend(transition.publish.iter().map(|b| b.name.as_str()));
            }
        }
        let reads = std::mem::take(&mut self.reads);
        for (name, path) in reads {
            if name.starts_with("__") {
                self.problem(
                    &path,
                    format!("`{name}` is private (double underscore) and cannot be read"),
                );
            } else if !assigned.contains(name.as_str()) {
                self.problem(
                    &path,
                    format!(
                        "variable `{name}` is never assigned (not an input, a var or published)"
                    ),
                );
            }
        }
        // Assigned somewhere, but not on every path to the read.
        for read in super::paths::early_reads(workflow) {
            if assigned.contains(read.name.as_str()) {
                self.problem(
                    &read.path,
                    format!(
                        "variable `{}` is read before it is assigned: a path from the start \
                         reaches here without setting it (Orquesta checks each path)",
                        read.name
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    fn errors(text: &str) -> Vec<String> {
        match super::super::load(text, "w.yaml") {
            Ok(_) => Vec::new(),
            Err(invalid) => invalid.diagnostics.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_valid_sequence_passes() {
        let text = "version: 1.0\ntasks:\n  a:\n    action: core.noop\n    next:\n      - do: b\n  b:\n    action: core.noop\n";
        assert_eq!(errors(text), Vec::<String>::new());
    }

    #[test]
    fn unknown_task_names_the_line_and_suggests() {
        let text = "version: 1.0\ntasks:\n  a:\n    next:\n      - do: [b, notfy]\n  b: {}\n  notify: {}\n";
        assert_eq!(
            errors(text),
            ["w.yaml:5: tasks.a.next[0].do: unknown task `notfy` (did you mean `notify`?)"]
        );
    }

    #[test]
    fn a_loop_without_entry_has_no_start() {
        let text = "version: 1.0\ntasks:\n  a:\n    next: [{do: b}]\n  b:\n    next: [{do: a}]\n";
        assert_eq!(errors(text).len(), 1);
        assert!(errors(text)[0].starts_with("w.yaml:2: tasks: no task to start from"));
    }
}
