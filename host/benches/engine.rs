//! Engine throughput: events → rule → `core.noop` → durable succeeded
//! execution, in one process, against a real redb file. Run with
//! `cargo bench -p squall --bench engine`; it prints events per second for
//! each round and the median.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use squall::engine::{
    Actions, Engine, EngineConfig, Event, Ingest, StoreAudit, StoreKv, StoreSecrets, TriggerTypes,
};
use squall::pack::Manifest;
use squall::rules::{Rule, RuleIndex};
use squall::runtime::{HostServices, Runtime, RuntimeConfig, StaticConfig};
use squall::store::{ExecutionStatus, Store, StoreConfig};
use squall_tests::{CORE_MANIFEST, CORE_PACK};

// The allocator the `squall` binary uses (src/main.rs), so the figures are
// the shipped engine's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Events per round.
const EVENTS: usize = 20_000;
/// Concurrent producers, as 16 webhook clients would be.
const PRODUCERS: usize = 16;
const ROUNDS: usize = 5;

const RULE: &str = r#"
name: noop_per_event
pack: bench
enabled: true
trigger: {type: core.webhook, parameters: {url: bench}}
criteria:
  trigger.body.kind: {type: equals, pattern: load}
action:
  ref: core.noop
  parameters: {seq: "{{ trigger.body.seq }}"}
"#;

fn main() {
    let executor = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio");
    let mut rates = Vec::new();
    let mut cpu = Vec::new();
    for round in 1..=ROUNDS {
        let (rate, cpu_us, commits, operations) = executor.block_on(round_trip());
        println!(
            "engine round {round}: {EVENTS} events → {EVENTS} succeeded core.noop executions: \
             {rate:.0} events/s, {cpu_us:.0} µs CPU per event \
             ({operations} store operations in {commits} commits)"
        );
        rates.push(rate);
        cpu.push(cpu_us);
    }
    rates.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    println!(
        "engine median: {:.0} events/s, {:.0} µs CPU per event over {ROUNDS} rounds \
         (target ≥ 15,000 events/s)",
        rates[ROUNDS / 2],
        cpu[ROUNDS / 2]
    );
}

/// CPU time (user + system) this process has used, from `/proc/self/stat`.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces) start at `)`.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<u64>().ok()).sum();
    // The kernel reports in USER_HZ, 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// One round on a fresh store: returns events/s, CPU µs per event, commits
/// and operations.
async fn round_trip() -> (f64, f64, u64, u64) {
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(
        &dir.path().join("bench.redb"),
        StoreConfig { retention: None, ..StoreConfig::default() },
    )
    .expect("store");
    let services = HostServices {
        kv: Arc::new(StoreKv::new(store.clone())),
        config: Arc::new(StaticConfig::default()),
        secrets: Arc::new(StoreSecrets::new(store.clone())),
        audit: Arc::new(StoreAudit::new(store.clone())),
    };
    let runtime = Runtime::new(RuntimeConfig::with_cache_dir(dir.path().join("cache")), services)
        .expect("runtime");
    let manifest = Manifest::load(Path::new(CORE_MANIFEST)).expect("manifest");
    let mut actions = Actions::default();
    actions
        .add_pack(&manifest, Arc::new(runtime.load(Path::new(CORE_PACK), "core").expect("core")))
        .expect("actions");
    let rules = RuleIndex::new([Rule::from_yaml(RULE, "bench.yaml").expect("rule")]);
    let ingest = Ingest::new(store.clone(), Arc::new(TriggerTypes::builtin()), rules, actions);
    let engine = Engine::start(ingest, EngineConfig::default()).await.expect("engine");

    let started = Instant::now();
    let cpu_before = cpu_time();
    let mut producers = tokio::task::JoinSet::new();
    for producer in 0..PRODUCERS {
        let engine = engine.clone();
        producers.spawn(async move {
            for i in 0..EVENTS / PRODUCERS {
                let event = Event {
                    parameters: json!({"url": "bench"}).as_object().cloned().unwrap_or_default(),
                    ..Event::new(
                        "core.webhook",
                        json!({"headers": {}, "body": {"kind": "load", "seq": producer * EVENTS + i}}),
                    )
                };
                let emitted = engine.emit(event).await.expect("emit");
                assert_eq!(emitted.executions.len(), 1);
            }
        });
    }
    producers.join_all().await;
    loop {
        let snapshot = store.read().expect("read");
        if snapshot.queued_executions().expect("queue") == 0
            && snapshot.running_executions().expect("running") == 0
        {
            break;
        }
        drop(snapshot);
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = started.elapsed();
    let cpu_per_event = (cpu_time() - cpu_before).as_secs_f64() * 1e6 / EVENTS as f64;
    let snapshot = store.read().expect("read");
    let executions = snapshot.executions(None, 2 * EVENTS).expect("list");
    let succeeded = executions.iter().filter(|e| e.status == ExecutionStatus::Succeeded).count();
    assert_eq!(succeeded, EVENTS, "every event ran to a durable success");
    let stats = store.stats();
    (EVENTS as f64 / elapsed.as_secs_f64(), cpu_per_event, stats.commits, stats.operations)
}
