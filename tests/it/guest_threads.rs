//! Runaway guests hold no shared thread: with looping webhook-sensor calls
//! and looping actions running, the API (here on one thread of the test's
//! own) keeps answering, an unrelated `core.echo` finishes within a second,
//! every loop is stopped within its deadline plus 200 ms, and one pack's
//! loops stay within its per-pack limits while the others' work passes.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use squall::api::{ApiState, create_api_key, router};
use squall::engine::{
    Actions, Catalog, Engine, EngineConfig, Ingest, WebhookSensor, WebhookSensors,
};
use squall::pack::Manifest;
use squall::runtime::Limits;
use squall::store::{Execution, ExecutionStatus, Millis};
use squall_tests::{CORE_MANIFEST, CORE_PACK, HOSTILE_GUEST, TestRuntime};
use tower::ServiceExt as _;

use crate::api::{add_user, json_body};
use crate::engine::open_store;

/// The deadline of every loop here.
const DEADLINE: Duration = Duration::from_secs(3);

/// What the issue allows a deadline to be late by.
const LATE: Duration = Duration::from_millis(200);

/// The hostile guest as a pack whose `spin` action loops until stopped.
const HOSTILE_MANIFEST: &str = r#"
name = "hostile"
version = "0.1.0"
description = "Guests that misbehave"
publisher = "Squall tests"

[actions.spin]
description = "Loops until its deadline stops it"
parameters = { type = "object" }
policy = { timeout = "3s", on_crash = "abandon" }

[actions.counter]
description = "Returns at once"
parameters = { type = "object" }
"#;

/// An engine with the core pack and the hostile pack (its `hook` sensor
/// under `webhooks/hostile`), at most `per_pack` of one pack's executions
/// and 2 of its webhook calls at once, on one engine thread, and the API in
/// front.
struct Host {
    engine: Engine,
    router: Router,
    key: String,
    _runtime: TestRuntime,
    dir: tempfile::TempDir,
}

impl Host {
    async fn start(per_pack: usize) -> Self {
        Self::start_in(tempfile::tempdir().expect("tempdir"), per_pack).await
    }

    async fn start_in(dir: tempfile::TempDir, per_pack: usize) -> Self {
        let store = open_store(dir.path());
        let runtime = TestRuntime::new();
        let core = Manifest::load(Path::new(CORE_MANIFEST)).expect("core manifest");
        let hostile = Manifest::from_toml(HOSTILE_MANIFEST, Path::new("hostile/pack.toml"))
            .expect("hostile manifest");
        let hostile_component = Arc::new(runtime.load(HOSTILE_GUEST, "hostile"));
        let mut actions = Actions::default();
        actions.add_pack(&core, Arc::new(runtime.load(CORE_PACK, "core"))).expect("core");
        actions.add_pack(&hostile, hostile_component.clone()).expect("hostile");
        let catalog = Catalog::load(&store).expect("catalog");
        let ingest =
            Ingest::new(store.clone(), Arc::new(catalog.trigger_types), catalog.rules, actions);
        let config = EngineConfig {
            worker_threads: 1,
            max_running: 8,
            max_running_per_pack: Some(per_pack),
            webhook_calls_per_pack: 2,
            ..EngineConfig::default()
        };
        let engine = Engine::start(ingest, config).await.expect("engine");
        let mut sensors = WebhookSensors::new();
        sensors.insert(
            "hostile".into(),
            WebhookSensor {
                component: hostile_component,
                name: "hook".into(),
                limits: Limits { timeout: DEADLINE, ..Limits::default() },
            },
        );
        engine.set_webhook_sensors(sensors);
        if store.read().expect("read").user("admin").expect("user").is_none() {
            add_user(&store, "admin", &["system_admin"], None).await;
        }
        let (_, key) = create_api_key(&store, "admin", "admin", Vec::new()).await.expect("key");
        let router = router(ApiState::new(engine.clone(), [core, hostile]));
        Self { engine, router, key, _runtime: runtime, dir }
    }

    /// Stops the engine as a shutdown does (what runs is cut short) and
    /// hands back its data directory.
    async fn stop(self) -> tempfile::TempDir {
        let Self { engine, router, dir, .. } = self;
        drop(router);
        engine.shutdown().await;
        dir
    }

    /// Sends a request through the router with the admin key.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.key))
            .header(header::CONTENT_TYPE, "application/json");
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        let response = self
            .router
            .clone()
            .oneshot(request.body(body).expect("request"))
            .await
            .expect("infallible");
        let status = response.status();
        (status, json_body(response).await)
    }

    /// Requests `action` through the API; its execution id.
    async fn run(&self, action: &str, parameters: Value) -> String {
        let request = json!({"action": action, "parameters": parameters});
        let (status, body) = self.call(Method::POST, "/api/v1/executions", Some(request)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().expect("id").to_owned()
    }

    fn execution(&self, id: &str) -> Execution {
        let snapshot = self.engine.store().read().expect("read");
        snapshot.execution(id.parse().expect("uuid")).expect("read").expect("stored")
    }

    /// Waits (up to `within`) until `id` is in one of `statuses`.
    async fn until(&self, id: &str, statuses: &[ExecutionStatus], within: Duration) -> Execution {
        let started = Instant::now();
        loop {
            let execution = self.execution(id);
            if statuses.contains(&execution.status) {
                return execution;
            }
            assert!(started.elapsed() < within, "{id} still {:?}", execution.status);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Milliseconds `execution` ran, by its record.
fn ran(execution: &Execution) -> Millis {
    execution.finished_at.expect("finished") - execution.started_at.expect("started")
}

#[tokio::test]
async fn runaway_guests_hold_no_shared_thread_and_stop_at_their_deadlines() {
    let host = Arc::new(Host::start(4).await);
    // Warm up: the first call of each kind pays for lazy set-up.
    let warm = host.run("core.echo", json!({"message": "warm"})).await;
    host.until(&warm, &[ExecutionStatus::Succeeded], Duration::from_secs(10)).await;

    // Five looping webhook calls: two run, two wait for them, one is refused.
    let mut hooks = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let host = host.clone();
        hooks.spawn(async move {
            let started = Instant::now();
            let (status, body) =
                host.call(Method::POST, "/api/v1/webhooks/hostile?spin", Some(json!({}))).await;
            (status, body, started.elapsed())
        });
    }
    // Six looping actions: four run, two wait on the queue for their pack.
    let mut spins = Vec::new();
    for _ in 0..6 {
        spins.push(host.run("hostile.spin", json!({})).await);
    }
    let looping_since = Instant::now();
    let count = |status| spins.iter().filter(|id| host.execution(id).status == status).count();
    while count(ExecutionStatus::Running) < 4 {
        assert!(looping_since.elapsed() < Duration::from_secs(1), "the loops did not start");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let counts = (count(ExecutionStatus::Running), count(ExecutionStatus::Requested));
    assert_eq!(counts, (4, 2), "the pack runs at most 4 at once; the rest wait");

    // Health keeps answering while every loop runs.
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let probe = Instant::now();
        let (status, _) = host.call(Method::GET, "/api/v1/health", None).await;
        assert_eq!(status, StatusCode::OK);
        slowest = slowest.max(probe.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(slowest < Duration::from_secs(1), "a health probe took {slowest:?}");

    // An unrelated action finishes within a second.
    let asked = Instant::now();
    let echo = host.run("core.echo", json!({"message": "still here"})).await;
    let echoed = host.until(&echo, &[ExecutionStatus::Succeeded], Duration::from_secs(1)).await;
    let echo_took = asked.elapsed();
    assert_eq!(echoed.result, Some(json!({"message": "still here"})));
    assert!(looping_since.elapsed() < DEADLINE, "the loops ended before the echo was checked");

    // Every loop stops at its deadline.
    let mut overshoot = Vec::new();
    for id in &spins {
        let done = host
            .until(id, &[ExecutionStatus::Timeout], 2 * DEADLINE + Duration::from_secs(2))
            .await;
        let ran = Duration::from_millis(u64::try_from(ran(&done)).expect("ran forward"));
        assert!(ran >= DEADLINE && ran <= DEADLINE + LATE, "{id} ran {ran:?}");
        overshoot.push(ran - DEADLINE);
    }
    let (first, later) = spins.split_at(4);
    let first_ended = first.iter().map(|id| host.execution(id).finished_at).min().flatten();
    for id in later {
        assert!(host.execution(id).started_at >= first_ended, "{id} started before a slot freed");
    }

    let mut answers: Vec<(StatusCode, Value, Duration)> = hooks.join_all().await;
    answers.sort_by_key(|(_, _, took)| *took);
    let refused = &answers[0];
    assert_eq!(refused.0, StatusCode::SERVICE_UNAVAILABLE, "{}", refused.1);
    assert!(refused.1["error"].as_str().is_some_and(|e| e.contains("runs 2 webhook calls")));
    for (status, body, took) in &answers[1..3] {
        assert_eq!(*status, StatusCode::BAD_GATEWAY, "{body}");
        assert!(*took >= DEADLINE && *took <= DEADLINE + LATE, "a webhook loop took {took:?}");
        overshoot.push(*took - DEADLINE);
    }
    for (status, body, took) in &answers[3..] {
        assert_eq!(*status, StatusCode::BAD_GATEWAY, "{body}");
        assert!(*took >= 2 * DEADLINE - LATE, "a waiting webhook call ran early: {took:?}");
    }
    overshoot.sort();
    println!(
        "guest threads: 2 webhook + 4 action loops of {DEADLINE:?}: health slowest {slowest:?}, \
         echo {echo_took:?}, deadline overshoot min {:?} median {:?} max {:?}",
        overshoot[0],
        overshoot[overshoot.len() / 2],
        overshoot[overshoot.len() - 1],
    );
}

#[tokio::test]
async fn deadlines_fire_on_time_when_every_sandbox_slot_loops() {
    // 48 loops on the runtime's guest threads (two on the test machines):
    // each gets a slice every 24 ticks or so, yet each must stop at its own
    // deadline, since the caller keeps it.
    const LOOPS: usize = 48;
    let deadline = Duration::from_secs(1);
    // Room for every loop and one more call.
    let runtime = TestRuntime::with_pool(LOOPS as u32 + 1);
    let hostile = Arc::new(runtime.load(HOSTILE_GUEST, "hostile"));
    let limits = Limits { timeout: deadline, ..Limits::default() };
    let mut loops = tokio::task::JoinSet::new();
    for _ in 0..LOOPS {
        let (hostile, limits) = (hostile.clone(), limits.clone());
        loops.spawn(async move {
            let started = Instant::now();
            let invocation =
                hostile.run_action(&squall_tests::request("spin", "{}"), &limits).await;
            (invocation.result, started.elapsed())
        });
    }
    // A call that needs a little guest time gets it while they loop (how
    // soon depends on how many loop per guest thread; printed, not asserted).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = Instant::now();
    let counted = hostile.run_action(&squall_tests::request("counter", "{}"), &limits).await;
    let counter_took = asked.elapsed();
    assert_eq!(counted.result, Ok(r#"{"calls":1}"#.to_owned()));

    let mut overshoot: Vec<Duration> = Vec::new();
    for (result, took) in loops.join_all().await {
        assert_eq!(result, Err(squall::runtime::InvokeError::Timeout { limit: deadline }));
        assert!(took >= deadline && took <= deadline + LATE, "a loop stopped after {took:?}");
        overshoot.push(took - deadline);
    }
    overshoot.sort();
    println!(
        "guest threads: {LOOPS} loops of {deadline:?} on {} guest threads: short call \
         {counter_took:?}, deadline overshoot min {:?} median {:?} max {:?}",
        std::thread::available_parallelism().map_or(2, usize::from),
        overshoot[0],
        overshoot[LOOPS / 2],
        overshoot[LOOPS - 1],
    );
}

#[tokio::test]
async fn an_execution_held_for_its_pack_runs_after_a_restart() {
    let host = Host::start(1).await;
    let spin = host.run("hostile.spin", json!({})).await;
    host.until(&spin, &[ExecutionStatus::Running], Duration::from_secs(2)).await;
    let held = host.run("hostile.counter", json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(host.execution(&held).status, ExecutionStatus::Requested, "the pack is full");

    // A restart forgets who was held; the queue does not.
    let dir = host.stop().await;
    let host = Host::start_in(dir, 1).await;
    let abandoned = host.until(&spin, &[ExecutionStatus::Abandoned], Duration::from_secs(2)).await;
    assert_eq!(abandoned.error.as_deref(), Some("the host stopped while it ran; not retried"));
    let ran = host.until(&held, &[ExecutionStatus::Succeeded], Duration::from_secs(10)).await;
    assert_eq!(ran.result, Some(json!({"calls": 1})));
    let snapshot = host.engine.store().read().expect("read");
    assert_eq!(snapshot.queued_executions().expect("queued"), 0, "no entry is left behind");
}
