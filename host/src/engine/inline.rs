//! Committing events with the executions they start, and running those
//! executions at once. An execution that finishes within the inline budget
//! commits its result, and the execution-finished instance it causes, in
//! the same transaction as its trigger instance: one fsync per event
//! instead of two. One that takes longer commits running, as usual, and its
//! worker commits the ending later.
//!
//! Running an action before its trigger instance is durable is safe under
//! the engine's at-least-once contract: if the commit never happens the
//! event is not acknowledged, its source delivers it again, and the action
//! runs again under a new execution id; nothing is recorded twice.

use std::future::{Future, poll_fn};
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;

use futures_util::FutureExt;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;
use uuid::Uuid;

use super::ending::{Ending, Failure, Settled};
use super::executor::{Engine, Shared};
use super::flows::Effects;
use super::ingest::{Decided, Emitted};
use crate::runtime::LogBuffer;
use crate::store::{Execution, Tx, WriteError};

/// A claimed execution's run. The committing task polls it itself until
/// the inline budget runs out, and only then hands what is left to a
/// worker: a run that ends in time (most do) costs no hop through the
/// worker threads, whose wake-ups were a large share of one webhook's time
/// (docs/benchmarks.md, "Where one client's webhook time goes").
struct Started {
    execution: Execution,
    permit: OwnedSemaphorePermit,
    run: Pin<Box<dyn Future<Output = Ending> + Send>>,
    /// How it ended, once it did within the budget.
    ended: Option<Ending>,
}

impl Engine {
    /// Commits decided events in one transaction. Executions that find a
    /// free worker start at once; those that end within the inline budget
    /// commit ended, the rest commit running and end on their own.
    ///
    /// It runs on a task of its own: a caller that goes away mid-way (a
    /// webhook client hanging up drops its request) must not cut it short
    /// between the commit and what follows it, or an execution committed
    /// running would never have its ending committed, and finished ones
    /// would never be announced.
    pub(super) async fn commit_claimed(
        &self,
        decided: Vec<Decided>,
    ) -> Result<Vec<Emitted>, WriteError> {
        match tokio::spawn(commit_claimed(self.shared.clone(), decided)).await {
            Ok(result) => result,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            // Only when the runtime shuts down: nothing more will be written.
            Err(_) => Err(WriteError::Closed),
        }
    }
}

/// [`Engine::commit_claimed`]'s work.
async fn commit_claimed(
    shared: Arc<Shared>,
    mut decided: Vec<Decided>,
) -> Result<Vec<Emitted>, WriteError> {
    let shared = &shared;
    let mut started: Vec<Vec<Started>> = Vec::with_capacity(decided.len());
    let mut workflows = Vec::new();
    for event in &mut decided {
        if is_stored(shared, event) {
            started.push(Vec::new());
            continue;
        }
        workflows.extend(shared.claim_workflows(&mut event.executions));
        let claimed = shared.claim(&mut event.executions);
        started.push(claimed.into_iter().map(|(e, p)| start(shared, e, p)).collect());
    }
    // Run them all at once, against one deadline.
    run_until(Instant::now() + shared.inline_budget, &mut started).await;
    let mut finished_with: Vec<(Uuid, Decided)> = Vec::new();
    let mut later: Vec<Started> = Vec::new();
    let mut retried: Vec<(Execution, Ending, OwnedSemaphorePermit)> = Vec::new();
    for (event, runs) in decided.iter_mut().zip(started) {
        for mut run in runs {
            // Still running: it commits running and its ending is
            // committed when it comes.
            let Some(ending) = run.ended.take() else {
                later.push(run);
                continue;
            };
            match shared.settle(run.execution.clone(), ending.clone()) {
                Settled::Final { execution, finished } => {
                    let execution_id = execution.id;
                    if let Some(slot) = event.executions.iter_mut().find(|e| e.id == execution.id) {
                        *slot = execution;
                    }
                    shared.forget_cancel(execution_id);
                    finished_with.push((execution_id, *finished));
                    drop(run.permit);
                    shared.release_pack_slot(execution_id);
                }
                // A retry waits on the queue: commit it running, then
                // let the usual path schedule it.
                Settled::Retry { .. } => retried.push((run.execution, ending, run.permit)),
            }
        }
    }
    let finished_with = Arc::new(finished_with);
    // What the workflows' starts ask of the live engine, once committed.
    let effects = Arc::new(Mutex::new(Effects::default()));
    let workflow_ids: Vec<Uuid> = workflows.iter().map(|(e, _)| e.id).collect();
    let emitted = {
        let (finished_with, effects, flows) =
            (finished_with.clone(), effects.clone(), shared.flows.clone());
        shared
            .ingest
            .commit(decided, move |tx| {
                // Each skipped when its event turned out to be a
                // redelivery and the execution was not stored.
                for (execution, finished) in finished_with.iter() {
                    if is_in(tx, *execution)? {
                        finished.commit_if_enforced(tx)?;
                    }
                }
                let mut fx = Effects::default();
                for (execution, definition) in &workflows {
                    if is_in(tx, execution.id)? {
                        flows.start_with(tx, execution, definition, &mut fx)?;
                    }
                }
                *effects.lock().unwrap_or_else(PoisonError::into_inner) = fx;
                Ok(())
            })
            .await?
    };
    for (_, finished) in finished_with.iter() {
        shared.ingest.announce_if_enforced(finished);
    }
    let fx = std::mem::take(&mut *effects.lock().unwrap_or_else(PoisonError::into_inner));
    shared.apply(fx);
    for id in workflow_ids {
        shared.forget_cancel(id);
    }
    for (execution, ending, permit) in retried {
        let shared = shared.clone();
        shared.clone().workers.spawn(async move {
            shared.finish_run(execution, ending, permit).await;
        });
    }
    for run in later {
        let shared = shared.clone();
        shared.clone().workers.spawn(async move {
            let ending = run.run.await;
            shared.finish_run(run.execution, ending, run.permit).await;
        });
    }
    Ok(emitted)
}

/// Whether execution `id` is stored in this transaction.
fn is_in(tx: &mut Tx<'_>, id: Uuid) -> Result<bool, WriteError> {
    match tx.execution(id) {
        Ok(_) => Ok(true),
        Err(WriteError::NotFound(_)) => Ok(false),
        Err(error) => Err(error),
    }
}

/// Whether an event with this id is already stored: a redelivery (its
/// source gave it an id), whose actions must not run again.
fn is_stored(shared: &Shared, event: &Decided) -> bool {
    shared
        .ingest
        .store()
        .read()
        .ok()
        .and_then(|snapshot| snapshot.trigger_instance(event.instance.id).ok().flatten())
        .is_some()
}

/// A claimed execution's run, not yet polled. A panic in it (a bug) ends
/// the run failed rather than taking the committing task down with it.
fn start(shared: &Arc<Shared>, execution: Execution, permit: OwnedSemaphorePermit) -> Started {
    let run = {
        let (shared, execution) = (shared.clone(), execution.clone());
        AssertUnwindSafe(async move {
            let cancel = shared.cancel_signal(execution.id);
            shared.invoke(&execution, &cancel).await
        })
        .catch_unwind()
        .map(|outcome| {
            outcome.unwrap_or_else(|_| {
                tracing::error!("an action's run panicked");
                Ending {
                    result: Err(Failure::Failed("the host failed while running the action".into())),
                    logs: LogBuffer::default(),
                }
            })
        })
        .boxed()
    };
    Started { execution, permit, run, ended: None }
}

/// Polls every run until each has ended or `deadline` passes, whichever
/// is first; each that ended keeps its ending in `ended`.
async fn run_until(deadline: Instant, events: &mut [Vec<Started>]) {
    let mut timer = pin!(tokio::time::sleep_until(deadline));
    poll_fn(|cx| {
        let mut running = false;
        for run in events.iter_mut().flatten().filter(|run| run.ended.is_none()) {
            match run.run.as_mut().poll(cx) {
                Poll::Ready(ending) => run.ended = Some(ending),
                Poll::Pending => running = true,
            }
        }
        if running { timer.as_mut().poll(cx) } else { Poll::Ready(()) }
    })
    .await;
}
