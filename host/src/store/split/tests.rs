//! Opening a version 2 database splits its records, keeping every field.

use redb::Database;
use serde_json::json;

use crate::store::records::{Execution, ExecutionLog, ExecutionStatus, TriggerInstance};
use crate::store::schema::{EXECUTIONS, META, TRIGGER_INSTANCES};
use crate::store::{Store, StoreConfig};

#[test]
fn a_version_2_database_is_split_on_open_and_reads_the_same() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("squall.redb");
    let mut execution = Execution::new("core.echo", json!({"message": "old"}));
    execution.status = ExecutionStatus::Succeeded;
    execution.result = Some(json!({"message": "old"}));
    execution.logs = vec![ExecutionLog { level: "info".into(), message: "ran".into() }];
    let instance = TriggerInstance::new("core.webhook", json!({"body": "then"}));
    {
        // Written as version 2 did: whole records, no body tables.
        let db = Database::create(&path).expect("create");
        let txn = db.begin_write().expect("write");
        {
            txn.open_table(META).expect("meta").insert("schema_version", "2").expect("version");
            let bytes = serde_json::to_vec(&execution).expect("encode");
            let mut executions = txn.open_table(EXECUTIONS).expect("executions");
            executions.insert(execution.id.as_u128(), bytes.as_slice()).expect("insert");
            let bytes = serde_json::to_vec(&instance).expect("encode");
            let mut instances = txn.open_table(TRIGGER_INSTANCES).expect("instances");
            instances.insert(instance.id.as_u128(), bytes.as_slice()).expect("insert");
        }
        txn.commit().expect("commit");
    }
    let config = StoreConfig { retention: None, ..StoreConfig::default() };
    let store = Store::open(&path, config).expect("opens, migrating");
    let snapshot = store.read().expect("read");
    assert_eq!(snapshot.execution(execution.id).expect("read"), Some(execution.clone()));
    let head = snapshot.execution_head(execution.id).expect("read").expect("head");
    assert_eq!((head.parameters, head.result, head.logs.len()), (json!(null), None, 0));
    assert_eq!(snapshot.trigger_instance(instance.id).expect("read"), Some(instance.clone()));
    let head = snapshot.trigger_instance_head(instance.id).expect("read").expect("head");
    assert_eq!(head.payload, json!(null));
    drop((snapshot, store));
    // Version 3 now: a second open finds nothing to migrate.
    let store = Store::open(&path, StoreConfig { retention: None, ..StoreConfig::default() });
    let snapshot = store.expect("reopens").read().expect("read");
    assert_eq!(snapshot.execution(execution.id).expect("read"), Some(execution));
}
