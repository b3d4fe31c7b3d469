//! Webhooks through the engine: a plain webhook becomes a `core.webhook`
//! instance that rules match by `url`; a pack's webhook sensor turns a
//! request into its own events and answer; nothing is answered before it is
//! committed, and a refused request commits nothing.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use squall::engine::{
    Actions, Engine, EngineConfig, Ingest, TriggerType, TriggerTypes, WebhookError, WebhookSensor,
    WebhookSensors,
};
use squall::pack::Manifest;
use squall::rules::{Rule, RuleIndex};
use squall::runtime::{Limits, WebhookRequest};
use squall::store::{ExecutionStatus, Store, StoreConfig};
use squall_tests::{CORE_MANIFEST, CORE_PACK, HOSTILE_GUEST, TestRuntime};

const ALERT_RULE: &str = r#"
name: disk_alert
pack: ops
enabled: true
trigger: {type: core.st2.webhook, parameters: {url: alerts/disk}}
criteria:
  trigger.body.used: {type: greaterthan, pattern: 0.9}
  trigger.headers.x-source: {type: equals, pattern: prometheus}
action:
  ref: core.echo
  parameters: {message: "clean {{ trigger.body.mount }}"}
"#;

const HOOK_RULE: &str = r#"
name: on_hook
pack: ops
enabled: true
trigger: {type: hostile.hook}
criteria:
  trigger.query: {type: contains, pattern: "env=prod"}
action:
  ref: core.echo
  parameters: {message: "{{ trigger.method }} {{ trigger.path }}"}
"#;

struct Host {
    engine: Engine,
    _runtime: TestRuntime,
    _dir: tempfile::TempDir,
}

/// A host with the core pack, the two rules and the hostile guest's `hook`
/// sensor under `webhooks/hostile`; `hook_type` registers its trigger type.
async fn start(hook_type: bool) -> Host {
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
    if hook_type {
        types
        .register(TriggerType {
            name: "hostile.hook".into(),
            description: "a request the hook sensor saw".into(),
            payload_schema: json!({"type": "object", "required": ["method", "path", "query", "body"]}),
            parameters_schema: None,
        })
        .expect("hook type");
    }
    let rules = RuleIndex::new(
        [("alert.yaml", ALERT_RULE), ("hook.yaml", HOOK_RULE)]
            .map(|(file, yaml)| Rule::from_yaml(yaml, file).expect("rule")),
    );
    let ingest = Ingest::new(store, Arc::new(types), rules, actions);
    let engine = Engine::start(
        ingest,
        EngineConfig { worker_threads: 1, max_running: 4, ..EngineConfig::default() },
    )
    .await
    .expect("engine");
    let hostile = Arc::new(runtime.load(HOSTILE_GUEST, "hostile"));
    let mut sensors = WebhookSensors::new();
    sensors.insert(
        "hostile".into(),
        WebhookSensor { component: hostile, name: "hook".into(), limits: Limits::default() },
    );
    engine.set_webhook_sensors(sensors);
    Host { engine, _runtime: runtime, _dir: dir }
}

fn request(headers: &[(&str, &str)], body: &str) -> WebhookRequest {
    WebhookRequest {
        method: "POST".into(),
        path: "/api/v1/webhooks/x".into(),
        query: String::new(),
        headers: headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        body: body.as_bytes().to_vec(),
    }
}

impl Host {
    async fn succeeded(&self, id: uuid::Uuid) -> squall::store::Execution {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let snapshot = self.engine.store().read().expect("read");
            let execution = snapshot.execution(id).expect("read").expect("exists");
            if execution.status.is_finished() {
                assert_eq!(execution.status, ExecutionStatus::Succeeded, "{execution:?}");
                return execution;
            }
            assert!(Instant::now() < deadline, "execution stuck");
            drop(snapshot);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn stored_instances(&self) -> usize {
        self.engine.store().read().expect("read").trigger_instances(None, 100).expect("list").len()
    }
}

#[tokio::test]
async fn a_plain_webhook_is_committed_with_body_and_headers_and_answered_202() {
    let host = start(true).await;
    let reply = host
        .engine
        .webhook(
            "alerts/disk",
            &request(
                &[("Content-Type", "application/json"), ("X-Source", "prometheus")],
                r#"{"mount": "/var", "used": 0.95}"#,
            ),
        )
        .await
        .expect("accepted");
    assert_eq!(reply.response.status, 202);
    let [emitted] = &reply.emitted[..] else { panic!("one instance") };
    let body: Value = serde_json::from_slice(&reply.response.body).expect("JSON answer");
    assert_eq!(
        body,
        json!({"trigger_instances": [emitted.id.to_string()], "executions": [emitted.executions[0].to_string()]})
    );

    let snapshot = host.engine.store().read().expect("read");
    let instance = snapshot.trigger_instance(emitted.id).expect("read").expect("committed");
    assert_eq!(instance.trigger, "core.webhook");
    assert_eq!(instance.parameters["url"], json!("alerts/disk"));
    assert_eq!(instance.payload["headers"]["x-source"], json!("prometheus"));
    assert_eq!(instance.payload["body"], json!({"mount": "/var", "used": 0.95}));
    drop(snapshot);
    let execution = host.succeeded(emitted.executions[0]).await;
    assert_eq!(execution.result, Some(json!({"message": "clean /var"})));
}

#[tokio::test]
async fn a_webhook_nobody_listens_to_is_refused_and_nothing_is_stored() {
    let host = start(true).await;
    let error = host.engine.webhook("alerts/cpu", &request(&[], "{}")).await.expect_err("unknown");
    assert_eq!(error, WebhookError::Unknown("alerts/cpu".into()));
    assert_eq!(host.stored_instances(), 0);
}

#[tokio::test]
async fn a_body_that_is_not_what_its_content_type_says_is_refused() {
    let host = start(true).await;
    let error = host
        .engine
        .webhook("alerts/disk", &request(&[("content-type", "application/json")], "{not json"))
        .await
        .expect_err("bad JSON");
    assert!(
        error.to_string().starts_with("body: content type is JSON but the body is not: "),
        "{error}"
    );
    // Text without a JSON content type is kept as text.
    let reply = host
        .engine
        .webhook("alerts/disk", &request(&[("content-type", "text/plain")], "disk at 95%"))
        .await
        .expect("text body");
    let snapshot = host.engine.store().read().expect("read");
    let instance = snapshot.trigger_instance(reply.emitted[0].id).expect("read").expect("stored");
    assert_eq!(instance.payload["body"], json!("disk at 95%"));
    assert_eq!(host.stored_instances(), 1);
}

#[tokio::test]
async fn a_pack_webhook_sensor_answers_for_itself_and_its_events_fire_rules() {
    let host = start(true).await;
    let mut hook = request(&[("X-Signature", "sha256=abc")], "payload");
    hook.query = "env=prod".into();
    let reply = host.engine.webhook("hostile", &hook).await.expect("sensor accepted");
    assert_eq!(reply.response.status, 202);
    assert_eq!(reply.response.body, b"queued");
    let [emitted] = &reply.emitted[..] else { panic!("one event") };
    let snapshot = host.engine.store().read().expect("read");
    let instance = snapshot.trigger_instance(emitted.id).expect("read").expect("committed");
    assert_eq!(instance.trigger, "hostile.hook");
    assert_eq!(instance.payload["signature"], json!("sha256=abc"));
    drop(snapshot);
    let execution = host.succeeded(emitted.executions[0]).await;
    assert_eq!(execution.result, Some(json!({"message": "POST /api/v1/webhooks/x"})));
}

#[tokio::test]
async fn a_failing_webhook_sensor_commits_nothing() {
    let host = start(true).await;
    let runtime = TestRuntime::new();
    let mut broken = WebhookSensors::new();
    broken.insert(
        "broken".into(),
        WebhookSensor {
            component: Arc::new(runtime.load(HOSTILE_GUEST, "hostile")),
            name: "no-such-sensor".into(),
            limits: Limits::default(),
        },
    );
    host.engine.set_webhook_sensors(broken);
    let error = host.engine.webhook("broken", &request(&[], "x")).await.expect_err("refused");
    assert!(matches!(error, WebhookError::Sensor { .. }), "{error:?}");
    assert_eq!(host.stored_instances(), 0);
}

#[tokio::test]
async fn a_sensor_event_of_an_unknown_trigger_type_refuses_the_request() {
    let host = start(false).await;
    let error = host.engine.webhook("hostile", &request(&[], "x")).await.expect_err("refused");
    assert_eq!(
        error.to_string(),
        "webhook sensor hostile.hook: event 0: unknown trigger type `hostile.hook`"
    );
    assert_eq!(host.stored_instances(), 0);
}
