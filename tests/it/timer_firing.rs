//! Timers in the running engine: they fire on their schedule through the
//! rules, and a restart resumes after the last committed firing without
//! firing the same instant twice.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use squall::engine::{Actions, Engine, EngineConfig, Ingest, TriggerTypes};
use squall::pack::Manifest;
use squall::rules::{Rule, RuleIndex};
use squall::store::{Store, StoreConfig, TriggerInstance};
use squall_tests::{CORE_MANIFEST, CORE_PACK, TestRuntime};

struct Host {
    engine: Engine,
    _runtime: TestRuntime,
}

async fn start(dir: &Path, rule: &str) -> Host {
    // A restart follows a shutdown whose last guest tasks may still be
    // letting go of the store on the runtime's own threads; wait for that
    // (briefly) rather than fail on `AlreadyOpen`.
    let deadline = Instant::now() + Duration::from_secs(5);
    let store = loop {
        let opened = Store::open(
            &dir.join("squall.redb"),
            StoreConfig { retention: None, ..StoreConfig::default() },
        );
        match opened {
            Err(squall::store::OpenError::AlreadyOpen { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => break other.expect("store"),
        }
    };
    let runtime = TestRuntime::new();
    let mut actions = Actions::default();
    let manifest = Manifest::load(Path::new(CORE_MANIFEST)).expect("manifest");
    actions.add_pack(&manifest, Arc::new(runtime.load(CORE_PACK, "core"))).expect("actions");
    let rules = RuleIndex::new([Rule::from_yaml(rule, "timer.yaml").expect("rule")]);
    let ingest = Ingest::new(store, Arc::new(TriggerTypes::builtin()), rules, actions);
    let config = EngineConfig { worker_threads: 1, max_running: 4, ..EngineConfig::default() };
    let engine = Engine::start(ingest, config).await.expect("engine");
    Host { engine, _runtime: runtime }
}

fn rule(trigger: &str, parameters: serde_json::Value) -> String {
    format!(
        "name: tick\npack: ops\nenabled: true\ntrigger: {{type: {trigger}, parameters: {parameters}}}\n\
         action: {{ref: core.echo, parameters: {{message: \"{{{{ trigger.executed_at }}}}\"}}}}\n"
    )
}

/// The `executed_at` of every stored firing, in order.
fn firings(engine: &Engine) -> Vec<jiff::Timestamp> {
    let snapshot = engine.store().read().expect("read");
    let instances: Vec<TriggerInstance> = snapshot.trigger_instances(None, 1000).expect("list");
    instances
        .iter()
        .filter(|i| i.trigger.ends_with("_timer"))
        .map(|i| i.payload["executed_at"].as_str().expect("executed_at").parse().expect("instant"))
        .collect()
}

async fn wait_for(engine: &Engine, count: usize) -> Vec<jiff::Timestamp> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let fired = firings(engine);
        if fired.len() >= count {
            return fired;
        }
        assert!(Instant::now() < deadline, "only {} firings", fired.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_interval_timer_fires_every_delta_and_keeps_its_cadence_across_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rule = rule("core.st2.IntervalTimer", json!({"unit": "seconds", "delta": 1}));
    let host = start(dir.path(), &rule).await;
    assert_eq!(host.engine.armed_timers(), 1);
    let before = wait_for(&host.engine, 2).await;
    host.engine.shutdown().await;

    let host = start(dir.path(), &rule).await;
    let after = wait_for(&host.engine, before.len() + 1).await;
    for pair in after.windows(2) {
        let gap = pair[1].duration_since(pair[0]);
        assert!(gap.as_secs() >= 1, "instants fired twice or too soon: {after:?}");
        assert_eq!(gap.subsec_nanos() % 1_000_000, 0);
        assert_eq!(gap.as_millis() % 1000, 0, "the cadence is kept: {after:?}");
    }
    // Every firing started its rule's action with the instant it fired for.
    let snapshot = host.engine.store().read().expect("read");
    let instance = snapshot.trigger_instances(None, 1).expect("list").remove(0);
    let execution = snapshot
        .execution(instance.decisions[0].execution.expect("execution"))
        .expect("read")
        .expect("exists");
    assert_eq!(execution.parameters["message"], instance.payload["executed_at"]);
}

#[tokio::test]
async fn a_date_timer_fires_once_and_not_again_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let at = jiff::Timestamp::now() + jiff::SignedDuration::from_millis(700);
    let at = at.round(jiff::Unit::Millisecond).expect("round");
    let rule = rule("core.st2.DateTimer", json!({"date": at.to_string(), "timezone": "UTC"}));
    let host = start(dir.path(), &rule).await;
    assert_eq!(wait_for(&host.engine, 1).await, [at]);
    host.engine.shutdown().await;

    let host = start(dir.path(), &rule).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(firings(&host.engine), [at], "the same instant never fires twice");
}

#[tokio::test]
async fn a_date_that_passed_while_the_host_started_fires_within_the_grace_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let recent = (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(2))
        .round(jiff::Unit::Millisecond)
        .expect("round");
    let missed = rule("core.date_timer", json!({"date": recent.to_string(), "timezone": "UTC"}));
    let host = start(dir.path(), &missed).await;
    assert_eq!(wait_for(&host.engine, 1).await, [recent], "missed by 2 s: fires");
    host.engine.shutdown().await;

    let dir = tempfile::tempdir().expect("tempdir");
    let old = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(120);
    let stale = rule("core.date_timer", json!({"date": old.to_string(), "timezone": "UTC"}));
    let host = start(dir.path(), &stale).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(firings(&host.engine).is_empty(), "missed by 2 minutes, past the grace: never fires");
}

#[tokio::test]
async fn a_cron_timer_fires_on_whole_seconds_in_its_time_zone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rule = rule("core.cron_timer", json!({"second": "*", "timezone": "Asia/Kolkata"}));
    let host = start(dir.path(), &rule).await;
    let fired = wait_for(&host.engine, 2).await;
    for instant in &fired {
        assert_eq!(instant.subsec_nanosecond(), 0, "{fired:?}");
    }
    assert_eq!(fired[1].duration_since(fired[0]).as_secs(), 1);
}
