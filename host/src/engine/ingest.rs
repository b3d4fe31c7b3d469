//! Turning an event into committed work: validate it against its trigger
//! type, evaluate the rules, and build the trigger instance, its rule
//! enforcements and the executions they start, so that all of it commits in
//! one transaction.

use std::sync::{Arc, PoisonError, RwLock};

use serde_json::{Map, Value, json};
use tokio::sync::{Notify, broadcast};
use uuid::Uuid;

use super::actions::{ActionSpec, Actions};
use super::trigger_types::{TriggerError, TriggerTypes};
use crate::rules::{Datastore, MatchContext, RuleIndex, canonical_trigger_type};
use crate::runtime::{LogLevel, SensorEvent};
use crate::store::{
    Execution, ExecutionStatus, KvScope, Millis, RecordLimits, RuleEnforcement, Store,
    TriggerInstance, TriggerInstanceStatus, Tx, WriteError, now_millis,
};

/// Something committed, for live views (the API's event stream) and tests.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    /// A trigger instance was committed.
    TriggerInstance {
        /// Its id.
        id: Uuid,
        /// Its trigger type.
        trigger: String,
        /// Committed by another node of a cluster; this node applied it.
        elsewhere: bool,
    },
    /// An execution changed state.
    Execution {
        /// Its id.
        id: Uuid,
        /// `pack.action`.
        action: String,
        /// The state now committed.
        status: ExecutionStatus,
        /// Committed by another node of a cluster; this node applied it.
        /// What follows up on an execution's ending (chat results, metrics)
        /// happens on the node that committed it, once.
        elsewhere: bool,
    },
    /// A message for chat (StackStorm's `st2.announcement__<route>`):
    /// from `chatops.post_message`, or an alias-started execution's result.
    Announcement {
        /// The route the bot listens on (`chatops` by default).
        route: String,
        /// `message`, `user`, `channel`, `whisper`, `extra`, `context`.
        payload: Value,
    },
}

/// One line an action logged, sent on the output feed
/// ([`Ingest::subscribe_output`]) as the action writes it, while its
/// execution runs (StackStorm's `st2.execution.output__create`). Nothing is
/// committed for it: the lines are stored with the execution when it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    /// The line's own id (StackStorm gives each output document one).
    pub id: Uuid,
    /// The execution that logged it.
    pub execution: Uuid,
    /// Its action, `pack.action`.
    pub action: String,
    /// The workflow task that started the execution, if a workflow did:
    /// the workflow's execution and the task's name.
    pub task: Option<(Uuid, String)>,
    /// When the action wrote it.
    pub at: Millis,
    /// Its severity.
    pub level: LogLevel,
    /// What the action wrote.
    pub message: String,
}

/// What one committed event became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emitted {
    /// The trigger instance's id.
    pub id: Uuid,
    /// The executions its rules started (empty for a duplicate).
    pub executions: Vec<Uuid>,
    /// True when an instance with this id was already stored: nothing new
    /// was committed for it.
    pub duplicate: bool,
    /// The rules that matched but started nothing, each with why (its
    /// failed rule enforcement); empty for a duplicate.
    pub failed: Vec<(String, String)>,
}

/// Something that happened, before it is committed.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The id to commit it under. A source that may deliver an event twice
    /// (a client retrying a webhook, a producer replaying after a crash)
    /// gives each event its own id, and the second delivery is recognised.
    pub id: Option<Uuid>,
    /// Trigger type (canonical name or StackStorm alias).
    pub trigger: String,
    /// The trigger's parameters (a webhook's `url`, a timer's schedule).
    pub parameters: Map<String, Value>,
    /// The payload.
    pub payload: Value,
}

impl Event {
    /// An event of `trigger` with `payload` and no parameters.
    pub fn new(trigger: impl Into<String>, payload: Value) -> Self {
        Self { id: None, trigger: trigger.into(), parameters: Map::new(), payload }
    }
}

/// A trigger instance with its rule enforcements and the executions they
/// start, ready to commit.
#[derive(Debug, Clone)]
pub struct Decided {
    /// The instance, marked processed, with its enforcements.
    pub instance: TriggerInstance,
    /// New executions, requested.
    pub executions: Vec<Execution>,
}

impl Decided {
    /// The rules that matched but started nothing, with why.
    pub fn failed(&self) -> Vec<(String, String)> {
        self.instance
            .decisions
            .iter()
            .filter_map(|d| d.error.as_ref().map(|e| (d.rule.clone(), e.clone())))
            .collect()
    }

    /// Writes the instance and its executions: requested ones on the queue,
    /// ones a worker already claimed marked running, ended ones as they are. Returns false, and
    /// writes nothing, when an instance with the same id is already stored.
    pub fn commit(&self, tx: &mut Tx<'_>) -> Result<bool, WriteError> {
        match tx.insert_trigger_instance(&self.instance) {
            Err(WriteError::AlreadyExists(_)) => return Ok(false),
            other => other?,
        }
        for execution in &self.executions {
            // Requested: the dispatcher's. Running: a worker has it. Ended
            // (it ran inline, within this commit): nothing left to do.
            let queued = execution.status == ExecutionStatus::Requested;
            tx.insert_execution(execution, queued)?;
            if execution.status == ExecutionStatus::Running {
                tx.mark_running(execution.id)?;
            }
        }
        Ok(true)
    }

    /// Commits an instance the engine made itself (an execution finished)
    /// only when a rule matched it: otherwise it says nothing the execution
    /// record does not, and is only announced.
    pub(crate) fn commit_if_enforced(&self, tx: &mut Tx<'_>) -> Result<(), WriteError> {
        if self.instance.decisions.is_empty() {
            return Ok(());
        }
        self.commit(tx).map(drop)
    }

    /// Whether committing this puts executions on the queue.
    fn queues_work(&self) -> bool {
        self.executions.iter().any(|e| e.status == ExecutionStatus::Requested)
    }
}

/// The trigger types, rules and actions events are decided against. Cheap
/// to clone; rules and actions can be replaced while events flow.
#[derive(Debug, Clone)]
pub struct Ingest {
    store: Store,
    types: Arc<RwLock<Arc<TriggerTypes>>>,
    rules: Arc<RwLock<Arc<RuleIndex>>>,
    actions: Arc<RwLock<Arc<Actions>>>,
    /// Told whenever executions are queued, so the dispatcher wakes.
    work: Arc<Notify>,
    events: broadcast::Sender<EngineEvent>,
    /// Actions' log lines as they are written.
    output: broadcast::Sender<Arc<OutputLine>>,
}

impl Ingest {
    /// Decides events against `rules` and `actions`.
    pub fn new(store: Store, types: Arc<TriggerTypes>, rules: RuleIndex, actions: Actions) -> Self {
        Self {
            store,
            types: Arc::new(RwLock::new(types)),
            rules: Arc::new(RwLock::new(Arc::new(rules))),
            actions: Arc::new(RwLock::new(Arc::new(actions))),
            work: Arc::new(Notify::new()),
            events: broadcast::channel(4096).0,
            output: broadcast::channel(4096).0,
        }
    }

    /// Commits decided events, and whatever `also` writes (a sensor's cursor,
    /// a timer's last firing), in one transaction; returns once it is
    /// durable. An event whose id is already stored is skipped and reported
    /// as a duplicate.
    pub async fn commit<F>(
        &self,
        decided: Vec<Decided>,
        also: F,
    ) -> Result<Vec<Emitted>, WriteError>
    where
        F: FnMut(&mut Tx<'_>) -> Result<(), WriteError> + Send + 'static,
    {
        let committed = self.commit_if(decided, |_| Ok(true), also).await?;
        Ok(committed.unwrap_or_default())
    }

    /// [`Self::commit`], if `guard` holds in the transaction (it is asked
    /// before anything is written); `None` when it did not and nothing was
    /// written. On a cluster node the guard sees every other node's commits
    /// before this one: a timer instant another node fired fails it.
    pub async fn commit_if<G, F>(
        &self,
        decided: Vec<Decided>,
        mut guard: G,
        mut also: F,
    ) -> Result<Option<Vec<Emitted>>, WriteError>
    where
        G: FnMut(&mut Tx<'_>) -> Result<bool, WriteError> + Send + 'static,
        F: FnMut(&mut Tx<'_>) -> Result<(), WriteError> + Send + 'static,
    {
        let decided = Arc::new(decided);
        let committed = {
            let decided = decided.clone();
            self.store
                .write(move |tx| {
                    if !guard(tx)? {
                        return Ok(None);
                    }
                    let committed =
                        decided.iter().map(|d| d.commit(tx)).collect::<Result<Vec<bool>, _>>()?;
                    also(tx)?;
                    Ok(Some(committed))
                })
                .await?
        };
        let Some(committed) = committed else { return Ok(None) };
        Ok(Some(
            decided
                .iter()
                .zip(committed)
                .map(|(decided, fresh)| {
                    if fresh {
                        self.announce_decided(decided);
                    }
                    Emitted {
                        id: decided.instance.id,
                        executions: if fresh {
                            decided.executions.iter().map(|e| e.id).collect()
                        } else {
                            Vec::new()
                        },
                        duplicate: !fresh,
                        failed: if fresh { decided.failed() } else { Vec::new() },
                    }
                })
                .collect(),
        ))
    }

    /// A live feed of what is committed. A receiver that falls more than a
    /// few thousand events behind misses the oldest.
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.events.subscribe()
    }

    /// A live feed of the lines actions log as they run: a feed of its
    /// own, so that a chatty action never pushes committed events out of
    /// a slow receiver's window. A receiver that falls more than a few
    /// thousand lines behind misses the oldest.
    pub fn subscribe_output(&self) -> broadcast::Receiver<Arc<OutputLine>> {
        self.output.subscribe()
    }

    /// The sender of the output feed, for the guest threads that log.
    pub(crate) fn output_feed(&self) -> broadcast::Sender<Arc<OutputLine>> {
        self.output.clone()
    }

    pub(crate) fn announce(&self, id: Uuid, action: &str, status: ExecutionStatus) {
        let _ = self.events.send(EngineEvent::Execution {
            id,
            action: action.to_owned(),
            status,
            elsewhere: false,
        });
    }

    /// Puts what another cluster node committed on this node's feed, so
    /// that event streams on every node show the whole cluster.
    pub(crate) fn announce_elsewhere(&self, event: EngineEvent) {
        let _ = self.events.send(event);
    }

    /// Sends a chat announcement to whoever listens (nothing is stored:
    /// as in StackStorm, a bot that is not connected misses it).
    pub(crate) fn announce_to_chat(&self, route: &str, payload: Value) {
        let _ = self.events.send(EngineEvent::Announcement { route: route.to_owned(), payload });
    }

    pub(crate) fn announce_decided(&self, decided: &Decided) {
        let _ = self.events.send(EngineEvent::TriggerInstance {
            id: decided.instance.id,
            trigger: decided.instance.trigger.clone(),
            elsewhere: false,
        });
        for execution in &decided.executions {
            self.announce(execution.id, &execution.action, execution.status);
        }
        if decided.queues_work() {
            self.work.notify_one();
        }
    }

    /// Announces an instance the engine made itself only if it was stored
    /// ([`Decided::commit_if_enforced`]): the feed never names an instance
    /// that cannot be read back.
    pub(crate) fn announce_if_enforced(&self, decided: &Decided) {
        if !decided.instance.decisions.is_empty() {
            self.announce_decided(decided);
        }
    }

    /// Wakes the dispatcher: executions were queued.
    pub(crate) fn work_queued(&self) {
        self.work.notify_one();
    }

    pub(crate) fn work_signal(&self) -> &Notify {
        &self.work
    }

    /// The store events are committed to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The known trigger types.
    pub fn trigger_types(&self) -> Arc<TriggerTypes> {
        self.types.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Replaces the trigger types; events from now on are checked against
    /// them.
    pub fn set_trigger_types(&self, types: TriggerTypes) {
        *self.types.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(types);
    }

    /// The rules in force.
    pub fn rules(&self) -> Arc<RuleIndex> {
        self.rules.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The actions in force.
    pub fn actions(&self) -> Arc<Actions> {
        self.actions.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Replaces the rules; events decided from now on use them.
    pub fn set_rules(&self, rules: RuleIndex) {
        *self.rules.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(rules);
    }

    /// Replaces the actions; executions started from now on use them.
    pub fn set_actions(&self, actions: Actions) {
        *self.actions.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(actions);
    }

    /// The action `reference`, if installed.
    pub fn action(&self, reference: &str) -> Option<Arc<ActionSpec>> {
        self.actions().get(reference).cloned()
    }

    /// Validates `event` and decides what the rules do with it.
    pub fn decide(&self, event: Event) -> Result<Decided, TriggerError> {
        self.trigger_types().validate_payload(&event.trigger, &event.payload)?;
        // Refused before anything commits: the sender hears the cap.
        self.store.limits().check_payload(&event.payload).map_err(|message| {
            TriggerError::Invalid {
                trigger: event.trigger.clone(),
                which: "payload",
                path: "/".into(),
                message,
            }
        })?;
        let mut instance = TriggerInstance {
            parameters: event.parameters,
            ..TriggerInstance::new(canonical_trigger_type(&event.trigger), event.payload)
        };
        if let Some(id) = event.id {
            instance.id = id;
        }
        Ok(self.decide_instance(instance))
    }

    /// Validates and decides the events a sensor returned, in order; on the
    /// first that is refused, its position and why.
    pub fn decide_sensor_events(
        &self,
        events: Vec<SensorEvent>,
    ) -> Result<Vec<Decided>, (usize, TriggerError)> {
        let mut decided = Vec::with_capacity(events.len());
        for (index, event) in events.into_iter().enumerate() {
            let payload: Value = serde_json::from_str(&event.payload).map_err(|e| {
                let error = TriggerError::Invalid {
                    trigger: event.trigger.clone(),
                    which: "payload",
                    path: "/".into(),
                    message: e.to_string(),
                };
                (index, error)
            })?;
            let event = Event::new(event.trigger, payload);
            decided.push(self.decide(event).map_err(|error| (index, error))?);
        }
        Ok(decided)
    }

    /// Evaluates the rules on an instance that is already valid (one the
    /// engine made itself, or one re-emitted).
    pub fn decide_instance(&self, mut instance: TriggerInstance) -> Decided {
        let context = MatchContext::new(
            self.datastore(),
            jiff::Timestamp::from_millisecond(instance.occurred_at)
                .unwrap_or_else(|_| jiff::Timestamp::now()),
        );
        let rules = self.rules();
        let actions = self.actions();
        let limits = *self.store.limits();
        let mut executions = Vec::new();
        let decisions = rules.matches_trigger(
            &instance.trigger,
            &instance.parameters,
            &instance.payload,
            &context,
        );
        for decision in decisions {
            let rule = decision.rule.reference.clone();
            let action_ref = decision.rule.action_ref.clone();
            let prepared = decision.parameters.map_err(|e| e.to_string()).and_then(|rendered| {
                let action = actions
                    .get(&action_ref)
                    .ok_or_else(|| format!("action {action_ref} is not installed"))?;
                let parameters = action.prepare_parameters(rendered)?;
                // Over the cap, the enforcement says so and nothing runs.
                limits.check_parameters(&parameters).map(|()| parameters)
            });
            match prepared {
                Ok(parameters) => {
                    let execution = Execution {
                        trigger_instance: Some(instance.id),
                        rule: Some(rule.clone()),
                        ..Execution::new(action_ref, parameters)
                    };
                    instance.decisions.push(RuleEnforcement {
                        rule,
                        execution: Some(execution.id),
                        error: None,
                    });
                    executions.push(execution);
                }
                Err(error) => {
                    tracing::warn!(%rule, %error, "rule matched but started nothing");
                    instance.decisions.push(RuleEnforcement {
                        rule,
                        execution: None,
                        error: Some(error),
                    });
                }
            }
        }
        instance.status = TriggerInstanceStatus::Processed;
        Decided { instance, executions }
    }

    /// The system scope of the datastore, as templates read it.
    pub(crate) fn datastore(&self) -> Arc<dyn Datastore> {
        Arc::new(SystemKv(self.store.clone()))
    }

    /// The `core.execution_finished` instance for a finished execution,
    /// decided (StackStorm's `core.st2.generic.actiontrigger`).
    pub fn execution_finished(&self, execution: &Execution) -> Decided {
        let started = execution
            .started_at
            .and_then(|at| jiff::Timestamp::from_millisecond(at).ok())
            .map(|at| at.to_string());
        let mut payload = json!({
            "execution_id": execution.id.to_string(),
            "status": execution.status,
            "action_ref": execution.action,
            "action_name": crate::limits::ref_name(&execution.action),
            "parameters": execution.parameters,
            "result": execution.result.as_ref().map_or(Value::Null, |result| {
                // As the execution's record stores it: the cap applies here too.
                RecordLimits::bound_value(result, self.store.limits().result_bytes)
                    .unwrap_or_else(|| result.clone())
            }),
        });
        if let (Some(started), Some(object)) = (started, payload.as_object_mut()) {
            object.insert("start_timestamp".into(), Value::String(started));
        }
        if let (Some(error), Some(object)) = (&execution.error, payload.as_object_mut()) {
            object.insert("error".into(), Value::String(error.clone()));
        }
        self.decide_instance(TriggerInstance {
            occurred_at: execution.finished_at.unwrap_or_else(now_millis),
            ..TriggerInstance::new("core.execution_finished", payload)
        })
    }
}

/// The system scope of the datastore, as rules read it.
struct SystemKv(Store);

impl Datastore for SystemKv {
    fn get(&self, key: &str) -> Option<String> {
        let snapshot = self.0.read().ok()?;
        snapshot.kv_get(&KvScope::System, key, now_millis()).ok().flatten()
    }
}
