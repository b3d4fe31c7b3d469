//! The engine end to end in one process: events decided by rules into
//! durable executions, run by workers, finished with their chained trigger;
//! policies (retry, timeout, concurrency), cancel, and recovery of
//! executions a crash left running — against a real store and real Wasm.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use squall::engine::{
    Actions, CancelError, Engine, EngineConfig, EngineEvent, Event, Ingest, TriggerTypes,
};
use squall::pack::Manifest;
use squall::rules::{Rule, RuleIndex};
use squall::runtime::HostServices;
use squall::store::{
    Execution, ExecutionStatus, Store, StoreConfig, TriggerInstance, TriggerInstanceStatus,
};
use squall_tests::{CORE_MANIFEST, CORE_PACK, TestRuntime};
use uuid::Uuid;

/// A host in one process: store in a temp dir, the core pack, some rules.
struct Host {
    engine: Engine,
    _runtime: TestRuntime,
    dir: tempfile::TempDir,
}

/// The core manifest with `extra` TOML appended (policies for a test).
fn core_manifest(extra: &str) -> Manifest {
    let text = std::fs::read_to_string(CORE_MANIFEST).expect("core manifest") + extra;
    Manifest::from_toml(&text, Path::new(CORE_MANIFEST)).expect("manifest")
}

fn rules(yaml: &[&str]) -> RuleIndex {
    RuleIndex::new(
        yaml.iter()
            .enumerate()
            .map(|(i, y)| Rule::from_yaml(y, &format!("rule{i}.yaml")).expect("rule loads")),
    )
}

pub(crate) fn open_store(dir: &Path) -> Store {
    let config = StoreConfig { retention: None, ..StoreConfig::default() };
    Store::open(&dir.join("squall.redb"), config).expect("store")
}

impl Host {
    async fn start(manifest: Manifest, rule_yaml: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(dir, manifest, rule_yaml).await
    }

    async fn start_in(dir: tempfile::TempDir, manifest: Manifest, rule_yaml: &[&str]) -> Self {
        let store = open_store(dir.path());
        let runtime = TestRuntime::with_services(HostServices::default());
        let mut actions = Actions::default();
        actions
            .add_pack(&manifest, Arc::new(runtime.load(CORE_PACK, "core")))
            .expect("core actions");
        let ingest =
            Ingest::new(store, Arc::new(TriggerTypes::builtin()), rules(rule_yaml), actions);
        let config = EngineConfig { worker_threads: 2, max_running: 8, ..EngineConfig::default() };
        let engine = Engine::start(ingest, config).await.expect("engine starts");
        Self { engine, _runtime: runtime, dir }
    }

    fn execution(&self, id: Uuid) -> Execution {
        self.engine.store().read().expect("read").execution(id).expect("read").expect("exists")
    }

    fn instance(&self, id: Uuid) -> TriggerInstance {
        let snapshot = self.engine.store().read().expect("read");
        snapshot.trigger_instance(id).expect("read").expect("exists")
    }

    fn executions(&self) -> Vec<Execution> {
        self.engine.store().read().expect("read").executions(None, 100_000).expect("list")
    }

    /// Waits until execution `id` is in a finished state.
    async fn finished(&self, id: Uuid) -> Execution {
        self.until(id, ExecutionStatus::is_finished).await
    }

    async fn until(&self, id: Uuid, done: impl Fn(ExecutionStatus) -> bool) -> Execution {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let execution = self.execution(id);
            if done(execution.status) {
                return execution;
            }
            assert!(Instant::now() < deadline, "execution stuck in {:?}", execution.status);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn emit(
        &self,
        trigger: &str,
        parameters: Value,
        payload: Value,
    ) -> squall::engine::Emitted {
        let event = Event {
            parameters: parameters.as_object().cloned().unwrap_or_default(),
            ..Event::new(trigger, payload)
        };
        self.engine.emit(event).await.expect("emit")
    }

    async fn request(&self, action: &str, parameters: Value) -> Uuid {
        let parameters: Map<String, Value> = parameters.as_object().cloned().unwrap_or_default();
        self.engine.request(action, parameters).await.expect("request")
    }
}

const DEPLOY_RULE: &str = r#"
name: announce_deploy
pack: ops
enabled: true
trigger:
  type: core.st2.webhook
  parameters: {url: deploy}
criteria:
  trigger.body.env: {type: equals, pattern: prod}
action:
  ref: core.echo
  parameters:
    message: "deployed {{ trigger.body.version }}"
"#;

const CHAIN_RULE: &str = r#"
name: after_echo
pack: ops
enabled: true
trigger:
  type: core.st2.generic.actiontrigger
criteria:
  trigger.action_ref: {type: equals, pattern: core.echo}
  trigger.status: {type: equals, pattern: succeeded}
action:
  ref: core.noop
  parameters:
    seen: "{{ trigger.result.message }}"
"#;

#[tokio::test]
async fn a_matching_webhook_runs_its_action_and_the_finished_execution_triggers_the_next_rule() {
    let host = Host::start(core_manifest(""), &[DEPLOY_RULE, CHAIN_RULE]).await;
    let emitted = host
        .emit(
            "core.webhook",
            json!({"url": "deploy"}),
            json!({"headers": {}, "body": {"env": "prod", "version": "1.2"}}),
        )
        .await;
    let [echo_id] = emitted.executions[..] else { panic!("one execution: {emitted:?}") };

    // Instance, enforcement and execution were committed together.
    let instance = host.instance(emitted.id);
    assert_eq!(instance.status, TriggerInstanceStatus::Processed);
    assert_eq!(instance.decisions.len(), 1);
    assert_eq!(instance.decisions[0].rule, "ops.announce_deploy");
    assert_eq!(instance.decisions[0].execution, Some(echo_id));

    let echo = host.finished(echo_id).await;
    assert_eq!(echo.status, ExecutionStatus::Succeeded, "{echo:?}");
    assert_eq!(echo.result, Some(json!({"message": "deployed 1.2"})));
    assert_eq!(echo.trigger_instance, Some(emitted.id));
    assert_eq!(echo.rule.as_deref(), Some("ops.announce_deploy"));
    assert!(echo.started_at.is_some() && echo.finished_at.is_some());

    // The finished echo emitted core.execution_finished, which the chain rule
    // turned into a noop that saw the echo's result.
    let deadline = Instant::now() + Duration::from_secs(20);
    let noop = loop {
        let found = host.executions().into_iter().find(|e| e.action == "core.noop");
        if let Some(noop) = found.filter(|e| e.status.is_finished()) {
            break noop;
        }
        assert!(Instant::now() < deadline, "the chained rule did not run");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(noop.status, ExecutionStatus::Succeeded);
    assert_eq!(noop.parameters, json!({"seen": "deployed 1.2"}));
    let finished = host.instance(noop.trigger_instance.expect("caused by an instance"));
    assert_eq!(finished.trigger, "core.execution_finished");
    assert_eq!(finished.payload["execution_id"], json!(echo_id.to_string()));
    assert_eq!(finished.payload["status"], json!("succeeded"));
}

#[tokio::test]
async fn events_that_match_no_rule_or_another_url_start_nothing() {
    let host = Host::start(core_manifest(""), &[DEPLOY_RULE]).await;
    let staging = host
        .emit(
            "core.webhook",
            json!({"url": "deploy"}),
            json!({"headers": {}, "body": {"env": "staging"}}),
        )
        .await;
    let other_url = host
        .emit(
            "core.webhook",
            json!({"url": "other"}),
            json!({"headers": {}, "body": {"env": "prod"}}),
        )
        .await;
    for emitted in [staging, other_url] {
        assert!(emitted.executions.is_empty());
        let instance = host.instance(emitted.id);
        assert_eq!(
            (instance.status, instance.decisions.len()),
            (TriggerInstanceStatus::Processed, 0)
        );
    }
    assert!(host.executions().is_empty());
}

#[tokio::test]
async fn a_payload_that_fails_the_trigger_schema_is_refused_and_nothing_is_stored() {
    let host = Host::start(core_manifest(""), &[DEPLOY_RULE]).await;
    let error = host
        .engine
        .emit(Event::new("core.webhook", json!({"body": {}})))
        .await
        .expect_err("headers missing");
    assert_eq!(
        error.to_string(),
        r#"trigger type `core.webhook`: payload at `/`: "headers" is a required property"#
    );
    let snapshot = host.engine.store().read().expect("read");
    assert!(snapshot.trigger_instances(None, 10).expect("list").is_empty());
}

#[tokio::test]
async fn a_redelivered_event_id_is_recognised_and_starts_nothing_twice() {
    let host = Host::start(core_manifest(""), &[DEPLOY_RULE]).await;
    let id = squall::store::new_id();
    let event = Event {
        id: Some(id),
        parameters: json!({"url": "deploy"}).as_object().cloned().unwrap_or_default(),
        ..Event::new(
            "core.webhook",
            json!({"headers": {}, "body": {"env": "prod", "version": "1"}}),
        )
    };
    let first = host.engine.emit(event.clone()).await.expect("first delivery");
    let second = host.engine.emit(event).await.expect("second delivery");
    assert_eq!((first.id, first.duplicate, first.executions.len()), (id, false, 1));
    assert_eq!((second.id, second.duplicate, second.executions.len()), (id, true, 0));
    host.finished(first.executions[0]).await;
    assert_eq!(host.executions().len(), 1);
}

#[tokio::test]
async fn a_rule_whose_parameters_do_not_fit_the_action_records_why_and_starts_nothing() {
    let bad_params = r#"
name: bad_params
pack: ops
enabled: true
trigger: {type: core.webhook, parameters: {url: x}}
action: {ref: core.echo, parameters: {message: 5}}
"#;
    let unknown_action = r#"
name: unknown_action
pack: ops
enabled: true
trigger: {type: core.webhook, parameters: {url: x}}
action: {ref: nope.nothing}
"#;
    let host = Host::start(core_manifest(""), &[bad_params, unknown_action]).await;
    let emitted =
        host.emit("core.webhook", json!({"url": "x"}), json!({"headers": {}, "body": {}})).await;
    assert!(emitted.executions.is_empty());
    let decisions = host.instance(emitted.id).decisions;
    let errors: Vec<(String, Option<String>)> =
        decisions.into_iter().map(|d| (d.rule, d.error)).collect();
    assert_eq!(
        errors,
        [
            (
                "ops.bad_params".to_owned(),
                Some(
                    r#"action core.echo: parameter `message`: 5 is not of type "string""#
                        .to_owned()
                )
            ),
            (
                "ops.unknown_action".to_owned(),
                Some("action nope.nothing is not installed".to_owned())
            ),
        ]
    );
}

#[tokio::test]
async fn defaults_from_the_action_schema_are_applied_and_bad_requests_are_refused() {
    let host = Host::start(core_manifest(""), &[]).await;
    let failed = host.finished(host.request("core.fail", json!({})).await).await;
    assert_eq!(failed.parameters, json!({"message": "core.fail was asked to fail"}));
    assert_eq!(failed.status, ExecutionStatus::Failed);
    assert!(failed.error.as_deref().is_some_and(|e| e.contains("core.fail was asked to fail")));

    let unknown = host.engine.request("core.nope", Map::new()).await.expect_err("unknown");
    assert_eq!(unknown.to_string(), "unknown action `core.nope`");
    let extra = json!({"message": "hi", "color": "red"}).as_object().cloned().unwrap_or_default();
    let refused = host.engine.request("core.echo", extra).await.expect_err("extra parameter");
    assert!(refused.to_string().starts_with("action core.echo: parameters: "), "{refused}");
    assert!(host.executions().len() == 1, "refused requests store nothing");
}

#[tokio::test]
async fn the_retry_policy_reruns_failures_under_the_same_execution_id() {
    let policy = r#"
[actions.fail.policy]
retry = { on = ["failure"], count = 2, delay = "10ms" }
"#;
    let host = Host::start(core_manifest(policy), &[]).await;
    let id = host.request("core.fail", json!({"message": "disk full"})).await;
    let execution = host.finished(id).await;
    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert_eq!(execution.attempt, 3, "one attempt and two retries");
    let retried: Vec<(u32, ExecutionStatus)> =
        execution.retries.iter().map(|a| (a.attempt, a.status)).collect();
    assert_eq!(retried, [(1, ExecutionStatus::Failed), (2, ExecutionStatus::Failed)]);
    assert!(
        execution
            .retries
            .iter()
            .all(|a| a.error.as_deref().is_some_and(|e| e.contains("disk full")))
    );
}

#[tokio::test]
async fn the_timeout_policy_stops_an_action_and_retry_on_timeout_applies() {
    let policy = r#"
[actions.noop.policy]
timeout = "200ms"
"#;
    // `sleep` keeps its own 10m timeout from the manifest; override it.
    let text = std::fs::read_to_string(CORE_MANIFEST).expect("manifest").replace(
        r#"policy = { timeout = "10m" }"#,
        r#"policy = { timeout = "150ms", retry = { on = ["timeout"], count = 1 } }"#,
    ) + policy;
    let manifest = Manifest::from_toml(&text, Path::new("pack.toml")).expect("manifest");
    let host = Host::start(manifest, &[]).await;
    let started = Instant::now();
    let execution = host.finished(host.request("core.sleep", json!({"seconds": 30})).await).await;
    assert!(started.elapsed() < Duration::from_secs(10), "the deadline stopped the sleep");
    assert_eq!(execution.status, ExecutionStatus::Timeout);
    assert_eq!(execution.attempt, 2);
    assert_eq!(execution.retries[0].status, ExecutionStatus::Timeout);
    assert!(
        execution.error.as_deref().is_some_and(|e| e.contains("150ms")),
        "{:?}",
        execution.error
    );
}

#[tokio::test]
async fn the_concurrency_policy_delays_executions_over_the_threshold() {
    let policy = r#"policy = { timeout = "1m", concurrency = { threshold = 1, action = "delay", delay = "20ms" } }"#;
    let text = std::fs::read_to_string(CORE_MANIFEST)
        .expect("manifest")
        .replace(r#"policy = { timeout = "10m" }"#, policy);
    let host =
        Host::start(Manifest::from_toml(&text, Path::new("pack.toml")).expect("manifest"), &[])
            .await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(host.request("core.sleep", json!({"seconds": 0.2})).await);
    }
    let mut spans = Vec::new();
    for id in ids {
        let execution = host.finished(id).await;
        assert_eq!(execution.status, ExecutionStatus::Succeeded);
        spans.push((
            execution.started_at.expect("started"),
            execution.finished_at.expect("finished"),
        ));
    }
    spans.sort();
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "two sleeps ran at once: {spans:?}");
    }
}

#[tokio::test]
async fn the_concurrency_policy_cancels_executions_over_the_threshold() {
    let policy =
        r#"policy = { timeout = "1m", concurrency = { threshold = 1, action = "cancel" } }"#;
    let text = std::fs::read_to_string(CORE_MANIFEST)
        .expect("manifest")
        .replace(r#"policy = { timeout = "10m" }"#, policy);
    let host =
        Host::start(Manifest::from_toml(&text, Path::new("pack.toml")).expect("manifest"), &[])
            .await;
    let first = host.request("core.sleep", json!({"seconds": 1})).await;
    host.until(first, |s| s == ExecutionStatus::Running).await;
    let second = host.finished(host.request("core.sleep", json!({"seconds": 1})).await).await;
    assert_eq!(second.status, ExecutionStatus::Canceled);
    assert_eq!(host.finished(first).await.status, ExecutionStatus::Succeeded);
}

#[tokio::test]
async fn cancel_stops_a_running_execution_and_refuses_a_finished_one() {
    let host = Host::start(core_manifest(""), &[]).await;
    let id = host.request("core.sleep", json!({"seconds": 60})).await;
    host.until(id, |s| s == ExecutionStatus::Running).await;
    assert_eq!(host.engine.cancel(id).await.expect("cancel"), ExecutionStatus::Running);
    let execution = host.finished(id).await;
    assert_eq!(execution.status, ExecutionStatus::Canceled);
    assert!(matches!(
        host.engine.cancel(id).await,
        Err(CancelError::Finished(_, ExecutionStatus::Canceled))
    ));
    assert!(matches!(host.engine.cancel(Uuid::nil()).await, Err(CancelError::NotFound(_))));
}

#[tokio::test]
async fn cancel_takes_a_waiting_execution_off_the_queue() {
    let policy = r#"policy = { timeout = "1m", concurrency = { threshold = 1, action = "delay", delay = "50ms" } }"#;
    let text = std::fs::read_to_string(CORE_MANIFEST)
        .expect("manifest")
        .replace(r#"policy = { timeout = "10m" }"#, policy);
    let host =
        Host::start(Manifest::from_toml(&text, Path::new("pack.toml")).expect("manifest"), &[])
            .await;
    let busy = host.request("core.sleep", json!({"seconds": 1})).await;
    host.until(busy, |s| s == ExecutionStatus::Running).await;
    let waiting = host.request("core.sleep", json!({"seconds": 0})).await;
    host.until(waiting, |s| s == ExecutionStatus::Scheduled).await;
    assert_eq!(host.engine.cancel(waiting).await.expect("cancel"), ExecutionStatus::Scheduled);
    assert_eq!(host.execution(waiting).status, ExecutionStatus::Canceled);
    assert_eq!(host.finished(busy).await.status, ExecutionStatus::Succeeded);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(host.execution(waiting).status, ExecutionStatus::Canceled, "it never ran");
}

const ON_ABANDONED_RULE: &str = r#"
name: on_abandoned
pack: ops
enabled: true
trigger: {type: core.execution_finished}
criteria:
  trigger.status: {type: equals, pattern: abandoned}
action:
  ref: core.echo
  parameters: {message: "abandoned {{ trigger.execution_id }}"}
"#;

/// An execution-finished instance no rule matched is neither stored nor
/// announced: the execution record already holds everything it would.
#[tokio::test]
async fn unmatched_execution_finished_instances_are_not_stored() {
    let host = Host::start(core_manifest(""), &[CHAIN_RULE]).await;
    let mut events = host.engine.subscribe();
    let id = host.request("core.fail", json!({})).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let event = tokio::time::timeout_at(deadline.into(), events.recv())
            .await
            .expect("announced in time")
            .expect("feed open");
        if event
            == (EngineEvent::Execution {
                id,
                action: "core.fail".into(),
                status: ExecutionStatus::Failed,
                elsewhere: false,
            })
        {
            break;
        }
    }
    // Whatever the engine announced with the ending is on the feed by now.
    while let Ok(event) = events.try_recv() {
        assert!(
            !matches!(&event, EngineEvent::TriggerInstance { trigger, .. } if trigger == "core.execution_finished"),
            "an unstored instance was announced"
        );
    }
    let snapshot = host.engine.store().read().expect("read");
    assert!(snapshot.trigger_instances(None, 10).expect("list").is_empty());
}

/// Leaves `execution` marked running in the store at `dir`, as a process
/// killed mid-action would.
async fn crashed_while_running(dir: &Path, execution: Execution) {
    let store = open_store(dir);
    store
        .write(move |tx| {
            tx.insert_execution(&execution, false)?;
            let running = Execution { status: ExecutionStatus::Running, ..execution.clone() };
            tx.start_running(&running)
        })
        .await
        .expect("seed");
}

#[tokio::test]
async fn a_restart_retries_executions_a_crash_left_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cut_short = Execution::new("core.echo", json!({"message": "again"}));
    crashed_while_running(dir.path(), cut_short.clone()).await;
    let host = Host::start_in(dir, core_manifest(""), &[]).await;
    let execution = host.finished(cut_short.id).await;
    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    assert_eq!(execution.attempt, 2, "the same execution id, a second attempt");
    assert_eq!(execution.retries[0].status, ExecutionStatus::Abandoned);
    assert_eq!(execution.result, Some(json!({"message": "again"})));
    let _ = &host.dir;
}

#[tokio::test]
async fn a_restart_abandons_executions_whose_policy_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cut_short = Execution::new("core.echo", json!({"message": "once"}));
    crashed_while_running(dir.path(), cut_short.clone()).await;
    let policy = "\n[actions.echo.policy]\non_crash = \"abandon\"\n";
    let text = std::fs::read_to_string(CORE_MANIFEST)
        .expect("manifest")
        .replace("[actions.noop]", &format!("{policy}\n[actions.noop]"));
    let manifest = Manifest::from_toml(&text, Path::new("pack.toml")).expect("manifest");
    let host = Host::start_in(dir, manifest, &[CHAIN_RULE, ON_ABANDONED_RULE]).await;
    let execution = host.execution(cut_short.id);
    assert_eq!(execution.status, ExecutionStatus::Abandoned);
    assert!(execution.finished_at.is_some());
    // Abandoning emits execution-finished, and a rule can react to it.
    let snapshot = host.engine.store().read().expect("read");
    let finished: Vec<TriggerInstance> = snapshot
        .trigger_instances(None, 10)
        .expect("list")
        .into_iter()
        .filter(|i| i.trigger == "core.execution_finished")
        .collect();
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0].payload["status"], json!("abandoned"));
    assert_eq!(finished[0].decisions[0].rule, "ops.on_abandoned");
    let alert = host.finished(finished[0].decisions[0].execution.expect("started")).await;
    assert_eq!(alert.parameters, json!({"message": format!("abandoned {}", cut_short.id)}));
}

/// Many events at once with the engine's default configuration: every one
/// ends with its execution succeeded, whether it ran inline (within the
/// commit of its event) or on the worker path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_events_all_end_succeeded_with_the_default_configuration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(dir.path());
    let runtime = TestRuntime::with_services(HostServices::default());
    let mut actions = Actions::default();
    actions
        .add_pack(&core_manifest(""), Arc::new(runtime.load(CORE_PACK, "core")))
        .expect("core actions");
    let ingest =
        Ingest::new(store, Arc::new(TriggerTypes::builtin()), rules(&[DEPLOY_RULE]), actions);
    // The test runtime's pool holds 16 sandboxes.
    let config = EngineConfig { max_running: 16, ..EngineConfig::default() };
    let engine = Engine::start(ingest, config).await.expect("engine");
    let mut producers = tokio::task::JoinSet::new();
    for producer in 0..16 {
        let engine = engine.clone();
        producers.spawn(async move {
            let mut ids = Vec::new();
            for seq in 0..50 {
                let event = Event {
                    parameters: json!({"url": "deploy"}).as_object().cloned().unwrap_or_default(),
                    ..Event::new(
                        "core.webhook",
                        json!({"headers": {}, "body": {"env": "prod", "version": format!("{producer}.{seq}")}}),
                    )
                };
                ids.extend(engine.emit(event).await.expect("emit").executions);
            }
            ids
        });
    }
    let ids: Vec<Uuid> = producers.join_all().await.into_iter().flatten().collect();
    assert_eq!(ids.len(), 800);
    let deadline = Instant::now() + Duration::from_secs(60);
    for id in ids {
        loop {
            let execution = engine.store().read().expect("read").execution(id).expect("read");
            match execution {
                Some(e) if e.status == ExecutionStatus::Succeeded => break,
                Some(e) if e.status.is_finished() => panic!("{e:?}"),
                _ => {}
            }
            assert!(Instant::now() < deadline, "execution {id} never succeeded");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let snapshot = engine.store().read().expect("read");
    assert_eq!(snapshot.running_executions().expect("running"), 0);
    assert_eq!(snapshot.queued_executions().expect("queued"), 0);
}
