//! Durable workflow overhead, in one process against a real redb file and
//! the core pack's Wasm: a 10-step sequential workflow of `core.noop`
//! (every step commits the run's record with the child it ends and the one
//! it starts), alone and 16 at once, and with-items over 1,000 items at
//! concurrency 10 beside 1,000 separate `core.noop` executions kept 10 in
//! flight (the same work at the same concurrency, each execution requested
//! as a client would: the with-items goal is at most 1.5 times that), and
//! the store's commits per step of the lone sequence. Run with
//! `cargo bench -p squall --bench workflows`; it prints each round and the
//! medians.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use squall::engine::{Actions, Engine, EngineConfig, EngineEvent, Ingest, TriggerTypes};
use squall::pack::Manifest;
use squall::rules::RuleIndex;
use squall::runtime::{HostServices, Runtime, RuntimeConfig};
use squall::store::{ExecutionStatus, KvScope, Store, StoreConfig};
use squall_tests::{CORE_MANIFEST, CORE_PACK};

const STEPS: usize = 10;
const ROUNDS: usize = 5;
/// Sequential workflows per round, one after the other.
const ALONE: usize = 20;
/// Workflows at once in the concurrent rounds.
const CONCURRENT: usize = 16;
const ITEMS: usize = 1_000;

fn sequential() -> String {
    let mut text = String::from("version: 1.0\ntasks:\n");
    for step in 0..STEPS {
        text.push_str(&format!("  s{step}:\n    action: core.noop\n"));
        if step + 1 < STEPS {
            text.push_str(&format!("    next:\n      - do: s{}\n", step + 1));
        }
    }
    text
}

fn items() -> String {
    format!(
        "version: 1.0\ntasks:\n  each:\n    with:\n      items: '{{{{ range({ITEMS}) | list }}}}'\n      \
         concurrency: 10\n    action: core.noop\n    input: {{n: '{{{{ item() }}}}'}}\n\
         output:\n  - done: true\n"
    )
}

struct Host {
    engine: Engine,
    _runtime: Runtime,
    _dir: tempfile::TempDir,
}

async fn host() -> Host {
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(
        &dir.path().join("bench.redb"),
        StoreConfig { retention: None, ..StoreConfig::default() },
    )
    .expect("store");
    let runtime = Runtime::new(
        RuntimeConfig::with_cache_dir(dir.path().join("cache")),
        HostServices::default(),
    )
    .expect("runtime");
    let core = Manifest::load(Path::new(CORE_MANIFEST)).expect("core manifest");
    let mut actions = Actions::default();
    let component = Arc::new(runtime.load(Path::new(CORE_PACK), "core").expect("core"));
    actions.add_pack(&core, component).expect("core actions");
    let toml = "name = \"bench\"\nversion = \"1.0.0\"\n\
                [actions.sequence]\nworkflow = \"workflows/sequence.yaml\"\n\
                [actions.items]\nworkflow = \"workflows/items.yaml\"\n";
    let file = Path::new("bench/pack.toml");
    let mut manifest = Manifest::from_toml(toml, file).expect("bench manifest");
    let files = BTreeMap::from([
        ("sequence.yaml".to_owned(), sequential()),
        ("items.yaml".to_owned(), items()),
    ]);
    manifest.attach_workflows(&files, file).expect("workflows");
    let component = Arc::new(runtime.load(Path::new(CORE_PACK), "bench").expect("bench"));
    actions.add_pack(&manifest, component).expect("bench actions");
    let ingest =
        Ingest::new(store, Arc::new(TriggerTypes::builtin()), RuleIndex::default(), actions);
    let engine = Engine::start(ingest, EngineConfig::default()).await.expect("engine");
    Host { engine, _runtime: runtime, _dir: dir }
}

/// Runs `count` separate `core.noop` executions, each with the input a
/// with-items item gets, keeping `window` in flight (a new one requested
/// as one ends); returns the elapsed time.
async fn separate(engine: &Engine, count: usize, window: usize) -> Duration {
    let mut events = engine.subscribe();
    let started = Instant::now();
    let mut live = HashSet::new();
    let mut requested = 0;
    let mut done = 0;
    while done < count {
        while requested < count && live.len() < window {
            let input = Map::from_iter([("n".to_owned(), Value::from(requested))]);
            live.insert(engine.request("core.noop", input).await.expect("requested"));
            requested += 1;
        }
        match events.recv().await {
            Ok(EngineEvent::Execution { id, status, .. }) if live.contains(&id) => {
                if status.is_finished() {
                    assert_eq!(status, ExecutionStatus::Succeeded, "execution {id}");
                    live.remove(&id);
                    done += 1;
                }
            }
            Ok(_) => {}
            Err(error) => panic!("the event feed: {error}"),
        }
    }
    started.elapsed()
}

/// Runs `count` workflows of `action` at once and waits for all of them;
/// returns the elapsed time.
async fn run(engine: &Engine, action: &str, count: usize) -> Duration {
    let mut events = engine.subscribe();
    let started = Instant::now();
    let mut ids = Vec::new();
    for _ in 0..count {
        ids.push(engine.request(action, Map::new()).await.expect("requested"));
    }
    let mut left = ids.len();
    while left > 0 {
        match events.recv().await {
            Ok(EngineEvent::Execution { id, status, .. }) if ids.contains(&id) => {
                if status.is_finished() {
                    assert_eq!(status, ExecutionStatus::Succeeded, "workflow {id}");
                    left -= 1;
                }
            }
            Ok(_) => {}
            Err(error) => panic!("the event feed: {error}"),
        }
    }
    started.elapsed()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let executor = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio");
    executor.block_on(async {
        let host = host().await;
        let engine = &host.engine;
        // Warm up: compile paths, fill caches.
        run(engine, "bench.sequence", 1).await;
        // The floor under one durable step on this disk: one commit alone.
        let mut commits = Vec::new();
        for n in 0..200 {
            let started = Instant::now();
            engine
                .store()
                .write(move |tx| tx.kv_set(&KvScope::System, "bench", n.to_string(), None))
                .await
                .expect("write");
            commits.push(started.elapsed().as_secs_f64() * 1e6);
        }
        let commit = median(commits);
        println!("workflows: one durable commit alone: {commit:.0} µs (median of 200)");

        let mut alone = Vec::new();
        let mut commits_per_step = Vec::new();
        for round in 1..=ROUNDS {
            let mut per_step = Vec::new();
            let mut commits = Vec::new();
            for _ in 0..ALONE {
                let before = engine.store().stats().commits;
                let took = run(engine, "bench.sequence", 1).await;
                per_step.push(took.as_secs_f64() * 1e6 / STEPS as f64);
                // Nothing else writes meanwhile: every commit is the run's.
                let during = engine.store().stats().commits - before;
                commits.push(during as f64 / STEPS as f64);
            }
            let m = median(per_step);
            let c = median(commits);
            println!(
                "workflows round {round}: {STEPS}-step sequence alone: {m:.0} µs per step, \
                 {c:.2} commits per step (medians of {ALONE})"
            );
            alone.push(m);
            commits_per_step.push(c);
        }
        let mut together = Vec::new();
        for round in 1..=ROUNDS {
            let took = run(engine, "bench.sequence", CONCURRENT).await;
            let per_step = took.as_secs_f64() * 1e6 / (STEPS * CONCURRENT) as f64;
            println!(
                "workflows round {round}: {CONCURRENT} sequences at once: {:.1} ms, {per_step:.0} µs per step",
                took.as_secs_f64() * 1e3
            );
            together.push(per_step);
        }
        let mut items = Vec::new();
        let mut apart = Vec::new();
        for round in 1..=3 {
            let took = run(engine, "bench.items", 1).await;
            println!(
                "workflows round {round}: with-items over {ITEMS} items at concurrency 10: {:.0} ms ({:.0} µs per item)",
                took.as_secs_f64() * 1e3,
                took.as_secs_f64() * 1e6 / ITEMS as f64
            );
            items.push(took.as_secs_f64() * 1e3);
            let took = separate(engine, ITEMS, 10).await;
            println!(
                "workflows round {round}: {ITEMS} separate core.noop executions, 10 in flight: {:.0} ms ({:.0} µs each)",
                took.as_secs_f64() * 1e3,
                took.as_secs_f64() * 1e6 / ITEMS as f64
            );
            apart.push(took.as_secs_f64() * 1e3);
        }
        let (items, apart) = (median(items), median(apart));
        println!(
            "workflows median: {:.0} µs per step alone ({:.1} commits' worth, {:.2} commits per \
             step; goal ≤ 1.2), {:.0} µs per step with {CONCURRENT} at once (target ≤ 200 µs per \
             step); with-items {ITEMS} items: {items:.0} ms, {ITEMS} separate executions: \
             {apart:.0} ms, ratio {:.2} (goal ≤ 1.5)",
            median(alone.clone()),
            median(alone) / commit,
            median(commits_per_step),
            median(together),
            items / apart
        );
    });
}
