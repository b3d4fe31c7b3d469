//! Idle poll sensor benchmark: resident memory of 1,000 `Poller`s of one
//! pack's sensor, each past its first poll and waiting an hour for the next.
//! Run with `cargo bench -p squall --bench sensors`; prints KiB of resident
//! memory per sensor for each round and their median.
//!
//! Each round runs in a fresh process (this binary, started again with
//! `SQUALL_BENCH_SENSORS` set) so that no round inherits memory an earlier
//! round freed: the allocator keeps freed memory for reuse, so a second
//! round in the same process would appear almost free.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use squall::engine::{Actions, Ingest, PollSensor, Poller, TriggerType, TriggerTypes, poll_once};
use squall::rules::RuleIndex;
use squall::runtime::{HostServices, Limits, Runtime, RuntimeConfig};
use squall::store::{Store, StoreConfig};
use squall_tests::HOSTILE_GUEST;

/// Sensors per round.
const SENSORS: usize = 1_000;
/// Rounds, each in its own process; the median is reported.
const ROUNDS: usize = 5;
/// Long enough that every sensor is idle after its first poll.
const INTERVAL: Duration = Duration::from_secs(3600);
/// Set in a round's process: how many sensors to start.
const ROUND_ENV: &str = "SQUALL_BENCH_SENSORS";
/// Set in a round's process: the compile cache the rounds share.
const CACHE_ENV: &str = "SQUALL_BENCH_SENSORS_CACHE";

fn main() {
    if let Ok(sensors) = std::env::var(ROUND_ENV) {
        let sensors = sensors.parse().expect("a sensor count");
        let cache = std::env::var(CACHE_ENV).expect("the cache directory");
        round(sensors, Path::new(&cache));
        return;
    }
    // `cargo bench` passes `--bench`; under `cargo test --benches` one
    // small round only checks that the measurement still works.
    let (rounds, sensors) =
        if std::env::args().any(|arg| arg == "--bench") { (ROUNDS, SENSORS) } else { (1, 10) };
    // Compile the component into the cache the rounds share, so that every
    // round loads it the same way (from the cache) and none carries the
    // compiler's freed memory into its figure.
    let cache = tempfile::tempdir().expect("cache dir");
    Runtime::new(RuntimeConfig::with_cache_dir(cache.path()), HostServices::default())
        .expect("runtime")
        .load(Path::new(HOSTILE_GUEST), "hostile")
        .expect("hostile guest");
    let exe = std::env::current_exe().expect("this benchmark's path");
    let mut per_sensor: Vec<f64> = (1..=rounds)
        .map(|n| {
            let output = Command::new(&exe)
                .env(ROUND_ENV, sensors.to_string())
                .env(CACHE_ENV, cache.path())
                .output()
                .expect("a round's process");
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success(),
                "round {n} failed: {}\n{stdout}{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
            print!("round {n}: {stdout}");
            stdout
                .split_whitespace()
                .find_map(|word| word.strip_prefix("per_sensor_kib="))
                .and_then(|kib| kib.parse().ok())
                .expect("the round's per-sensor figure")
        })
        .collect();
    per_sensor.sort_by(f64::total_cmp);
    let median = per_sensor[rounds / 2];
    println!(
        "idle poll sensors: median {median:.2} KiB resident per sensor over {rounds} rounds of {sensors} (min {:.2}, max {:.2}); target <= 10 KiB",
        per_sensor[0],
        per_sensor[rounds - 1],
    );
}

/// What `/proc/self/status` says about resident memory, in KiB.
#[derive(Debug, Clone, Copy)]
struct Resident {
    total: u64,
    anonymous: u64,
    file: u64,
}

fn resident() -> Resident {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/self/status"))
    };
    Resident { total: field("VmRSS:"), anonymous: field("RssAnon:"), file: field("RssFile:") }
}

fn sensor(component: &Arc<squall::runtime::LoadedComponent>, id: &str) -> PollSensor {
    PollSensor {
        component: Arc::clone(component),
        name: "ticks".into(),
        // `batch: 0`: a poll that finds nothing new, the usual case; `id`
        // makes every sensor's config its own.
        config: json!({"batch": 0, "id": id}),
        limits: Limits::default(),
    }
}

/// One round, in its own process: load, warm up, take the baseline, start
/// `sensors` pollers, wait until each has polled once, measure again.
fn round(sensors: usize, cache: &Path) {
    // One thread: Wasm runs in one pool slot at a time, so warming that
    // slot before the baseline keeps the pool out of the figure.
    let executor =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
    let runtime = Runtime::new(RuntimeConfig::with_cache_dir(cache), HostServices::default())
        .expect("runtime");
    let component =
        Arc::new(runtime.load(Path::new(HOSTILE_GUEST), "hostile").expect("hostile guest"));
    let dir = tempfile::tempdir().expect("store dir");
    let store = Store::open(
        &dir.path().join("squall.redb"),
        StoreConfig { retention: None, ..Default::default() },
    )
    .expect("store");
    let mut types = TriggerTypes::builtin();
    types
        .register(TriggerType {
            name: "hostile.tick".into(),
            description: "a numbered tick".into(),
            payload_schema: json!({"type": "object", "required": ["n"]}),
            parameters_schema: None,
        })
        .expect("tick schema");
    // No rules: a poll that finds nothing decides nothing anyway.
    let ingest =
        Ingest::new(store.clone(), Arc::new(types), RuleIndex::default(), Actions::default());

    executor.block_on(async {
        // Warm up: one poll, then one poller through its first poll and
        // dropped, so that the one-off costs (first instantiation, the
        // store's first commits, the timer wheel) precede the baseline.
        poll_once(&ingest, &sensor(&component, "warm-up")).await.expect("first poll");
        let before = store.stats().operations;
        let warm_up = Poller::spawn(ingest.clone(), sensor(&component, "warm-up"), INTERVAL);
        wait_for_polls(&store, before + 1).await;
        drop(warm_up);
        tokio::time::sleep(Duration::from_millis(200)).await;

        let baseline = resident();
        let before = store.stats().operations;
        let pollers: Vec<Poller> = (0..sensors)
            .map(|i| {
                Poller::spawn(
                    ingest.clone(),
                    sensor(&component, &format!("ticks-{i}")),
                    INTERVAL,
                )
            })
            .collect();
        // Nothing has run yet on this one thread: this is the pollers'
        // tasks and sensors before their first poll.
        let spawned = resident();
        // `tokio::time::interval` ticks at once, so each poller polls when
        // it starts; the figure is for sensors after that poll, between
        // polls, which is where a sensor spends its life.
        wait_for_polls(&store, before + sensors as u64).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let idle = resident();
        assert_eq!(
            store.stats().operations,
            before + sensors as u64,
            "every sensor polled exactly once"
        );

        let kib = |delta: i128| delta as f64 / sensors as f64;
        let delta = |after: u64, before: u64| i128::from(after) - i128::from(before);
        println!(
            "baseline {} KiB, with {sensors} idle sensors {} KiB: per_sensor_kib={:.3} (anonymous {:.3}, file-backed {:.3}; {:.3} before their first poll)",
            baseline.total,
            idle.total,
            kib(delta(idle.total, baseline.total)),
            kib(delta(idle.anonymous, baseline.anonymous)),
            kib(delta(idle.file, baseline.file)),
            kib(delta(spawned.total, baseline.total)),
        );
        drop(pollers);
    });
}

/// Waits until the store has committed `operations` in all (each poll
/// commits one: its cursor), for at most a minute.
async fn wait_for_polls(store: &Store, operations: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.stats().operations < operations {
        assert!(Instant::now() < deadline, "the sensors did not poll within a minute");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
