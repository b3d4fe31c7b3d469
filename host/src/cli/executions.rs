//! `squall run PACK.ACTION` on the server and `squall execution
//! list|get|tail|cancel|pause|resume|re-run`: request executions, wait for
//! them on the live event stream, show them, and control workflows.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::{Map, Value, json};

use super::client::{Client, Event, Events, Remote, segment};
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
    if !action.contains('.') {
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
    // execution's changes and log lines and pick the tasks out; otherwise
    // only this one's.
    let mut query = vec![("events", "execution,output".to_owned())];
    if !workflow {
        query.push(("execution", id.clone()));
    }
    let mut events = client.stream(&query)?;
    let mut own = OwnLines::new(&id);
    let now = |client: &Client| -> anyhow::Result<Value> {
        let e = client.get(&path(&id), &[])?.body;
        Ok(json!({"id": e["id"], "action": e["action"]["ref"], "status": e["status"]}))
    };
    let mut tasks = TaskLines::new(&id, json, false);
    let mut last = now(&client)?;
    if !finished(&text(&last, "status")) {
        print_change(stdout, &last, json)?;
    }
    // The tasks so far; from here on, each as the stream tells of it, in
    // the stream's order (a task's start, its lines, its end).
    if workflow {
        tasks.update(&client, stdout)?;
    }
    while !finished(&text(&last, "status")) {
        let Some(event) = events.next_event()? else {
            bail!("the server ended the event stream before execution {id} finished");
        };
        let change = match event.name.as_str() {
            "execution" if workflow => {
                let change = event_json(&event)?;
                tasks.execution(&client, stdout, &change)?;
                change
            }
            "execution" => event_json(&event)?,
            "output" if workflow => {
                tasks.output(&client, stdout, &event_json(&event)?)?;
                continue;
            }
            "output" => {
                let data = event_json(&event)?;
                if own.live(&data).is_some() {
                    print_tail_log(stdout, &id, &data, None, "", json)?;
                    stdout.flush()?;
                }
                continue;
            }
            "lagged" => {
                own.lagged();
                if workflow {
                    tasks.lagged();
                    tasks.update(&client, stdout)?;
                }
                now(&client)?
            }
            _ => continue,
        };
        if text(&change, "id") != id {
            continue;
        }
        own.changed(&text(&change, "status"));
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
    for line in own.unprinted(&execution) {
        print_tail_log(stdout, &id, line, None, "", json)?;
    }
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
/// with their times, and what it logged (`  [LEVEL] TASK: MESSAGE`);
/// `run`'s: only what each task logged, `[LEVEL] TASK: MESSAGE`. Log lines
/// are printed as they come, a sub-workflow's tasks' too (`PARENT/TASK`);
/// a task's lines the stream did not bring are printed as it ends.
struct TaskLines<'a> {
    workflow: &'a str,
    json: bool,
    logs_only: bool,
    seen: HashMap<String, TaskSeen>,
    /// The task path of each execution met (`TASK`, `PARENT/TASK`; empty
    /// for the workflow), `None` for one outside the workflow.
    paths: HashMap<String, Option<String>>,
    /// How many of each execution's lines were printed as they came.
    printed: HashMap<String, usize>,
    /// Executions met that are not this workflow's tasks.
    others: HashSet<String>,
    /// The stream fell behind: lines may be missing from here on, so none
    /// is printed as it comes any more; each task's are printed as it ends
    /// (those of sub-workflows' tasks are not).
    gap: bool,
}

/// How deep sub-workflows are followed for their tasks' log lines.
const MAX_NESTING: usize = 32;

impl<'a> TaskLines<'a> {
    fn new(workflow: &'a str, json: bool, logs_only: bool) -> Self {
        Self {
            workflow,
            json,
            logs_only,
            seen: HashMap::new(),
            paths: HashMap::from([(workflow.to_owned(), Some(String::new()))]),
            printed: HashMap::new(),
            others: HashSet::new(),
            gap: false,
        }
    }

    /// The stream fell behind: from now on, tasks' lines are printed as
    /// they end.
    fn lagged(&mut self) {
        self.gap = true;
    }

    /// The task path of the task that runs execution `id` under this
    /// workflow (`None`: it is not under it), asking the server about
    /// sub-workflows met for the first time.
    fn path_of(
        &mut self,
        client: &Client,
        id: &str,
        depth: usize,
    ) -> anyhow::Result<Option<String>> {
        if let Some(known) = self.paths.get(id) {
            return Ok(known.clone());
        }
        if depth >= MAX_NESTING {
            return Ok(None);
        }
        // One the caller may not read is not followed.
        let execution = client.get(&path(id), &[]).map(|answer| answer.body).unwrap_or_default();
        let parent = execution.get("workflow_task").filter(|p| !p.is_null());
        let found = match parent {
            Some(parent) => self
                .path_of(client, &text(parent, "workflow"), depth + 1)?
                .map(|above| join_task(&above, &text(parent, "task"))),
            None => None,
        };
        self.paths.insert(id.to_owned(), found.clone());
        Ok(found)
    }

    /// An `output` event: the line, with its task's name, if a task of this
    /// workflow (or of its sub-workflows) logged it.
    fn output(&mut self, client: &Client, out: &mut dyn Write, data: &Value) -> anyhow::Result<()> {
        let Some(parent) = data.get("workflow_task").filter(|p| !p.is_null() && !self.gap) else {
            return Ok(());
        };
        let (workflow, task) = (text(parent, "workflow"), text(parent, "task"));
        let Some(above) = self.path_of(client, &workflow, 0)? else {
            return Ok(());
        };
        let execution = text(data, "execution_id");
        let name = join_task(&above, &task);
        // A task's start comes before what it logs.
        if !self.logs_only
            && workflow == self.workflow
            && !self.seen.contains_key(&execution)
            && let Ok(child) = client.get(&path(&execution), &[])
        {
            self.child(client, out, &child.body, "running")?;
        }
        let ended = self.seen.get(&execution).is_some_and(|seen| seen.ended);
        if ended {
            // Its stored lines were printed as it ended.
            return Ok(());
        }
        *self.printed.entry(execution.clone()).or_default() += 1;
        self.log(out, &execution, data, &name)?;
        out.flush()?;
        Ok(())
    }

    /// One of a task's log lines: `run`'s `[LEVEL] TASK: MESSAGE`, or
    /// `tail`'s, indented (or as JSON, with `task`).
    fn log(&self, out: &mut dyn Write, id: &str, line: &Value, task: &str) -> anyhow::Result<()> {
        if self.logs_only {
            let (level, message) = (text(line, "level"), text(line, "message"));
            writeln!(out, "[{level}] {task}: {message}")?;
            Ok(())
        } else {
            print_tail_log(out, id, line, Some(task), "  ", self.json)
        }
    }

    /// Reads the workflow's task executions and prints what changed since
    /// the last call: starts, then ends with what each task logged.
    fn update(&mut self, client: &Client, out: &mut dyn Write) -> anyhow::Result<()> {
        let query = [("parent", self.workflow.to_owned()), ("limit", "1000".to_owned())];
        let answer = client.get("/executions", &query)?.body;
        let mut children: Vec<&Value> = items(&answer).iter().collect();
        children.reverse();
        for child in children {
            self.child(client, out, child, &text(child, "status"))?;
        }
        out.flush()?;
        Ok(())
    }

    /// An `execution` event: if it is about one of this workflow's tasks,
    /// its start or its end, as the stream tells it (the server may be
    /// further on already).
    fn execution(
        &mut self,
        client: &Client,
        out: &mut dyn Write,
        change: &Value,
    ) -> anyhow::Result<()> {
        let id = text(change, "id");
        if id == self.workflow
            || self.others.contains(&id)
            || self.seen.get(&id).is_some_and(|seen| seen.ended)
        {
            return Ok(());
        }
        // One the caller may not read is not followed.
        let Ok(answer) = client.get(&path(&id), &[]) else {
            return Ok(());
        };
        let child = answer.body;
        let parent = child.get("workflow_task").unwrap_or(&Value::Null);
        if text(parent, "workflow") != self.workflow {
            self.others.insert(id);
            return Ok(());
        }
        self.child(client, out, &child, &text(change, "status"))?;
        out.flush()?;
        Ok(())
    }

    /// Task execution `child` (as the server has it), now in `status`: its
    /// start if not printed yet, and its end with the lines it logged that
    /// were not printed as they came.
    fn child(
        &mut self,
        client: &Client,
        out: &mut dyn Write,
        child: &Value,
        status: &str,
    ) -> anyhow::Result<()> {
        let child_id = text(child, "id");
        let seen = self.seen.get(&child_id).copied().unwrap_or_default();
        if seen.ended {
            return Ok(());
        }
        let ended = finished(status);
        let started = ended || opt_text(child, "started_at").is_some();
        if !self.logs_only && !seen.started && started {
            self.task_line(out, child, "started")?;
        }
        self.seen.insert(child_id.clone(), TaskSeen { started: seen.started || started, ended });
        if !ended {
            return Ok(());
        }
        let fetched;
        let full = if child.get("logs").is_some() && finished(&text(child, "status")) {
            child
        } else {
            fetched = client.get(&path(&child_id), &[])?.body;
            &fetched
        };
        if !self.logs_only {
            self.task_line(out, full, "finished")?;
        }
        // What it logged that was not printed as it came.
        let task = text(full.get("workflow_task").unwrap_or(&Value::Null), "task");
        let printed = self.printed.remove(&child_id).unwrap_or(0);
        for line in items(full.get("logs").unwrap_or(&Value::Null)).iter().skip(printed) {
            self.log(out, &child_id, line, &task)?;
        }
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

/// `tail`'s line for one line execution `id` logged: `[LEVEL] MESSAGE`
/// (`[LEVEL] TASK: MESSAGE` for a workflow's task) after `indent`, or
/// `{"event": "log", "id", "level", "message"}` (and `task`).
fn print_tail_log(
    out: &mut dyn Write,
    id: &str,
    line: &Value,
    task: Option<&str>,
    indent: &str,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        let mut event = json!({
            "event": "log",
            "id": id,
            "level": line["level"],
            "message": line["message"],
        });
        if let Some(task) = task {
            event["task"] = json!(task);
        }
        writeln!(out, "{event}")?;
    } else if let Some(task) = task {
        let (level, message) = (text(line, "level"), text(line, "message"));
        writeln!(out, "{indent}[{level}] {task}: {message}")?;
    } else {
        writeln!(out, "{indent}{}", log_line(line))?;
    }
    Ok(())
}

/// A task's path under a workflow: `TASK`, or `PARENT/TASK` for a
/// sub-workflow's.
fn join_task(above: &str, task: &str) -> String {
    if above.is_empty() { task.to_owned() } else { format!("{above}/{task}") }
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
    /// The stream fell behind: lines may be missing from here on, so none
    /// is printed as it comes any more; the rest are printed at the end.
    gap: bool,
}

impl OwnLines {
    fn new(id: &str) -> Self {
        Self { id: id.to_owned(), printed: 0, gap: false }
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

    /// The execution is in `status` now: back on the queue for another
    /// attempt, its stored lines will be the next attempt's.
    fn changed(&mut self, status: &str) {
        if matches!(status, "scheduled" | "requested") {
            self.printed = 0;
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
