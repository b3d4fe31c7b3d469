//! Workflows: the Orquesta DSL (`version: 1.0`) read, checked, shown as a
//! graph and run. Pure: text and events in, a model, diagnostics and
//! commands out; the engine does the IO and persists [`WorkflowState`].
//!
//! `model.rs` reads the YAML into tasks and transitions, `lines.rs` finds
//! each field's line, `expr.rs` checks Jinja and translates YAQL,
//! `validate.rs` holds the semantic checks and `graph.rs` the task graph
//! and its text rendering (`squall workflow inspect`). `conductor.rs` runs
//! a workflow as a state machine (`state.rs` is its serializable state,
//! `eval.rs` evaluates expressions with Orquesta's functions).

mod conductor;
mod eval;
mod expr;
mod graph;
mod inline;
mod lines;
mod model;
mod paths;
mod state;
mod validate;
mod yaql;

use std::fmt;

pub use conductor::Conductor;
pub use expr::{FUNCTIONS, has_expression};

/// The problems `squall workflow validate` finds in one field's YAQL
/// (syntax, unknown functions); none for text without `<% %>`.
pub fn check_yaql(text: &str) -> Vec<String> {
    yaql::check(text).0
}
pub use graph::{Edge, TaskGraph, render};
pub use model::{
    Binding, Count, EngineCommand, Join, Retry, Target, Task, Transition, WithItems, Workflow,
};
pub use state::{
    Command, ConductorError, ItemCounts, ItemKey, ItemState, ItemStatus, Outcome, RetryState,
    TaskExecution, TaskId, TaskStatus, WorkflowState, WorkflowStatus,
};
pub use validate::{Findings, validate};

/// One problem in a workflow file: `file:line: path: message`, where the
/// path names the field (`tasks.notify.next[0].do`). Line 0 means the
/// document as a whole.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    pub line: usize,
    pub path: String,
    pub message: String,
    pub file: String,
}

impl Diagnostic {
    pub(crate) fn new(
        file: &str,
        line: usize,
        path: &str,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic { file: file.to_owned(), line, path: path.to_owned(), message: message.into() }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// A workflow that did not pass: every problem, sorted by line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.diagnostics.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct InvalidWorkflow {
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads and validates a workflow file: the workflow, or every structural
/// and semantic problem found, sorted by line.
pub fn load(text: &str, file: &str) -> Result<Workflow, InvalidWorkflow> {
    let (mut workflow, mut diagnostics) =
        Workflow::read(text, file).map_err(|d| InvalidWorkflow { diagnostics: vec![d] })?;
    let findings = validate(&workflow);
    diagnostics.extend(findings.errors);
    if diagnostics.is_empty() {
        workflow.warnings = findings.warnings;
        return Ok(workflow);
    }
    diagnostics.sort();
    diagnostics.dedup();
    Err(InvalidWorkflow { diagnostics })
}
