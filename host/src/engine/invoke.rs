//! Running an execution's component: the action's limits, its cancel
//! signal, and its log lines, each published on the live output feed as it
//! is written and readable (`Engine::logs_so_far`) while the run lasts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;
use uuid::Uuid;

use super::actions::Runner;
use super::ending::{Ending, Failure};
use super::executor::Shared;
use super::ingest::OutputLine;
use crate::runtime::{
    ActionRequest, InvokeError, LogBuffer, LogRecord, LogTap, PackErrorKind, SharedLogs,
};
use crate::store::{Execution, now_millis};

impl Shared {
    /// Runs `execution`'s component until it ends or `cancel` is notified,
    /// and says how it ended with what it logged.
    pub(super) async fn invoke(&self, execution: &Execution, cancel: &Notify) -> Ending {
        let Some(spec) = self.ingest.action(&execution.action) else {
            let message = format!("action {} is not installed", execution.action);
            return Ending { result: Err(Failure::Failed(message)), logs: LogBuffer::default() };
        };
        let Runner::Wasm(component) = &spec.runner else {
            // Inline runs take only Wasm actions; the rest start from the queue.
            let message = format!("action {} is not run by a component", execution.action);
            return Ending { result: Err(Failure::Failed(message)), logs: LogBuffer::default() };
        };
        let request = ActionRequest {
            action: spec.name.clone(),
            params: execution.parameters.to_string(),
            execution_id: execution.id.to_string(),
            attempt: execution.attempt,
        };
        let limits = spec.limits();
        let logs = SharedLogs::with_tap(&limits, self.output_tap(execution));
        let _live = LiveLogs::register(&self.live_logs, execution.id, logs.clone());
        tokio::select! {
            invocation = component.run_action_logged(&request, &limits, logs) => {
                let result = match invocation.result {
                    Ok(output) => serde_json::from_str(&output)
                        .map_err(|e| Failure::Failed(format!("output is not JSON: {e}"))),
                    Err(error @ InvokeError::Timeout { .. }) => Err(Failure::Timeout(error.to_string())),
                    Err(InvokeError::Pack(error))
                        if matches!(error.kind, PackErrorKind::Denied | PackErrorKind::InvalidInput) =>
                    {
                        Err(Failure::Refused(InvokeError::Pack(error).to_string()))
                    }
                    // The action's own message, as StackStorm keeps an
                    // action's exception (`failed` is the status already).
                    Err(InvokeError::Pack(error)) if error.kind == PackErrorKind::Failed => {
                        Err(Failure::Failed(error.message))
                    }
                    Err(error) => Err(Failure::Failed(error.to_string())),
                };
                Ending { result, logs: invocation.logs }
            }
            () = cancel.notified() => Ending { result: Err(Failure::Canceled), logs: LogBuffer::default() },
        }
    }

    /// Publishes each line `execution`'s action logs on the live feed as
    /// it is written: on the guest thread, so it only sends on the bounded
    /// broadcast (which drops the oldest for a subscriber that lags) and
    /// never waits.
    fn output_tap(&self, execution: &Execution) -> LogTap {
        let feed = self.ingest.output_feed();
        let (id, action) = (execution.id, execution.action.clone());
        let task = execution.parent.as_ref().map(|p| (p.workflow, p.task.clone()));
        Arc::new(move |record: LogRecord| {
            if feed.receiver_count() == 0 {
                return;
            }
            let line = OutputLine {
                id: Uuid::now_v7(),
                execution: id,
                action: action.clone(),
                task: task.clone(),
                at: now_millis(),
                level: record.level,
                message: record.message,
            };
            let _ = feed.send(Arc::new(line));
        })
    }
}

/// An execution's entry in [`Shared::live_logs`] while its component
/// runs; removed when the run ends however it ends.
struct LiveLogs<'a> {
    live: &'a Mutex<HashMap<Uuid, SharedLogs>>,
    id: Uuid,
}

impl<'a> LiveLogs<'a> {
    fn register(live: &'a Mutex<HashMap<Uuid, SharedLogs>>, id: Uuid, logs: SharedLogs) -> Self {
        live.lock().unwrap_or_else(PoisonError::into_inner).insert(id, logs);
        Self { live, id }
    }
}

impl Drop for LiveLogs<'_> {
    fn drop(&mut self) {
        self.live.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.id);
    }
}
