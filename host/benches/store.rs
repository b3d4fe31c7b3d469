//! Store benchmarks: durable writes one at a time (one fsync each) and from
//! 16 concurrent writers (group commit). Run with
//! `cargo bench -p squall --bench store`.

use divan::Bencher;
use divan::counter::ItemsCount;
use serde_json::json;
use squall::store::{Store, StoreConfig, TriggerInstance};

fn main() {
    divan::main();
}

fn event() -> TriggerInstance {
    TriggerInstance::new(
        "core.webhook",
        json!({"body": {"host": "db-1", "disk": "/var", "used": 0.93}}),
    )
}

fn open_store(dir: &tempfile::TempDir) -> Store {
    let config = StoreConfig { retention: None, ..Default::default() };
    Store::open(&dir.path().join("bench.redb"), config).expect("store")
}

fn executor() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio")
}

/// One durable write awaited before the next: the latency of one commit.
#[divan::bench(sample_count = 200)]
fn one_writer_one_event(bencher: Bencher<'_, '_>) {
    let dir = tempfile::tempdir().expect("dir");
    let store = open_store(&dir);
    let executor = executor();
    bencher.bench_local(|| {
        let event = event();
        executor
            .block_on(store.write(move |tx| tx.insert_trigger_instance(&event)))
            .expect("write");
    });
}

/// 16 writers, 4,000 events in all, each answered after its commit.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn sixteen_writers_4000_events(bencher: Bencher<'_, '_>) {
    const WRITERS: usize = 16;
    const EVENTS: usize = 4_000;
    let dir = tempfile::tempdir().expect("dir");
    let store = open_store(&dir);
    let executor = executor();
    bencher.counter(ItemsCount::new(EVENTS)).bench_local(|| {
        executor.block_on(async {
            let mut writers = tokio::task::JoinSet::new();
            for _ in 0..WRITERS {
                let store = store.clone();
                writers.spawn(async move {
                    for _ in 0..EVENTS / WRITERS {
                        let event = event();
                        store
                            .write(move |tx| tx.insert_trigger_instance(&event))
                            .await
                            .expect("write");
                    }
                });
            }
            writers.join_all().await;
        });
    });
    let stats = store.stats();
    println!(
        "sixteen_writers: {} operations in {} commits ({:.1} per commit)",
        stats.operations,
        stats.commits,
        stats.operations as f64 / stats.commits.max(1) as f64
    );
}
