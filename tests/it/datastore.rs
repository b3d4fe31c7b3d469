//! The datastore as operators change it: each change commits with the
//! `core.kv_changed` instance it causes; scopes are separate; values expire;
//! secrets are sealed on disk and masked everywhere they are shown.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use squall::engine::{Actions, Engine, EngineConfig, Ingest, KvChange, TriggerTypes};
use squall::pack::Manifest;
use squall::rules::{Rule, RuleIndex};
use squall::store::{ExecutionStatus, KvScope, MASKED_SECRET, Store, StoreConfig, now_millis};
use squall_tests::{CORE_MANIFEST, CORE_PACK, TestRuntime};

const ON_CHANGE: &str = r#"
name: on_change
pack: ops
enabled: true
trigger: {type: core.kv_changed}
criteria:
  trigger.new_object.name: {type: startswith, pattern: "alert_"}
action:
  ref: core.echo
  parameters: {message: "{{ trigger.new_object.value }} / {{ st2kv.system.owner }}"}
"#;

struct Host {
    engine: Engine,
    dir: tempfile::TempDir,
    _runtime: TestRuntime,
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
    let rules = RuleIndex::new([Rule::from_yaml(ON_CHANGE, "on_change.yaml").expect("rule")]);
    let ingest = Ingest::new(store, Arc::new(TriggerTypes::builtin()), rules, actions);
    let engine = Engine::start(
        ingest,
        EngineConfig { worker_threads: 1, max_running: 4, ..EngineConfig::default() },
    )
    .await
    .expect("engine");
    Host { engine, dir, _runtime: runtime }
}

fn set(value: &str) -> KvChange {
    KvChange::Set { value: value.into(), secret: false, ttl: None }
}

impl Host {
    fn payload(&self, id: uuid::Uuid) -> Value {
        let snapshot = self.engine.store().read().expect("read");
        snapshot.trigger_instance(id).expect("read").expect("stored").payload
    }

    fn get(&self, scope: &KvScope, key: &str) -> Option<String> {
        self.engine.store().read().expect("read").kv_get(scope, key, now_millis()).expect("read")
    }

    async fn result(&self, id: uuid::Uuid) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let snapshot = self.engine.store().read().expect("read");
            let execution = snapshot.execution(id).expect("read").expect("exists");
            if execution.status.is_finished() {
                assert_eq!(execution.status, ExecutionStatus::Succeeded, "{execution:?}");
                return execution.result.expect("output");
            }
            assert!(Instant::now() < deadline, "execution stuck");
            drop(snapshot);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

#[tokio::test]
async fn a_change_emits_kv_changed_with_old_and_new_objects_and_rules_react() {
    let host = start().await;
    host.engine.kv_change(KvScope::System, "owner", set("sre")).await.expect("set owner");
    let created =
        host.engine.kv_change(KvScope::System, "alert_disk", set("95%")).await.expect("create");
    assert!(!created.existed);
    assert_eq!(
        host.payload(created.emitted.id),
        json!({"old_object": null, "new_object": {"name": "alert_disk", "scope": "system", "value": "95%", "secret": false}})
    );
    let [execution] = created.emitted.executions[..] else { panic!("the rule ran once") };
    assert_eq!(host.result(execution).await, json!({"message": "95% / sre"}));

    let changed =
        host.engine.kv_change(KvScope::System, "alert_disk", set("97%")).await.expect("update");
    assert!(changed.existed);
    let payload = host.payload(changed.emitted.id);
    assert_eq!(
        (&payload["old_object"]["value"], &payload["new_object"]["value"]),
        (&json!("95%"), &json!("97%"))
    );

    let deleted = host
        .engine
        .kv_change(KvScope::System, "alert_disk", KvChange::Delete)
        .await
        .expect("delete");
    assert!(deleted.existed);
    assert_eq!(host.payload(deleted.emitted.id)["new_object"], Value::Null);
    assert!(deleted.emitted.executions.is_empty(), "criteria read new_object.name: null fails");
    let again = host
        .engine
        .kv_change(KvScope::System, "alert_disk", KvChange::Delete)
        .await
        .expect("delete");
    assert!(!again.existed);
    assert_eq!(host.get(&KvScope::System, "alert_disk"), None);
}

#[tokio::test]
async fn scopes_are_separate_and_values_expire() {
    let host = start().await;
    let pack = KvScope::Pack("github".into());
    host.engine.kv_change(pack.clone(), "token_hint", set("abc")).await.expect("pack set");
    assert_eq!(host.get(&pack, "token_hint").as_deref(), Some("abc"));
    assert_eq!(host.get(&KvScope::System, "token_hint"), None);
    assert_eq!(host.get(&KvScope::Pack("other".into()), "token_hint"), None);

    let ttl = KvChange::Set {
        value: "soon gone".into(),
        secret: false,
        ttl: Some(Duration::from_millis(100)),
    };
    let changed = host.engine.kv_change(KvScope::System, "lease", ttl).await.expect("set");
    assert!(host.payload(changed.emitted.id)["new_object"]["expire_timestamp"].is_string());
    assert_eq!(host.get(&KvScope::System, "lease").as_deref(), Some("soon gone"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(host.get(&KvScope::System, "lease"), None, "expired");
}

#[tokio::test]
async fn a_secret_is_sealed_on_disk_and_masked_in_payloads_and_parameters() {
    let host = start().await;
    let plaintext = "hunter2-very-secret-value";
    let secret = KvChange::Set { value: plaintext.into(), secret: true, ttl: None };
    let changed = host.engine.kv_change(KvScope::System, "alert_token", secret).await.expect("set");
    let payload = host.payload(changed.emitted.id);
    assert_eq!(payload["new_object"]["value"], json!(MASKED_SECRET));
    assert_eq!(payload["new_object"]["secret"], json!(true));
    let [execution] = changed.emitted.executions[..] else { panic!("rule ran") };
    let result = host.result(execution).await;
    assert!(!result.to_string().contains(plaintext), "{result}");
    assert_eq!(host.get(&KvScope::System, "alert_token").as_deref(), Some(MASKED_SECRET));
    let revealed = host
        .engine
        .store()
        .read()
        .expect("read")
        .kv_reveal(&KvScope::System, "alert_token", now_millis())
        .expect("reveal");
    assert_eq!(revealed.as_deref(), Some(plaintext));

    // The plaintext is nowhere in the database file.
    host.engine.clone().shutdown().await;
    let bytes = std::fs::read(host.dir.path().join("squall.redb")).expect("db file");
    let found = bytes.windows(plaintext.len()).any(|w| w == plaintext.as_bytes());
    assert!(!found, "secret stored in clear");
}
