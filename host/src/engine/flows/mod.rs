//! Workflows and inquiries at run time: the engine side of the pure
//! conductor. Every step (a workflow starts, a child ends, a delay passes,
//! an operator pauses, resumes, cancels or re-runs, a person answers) is
//! one store transaction that rewrites the run's record together with the
//! executions it ends and starts; what the step asks of the live engine
//! (announcements, timers, cancel signals, waking the dispatcher) is
//! carried out only after that commit, as [`Effects`].
//!
//! A workflow's own execution holds no worker: it stays `running` (or
//! `paused`) in the store while its children queue like any execution.
//! `step.rs` is the in-transaction logic, `ops.rs` the operator's
//! controls, `inquiry.rs` the `core.ask` inquiries.

mod inquiry;
mod ops;
mod step;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

pub use inquiry::InquiryError;
pub use ops::FlowError;

use super::actions::{WorkflowDefinition, digest};
use super::executor::Shared;
use super::ingest::{Decided, Ingest};
use crate::store::{
    Execution, ExecutionStatus, Millis, Tx, WorkflowRecord, WriteError, now_millis,
};
use crate::workflow::TaskId;

/// What the workflow steps need: the catalog (children's actions, rules
/// for execution-finished instances) and the parsed definitions.
#[derive(Debug, Clone)]
pub(crate) struct Flows {
    ingest: Ingest,
    definitions: Arc<Definitions>,
    /// The engine's worker slots: a step claims one for a child it can
    /// start at once, so the child skips the queue (one commit per step
    /// instead of two).
    slots: Arc<Semaphore>,
    /// The API's address for `ctx().st2.api_url`.
    api_url: Option<String>,
}

impl Flows {
    pub(crate) fn new(ingest: Ingest, slots: Arc<Semaphore>, api_url: Option<String>) -> Self {
        Self { ingest, definitions: Arc::default(), slots, api_url }
    }
}

/// Parsed workflow definitions by the digest of their text, so that a step
/// does not parse YAML.
#[derive(Debug, Default)]
struct Definitions(Mutex<HashMap<String, Arc<WorkflowDefinition>>>);

impl Definitions {
    fn remember(&self, definition: &Arc<WorkflowDefinition>) {
        let mut known = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        known.entry(definition.digest.clone()).or_insert_with(|| definition.clone());
    }

    fn get(&self, record: &WorkflowRecord) -> Result<Arc<WorkflowDefinition>, WriteError> {
        if let Some(known) =
            self.0.lock().unwrap_or_else(PoisonError::into_inner).get(&record.digest)
        {
            return Ok(known.clone());
        }
        let model = crate::workflow::load(&record.definition, &record.file).map_err(|e| {
            WriteError::Corrupt(format!("workflow {}: pinned definition: {e}", record.execution))
        })?;
        let definition = Arc::new(WorkflowDefinition {
            file: record.file.clone(),
            text: record.definition.clone(),
            digest: digest(&record.definition),
            model,
        });
        self.remember(&definition);
        Ok(definition)
    }
}

impl Flows {
    /// Starts a workflow whose execution commits, already running, in the
    /// caller's transaction (an event's or a request's): its record and
    /// first children commit with it, one commit fewer than a start taken
    /// off the queue.
    pub(crate) fn start_with(
        &self,
        tx: &mut Tx<'_>,
        execution: &Execution,
        definition: &Arc<WorkflowDefinition>,
        fx: &mut Effects,
    ) -> Result<(), WriteError> {
        self.definitions.remember(definition);
        self.start(tx, execution, definition, fx)
    }
}

/// What committed steps ask of the live engine.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    /// Executions whose state changed, to announce.
    changed: Vec<(Uuid, String, ExecutionStatus)>,
    /// New executions went on the queue.
    queued: bool,
    /// Children committed running, each with its worker slot: they start
    /// after the commit.
    started: Vec<(Execution, OwnedSemaphorePermit)>,
    /// Delays to wait out: workflow, task, when.
    timers: Vec<(Uuid, TaskId, Millis)>,
    /// Inquiries to expire: id, when.
    expiries: Vec<(Uuid, Millis)>,
    /// Running children to stop.
    cancels: Vec<Uuid>,
    /// `core.execution_finished` instances, to announce.
    finished: Vec<Decided>,
}

/// A step: what it does inside the transaction.
type StepFn<T> = Box<dyn FnMut(&Flows, &mut Tx<'_>, &mut Effects) -> Result<T, WriteError> + Send>;

impl Shared {
    /// Runs `step` in one transaction, then carries out its effects.
    pub(super) async fn step<T: Send + 'static>(
        self: &Arc<Self>,
        mut step: StepFn<T>,
    ) -> Result<T, WriteError> {
        let flows = self.flows.clone();
        let (value, fx) = self
            .ingest
            .store()
            .write(move |tx| {
                let mut fx = Effects::default();
                let value = step(&flows, tx, &mut fx)?;
                Ok((value, fx))
            })
            .await?;
        self.apply(fx);
        Ok(value)
    }

    /// Carries out what committed steps asked for.
    pub(super) fn apply(self: &Arc<Self>, fx: Effects) {
        for (id, action, status) in &fx.changed {
            self.ingest.announce(*id, action, *status);
        }
        for finished in &fx.finished {
            self.ingest.announce_if_enforced(finished);
        }
        if fx.queued {
            self.ingest.work_queued();
        }
        for (execution, permit) in fx.started {
            self.announce(execution.id, &execution.action, ExecutionStatus::Running);
            self.start(execution, permit, false);
        }
        for id in fx.cancels {
            self.cancel_signal(id).notify_one();
        }
        for (workflow, task, due) in fx.timers {
            let shared = self.clone();
            self.workers.spawn(async move {
                sleep_until(due).await;
                let step: StepFn<()> =
                    Box::new(move |flows, tx, fx| flows.timer(tx, workflow, &task, fx));
                if let Err(error) = shared.step(step).await {
                    tracing::error!(%workflow, %error, "cannot record a workflow delay's end");
                }
            });
        }
        for (inquiry, due) in fx.expiries {
            let shared = self.clone();
            self.workers.spawn(async move {
                sleep_until(due).await;
                let step: StepFn<()> = Box::new(move |flows, tx, fx| flows.expire(tx, inquiry, fx));
                if let Err(error) = shared.step(step).await {
                    tracing::error!(%inquiry, %error, "cannot expire an inquiry");
                }
            });
        }
    }

    /// Starts a workflow execution a worker took: the run's record and its
    /// first children commit together. The workflow holds no worker.
    pub(super) async fn start_workflow(
        self: Arc<Self>,
        execution: Execution,
        definition: Arc<WorkflowDefinition>,
        permit: OwnedSemaphorePermit,
    ) {
        drop(permit);
        self.release_action_slot(&execution.action);
        self.flows.definitions.remember(&definition);
        let id = execution.id;
        let step: StepFn<()> =
            Box::new(move |flows, tx, fx| flows.start(tx, &execution, &definition, fx));
        if let Err(error) = self.step(step).await {
            // Still marked running: the next start begins it again.
            tracing::error!(execution = %id, %error, "cannot start a workflow");
        }
        self.forget_cancel(id);
    }

    /// After a restart: delays and inquiry deadlines are armed again.
    pub(super) async fn recover_flows(self: &Arc<Self>) -> Result<(), WriteError> {
        let step: StepFn<()> = Box::new(|_, tx, fx| {
            for record in tx.unfinished_workflows()? {
                for timer in &record.timers {
                    let task = TaskId::new(&timer.task, timer.route);
                    fx.timers.push((record.execution, task, timer.due));
                }
            }
            for inquiry in tx.pending_inquiries()? {
                fx.expiries.push((inquiry.id, inquiry.expires_at));
            }
            Ok(())
        });
        self.step(step).await
    }
}

async fn sleep_until(due: Millis) {
    let wait = u64::try_from(due.saturating_sub(now_millis())).unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(wait)).await;
}
