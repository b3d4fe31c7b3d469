//! Runtime benchmarks: a fresh sandbox per call, a first compile, and a load
//! from the compile cache. Run with `cargo bench -p squall --bench runtime`;
//! divan prints fastest, slowest, median and mean per benchmark.

use std::path::Path;
use std::sync::OnceLock;

use divan::Bencher;
use squall::runtime::{
    ActionRequest, HostServices, Limits, LoadOrigin, LoadedComponent, Runtime, RuntimeConfig,
};
use squall_tests::CORE_PACK;

fn main() {
    divan::main();
}

struct Fixture {
    _cache: tempfile::TempDir,
    runtime: Runtime,
    core: LoadedComponent,
    executor: tokio::runtime::Runtime,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let cache = tempfile::tempdir().expect("cache dir");
        let runtime =
            Runtime::new(RuntimeConfig::with_cache_dir(cache.path()), HostServices::default())
                .expect("runtime");
        let core = runtime.load(Path::new(CORE_PACK), "core").expect("core pack");
        let executor =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
        Fixture { _cache: cache, runtime, core, executor }
    })
}

fn request(action: &str, params: &str) -> ActionRequest {
    ActionRequest {
        action: action.into(),
        params: params.into(),
        execution_id: "bench".into(),
        attempt: 1,
    }
}

/// `core.echo` in a fresh sandbox: store, instantiate, call, drop.
#[divan::bench(sample_count = 2000)]
fn instantiate_and_call_echo(bencher: Bencher<'_, '_>) {
    let fixture = fixture();
    let request = request("echo", r#"{"message":"hi"}"#);
    let limits = Limits::default();
    bencher.bench_local(|| {
        let invocation = fixture.executor.block_on(fixture.core.run_action(&request, &limits));
        assert!(invocation.result.is_ok());
        invocation
    });
}

/// `core.noop` in a fresh sandbox, for the floor under `echo`.
#[divan::bench(sample_count = 2000)]
fn instantiate_and_call_noop(bencher: Bencher<'_, '_>) {
    let fixture = fixture();
    let request = request("noop", "{}");
    let limits = Limits::default();
    bencher.bench_local(|| fixture.executor.block_on(fixture.core.run_action(&request, &limits)));
}

/// Compiling the core component with an empty cache (and writing it there).
#[divan::bench(sample_count = 10, sample_size = 1)]
fn first_compile_core(bencher: Bencher<'_, '_>) {
    let wasm = std::fs::read(CORE_PACK).expect("core pack");
    bencher
        .with_inputs(|| {
            let cache = tempfile::tempdir().expect("cache dir");
            let config = RuntimeConfig {
                max_concurrent_instances: 4,
                ..RuntimeConfig::with_cache_dir(cache.path())
            };
            (cache, Runtime::new(config, HostServices::default()).expect("runtime"))
        })
        .bench_local_values(|(cache, runtime)| {
            let loaded = runtime.load_bytes(Path::new(CORE_PACK), &wasm, "core").expect("load");
            assert_eq!(loaded.origin(), LoadOrigin::Compiled);
            (cache, runtime, loaded)
        });
}

/// Loading the core component when its compiled form is in the cache.
#[divan::bench(sample_count = 200)]
fn load_core_from_cache(bencher: Bencher<'_, '_>) {
    let fixture = fixture();
    let wasm = std::fs::read(CORE_PACK).expect("core pack");
    bencher.bench_local(|| {
        let loaded = fixture.runtime.load_bytes(Path::new(CORE_PACK), &wasm, "core").expect("load");
        assert_eq!(loaded.origin(), LoadOrigin::Cache);
        loaded
    });
}
