//! Operator controls on a running engine: reloading stored rules, re-emitting
//! a trigger instance, re-running an execution, running poll sensors and
//! reading their status.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use squall::engine::{
    Actions, ControlError, Engine, EngineConfig, Event, Ingest, PollSensor, TriggerType,
    TriggerTypes,
};
use squall::pack::Manifest;
use squall::rules::RuleIndex;
use squall::runtime::Limits;
use squall::store::{ExecutionStatus, RuleRecord, Store, StoreConfig, now_millis};
use squall_tests::{CORE_MANIFEST, CORE_PACK, HOSTILE_GUEST, TestRuntime};
use uuid::Uuid;

const RULE: &str = r#"
name: on_tick
pack: ops
enabled: true
trigger: {type: hostile.tick}
criteria:
  trigger.n: {type: lessthan, pattern: 3}
action: {ref: core.echo, parameters: {message: "tick {{ trigger.n }}"}}
"#;

struct Host {
    engine: Engine,
    runtime: TestRuntime,
    _dir: tempfile::TempDir,
}

async fn start() -> Host {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(
        &dir.path().join("squall.redb"),
        StoreConfig { retention: None, ..StoreConfig::default() },
    )
    .expect("store");
    let runtime = TestRuntime::new();
    let mut actions = Actions::default();
    let manifest = Manifest::load(Path::new(CORE_MANIFEST)).expect("manifest");
    actions.add_pack(&manifest, Arc::new(runtime.load(CORE_PACK, "core"))).expect("actions");
    let mut types = TriggerTypes::builtin();
    types
        .register(TriggerType {
            name: "hostile.tick".into(),
            description: "a numbered tick".into(),
            payload_schema: json!({"type": "object", "required": ["n"]}),
            parameters_schema: None,
        })
        .expect("tick type");
    let ingest = Ingest::new(store, Arc::new(types), RuleIndex::default(), actions);
    let engine = Engine::start(
        ingest,
        EngineConfig { worker_threads: 1, max_running: 4, ..EngineConfig::default() },
    )
    .await
    .expect("engine");
    Host { engine, runtime, _dir: dir }
}

impl Host {
    async fn store_rule(&self, enabled: bool) {
        let now = now_millis();
        let record = RuleRecord {
            reference: "ops.on_tick".into(),
            source: RULE.into(),
            enabled,
            created_at: now,
            updated_at: now,
        };
        self.engine.store().write(move |tx| tx.put_rule(&record)).await.expect("store rule");
        assert!(self.engine.reload_rules().expect("reload").is_empty());
    }

    async fn finished(&self, id: Uuid) -> squall::store::Execution {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let snapshot = self.engine.store().read().expect("read");
            let execution = snapshot.execution(id).expect("read").expect("exists");
            if execution.status.is_finished() {
                return execution;
            }
            assert!(Instant::now() < deadline, "execution stuck");
            drop(snapshot);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

fn tick(n: u64) -> Event {
    Event::new("hostile.tick", json!({"n": n}))
}

#[tokio::test]
async fn stored_rules_take_effect_on_reload_and_disabling_stops_them() {
    let host = start().await;
    assert!(host.engine.emit(tick(1)).await.expect("emit").executions.is_empty());
    host.store_rule(true).await;
    let matched = host.engine.emit(tick(1)).await.expect("emit");
    assert_eq!(matched.executions.len(), 1);
    host.store_rule(false).await;
    assert!(host.engine.emit(tick(1)).await.expect("emit").executions.is_empty());
}

#[tokio::test]
async fn re_emit_decides_a_copy_against_the_rules_in_force_now() {
    let host = start().await;
    let original = host.engine.emit(tick(2)).await.expect("emit");
    assert!(original.executions.is_empty(), "no rule yet");
    host.store_rule(true).await;
    let copy = host.engine.re_emit(original.id).await.expect("re-emit");
    assert_ne!(copy.id, original.id);
    let [execution] = copy.executions[..] else { panic!("the rule matched the copy") };
    assert_eq!(host.finished(execution).await.result, Some(json!({"message": "tick 2"})));
    let missing = host.engine.re_emit(Uuid::nil()).await.expect_err("unknown id");
    assert!(matches!(missing, ControlError::NotFound(_)), "{missing}");
}

#[tokio::test]
async fn rerun_starts_a_new_execution_with_the_same_parameters() {
    let host = start().await;
    let parameters = json!({"message": "again"}).as_object().cloned().unwrap_or_default();
    let first = host.engine.request("core.echo", parameters).await.expect("request");
    host.finished(first).await;
    let second = host.engine.rerun(first).await.expect("rerun");
    assert_ne!(first, second);
    let rerun = host.finished(second).await;
    assert_eq!(
        (rerun.status, rerun.result),
        (ExecutionStatus::Succeeded, Some(json!({"message": "again"})))
    );
}

#[tokio::test]
async fn poll_sensors_run_on_the_engine_and_report_their_status() {
    let host = start().await;
    host.store_rule(true).await;
    let ticks = PollSensor {
        component: Arc::new(host.runtime.load(HOSTILE_GUEST, "hostile")),
        name: "ticks".into(),
        config: json!({"batch": 2}),
        limits: Limits::default(),
    };
    host.engine.add_poll_sensor(ticks, Duration::from_millis(50));
    let deadline = Instant::now() + Duration::from_secs(10);
    let info = loop {
        let sensors = host.engine.sensors();
        if sensors[0].status.events >= 4 {
            break sensors[0].clone();
        }
        assert!(Instant::now() < deadline, "sensor did not poll: {sensors:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!((info.reference.as_str(), info.interval_ms), ("hostile.ticks", 50));
    assert_eq!(info.status.errors, 0);
    assert!(info.status.last_poll.is_some());
    // Ticks 1 and 2 matched `n < 3`; later ones did not.
    let snapshot = host.engine.store().read().expect("read");
    let echoes: Vec<_> = snapshot
        .executions(None, 100)
        .expect("list")
        .into_iter()
        .map(|e| e.parameters["message"].clone())
        .collect();
    assert_eq!(echoes, [json!("tick 1"), json!("tick 2")]);
}
