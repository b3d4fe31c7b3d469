//! Poll sensors through the engine: events and cursor commit together, a
//! restart resumes where the last commit left off, a bad event commits
//! nothing.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use squall::engine::{
    Actions, Ingest, PollError, PollSensor, Poller, TriggerType, TriggerTypes, poll_once,
};
use squall::rules::RuleIndex;
use squall::runtime::Limits;
use squall::store::{Store, StoreConfig, TriggerInstanceStatus};
use squall_tests::{HOSTILE_GUEST, TestRuntime};

fn types() -> TriggerTypes {
    let mut types = TriggerTypes::builtin();
    types
        .register(TriggerType {
            name: "hostile.tick".into(),
            description: "a numbered tick".into(),
            payload_schema: json!({"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}),
            parameters_schema: None,
        })
        .expect("tick schema");
    types
}

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(
        &dir.path().join("squall.redb"),
        StoreConfig { retention: None, ..Default::default() },
    )
    .expect("store")
}

/// Decides events against `types` with no rules: instances commit processed
/// and start nothing.
fn ingest(store: &Store, types: TriggerTypes) -> Ingest {
    Ingest::new(store.clone(), Arc::new(types), RuleIndex::default(), Actions::default())
}

fn ticks(runtime: &TestRuntime, batch: u64) -> PollSensor {
    PollSensor {
        component: Arc::new(runtime.load(HOSTILE_GUEST, "hostile")),
        name: "ticks".into(),
        config: json!({"batch": batch}),
        limits: Limits::default(),
    }
}

/// The `n` of every committed tick, in commit order.
fn committed_ticks(store: &Store) -> Vec<u64> {
    ticks_in(&store.read().expect("snapshot"))
}

fn ticks_in(snapshot: &squall::store::Snapshot) -> Vec<u64> {
    let instances = snapshot.trigger_instances(None, 10_000).expect("list");
    assert!(
        instances
            .iter()
            .all(|i| i.trigger == "hostile.tick" && i.status == TriggerInstanceStatus::Processed)
    );
    instances.iter().map(|i| i.payload["n"].as_u64().expect("n")).collect()
}

#[tokio::test]
async fn a_restart_resumes_from_the_committed_cursor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = TestRuntime::new();
    let types = types();
    {
        let store = open(&dir);
        let first =
            poll_once(&ingest(&store, types.clone()), &ticks(&runtime, 2)).await.expect("poll");
        assert_eq!((first.committed.len(), first.cursor.as_deref()), (2, Some("2")));
        let second =
            poll_once(&ingest(&store, types.clone()), &ticks(&runtime, 3)).await.expect("poll");
        assert_eq!(second.cursor.as_deref(), Some("5"));
    }
    let store = open(&dir);
    poll_once(&ingest(&store, types), &ticks(&runtime, 1)).await.expect("poll after restart");
    assert_eq!(committed_ticks(&store), [1, 2, 3, 4, 5, 6]);
    assert_eq!(
        store.read().expect("snapshot").sensor_cursor("hostile.ticks").expect("cursor"),
        Some("6".into())
    );
}

#[tokio::test]
async fn an_event_that_fails_its_schema_commits_nothing_and_keeps_the_cursor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = TestRuntime::new();
    let store = open(&dir);
    let mut strict = types();
    strict
        .register(TriggerType {
            name: "hostile.tick".into(),
            description: "ticks below 3".into(),
            payload_schema: json!({"type": "object", "properties": {"n": {"type": "integer", "maximum": 2}}}),
            parameters_schema: None,
        })
        .expect("schema");
    let error = poll_once(&ingest(&store, strict), &ticks(&runtime, 3))
        .await
        .expect_err("tick 3 is refused");
    assert!(matches!(error, PollError::Event { index: 2, .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "sensor hostile.ticks: event 2: trigger type `hostile.tick`: payload at `/n`: 3 is greater than the maximum of 2"
    );
    assert_eq!(committed_ticks(&store), Vec::<u64>::new());
    assert_eq!(
        store.read().expect("snapshot").sensor_cursor("hostile.ticks").expect("cursor"),
        None
    );

    // An event of a trigger type nobody registered is refused the same way.
    let unknown = poll_once(&ingest(&store, TriggerTypes::builtin()), &ticks(&runtime, 1))
        .await
        .expect_err("unknown type");
    assert_eq!(
        unknown.to_string(),
        "sensor hostile.ticks: event 0: unknown trigger type `hostile.tick`"
    );
}

#[tokio::test]
async fn a_poller_polls_on_its_interval_without_gaps_or_repeats() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = TestRuntime::new();
    let store = open(&dir);
    let poller =
        Poller::spawn(ingest(&store, types()), ticks(&runtime, 2), Duration::from_millis(20));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while committed_ticks(&store).len() < 10 {
        assert!(std::time::Instant::now() < deadline, "the poller did not poll");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(poller);
    // Let a poll that was already committing finish before counting.
    tokio::time::sleep(Duration::from_millis(100)).await;
    // One snapshot for both: events and cursor were committed together.
    let snapshot = store.read().expect("snapshot");
    let ticks = ticks_in(&snapshot);
    let expected: Vec<u64> = (1..=ticks.len() as u64).collect();
    assert_eq!(ticks, expected, "ticks must be contiguous from 1");
    let cursor = snapshot.sensor_cursor("hostile.ticks").expect("cursor");
    assert_eq!(cursor, Some(ticks.len().to_string()));
}
