//! `squall run PACK.ACTION` on the server and `squall execution
//! list|get|tail|cancel|pause|resume|re-run`: request executions, wait for
//! them on the live event stream, show them, and control workflows.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::{Map, Value, json};

use super::client::{Client, Remote, segment};
use super::output::{
    Fields, Table, items, note_partial, opt_text, opt_time, print_json, show, text, time, took,
};

/// States an execution does not leave.
const FINISHED: [&str; 5] = ["succeeded", "failed", "timeout", "canceled", "abandoned"];

fn finished(status: &str) -> bool {
    FINISHED.contains(&status)
}

#[derive(Debug, clap::Args)]
pub(crate) struct ExecutionArgs {
    #[command(subcommand)]
    command: ExecutionCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ExecutionCommand {
    /// List top-level executions, newest first: those no workflow started
    /// as a task (`--all` adds the workflows' tasks).
    List(ListArgs),
    /// Show one execution, with what its action logged.
    Get(IdArgs),
    /// Follow executions live, one line per state change: all of them, or
    /// one until it finishes (exit 0 if it succeeded, 1 otherwise), with
    /// what it logged and, for a workflow, each task's start and end with
    /// their times and log lines (`--json`: one object per line).
    Tail(TailArgs),
    /// Cancel an execution: a queued one at once, a running one as soon as
    /// its worker stops it.
    Cancel(IdArgs),
    /// Pause a running workflow (and its sub-workflows): tasks already
    /// running finish, nothing new starts until it is resumed.
    Pause(IdArgs),
    /// Resume a paused workflow: what the pause held back starts now.
    Resume(IdArgs),
    /// Run an execution's action again with the same parameters, or a
    /// finished workflow from chosen tasks (`--tasks`), and wait for it
    /// like `squall run`.
    #[command(name = "re-run")]
    ReRun(ReRunArgs),
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    /// Only executions of this action (`pack.action`).
    #[arg(long, value_name = "ACTION")]
    action: Option<String>,
    /// Only executions in this state (requested, scheduled, running,
    /// paused, pending, succeeded, failed, timeout, canceled, abandoned).
    #[arg(long, value_name = "STATUS")]
    status: Option<String>,
    /// How many to show, 1 to 1000.
    #[arg(long, short = 'n', default_value_t = 50, value_name = "N")]
    limit: usize,
    /// Skip the N newest matches first, to page through the list.
    #[arg(long, default_value_t = 0, value_name = "N")]
    offset: usize,
    /// Workflows' task executions too, not only the top-level ones (as
    /// `st2 execution list` shows, only those no workflow started).
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, clap::Args)]
struct IdArgs {
    /// The execution id.
    #[arg(value_name = "ID")]
    id: String,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, clap::Args)]
struct TailArgs {
    /// Follow only this execution, until it finishes.
    #[arg(value_name = "ID")]
    id: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, clap::Args)]
struct ReRunArgs {
    /// The execution to run again.
    #[arg(value_name = "ID")]
    id: String,
    /// Workflow tasks to run again (comma-separated or repeated), each from
    /// the context it ran with; the tasks whose failure ended the workflow
    /// must be among them.
    #[arg(long, value_name = "TASK", value_delimiter = ',')]
    tasks: Vec<String>,
    /// Print the new execution's id and return without waiting.
    #[arg(long = "async")]
    no_wait: bool,
    #[command(flatten)]
    remote: Remote,
}

pub(crate) fn run(
    args: ExecutionArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<u8> {
    match args.command {
        ExecutionCommand::List(args) => list(args, stdout, stderr),
        ExecutionCommand::Get(args) => {
            let client = Client::new(&args.remote)?;
            let execution = client.get(&path(&args.id), &[])?.body;
            if args.remote.json {
                print_json(stdout, &execution)?;
            } else {
                print_execution(stdout, &execution)?;
                print_logs(stdout, &execution)?;
                print_tasks(&client, &execution, stdout)?;
            }
            Ok(0)
        }
        ExecutionCommand::Tail(args) => tail(args, stdout, stderr),
        ExecutionCommand::Cancel(args) => cancel(args, stdout),
        ExecutionCommand::Pause(args) => control(args, "pause", stdout),
        ExecutionCommand::Resume(args) => control(args, "resume", stdout),
        ExecutionCommand::ReRun(args) => {
            let client = Client::new(&args.remote)?;
            let re_run = format!("{}/re_run", path(&args.id));
            let created = if args.tasks.is_empty() {
                client.post_empty(&re_run)?.body
            } else {
                client.post_json(&re_run, &json!({ "tasks": args.tasks }))?.body
            };
            follow(&client, &created, args.no_wait, args.remote.json, stdout, stderr)
        }
    }
}

fn path(id: &str) -> String {
    format!("/executions/{}", segment(id))
}

/// `squall run PACK.ACTION KEY=VALUE…` against the server: requests the
/// execution, waits for it unless `no_wait`, prints it; exit 0 when it
/// succeeded, 1 when it did not.
pub(crate) fn run_remote(
    action: &str,
    parameters: Map<String, Value>,
    no_wait: bool,
    remote: &Remote,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<u8> {
    if !action.contains('.') {
        bail!(
            "action `{action}`: expected PACK.ACTION (e.g. core.echo); to run an action of a local \
             component, pass --component FILE"
        );
    }
    let client = Client::new(remote)?;
    let body = json!({"action": action, "parameters": parameters});
    let created = client.post_json("/executions", &body)?.body;
    follow(&client, &created, no_wait, remote.json, stdout, stderr)
}

/// After an execution was requested: prints its id (`no_wait`), or waits
/// for it and prints how it ended.
fn follow(
    client: &Client,
    created: &Value,
    no_wait: bool,
    json: bool,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<u8> {
    let id = text(created, "id");
    if id.is_empty() {
        bail!("the server's answer names no execution id: {created}");
    }
    if no_wait {
        if json {
            print_json(stdout, created)?;
        } else {
            writeln!(stdout, "{id}")?;
        }
        return Ok(0);
    }
    // What the action logged goes to stderr, for people (a workflow's
    // tasks' lines as each task ends); stdout keeps the execution for pipes.
    let execution =
        if is_workflow(created) { wait_workflow(client, &id, stderr)? } else { wait(client, &id)? };
    for line in items(execution.get("logs").unwrap_or(&Value::Null)) {
        writeln!(stderr, "{}", log_line(line))?;
    }
    if json {
        print_json(stdout, &execution)?;
    } else {
        print_execution(stdout, &execution)?;
    }
    let status = text(&execution, "status");
    if status == "succeeded" {
        return Ok(0);
    }
    let why = opt_text(&execution, "error").unwrap_or(status);
    writeln!(stderr, "error: {} {id}: {why}", action_ref(&execution))?;
    Ok(super::EXIT_FAILED)
}

/// Waits until execution `id` finished and returns it. Subscribes to its
/// events before reading it, so that no change falls between the two; polls
/// if the stream ends early.
fn wait(client: &Client, id: &str) -> anyhow::Result<Value> {
    let query = [("events", "execution".to_owned()), ("execution", id.to_owned())];
    let mut events = client.stream(&query)?;
    let execution = client.get(&path(id), &[])?.body;
    if finished(&text(&execution, "status")) {
        return Ok(execution);
    }
    while let Some(event) = events.next_event()? {
        match event.name.as_str() {
            "execution" => {
                let data: Value = serde_json::from_str(&event.data).with_context(|| {
                    format!("an execution event that is not JSON: {}", event.data)
                })?;
                if text(&data, "id") == id && finished(&text(&data, "status")) {
                    return Ok(client.get(&path(id), &[])?.body);
                }
            }
            "lagged" => {
                let execution = client.get(&path(id), &[])?.body;
                if finished(&text(&execution, "status")) {
                    return Ok(execution);
                }
            }
            _ => {}
        }
    }
    // The server ended the stream (it is stopping): ask until it answers.
    loop {
        let execution = client.get(&path(id), &[])?.body;
        if finished(&text(&execution, "status")) {
            return Ok(execution);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Whether execution `e` runs a workflow.
fn is_workflow(e: &Value) -> bool {
    text(&e["runner"], "name") == "orquesta"
        || !items(e.get("children").unwrap_or(&Value::Null)).is_empty()
}

/// [`wait`] for a workflow: follows every execution's changes, and prints
/// each task's log lines to `logs` as the task ends.
fn wait_workflow(client: &Client, id: &str, logs: &mut dyn Write) -> anyhow::Result<Value> {
    let mut events = client.stream(&[("events", "execution".to_owned())])?;
    let mut tasks = TaskLines { workflow: id, json: false, logs_only: true, seen: HashMap::new() };
    let mut execution = client.get(&path(id), &[])?.body;
    while !finished(&text(&execution, "status")) {
        tasks.update(client, logs)?;
        match events.next_event()? {
            Some(event) if event.name == "execution" => {
                let data: Value = serde_json::from_str(&event.data).with_context(|| {
                    format!("an execution event that is not JSON: {}", event.data)
                })?;
                if text(&data, "id") == id && finished(&text(&data, "status")) {
                    execution = client.get(&path(id), &[])?.body;
                }
            }
            Some(event) if event.name == "lagged" => {
                execution = client.get(&path(id), &[])?.body;
            }
            Some(_) => {}
            // The server ended the stream (it is stopping): ask until it
            // answers.
            None => {
                std::thread::sleep(Duration::from_millis(250));
                execution = client.get(&path(id), &[])?.body;
            }
        }
    }
    tasks.update(client, logs)?;
    Ok(execution)
}

/// The ref of an execution's action (the API embeds the action, as
/// StackStorm does).
fn action_ref(e: &Value) -> String {
    text(&e["action"], "ref")
}

/// One execution for people.
fn print_execution(out: &mut dyn Write, e: &Value) -> anyhow::Result<()> {
    let mut fields = Fields::new();
    fields.add("id", text(e, "id")).add("action", action_ref(e)).add("status", text(e, "status"));
    if e.get("attempt").and_then(Value::as_u64).is_some_and(|a| a > 1) {
        fields.add("attempt", text(e, "attempt"));
    }
    fields
        .opt("rule", opt_text(e, "rule"))
        .opt("trigger_instance", opt_text(e, "trigger_instance"))
        .opt(
            "workflow",
            e.get("workflow_task")
                .filter(|p| !p.is_null())
                .map(|p| format!("{} task {}", text(p, "workflow"), text(p, "task"))),
        )
        .add("parameters", e.get("parameters").map(show).unwrap_or_default())
        .add("created_at", time(e, "created_at"))
        .opt("started_at", opt_time(e, "started_at"))
        .opt("finished_at", opt_time(e, "finished_at"))
        .opt("took", took(e, "started_at", "finished_at"))
        .opt("result", e.get("result").filter(|r| !r.is_null()).map(show))
        .opt("error", opt_text(e, "error"));
    for retry in items(e.get("retries").unwrap_or(&Value::Null)) {
        let error = opt_text(retry, "error").map_or_else(String::new, |e| format!(": {e}"));
        fields.add(
            "earlier",
            format!("attempt {} {}{error}", text(retry, "attempt"), text(retry, "status")),
        );
    }
    fields.print(out)
}

/// One log line for people: `[LEVEL] MESSAGE`.
fn log_line(line: &Value) -> String {
    format!("[{}] {}", text(line, "level"), text(line, "message"))
}

/// What the action logged, under its fields: `logs:`, then one line each
/// with its level (nothing when it logged nothing).
fn print_logs(out: &mut dyn Write, e: &Value) -> anyhow::Result<()> {
    let logs = items(e.get("logs").unwrap_or(&Value::Null));
    if logs.is_empty() {
        return Ok(());
    }
    writeln!(out, "logs:")?;
    for line in logs {
        let mut message = text(line, "message");
        if message.contains('\n') {
            message = message.replace('\n', "\n         ");
        }
        writeln!(out, "  {:<5}  {message}", text(line, "level"))?;
    }
    Ok(())
}

/// A workflow's task executions, oldest first, under its fields.
fn print_tasks(client: &Client, execution: &Value, out: &mut dyn Write) -> anyhow::Result<()> {
    let query = [("parent", text(execution, "id")), ("limit", "1000".to_owned())];
    let tasks = client.get("/executions", &query)?.body;
    let mut tasks: Vec<&Value> = items(&tasks).iter().collect();
    if tasks.is_empty() {
        return Ok(());
    }
    tasks.reverse();
    writeln!(out)?;
    let mut table = Table::new(&["TASK", "ID", "ACTION", "STATUS"]);
    for task in tasks {
        let parent = task.get("workflow_task").unwrap_or(&Value::Null);
        let mut name = text(parent, "task");
        if let Some(item) = parent.get("item").and_then(Value::as_u64) {
            name.push_str(&format!("[{item}]"));
        }
        table.row(vec![name, text(task, "id"), action_ref(task), text(task, "status")]);
    }
    table.print(out, "")
}

fn list(args: ListArgs, stdout: &mut dyn Write, stderr: &mut dyn Write) -> anyhow::Result<u8> {
    let client = Client::new(&args.remote)?;
    let mut query = vec![("limit", args.limit.to_string())];
    if args.offset > 0 {
        query.push(("offset", args.offset.to_string()));
    }
    if !args.all {
        query.push(("parent", "null".to_owned()));
    }
    if let Some(action) = args.action {
        query.push(("action", action));
    }
    if let Some(status) = args.status {
        query.push(("status", status));
    }
    let answer = client.get("/executions", &query)?;
    if args.remote.json {
        print_json(stdout, &answer.body)?;
        return Ok(0);
    }
    let executions = items(&answer.body);
    let mut table = Table::new(&["ID", "ACTION", "STATUS", "RULE", "CREATED"]);
    for e in executions {
        table.row(vec![
            text(e, "id"),
            action_ref(e),
            text(e, "status"),
            text(e, "rule"),
            time(e, "created_at"),
        ]);
    }
    table.print(stdout, "no executions")?;
    note_partial(stderr, executions.len(), answer.total, "executions")?;
    // A filtered list (top-level runs are one) has no total: a full page
    // says where the next one starts.
    if answer.total.is_none() && !executions.is_empty() && executions.len() == args.limit {
        writeln!(
            stderr,
            "note: {} execution{} shown, newest first; more may match: --offset {} shows the next page",
            executions.len(),
            if executions.len() == 1 { "" } else { "s" },
            args.offset + executions.len()
        )?;
    }
    Ok(0)
}

/// `pause` or `resume` a workflow and say where it is now.
fn control(args: IdArgs, verb: &str, stdout: &mut dyn Write) -> anyhow::Result<u8> {
    let client = Client::new(&args.remote)?;
    let answer = client.post_empty(&format!("{}/{verb}", path(&args.id)))?.body;
    if args.remote.json {
        print_json(stdout, &answer)?;
    } else {
        writeln!(stdout, "workflow {} is {}", text(&answer, "id"), text(&answer, "status"))?;
    }
    Ok(0)
}

fn cancel(args: IdArgs, stdout: &mut dyn Write) -> anyhow::Result<u8> {
    let client = Client::new(&args.remote)?;
    let answer = client.delete(&path(&args.id), &[])?.body;
    if args.remote.json {
        print_json(stdout, &answer)?;
        return Ok(0);
    }
    let (id, before) = (text(&answer, "id"), text(&answer, "previous_status"));
    if text(&answer, "status") == "canceled" {
        writeln!(stdout, "execution {id} canceled (it was {before})")?;
    } else {
        writeln!(
            stdout,
            "execution {id} is being canceled: its worker stops it now (it was {before})"
        )?;
    }
    Ok(0)
}

/// A state change as one line: the server's JSON, or `ID ACTION STATUS`.
fn print_change(out: &mut dyn Write, change: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        writeln!(out, "{change}")?;
    } else {
        writeln!(
            out,
            "{} {} {}",
            text(change, "id"),
            text(change, "action"),
            text(change, "status")
        )?;
    }
    out.flush()?;
    Ok(())
}

fn tail(args: TailArgs, stdout: &mut dyn Write, stderr: &mut dyn Write) -> anyhow::Result<u8> {
    let client = Client::new(&args.remote)?;
    let json = args.remote.json;
    let Some(id) = args.id else {
        let mut events = client.stream(&[("events", "execution".to_owned())])?;
        while let Some(event) = events.next_event()? {
            match event.name.as_str() {
                "execution" => {
                    let change: Value = serde_json::from_str(&event.data)
                        .with_context(|| format!("an event that is not JSON: {}", event.data))?;
                    print_change(stdout, &change, json)?;
                }
                "lagged" => {
                    writeln!(stderr, "warning: fell behind and missed events: {}", event.data)?;
                }
                _ => {}
            }
        }
        return Ok(0);
    };
    let first = client.get(&path(&id), &[])?.body;
    let workflow = is_workflow(&first);
    // A workflow's tasks are executions of their own: follow every
    // execution's changes and pick the tasks out; otherwise only this one's.
    let mut query = vec![("events", "execution".to_owned())];
    if !workflow {
        query.push(("execution", id.clone()));
    }
    let mut events = client.stream(&query)?;
    let now = |client: &Client| -> anyhow::Result<Value> {
        let e = client.get(&path(&id), &[])?.body;
        Ok(json!({"id": e["id"], "action": e["action"]["ref"], "status": e["status"]}))
    };
    let mut tasks = TaskLines { workflow: &id, json, logs_only: false, seen: HashMap::new() };
    let mut last = now(&client)?;
    if !finished(&text(&last, "status")) {
        print_change(stdout, &last, json)?;
    }
    while !finished(&text(&last, "status")) {
        if workflow {
            tasks.update(&client, stdout)?;
        }
        let Some(event) = events.next_event()? else {
            bail!("the server ended the event stream before execution {id} finished");
        };
        let change = match event.name.as_str() {
            "execution" => serde_json::from_str(&event.data)
                .with_context(|| format!("an event that is not JSON: {}", event.data))?,
            "lagged" => now(&client)?,
            _ => continue,
        };
        if text(&change, "id") != id {
            continue;
        }
        if text(&change, "status") == text(&last, "status") {
            continue;
        }
        if !finished(&text(&change, "status")) {
            print_change(stdout, &change, json)?;
        }
        last = change;
    }
    // Its end: the last tasks, what it logged, then how it ended.
    if workflow {
        tasks.update(&client, stdout)?;
    }
    let execution = client.get(&path(&id), &[])?.body;
    print_tail_logs(stdout, &execution, "", json)?;
    print_change(stdout, &last, json)?;
    Ok(if text(&last, "status") == "succeeded" { 0 } else { super::EXIT_FAILED })
}

/// What `tail` has printed of each of a workflow's tasks.
#[derive(Debug, Default, Clone, Copy)]
struct TaskSeen {
    started: bool,
    ended: bool,
}

/// `tail`'s lines about a workflow's tasks: each task's start and end
/// with their times, and what it logged; `run`'s: only what each task
/// logged, `[LEVEL] TASK: MESSAGE`.
struct TaskLines<'a> {
    workflow: &'a str,
    json: bool,
    logs_only: bool,
    seen: HashMap<String, TaskSeen>,
}

impl TaskLines<'_> {
    /// Reads the workflow's task executions and prints what changed since
    /// the last call: starts, then ends with what each task logged.
    fn update(&mut self, client: &Client, out: &mut dyn Write) -> anyhow::Result<()> {
        let query = [("parent", self.workflow.to_owned()), ("limit", "1000".to_owned())];
        let answer = client.get("/executions", &query)?.body;
        let mut children: Vec<&Value> = items(&answer).iter().collect();
        children.reverse();
        for child in children {
            let child_id = text(child, "id");
            let seen = self.seen.get(&child_id).copied().unwrap_or_default();
            if seen.ended {
                continue;
            }
            let started = opt_text(child, "started_at").is_some();
            let ended = finished(&text(child, "status"));
            if !self.logs_only && !seen.started && (started || ended) {
                self.task_line(out, child, "started")?;
            }
            if ended && self.logs_only {
                let full = client.get(&path(&child_id), &[])?.body;
                let task = text(child.get("workflow_task").unwrap_or(&Value::Null), "task");
                for line in items(full.get("logs").unwrap_or(&Value::Null)) {
                    let (level, message) = (text(line, "level"), text(line, "message"));
                    writeln!(out, "[{level}] {task}: {message}")?;
                }
            } else if ended {
                self.task_line(out, child, "finished")?;
                let full = client.get(&path(&child_id), &[])?.body;
                print_tail_logs(out, &full, "  ", self.json)?;
            }
            self.seen
                .insert(child_id, TaskSeen { started: seen.started || started || ended, ended });
        }
        out.flush()?;
        Ok(())
    }

    /// `TIME task NAME started (ACTION ID)` or `TIME task NAME STATUS in
    /// TOOK (ACTION ID)`; as JSON, `{"event": "task_started"|"task_finished",
    /// …}`.
    fn task_line(&self, out: &mut dyn Write, child: &Value, phase: &str) -> anyhow::Result<()> {
        let task = child.get("workflow_task").unwrap_or(&Value::Null);
        if self.json {
            let line = json!({
                "event": format!("task_{phase}"),
                "workflow": self.workflow,
                "id": child["id"],
                "task": task["task"],
                "route": task["route"],
                "item": task["item"],
                "retry": task["retry"],
                "action": child["action"]["ref"],
                "status": child["status"],
                "started_at": child["started_at"],
                "finished_at": child["finished_at"],
            });
            writeln!(out, "{line}")?;
            return Ok(());
        }
        let mut name = text(task, "task");
        if let Some(item) = task.get("item").and_then(Value::as_u64) {
            name.push_str(&format!("[{item}]"));
        }
        if let Some(retry) = task.get("retry").and_then(Value::as_u64).filter(|r| *r > 0) {
            name.push_str(&format!(" (retry {retry})"));
        }
        let what = format!("({} {})", action_ref(child), text(child, "id"));
        if phase == "started" {
            let at = opt_time(child, "started_at").unwrap_or_else(|| time(child, "created_at"));
            writeln!(out, "{at} task {name} started {what}")?;
        } else {
            let at = opt_time(child, "finished_at").unwrap_or_else(|| time(child, "updated_at"));
            let took = took(child, "started_at", "finished_at")
                .map_or_else(String::new, |t| format!(" in {t}"));
            writeln!(out, "{at} task {name} {}{took} {what}", text(child, "status"))?;
        }
        Ok(())
    }
}

/// `tail`'s lines for what an execution logged: `[LEVEL] MESSAGE` after
/// `indent`, or `{"event": "log", "id", "level", "message"}`.
fn print_tail_logs(out: &mut dyn Write, e: &Value, indent: &str, json: bool) -> anyhow::Result<()> {
    for line in items(e.get("logs").unwrap_or(&Value::Null)) {
        if json {
            let line = json!({
                "event": "log",
                "id": e["id"],
                "level": line["level"],
                "message": line["message"],
            });
            writeln!(out, "{line}")?;
        } else {
            writeln!(out, "{indent}{}", log_line(line))?;
        }
    }
    Ok(())
}
