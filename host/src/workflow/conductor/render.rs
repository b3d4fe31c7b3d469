//! Rendering a staged task and starting it: its retry policy, delay,
//! action and input (per item for with-items), as Orquesta's
//! `get_next_tasks` renders every ready task before any of them starts.

use serde_json::{Map, Value};

use super::super::eval::{self, Scope};
use super::super::model::{EngineCommand, Target, Task};
use super::super::state::{
    Command, ItemCounts, ItemKey, ItemState, ItemStatus, RetryState, TaskStatus, WorkflowStatus,
};
use super::{Commands, Conductor};

/// A ready task's fields, rendered.
pub(super) struct Rendered {
    retry: Option<RetryState>,
    delay: f64,
    work: Work,
}

/// What a rendered task runs.
enum Work {
    /// A task without action: it succeeds at once.
    Nothing,
    Action {
        action: String,
        input: Value,
    },
    Items {
        states: Vec<ItemState>,
        concurrency: Option<u64>,
    },
}

impl Conductor<'_> {
    /// Renders a staged task's retry policy, delay, action and input.
    pub(super) fn render(&self, index: usize) -> Result<Rendered, String> {
        let id = &self.state.sequence[index].id;
        let task = self.task(&id.name);
        let ctx = self.context(&self.state.sequence[index].ctxs);
        let retry = match &task.retry {
            Some(retry) => {
                let count = self.count(&retry.count, &ctx).map_err(|e| format!("retry: {e}"))?;
                let delay = match &retry.delay {
                    Some(delay) => self.count(delay, &ctx).map_err(|e| format!("retry: {e}"))?,
                    None => 0.0,
                };
                Some(RetryState { when: retry.when.clone(), count: count as u64, delay, tally: 0 })
            }
            // `do: retry`: Orquesta's composer turns it into a retry policy.
            None => task
                .next
                .iter()
                .find(|t| t.targets.contains(&Target::Command(EngineCommand::Retry)))
                .map(|transition| RetryState {
                    when: Some(
                        transition.when.clone().unwrap_or_else(|| "<% completed() %>".into()),
                    ),
                    count: 3,
                    delay: 0.0,
                    tally: 0,
                }),
        };
        let delay = match &task.delay {
            Some(delay) => self.count(delay, &ctx).map_err(|e| format!("delay: {e}"))?,
            None => 0.0,
        };
        let work = self.work(index, task, &ctx)?;
        Ok(Rendered { retry, delay, work })
    }

    /// Starts a rendered task: its delay first, then its action(s).
    pub(super) fn dispatch(&mut self, index: usize, rendered: Rendered, commands: &mut Commands) {
        let id = self.state.sequence[index].id.clone();
        self.state.sequence[index].retry = rendered.retry;
        if rendered.delay > 0.0 {
            // Rendered again when the delay has passed.
            self.state.sequence[index].status = TaskStatus::Delayed;
            commands.push(Command::Wait { task: id, seconds: rendered.delay });
        } else {
            self.begin(index, rendered.work, commands);
        }
    }

    /// Renders a task again (after its delay, or to retry it) and starts
    /// it; a field that no longer renders fails the workflow.
    pub(super) fn rerender_and_start(&mut self, index: usize, commands: &mut Commands) {
        let id = self.state.sequence[index].id.clone();
        let task = self.task(&id.name);
        let ctx = self.context(&self.state.sequence[index].ctxs);
        match self.work(index, task, &ctx) {
            Ok(work) => self.begin(index, work, commands),
            Err(message) => {
                self.error(Some(&id), message);
                self.state.sequence[index].status = TaskStatus::Failed;
                self.last = None;
                self.finish(WorkflowStatus::Failed);
            }
        }
    }

    fn begin(&mut self, index: usize, work: Work, commands: &mut Commands) {
        let id = self.state.sequence[index].id.clone();
        self.state.sequence[index].status = TaskStatus::Running;
        match work {
            Work::Nothing => {
                let mut none = Vec::new();
                self.complete(index, TaskStatus::Succeeded, Value::Null, &mut none);
                commands.extend(none);
            }
            Work::Action { action, input } => {
                let retry = self.state.sequence[index].retry.as_ref().map_or(0, |r| r.tally);
                commands.push(Command::RunAction { task: id, action, input, item: None, retry });
            }
            Work::Items { states, .. } if states.is_empty() => {
                self.drop_earlier_items(index, 0);
                let mut none = Vec::new();
                self.complete(index, TaskStatus::Succeeded, Value::Array(Vec::new()), &mut none);
                commands.extend(none);
            }
            Work::Items { states, concurrency } => {
                let total = states.len();
                self.drop_earlier_items(index, total);
                for (item, row) in states.into_iter().enumerate() {
                    // A retry's rows replace the ones before under the same keys.
                    let key = ItemKey { task: index, item };
                    self.rows.insert(key, row);
                    self.written.insert(key);
                }
                let execution = &mut self.state.sequence[index];
                execution.item_counts = Some(ItemCounts { total, next: 0, running: 0, failed: 0 });
                execution.concurrency = concurrency;
                self.dispatch_items(index, commands);
            }
        }
    }

    /// The task's action and input, or one per item for with-items.
    fn work(&self, index: usize, task: &Task, ctx: &Map<String, Value>) -> Result<Work, String> {
        let id = &self.state.sequence[index].id;
        let tasks = self.tasks(id.route);
        let Some(action) = &task.action else { return Ok(Work::Nothing) };
        let base =
            Scope { ctx: Some(ctx), task: Some(&id.name), tasks: Some(&tasks), ..self.base() };
        let Some(with) = &task.with else {
            let (action, input) = action_and_input(task, action, &base)?;
            return Ok(Work::Action { action, input });
        };
        let items = match eval::text(&with.items, &base)? {
            Value::Array(items) => items,
            other => return Err(format!("with items `{}` is {other}, not a list", with.items)),
        };
        let concurrency = match &with.concurrency {
            Some(c) => {
                Some((self.count(c, ctx).map_err(|e| format!("concurrency: {e}"))? as u64).max(1))
            }
            None => None,
        };
        let mut states = Vec::with_capacity(items.len());
        for item in items {
            let item = match (&with.keys[..], item) {
                ([], item) => item,
                (keys, Value::Array(values)) => {
                    Value::Object(keys.iter().cloned().zip(values).collect::<Map<String, Value>>())
                }
                ([key], item) => Value::Object([(key.clone(), item)].into_iter().collect()),
                (_, item) => item,
            };
            let scope = Scope { item: Some(&item), ..base.clone() };
            let (action, input) = action_and_input(task, action, &scope)?;
            states.push(ItemState {
                status: ItemStatus::Pending,
                action,
                input,
                result: Value::Null,
            });
        }
        Ok(Work::Items { states, concurrency })
    }
}

/// The task's action reference and input rendered in `scope`. The input
/// is the task's mapping, or the mapping its `input:` expression yields.
fn action_and_input(
    task: &Task,
    action: &str,
    scope: &Scope<'_>,
) -> Result<(String, Value), String> {
    let action = match eval::text(action, scope)? {
        Value::String(action) => action,
        other => return Err(format!("action `{action}` is {other}, not an action reference")),
    };
    let input = match &task.input_expression {
        Some(expression) => match eval::text(expression, scope)? {
            Value::Object(map) => Value::Object(map),
            Value::Null => Value::Object(Map::new()),
            other => return Err(format!("input `{expression}` is {other}, not a mapping")),
        },
        None => {
            let input: Map<String, Value> = task.input.iter().cloned().collect();
            eval::value(&Value::Object(input), scope)?
        }
    };
    Ok((action, input))
}
