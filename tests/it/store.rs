//! The store: group commit, durability across reopen, typed tables,
//! retention — all against a real redb file.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use squall::store::{
    AuditEvent, Execution, ExecutionStatus, KvScope, MASKED_SECRET, OpenError, Retention, Store,
    StoreConfig, TriggerInstance, TriggerInstanceStatus, WriteError, now_millis,
};

fn open(dir: &tempfile::TempDir) -> Store {
    let config = StoreConfig { retention: None, ..StoreConfig::default() };
    Store::open(&dir.path().join("squall.redb"), config).expect("open store")
}

fn instance(status: TriggerInstanceStatus) -> TriggerInstance {
    TriggerInstance {
        status,
        ..TriggerInstance::new("core.webhook", json!({"body": {"disk": "/var"}}))
    }
}

fn execution(status: ExecutionStatus, finished_at: Option<i64>) -> Execution {
    Execution { status, finished_at, ..Execution::new("core.noop", json!({})) }
}

#[tokio::test]
async fn an_event_and_the_executions_it_starts_commit_together_and_survive_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let event = instance(TriggerInstanceStatus::Pending);
    store
        .write({
            let event = event.clone();
            move |tx| tx.insert_trigger_instance(&event)
        })
        .await
        .expect("insert event");

    let mut started = execution(ExecutionStatus::Requested, None);
    started.trigger_instance = Some(event.id);
    started.rule = Some("ops.clean_disk".into());
    store
        .write({
            let (id, started) = (event.id, started.clone());
            move |tx| {
                tx.mark_trigger_instance_processed(id)?;
                tx.insert_execution(&started, true)
            }
        })
        .await
        .expect("rule decision");
    drop(store);

    let store = open(&dir);
    let snapshot = store.read().expect("snapshot");
    let stored = snapshot.trigger_instance(event.id).expect("read").expect("event kept");
    assert_eq!(stored.status, TriggerInstanceStatus::Processed);
    assert_eq!(stored.payload, event.payload);
    assert_eq!(snapshot.execution(started.id).expect("read"), Some(started.clone()));
    assert_eq!(snapshot.queued_executions().expect("queue"), 1);
    let taken = store.write(|tx| tx.dequeue_executions(now_millis(), 10)).await.expect("dequeue");
    assert_eq!(taken, (vec![started.id], None));
    assert_eq!(store.read().expect("snapshot").queued_executions().expect("queue"), 0);
}

#[tokio::test]
async fn concurrent_writes_share_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let mut writes = tokio::task::JoinSet::new();
    for _ in 0..500 {
        let store = store.clone();
        let event = instance(TriggerInstanceStatus::Pending);
        writes
            .spawn(async move { store.write(move |tx| tx.insert_trigger_instance(&event)).await });
    }
    for result in writes.join_all().await {
        result.expect("every write commits");
    }
    let stats = store.stats();
    // Each caller was answered after a durable commit; far fewer commits
    // than writes means many shared one fsync.
    assert!(stats.operations >= 500, "{stats:?}");
    assert!(stats.commits < 100, "no group commit: {stats:?}");
    assert_eq!(
        store.read().expect("snapshot").trigger_instances(None, 1000).expect("list").len(),
        500
    );
}

#[tokio::test]
async fn a_failing_operation_changes_nothing_and_the_others_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(open(&dir));
    let ghost = execution(ExecutionStatus::Running, None);
    let real = execution(ExecutionStatus::Requested, None);
    let (missing, inserted) = tokio::join!(
        store.write({
            let ghost = ghost.clone();
            move |tx| tx.update_execution(&ghost)
        }),
        store.write({
            let real = real.clone();
            move |tx| tx.insert_execution(&real, false)
        }),
    );
    assert_eq!(missing, Err(WriteError::NotFound(format!("execution {}", ghost.id))));
    assert_eq!(inserted, Ok(()));
    let snapshot = store.read().expect("snapshot");
    assert_eq!(snapshot.execution(real.id).expect("read"), Some(real.clone()));
    assert_eq!(snapshot.execution(ghost.id).expect("read"), None);

    let again = store.write(move |tx| tx.insert_execution(&real, false)).await;
    assert!(matches!(again, Err(WriteError::AlreadyExists(_))), "{again:?}");
}

#[tokio::test]
async fn the_file_cannot_be_opened_twice_or_be_something_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _store = open(&dir);
    let path = dir.path().join("squall.redb");
    let error = Store::open(&path, StoreConfig::default()).expect_err("already open");
    assert!(matches!(error, OpenError::AlreadyOpen { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .ends_with("squall.redb: the database is already open (is another squall running?)")
    );

    let text = dir.path().join("notes.redb");
    std::fs::write(&text, "these are not the bytes you are looking for").expect("write");
    let error = Store::open(&text, StoreConfig::default()).expect_err("not a database");
    assert!(error.to_string().starts_with(&format!("{}: ", text.display())), "{error}");
    assert_eq!(
        std::fs::read_to_string(&text).expect("read"),
        "these are not the bytes you are looking for"
    );
}

/// A store handle an operation captured, which takes its time to let go.
struct SlowToDrop(Option<Store>);

impl Drop for SlowToDrop {
    fn drop(&mut self) {
        std::thread::sleep(Duration::from_millis(200));
        drop(self.0.take());
    }
}

#[tokio::test]
async fn a_write_lets_go_of_what_it_captured_before_its_caller_hears_back() {
    // An engine stopped at once after its writes must leave the file
    // closed with its last handle: a handle captured by an operation and
    // dropped later on the writer's thread would keep it open.
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let held = SlowToDrop(Some(store.clone()));
    store
        .write(move |_| {
            let _ = &held;
            Ok::<(), WriteError>(())
        })
        .await
        .expect("write");
    drop(store);
    let reopened = Store::open(&dir.path().join("squall.redb"), StoreConfig::default());
    assert!(reopened.is_ok(), "{:?}", reopened.err());
}

#[tokio::test]
async fn key_value_entries_are_scoped_listed_and_expire() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let now = now_millis();
    let ops = KvScope::Pack("ops".into());
    store
        .write(move |tx| {
            tx.kv_set(&KvScope::System, "threshold", "90".into(), None)?;
            tx.kv_set(&KvScope::Pack("ops".into()), "threshold", "75".into(), None)?;
            tx.kv_set(&KvScope::Pack("ops".into()), "token.a", "a".into(), Some(now + 60_000))?;
            tx.kv_set(&KvScope::Pack("ops".into()), "token.b", "b".into(), Some(now - 1))?;
            Ok(())
        })
        .await
        .expect("kv writes");
    let snapshot = store.read().expect("snapshot");
    assert_eq!(
        snapshot.kv_get(&KvScope::System, "threshold", now).expect("get"),
        Some("90".into())
    );
    assert_eq!(snapshot.kv_get(&ops, "threshold", now).expect("get"), Some("75".into()));
    assert_eq!(snapshot.kv_keys(&ops, "token.", now).expect("keys"), ["token.a"]);
    assert_eq!(snapshot.kv_get(&ops, "token.a", now + 120_000).expect("get"), None);

    let refused = store.write(|tx| tx.kv_set(&KvScope::System, "", "x".into(), None)).await;
    assert_eq!(
        refused.expect_err("empty key").to_string(),
        "invalid key: expected 1 to 512 bytes without NUL, got 0 bytes"
    );
    let removed = store.write(move |tx| tx.kv_delete(&KvScope::System, "threshold", now)).await;
    assert_eq!(removed, Ok(true));
    assert_eq!(
        store.read().expect("snapshot").kv_get(&KvScope::System, "threshold", now).expect("get"),
        None
    );
}

#[tokio::test]
async fn cursors_and_the_audit_log_are_kept_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let event = |action: &str| AuditEvent {
        at: now_millis(),
        actor: "operator".into(),
        action: action.into(),
        subject: "ops".into(),
        detail: json!({}),
    };
    let first = store.write({
        let e = event("pack.install");
        move |tx| tx.append_audit(&e)
    });
    let second = store.write({
        let e = event("pack.remove");
        move |tx| {
            tx.set_sensor_cursor("ops.disk_watch", "offset-42")?;
            tx.append_audit(&e)
        }
    });
    let (first, second) = (first.await.expect("audit"), second.await.expect("audit"));
    assert_eq!((first, second), (1, 2));
    drop(store);

    let store = open(&dir);
    let snapshot = store.read().expect("snapshot");
    assert_eq!(snapshot.sensor_cursor("ops.disk_watch").expect("cursor"), Some("offset-42".into()));
    assert_eq!(snapshot.sensor_cursor("ops.other").expect("cursor"), None);
    let log: Vec<_> =
        snapshot.audit(0, 10).expect("audit").into_iter().map(|(n, e)| (n, e.action)).collect();
    assert_eq!(log, [(1, "pack.install".to_owned()), (2, "pack.remove".to_owned())]);
    assert_eq!(snapshot.audit(1, 10).expect("audit").len(), 1);
}

/// A workflow run's record for execution `id`.
fn run(id: uuid::Uuid, finished: bool) -> squall::store::WorkflowRecord {
    squall::store::WorkflowRecord {
        execution: id,
        action: "flows.main".into(),
        file: "workflows/main.yaml".into(),
        definition: "version: 1.0".into(),
        digest: "d".into(),
        state: serde_json::json!({}),
        children: Vec::new(),
        timers: Vec::new(),
        paused: false,
        held: Vec::new(),
        finished,
    }
}

#[tokio::test]
async fn retention_deletes_what_is_old_and_done_and_keeps_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let now = now_millis();
    // More than one collector batch (512 rows) of old, processed events.
    let processed: Vec<_> = (0..1200).map(|_| instance(TriggerInstanceStatus::Processed)).collect();
    let pending = instance(TriggerInstanceStatus::Pending);
    let finished = execution(ExecutionStatus::Succeeded, Some(now));
    let running = execution(ExecutionStatus::Running, None);
    store
        .write({
            let (pending, finished, running) = (pending.clone(), finished.clone(), running.clone());
            move |tx| {
                for event in &processed {
                    tx.insert_trigger_instance(event)?;
                }
                tx.insert_trigger_instance(&pending)?;
                tx.insert_execution(&finished, false)?;
                tx.insert_execution(&running, false)?;
                // A finished workflow's run record and a live one's, each
                // with item rows of a with-items task.
                tx.put_workflow(&run(finished.id, true))?;
                tx.put_workflow(&run(running.id, false))?;
                for item in 0..3 {
                    tx.put_workflow_item(finished.id, (0, item), &serde_json::json!({"n": item}))?;
                    tx.put_workflow_item(running.id, (2, item), &serde_json::json!({"n": item}))?;
                }
                tx.kv_set(&KvScope::System, "stale", "x".into(), Some(now + 1000))?;
                tx.kv_set(&KvScope::System, "fresh", "y".into(), None)
            }
        })
        .await
        .expect("seed");

    let retention = Retention {
        trigger_instances: Duration::from_secs(24 * 3600),
        executions: Duration::from_secs(24 * 3600),
        interval: Duration::from_secs(3600),
    };
    // Nothing is a day old yet.
    let today = store.collect_garbage(&retention, now + 2_000).await.expect("collect");
    assert_eq!((today.trigger_instances, today.executions, today.kv_entries), (0, 0, 1));

    let two_days_later = now + 2 * 24 * 3600 * 1000;
    let later = store.collect_garbage(&retention, two_days_later).await.expect("collect");
    assert_eq!((later.trigger_instances, later.executions), (1200, 1));
    let snapshot = store.read().expect("snapshot");
    let left: Vec<_> =
        snapshot.trigger_instances(None, 10).expect("list").into_iter().map(|i| i.id).collect();
    assert_eq!(left, [pending.id]);
    assert_eq!(snapshot.execution(finished.id).expect("read"), None);
    assert_eq!(snapshot.workflow(finished.id).expect("read"), None, "the run goes with it");
    let items = |id| snapshot.workflow_items::<serde_json::Value>(id).expect("item rows");
    assert_eq!(items(finished.id), [], "its item rows too");
    let kept: Vec<_> = items(running.id).into_iter().map(|(key, _)| key).collect();
    assert_eq!(kept, [(2, 0), (2, 1), (2, 2)]);
    assert_eq!(snapshot.execution(running.id).expect("read"), Some(running.clone()));
    assert_eq!(snapshot.workflow(running.id).expect("read"), Some(run(running.id, false)));
    assert_eq!(
        snapshot.kv_get(&KvScope::System, "fresh", two_days_later).expect("get"),
        Some("y".into())
    );
}

#[tokio::test]
async fn the_background_collector_runs_on_its_interval() {
    let dir = tempfile::tempdir().expect("tempdir");
    let retention = Retention {
        trigger_instances: Duration::ZERO,
        executions: Duration::ZERO,
        interval: Duration::from_millis(20),
    };
    let config = StoreConfig { retention: Some(retention), ..StoreConfig::default() };
    let store = Store::open(&dir.path().join("squall.redb"), config).expect("open");
    let done = execution(ExecutionStatus::Failed, Some(now_millis() - 1));
    let id = done.id;
    store.write(move |tx| tx.insert_execution(&done, false)).await.expect("insert");

    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while store.read().expect("snapshot").execution(id).expect("read").is_some() {
        assert!(std::time::Instant::now() < deadline, "the collector never deleted the execution");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Dropping the last handle stops both threads and closes the file (a
    // collector pass in flight holds the file until it ends).
    let path = store.path().to_owned();
    drop(store);
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        match Store::open(&path, StoreConfig::default()) {
            Ok(_) => break,
            Err(OpenError::AlreadyOpen { .. }) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(error) => panic!("reopen after close: {error}"),
        }
    }
}

#[tokio::test]
async fn secrets_are_sealed_at_rest_masked_on_read_and_revealed_on_request() {
    use std::os::unix::fs::PermissionsExt;
    const PASSWORD: &str = "correct-horse-battery-staple";
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let now = now_millis();
    store
        .write(|tx| tx.kv_set_secret(&KvScope::Pack("db".into()), "password", PASSWORD, None))
        .await
        .expect("set secret");
    let db = KvScope::Pack("db".into());
    let snapshot = store.read().expect("snapshot");
    assert_eq!(snapshot.kv_get(&db, "password", now).expect("get"), Some(MASKED_SECRET.into()));
    assert!(snapshot.kv_is_secret(&db, "password", now).expect("is secret"));
    assert_eq!(snapshot.kv_reveal(&db, "password", now).expect("reveal"), Some(PASSWORD.into()));
    assert_eq!(snapshot.kv_keys(&db, "", now).expect("keys"), ["password"]);
    drop(snapshot);
    let db_path = store.path().to_owned();
    drop(store);

    let raw = std::fs::read(&db_path).expect("database bytes");
    assert!(!raw.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes()), "plaintext on disk");
    let key_file = dir.path().join("squall.redb.key");
    let mode = std::fs::metadata(&key_file).expect("key file").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    // The same key file opens it again after a restart.
    let store = open(&dir);
    let snapshot = store.read().expect("snapshot");
    assert_eq!(snapshot.kv_reveal(&db, "password", now).expect("reveal"), Some(PASSWORD.into()));
}

#[tokio::test]
async fn a_wrong_or_exposed_key_file_is_refused_without_showing_the_secret() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    store
        .write(|tx| tx.kv_set_secret(&KvScope::System, "api-token", "s3cr3t-value", None))
        .await
        .expect("set");
    drop(store);

    // Another installation's key: the value does not open, and the error
    // names the key only.
    let other_key = dir.path().join("other.key");
    let config =
        StoreConfig { retention: None, secret_key: Some(other_key.clone()), ..Default::default() };
    let store =
        Store::open(&dir.path().join("squall.redb"), config).expect("open with another key");
    let error = store
        .read()
        .expect("snapshot")
        .kv_reveal(&KvScope::System, "api-token", now_millis())
        .expect_err("wrong key");
    assert_eq!(
        error.to_string(),
        "secret `api-token` cannot be decrypted (wrong key file or damaged entry)"
    );
    drop(store);

    std::fs::set_permissions(&other_key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let config =
        StoreConfig { retention: None, secret_key: Some(other_key.clone()), ..Default::default() };
    let error =
        Store::open(&dir.path().join("squall.redb"), config).expect_err("readable key file");
    assert_eq!(
        error.to_string(),
        format!(
            "secret key file {0}: mode 644 lets other users read the key; expected 600 (chmod 600 {0})",
            other_key.display()
        )
    );

    let short = dir.path().join("short.key");
    std::fs::write(&short, b"too short").expect("write");
    std::fs::set_permissions(&short, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let config =
        StoreConfig { retention: None, secret_key: Some(short.clone()), ..Default::default() };
    let error = Store::open(&dir.path().join("squall.redb"), config).expect_err("short key");
    assert_eq!(
        error.to_string(),
        format!("secret key file {}: expected 32 bytes, found 9", short.display())
    );
}

#[tokio::test]
async fn api_keys_are_found_by_hash_and_revoked_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let key = squall::store::ApiKeyRecord {
        id: squall::store::new_id(),
        name: "ci".into(),
        hash: "ab".repeat(32),
        created_at: now_millis(),
        revoked_at: None,
        user: "admin".into(),
        webhooks: Vec::new(),
    };
    store
        .write({
            let key = key.clone();
            move |tx| tx.insert_api_key(&key)
        })
        .await
        .expect("insert");
    let clash = squall::store::ApiKeyRecord { id: squall::store::new_id(), ..key.clone() };
    let refused = store.write(move |tx| tx.insert_api_key(&clash)).await.expect_err("same hash");
    assert!(matches!(refused, WriteError::AlreadyExists(_)), "{refused}");
    let found = store.read().expect("read").api_key_by_hash(&key.hash).expect("read");
    assert_eq!(found.as_ref(), Some(&key));
    let id = key.id;
    let revoked = store
        .write(move |tx| Ok((tx.revoke_api_key(id, 1)?, tx.revoke_api_key(id, 2)?)))
        .await
        .expect("revoke");
    assert_eq!(revoked, (true, false));
    let keys = store.read().expect("read").api_keys().expect("list");
    assert_eq!((keys.len(), keys[0].revoked_at), (1, Some(1)));
}
