//! One workflow step inside a store transaction: the conductor is rebuilt
//! from the stored state, told what happened, and its commands carried
//! out (children inserted on the queue, delays recorded as timers, or
//! held while paused); the new state is written back in the same
//! transaction as the child execution that caused the step. A with-items
//! item's row is read when its action ends and written with its result;
//! the others stay where they are (every row is read once, when the task
//! completes), so a step costs the same at any number of items. A workflow
//! that completes writes its own ending, which is in turn a step of its
//! parent, so a chain of sub-workflows settles in one commit.

use serde::Deserialize as _;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{Effects, Flows};
use crate::engine::actions::{Runner, WorkflowDefinition};
use crate::store::{
    Execution, ExecutionStatus, ParentTask, Tx, WorkflowRecord, WorkflowTimer, WriteError,
    now_millis,
};
use crate::workflow::{
    Command, Conductor, ConductorError, ItemKey, ItemState, Outcome, TaskId, WorkflowState,
    WorkflowStatus,
};

impl Flows {
    /// Starts the workflow run of `execution`, which a worker marked
    /// running. A run that already has a record (a start repeated after a
    /// restart) is left alone.
    pub(crate) fn start(
        &self,
        tx: &mut Tx<'_>,
        execution: &Execution,
        definition: &WorkflowDefinition,
        fx: &mut Effects,
    ) -> Result<(), WriteError> {
        if tx.workflow(execution.id)?.is_some() {
            return Ok(());
        }
        let parent = self.parent_standing(tx, execution)?;
        if parent == ParentStanding::Ended {
            let mut canceled = execution.clone();
            canceled.error = Some("canceled with its workflow".into());
            return self.end_execution(tx, canceled, ExecutionStatus::Canceled, fx);
        }
        let input = execution.parameters.as_object().cloned().unwrap_or_default();
        let app = self.st2_context(execution);
        let started =
            Conductor::start_in(&definition.model, app, input, Some(self.ingest.datastore()));
        let (mut conductor, commands) = match started {
            Ok(started) => started,
            Err(error) => {
                let mut failed = execution.clone();
                failed.error = Some(format!("{}: {error}", definition.file));
                return self.end_execution(tx, failed, ExecutionStatus::Failed, fx);
            }
        };
        let mut record = WorkflowRecord {
            execution: execution.id,
            action: execution.action.clone(),
            file: definition.file.clone(),
            definition: definition.text.clone(),
            digest: definition.digest.clone(),
            state: Value::Null,
            children: Vec::new(),
            timers: Vec::new(),
            paused: false,
            held: Vec::new(),
            finished: false,
        };
        // A sub-workflow that waited on the queue while its parent was
        // paused starts paused, holding its first tasks: the pause reached
        // only the runs that had started, and the parent's resume resumes it.
        if parent == ParentStanding::Paused {
            let mut paused = execution.clone();
            self.set_paused(tx, &mut record, &mut paused, true, fx)?;
        }
        self.drive(tx, &mut record, &mut conductor, commands, fx)?;
        self.settle(tx, record, &mut conductor, fx)
    }

    /// What StackStorm's Orquesta runner puts in a workflow's context
    /// before its input: `st2` (the execution, its user, pack and action,
    /// the API's address) and `parent` (the execution's own context).
    fn st2_context(&self, execution: &Execution) -> Map<String, Value> {
        let pack = crate::limits::ref_pack(&execution.action);
        let mut st2 = Map::new();
        st2.insert("action_execution_id".into(), execution.id.to_string().into());
        st2.insert("workflow_execution_id".into(), execution.id.to_string().into());
        st2.insert("api_url".into(), self.api_url.clone().into());
        st2.insert("user".into(), execution.user.clone().into());
        st2.insert("pack".into(), pack.into());
        st2.insert("action".into(), execution.action.clone().into());
        st2.insert("runner".into(), "orquesta".into());
        let mut parent = Map::new();
        parent.insert("user".into(), execution.user.clone().into());
        parent.insert("pack".into(), pack.into());
        if let Some(chat) = execution.chat.as_deref() {
            st2.insert("api_user".into(), chat.chat_user.clone().into());
            st2.insert("source_channel".into(), chat.source_channel.clone().into());
            parent.insert("api_user".into(), chat.chat_user.clone().into());
            parent.insert("source_channel".into(), chat.source_channel.clone().into());
        }
        if let Some(task) = &execution.parent {
            parent.insert("parent".into(), json!({"execution_id": task.workflow.to_string()}));
            parent.insert(
                "orquesta".into(),
                json!({"task_name": task.task, "route": task.route, "item_id": task.item}),
            );
        }
        let mut app = Map::new();
        app.insert("st2".into(), Value::Object(st2));
        app.insert("parent".into(), Value::Object(parent));
        app
    }

    /// Whether `execution` belongs to a workflow that has ended (canceled
    /// while the execution was being taken off the queue).
    pub(super) fn parent_ended(
        &self,
        tx: &mut Tx<'_>,
        execution: &Execution,
    ) -> Result<bool, WriteError> {
        Ok(self.parent_standing(tx, execution)? == ParentStanding::Ended)
    }

    /// Where the workflow `execution` belongs to stands, from one read of
    /// its record; `Going` for an execution of no workflow.
    fn parent_standing(
        &self,
        tx: &mut Tx<'_>,
        execution: &Execution,
    ) -> Result<ParentStanding, WriteError> {
        let Some(parent) = &execution.parent else { return Ok(ParentStanding::Going) };
        Ok(match tx.workflow(parent.workflow)? {
            None => ParentStanding::Ended,
            Some(record) if record.finished => ParentStanding::Ended,
            Some(record) if record.paused => ParentStanding::Paused,
            Some(_) => ParentStanding::Going,
        })
    }

    /// A child execution of a workflow ended (its record already written):
    /// the workflow takes the next step. Reports to a finished workflow, or
    /// of a task that is no longer running (a duplicate), change nothing.
    pub(crate) fn child_finished(
        &self,
        tx: &mut Tx<'_>,
        child: &Execution,
        fx: &mut Effects,
    ) -> Result<(), WriteError> {
        let Some(parent) = &child.parent else { return Ok(()) };
        let Some(mut record) = tx.workflow(parent.workflow)? else { return Ok(()) };
        if record.finished {
            return Ok(());
        }
        record.children.retain(|c| *c != child.id);
        let definition = self.definition(&record)?;
        let mut conductor = self.conductor(&definition, &record)?;
        let task = TaskId::new(&parent.task, parent.route);
        let reported =
            self.report(tx, record.execution, &mut conductor, &task, parent.item, outcome(child))?;
        let commands = match reported {
            Ok(commands) => commands,
            Err(error) => {
                tracing::warn!(workflow = %record.execution, child = %child.id, %error, "report of a task not running; ignored");
                Vec::new()
            }
        };
        self.drive(tx, &mut record, &mut conductor, commands, fx)?;
        self.settle(tx, record, &mut conductor, fx)
    }

    /// A task's delay passed.
    pub(crate) fn timer(
        &self,
        tx: &mut Tx<'_>,
        workflow: Uuid,
        task: &TaskId,
        fx: &mut Effects,
    ) -> Result<(), WriteError> {
        let Some(mut record) = tx.workflow(workflow)? else { return Ok(()) };
        let before = record.timers.len();
        record.timers.retain(|t| !(t.task == task.name && t.route == task.route));
        if record.finished || record.timers.len() == before {
            return Ok(());
        }
        let definition = self.definition(&record)?;
        let mut conductor = self.conductor(&definition, &record)?;
        let commands = conductor.on_timer(task).unwrap_or_default();
        self.drive(tx, &mut record, &mut conductor, commands, fx)?;
        self.settle(tx, record, &mut conductor, fx)
    }

    /// Carries out the conductor's commands: each action becomes a child
    /// execution on the queue (one that cannot start fails its task at
    /// once), each delay a timer. While paused, commands are held.
    pub(super) fn drive(
        &self,
        tx: &mut Tx<'_>,
        record: &mut WorkflowRecord,
        conductor: &mut Conductor<'_>,
        commands: Vec<Command>,
        fx: &mut Effects,
    ) -> Result<(), WriteError> {
        let mut queue: std::collections::VecDeque<Command> = commands.into();
        while let Some(command) = queue.pop_front() {
            if record.paused {
                record.held.push(serde_json::to_value(&command).unwrap_or_default());
                continue;
            }
            match command {
                Command::Wait { task, seconds } => {
                    let due = now_millis().saturating_add((seconds * 1000.0).ceil() as i64);
                    record.timers.push(WorkflowTimer {
                        task: task.name.clone(),
                        route: task.route,
                        due,
                    });
                    fx.timers.push((record.execution, task, due));
                }
                Command::RunAction { task, action, input, item, retry } => {
                    let parent = ParentTask {
                        workflow: record.execution,
                        task: task.name.clone(),
                        route: task.route,
                        item,
                        retry: u32::try_from(retry).unwrap_or(u32::MAX),
                    };
                    let mut child = self.child(&action, input, parent);
                    if child.status == ExecutionStatus::Requested
                        && let Some(permit) = self.claim(&child)
                    {
                        child.status = ExecutionStatus::Running;
                        child.started_at = Some(child.created_at);
                        tx.insert_execution(&child, false)?;
                        tx.mark_running(child.id)?;
                        record.children.push(child.id);
                        fx.started.push((child, permit));
                    } else if child.status == ExecutionStatus::Requested {
                        tx.insert_execution(&child, true)?;
                        record.children.push(child.id);
                        fx.changed.push((child.id, child.action, ExecutionStatus::Requested));
                        fx.queued = true;
                    } else {
                        // Kept, so the operator sees why the task failed.
                        tx.insert_execution(&child, false)?;
                        fx.changed.push((child.id, child.action.clone(), child.status));
                        let reported = self.report(
                            tx,
                            record.execution,
                            conductor,
                            &task,
                            item,
                            outcome(&child),
                        )?;
                        queue.extend(reported.unwrap_or_default());
                    }
                }
            }
        }
        Ok(())
    }

    /// Tells the conductor that `task` (its `item`) ended, after handing it
    /// the item rows that event reads from the store. A row it asks for
    /// and the store lacks is corruption: the run's record counts it.
    fn report(
        &self,
        tx: &mut Tx<'_>,
        workflow: Uuid,
        conductor: &mut Conductor<'_>,
        task: &TaskId,
        item: Option<usize>,
        outcome: Outcome,
    ) -> Result<Result<Vec<Command>, ConductorError>, WriteError> {
        let failed = matches!(outcome, Outcome::Failed(_));
        let wanted = conductor.items_wanted(task, item, failed);
        if !wanted.is_empty() {
            let keys: Vec<(usize, usize)> = wanted.iter().map(|k| (k.task, k.item)).collect();
            let rows: Vec<Option<ItemState>> = tx.workflow_items(workflow, &keys)?;
            let mut loaded = Vec::with_capacity(rows.len());
            for (key, row) in wanted.into_iter().zip(rows) {
                let row = row.ok_or_else(|| {
                    WriteError::Corrupt(format!(
                        "workflow {workflow}: task `{task}` has no stored item {}",
                        key.item
                    ))
                })?;
                loaded.push((key, row));
            }
            conductor.load_items(loaded);
        }
        Ok(conductor.on_action_finished(task, item, outcome))
    }

    /// A worker slot for a child that can start at once: a Wasm action
    /// without a concurrency policy (the rest go through the queue, where
    /// the dispatcher applies policies and workflows start).
    fn claim(&self, child: &Execution) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let spec = self.ingest.action(&child.action)?;
        let direct = spec.policy.concurrency.is_none() && matches!(spec.runner, Runner::Wasm(_));
        direct.then(|| self.slots.clone().try_acquire_owned().ok()).flatten()
    }

    /// A child execution of `action`: requested, or failed already when the
    /// action is unknown or the input does not fit it. A refused child keeps
    /// the input the task rendered (unless it is over the parameters cap),
    /// so the operator sees what was refused.
    fn child(&self, action: &str, input: Value, parent: ParentTask) -> Execution {
        let limits = self.ingest.store().limits();
        let rendered = input.clone();
        let prepared = match (self.ingest.action(action), input) {
            (None, _) => Err(format!("action {action} is not installed")),
            (Some(_), input) if !input.is_object() && !input.is_null() => {
                Err(format!("task `{}`: input must be a mapping, not {input}", parent.task))
            }
            (Some(spec), input) => {
                let given: Map<String, Value> = input.as_object().cloned().unwrap_or_default();
                // Over the cap the task fails, saying so; the store would refuse it.
                spec.prepare_parameters(given).and_then(|p| limits.check_parameters(&p).map(|()| p))
            }
        };
        match prepared {
            Ok(parameters) => {
                let mut child = Execution::new(action, parameters);
                child.parent = Some(parent);
                child
            }
            Err(error) => {
                let kept =
                    if limits.check_parameters(&rendered).is_ok() { rendered } else { Value::Null };
                let mut child = Execution::new(action, kept);
                let now = now_millis();
                child.parent = Some(parent);
                child.status = ExecutionStatus::Failed;
                child.result = Some(json!({ "error": error }));
                child.error = Some(error);
                child.finished_at = Some(now);
                child
            }
        }
    }

    /// Writes the run's state back, with the item rows the step rendered or
    /// ended; a run that has completed and has nothing left in flight ends
    /// its execution (and steps its parent).
    pub(super) fn settle(
        &self,
        tx: &mut Tx<'_>,
        mut record: WorkflowRecord,
        conductor: &mut Conductor<'_>,
        fx: &mut Effects,
    ) -> Result<(), WriteError> {
        for stale in conductor.take_stale_items() {
            tx.delete_workflow_items_from(record.execution, stale)?;
        }
        for (ItemKey { task, item }, row) in conductor.take_item_writes() {
            tx.put_workflow_item(record.execution, (task, item), &row)?;
        }
        record.state = serde_json::to_value(conductor.state())
            .map_err(|e| WriteError::Invalid { field: "workflow", message: e.to_string() })?;
        let done = conductor.status() != WorkflowStatus::Running
            && conductor.in_flight() == 0
            && record.children.is_empty();
        if !done {
            return tx.put_workflow(&record);
        }
        record.finished = true;
        record.timers.clear();
        tx.put_workflow(&record)?;
        let mut execution = tx.execution(record.execution)?;
        if execution.status.is_finished() {
            return Ok(());
        }
        let state = conductor.state();
        let mut result = Map::new();
        result.insert("output".into(), state.output.clone().unwrap_or(Value::Null));
        if !state.errors.is_empty() {
            result.insert("errors".into(), Value::Array(state.errors.clone()));
        }
        execution.result = Some(Value::Object(result));
        let status = match conductor.status() {
            WorkflowStatus::Succeeded => ExecutionStatus::Succeeded,
            _ => {
                let first = state.errors.first().and_then(|e| e.get("message"));
                execution.error = Some(match first.and_then(Value::as_str) {
                    Some(message) => format!("workflow failed: {message}"),
                    None => "workflow failed".to_owned(),
                });
                ExecutionStatus::Failed
            }
        };
        self.end_execution(tx, execution, status, fx)
    }

    /// Ends a workflow's own execution (or an inquiry's) with `status`:
    /// writes it, commits the `core.execution_finished` instance a rule
    /// wants, and reports to the parent workflow.
    pub(super) fn end_execution(
        &self,
        tx: &mut Tx<'_>,
        mut execution: Execution,
        status: ExecutionStatus,
        fx: &mut Effects,
    ) -> Result<(), WriteError> {
        let now = now_millis();
        execution.status = status;
        execution.updated_at = now;
        execution.finished_at = Some(now);
        tx.finish_running(&execution)?;
        let finished = self.ingest.execution_finished(&execution);
        finished.commit_if_enforced(tx)?;
        fx.changed.push((execution.id, execution.action.clone(), status));
        fx.finished.push(finished);
        self.child_finished(tx, &execution, fx)
    }

    /// The parsed workflow of a run: from the cache, or parsed again from
    /// the pinned text (after a restart, or when the pack was upgraded
    /// since the run started).
    pub(super) fn definition(
        &self,
        record: &WorkflowRecord,
    ) -> Result<std::sync::Arc<WorkflowDefinition>, WriteError> {
        self.definitions.get(record)
    }
}

impl Flows {
    /// The conductor of a run, rebuilt from its record.
    pub(super) fn conductor<'w>(
        &self,
        definition: &'w WorkflowDefinition,
        record: &WorkflowRecord,
    ) -> Result<Conductor<'w>, WriteError> {
        let conductor = Conductor::resume(&definition.model, state_of(record)?);
        Ok(conductor.with_datastore(self.ingest.datastore()))
    }
}

/// The conductor's state stored in a run's record.
pub(super) fn state_of(record: &WorkflowRecord) -> Result<WorkflowState, WriteError> {
    WorkflowState::deserialize(&record.state).map_err(|e| {
        WriteError::Corrupt(format!("workflow {}: stored state: {e}", record.execution))
    })
}

/// How a child's ending reads to its workflow (`result()`): its result;
/// for one that ended otherwise without a result (canceled, refused before
/// it ran), StackStorm's shape for a failure, `{"error": MESSAGE}`.
fn outcome(child: &Execution) -> Outcome {
    let result = child.result.clone().unwrap_or(Value::Null);
    match child.status {
        ExecutionStatus::Succeeded => Outcome::Succeeded(result),
        status => {
            let error = child.error.clone().unwrap_or_else(|| format!("{status:?}").to_lowercase());
            if result.is_null() {
                Outcome::Failed(json!({ "error": error }))
            } else {
                Outcome::Failed(result)
            }
        }
    }
}

/// Where an execution's workflow stands when the execution starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParentStanding {
    /// Running, or no workflow at all.
    Going,
    /// Paused (and not finished): the execution starts paused.
    Paused,
    /// Finished, or its record is gone (canceled while the execution was
    /// taken off the queue).
    Ended,
}
