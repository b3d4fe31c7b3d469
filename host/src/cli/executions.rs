//! `squall run PACK.ACTION` on the server and `squall execution
//! list|get|tail|cancel|pause|resume|re-run`: request executions, wait for
//! them on the live event stream, show them, and control workflows.
//! `tail.rs` has `execution tail` and the live lines of a workflow's tasks.

mod tail;

use std::io::Write;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::{Map, Value, json};

use super::client::{Client, Event, Events, Remote, segment};
use super::output::{
    Fields, Table, items, note_partial, opt_text, opt_time, print_json, show, text, time, took,
};
use tail::{TaskLines, tail};

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
    /// Only executions in this state.
    #[arg(long, value_name = "STATUS", value_parser = [
        "requested", "scheduled", "running", "paused", "pending", "succeeded", "failed",
        "timeout", "canceled", "abandoned",
    ])]
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
    /// Print only the ids, one per line, newest first (for `$(…)`).
    #[arg(short, long, conflicts_with = "json")]
    quiet: bool,
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
            let events = if args.no_wait { None } else { Some(live(&client)?) };
            let created = if args.tasks.is_empty() {
                client.post_empty(&re_run)?.body
            } else {
                client.post_json(&re_run, &json!({ "tasks": args.tasks }))?.body
            };
            follow(&client, &created, events, args.remote.json, stdout, stderr)
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
    if crate::limits::split_ref(action).is_none() {
        bail!(
            "action `{action}`: expected PACK.ACTION (e.g. core.echo); to run an action of a local \
             component, pass --component FILE"
        );
    }
    let client = Client::new(remote)?;
    let body = json!({"action": action, "parameters": parameters});
    // Subscribed before the execution exists, so that no line it logs is
    // missed.
    let events = if no_wait { None } else { Some(live(&client)?) };
    let created = client.post_json("/executions", &body)?.body;
    follow(&client, &created, events, remote.json, stdout, stderr)
}

/// The stream `run` and `re-run` follow an execution on: every execution's
/// changes and log lines (its id is not known before it is created).
fn live(client: &Client) -> anyhow::Result<Events> {
    client.stream(&[("events", "execution,output".to_owned())])
}

/// After an execution was requested: prints its id (no `events`: not
/// waiting), or waits for it on `events`, printing what it logs as it
/// logs it, and prints how it ended.
fn follow(
    client: &Client,
    created: &Value,
    events: Option<Events>,
    json: bool,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<u8> {
    let id = text(created, "id");
    if id.is_empty() {
        bail!("the server's answer names no execution id: {created}");
    }
    let Some(mut events) = events else {
        if json {
            print_json(stdout, created)?;
        } else {
            writeln!(stdout, "{id}")?;
        }
        return Ok(0);
    };
    // What the action logged goes to stderr, for people, as it is logged
    // (a workflow's tasks' lines with the task's name); stdout keeps the
    // execution for pipes.
    let execution = if is_workflow(created) {
        wait_workflow(client, &id, &mut events, stderr)?
    } else {
        let mut own = OwnLines::new(&id);
        let execution = wait(client, &id, &mut events, &mut own, stderr)?;
        // The lines the stream did not bring (it fell behind).
        for line in own.unprinted(&execution) {
            writeln!(stderr, "{}", log_line(line))?;
        }
        execution
    };
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

/// Waits until execution `id` finished and returns it, printing its log
/// lines to `logs` as they come (`[LEVEL] MESSAGE`). `events` were
/// subscribed to (execution changes and output) before it is read here, so
/// that no change falls between the two; polls if the stream ends early.
fn wait(
    client: &Client,
    id: &str,
    events: &mut Events,
    own: &mut OwnLines,
    logs: &mut dyn Write,
) -> anyhow::Result<Value> {
    let execution = client.get(&path(id), &[])?.body;
    if finished(&text(&execution, "status")) {
        return Ok(execution);
    }
    while let Some(event) = events.next_event()? {
        match event.name.as_str() {
            "output" => {
                let data = event_json(&event)?;
                if let Some(line) = own.live(&data) {
                    writeln!(logs, "{line}")?;
                    logs.flush()?;
                }
            }
            "execution" => {
                let data = event_json(&event)?;
                if text(&data, "id") != id {
                    continue;
                }
                let status = text(&data, "status");
                if finished(&status) {
                    return Ok(client.get(&path(id), &[])?.body);
                }
                own.changed(&status);
            }
            "lagged" => {
                own.lagged();
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
/// each task's log lines to `logs` as they come, `[LEVEL] TASK: MESSAGE`
/// (a sub-workflow's tasks as `PARENT/TASK`); a task's lines the stream did
/// not bring, as the task ends.
fn wait_workflow(
    client: &Client,
    id: &str,
    events: &mut Events,
    logs: &mut dyn Write,
) -> anyhow::Result<Value> {
    let mut tasks = TaskLines::new(id, false, true);
    let mut execution = client.get(&path(id), &[])?.body;
    tasks.update(client, logs)?;
    while !finished(&text(&execution, "status")) {
        match events.next_event()? {
            Some(event) if event.name == "output" => {
                tasks.output(client, logs, &event_json(&event)?)?;
            }
            Some(event) if event.name == "execution" => {
                let data = event_json(&event)?;
                tasks.execution(client, logs, &data)?;
                if text(&data, "id") == id && finished(&text(&data, "status")) {
                    execution = client.get(&path(id), &[])?.body;
                }
            }
            Some(event) if event.name == "lagged" => {
                tasks.lagged();
                tasks.update(client, logs)?;
                execution = client.get(&path(id), &[])?.body;
            }
            Some(_) => {}
            // The server ended the stream (it is stopping): ask until it
            // answers.
            None => {
                std::thread::sleep(Duration::from_millis(250));
                tasks.update(client, logs)?;
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
    if args.quiet {
        for e in executions {
            writeln!(stdout, "{}", text(e, "id"))?;
        }
        return Ok(0);
    }
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
    note_partial(stderr, executions.len(), &answer, "executions")?;
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

/// An event's JSON data.
fn event_json(event: &Event) -> anyhow::Result<Value> {
    serde_json::from_str(&event.data)
        .with_context(|| format!("a {} event that is not JSON: {}", event.name, event.data))
}

/// One execution's log lines printed as they came, so that its stored
/// lines are not printed a second time when it ends.
struct OwnLines {
    id: String,
    printed: usize,
    /// It was seen running since it was last queued.
    ran: bool,
    /// The stream fell behind: lines may be missing from here on, so none
    /// is printed as it comes any more; the rest are printed at the end.
    gap: bool,
}

impl OwnLines {
    fn new(id: &str) -> Self {
        Self { id: id.to_owned(), printed: 0, ran: false, gap: false }
    }

    /// An `output` event's line for people (`[LEVEL] MESSAGE`), if this
    /// execution logged it and it is to be printed now.
    fn live(&mut self, data: &Value) -> Option<String> {
        if self.gap || text(data, "execution_id") != self.id {
            return None;
        }
        self.printed += 1;
        Some(log_line(data))
    }

    /// The execution is in `status` now: back on the queue after it ran,
    /// for another attempt, its stored lines will be the next attempt's.
    /// Queued before it was seen running is its first announcement, which
    /// can come after its first lines (an execution that ends within the
    /// request is announced once its ending is committed, while its lines
    /// stream as it logs them): the lines printed stay printed.
    fn changed(&mut self, status: &str) {
        match status {
            "running" => self.ran = true,
            "scheduled" | "requested" if self.ran => {
                self.printed = 0;
                self.ran = false;
            }
            _ => {}
        }
    }

    fn lagged(&mut self) {
        self.gap = true;
    }

    /// The finished execution's stored lines not printed as they came.
    fn unprinted<'e>(&self, execution: &'e Value) -> &'e [Value] {
        let lines = items(execution.get("logs").unwrap_or(&Value::Null));
        lines.get(self.printed..).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, message: &str) -> Value {
        json!({"execution_id": id, "level": "info", "message": message})
    }

    fn ended(messages: &[&str]) -> Value {
        let logs: Vec<Value> =
            messages.iter().map(|m| json!({"level": "info", "message": m})).collect();
        json!({"status": "failed", "logs": logs})
    }

    #[test]
    fn a_late_first_announcement_does_not_print_the_lines_again() {
        let mut own = OwnLines::new("e1");
        assert!(own.live(&line("e1", "line 0")).is_some());
        assert!(own.live(&line("other", "line 0")).is_none());
        own.changed("requested");
        assert!(own.unprinted(&ended(&["line 0"])).is_empty());
    }

    #[test]
    fn a_retry_after_running_prints_the_next_attempts_lines() {
        let mut own = OwnLines::new("e1");
        own.changed("requested");
        own.changed("running");
        assert!(own.live(&line("e1", "first try")).is_some());
        own.changed("scheduled");
        // The next attempt's lines were missed by the stream: printed at the end.
        assert_eq!(own.unprinted(&ended(&["second try"])).len(), 1);
    }
}
