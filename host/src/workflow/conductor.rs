//! The conductor: Orquesta's workflow semantics as a pure state machine.
//! Events in (an action finished, a timer fired), commands out (run this
//! action, wake me later); no IO. Everything needed to resume lives in
//! [`WorkflowState`], which serializes, so the engine can persist it after
//! every step and rebuild the conductor with [`Conductor::resume`].
//!
//! The semantics follow Orquesta's `conducting.py` (`WorkflowConductor`,
//! `WorkflowState`), `machines.py` and `specs/native/v1/models.py`:
//!
//! - Contexts are kept as a list; each task execution names the contexts
//!   it starts from (`ctxs`), merged in order (top-level keys replaced,
//!   no deep merge). Context 0 holds the input and the vars.
//! - Ready tasks are dispatched sorted by task name, then route
//!   (`get_next_tasks`).
//! - When a task completes, its transitions are evaluated in order; each
//!   whose `when` holds publishes (each entry sees the ones before it in
//!   the same transition, all start from the task's context) into a new
//!   context, and stages its `do` targets with that context appended.
//! - A task with several inbound tasks and no `join` is a split: each
//!   arriving branch gets its own route, so the task runs once per branch.
//!   A `join` task waits on its route for all (or N) inbound tasks; its
//!   context is the merge of the inbound contexts.
//! - A failed task is remediated when a matching transition leads
//!   somewhere other than `continue`; otherwise the workflow fails.
//!   `noop` remediates, `fail` fails the workflow (tasks staged next to it
//!   still run), `retry` retries up to 3 times without delay.
//! - `retry` is evaluated when the task completes: with no `when`, on
//!   failure; with `when`, whenever it holds (against the completed
//!   result); at most `count` times, `delay` seconds apart.
//! - with-items runs one action per item, at most `concurrency` in
//!   flight; its result is the list of item results in item order (null
//!   for items never run); after an item failed no further item starts,
//!   and the task fails once no item is in flight any more.
//!
//! Items are not in [`WorkflowState`], which keeps only each with-items
//! execution's counters ([`ItemCounts`]): each item is a row of its own
//! ([`ItemState`] under an [`ItemKey`]), so that the state a step rewrites
//! stays small whatever the number of items. The conductor keeps the rows
//! it has in memory; a caller that persists them hands in, before an
//! event, the rows [`Conductor::items_wanted`] names (the ended item's, the
//! next ones to start, or all of them when the task completes), and after
//! it stores what [`Conductor::take_item_writes`] gives (the rows the step
//! rendered or ended). Given the same events and the rows it wrote, the
//! conductor gives the same commands.
//! - When the workflow completes (either way) the output is rendered from
//!   the terminal context: the merge of the contexts of the terminal task
//!   executions (those without transitions, engine commands, and the task
//!   that completed the workflow). On failure the output holds what
//!   rendered; what did not render is in [`WorkflowState::errors`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::eval::{self, Scope, Tasks};
use super::graph::TaskGraph;
use super::model::{Count, EngineCommand, Join, Target, Task, Workflow};
use crate::rules::Datastore;

use super::state::{
    Command, ConductorError, ItemCounts, ItemKey, ItemState, ItemStatus, Outcome, TaskExecution,
    TaskId, TaskStatus, WorkflowState, WorkflowStatus,
};

pub struct Conductor<'w> {
    workflow: &'w Workflow,
    graph: TaskGraph,
    state: WorkflowState,
    /// What `st2kv()` reads, when the caller gives it.
    datastore: Option<Arc<dyn Datastore>>,
    /// The task execution completed last in this step: terminal if the
    /// workflow completes with it.
    last: Option<usize>,
    /// The item rows at hand: rendered or ended here, or handed in.
    rows: BTreeMap<ItemKey, ItemState>,
    /// Rows rendered or ended since [`Conductor::take_item_writes`].
    written: BTreeSet<ItemKey>,
    /// Task executions rendered again (a retry) since
    /// [`Conductor::take_stale_items`], with their new number of items.
    stale: BTreeMap<usize, usize>,
}

type Commands = Vec<Command>;

impl fmt::Debug for Conductor<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conductor").field("state", &self.state).finish_non_exhaustive()
    }
}

impl<'w> Conductor<'w> {
    /// Starts a workflow: input checked (unknown names refused) and
    /// completed with its defaults (null without one, as in Orquesta),
    /// vars rendered, start tasks dispatched.
    pub fn start(
        workflow: &'w Workflow,
        input: Map<String, Value>,
    ) -> Result<(Self, Commands), ConductorError> {
        Self::start_with(workflow, input, None)
    }

    /// [`Conductor::start`] with a datastore for `st2kv()`.
    pub fn start_with(
        workflow: &'w Workflow,
        input: Map<String, Value>,
        datastore: Option<Arc<dyn Datastore>>,
    ) -> Result<(Self, Commands), ConductorError> {
        Self::start_in(workflow, Map::new(), input, datastore)
    }

    /// [`Conductor::start_with`] in an application context: what the
    /// initial context holds before the input (StackStorm's `st2` and
    /// `parent`), readable as `ctx().st2`.
    pub fn start_in(
        workflow: &'w Workflow,
        app: Map<String, Value>,
        mut input: Map<String, Value>,
        datastore: Option<Arc<dyn Datastore>>,
    ) -> Result<(Self, Commands), ConductorError> {
        let unknown: Vec<String> = input
            .keys()
            .filter(|k| workflow.input.iter().all(|b| &b.name != *k))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Err(ConductorError::UnknownInput(unknown));
        }
        let mut ctx = app;
        for binding in &workflow.input {
            let value = match (input.remove(&binding.name), &binding.value) {
                (Some(value), _) => value,
                (None, Some(default)) => {
                    let scope =
                        Scope { ctx: Some(&ctx), kv: datastore.as_ref(), ..Scope::default() };
                    eval::value(default, &scope).map_err(|e| {
                        ConductorError::Expression(format!("input `{}`: {e}", binding.name))
                    })?
                }
                // Orquesta: an input declared without a default and not
                // given is null (an action's parameter schema is where a
                // required input is enforced).
                (None, None) => Value::Null,
            };
            ctx.insert(binding.name.clone(), value);
        }
        for binding in &workflow.vars {
            let scope = Scope { ctx: Some(&ctx), kv: datastore.as_ref(), ..Scope::default() };
            let value = match &binding.value {
                Some(value) => eval::value(value, &scope).map_err(|e| {
                    ConductorError::Expression(format!("vars `{}`: {e}", binding.name))
                })?,
                None => Value::Null,
            };
            ctx.insert(binding.name.clone(), value);
        }
        let graph = TaskGraph::new(workflow);
        let state = WorkflowState {
            status: WorkflowStatus::Running,
            contexts: vec![ctx],
            routes: vec![Vec::new()],
            sequence: Vec::new(),
            errors: Vec::new(),
            output: None,
        };
        let mut conductor = Conductor {
            workflow,
            graph,
            state,
            datastore,
            last: None,
            rows: BTreeMap::new(),
            written: BTreeSet::new(),
            stale: BTreeMap::new(),
        };
        let mut start = conductor.graph.start.clone();
        start.sort();
        for name in start {
            conductor.push(TaskId::new(&name, 0), vec![0], TaskStatus::Staged);
        }
        let mut commands = Vec::new();
        conductor.advance(&mut commands);
        Ok((conductor, commands))
    }

    /// Rebuilds a conductor from its state. A state stored with its items
    /// inline (before items had rows of their own) has them moved into
    /// rows, all to be written.
    pub fn resume(workflow: &'w Workflow, mut state: WorkflowState) -> Self {
        let mut rows = BTreeMap::new();
        let mut written = BTreeSet::new();
        for (index, execution) in state.sequence.iter_mut().enumerate() {
            let Some(items) = execution.items.take() else { continue };
            let counts = ItemCounts {
                total: items.len(),
                // Items start in order: the first pending one is the cursor.
                next: items
                    .iter()
                    .position(|e| e.status == ItemStatus::Pending)
                    .unwrap_or(items.len()),
                running: items.iter().filter(|e| e.status == ItemStatus::Running).count(),
                failed: items.iter().filter(|e| e.status == ItemStatus::Failed).count(),
            };
            execution.item_counts = Some(counts);
            for (item, row) in items.into_iter().enumerate() {
                let key = ItemKey { task: index, item };
                rows.insert(key, row);
                written.insert(key);
            }
        }
        Conductor {
            workflow,
            graph: TaskGraph::new(workflow),
            state,
            datastore: None,
            last: None,
            rows,
            written,
            stale: BTreeMap::new(),
        }
    }

    /// Gives `st2kv()` a datastore to read.
    pub fn with_datastore(mut self, datastore: Arc<dyn Datastore>) -> Self {
        self.datastore = Some(datastore);
        self
    }

    /// The scope every expression starts from.
    fn base(&self) -> Scope<'_> {
        Scope { kv: self.datastore.as_ref(), ..Scope::default() }
    }

    pub fn status(&self) -> WorkflowStatus {
        self.state.status
    }

    pub fn output(&self) -> Option<&Value> {
        self.state.output.as_ref()
    }

    pub fn state(&self) -> &WorkflowState {
        &self.state
    }

    /// Actions and timers the conductor still expects to hear about. A
    /// failed workflow may still have some (Orquesta fails at once; what
    /// was in flight finishes, and tasks staged next to `fail` run).
    pub fn in_flight(&self) -> usize {
        self.state.sequence.iter().filter(|t| t.status.active()).count()
    }

    pub fn on_action_finished(
        &mut self,
        task: &TaskId,
        item: Option<usize>,
        outcome: Outcome,
    ) -> Result<Commands, ConductorError> {
        let index =
            self.running(task).ok_or_else(|| ConductorError::NotRunning(task.to_string()))?;
        let mut commands = Vec::new();
        let (failed, result) = match outcome {
            Outcome::Succeeded(result) => (false, result),
            Outcome::Failed(result) => (true, result),
        };
        match (item, self.state.sequence[index].item_counts) {
            (Some(i), Some(mut counts)) => {
                let key = ItemKey { task: index, item: i };
                let started = i < counts.next;
                if !started || self.rows.get(&key).is_some_and(|row| row.status.ended()) {
                    return Err(ConductorError::NoSuchItem(task.to_string(), i));
                }
                let missing = self.items_wanted(task, item, failed).len();
                if missing > 0 {
                    return Err(ConductorError::ItemsNotLoaded(task.to_string(), missing));
                }
                let entry = self.rows.get_mut(&key).expect("loaded: items_wanted is empty");
                entry.status = if failed { ItemStatus::Failed } else { ItemStatus::Succeeded };
                entry.result = result;
                self.written.insert(key);
                counts.running -= 1;
                counts.failed += usize::from(failed);
                self.state.sequence[index].item_counts = Some(counts);
                if counts.running == 0 && (counts.failed > 0 || counts.next >= counts.total) {
                    let results: Vec<Value> = (0..counts.total)
                        .map(|item| self.rows[&ItemKey { task: index, item }].result.clone())
                        .collect();
                    let status =
                        if counts.failed > 0 { TaskStatus::Failed } else { TaskStatus::Succeeded };
                    self.complete(index, status, Value::Array(results), &mut commands);
                } else {
                    self.dispatch_items(index, &mut commands);
                }
            }
            (None, None) => {
                let status = if failed { TaskStatus::Failed } else { TaskStatus::Succeeded };
                self.complete(index, status, result, &mut commands);
            }
            (item, _) => {
                return Err(ConductorError::NoSuchItem(task.to_string(), item.unwrap_or(0)));
            }
        }
        self.advance(&mut commands);
        Ok(commands)
    }

    pub fn on_timer(&mut self, task: &TaskId) -> Result<Commands, ConductorError> {
        let mut commands = Vec::new();
        let Some(index) = self
            .state
            .sequence
            .iter()
            .rposition(|t| &t.id == task && t.status == TaskStatus::Delayed)
        else {
            // A timer of a task the failed workflow dropped.
            return Ok(commands);
        };
        self.rerender_and_start(index, &mut commands);
        self.advance(&mut commands);
        Ok(commands)
    }

    fn task(&self, name: &str) -> &'w Task {
        self.workflow.task(name).expect("tasks come from the workflow")
    }

    fn push(&mut self, id: TaskId, ctxs: Vec<usize>, status: TaskStatus) -> usize {
        self.state.sequence.push(TaskExecution {
            id,
            ctxs,
            status,
            result: Value::Null,
            arrived: BTreeSet::new(),
            item_counts: None,
            items: None,
            concurrency: None,
            retry: None,
            run_on_fail: false,
            term: false,
            command: false,
        });
        self.state.sequence.len() - 1
    }

    /// The contexts `ctxs` merged in order, deeply: a mapping published
    /// over a mapping merges into it, anything else replaces (Orquesta's
    /// `merge_dicts`).
    fn context(&self, ctxs: &[usize]) -> Map<String, Value> {
        let mut merged = Map::new();
        for index in ctxs {
            merge_deep(&mut merged, &self.state.contexts[*index]);
        }
        merged
    }

    /// Each task's execution as seen from `route`: its last one on that
    /// route, else on the routes it branched from (as Orquesta's
    /// `task_status` and StackStorm's `task` fall back to earlier routes).
    fn visible(&self, route: usize) -> BTreeMap<&str, (usize, &TaskExecution)> {
        let path = &self.state.routes[route];
        let mut exact = BTreeMap::new();
        let mut earlier = BTreeMap::new();
        for (index, execution) in self.state.sequence.iter().enumerate().filter(|(_, t)| !t.command)
        {
            let name = execution.id.name.as_str();
            if execution.id.route == route {
                exact.insert(name, (index, execution));
            } else if self.state.routes[execution.id.route].iter().all(|step| path.contains(step)) {
                earlier.insert(name, (index, execution));
            }
        }
        earlier.extend(exact);
        earlier
    }

    /// What `task_status()` and `task()` see from `route`: each task's
    /// status, and, when the workflow calls `task()`, StackStorm's record
    /// of its execution (`task_name`, `route`, `status`, `result`, …).
    fn tasks(&self, route: usize) -> Tasks {
        let visible = self.visible(route);
        let statuses =
            visible.iter().map(|(name, (_, t))| ((*name).to_owned(), t.status.name().to_owned()));
        let details = self.workflow.calls_task.then(|| {
            let workflow_id = self.state.contexts[0]
                .get("st2")
                .and_then(|st2| st2.get("workflow_execution_id"))
                .cloned()
                .unwrap_or(Value::Null);
            visible
                .iter()
                .map(|(name, (index, t))| {
                    let record = serde_json::json!({
                        "task_execution_id": format!("{name}.{}.{index}", t.id.route),
                        "workflow_execution_id": workflow_id,
                        "task_name": name,
                        "task_id": name,
                        "route": t.id.route,
                        "result": t.result,
                        "status": t.status.name(),
                        "start_timestamp": null,
                        "end_timestamp": null,
                    });
                    ((*name).to_owned(), record)
                })
                .collect()
        });
        Tasks { statuses: statuses.collect(), details }
    }

    fn error(&mut self, task: Option<&TaskId>, message: String) {
        let mut entry = Map::new();
        entry.insert("type".into(), "error".into());
        entry.insert("message".into(), message.into());
        if let Some(task) = task {
            entry.insert("task_id".into(), task.name.clone().into());
            entry.insert("route".into(), task.route.into());
        }
        self.state.errors.push(Value::Object(entry));
    }

    fn count(&self, count: &Count, ctx: &Map<String, Value>) -> Result<f64, String> {
        match count {
            Count::Fixed(n) => Ok(*n as f64),
            Count::Expr(text) => {
                let value = eval::text(text, &Scope { ctx: Some(ctx), ..self.base() })?;
                value
                    .as_f64()
                    .filter(|n| *n >= 0.0)
                    .ok_or_else(|| format!("`{text}` is {value}, not a non-negative number"))
            }
        }
    }

    /// Dispatches every staged task, sorted by name and route, until
    /// nothing changes; then decides whether the workflow completed.
    fn advance(&mut self, commands: &mut Commands) {
        loop {
            let mut ready: Vec<usize> = (0..self.state.sequence.len())
                .filter(|i| self.state.sequence[*i].status == TaskStatus::Staged)
                .collect();
            if ready.is_empty() {
                break;
            }
            ready.sort_by(|a, b| self.state.sequence[*a].id.cmp(&self.state.sequence[*b].id));
            let mut rendered = Vec::new();
            let mut failures = Vec::new();
            for index in ready {
                if self.state.status != WorkflowStatus::Running
                    && !self.state.sequence[index].run_on_fail
                {
                    self.state.sequence[index].status = TaskStatus::Skipped;
                    continue;
                }
                match self.render(index) {
                    Ok(fields) => rendered.push((index, fields)),
                    Err(e) => failures.push((index, e)),
                }
            }
            if !failures.is_empty() {
                // Orquesta's `get_next_tasks`: every ready task is rendered
                // first; when one fails, each failure is logged, none of
                // them starts, and the workflow fails.
                for (index, message) in failures {
                    let id = self.state.sequence[index].id.clone();
                    self.error(Some(&id), message);
                    self.state.sequence[index].status = TaskStatus::Failed;
                }
                for (index, _) in rendered {
                    self.state.sequence[index].status = TaskStatus::Skipped;
                }
                self.last = None;
                self.finish(WorkflowStatus::Failed);
                continue;
            }
            for (index, fields) in rendered {
                self.dispatch(index, fields, commands);
            }
        }
        if self.state.status == WorkflowStatus::Running && self.in_flight() == 0 {
            let waiting: Vec<TaskId> = self
                .state
                .sequence
                .iter()
                .filter(|t| t.status == TaskStatus::Waiting)
                .map(|t| t.id.clone())
                .collect();
            for id in &waiting {
                self.error(
                    Some(id),
                    format!("UnreachableJoinError: the join task `{}` is unreachable", id.name),
                );
            }
            let status =
                if waiting.is_empty() { WorkflowStatus::Succeeded } else { WorkflowStatus::Failed };
            self.finish(status);
        }
    }

    /// A task execution completed: retry, or evaluate its transitions.
    fn complete(
        &mut self,
        index: usize,
        status: TaskStatus,
        result: Value,
        commands: &mut Commands,
    ) {
        let id = self.state.sequence[index].id.clone();
        let task = self.task(&id.name);
        {
            let execution = &mut self.state.sequence[index];
            execution.status = status;
            execution.result = result.clone();
        }
        self.last = Some(index);
        if status == TaskStatus::Failed {
            self.error(Some(&id), "Execution failed. See result for details.".to_owned());
            if let Some(Value::Object(entry)) = self.state.errors.last_mut() {
                entry.insert("result".into(), result.clone());
            }
        }
        let ctx = self.context(&self.state.sequence[index].ctxs);
        let tasks = self.tasks(id.route);
        let kv = self.datastore.clone();
        let scope = Scope {
            ctx: Some(&ctx),
            task: Some(&id.name),
            status: Some(status.name()),
            result: Some(&result),
            tasks: Some(&tasks),
            item: None,
            kv: kv.as_ref(),
        };
        if self.state.status == WorkflowStatus::Running
            && let Some(retry) = self.state.sequence[index].retry.clone()
            && retry.tally < retry.count
        {
            let again = match &retry.when {
                None => Ok(status == TaskStatus::Failed),
                Some(when) => eval::text(when, &scope).map(|v| crate::rules::truthy(&v)),
            };
            match again {
                Ok(true) => {
                    let execution = &mut self.state.sequence[index];
                    if let Some(r) = execution.retry.as_mut() {
                        r.tally += 1;
                    }
                    execution.result = Value::Null;
                    // Rendered again: the retry's rows replace these.
                    execution.item_counts = None;
                    if retry.delay > 0.0 {
                        execution.status = TaskStatus::Delayed;
                        commands.push(Command::Wait { task: id, seconds: retry.delay });
                    } else {
                        self.rerender_and_start(index, commands);
                    }
                    return;
                }
                Ok(false) => {}
                Err(e) => {
                    self.error(Some(&id), format!("retry when: {e}"));
                    self.finish(WorkflowStatus::Failed);
                }
            }
        }
        if task.next.is_empty() {
            self.state.sequence[index].term = true;
        }
        let mut remediated = false;
        let mut manual_fail = false;
        let mut staged_here = Vec::new();
        let route = id.route;
        let base = self.state.sequence[index].ctxs.clone();
        // Each transition whose `when` holds publishes into a new context;
        // its targets are then taken as Orquesta takes the graph's edges:
        // sorted by target name, transitions in order for the same target.
        let mut edges: Vec<(Target, usize, Vec<usize>)> = Vec::new();
        for (t, transition) in task.next.iter().enumerate() {
            let holds = match &transition.when {
                None => Ok(true),
                Some(when) => eval::text(when, &scope).map(|v| crate::rules::truthy(&v)),
            };
            let holds = match holds {
                Ok(holds) => holds,
                Err(e) => {
                    self.error(Some(&id), format!("next[{t}].when: {e}"));
                    self.finish(WorkflowStatus::Failed);
                    continue;
                }
            };
            let targets: Vec<&Target> = transition
                .targets
                .iter()
                .filter(|t| **t != Target::Command(EngineCommand::Retry))
                .collect();
            if !holds || (targets.is_empty() && !transition.targets.is_empty()) {
                continue;
            }
            // Publish: each entry sees the ones before it.
            let mut rolling = ctx.clone();
            let mut published = Map::new();
            let mut failed = false;
            for binding in &transition.publish {
                let value = binding.value.clone().unwrap_or(Value::Null);
                let scope = Scope { ctx: Some(&rolling), ..scope.clone() };
                match eval::value(&value, &scope) {
                    Ok(value) => {
                        rolling.insert(binding.name.clone(), value.clone());
                        published.insert(binding.name.clone(), value);
                    }
                    Err(e) => {
                        self.error(Some(&id), format!("publish `{}`: {e}", binding.name));
                        failed = true;
                    }
                }
            }
            if failed {
                self.finish(WorkflowStatus::Failed);
                continue;
            }
            let mut ctxs = base.clone();
            if !published.is_empty() {
                self.state.contexts.push(published);
                ctxs.push(self.state.contexts.len() - 1);
            }
            if targets.is_empty() {
                edges.push((Target::Command(EngineCommand::Continue), t, ctxs));
            } else {
                edges.extend(targets.into_iter().map(|target| (target.clone(), t, ctxs.clone())));
            }
        }
        edges.sort_by(|a, b| target_name(&a.0).cmp(target_name(&b.0)));
        for (target, t, ctxs) in edges {
            match target {
                Target::Task(next) => {
                    remediated = true;
                    if let Some(staged) = self.stage(&id.name, t, &next, route, &ctxs) {
                        staged_here.push(staged);
                    }
                }
                Target::Command(command) => {
                    if command != EngineCommand::Continue {
                        remediated = true;
                    }
                    manual_fail |= command == EngineCommand::Fail;
                    let status = if command == EngineCommand::Fail {
                        TaskStatus::Failed
                    } else {
                        TaskStatus::Succeeded
                    };
                    let at = self.push(TaskId::new(command.name(), route), ctxs, status);
                    self.state.sequence[at].command = true;
                    self.state.sequence[at].term = true;
                }
            }
        }
        if manual_fail {
            for staged in staged_here {
                if self.state.sequence[staged].status == TaskStatus::Staged {
                    self.state.sequence[staged].run_on_fail = true;
                }
            }
        }
        if manual_fail || (status == TaskStatus::Failed && !remediated) {
            self.state.sequence[index].term = true;
            self.finish(WorkflowStatus::Failed);
        }
    }

    /// Stages `next` reached from `from.next[transition]` on `route` with
    /// the contexts `ctxs`; the index of the execution when it is ready.
    fn stage(
        &mut self,
        from: &str,
        transition: usize,
        next: &str,
        route: usize,
        ctxs: &[usize],
    ) -> Option<usize> {
        let target = self.task(next);
        let inbound = self.graph.inbound(next).len();
        let route = if self.graph.is_split(target) {
            // A split: each arriving branch opens its own route.
            // Numbered as Orquesta's `_evaluate_route` numbers them: a new
            // route each time a transition opens one, in the order
            // transitions are processed.
            let mut path = self.state.routes[route].clone();
            let step = format!("{from}.next[{transition}]");
            if path.contains(&step) {
                route
            } else {
                path.push(step);
                self.state.routes.push(path);
                self.state.routes.len() - 1
            }
        } else {
            route
        };
        let id = TaskId::new(next, route);
        if target.join.is_some()
            && self.state.sequence.iter().any(|t| {
                t.id == id && !matches!(t.status, TaskStatus::Waiting | TaskStatus::Staged)
            })
        {
            // The join already ran on this route: a late branch is spent.
            return None;
        }
        let waiting = self.state.sequence.iter().rposition(|t| {
            t.id == id && matches!(t.status, TaskStatus::Waiting | TaskStatus::Staged)
        });
        let index = match waiting {
            Some(index) => {
                // Already staged: add this branch's contexts (without the
                // initial one, which would undo its publishes).
                let extra: Vec<usize> = ctxs.iter().copied().filter(|c| *c != 0).collect();
                self.state.sequence[index].ctxs.extend(extra);
                index
            }
            None => {
                let status =
                    if target.join.is_some() { TaskStatus::Waiting } else { TaskStatus::Staged };
                self.push(id, ctxs.to_vec(), status)
            }
        };
        let execution = &mut self.state.sequence[index];
        execution.arrived.insert(from.to_owned());
        if let Some(join) = target.join {
            let needed = match join {
                Join::All => inbound,
                Join::Count(n) => n as usize,
            };
            if execution.status == TaskStatus::Waiting && execution.arrived.len() >= needed {
                execution.status = TaskStatus::Staged;
            }
        }
        (execution.status == TaskStatus::Staged).then_some(index)
    }
}

/// The name a transition's target sorts by: the task's, or the engine
/// command's (`continue`, `fail`, `noop`).
fn target_name(target: &Target) -> &str {
    match target {
        Target::Task(name) => name,
        Target::Command(command) => command.name(),
    }
}

/// Merges `right` into `left`: mappings merge key by key, recursively;
/// any other value replaces what was there.
pub(super) fn merge_deep(left: &mut Map<String, Value>, right: &Map<String, Value>) {
    for (key, value) in right {
        match (left.get_mut(key), value) {
            (Some(Value::Object(inner)), Value::Object(update)) => merge_deep(inner, update),
            _ => {
                left.insert(key.clone(), value.clone());
            }
        }
    }
}

mod finish;
mod items;
mod render;
mod rerun;
#[cfg(test)]
mod tests;
