//! Host imports backed by services: kv scoped per pack (for packs granted
//! it), config, context.

use std::collections::HashMap;
use std::sync::Arc;

use squall::runtime::{HostServices, MemoryKv, StaticConfig};
use squall_tests::{HOSTILE_GUEST, TestRuntime, call, request};

#[tokio::test]
async fn kv_persists_across_invocations_and_is_scoped_per_pack() {
    let runtime = TestRuntime::with_services(HostServices {
        kv: Arc::new(MemoryKv::default()),
        ..Default::default()
    });
    let ops = runtime.load_with_kv(HOSTILE_GUEST, "ops");
    let other = runtime.load_with_kv(HOSTILE_GUEST, "other");

    let first = call(&ops, "kv", r#"{"key":"last-run","value":"monday"}"#).await.result;
    assert_eq!(first, Ok(r#"{"before":null,"after":"monday","listed":["last-run"]}"#.into()));
    let second = call(&ops, "kv", r#"{"key":"last-run","value":"tuesday"}"#).await.result;
    assert_eq!(second, Ok(r#"{"before":"monday","after":"tuesday","listed":["last-run"]}"#.into()));
    let elsewhere = call(&other, "kv", r#"{"key":"last-run","value":"never"}"#).await.result;
    assert_eq!(elsewhere, Ok(r#"{"before":null,"after":"never","listed":["last-run"]}"#.into()));
}

#[tokio::test]
async fn kv_refuses_an_empty_key_with_an_error_the_pack_sees() {
    let runtime = TestRuntime::new();
    let ops = runtime.load_with_kv(HOSTILE_GUEST, "ops");
    let error = call(&ops, "kv", r#"{"key":"","value":"x"}"#).await.result.expect_err("empty key");
    assert_eq!(error.to_string(), "invalid-input: kv key must be 1 to 512 bytes, got 0 bytes");
}

#[tokio::test]
async fn config_and_context_reach_the_pack() {
    let config =
        StaticConfig(HashMap::from([("ops".to_owned(), r#"{"region":"eu-west"}"#.to_owned())]));
    let runtime =
        TestRuntime::with_services(HostServices { config: Arc::new(config), ..Default::default() });
    let ops = runtime.load(HOSTILE_GUEST, "ops");
    let mut req = request("whoami", "{}");
    req.execution_id = "exec-42".into();
    req.attempt = 3;
    let output = ops.run_action(&req, &Default::default()).await.result;
    assert_eq!(
        output,
        Ok(r#"{"config":{"region":"eu-west"},"execution_id":"exec-42","pack":"ops","attempt":3}"#
            .into())
    );

    let unconfigured = runtime.load(HOSTILE_GUEST, "plain");
    let output = call(&unconfigured, "whoami", "{}").await.result.expect("whoami");
    assert!(output.contains(r#""config":{}"#), "{output}");
}

#[tokio::test]
async fn pack_kv_backed_by_the_store_survives_a_restart() {
    use squall::engine::StoreKv;
    use squall::store::{KvScope, Store, StoreConfig, now_millis};

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("squall.redb");
    let config = || StoreConfig { retention: None, ..StoreConfig::default() };
    {
        let store = Store::open(&path, config()).expect("store");
        let services =
            HostServices { kv: Arc::new(StoreKv::new(store.clone())), ..Default::default() };
        let runtime = TestRuntime::with_services(services);
        let ops = runtime.load_with_kv(HOSTILE_GUEST, "ops");
        let first = call(&ops, "kv", r#"{"key":"last-run","value":"monday"}"#).await.result;
        assert_eq!(first, Ok(r#"{"before":null,"after":"monday","listed":["last-run"]}"#.into()));
    }

    let store = Store::open(&path, config()).expect("reopen");
    let stored = store.read().expect("snapshot").kv_get(
        &KvScope::Pack("ops".into()),
        "last-run",
        now_millis(),
    );
    assert_eq!(stored, Ok(Some("monday".into())));
    let services = HostServices { kv: Arc::new(StoreKv::new(store.clone())), ..Default::default() };
    let runtime = TestRuntime::with_services(services);
    let ops = runtime.load_with_kv(HOSTILE_GUEST, "ops");
    let second = call(&ops, "kv", r#"{"key":"last-run","value":"tuesday"}"#).await.result;
    assert_eq!(second, Ok(r#"{"before":"monday","after":"tuesday","listed":["last-run"]}"#.into()));
}
