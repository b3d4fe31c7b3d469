//! [`Engine`]: the event loop. Events are decided and committed with the
//! executions they start; a dispatcher takes due executions off the durable
//! queue under the concurrency policies; workers run them in Wasm sandboxes
//! on their own threads; each result commits together with the
//! `core.execution_finished` instance it causes and whatever that starts.
//! A worker's run is in `invoke.rs`, how its ending commits in `ending.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, broadcast};
use uuid::Uuid;

use super::actions::{Actions, Runner, WorkflowDefinition};
use super::ending::{Ending, Failure};
use super::error::{CancelError, EmitError, EngineError, RequestError};
use super::flows::FlowError;
use super::flows::{Effects, Flows};
use super::ingest::{Emitted, EngineEvent, Event, Ingest, OutputLine};
use super::kv::{self, KvChange, KvChanged};
use super::pack_limits::{PackSlots, WebhookGates};
use super::timers::Timers;
use super::webhooks::WebhookSensors;
use crate::pack::CrashPolicy;
use crate::rules::RuleIndex;
use crate::runtime::{LogBuffer, LogRecord, SharedLogs};
use crate::store::{
    Attempt, ChatOrigin, Execution, ExecutionStatus, KvScope, Store, WriteError, now_millis,
};

/// How the engine runs work.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Threads of the engine's own: the dispatcher, timers, poll sensors,
    /// and workers committing results. Guest code runs on the runtime's
    /// guest threads, never here.
    pub worker_threads: usize,
    /// Most executions running at once. Keep it at or below the runtime's
    /// `max_concurrent_instances`: a full instance pool refuses sandboxes.
    pub max_running: usize,
    /// How long an event's commit waits for the executions it starts: one
    /// that finishes within this commits its result with the event, in one
    /// transaction (one fsync instead of two); a slower one commits running
    /// and finishes on its own. Zero disables it.
    pub inline_budget: Duration,
    /// Most executions of one pack running at once; the rest of its work
    /// waits on the queue while other packs' work passes it. `None` is half
    /// of `max_running` (at least 1), so a pack whose actions loop leaves
    /// the other half of the slots to the others.
    pub max_running_per_pack: Option<usize>,
    /// Most webhook-sensor calls of one pack in flight at once. A request
    /// over it waits for one to end, and as many may wait; one more is
    /// refused at once (`WebhookError::Busy`, HTTP 503).
    pub webhook_calls_per_pack: usize,
    /// The API's address as workflows see it (`ctx().st2.api_url`), when
    /// the engine runs behind `squall serve`.
    pub api_url: Option<String>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self {
            worker_threads: cores,
            max_running: 128,
            inline_budget: Duration::from_millis(2),
            max_running_per_pack: None,
            webhook_calls_per_pack: 8,
            api_url: None,
        }
    }
}

/// The running engine. Cheap to clone; it stops when the last clone is
/// dropped. Executions running at that moment stay marked running, and the
/// next start treats them as cut short by a crash.
#[derive(Debug, Clone)]
pub struct Engine {
    pub(super) shared: Arc<Shared>,
    timers: Arc<Mutex<Timers>>,
    pub(super) webhooks: Arc<RwLock<Arc<WebhookSensors>>>,
    pub(super) pollers: Arc<Mutex<Vec<RunningSensor>>>,
    _workers: Arc<Workers>,
}

/// A poll sensor the engine runs.
#[derive(Debug)]
pub(super) struct RunningSensor {
    pub(super) reference: String,
    pub(super) interval: Duration,
    pub(super) poller: super::sensors::Poller,
}

#[derive(Debug)]
pub(super) struct Shared {
    pub(super) ingest: Ingest,
    /// Where workers run: the engine's own threads.
    pub(super) workers: tokio::runtime::Handle,
    pub(super) inline_budget: Duration,
    pub(super) slots: Arc<Semaphore>,
    pub(super) running_by_action: Mutex<HashMap<String, u32>>,
    /// Executions running per pack, under the per-pack limit.
    pub(super) pack_slots: PackSlots,
    /// Webhook-sensor calls in flight per pack.
    pub(super) webhook_gates: WebhookGates,
    cancels: Mutex<HashMap<Uuid, Arc<Notify>>>,
    /// The log lines of each execution whose component is running, as
    /// they are written.
    pub(super) live_logs: Mutex<HashMap<Uuid, SharedLogs>>,
    /// Workflow runs and inquiries.
    pub(super) flows: Flows,
}

/// The worker threads; dropping them stops every task at its next await.
#[derive(Debug)]
struct Workers(Option<tokio::runtime::Runtime>);

impl Drop for Workers {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl Engine {
    /// Starts the engine on `ingest`'s store: executions left running by a
    /// previous process are retried or abandoned per their action's policy,
    /// then the dispatcher starts taking work.
    pub async fn start(ingest: Ingest, config: EngineConfig) -> Result<Self, EngineError> {
        let workers = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.worker_threads.max(1))
            .thread_name("squall-worker")
            .enable_all()
            .build()
            .map_err(|e| EngineError::Workers(e.to_string()))?;
        let max_running = config.max_running.max(1);
        let per_pack = config.max_running_per_pack.unwrap_or(max_running / 2);
        let slots = Arc::new(Semaphore::new(max_running));
        let shared = Arc::new(Shared {
            flows: Flows::new(ingest.clone(), slots.clone(), config.api_url.clone()),
            ingest,
            workers: workers.handle().clone(),
            inline_budget: config.inline_budget,
            slots,
            running_by_action: Mutex::new(HashMap::new()),
            pack_slots: PackSlots::new(per_pack),
            webhook_gates: WebhookGates::new(config.webhook_calls_per_pack),
            cancels: Mutex::new(HashMap::new()),
            live_logs: Mutex::new(HashMap::new()),
        });
        shared.recover(None).await?;
        shared.recover_flows().await.map_err(EngineError::Recover)?;
        workers.spawn(super::dispatch::dispatch(shared.clone()));
        let timers = Timers::arm(&shared.ingest, &shared.ingest.rules(), workers.handle());
        Ok(Self {
            shared,
            timers: Arc::new(Mutex::new(timers)),
            webhooks: Arc::default(),
            pollers: Arc::default(),
            _workers: Arc::new(Workers(Some(workers))),
        })
    }

    /// The rules, actions and store the engine decides with.
    pub fn ingest(&self) -> &Ingest {
        &self.shared.ingest
    }

    /// The store.
    pub fn store(&self) -> &Store {
        self.shared.ingest.store()
    }

    /// Replaces the actions; executions started from now on use them.
    pub fn set_actions(&self, actions: Actions) {
        self.shared.ingest.set_actions(actions);
    }

    /// Takes over what the dead cluster node `node` was running: each
    /// execution is retried or abandoned per its action's policy, as after
    /// a crash. Returns how many were taken over by this call.
    pub async fn take_over(&self, node: &str) -> Result<usize, EngineError> {
        self.shared.recover(Some(node)).await
    }

    /// Arms again, on this node, every workflow delay and inquiry deadline
    /// stored: those a dead cluster node had armed would otherwise never
    /// fire. One that another node fires first is a no-op here (the step
    /// finds its timer gone).
    pub async fn rearm_flow_timers(&self) -> Result<(), EngineError> {
        self.shared.recover_flows().await.map_err(EngineError::Recover)
    }

    /// Replaces the rules and re-arms the timers they listen to. A timer
    /// that stays armed resumes from its last committed firing.
    pub fn set_rules(&self, rules: RuleIndex) {
        let mut timers = self.timers.lock().unwrap_or_else(PoisonError::into_inner);
        *timers = Timers::default();
        self.shared.ingest.set_rules(rules);
        *timers =
            Timers::arm(&self.shared.ingest, &self.shared.ingest.rules(), &self.shared.workers);
    }

    /// Stops the engine and waits (up to 5 s) for its threads to let go of
    /// everything, and (up to 5 s more) for the writes they left queued, so
    /// the store can be reopened at once. Executions still
    /// running are cut short as by a crash: the next start retries or
    /// abandons them per policy.
    pub async fn shutdown(self) {
        drop(std::mem::take(&mut *self.timers.lock().unwrap_or_else(PoisonError::into_inner)));
        drop(std::mem::take(&mut *self.pollers.lock().unwrap_or_else(PoisonError::into_inner)));
        let Self { shared, timers, webhooks, pollers, _workers: workers } = self;
        let store = shared.ingest.store().clone();
        drop((shared, timers, webhooks, pollers));
        if let Ok(mut workers) = Arc::try_unwrap(workers)
            && let Some(runtime) = workers.0.take()
        {
            let stopped = tokio::task::spawn_blocking(move || {
                runtime.shutdown_timeout(Duration::from_secs(5));
            });
            let _ = stopped.await;
        }
        // A task stopped while it waited for a write left that write queued,
        // holding what it captured (the dispatcher's captures the engine, so
        // a handle on the store). Once a write queued after it is answered,
        // the writer has dropped it: the store closes with its last handle
        // outside the engine, not later on the writer's thread. Bounded like
        // the rest: a cluster node's writer may be waiting on NATS.
        let settled = store.write(|_| Ok(()));
        let _ = tokio::time::timeout(Duration::from_secs(5), settled).await;
    }

    /// How many timers the rules armed.
    pub fn armed_timers(&self) -> usize {
        self.timers.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// A live feed of what the engine commits. A receiver that falls more
    /// than a few thousand events behind misses the oldest.
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.shared.ingest.subscribe()
    }

    /// A live feed of the lines actions log, as they write them.
    pub fn subscribe_output(&self) -> broadcast::Receiver<Arc<OutputLine>> {
        self.shared.ingest.subscribe_output()
    }

    /// What execution `id`'s action logged so far, while its component
    /// runs; `None` when it is not running one (its lines are stored with
    /// it when it ends).
    pub fn logs_so_far(&self, id: Uuid) -> Option<Vec<LogRecord>> {
        let live = self.shared.live_logs.lock().unwrap_or_else(PoisonError::into_inner);
        live.get(&id).map(SharedLogs::lines)
    }

    /// Validates `event`, evaluates the rules, and commits the trigger
    /// instance with its rule enforcements and the executions they start, in
    /// one transaction. Returns once that is durable.
    pub async fn emit(&self, event: Event) -> Result<Emitted, EmitError> {
        let decided = self.shared.ingest.decide(event)?;
        let emitted = self.commit_claimed(vec![decided]).await.map_err(EmitError::Write)?;
        emitted.into_iter().next().ok_or(EmitError::Write(WriteError::Closed))
    }

    /// Sets or deletes a datastore key and commits the `core.kv_changed`
    /// instance it causes, with whatever the rules start, in one
    /// transaction.
    pub async fn kv_change(
        &self,
        scope: KvScope,
        key: &str,
        change: KvChange,
    ) -> Result<KvChanged, WriteError> {
        kv::change(&self.shared.ingest, scope, key.to_owned(), change).await
    }

    /// Requests one execution of `action` directly (not through a rule).
    pub async fn request(
        &self,
        action: &str,
        parameters: Map<String, Value>,
    ) -> Result<Uuid, RequestError> {
        self.request_by(action, parameters, None).await
    }

    /// [`request`](Self::request) on behalf of `user`, recorded on the
    /// execution.
    pub async fn request_by(
        &self,
        action: &str,
        parameters: Map<String, Value>,
        user: Option<String>,
    ) -> Result<Uuid, RequestError> {
        self.request_from_chat(action, parameters, user, None).await
    }

    /// [`request_by`](Self::request_by) for an action alias: `chat` says
    /// where in chat it was asked for and where its result goes.
    pub async fn request_from_chat(
        &self,
        action: &str,
        parameters: Map<String, Value>,
        user: Option<String>,
        chat: Option<ChatOrigin>,
    ) -> Result<Uuid, RequestError> {
        let spec = self
            .shared
            .ingest
            .action(action)
            .ok_or_else(|| RequestError::UnknownAction(action.to_owned()))?;
        let parameters = spec.prepare_parameters(parameters).map_err(RequestError::Parameters)?;
        let mut execution = Execution::new(action, parameters);
        execution.user = user;
        execution.chat = chat.map(Box::new);
        let id = execution.id;
        // A workflow with no policy to check starts in the request's own
        // commit: its record and first children commit with the request.
        let workflow = self.shared.claim_workflows(std::slice::from_mut(&mut execution)).pop();
        let status = execution.status;
        let flows = self.shared.flows.clone();
        let fx = self
            .store()
            .write(move |tx| {
                tx.insert_execution(&execution, execution.status == ExecutionStatus::Requested)?;
                let mut fx = Effects::default();
                if let Some((execution, definition)) = &workflow {
                    tx.mark_running(execution.id)?;
                    flows.start_with(tx, execution, definition, &mut fx)?;
                }
                Ok(fx)
            })
            .await
            .map_err(RequestError::Write)?;
        self.shared.announce(id, action, status);
        if status == ExecutionStatus::Requested {
            self.shared.ingest.work_queued();
        } else {
            self.shared.apply(fx);
            self.shared.forget_cancel(id);
        }
        Ok(id)
    }

    /// Cancels an execution: one still queued is canceled at once; a
    /// running one is stopped and recorded canceled by its worker. Returns
    /// the state it was in.
    pub async fn cancel(&self, id: Uuid) -> Result<ExecutionStatus, CancelError> {
        // Only a workflow run takes the workflow path (and its commit).
        let conducted = self
            .store()
            .read()
            .and_then(|snapshot| snapshot.workflow(id))
            .map_err(CancelError::Read)?
            .is_some();
        if conducted {
            match self.cancel_workflow(id).await {
                Ok(Some(before)) => return Ok(before),
                Ok(None) => {}
                Err(FlowError::Finished(id, status)) => {
                    return Err(CancelError::Finished(id, status));
                }
                Err(FlowError::Read(error)) => return Err(CancelError::Read(error)),
                Err(FlowError::Write(error)) => return Err(CancelError::Write(error)),
                Err(error) => {
                    return Err(CancelError::Write(WriteError::Invalid {
                        field: "execution",
                        message: error.to_string(),
                    }));
                }
            }
        }
        loop {
            let execution = self
                .store()
                .read()
                .and_then(|snapshot| snapshot.execution(id))
                .map_err(CancelError::Read)?
                .ok_or(CancelError::NotFound(id))?;
            match execution.status {
                status if status.is_finished() => return Err(CancelError::Finished(id, status)),
                ExecutionStatus::Running => {
                    self.shared.cancel_signal(id).notify_one();
                    return Ok(ExecutionStatus::Running);
                }
                before => {
                    let mut canceled = execution.clone();
                    let now = now_millis();
                    canceled.status = ExecutionStatus::Canceled;
                    canceled.updated_at = now;
                    canceled.finished_at = Some(now);
                    let finished = self.shared.ingest.execution_finished(&canceled);
                    let expected = (execution.status, execution.updated_at);
                    let flows = self.shared.flows.clone();
                    let committed = self
                        .store()
                        .write(move |tx| {
                            let current = tx.execution(id)?;
                            if (current.status, current.updated_at) != expected {
                                return Ok(None);
                            }
                            tx.update_execution(&canceled)?;
                            finished.commit_if_enforced(tx)?;
                            let mut fx = Effects::default();
                            flows.child_finished(tx, &canceled, &mut fx)?;
                            Ok(Some((finished.clone(), fx)))
                        })
                        .await
                        .map_err(CancelError::Write)?;
                    // Changed under us (a worker took it): look again.
                    if let Some((finished, fx)) = committed {
                        self.shared.announce(id, &execution.action, ExecutionStatus::Canceled);
                        self.shared.ingest.announce_if_enforced(&finished);
                        self.shared.apply(fx);
                        return Ok(before);
                    }
                }
            }
        }
    }
}

impl Shared {
    pub(super) fn announce(&self, id: Uuid, action: &str, status: ExecutionStatus) {
        self.ingest.announce(id, action, status);
    }

    /// Marks running each new workflow execution that needs no policy
    /// check: it then starts in the transaction that stores it (its
    /// trigger instance's or its request's, [`Flows::start_with`]) instead
    /// of through the queue. A workflow
    /// holds no worker slot, so none is claimed.
    pub(super) fn claim_workflows(
        &self,
        executions: &mut [Execution],
    ) -> Vec<(Execution, Arc<WorkflowDefinition>)> {
        let actions = self.ingest.actions();
        let mut claimed = Vec::new();
        for execution in executions.iter_mut().filter(|e| e.status == ExecutionStatus::Requested) {
            let Some(spec) =
                actions.get(&execution.action).filter(|a| a.policy.concurrency.is_none())
            else {
                continue;
            };
            let Runner::Workflow(definition) = &spec.runner else { continue };
            execution.status = ExecutionStatus::Running;
            execution.started_at = Some(execution.created_at);
            claimed.push((execution.clone(), definition.clone()));
        }
        claimed
    }

    /// Claims a worker slot for each new execution that needs no policy
    /// check, and marks it running: it then commits running, with its
    /// trigger instance, and skips the queue. The rest stay requested.
    pub(super) fn claim(
        &self,
        executions: &mut [Execution],
    ) -> Vec<(Execution, OwnedSemaphorePermit)> {
        let actions = self.ingest.actions();
        let mut claimed = Vec::new();
        for execution in executions {
            // Workflows are claimed by `claim_workflows`; inquiries start
            // through the queue.
            let Some(spec) = actions
                .get(&execution.action)
                .filter(|a| a.policy.concurrency.is_none() && matches!(a.runner, Runner::Wasm(_)))
            else {
                continue;
            };
            // A pack at its limit: the execution waits on the queue.
            if !self.pack_slots.try_reserve(execution.id, &spec.pack) {
                continue;
            }
            let Ok(permit) = self.slots.clone().try_acquire_owned() else {
                self.pack_slots.release(execution.id);
                break;
            };
            execution.status = ExecutionStatus::Running;
            execution.started_at = Some(execution.created_at);
            claimed.push((execution.clone(), permit));
        }
        claimed
    }

    /// Hands an execution committed as running to a worker.
    pub(super) fn start(
        self: &Arc<Self>,
        execution: Execution,
        permit: OwnedSemaphorePermit,
        refused: bool,
    ) {
        if !refused {
            *self
                .running_by_action
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(execution.action.clone())
                .or_default() += 1;
        }
        self.workers.spawn(self.clone().run(execution, permit, refused));
    }

    pub(super) fn cancel_signal(&self, id: Uuid) -> Arc<Notify> {
        let mut cancels = self.cancels.lock().unwrap_or_else(PoisonError::into_inner);
        cancels.entry(id).or_default().clone()
    }

    /// Executions the previous process left running (`whose` is `None`),
    /// or that the dead cluster node `whose` was running: each is put back
    /// on the queue, or abandoned, as its action's crash policy says. On a
    /// cluster node, `None` means the executions recorded as this node's.
    async fn recover(self: &Arc<Self>, whose: Option<&str>) -> Result<usize, EngineError> {
        let whose = whose.map(str::to_owned);
        let running = self
            .ingest
            .store()
            .write(move |tx| {
                let mut running = Vec::new();
                for execution in tx.running_executions()? {
                    let on = tx.running_on(execution.id)?;
                    let cut_short = match (&whose, &on) {
                        (None, None) => true,
                        (None, Some(node)) => node == tx.node(),
                        (Some(dead), Some(node)) => node == dead,
                        (Some(_), None) => false,
                    };
                    if !cut_short {
                        continue;
                    }
                    let conducted = tx.workflow(execution.id)?.is_some();
                    running.push((execution, conducted, on));
                }
                Ok(running)
            })
            .await
            .map_err(EngineError::Recover)?;
        let mut recovered = 0;
        for (mut execution, conducted, on) in running {
            if conducted {
                // A workflow's state is in its record; it carries on.
                continue;
            }
            let spec = self.ingest.action(&execution.action);
            let now = now_millis();
            let requeue = if spec.as_ref().is_some_and(|s| !matches!(s.runner, Runner::Wasm(_))) {
                // A workflow or inquiry taken whose record never committed:
                // nothing ran yet, so it simply starts again.
                true
            } else {
                let policy = spec.map(|a| a.policy.clone()).unwrap_or_default();
                let crashes = execution
                    .retries
                    .iter()
                    .filter(|a| a.status == ExecutionStatus::Abandoned)
                    .count();
                let retry =
                    matches!(policy.on_crash, CrashPolicy::Retry { max } if crashes < max as usize);
                execution.retries.push(Attempt {
                    attempt: execution.attempt,
                    status: ExecutionStatus::Abandoned,
                    error: Some("the host stopped while it ran".into()),
                    ended_at: now,
                });
                execution.updated_at = now;
                execution.logs.clear();
                if retry {
                    tracing::info!(execution = %execution.id, action = %execution.action, "retrying an execution cut short by a restart");
                    execution.attempt += 1;
                }
                retry
            };
            if requeue {
                execution.status = ExecutionStatus::Requested;
                execution.started_at = None;
                let requeued = self
                    .ingest
                    .store()
                    .write(move |tx| {
                        // Another node of a cluster may have taken it over
                        // first.
                        if !tx.still_running_on(execution.id, on.as_deref())? {
                            return Ok(false);
                        }
                        tx.finish_running(&execution)?;
                        tx.enqueue_execution(execution.id, now)?;
                        Ok(true)
                    })
                    .await
                    .map_err(EngineError::Recover)?;
                recovered += usize::from(requeued);
            } else {
                tracing::warn!(execution = %execution.id, action = %execution.action, "abandoning an execution cut short by a restart");
                execution.status = ExecutionStatus::Abandoned;
                execution.finished_at = Some(now);
                execution.error = Some("the host stopped while it ran; not retried".into());
                let finished = self.ingest.execution_finished(&execution);
                let flows = self.flows.clone();
                let fx = self
                    .ingest
                    .store()
                    .write(move |tx| {
                        let mut fx = Effects::default();
                        if !tx.still_running_on(execution.id, on.as_deref())? {
                            return Ok(fx);
                        }
                        tx.finish_running(&execution)?;
                        finished.commit_if_enforced(tx)?;
                        flows.child_finished(tx, &execution, &mut fx)?;
                        Ok(fx)
                    })
                    .await
                    .map_err(EngineError::Recover)?;
                self.apply(fx);
                recovered += 1;
            }
        }
        if recovered > 0 {
            self.ingest.work_signal().notify_one();
        }
        Ok(recovered)
    }

    /// Runs one execution already marked running, then commits its ending.
    async fn run(
        self: Arc<Self>,
        execution: Execution,
        permit: OwnedSemaphorePermit,
        cancel_now: bool,
    ) {
        if !cancel_now && let Some(spec) = self.ingest.action(&execution.action) {
            match &spec.runner {
                Runner::Wasm(_) => {}
                // Only a component's run counts against its pack; one
                // upgraded into a workflow since it was taken gives it back.
                Runner::Workflow(definition) => {
                    self.release_pack_slot(execution.id);
                    let definition = definition.clone();
                    return self.start_workflow(execution, definition, permit).await;
                }
                Runner::Inquiry => {
                    self.release_pack_slot(execution.id);
                    return self.start_inquiry(execution, permit).await;
                }
                Runner::Announcement => {
                    self.release_pack_slot(execution.id);
                    let ending = self.post_to_chat(&execution);
                    return self.finish_run(execution, ending, permit).await;
                }
                Runner::ChatTool => {
                    self.release_pack_slot(execution.id);
                    let ending = self.control_inquiry(&execution).await;
                    return self.finish_run(execution, ending, permit).await;
                }
            }
        }
        let cancel = self.cancel_signal(execution.id);
        let ending = if cancel_now {
            Ending { result: Err(Failure::Canceled), logs: LogBuffer::default() }
        } else {
            self.invoke(&execution, &cancel).await
        };
        self.finish_run(execution, ending, permit).await;
    }

    /// Releases the worker slot of a run that ended and commits its ending.
    pub(super) async fn finish_run(
        self: &Arc<Self>,
        execution: Execution,
        ending: Ending,
        permit: OwnedSemaphorePermit,
    ) {
        // The dispatcher waits on the semaphore itself when it is out of
        // slots, so releasing one needs no wake-up.
        drop(permit);
        self.release_action_slot(&execution.action);
        self.release_pack_slot(execution.id);
        let id = execution.id;
        if let Err(error) = self.conclude(execution, ending).await {
            // The record stays `running`; the next start retries or abandons it.
            tracing::error!(execution = %id, %error, "cannot record the end of an execution");
        }
        self.cancels.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
    }

    /// Drops the cancel signal of an execution that ended.
    pub(super) fn forget_cancel(&self, id: Uuid) {
        self.cancels.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
    }

    /// Gives back the pack slot `id` held, if any; wakes the dispatcher
    /// when executions may be waiting for it.
    pub(super) fn release_pack_slot(&self, id: Uuid) {
        if self.pack_slots.release(id) {
            self.ingest.work_queued();
        }
    }

    /// Counts one execution of `action` as no longer running.
    pub(super) fn release_action_slot(&self, action: &str) {
        let mut running = self.running_by_action.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = running.get_mut(action) {
            *count = count.saturating_sub(1);
        }
    }
}
