//! What a running workflow is, as data: task executions, their statuses,
//! item counters and retries, the contexts and routes, and the commands the
//! conductor hands the engine. Serializable, so the engine persists
//! [`WorkflowState`] after every step; each with-items item is an
//! [`ItemState`] row of its own under an [`ItemKey`], kept apart so that a
//! step that ends one item rewrites that item, not all of them.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A task on a route: route 0 is the workflow's main line; each arrival at
/// a split task opens a new route.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TaskId {
    pub name: String,
    pub route: usize,
}

impl TaskId {
    pub fn new(name: &str, route: usize) -> TaskId {
        TaskId { name: name.to_owned(), route }
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.route == 0 {
            f.write_str(&self.name)
        } else {
            write!(f, "{}@{}", self.name, self.route)
        }
    }
}

/// What the conductor asks the engine to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Run `action` with `input`; report with `on_action_finished(task,
    /// item, ..)`. `item` is the item index of a with-items task; `retry`
    /// counts the task's retries before this run (0 for its first run).
    RunAction {
        task: TaskId,
        action: String,
        input: Value,
        item: Option<usize>,
        #[serde(default)]
        retry: u64,
    },
    /// Call `on_timer(task)` after `seconds` (a task's `delay` or a retry's).
    Wait { task: TaskId, seconds: f64 },
}

/// How an action ended, with its result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    Succeeded(Value),
    Failed(Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkflowStatus {
    Running,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConductorError {
    #[error("unknown input: {}", .0.join(", "))]
    UnknownInput(Vec<String>),
    #[error("{0}")]
    Expression(String),
    #[error("task `{0}` has no action running")]
    NotRunning(String),
    #[error("task `{0}` has no item {1}")]
    NoSuchItem(String, usize),
    #[error("task `{0}`: {1} item row(s) this event reads were not handed in")]
    ItemsNotLoaded(String, usize),
    #[error("the workflow is still running; only a finished workflow is re-run")]
    StillRunning,
    #[error("task `{0}` did not run to an end in this workflow, so it cannot be re-run")]
    NotRerunnable(String),
    #[error(
        "task `{0}` failed the workflow; re-run it too, or the re-run would end as if it had passed"
    )]
    FailedLeftOut(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    /// A join waiting for its inbound tasks.
    Waiting,
    /// Ready, not yet dispatched (only between steps of one event).
    Staged,
    /// Waiting for its delay (or its retry delay) to pass.
    Delayed,
    Running,
    Succeeded,
    Failed,
    /// Never ran: the workflow failed first.
    Skipped,
}

impl TaskStatus {
    pub(super) fn active(self) -> bool {
        matches!(self, TaskStatus::Staged | TaskStatus::Delayed | TaskStatus::Running)
    }

    /// The status Orquesta records for the task, as `task_status()` gives
    /// it: a task staged or waiting on a join has no record yet (`null`).
    pub(super) fn name(self) -> &'static str {
        match self {
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::Failed => "failed",
            TaskStatus::Running => "running",
            TaskStatus::Delayed => "delayed",
            TaskStatus::Waiting | TaskStatus::Staged | TaskStatus::Skipped => "null",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
}

impl ItemStatus {
    /// Whether the item's action has ended.
    pub fn ended(self) -> bool {
        matches!(self, ItemStatus::Succeeded | ItemStatus::Failed)
    }
}

/// One item of a with-items task execution: its row. Rendered with the
/// task (as Orquesta renders every item up front), written again only when
/// its action ends. Its status stays `Pending` while it runs: whether it
/// started is the task's cursor ([`ItemCounts::next`]), so starting an item
/// writes nothing but the counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemState {
    pub status: ItemStatus,
    pub action: String,
    pub input: Value,
    pub result: Value,
}

/// Where an item's row is: the task execution's index in
/// [`WorkflowState::sequence`], and the item's index in its list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ItemKey {
    pub task: usize,
    pub item: usize,
}

/// A with-items task execution's items as counters: what the conductor's
/// state keeps of them, small whatever the number of items. Items start in
/// order, so those below `next` have started and the rest are pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemCounts {
    /// The items the list rendered to.
    pub total: usize,
    /// The first item not yet started.
    pub next: usize,
    /// Started and not yet ended.
    pub running: usize,
    /// Ended failed.
    pub failed: usize,
}

/// The retry policy of one task execution, its expressions evaluated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryState {
    pub when: Option<String>,
    pub count: u64,
    pub delay: f64,
    pub tally: u64,
}

/// One execution of a task (or an engine command) on a route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskExecution {
    pub id: TaskId,
    /// Indexes into [`WorkflowState::contexts`], merged in order.
    pub ctxs: Vec<usize>,
    pub status: TaskStatus,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub result: Value,
    /// Inbound tasks whose transitions arrived (joins).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub arrived: BTreeSet<String>,
    /// A with-items execution's items, as counters; the items themselves
    /// are rows of their own ([`ItemState`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_counts: Option<ItemCounts>,
    /// Every item inline, as states stored before items had rows of their
    /// own kept them: read from such a state only, and moved into rows
    /// when the conductor resumes it. Never written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<ItemState>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryState>,
    /// Staged next to a `fail`: runs although the workflow failed.
    #[serde(default)]
    pub run_on_fail: bool,
    /// Part of the terminal context the output is rendered from.
    #[serde(default)]
    pub term: bool,
    /// An engine command (`continue`, `noop`, `fail`) rather than a task.
    #[serde(default)]
    pub command: bool,
}

/// Everything needed to resume a workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowState {
    pub status: WorkflowStatus,
    pub contexts: Vec<Map<String, Value>>,
    /// Each route as the transitions (`task.next[i]`) that opened it.
    pub routes: Vec<Vec<String>>,
    /// Task executions in the order they were staged.
    pub sequence: Vec<TaskExecution>,
    pub errors: Vec<Value>,
    pub output: Option<Value>,
}
