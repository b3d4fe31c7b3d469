//! Store benchmarks: durable writes one at a time (one fsync each) and from
//! 16 concurrent writers (group commit); the reads behind the list
//! endpoints at 1,000 and 40,000 records. Run with
//! `cargo bench -p squall --bench store`.

use divan::Bencher;
use divan::counter::ItemsCount;
use serde_json::json;
use squall::store::{Execution, ExecutionStatus, Store, StoreConfig, TriggerInstance};
use uuid::Uuid;

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

/// Record counts the list benchmarks run at: the two figures.
const SIZES: [usize; 2] = [1_000, 40_000];

/// A store holding `n` finished `core.echo` executions (a few hundred
/// bytes of parameters and result each) and `n` trigger instances.
fn filled_store(dir: &tempfile::TempDir, n: usize) -> Store {
    let store = open_store(dir);
    let executor = executor();
    for _ in 0..n / 1000 {
        let batch: Vec<(TriggerInstance, Execution)> = (0..1000)
            .map(|i| {
                let message = format!("disk {i} at 93%: {}", "x".repeat(200));
                let mut execution = Execution::new("core.echo", json!({"message": message}));
                execution.status = ExecutionStatus::Succeeded;
                execution.result = Some(json!({"message": message}));
                (event(), execution)
            })
            .collect();
        executor
            .block_on(store.write(move |tx| {
                for (instance, execution) in &batch {
                    tx.insert_trigger_instance(instance)?;
                    tx.insert_execution(execution, false)?;
                }
                Ok(())
            }))
            .expect("fill");
    }
    store
}

/// `GET /executions?limit=1`: the newest head off the reverse range, and
/// the count from the table's length.
#[divan::bench(args = SIZES, sample_count = 200)]
fn executions_newest_1(bencher: Bencher<'_, '_>, n: usize) {
    let dir = tempfile::tempdir().expect("dir");
    let store = filled_store(&dir, n);
    bencher.bench_local(|| {
        let snapshot = store.read().expect("read");
        let newest = snapshot.executions_newest_first(Uuid::nil(), Uuid::max()).expect("range");
        let first = newest.take(1).collect::<Result<Vec<_>, _>>().expect("decodes");
        (first, snapshot.execution_count().expect("count"))
    });
}

/// `GET /executions?limit=1000`: a thousand heads, newest first.
#[divan::bench(args = SIZES, sample_count = 50)]
fn executions_newest_1000(bencher: Bencher<'_, '_>, n: usize) {
    let dir = tempfile::tempdir().expect("dir");
    let store = filled_store(&dir, n);
    bencher.bench_local(|| {
        let snapshot = store.read().expect("read");
        let newest = snapshot.executions_newest_first(Uuid::nil(), Uuid::max()).expect("range");
        newest.take(1000).collect::<Result<Vec<_>, _>>().expect("decodes")
    });
}

/// `GET /triggerinstances?limit=1`.
#[divan::bench(args = SIZES, sample_count = 200)]
fn trigger_instances_newest_1(bencher: Bencher<'_, '_>, n: usize) {
    let dir = tempfile::tempdir().expect("dir");
    let store = filled_store(&dir, n);
    bencher.bench_local(|| {
        let snapshot = store.read().expect("read");
        let rows = snapshot.trigger_instances_newest_first(Uuid::nil(), Uuid::max());
        let first = rows.expect("range").take(1).collect::<Result<Vec<_>, _>>().expect("decodes");
        (first, snapshot.trigger_instance_count().expect("count"))
    });
}

/// A filter nothing matches (`?action=core.noop`): every head is read,
/// no body.
#[divan::bench(args = SIZES, sample_count = 20)]
fn executions_filter_scanning_every_head(bencher: Bencher<'_, '_>, n: usize) {
    let dir = tempfile::tempdir().expect("dir");
    let store = filled_store(&dir, n);
    bencher.bench_local(|| {
        let snapshot = store.read().expect("read");
        let heads = snapshot.executions_newest_first(Uuid::nil(), Uuid::max()).expect("range");
        heads.map(|e| e.expect("decodes")).filter(|e| e.action == "core.noop").count()
    });
}

/// What lists did before the reverse range: every record read oldest
/// first, whole, to find the newest.
#[divan::bench(args = SIZES, sample_count = 20)]
fn executions_whole_table_scan(bencher: Bencher<'_, '_>, n: usize) {
    let dir = tempfile::tempdir().expect("dir");
    let store = filled_store(&dir, n);
    bencher.bench_local(|| {
        let snapshot = store.read().expect("read");
        let (mut after, mut seen) = (None, 0);
        loop {
            let chunk = snapshot.executions(after, 512).expect("page");
            seen += chunk.len();
            match chunk.last() {
                Some(last) if chunk.len() == 512 => after = Some(last.id),
                _ => return seen,
            }
        }
    });
}
