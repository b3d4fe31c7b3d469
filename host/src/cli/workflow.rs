//! `squall workflow validate FILE` and `squall workflow inspect FILE`: the
//! Orquesta workflow checks and task graph on local files.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::workflow::{self, Binding, Diagnostic, Join, TaskGraph, Workflow};

#[derive(Debug, clap::Args)]
pub(crate) struct WorkflowArgs {
    #[command(subcommand)]
    command: WorkflowCommand,
}

#[derive(Debug, clap::Subcommand)]
enum WorkflowCommand {
    /// Check a workflow file: exit 0 with "FILE: ok, N tasks", or 2 with
    /// every problem, one per line (`FILE:LINE: FIELD: message`). With
    /// `--json`, one object: `{"file", "ok", "tasks", "errors",
    /// "warnings"}`, each problem as `{"line", "path", "message"}`.
    Validate(FileArgs),
    /// Show a workflow's task graph: each task, its action, and its
    /// transitions with their conditions and publishes. With `--json`, the
    /// graph as one object: `start`, `tasks` and `edges`.
    Inspect(FileArgs),
}

#[derive(Debug, clap::Args)]
struct FileArgs {
    /// The workflow, in Orquesta's YAML (`version: 1.0`).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Print one JSON object on standard output instead of text (the exit
    /// status is the same).
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(
    args: WorkflowArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<u8> {
    let (args, inspect) = match args.command {
        WorkflowCommand::Validate(args) => (args, false),
        WorkflowCommand::Inspect(args) => (args, true),
    };
    let name = args.file.display().to_string();
    let text = std::fs::read_to_string(&args.file).with_context(|| format!("reading {name}"))?;
    let loaded = workflow::load(&text, &name);
    if args.json {
        let (object, code) = match &loaded {
            Ok(loaded) if inspect => (graph_json(&name, loaded), 0),
            Ok(loaded) => (validation_json(&name, Some(loaded), &[]), 0),
            Err(invalid) => (validation_json(&name, None, &invalid.diagnostics), super::EXIT_USAGE),
        };
        writeln!(stdout, "{}", serde_json::to_string_pretty(&object)?)?;
        return Ok(code);
    }
    match loaded {
        Ok(loaded) if inspect => {
            write!(stdout, "{}", workflow::render(&loaded))?;
            Ok(0)
        }
        Ok(loaded) => {
            // What Orquesta accepts but is likely a mistake: said, not refused.
            for warning in &loaded.warnings {
                writeln!(stderr, "warning: {warning}")?;
            }
            let n = loaded.tasks.len();
            let w = loaded.warnings.len();
            let warnings = match w {
                0 => String::new(),
                1 => ", 1 warning".to_owned(),
                w => format!(", {w} warnings"),
            };
            writeln!(stdout, "{name}: ok, {n} task{}{warnings}", if n == 1 { "" } else { "s" })?;
            Ok(0)
        }
        Err(invalid) => {
            for diagnostic in &invalid.diagnostics {
                writeln!(stderr, "{diagnostic}")?;
            }
            Ok(super::EXIT_USAGE)
        }
    }
}

fn diagnostics_json(diagnostics: &[Diagnostic]) -> Value {
    diagnostics
        .iter()
        .map(|d| json!({"line": d.line, "path": d.path, "message": d.message}))
        .collect()
}

/// `workflow validate --json`: `tasks` is null when the file did not load.
fn validation_json(file: &str, loaded: Option<&Workflow>, errors: &[Diagnostic]) -> Value {
    json!({
        "file": file,
        "ok": loaded.is_some(),
        "tasks": loaded.map(|w| w.tasks.len()),
        "errors": diagnostics_json(errors),
        "warnings": diagnostics_json(loaded.map_or(&[][..], |w| &w.warnings)),
    })
}

fn bindings_json(bindings: &[Binding]) -> Value {
    bindings.iter().map(|b| json!({"name": b.name, "value": b.value})).collect()
}

/// `workflow inspect --json`: what the text shows, as data. Targets of
/// edges are task names or engine commands (`continue`, `fail`, `noop`,
/// `retry`), told apart by `to_task`.
fn graph_json(file: &str, loaded: &Workflow) -> Value {
    let graph = TaskGraph::new(loaded);
    let tasks: Vec<Value> = loaded
        .tasks
        .iter()
        .map(|task| {
            let input: serde_json::Map<String, Value> =
                task.input.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            let join = task.join.map(|join| match join {
                Join::All => json!("all"),
                Join::Count(n) => json!(n),
            });
            json!({
                "name": task.name,
                "line": task.line,
                "action": task.action,
                "input": input,
                "input_expression": task.input_expression,
                "join": join,
                "with": task.with.as_ref().map(|with| json!({
                    "items": with.items,
                    "keys": with.keys,
                    "concurrency": with.concurrency.as_ref().map(ToString::to_string),
                })),
                "retry": task.retry.as_ref().map(|retry| json!({
                    "when": retry.when,
                    "count": retry.count.to_string(),
                    "delay": retry.delay.as_ref().map(ToString::to_string),
                })),
                "delay": task.delay.as_ref().map(ToString::to_string),
                "inbound": graph.inbound(&task.name),
            })
        })
        .collect();
    let edges: Vec<Value> = graph
        .edges
        .iter()
        .map(|edge| {
            json!({
                "from": edge.from,
                "to": edge.to.name(),
                "to_task": matches!(edge.to, workflow::Target::Task(_)),
                "when": edge.when,
                "transition": edge.transition,
                "publish": edge.publish,
            })
        })
        .collect();
    json!({
        "file": file,
        "description": loaded.description,
        "input": bindings_json(&loaded.input),
        "vars": bindings_json(&loaded.vars),
        "start": graph.start,
        "tasks": tasks,
        "edges": edges,
        "output": bindings_json(&loaded.output),
        "warnings": diagnostics_json(&loaded.warnings),
    })
}
