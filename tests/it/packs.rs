//! A pack put to work in a running engine from its manifest: actions,
//! trigger types (stored, so they survive a restart), poll sensors on their
//! interval, webhook sensors on their route; and manifests that are refused
//! with the file and the field named.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use expect_test::expect;
use serde_json::json;
use squall::engine::{Actions, Catalog, Engine, EngineConfig, Ingest, InstallError};
use squall::pack::Manifest;
use squall::runtime::WebhookRequest;
use squall::store::{Store, StoreConfig};
use squall_tests::{CORE_PACK, HOSTILE_GUEST, TestRuntime};

const HOSTILE_MANIFEST: &str = r#"
name = "hostile"
version = "0.3.0"
description = "test guest"

[actions.whoami]
description = "says who it runs as"

[triggers.tick]
description = "a numbered tick"
payload = { type = "object", required = ["n"], properties = { n = { type = "integer" } } }

[triggers.hook]
payload = { type = "object", required = ["method"] }

[sensors.ticks]
kind = "poll"
interval = "100ms"
emits = ["tick"]

[sensors.hook]
kind = "webhook"
route = "hostile-hook"
emits = ["hostile.hook"]
"#;

fn open(dir: &Path) -> Store {
    Store::open(&dir.join("squall.redb"), StoreConfig { retention: None, ..StoreConfig::default() })
        .expect("store")
}

async fn engine(store: Store) -> Engine {
    let catalog = Catalog::load(&store).expect("catalog");
    let ingest =
        Ingest::new(store, Arc::new(catalog.trigger_types), catalog.rules, Actions::default());
    Engine::start(
        ingest,
        EngineConfig { worker_threads: 1, max_running: 4, ..EngineConfig::default() },
    )
    .await
    .expect("engine")
}

#[tokio::test]
async fn an_installed_pack_runs_its_sensors_and_its_trigger_types_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = TestRuntime::new();
    let manifest =
        Manifest::from_toml(HOSTILE_MANIFEST, Path::new("hostile/pack.toml")).expect("manifest");
    let component = Arc::new(runtime.load(HOSTILE_GUEST, "hostile"));
    {
        let engine = engine(open(dir.path())).await;
        engine
            .install_pack(&manifest, component.clone(), json!({"batch": 3}))
            .await
            .expect("install");
        assert!(engine.ingest().action("hostile.whoami").is_some());
        let deadline = Instant::now() + Duration::from_secs(10);
        while engine.sensors().first().is_none_or(|s| s.status.events < 6) {
            assert!(Instant::now() < deadline, "ticks never polled: {:?}", engine.sensors());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let reply = engine
            .webhook(
                "hostile-hook",
                &WebhookRequest {
                    method: "POST".into(),
                    path: "/hook".into(),
                    query: String::new(),
                    headers: Vec::new(),
                    body: b"hi".to_vec(),
                },
            )
            .await
            .expect("webhook sensor routed");
        assert_eq!(reply.response.status, 202);
        let snapshot = engine.store().read().expect("read");
        assert_eq!(
            snapshot.pack("hostile").expect("read").map(|p| p.version),
            Some("0.3.0".into())
        );
        drop(snapshot);
        engine.shutdown().await;
    }
    // The stored trigger types are back after a restart, before any install.
    let store = open(dir.path());
    let catalog = Catalog::load(&store).expect("catalog");
    let refused = catalog.trigger_types.validate_payload("hostile.tick", &json!({"n": "x"}));
    assert!(refused.is_err(), "hostile.tick schema kept");
    assert!(catalog.trigger_types.get("hostile.hook").is_some());
}

#[tokio::test]
async fn a_manifest_the_component_cannot_serve_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = TestRuntime::new();
    let engine = engine(open(dir.path())).await;
    // A component loaded under another pack name cannot serve this manifest.
    let manifest = Manifest::from_toml(HOSTILE_MANIFEST, Path::new("pack.toml")).expect("manifest");
    let error = engine
        .install_pack(&manifest, Arc::new(runtime.load(CORE_PACK, "core")), json!({}))
        .await
        .expect_err("mismatch");
    assert!(matches!(error, InstallError::Catalog(_)), "{error}");
    assert!(engine.store().read().expect("read").packs().expect("packs").is_empty());
    assert!(engine.sensors().is_empty());
}

fn refusal(manifest: &str) -> String {
    Manifest::from_toml(manifest, Path::new("packs/demo/pack.toml"))
        .expect_err("refused")
        .to_string()
}

#[test]
fn manifests_are_refused_with_the_file_and_field_named() {
    let base = "name = \"demo\"\nversion = \"1.0.0\"\n";
    let cases = [
        "name = \"Demo\"\nversion = \"1\"\n".to_owned(),
        format!("{base}[actions.run]\nparameters = {{ type = \"string\" }}\n"),
        format!("{base}[actions.run]\npolicy = {{ timeout = \"soon\" }}\n"),
        format!(
            "{base}[actions.run]\npolicy = {{ retry = {{ on = [\"failure\"], count = 0 }} }}\n"
        ),
        format!(
            "{base}[actions.run]\npolicy = {{ concurrency = {{ threshold = 1, action = \"queue\" }} }}\n"
        ),
        format!("{base}[sensors.watch]\nkind = \"poll\"\n"),
        format!("{base}[sensors.watch]\nkind = \"poll\"\ninterval = \"10ms\"\n"),
        format!("{base}[sensors.watch]\nkind = \"webhook\"\nemits = [\"push\"]\n"),
        format!("{base}[triggers.push]\npayload = {{ type = 5 }}\n"),
        format!("{base}[actions.run]\ncolour = \"red\"\n"),
        format!("{base}[actions.run]\n\n[actions.run.policy]\nmemory = \"lots\"\n"),
    ];
    let refusals: Vec<String> = cases.iter().map(|c| refusal(c)).collect();
    expect![[r#"
        packs/demo/pack.toml:1: name: expected up to 64 lowercase letters, digits and `_`, starting with a letter, got `Demo`
        packs/demo/pack.toml:4: actions.run.parameters: expected an object schema (`type = "object"`)
        packs/demo/pack.toml:4: actions.run.policy.timeout: expected a duration such as `30s` or `5m`, got `soon`: expected number at 0
        packs/demo/pack.toml:4: actions.run.policy.retry.count: expected 1 to 100, got 0
        packs/demo/pack.toml:4: actions.run.policy.concurrency.action: expected `delay` or `cancel`, got `queue`
        packs/demo/pack.toml:3: sensors.watch.interval: a poll sensor needs an interval, e.g. `30s`
        packs/demo/pack.toml:5: sensors.watch.interval: expected at least 100ms, got 10ms
        packs/demo/pack.toml:5: sensors.watch.emits: `push` is not a trigger type declared under [triggers]
        packs/demo/pack.toml:4: triggers.push.payload: not a valid JSON Schema: 5 is not valid under any of the schemas listed in the 'anyOf' keyword
        packs/demo/pack.toml: line 4: unknown field `colour`, expected one of `description`, `parameters`, `output`, `policy`, `workflow`
        packs/demo/pack.toml:6: actions.run.policy.memory: expected a size such as `64MiB` or `512KiB`, got `lots`"#]]
    .assert_eq(&refusals.join("\n"));
}
