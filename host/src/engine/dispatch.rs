//! The dispatcher: takes due executions off the durable queue, as many as
//! there are free worker slots, under the actions' concurrency policies,
//! and hands them to workers.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use super::actions::Actions;
use super::executor::Shared;
use crate::pack::OverLimit;
use crate::store::{Execution, ExecutionStatus, Millis, Tx, WriteError, now_millis};

/// What one dispatch round took off the queue.
struct Taken {
    started: Vec<Execution>,
    /// Over a concurrency threshold with `cancel`: marked running so a crash
    /// cannot lose them, and canceled right away.
    refused: Vec<Execution>,
    next_due: Option<Millis>,
}

/// Takes due executions off the queue, as many as there are free slots, and
/// hands them to workers; sleeps until more work is queued or comes due.
pub(super) async fn dispatch(shared: Arc<Shared>) {
    loop {
        let free = shared.slots.available_permits();
        if free == 0 {
            // Wait for a worker to finish.
            drop(shared.slots.clone().acquire_owned().await);
            continue;
        }
        let now = now_millis();
        let actions = shared.ingest.actions();
        let running =
            shared.running_by_action.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let taken =
            shared.ingest.store().write(move |tx| take(tx, now, free, &actions, running)).await;
        let taken = match taken {
            Ok(taken) => taken,
            Err(error) => {
                tracing::error!(%error, "cannot take executions off the queue; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let took = taken.started.len() + taken.refused.len();
        for (execution, refused) in taken
            .started
            .into_iter()
            .map(|e| (e, false))
            .chain(taken.refused.into_iter().map(|e| (e, true)))
        {
            // Emits may have claimed slots since they were counted: wait
            // for one rather than leave a running execution unrun.
            let Ok(permit) = shared.slots.clone().acquire_owned().await else { return };
            shared.announce(execution.id, &execution.action, ExecutionStatus::Running);
            shared.start(execution, permit, refused);
        }
        if took == free && took > 0 {
            continue;
        }
        let pause = match taken.next_due {
            Some(due) => {
                Duration::from_millis(u64::try_from(due - now_millis()).unwrap_or(0).max(1))
            }
            None => Duration::from_secs(3600),
        };
        tokio::select! {
            () = shared.ingest.work_signal().notified() => {}
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// One dispatch transaction: pops due executions and marks them running,
/// or holds them back per their action's concurrency policy.
fn take(
    tx: &mut Tx<'_>,
    now: Millis,
    limit: usize,
    actions: &Actions,
    mut running: HashMap<String, u32>,
) -> Result<Taken, WriteError> {
    let (ids, _) = tx.dequeue_executions(now, limit)?;
    let mut taken = Taken { started: Vec::new(), refused: Vec::new(), next_due: None };
    for id in ids {
        let mut execution = match tx.execution(id) {
            Ok(execution) => execution,
            // Removed by retention or unreadable: nothing left to run.
            Err(error @ (WriteError::NotFound(_) | WriteError::Corrupt(_))) => {
                tracing::error!(execution = %id, %error, "queued execution skipped");
                continue;
            }
            Err(error) => return Err(error),
        };
        if !matches!(execution.status, ExecutionStatus::Requested | ExecutionStatus::Scheduled) {
            continue; // canceled while it waited
        }
        let policy = actions.get(&execution.action).and_then(|a| a.policy.concurrency.clone());
        let count = running.entry(execution.action.clone()).or_default();
        let over = policy.as_ref().filter(|c| *count >= c.threshold);
        execution.updated_at = now;
        match over.map(|c| c.over_limit) {
            Some(OverLimit::Delay(delay)) => {
                execution.status = ExecutionStatus::Scheduled;
                tx.update_execution(&execution)?;
                let due =
                    now.saturating_add(Millis::try_from(delay.as_millis()).unwrap_or(Millis::MAX));
                tx.enqueue_execution(id, due)?;
            }
            Some(OverLimit::Cancel) => {
                execution.status = ExecutionStatus::Running;
                execution.started_at = Some(now);
                tx.start_running(&execution)?;
                taken.refused.push(execution);
            }
            None => {
                *count += 1;
                execution.status = ExecutionStatus::Running;
                execution.started_at = Some(now);
                tx.start_running(&execution)?;
                taken.started.push(execution);
            }
        }
    }
    taken.next_due = tx.dequeue_executions(now, 0)?.1;
    Ok(taken)
}
