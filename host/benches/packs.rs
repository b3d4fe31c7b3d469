//! Pack lifecycle benchmarks for the shipped `core` pack: a cold install
//! (verify, compile, first run) and a reload from the compile cache after a
//! restart. Run with `cargo bench -p squall --bench packs`; it prints the
//! median and p90 of each figure over its samples.
//!
//! Both measure the real path: a redb store in a temporary directory, a
//! `Runtime` whose compile cache lives beside it, an `Engine` and a
//! `PackManager`, built the way `squall serve` builds them
//! (`tests/it/lifecycle.rs` does the same).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use squall::engine::{
    Actions, Catalog, Engine, EngineConfig, EngineEvent, Ingest, InstallRequest, PackManager,
    load_installed,
};
use squall::pack::{BundleFiles, PublicKey, SigningKey, assemble, generate};
use squall::runtime::{Grants, HostServices, LoadOrigin, Runtime, RuntimeConfig};
use squall::store::{ExecutionStatus, Store, StoreConfig};
use squall_tests::{CORE_MANIFEST, CORE_PACK};

/// Cold installs measured (each compiles the component, ~100 ms).
const COLD_SAMPLES: usize = 31;
/// Restarts measured.
const RELOAD_SAMPLES: usize = 101;
const COLD_TARGET: Duration = Duration::from_millis(300);
const RELOAD_TARGET: Duration = Duration::from_millis(20);

fn main() {
    // `cargo bench` passes `--bench`; under `cargo test --benches` a couple
    // of samples only check that the measurement still works.
    let full = std::env::args().any(|arg| arg == "--bench");
    let (cold_samples, reload_samples) = if full { (COLD_SAMPLES, RELOAD_SAMPLES) } else { (2, 2) };
    let executor = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");

    let (key, public) = generate();
    let bundle = signed_core_bundle(&key);
    println!("core bundle: {} KiB, signed", bundle.len() / 1024);

    // Not measured: one install to warm up the process (page cache, lazy
    // statics, the allocator) so that the first sample is like the rest.
    executor.block_on(cold_install(&bundle, &public));
    let mut cold = Samples::default();
    for _ in 0..cold_samples {
        let sample = executor.block_on(cold_install(&bundle, &public));
        cold.add("install + first core.noop", sample.total);
        cold.add("  verify (Installed.verify)", sample.verify);
        cold.add("  compile (Installed.compile)", sample.compile);
        cold.add(
            "  rest of install (parse, commit, activate)",
            sample.install - sample.verify - sample.compile,
        );
        cold.add("  core.noop request → succeeded", sample.first_run);
        cold.add("setup, not timed above (store, runtime, engine, trust)", sample.setup);
    }
    cold.print(&format!("cold install of core, {cold_samples} samples"));
    println!("{}", verdict("cold install", cold.median("install + first core.noop"), COLD_TARGET));

    let dir = tempfile::tempdir().expect("dir");
    executor.block_on(install_once(dir.path(), &bundle, &public));
    // Not measured: one restart to warm up, as above.
    executor.block_on(restart(dir.path()));
    let mut reload = Samples::default();
    for _ in 0..reload_samples {
        let sample = executor.block_on(restart(dir.path()));
        reload.add("load_installed + resume", sample.load + sample.resume);
        reload.add("  load_installed", sample.load);
        reload.add("  resume", sample.resume);
        reload.add("reopen store + Runtime::new (before load_installed)", sample.open);
        reload.add("catalog + Engine::start (between the two)", sample.engine);
        reload.add("whole restart, store open → resumed", sample.whole);
        reload.add("first core.noop after resume", sample.first_run);
    }
    reload.print(&format!("reload of core from the compile cache, {reload_samples} samples"));
    println!("{}", verdict("reload", reload.median("load_installed + resume"), RELOAD_TARGET));
}

/// The core component and manifest as a bundle signed by `key`.
fn signed_core_bundle(key: &SigningKey) -> Vec<u8> {
    let component = std::fs::read(CORE_PACK).expect("core component");
    let manifest = std::fs::read_to_string(CORE_MANIFEST).expect("core manifest");
    let files = BundleFiles { manifest, ..BundleFiles::default() };
    let bundle = assemble(&component, &files, "core.wasm").expect("assemble");
    key.sign(&bundle).expect("sign")
}

/// A host on `dir`: store, runtime, engine started on what is installed,
/// and its pack manager, the way `squall serve` starts.
struct Host {
    store: Store,
    engine: Engine,
    packs: PackManager,
}

impl Host {
    fn open(dir: &Path) -> (Store, Arc<Runtime>) {
        let store = Store::open(
            &dir.join("squall.redb"),
            StoreConfig { retention: None, ..StoreConfig::default() },
        )
        .expect("store");
        let runtime = Arc::new(
            Runtime::new(RuntimeConfig::with_cache_dir(dir.join("cache")), HostServices::default())
                .expect("runtime"),
        );
        (store, runtime)
    }

    async fn start(store: Store, runtime: Arc<Runtime>, actions: Actions) -> Self {
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
        Self { store, engine, packs }
    }

    async fn stop(self) {
        let Self { store, engine, packs } = self;
        drop(packs);
        drop(store);
        engine.shutdown().await;
    }

    async fn install(&self, bundle: &[u8]) -> squall::engine::Installed {
        self.packs
            .install(InstallRequest {
                bundle: bundle.to_vec(),
                origin: "core.wasm".into(),
                grants: Grants::default(),
                allow_unsigned: false,
                config: Value::Null,
                actor: "bench".into(),
            })
            .await
            .expect("install")
    }

    /// Requests `core.noop` through the engine and waits for its
    /// `succeeded` to be committed.
    async fn run_noop(&self) -> Duration {
        let mut events = self.engine.subscribe();
        let started = Instant::now();
        let id = self.engine.request("core.noop", Map::new()).await.expect("request");
        loop {
            if let EngineEvent::Execution { id: seen, status, .. } =
                events.recv().await.expect("engine events")
                && seen == id
                && status.is_finished()
            {
                assert_eq!(status, ExecutionStatus::Succeeded, "core.noop");
                return started.elapsed();
            }
        }
    }
}

struct Cold {
    total: Duration,
    install: Duration,
    verify: Duration,
    compile: Duration,
    first_run: Duration,
    setup: Duration,
}

/// A fresh directory (empty compile cache), store, runtime, engine and
/// trusted key; then, timed, the install and one `core.noop` run.
async fn cold_install(bundle: &[u8], public: &PublicKey) -> Cold {
    let dir = tempfile::tempdir().expect("dir");
    let started = Instant::now();
    let (store, runtime) = Host::open(dir.path());
    let host = Host::start(store, runtime, Actions::default()).await;
    host.packs.trust("bench", public, "bench").await.expect("trust");
    let setup = started.elapsed();

    let started = Instant::now();
    let installed = host.install(bundle).await;
    let install = started.elapsed();
    let first_run = host.run_noop().await;
    let total = started.elapsed();
    assert_eq!((installed.name.as_str(), installed.signer.as_deref()), ("core", Some("bench")));
    host.stop().await;
    Cold { total, install, verify: installed.verify, compile: installed.compile, first_run, setup }
}

/// Installs the bundle into `dir` once (filling the compile cache) and
/// stops.
async fn install_once(dir: &Path, bundle: &[u8], public: &PublicKey) {
    let (store, runtime) = Host::open(dir);
    let host = Host::start(store, runtime, Actions::default()).await;
    host.packs.trust("bench", public, "bench").await.expect("trust");
    host.install(bundle).await;
    host.stop().await;
}

struct Reload {
    open: Duration,
    load: Duration,
    engine: Duration,
    resume: Duration,
    whole: Duration,
    first_run: Duration,
}

/// Reopens `dir` as a restarted host would: store and runtime, the packs
/// installed there (from the stored bundle and the compile cache), the
/// engine on them, then the packs put to work.
async fn restart(dir: &Path) -> Reload {
    let started = Instant::now();
    let (store, runtime) = Host::open(dir);
    let open = started.elapsed();

    let load_started = Instant::now();
    let (installed, problems) = load_installed(&store, &runtime).expect("load installed");
    let load = load_started.elapsed();
    assert_eq!(problems, Vec::<String>::new());
    assert_eq!(installed.len(), 1);
    assert_eq!(installed[0].component.origin(), LoadOrigin::Cache, "loaded from the cache");

    let engine_started = Instant::now();
    let mut actions = Actions::default();
    for pack in &installed {
        actions.add_pack(&pack.manifest, pack.component.clone()).expect("actions");
    }
    let host = Host::start(store, runtime, actions).await;
    let engine = engine_started.elapsed();

    let resume_started = Instant::now();
    host.packs.resume(installed).expect("resume");
    let resume = resume_started.elapsed();
    let whole = started.elapsed();

    let first_run = host.run_noop().await;
    host.stop().await;
    Reload { open, load, engine, resume, whole, first_run }
}

/// Durations by label, in the order first added.
#[derive(Default)]
struct Samples(Vec<(String, Vec<Duration>)>);

impl Samples {
    fn add(&mut self, label: &str, value: Duration) {
        match self.0.iter_mut().find(|(l, _)| l == label) {
            Some((_, values)) => values.push(value),
            None => self.0.push((label.to_owned(), vec![value])),
        }
    }

    fn sorted(&self, label: &str) -> Vec<Duration> {
        let mut values =
            self.0.iter().find(|(l, _)| l == label).map(|(_, v)| v.clone()).unwrap_or_default();
        values.sort();
        values
    }

    fn median(&self, label: &str) -> Duration {
        let values = self.sorted(label);
        values[values.len() / 2]
    }

    fn print(&self, title: &str) {
        println!("{title}:");
        println!("  {:<58} {:>10} {:>10} {:>10} {:>10}", "", "median", "p90", "min", "max");
        for (label, _) in &self.0 {
            let values = self.sorted(label);
            // Nearest rank: the smallest value at or above 90 % of samples.
            let p90 = values[(values.len() * 9).div_ceil(10) - 1];
            println!(
                "  {label:<58} {:>10} {:>10} {:>10} {:>10}",
                ms(values[values.len() / 2]),
                ms(p90),
                ms(values[0]),
                ms(values[values.len() - 1]),
            );
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn verdict(what: &str, median: Duration, target: Duration) -> String {
    let met = if median <= target { "met" } else { "MISSED" };
    format!("{what}: median {} against a target of ≤ {}: {met}", ms(median), ms(target))
}
