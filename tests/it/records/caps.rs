//! The store keeps to its caps: parameters over theirs are refused, a
//! result, logs, error text or engine-made payload over theirs is stored
//! truncated behind a marker with the original size; heads are read
//! newest first by a reverse range and counted without being read.

use std::time::Duration;

use serde_json::{Value, json};
use squall::store::{
    Execution, ExecutionLog, ExecutionStatus, RecordLimits, Retention, Store, StoreConfig,
    TriggerInstance, WriteError, now_millis,
};

const LIMITS: RecordLimits = RecordLimits {
    payload_bytes: 1024,
    parameters_bytes: 1024,
    result_bytes: 1024,
    logs_bytes: 200,
    error_bytes: 64,
};

fn open(dir: &tempfile::TempDir) -> Store {
    let config = StoreConfig { retention: None, limits: LIMITS, ..StoreConfig::default() };
    Store::open(&dir.path().join("squall.redb"), config).expect("open store")
}

fn echo(message: &str) -> Execution {
    Execution::new("core.echo", json!({"message": message}))
}

#[tokio::test]
async fn outputs_over_their_caps_are_stored_truncated_and_say_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let mut execution = echo("small");
    store
        .write({
            let e = execution.clone();
            move |tx| tx.insert_execution(&e, false)
        })
        .await
        .expect("insert");
    let big = "r".repeat(10_000);
    execution.status = ExecutionStatus::Succeeded;
    execution.result = Some(json!({"message": big}));
    execution.error = Some("e".repeat(100));
    execution.logs = (0..20)
        .map(|i| ExecutionLog {
            level: "info".into(),
            message: format!("line {i:02} {}", "l".repeat(30)),
        })
        .collect();
    store
        .write({
            let e = execution.clone();
            move |tx| tx.update_execution(&e)
        })
        .await
        .expect("update");

    let stored = store.read().expect("read").execution(execution.id).expect("read").expect("kept");
    let result = stored.result.expect("result");
    assert_eq!(result["truncated"], true);
    assert_eq!(result["original_bytes"], 10_014, "the size of {{\"message\": ...}} as JSON");
    assert_eq!(result["cap_bytes"], 1024);
    assert!(result["head"].as_str().is_some_and(|h| h.starts_with("{\"message\":\"rrr")));
    assert_eq!(stored.parameters, json!({"message": "small"}), "parameters are whole");
    let error = stored.error.expect("error");
    assert!(
        error.starts_with(&"e".repeat(64)) && error.contains("[truncated: 100 bytes"),
        "{error}"
    );
    let last = stored.logs.last().expect("logs");
    assert!(stored.logs.len() < 20 && last.level == "warn", "{:?}", stored.logs);
    assert!(last.message.contains("more log lines") && last.message.contains("200 bytes cap"));
    assert_eq!(stored.status, ExecutionStatus::Succeeded, "the action did run");
}

#[tokio::test]
async fn parameters_over_the_cap_are_refused_naming_it_and_nothing_is_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let refused = echo(&"p".repeat(2000));
    let kept = echo("fits");
    let error = store
        .write({
            let e = refused.clone();
            move |tx| tx.insert_execution(&e, true)
        })
        .await
        .expect_err("refused");
    let kept_write = store.write({
        let e = kept.clone();
        move |tx| tx.insert_execution(&e, true)
    });
    kept_write.await.expect("a batch mate commits");
    let WriteError::Invalid { field, message } = error else { panic!("{error:?}") };
    assert_eq!(field, "parameters");
    assert_eq!(message, "parameters: 2.0 KiB as JSON, over the 1 KiB cap on stored parameters");
    let snapshot = store.read().expect("read");
    assert_eq!(snapshot.execution(refused.id).expect("read"), None);
    assert_eq!(snapshot.queued_executions().expect("queue"), 1);
    assert_eq!(LIMITS.check_parameters(&json!({"message": "fits"})), Ok(()));
}

#[tokio::test]
async fn a_payload_over_the_cap_is_stored_truncated_and_enforcement_errors_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let mut instance =
        TriggerInstance::new("core.execution_finished", json!({"result": "x".repeat(5000)}));
    instance.decisions.push(squall::store::RuleEnforcement {
        rule: "ops.big".into(),
        execution: None,
        error: Some("parameters: ".to_owned() + &"z".repeat(500)),
    });
    store
        .write({
            let i = instance.clone();
            move |tx| tx.insert_trigger_instance(&i)
        })
        .await
        .expect("insert");
    let stored =
        store.read().expect("read").trigger_instance(instance.id).expect("read").expect("kept");
    assert_eq!(stored.payload["truncated"], true);
    assert_eq!(stored.payload["original_bytes"], 5013);
    let error = stored.decisions[0].error.as_deref().expect("error");
    assert!(error.len() < 200 && error.contains("truncated"), "{error}");
}

#[tokio::test]
async fn heads_are_read_newest_first_from_a_reverse_range_and_counted_without_reading() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let executions: Vec<Execution> = (0..10).map(|i| echo(&format!("m{i}"))).collect();
    store
        .write({
            let all = executions.clone();
            move |tx| all.iter().try_for_each(|e| tx.insert_execution(e, false))
        })
        .await
        .expect("insert");
    let snapshot = store.read().expect("read");
    assert_eq!(snapshot.execution_count().expect("count"), 10);
    assert_eq!(snapshot.trigger_instance_count().expect("count"), 0);
    let (all, none) = (uuid::Uuid::nil(), uuid::Uuid::max());
    let heads: Vec<Execution> =
        snapshot.executions_newest_first(all, none).expect("range").map(Result::unwrap).collect();
    let ids: Vec<_> = heads.iter().map(|e| e.id).collect();
    let expected: Vec<_> = executions.iter().rev().map(|e| e.id).collect();
    assert_eq!(ids, expected);
    assert!(heads.iter().all(|h| h.parameters == Value::Null), "heads carry no body");
    let body = snapshot.execution_body(ids[0]).expect("read").expect("body");
    assert_eq!(body.parameters, json!({"message": "m9"}));

    let mut rows = snapshot.executions_newest_first(all, none).expect("range");
    assert_eq!(rows.skip_records(7).expect("skip"), 7);
    let rest: Vec<_> = rows.map(|e| e.expect("decodes").id).collect();
    assert_eq!(rest, expected[7..]);
    // A range inside the table: from the third to the sixth.
    let (oldest, newest) = (executions[2].id, executions[5].id);
    let inside: Vec<_> = snapshot
        .executions_newest_first(oldest, newest)
        .expect("range")
        .map(|e| e.expect("decodes").id)
        .collect();
    assert_eq!(inside, [executions[5].id, executions[4].id, executions[3].id, executions[2].id]);
    assert_eq!(snapshot.executions_newest_first(newest, oldest).expect("empty").count(), 0);
}

#[tokio::test]
async fn retention_deletes_bodies_with_their_heads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let now = now_millis();
    let mut done = echo("gone soon");
    done.status = ExecutionStatus::Succeeded;
    done.finished_at = Some(now);
    let instance = TriggerInstance {
        status: squall::store::TriggerInstanceStatus::Processed,
        ..TriggerInstance::new("core.webhook", json!({"body": "b"}))
    };
    store
        .write({
            let (done, instance) = (done.clone(), instance.clone());
            move |tx| {
                tx.insert_execution(&done, false)?;
                tx.insert_trigger_instance(&instance)
            }
        })
        .await
        .expect("insert");
    let retention = Retention {
        trigger_instances: Duration::ZERO,
        executions: Duration::ZERO,
        interval: Duration::from_secs(3600),
    };
    let collected = store.collect_garbage(&retention, now + 1000).await.expect("collect");
    assert_eq!((collected.executions, collected.trigger_instances), (1, 1));
    let snapshot = store.read().expect("read");
    assert_eq!(snapshot.execution_body(done.id).expect("read"), None);
    assert_eq!(snapshot.trigger_payload(instance.id).expect("read"), None);
}
