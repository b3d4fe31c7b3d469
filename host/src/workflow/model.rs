//! The workflow model: Orquesta workflow YAML (`version: 1.0`) read into
//! typed tasks and transitions.
//!
//! Reading collects every structural problem (a wrong type, an unknown
//! field, a bad `join`) instead of stopping at the first; a field that
//! cannot be read is left out and the rest of the task is still read, so
//! the semantic checks in `validate.rs` can run on what remains.

use serde_json::Value;
use serde_yaml_ng::Value as Yaml;

use super::Diagnostic;
use super::inline::{calls_task, inline_params, split_action};
use super::lines::LineIndex;

/// The engine commands `do` may name besides tasks; also reserved task
/// names (Orquesta's `ENGINE_EVENT_MAP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EngineCommand {
    /// The default when `do` is absent: the task's own state decides.
    Continue,
    /// Fail the workflow.
    Fail,
    /// Ignore the task's failure, as if remediated.
    Noop,
    /// Run the task again (up to 3 times without delay in Orquesta).
    Retry,
}

impl EngineCommand {
    pub fn parse(name: &str) -> Option<EngineCommand> {
        match name {
            "continue" => Some(EngineCommand::Continue),
            "fail" => Some(EngineCommand::Fail),
            "noop" => Some(EngineCommand::Noop),
            "retry" => Some(EngineCommand::Retry),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            EngineCommand::Continue => "continue",
            EngineCommand::Fail => "fail",
            EngineCommand::Noop => "noop",
            EngineCommand::Retry => "retry",
        }
    }
}

/// What a transition's `do` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Task(String),
    Command(EngineCommand),
}

impl Target {
    pub fn name(&self) -> &str {
        match self {
            Target::Task(name) => name,
            Target::Command(command) => command.name(),
        }
    }
}

/// A named value: an `input` or `vars` entry (default may be absent for
/// inputs), a `publish` or an `output` entry. Values are JSON whose
/// strings may hold expressions.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub name: String,
    pub value: Option<Value>,
    pub line: usize,
}

/// A non-negative integer written as such or computed by an expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Count {
    Fixed(u64),
    Expr(String),
}

impl std::fmt::Display for Count {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Count::Fixed(n) => write!(f, "{n}"),
            Count::Expr(text) => f.write_str(text),
        }
    }
}

/// `join: all` waits for every inbound task; `join: N` for N of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    All,
    Count(u64),
}

/// One entry of a task's `next`.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// `None`: on completion, whatever the task's state.
    pub when: Option<String>,
    pub publish: Vec<Binding>,
    /// Empty `do` means `continue`, as in Orquesta.
    pub targets: Vec<Target>,
    pub line: usize,
}

/// `with`: the task runs its action once per item.
#[derive(Debug, Clone, PartialEq)]
pub struct WithItems {
    /// The expression computing the list.
    pub items: String,
    /// The names in `x, y in <% zip(...) %>`; empty for plain `items`,
    /// where `item()` is the whole item.
    pub keys: Vec<String>,
    pub concurrency: Option<Count>,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Retry {
    /// `None`: retry whenever the task failed.
    pub when: Option<String>,
    pub count: Count,
    /// Seconds between attempts.
    pub delay: Option<Count>,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub name: String,
    /// A task without action does nothing and succeeds (Orquesta allows it).
    pub action: Option<String>,
    /// The action's input, including inline `key=value` parameters written
    /// after the action name (`core.echo message=<% ctx(m) %>`).
    pub input: Vec<(String, Value)>,
    /// `input:` written as one expression yielding the whole mapping
    /// (`input: <% ctx(params) %>`), instead of a mapping.
    pub input_expression: Option<String>,
    pub next: Vec<Transition>,
    pub join: Option<Join>,
    pub with: Option<WithItems>,
    pub retry: Option<Retry>,
    /// Seconds to wait before the task starts.
    pub delay: Option<Count>,
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct Workflow {
    /// The file name messages carry.
    pub file: String,
    pub description: Option<String>,
    pub input: Vec<Binding>,
    pub vars: Vec<Binding>,
    /// In document order.
    pub tasks: Vec<Task>,
    pub output: Vec<Binding>,
    /// Whether any expression calls StackStorm's `task()`, so the
    /// conductor builds its records only for the workflows that read them.
    pub calls_task: bool,
    /// What validation found that Orquesta accepts but is likely a
    /// mistake (filled by [`super::load`]).
    pub warnings: Vec<Diagnostic>,
    pub(crate) lines: LineIndex,
}

impl Workflow {
    pub fn task(&self, name: &str) -> Option<&Task> {
        self.tasks.iter().find(|task| task.name == name)
    }

    /// The line of a field path such as `tasks.a.next[0].do` (or of its
    /// nearest enclosing field).
    pub fn line_of(&self, path: &str) -> usize {
        self.lines.line_of(path)
    }

    /// Reads a workflow, returning it with every structural problem found.
    /// `Err` only when there is nothing to read: not YAML, not a mapping.
    pub fn read(text: &str, file: &str) -> Result<(Workflow, Vec<Diagnostic>), Diagnostic> {
        crate::limits::check(text, crate::limits::Format::Yaml)
            .map_err(|e| Diagnostic::new(file, e.line().unwrap_or(1), "", e.reason()))?;
        let lines = LineIndex::scan(text);
        let document: Yaml = serde_yaml_ng::from_str(text).map_err(|error| {
            let line = error.location().map_or(0, |l| l.line());
            let reason = error.to_string();
            let reason = reason.split(" at line ").next().unwrap_or(&reason).to_owned();
            Diagnostic::new(file, line, "", format!("not valid YAML: {reason}"))
        })?;
        let mut reader = Reader { file, lines, problems: Vec::new() };
        let Yaml::Mapping(top) = document else {
            return Err(Diagnostic::new(
                file,
                1,
                "",
                "expected a mapping with `version` and `tasks`",
            ));
        };
        let mut workflow = Workflow {
            file: file.to_owned(),
            description: None,
            input: Vec::new(),
            vars: Vec::new(),
            tasks: Vec::new(),
            output: Vec::new(),
            calls_task: calls_task(text),
            warnings: Vec::new(),
            lines: LineIndex::default(),
        };
        let mut version_seen = false;
        for (key, value) in &top {
            let Some(key) = key.as_str() else {
                reader.problem("", "field names must be strings");
                continue;
            };
            match key {
                "version" => {
                    version_seen = true;
                    let ok = match value {
                        Yaml::Number(n) => n.as_f64() == Some(1.0),
                        Yaml::String(s) => s == "1.0" || s == "1",
                        _ => false,
                    };
                    if !ok {
                        reader.problem("version", format!("expected 1.0, found {}", show(value)));
                    }
                }
                "description" => match value {
                    Yaml::String(text) => workflow.description = Some(text.clone()),
                    other => reader.expected("description", "a string", other),
                },
                "input" => workflow.input = reader.bindings("input", value, true),
                "vars" => workflow.vars = reader.bindings("vars", value, false),
                "output" => workflow.output = reader.bindings("output", value, false),
                "tasks" => match value {
                    Yaml::Mapping(tasks) if !tasks.is_empty() => {
                        for (name, task) in tasks {
                            match name.as_str() {
                                Some(name) => workflow.tasks.push(reader.task(name, task)),
                                None => reader.problem("tasks", "task names must be strings"),
                            }
                        }
                    }
                    Yaml::Mapping(_) => reader.problem(
                        "tasks",
                        "`tasks` is empty; a workflow needs at least one task (Orquesta refuses it too)",
                    ),
                    other => reader.expected("tasks", "a mapping of task names to tasks", other),
                },
                // StackStorm's metadata keys some workflow files carry.
                "name" | "tags" => {}
                other => reader.problem(
                    other,
                    "unknown field (expected version, description, input, vars, tasks, output)",
                ),
            }
        }
        if !version_seen {
            reader.problem("version", "missing: Orquesta workflows declare `version: 1.0`");
        }
        if !top.contains_key("tasks") {
            reader.problem("tasks", "missing: a workflow needs at least one task");
        }
        workflow.lines = reader.lines;
        Ok((workflow, reader.problems))
    }
}

struct Reader<'a> {
    file: &'a str,
    lines: LineIndex,
    problems: Vec<Diagnostic>,
}

const TASK_FIELDS: &str = "action, input, next, join, with, retry, delay";

impl Reader<'_> {
    fn problem(&mut self, path: &str, message: impl Into<String>) {
        let line = self.lines.line_of(path);
        self.problems.push(Diagnostic::new(self.file, line, path, message));
    }

    fn expected(&mut self, path: &str, what: &str, found: &Yaml) {
        self.problem(path, format!("expected {what}, found {}", show(found)));
    }

    /// `input`/`vars`/`output`/`publish`: a list of names (inputs only) or
    /// one-key maps; `publish` also accepts one map.
    fn bindings(&mut self, path: &str, value: &Yaml, names_allowed: bool) -> Vec<Binding> {
        let mut out: Vec<Binding> = Vec::new();
        let mut push = |reader: &mut Self, path: String, name: &str, value: Option<&Yaml>| {
            if out.iter().any(|b| b.name == name) {
                reader.problem(&path, format!("`{name}` is defined twice"));
                return;
            }
            let value = match value.map(to_json).transpose() {
                Ok(value) => value,
                Err(why) => {
                    reader.problem(&path, why);
                    return;
                }
            };
            let line = reader.lines.line_of(&path);
            out.push(Binding { name: name.to_owned(), value, line });
        };
        match value {
            Yaml::Sequence(items) => {
                for (i, item) in items.iter().enumerate() {
                    let item_path = format!("{path}[{i}]");
                    match item {
                        Yaml::String(name) if names_allowed => push(self, item_path, name, None),
                        Yaml::Mapping(map) if map.len() == 1 => {
                            if let Some((Yaml::String(name), value)) = map.iter().next() {
                                push(self, format!("{item_path}.{name}"), name, Some(value));
                            } else {
                                self.problem(&item_path, "names must be strings");
                            }
                        }
                        other => {
                            let what = if names_allowed {
                                "a name or a one-key mapping `name: default`"
                            } else {
                                "a one-key mapping `name: value`"
                            };
                            self.expected(&item_path, what, other);
                        }
                    }
                }
            }
            Yaml::Mapping(map) if path.ends_with("publish") => {
                for (name, value) in map {
                    match name.as_str() {
                        Some(name) => push(self, format!("{path}.{name}"), name, Some(value)),
                        None => self.problem(path, "names must be strings"),
                    }
                }
            }
            Yaml::Null => {}
            other => self.expected(path, "a list", other),
        }
        out
    }

    fn task(&mut self, name: &str, value: &Yaml) -> Task {
        let base = format!("tasks.{name}");
        let mut task = Task {
            name: name.to_owned(),
            action: None,
            input: Vec::new(),
            input_expression: None,
            next: Vec::new(),
            join: None,
            with: None,
            retry: None,
            delay: None,
            line: self.lines.line_of(&base),
        };
        let map = match value {
            Yaml::Mapping(map) => map,
            Yaml::Null => return task,
            other => {
                self.expected(&base, "a task (a mapping)", other);
                return task;
            }
        };
        let mut inline = Vec::new();
        for (key, value) in map {
            let key = key.as_str().unwrap_or("?");
            let path = format!("{base}.{key}");
            match key {
                "action" => match value {
                    Yaml::String(text) if !text.trim().is_empty() => {
                        let text = text.trim();
                        match split_action(text) {
                            Some((action, params)) => {
                                task.action = Some(action.to_owned());
                                match inline_params(params) {
                                    Ok(params) => inline = params,
                                    Err(why) => self.problem(&path, why),
                                }
                            }
                            None => task.action = Some(text.to_owned()),
                        }
                    }
                    other => self.expected(&path, "an action reference `pack.action`", other),
                },
                "input" => match value {
                    Yaml::Mapping(map) => {
                        for (name, value) in map {
                            let Some(name) = name.as_str() else {
                                self.problem(&path, "input names must be strings");
                                continue;
                            };
                            match to_json(value) {
                                Ok(value) => task.input.push((name.to_owned(), value)),
                                Err(why) => self.problem(&format!("{path}.{name}"), why),
                            }
                        }
                    }
                    // Orquesta: `input:` may be an expression that yields the mapping.
                    Yaml::String(text) if super::expr::has_expression(text) => {
                        task.input_expression = Some(text.clone());
                    }
                    other => self.expected(
                        &path,
                        "a mapping of input names to values, or an expression yielding one",
                        other,
                    ),
                },
                "next" => match value {
                    Yaml::Sequence(items) => {
                        for (i, item) in items.iter().enumerate() {
                            if let Some(t) = self.transition(&format!("{path}[{i}]"), item) {
                                task.next.push(t);
                            }
                        }
                    }
                    other => self.expected(&path, "a list of transitions", other),
                },
                "join" => match value {
                    Yaml::String(text) if text == "all" => task.join = Some(Join::All),
                    Yaml::Number(n) if n.as_u64().is_some_and(|n| n > 0) => {
                        task.join = n.as_u64().map(Join::Count);
                    }
                    other => self.expected(&path, "`all` or a positive integer", other),
                },
                "with" => task.with = self.with_items(&path, value),
                "retry" => task.retry = self.retry(&path, value),
                "delay" => task.delay = self.count(&path, value, false),
                other => {
                    self.problem(&path, format!("unknown field `{other}` (expected {TASK_FIELDS})"))
                }
            }
        }
        for (name, value) in inline {
            if task.input.iter().all(|(n, _)| *n != name) {
                task.input.push((name, value));
            }
        }
        task
    }

    fn transition(&mut self, path: &str, value: &Yaml) -> Option<Transition> {
        let Yaml::Mapping(map) = value else {
            self.expected(path, "a transition (a mapping with when, publish, do)", value);
            return None;
        };
        let mut transition = Transition {
            when: None,
            publish: Vec::new(),
            targets: Vec::new(),
            line: self.lines.line_of(path),
        };
        for (key, value) in map {
            let key = key.as_str().unwrap_or("?");
            let field = format!("{path}.{key}");
            match key {
                "when" => match value {
                    Yaml::String(text) if !text.trim().is_empty() => {
                        transition.when = Some(text.clone());
                    }
                    other => self.expected(&field, "an expression", other),
                },
                "publish" => match value {
                    // Orquesta's inline form: `publish: a=<% ... %> b=1`.
                    Yaml::String(text) => match inline_params(text) {
                        Ok(params) => {
                            let line = self.lines.line_of(&field);
                            transition.publish = params
                                .into_iter()
                                .map(|(name, value)| Binding { name, value: Some(value), line })
                                .collect();
                        }
                        Err(why) => self.problem(&field, why),
                    },
                    other => transition.publish = self.bindings(&field, other, false),
                },
                "do" => {
                    let names: Vec<(String, String)> = match value {
                        Yaml::String(text) => text
                            .split(',')
                            .map(|name| (name.trim().to_owned(), field.clone()))
                            .collect(),
                        Yaml::Sequence(items) => {
                            let mut names = Vec::new();
                            for (i, item) in items.iter().enumerate() {
                                match item.as_str() {
                                    Some(name) => names
                                        .push((name.trim().to_owned(), format!("{field}[{i}]"))),
                                    None => {
                                        self.expected(&format!("{field}[{i}]"), "a task name", item)
                                    }
                                }
                            }
                            names
                        }
                        Yaml::Null => Vec::new(),
                        other => {
                            self.expected(&field, "a task name or a list of task names", other);
                            Vec::new()
                        }
                    };
                    for (name, name_path) in names {
                        if name.is_empty() {
                            self.problem(&name_path, "empty task name");
                            continue;
                        }
                        let target = match EngineCommand::parse(&name) {
                            Some(command) => Target::Command(command),
                            None => Target::Task(name),
                        };
                        if transition.targets.contains(&target) {
                            self.problem(&name_path, format!("`{}` is named twice", target.name()));
                        } else {
                            transition.targets.push(target);
                        }
                    }
                }
                other => self.problem(
                    &field,
                    format!("unknown field `{other}` (expected when, publish, do)"),
                ),
            }
        }
        Some(transition)
    }

    fn with_items(&mut self, path: &str, value: &Yaml) -> Option<WithItems> {
        let line = self.lines.line_of(path);
        let (items, concurrency) = match value {
            Yaml::String(text) => (text.clone(), None),
            Yaml::Mapping(map) => {
                let mut items = None;
                let mut concurrency = None;
                for (key, value) in map {
                    let key = key.as_str().unwrap_or("?");
                    let field = format!("{path}.{key}");
                    match key {
                        "items" => match value {
                            Yaml::String(text) => items = Some(text.clone()),
                            other => self.expected(&field, "an items expression", other),
                        },
                        "concurrency" => concurrency = self.count(&field, value, true),
                        other => self.problem(
                            &field,
                            format!("unknown field `{other}` (expected items, concurrency)"),
                        ),
                    }
                }
                let Some(items) = items else {
                    self.problem(path, "missing `items`");
                    return None;
                };
                (items, concurrency)
            }
            other => {
                self.expected(path, "an items expression or a mapping with `items`", other);
                return None;
            }
        };
        let (keys, items) = match split_items(&items) {
            Ok(split) => split,
            Err(why) => {
                self.problem(&format!("{path}.items"), why);
                return None;
            }
        };
        Some(WithItems { items, keys, concurrency, line })
    }

    fn retry(&mut self, path: &str, value: &Yaml) -> Option<Retry> {
        let Yaml::Mapping(map) = value else {
            self.expected(path, "a mapping with when, count, delay", value);
            return None;
        };
        let mut retry = Retry {
            when: None,
            count: Count::Fixed(0),
            delay: None,
            line: self.lines.line_of(path),
        };
        let mut count_seen = false;
        for (key, value) in map {
            let key = key.as_str().unwrap_or("?");
            let field = format!("{path}.{key}");
            match key {
                "when" => match value {
                    Yaml::String(text) if !text.trim().is_empty() => {
                        retry.when = Some(text.clone())
                    }
                    other => self.expected(&field, "an expression", other),
                },
                "count" => {
                    count_seen = true;
                    retry.count = self.count(&field, value, false)?;
                }
                "delay" => retry.delay = self.count(&field, value, false),
                other => self.problem(
                    &field,
                    format!("unknown field `{other}` (expected when, count, delay)"),
                ),
            }
        }
        if !count_seen {
            self.problem(&format!("{path}.count"), "missing: how many times to retry");
            return None;
        }
        Some(retry)
    }

    /// A non-negative (or, with `positive`, at least 1) integer, or an
    /// expression computing one.
    fn count(&mut self, path: &str, value: &Yaml, positive: bool) -> Option<Count> {
        let what = if positive { "a positive integer" } else { "a non-negative integer" };
        match value {
            Yaml::Number(n) => match n.as_u64() {
                Some(n) if n > 0 || !positive => Some(Count::Fixed(n)),
                _ => {
                    self.problem(path, format!("expected {what} or an expression, found {n}"));
                    None
                }
            },
            Yaml::String(text) if super::expr::has_expression(text) => {
                Some(Count::Expr(text.clone()))
            }
            Yaml::String(text) => match text.trim().parse::<u64>() {
                Ok(n) if n > 0 || !positive => Some(Count::Fixed(n)),
                _ => {
                    self.problem(path, format!("expected {what} or an expression, found {text:?}"));
                    None
                }
            },
            other => {
                self.expected(path, &format!("{what} or an expression"), other);
                None
            }
        }
    }
}

/// `x, y in <% zip(...) %>` → (["x", "y"], "<% zip(...) %>"); a plain
/// expression has no keys.
fn split_items(text: &str) -> Result<(Vec<String>, String), String> {
    let text = text.trim();
    let starts_expression = text.starts_with("<%") || text.starts_with("{{");
    if !starts_expression && let Some((keys, expression)) = text.split_once(" in ") {
        let keys: Vec<String> = keys.split(',').map(|k| k.trim().to_owned()).collect();
        if keys.iter().any(|k| k.is_empty() || !k.chars().all(|c| c.is_alphanumeric() || c == '_'))
        {
            return Err(format!("expected `name, ... in <expression>`, found {text:?}"));
        }
        let expression = expression.trim();
        if !super::expr::has_expression(expression) {
            return Err(format!("expected an expression after `in`, found {expression:?}"));
        }
        return Ok((keys, expression.to_owned()));
    }
    if !super::expr::has_expression(text) {
        return Err(format!(
            "expected an expression (`{{{{ ctx('xs') }}}}`) or `x in <expression>`, found {text:?}"
        ));
    }
    Ok((Vec::new(), text.to_owned()))
}

fn to_json(value: &Yaml) -> Result<Value, String> {
    serde_json::to_value(value).map_err(|e| format!("not representable as JSON: {e}"))
}

/// A YAML value in a message: its kind and, for scalars, the value.
fn show(value: &Yaml) -> String {
    match value {
        Yaml::Null => "nothing".to_owned(),
        Yaml::Bool(b) => format!("`{b}`"),
        Yaml::Number(n) => format!("`{n}`"),
        Yaml::String(s) => format!("{s:?}"),
        Yaml::Sequence(_) => "a list".to_owned(),
        Yaml::Mapping(_) => "a mapping".to_owned(),
        Yaml::Tagged(_) => "a tagged value".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tasks_transitions_and_shorthands() {
        let text = "\
version: 1.0
input:
  - xs
  - greeting: hi
tasks:
  loop:
    with: x in <% ctx(xs) %>
    action: core.echo message=\"<% item(x) %>\" n=3
    next:
      - when: <% succeeded() %>
        publish: out=<% result() %>
        do: a, b
  a:
    join: 2
  b:
    retry: {count: 2, delay: 1}
";
        let (workflow, problems) = Workflow::read(text, "w.yaml").expect("readable");
        assert_eq!(problems, []);
        assert_eq!(workflow.input[1].name, "greeting");
        let first = &workflow.tasks[0];
        assert_eq!(first.line, 6);
        assert_eq!(first.action.as_deref(), Some("core.echo"));
        assert_eq!(
            first.input,
            [
                ("message".to_owned(), Value::from("<% item(x) %>")),
                ("n".to_owned(), Value::from(3))
            ]
        );
        let with = first.with.as_ref().expect("with");
        assert_eq!(
            (with.keys.as_slice(), with.items.as_str()),
            (&["x".to_owned()][..], "<% ctx(xs) %>")
        );
        let next = &first.next[0];
        assert_eq!(next.targets, [Target::Task("a".into()), Target::Task("b".into())]);
        assert_eq!(next.publish[0].name, "out");
        assert_eq!(next.line, 10);
        assert_eq!(workflow.tasks[1].join, Some(Join::Count(2)));
        assert_eq!(workflow.tasks[2].retry.as_ref().map(|r| &r.count), Some(&Count::Fixed(2)));
    }

    #[test]
    fn collects_every_structural_problem() {
        let text =
            "version: 2\ntasks:\n  a:\n    join: 0\n    colour: red\n    retry: {count: -1}\n";
        let (_, problems) = Workflow::read(text, "w.yaml").expect("readable");
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "w.yaml:1: version: expected 1.0, found `2`",
                "w.yaml:4: tasks.a.join: expected `all` or a positive integer, found `0`",
                "w.yaml:5: tasks.a.colour: unknown field `colour` (expected action, input, next, join, with, retry, delay)",
                "w.yaml:6: tasks.a.retry.count: expected a non-negative integer or an expression, found -1",
            ]
        );
    }
}
