//! The end of a workflow: what has not started is dropped, and the output
//! is rendered from the terminal context (Orquesta's
//! `get_workflow_terminal_context` and `render_workflow_output`).

use serde_json::{Map, Value};

use super::super::eval::{self, Scope};
use super::super::state::{TaskStatus, WorkflowStatus};
use super::{Conductor, merge_deep};

impl Conductor<'_> {
    /// The workflow completed: drop what has not started (unless staged
    /// next to `fail`) and render the output from the terminal context.
    pub(super) fn finish(&mut self, status: WorkflowStatus) {
        if self.state.status != WorkflowStatus::Running {
            return;
        }
        self.state.status = status;
        if let Some(last) = self.last {
            self.state.sequence[last].term = true;
        }
        for execution in &mut self.state.sequence {
            if matches!(execution.status, TaskStatus::Delayed | TaskStatus::Waiting)
                && !execution.run_on_fail
            {
                execution.status = TaskStatus::Skipped;
            }
        }
        // With no terminal task (none completed into the end), the
        // terminal context is empty, as in Orquesta: outputs that read it
        // do not render and the output stays null.
        let mut terms = self.state.sequence.iter().filter(|t| t.term);
        let mut ctx = match terms.next() {
            Some(first) => self.context(&first.ctxs),
            None => Map::new(),
        };
        for other in terms {
            let extra: Vec<usize> = other.ctxs.iter().copied().filter(|c| *c != 0).collect();
            merge_deep(&mut ctx, &self.context(&extra));
        }
        let mut output = Map::new();
        let mut errors = Vec::new();
        for binding in &self.workflow.output {
            let value = binding.value.clone().unwrap_or(Value::Null);
            match eval::value(&value, &Scope { ctx: Some(&ctx), ..self.base() }) {
                Ok(value) => {
                    ctx.insert(binding.name.clone(), value.clone());
                    output.insert(binding.name.clone(), value);
                }
                Err(e) => errors.push(format!("output `{}`: {e}", binding.name)),
            }
        }
        if !output.is_empty() {
            self.state.output = Some(Value::Object(output));
        }
        if !errors.is_empty() {
            for e in errors {
                self.error(None, e);
            }
            self.state.status = WorkflowStatus::Failed;
        }
    }
}
