//! Re-running a finished workflow from chosen tasks (Orquesta's rerun):
//! each chosen task runs again from the context it ran with, and the
//! workflow carries on from there as if it had never ended.

use super::super::state::{ConductorError, TaskStatus, WorkflowStatus};
use super::{Commands, Conductor};

impl Conductor<'_> {
    /// Re-stages `tasks` (each one's last execution, with the same context
    /// and route) of a finished workflow and dispatches them; no tasks
    /// means every task whose failure ended it. Errors name a task that
    /// never ran, a failed task left out, or a workflow still running.
    pub fn rerun(&mut self, tasks: &[String]) -> Result<Commands, ConductorError> {
        if self.state.status == WorkflowStatus::Running {
            return Err(ConductorError::StillRunning);
        }
        // Tasks whose failure ended the workflow: re-run by default, and
        // never left out, or the re-run would end as if they had passed.
        let failed: Vec<String> = self
            .state
            .sequence
            .iter()
            .filter(|t| t.term && !t.command && t.status == TaskStatus::Failed)
            .map(|t| t.id.name.clone())
            .collect();
        let tasks: Vec<String> = if tasks.is_empty() { failed.clone() } else { tasks.to_vec() };
        let mut chosen = Vec::new();
        for name in &tasks {
            let index = self
                .state
                .sequence
                .iter()
                .rposition(|t| &t.id.name == name && !t.command)
                .filter(|i| {
                    matches!(
                        self.state.sequence[*i].status,
                        TaskStatus::Succeeded | TaskStatus::Failed
                    )
                })
                .ok_or_else(|| ConductorError::NotRerunnable(name.clone()))?;
            chosen.push(index);
        }
        if let Some(left_out) = failed.iter().find(|f| !tasks.contains(f)) {
            return Err(ConductorError::FailedLeftOut(left_out.clone()));
        }
        self.state.status = WorkflowStatus::Running;
        self.state.output = None;
        self.state.errors.clear();
        // A failure ended the workflow there; the re-run decides anew what
        // is terminal.
        for execution in &mut self.state.sequence {
            if execution.status == TaskStatus::Failed {
                execution.term = false;
            }
        }
        for index in chosen {
            let (id, ctxs) = {
                let execution = &mut self.state.sequence[index];
                execution.term = false;
                (execution.id.clone(), execution.ctxs.clone())
            };
            self.push(id, ctxs, TaskStatus::Staged);
        }
        let mut commands = Vec::new();
        self.advance(&mut commands);
        Ok(commands)
    }
}
