//! The pack lifecycle on a running engine: signed bundles installed,
//! upgraded under a stream of webhook events, removed; bundles that are
//! unsigned, tampered with or signed by a stranger refused before anything
//! is compiled, with nothing stored.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use squall::engine::{
    Actions, Catalog, Engine, EngineConfig, Ingest, InstallRequest, LifecycleError, PackManager,
    load_installed,
};
use squall::pack::{BundleFiles, PublicKey, SigningKey, VerifyError, assemble, generate};
use squall::runtime::{Grants, HostServices, Runtime, RuntimeConfig, WebhookRequest};
use squall::store::{ExecutionStatus, Store, StoreConfig};
use squall_tests::CORE_PACK;

/// A pack run by the core component under another name, with a rule that
/// relays `relay` webhooks to its echo action.
fn demo_files(version: &str) -> BundleFiles {
    let core = std::fs::read_to_string(squall_tests::CORE_MANIFEST).expect("core manifest");
    let manifest = core.replacen("name = \"core\"", "name = \"demo\"", 1).replacen(
        "version = \"0.1.0\"",
        &format!("version = \"{version}\""),
        1,
    );
    let relay = r#"
name: relay
pack: demo
enabled: true
trigger: {type: core.st2.webhook, parameters: {url: relay}}
action:
  ref: demo.echo
  parameters: {message: "n={{ trigger.body.n }}"}
"#;
    BundleFiles {
        manifest,
        rules: BTreeMap::from([("relay.yaml".to_owned(), relay.to_owned())]),
        workflows: BTreeMap::new(),
        aliases: BTreeMap::new(),
    }
}

/// `files` with action aliases `names` (each `NAME {{message}}` for
/// `demo.echo`).
fn with_aliases(mut files: BundleFiles, names: &[&str]) -> BundleFiles {
    for name in names {
        let alias = format!(
            "name: {name}\npack: demo\naction_ref: demo.echo\nformats: ['{name} {{{{message}}}}']\n"
        );
        files.aliases.insert(format!("{name}.yaml"), alias);
    }
    files
}

fn bundle(version: &str, key: Option<&SigningKey>) -> Vec<u8> {
    let component = std::fs::read(CORE_PACK).expect("core component");
    let bundle = assemble(&component, &demo_files(version), "demo.wasm").expect("assemble");
    match key {
        Some(key) => key.sign(&bundle).expect("sign"),
        None => bundle,
    }
}

struct Host {
    store: Store,
    engine: Engine,
    packs: PackManager,
    cache: std::path::PathBuf,
    dir: tempfile::TempDir,
}

impl Host {
    async fn start(dir: tempfile::TempDir) -> Self {
        let store = Store::open(
            &dir.path().join("squall.redb"),
            StoreConfig { retention: None, ..StoreConfig::default() },
        )
        .expect("store");
        let cache = dir.path().join("cache");
        let runtime = Arc::new(
            Runtime::new(RuntimeConfig::with_cache_dir(&cache), HostServices::default())
                .expect("runtime"),
        );
        let (installed, problems) = load_installed(&store, &runtime).expect("load installed");
        assert_eq!(problems, Vec::<String>::new());
        let mut actions = Actions::default();
        for pack in &installed {
            actions.add_pack(&pack.manifest, pack.component.clone()).expect("actions");
        }
        let catalog = Catalog::load(&store).expect("catalog");
        let ingest =
            Ingest::new(store.clone(), Arc::new(catalog.trigger_types), catalog.rules, actions);
        let engine = Engine::start(
            ingest,
            EngineConfig { worker_threads: 2, max_running: 16, ..EngineConfig::default() },
        )
        .await
        .expect("engine");
        let packs = PackManager::new(engine.clone(), runtime);
        packs.resume(installed).expect("resume");
        Self { store, engine, packs, cache, dir }
    }

    async fn trust(&self, name: &str, key: &PublicKey) {
        self.packs.trust(name, key, "test").await.expect("trust");
    }

    async fn install(&self, bundle: Vec<u8>) -> Result<squall::engine::Installed, LifecycleError> {
        self.packs
            .install(InstallRequest {
                bundle,
                origin: "demo.wasm".into(),
                grants: Grants::default(),
                allow_unsigned: false,
                config: Value::Null,
                actor: "test".into(),
            })
            .await
    }

    async fn stop(self) -> tempfile::TempDir {
        let Self { store, engine, packs, dir, .. } = self;
        drop(packs);
        drop(store);
        engine.shutdown().await;
        dir
    }

    /// Every `demo.echo` execution once all have ended, by message.
    async fn echoes(&self, expected: usize) -> BTreeMap<String, usize> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let all = self.store.read().expect("read").executions(None, usize::MAX).expect("list");
            let echoes: Vec<_> = all.iter().filter(|e| e.action == "demo.echo").collect();
            let ended = echoes.iter().all(|e| e.status.is_finished());
            if echoes.len() >= expected && ended {
                let mut counts = BTreeMap::new();
                for e in echoes {
                    assert_eq!(e.status, ExecutionStatus::Succeeded, "{e:?}");
                    let message = e.result.as_ref().expect("result")["message"]
                        .as_str()
                        .expect("message")
                        .to_owned();
                    *counts.entry(message).or_insert(0) += 1;
                }
                return counts;
            }
            if Instant::now() >= deadline {
                let instances =
                    self.store.read().expect("ok").trigger_instances(None, 3).expect("ok");
                let rules = self.store.read().expect("ok").rules().expect("ok");
                panic!(
                    "{} of {expected} echoes ended; {instances:?} {rules:?} {all:?}",
                    echoes.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn relay(n: usize) -> WebhookRequest {
    WebhookRequest {
        method: "POST".into(),
        path: "/".into(),
        query: String::new(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: json!({"n": n}).to_string().into_bytes(),
    }
}

fn cache_entries(cache: &Path) -> usize {
    walk(cache)
}

fn walk(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries.flatten().map(|e| if e.path().is_dir() { walk(&e.path()) } else { 1 }).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_tampered_and_untrusted_bundles_are_refused_before_compiling() {
    let host = Host::start(tempfile::tempdir().expect("tempdir")).await;
    let (ours, ours_public) = generate();
    let (stranger, stranger_public) = generate();
    host.trust("ours", &ours_public).await;
    let audit_before = host.store.read().expect("ok").audit(0, usize::MAX).expect("ok").len();

    let mut tampered = bundle("1.0.0", Some(&ours));
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x01;
    let cases = [
        (bundle("1.0.0", None), VerifyError::Unsigned),
        (tampered, VerifyError::Tampered { signer: "ours".into() }),
        // The refusal names the signer's key id, as `squall trust list`
        // shows each trusted key's.
        (
            bundle("1.0.0", Some(&stranger)),
            VerifyError::Untrusted { key_ids: vec![squall::pack::key_id_hex(&stranger_public)] },
        ),
    ];
    let mut messages = Vec::new();
    for (bytes, expected) in cases {
        match host.install(bytes).await {
            Err(LifecycleError::Signature { error, .. }) => {
                assert_eq!(error, expected);
                messages.push(error.to_string());
            }
            other => panic!("expected {expected:?}, got {other:?}"),
        }
    }
    messages.dedup();
    assert_eq!(messages.len(), 3, "each refusal says something different: {messages:?}");
    // Bytes that are not a bundle at all are called that, not "unsigned".
    match host.install(b"PK\x03\x04 a zip file".to_vec()).await {
        Err(LifecycleError::Bundle(squall::pack::BundleError::NotComponent {
            message, ..
        })) => {
            assert!(message.contains("component header"), "{message}");
        }
        other => panic!("expected NotComponent, got {other:?}"),
    }

    let snapshot = host.store.read().expect("ok");
    assert!(snapshot.pack("demo").expect("ok").is_none());
    assert!(snapshot.bundle("demo").expect("ok").is_none());
    assert!(snapshot.rule("demo.relay").expect("ok").is_none());
    assert_eq!(cache_entries(&host.cache), 0, "nothing was compiled");
    assert!(host.engine.ingest().action("demo.echo").is_none());
    let audit = snapshot.audit(0, usize::MAX).expect("ok");
    let refusals: Vec<_> = audit[audit_before..].iter().map(|(_, e)| e.action.as_str()).collect();
    assert_eq!(refusals, ["pack.refused"; 3]);

    // --allow-unsigned lets the unsigned one in, and says so in the audit log.
    let installed = host
        .packs
        .install(InstallRequest {
            bundle: bundle("1.0.0", None),
            origin: "demo.wasm".into(),
            grants: Grants::default(),
            allow_unsigned: true,
            config: Value::Null,
            actor: "test".into(),
        })
        .await
        .expect("unsigned allowed");
    assert_eq!(installed.signer, None);
    let audit = host.store.read().expect("ok").audit(0, usize::MAX).expect("ok");
    let (_, last) = audit.last().expect("audited");
    assert_eq!((last.action.as_str(), &last.detail["unsigned"]), ("pack.install", &json!(true)));
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installed_packs_run_survive_a_restart_and_are_removed_with_their_rules() {
    let host = Host::start(tempfile::tempdir().expect("tempdir")).await;
    let (key, public) = generate();
    host.trust("publisher", &public).await;
    let installed = host.install(bundle("1.0.0", Some(&key))).await.expect("install");
    assert_eq!((installed.version.as_str(), installed.previous), ("1.0.0", None));
    assert_eq!(installed.signer.as_deref(), Some("publisher"));
    host.engine.webhook("relay", &relay(7)).await.expect("webhook");
    assert_eq!(host.echoes(1).await, BTreeMap::from([("n=7".to_owned(), 1)]));

    // After a restart the pack comes back from the stored bundle and the
    // compile cache, rule included.
    let dir = host.stop().await;
    let host = Host::start(dir).await;
    host.engine.webhook("relay", &relay(8)).await.expect("webhook after restart");
    let echoes = host.echoes(2).await;
    assert_eq!(echoes.get("n=8"), Some(&1));

    // Another pack's rule that uses demo keeps it from being removed...
    let user = r#"
name: uses_demo
pack: other
enabled: true
trigger: {type: core.st2.webhook, parameters: {url: other}}
action: {ref: demo.noop}
"#;
    let record = squall::store::RuleRecord {
        reference: "other.uses_demo".into(),
        source: user.into(),
        enabled: true,
        created_at: 0,
        updated_at: 0,
    };
    host.store.write(move |tx| tx.put_rule(&record)).await.expect("rule");
    match host.packs.remove("demo", false, "test").await {
        Err(LifecycleError::InUse { rules, .. }) => assert_eq!(rules, ["other.uses_demo"]),
        other => panic!("expected InUse, got {other:?}"),
    }
    assert!(host.store.read().expect("ok").pack("demo").expect("ok").is_some());
    // ...unless forced, which disables that rule.
    let removed = host.packs.remove("demo", true, "test").await.expect("forced removal");
    assert_eq!(removed.disabled_rules, ["other.uses_demo"]);
    let snapshot = host.store.read().expect("ok");
    assert!(snapshot.pack("demo").expect("ok").is_none());
    assert!(snapshot.bundle("demo").expect("ok").is_none());
    assert!(snapshot.rule("demo.relay").expect("ok").is_none());
    assert!(!snapshot.rule("other.uses_demo").expect("ok").expect("kept").enabled);
    assert!(host.engine.ingest().action("demo.echo").is_none());
    drop(snapshot);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_under_a_stream_of_webhooks_loses_none_and_runs_each_once() {
    // Events keep coming until well after the upgrade; bounded either way.
    const AFTER_UPGRADE: usize = 200;
    const MAX_EVENTS: usize = 20_000;
    let host = Arc::new(Host::start(tempfile::tempdir().expect("tempdir")).await);
    let (key, public) = generate();
    host.trust("publisher", &public).await;
    host.install(bundle("1.0.0", Some(&key))).await.expect("install 1.0.0");

    let (sent_tx, mut sent_rx) = tokio::sync::watch::channel(0usize);
    let upgraded_at = Arc::new(std::sync::OnceLock::<usize>::new());
    let producer = {
        let (host, upgraded_at) = (host.clone(), upgraded_at.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while n < MAX_EVENTS && upgraded_at.get().is_none_or(|at| n < at + AFTER_UPGRADE) {
                let reply = host.engine.webhook("relay", &relay(n)).await.expect("accepted");
                assert_eq!(reply.emitted.len(), 1, "event {n}");
                n += 1;
                sent_tx.send_replace(n);
            }
            n
        })
    };
    sent_rx.wait_for(|sent| *sent >= 100).await.expect("producer runs");
    let upgraded = host.install(bundle("1.1.0", Some(&key))).await.expect("upgrade");
    assert_eq!(upgraded.previous.as_deref(), Some("1.0.0"));
    upgraded_at.set(*sent_rx.borrow()).expect("set once");
    let sent = producer.await.expect("producer");
    assert!(sent < MAX_EVENTS, "events kept coming after the upgrade");
    let echoes = host.echoes(sent).await;
    let expected: BTreeMap<String, usize> = (0..sent).map(|n| (format!("n={n}"), 1)).collect();
    assert_eq!(echoes, expected, "every event ran exactly once");
    let version =
        host.store.read().expect("ok").pack("demo").expect("ok").expect("installed").version;
    assert_eq!(version, "1.1.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_config_is_checked_against_the_schema_and_served_to_the_pack() {
    use squall::runtime::ConfigSource as _;

    let host = Host::start(tempfile::tempdir().expect("tempdir")).await;
    let configs = Arc::new(squall::engine::PackConfigs::default());
    let packs = host.packs.clone().with_configs(configs.clone());
    let (key, public) = generate();
    host.trust("publisher", &public).await;
    let mut files = demo_files("1.0.0");
    files.manifest = files.manifest.replacen(
        "[actions.echo]",
        "[config]\ntype = \"object\"\nrequired = [\"greeting\"]\nproperties = { greeting = { type = \"string\" } }\n\n[actions.echo]",
        1,
    );
    let component = std::fs::read(CORE_PACK).expect("core component");
    let signed =
        key.sign(&assemble(&component, &files, "demo.wasm").expect("assemble")).expect("sign");
    let request = |config: Value| InstallRequest {
        bundle: signed.clone(),
        origin: "demo.wasm".into(),
        grants: Grants::default(),
        allow_unsigned: false,
        config,
        actor: "test".into(),
    };
    match packs.install(request(json!({"greeting": 5}))).await {
        Err(LifecycleError::Config { pack, message }) => {
            assert_eq!(pack, "demo");
            assert!(message.contains("/greeting"), "{message}");
        }
        other => panic!("expected a config error, got {other:?}"),
    }
    assert!(host.store.read().expect("read").pack("demo").expect("read").is_none());
    assert_eq!(configs.config("demo"), None);
    packs.install(request(json!({"greeting": "hi"}))).await.expect("install");
    assert_eq!(configs.config("demo").as_deref(), Some(r#"{"greeting":"hi"}"#));
    packs.remove("demo", false, "test").await.expect("remove");
    assert_eq!(configs.config("demo"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_capability_fails_the_execution_without_retries() {
    let host = Host::start(tempfile::tempdir().expect("tempdir")).await;
    let manifest = r#"
name = "caps"
version = "1.0.0"

[actions.secret]
parameters = { type = "object", required = ["name"], properties = { name = { type = "string" } } }
policy = { retry = { on = ["failure"], count = 3, delay = "10ms" } }
"#;
    let files = BundleFiles { manifest: manifest.to_owned(), ..BundleFiles::default() };
    let component = std::fs::read(squall_tests::CAPS_GUEST).expect("caps guest");
    let bundle = assemble(&component, &files, "caps.wasm").expect("assemble");
    host.packs
        .install(InstallRequest {
            bundle,
            origin: "caps.wasm".into(),
            grants: Grants::default(),
            allow_unsigned: true,
            config: Value::Null,
            actor: "test".into(),
        })
        .await
        .expect("install");
    let parameters = json!({"name": "token"}).as_object().cloned().expect("object");
    let id = host.engine.request("caps.secret", parameters).await.expect("requested");
    let deadline = Instant::now() + Duration::from_secs(20);
    let execution = loop {
        let execution =
            host.store.read().expect("read").execution(id).expect("read").expect("stored");
        if execution.status.is_finished() {
            break execution;
        }
        assert!(Instant::now() < deadline, "stuck in {:?}", execution.status);
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert!(execution.error.as_deref().is_some_and(|e| e.starts_with("denied: ")), "{execution:?}");
    assert_eq!((execution.attempt, execution.retries.len()), (1, 0), "a denial is not retried");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pack_s_aliases_come_with_it_keep_their_ids_and_go_with_it() {
    let host = Host::start(tempfile::tempdir().expect("tempdir")).await;
    let (key, public) = generate();
    host.trust("publisher", &public).await;
    let component = std::fs::read(CORE_PACK).expect("core component");
    let signed = |files: &BundleFiles| {
        key.sign(&assemble(&component, files, "demo.wasm").expect("assemble")).expect("sign")
    };
    let aliases = |host: &Host| {
        let stored = host.store.read().expect("read").aliases().expect("aliases");
        stored.into_iter().map(|a| (a.reference.clone(), a)).collect::<BTreeMap<_, _>>()
    };
    // An alias the operator made through the API is not the pack's.
    let own = squall::store::AliasRecord {
        reference: "demo.mine".into(),
        id: squall::store::new_id(),
        source: "name: mine\npack: demo\naction_ref: core.echo\nformats: ['mine']\n".into(),
        from_pack: false,
        created_at: 0,
        updated_at: 0,
    };
    host.store.write(move |tx| tx.put_alias(&own).map(drop)).await.expect("operator's alias");

    host.install(signed(&with_aliases(demo_files("1.0.0"), &["say", "shout"])))
        .await
        .expect("install");
    let first = aliases(&host);
    assert_eq!(first.keys().collect::<Vec<_>>(), ["demo.mine", "demo.say", "demo.shout"]);
    assert!(first["demo.say"].from_pack && first["demo.shout"].from_pack);

    // An upgrade replaces the pack's aliases, keeping the ids of those it
    // still has, and drops the one it no longer ships.
    host.install(signed(&with_aliases(demo_files("1.1.0"), &["say"]))).await.expect("upgrade");
    let second = aliases(&host);
    assert_eq!(second.keys().collect::<Vec<_>>(), ["demo.mine", "demo.say"]);
    assert_eq!(second["demo.say"].id, first["demo.say"].id);

    // A bundle whose alias does not load installs nothing.
    let mut broken = with_aliases(demo_files("1.2.0"), &["say"]);
    broken.aliases.insert("bad.yaml".into(), "name: bad\npack: demo\nformats: ['x']\n".into());
    match host.install(signed(&broken)).await {
        Err(LifecycleError::Alias { file, message, .. }) => {
            assert_eq!(file, "bad.yaml");
            assert!(message.contains("action_ref"), "{message}");
        }
        other => panic!("expected an alias error, got {other:?}"),
    }
    assert_eq!(
        host.store.read().expect("ok").pack("demo").expect("ok").expect("kept").version,
        "1.1.0"
    );

    // Removal takes the pack's aliases, not the operator's.
    host.packs.remove("demo", false, "test").await.expect("remove");
    assert_eq!(aliases(&host).keys().collect::<Vec<_>>(), ["demo.mine"]);
    host.stop().await;
}
