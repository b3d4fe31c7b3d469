//! How a run's ending becomes its record: the retry policy applied to how
//! it ended (`settle`), then one commit (`conclude`): back on the queue for
//! another attempt, or finished together with the `core.execution_finished`
//! instance it causes and whatever that starts.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::executor::Shared;
use super::flows::Effects;
use super::ingest::Decided;
use crate::pack::RetryOn;
use crate::runtime::LogBuffer;
use crate::store::{
    Attempt, Execution, ExecutionLog, ExecutionStatus, Millis, WriteError, now_millis,
};

/// How a run ended, before policies are applied.
#[derive(Clone)]
pub(super) struct Ending {
    pub(super) result: Result<Value, Failure>,
    pub(super) logs: LogBuffer,
}

#[derive(Clone)]
pub(super) enum Failure {
    Failed(String),
    /// Failed in a way another attempt cannot mend: the pack was denied a
    /// capability or called its input invalid. Never retried.
    Refused(String),
    Timeout(String),
    Canceled,
}

impl Shared {
    /// Applies the retry policy to how a run ended and commits the outcome:
    /// back on the queue for another attempt, or finished together with the
    /// `core.execution_finished` instance and what its rules start.
    pub(super) async fn conclude(
        self: &Arc<Self>,
        execution: Execution,
        ending: Ending,
    ) -> Result<(), WriteError> {
        match self.settle(execution, ending) {
            Settled::Retry { execution, due } => {
                let (id, action) = (execution.id, execution.action.clone());
                self.ingest
                    .store()
                    .write_patiently(move |tx| {
                        tx.finish_running(&execution)?;
                        tx.enqueue_execution(execution.id, due)
                    })
                    .await?;
                self.announce(id, &action, ExecutionStatus::Scheduled);
                self.ingest.work_queued();
            }
            Settled::Final { execution, finished } => {
                let (id, action, status) =
                    (execution.id, execution.action.clone(), execution.status);
                let finished = Arc::new(*finished);
                let fx = {
                    let finished = finished.clone();
                    let flows = self.flows.clone();
                    // A full disk holds the ending back until there is room
                    // rather than leaving the record `running`.
                    self.ingest
                        .store()
                        .write_patiently(move |tx| {
                            tx.finish_running(&execution)?;
                            finished.commit_if_enforced(tx)?;
                            let mut fx = Effects::default();
                            flows.child_finished(tx, &execution, &mut fx)?;
                            Ok(fx)
                        })
                        .await?
                };
                self.announce(id, &action, status);
                self.ingest.announce_if_enforced(&finished);
                self.apply(fx);
            }
        }
        Ok(())
    }

    /// Applies the retry policy to how a run ended: the execution back on
    /// the queue for another attempt, or finished with the
    /// `core.execution_finished` instance it causes.
    pub(super) fn settle(&self, mut execution: Execution, ending: Ending) -> Settled {
        let now = now_millis();
        execution.updated_at = now;
        execution.logs = ending
            .logs
            .records
            .iter()
            .map(|r| ExecutionLog { level: r.level.to_string(), message: r.message.clone() })
            .collect();
        let retryable = !matches!(ending.result, Err(Failure::Refused(_)));
        let (status, error) = match ending.result {
            Ok(output) => {
                execution.result = Some(output);
                (ExecutionStatus::Succeeded, None)
            }
            // StackStorm's result for an action that failed:
            // `{"error": MESSAGE}` (its runners add a traceback; a sandboxed
            // action has none), which a workflow reads as `result()`.
            Err(Failure::Failed(message) | Failure::Refused(message)) => {
                execution.result = Some(serde_json::json!({ "error": message }));
                (ExecutionStatus::Failed, Some(message))
            }
            Err(Failure::Timeout(message)) => {
                execution.result = Some(serde_json::json!({ "error": message }));
                (ExecutionStatus::Timeout, Some(message))
            }
            Err(Failure::Canceled) => {
                (ExecutionStatus::Canceled, Some("canceled on request".into()))
            }
        };
        if let Some(delay) = self.retry_delay(&execution, status).filter(|_| retryable) {
            execution.retries.push(Attempt {
                attempt: execution.attempt,
                status,
                error,
                ended_at: now,
            });
            execution.attempt += 1;
            execution.status = ExecutionStatus::Scheduled;
            execution.result = None;
            execution.started_at = None;
            let due =
                now.saturating_add(Millis::try_from(delay.as_millis()).unwrap_or(Millis::MAX));
            return Settled::Retry { execution, due };
        }
        execution.status = status;
        execution.error = error;
        execution.finished_at = Some(now);
        let finished = self.ingest.execution_finished(&execution);
        Settled::Final { execution, finished: Box::new(finished) }
    }

    /// How long to wait before retrying, when the action's retry policy
    /// covers this ending and has retries left.
    fn retry_delay(&self, execution: &Execution, status: ExecutionStatus) -> Option<Duration> {
        let retry = self.ingest.action(&execution.action)?.policy.retry.clone()?;
        let on = match status {
            ExecutionStatus::Failed => RetryOn::Failure,
            ExecutionStatus::Timeout => RetryOn::Timeout,
            _ => return None,
        };
        let used =
            execution.retries.iter().filter(|a| a.status != ExecutionStatus::Abandoned).count();
        (retry.on.contains(&on) && used < retry.count as usize).then_some(retry.delay)
    }
}

/// A run's ending with the policies applied.
pub(super) enum Settled {
    /// Finished, with the execution-finished instance it causes.
    Final {
        /// The finished record.
        execution: Execution,
        /// `core.execution_finished`, decided (boxed: it holds a payload).
        finished: Box<Decided>,
    },
    /// Back on the queue for another attempt at `due`.
    Retry {
        /// The record, scheduled, attempt counted up.
        execution: Execution,
        /// When the next attempt is due.
        due: Millis,
    },
}
