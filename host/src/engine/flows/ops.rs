//! The operator's controls on a workflow run: pause and resume (cascading
//! to sub-workflows), cancel (cascading to every child), and re-run from
//! chosen tasks of a finished run. Each is one step: one transaction.

use serde_json::Value;
use uuid::Uuid;

use super::{Effects, Flows, StepFn};
use crate::engine::Engine;
use crate::store::{
    Execution, ExecutionStatus, InquiryStatus, ReadError, Tx, WorkflowRecord, WriteError,
    now_millis,
};
use crate::workflow::Command;

/// A workflow control was refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    /// No execution has that id.
    #[error("execution {0} not found")]
    NotFound(Uuid),
    /// The execution is not a workflow's.
    #[error("execution {0} is not a workflow")]
    NotWorkflow(Uuid),
    /// The workflow already ended.
    #[error("workflow {0} already finished ({1:?})")]
    Finished(Uuid, ExecutionStatus),
    /// Re-run asks for a finished workflow.
    #[error("workflow {0} is still {1:?}; only a finished workflow is re-run")]
    NotFinished(Uuid, ExecutionStatus),
    /// A task named for re-run cannot be re-run.
    #[error("{0}")]
    Rerun(String),
    /// The store could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The store refused or failed the commit.
    #[error(transparent)]
    Write(#[from] WriteError),
}

impl Engine {
    /// Pauses a running workflow and its sub-workflows: tasks already
    /// running finish, no new task starts until [`Engine::resume`].
    pub async fn pause(&self, id: Uuid) -> Result<ExecutionStatus, FlowError> {
        let step: StepFn<Result<ExecutionStatus, FlowError>> =
            Box::new(move |flows, tx, fx| flows.pause(tx, id, fx));
        self.shared.step(step).await?
    }

    /// Resumes a paused workflow and its sub-workflows: what the pause held
    /// back starts now.
    pub async fn resume(&self, id: Uuid) -> Result<ExecutionStatus, FlowError> {
        let step: StepFn<Result<ExecutionStatus, FlowError>> =
            Box::new(move |flows, tx, fx| flows.resume(tx, id, fx));
        self.shared.step(step).await?
    }

    /// Re-runs a finished workflow from `tasks` as a new execution: each
    /// task runs again from the context it ran with, and the run carries on
    /// from there. Returns the new execution's id.
    pub async fn rerun_tasks(&self, id: Uuid, tasks: Vec<String>) -> Result<Uuid, FlowError> {
        let step: StepFn<Result<Uuid, FlowError>> =
            Box::new(move |flows, tx, fx| flows.rerun(tx, id, &tasks, fx));
        self.shared.step(step).await?
    }

    /// Cancels a workflow run and everything it started, when `id` is one
    /// still going; `None` when it is not a workflow.
    pub(crate) async fn cancel_workflow(
        &self,
        id: Uuid,
    ) -> Result<Option<ExecutionStatus>, FlowError> {
        let step: StepFn<Result<Option<ExecutionStatus>, FlowError>> =
            Box::new(move |flows, tx, fx| match tx.workflow(id)? {
                None => Ok(Ok(None)),
                Some(record) => flows.cancel(tx, record, fx).map(|s| s.map(Some)),
            });
        self.shared.step(step).await?
    }
}

impl Flows {
    /// The record of a workflow still going, or why there is none.
    fn live(
        tx: &mut Tx<'_>,
        id: Uuid,
    ) -> Result<Result<(WorkflowRecord, Execution), FlowError>, WriteError> {
        let execution = match tx.execution(id) {
            Ok(execution) => execution,
            Err(WriteError::NotFound(_)) => return Ok(Err(FlowError::NotFound(id))),
            Err(error) => return Err(error),
        };
        let Some(record) = tx.workflow(id)? else { return Ok(Err(FlowError::NotWorkflow(id))) };
        if record.finished || execution.status.is_finished() {
            return Ok(Err(FlowError::Finished(id, execution.status)));
        }
        Ok(Ok((record, execution)))
    }

    fn pause(
        &self,
        tx: &mut Tx<'_>,
        id: Uuid,
        fx: &mut Effects,
    ) -> Result<Result<ExecutionStatus, FlowError>, WriteError> {
        let (mut record, mut execution) = match Self::live(tx, id)? {
            Ok(live) => live,
            Err(error) => return Ok(Err(error)),
        };
        let before = execution.status;
        self.set_paused(tx, &mut record, &mut execution, true, fx)?;
        for child in record.children.clone() {
            if tx.workflow(child)?.is_some_and(|r| !r.finished && !r.paused) {
                self.pause(tx, child, fx)?.ok();
            }
        }
        Ok(Ok(before))
    }

    pub(super) fn resume(
        &self,
        tx: &mut Tx<'_>,
        id: Uuid,
        fx: &mut Effects,
    ) -> Result<Result<ExecutionStatus, FlowError>, WriteError> {
        let (mut record, mut execution) = match Self::live(tx, id)? {
            Ok(live) => live,
            Err(error) => return Ok(Err(error)),
        };
        let before = execution.status;
        for child in record.children.clone() {
            if tx.workflow(child)?.is_some_and(|r| !r.finished && r.paused) {
                self.resume(tx, child, fx)?.ok();
            }
        }
        self.set_paused(tx, &mut record, &mut execution, false, fx)?;
        let held: Vec<Command> = std::mem::take(&mut record.held)
            .into_iter()
            .filter_map(|c| serde_json::from_value(c).ok())
            .collect();
        let definition = self.definition(&record)?;
        let mut conductor = self.conductor(&definition, &record)?;
        self.drive(tx, &mut record, &mut conductor, held, fx)?;
        self.settle(tx, record, &mut conductor, fx)?;
        Ok(Ok(before))
    }

    /// Marks a run and its execution paused or running again.
    pub(super) fn set_paused(
        &self,
        tx: &mut Tx<'_>,
        record: &mut WorkflowRecord,
        execution: &mut Execution,
        paused: bool,
        fx: &mut Effects,
    ) -> Result<(), WriteError> {
        record.paused = paused;
        tx.put_workflow(record)?;
        let status = if paused { ExecutionStatus::Paused } else { ExecutionStatus::Running };
        if execution.status != status {
            execution.status = status;
            execution.updated_at = now_millis();
            tx.update_execution(execution)?;
            fx.changed.push((execution.id, execution.action.clone(), status));
        }
        Ok(())
    }

    /// Cancels a run: queued children are canceled where they wait,
    /// running ones are signalled, sub-workflows and inquiries are canceled
    /// with it; then the run's execution ends canceled.
    fn cancel(
        &self,
        tx: &mut Tx<'_>,
        mut record: WorkflowRecord,
        fx: &mut Effects,
    ) -> Result<Result<ExecutionStatus, FlowError>, WriteError> {
        let execution = tx.execution(record.execution)?;
        if record.finished || execution.status.is_finished() {
            return Ok(Err(FlowError::Finished(record.execution, execution.status)));
        }
        record.finished = true;
        record.timers.clear();
        record.held.clear();
        tx.put_workflow(&record)?;
        for child in &record.children {
            let mut child = tx.execution(*child)?;
            match child.status {
                ExecutionStatus::Requested | ExecutionStatus::Scheduled => {
                    child.error = Some("canceled with its workflow".into());
                    self.end_execution(tx, child, ExecutionStatus::Canceled, fx)?;
                }
                ExecutionStatus::Pending => {
                    if let Some(mut inquiry) = tx.inquiry(child.id)? {
                        inquiry.status = InquiryStatus::Canceled;
                        tx.put_inquiry(&inquiry)?;
                    }
                    child.error = Some("canceled with its workflow".into());
                    self.end_execution(tx, child, ExecutionStatus::Canceled, fx)?;
                }
                ExecutionStatus::Running | ExecutionStatus::Paused => {
                    match tx.workflow(child.id)? {
                        Some(sub) => drop(self.cancel(tx, sub, fx)?),
                        None => fx.cancels.push(child.id),
                    }
                }
                _ => {}
            }
        }
        let before = execution.status;
        let mut execution = execution;
        execution.error = Some("canceled on request".into());
        self.end_execution(tx, execution, ExecutionStatus::Canceled, fx)?;
        Ok(Ok(before))
    }

    fn rerun(
        &self,
        tx: &mut Tx<'_>,
        id: Uuid,
        tasks: &[String],
        fx: &mut Effects,
    ) -> Result<Result<Uuid, FlowError>, WriteError> {
        let source = match tx.execution(id) {
            Ok(execution) => execution,
            Err(WriteError::NotFound(_)) => return Ok(Err(FlowError::NotFound(id))),
            Err(error) => return Err(error),
        };
        let Some(old) = tx.workflow(id)? else { return Ok(Err(FlowError::NotWorkflow(id))) };
        if !old.finished || !source.status.is_finished() {
            return Ok(Err(FlowError::NotFinished(id, source.status)));
        }
        let definition = self.definition(&old)?;
        let mut conductor = self.conductor(&definition, &old)?;
        let commands = match conductor.rerun(tasks) {
            Ok(commands) => commands,
            Err(error) => return Ok(Err(FlowError::Rerun(error.to_string()))),
        };
        let mut execution = Execution::new(source.action.clone(), source.parameters.clone());
        execution.status = ExecutionStatus::Running;
        execution.started_at = Some(execution.created_at);
        execution.result = None::<Value>;
        tx.insert_execution(&execution, false)?;
        tx.mark_running(execution.id)?;
        fx.changed.push((execution.id, execution.action.clone(), ExecutionStatus::Running));
        let mut record = WorkflowRecord {
            execution: execution.id,
            children: Vec::new(),
            timers: Vec::new(),
            paused: false,
            held: Vec::new(),
            finished: false,
            ..old
        };
        self.drive(tx, &mut record, &mut conductor, commands, fx)?;
        self.settle(tx, record, &mut conductor, fx)?;
        Ok(Ok(execution.id))
    }
}
