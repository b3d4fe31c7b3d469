//! `squall execution tail`: an execution's state changes as they come, and
//! for a workflow its tasks' starts and ends with their times; and the log
//! lines of a workflow's tasks as they are logged (`TaskLines`), which
//! `squall run` prints too.

use std::collections::{HashMap, HashSet};
use std::io::Write;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use super::{OwnLines, TailArgs, action_ref, event_json, finished, is_workflow, log_line, path};
use crate::cli::EXIT_FAILED;
use crate::cli::client::Client;
use crate::cli::output::{items, opt_text, opt_time, text, time, took};

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

pub(super) fn tail(
    args: TailArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<u8> {
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
    Ok(if text(&last, "status") == "succeeded" { 0 } else { EXIT_FAILED })
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
pub(super) struct TaskLines<'a> {
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
    pub(super) fn new(workflow: &'a str, json: bool, logs_only: bool) -> Self {
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
    pub(super) fn lagged(&mut self) {
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
    pub(super) fn output(
        &mut self,
        client: &Client,
        out: &mut dyn Write,
        data: &Value,
    ) -> anyhow::Result<()> {
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
    pub(super) fn update(&mut self, client: &Client, out: &mut dyn Write) -> anyhow::Result<()> {
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
    pub(super) fn execution(
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
