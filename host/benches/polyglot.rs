//! The same pack in Rust, Python and JavaScript: the scaffold `squall pack
//! new` writes, built by `squall pack build` with the real toolchains
//! (cargo, componentize-py, componentize-js). Per language it prints the
//! bundle size and the medians of a cold compile (empty cache), a reload
//! from the compile cache (a new `Runtime`, as after a restart) and an
//! instantiate + call of `hello` in a fresh sandbox. Run with `cargo bench
//! -p squall --bench polyglot`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use squall::runtime::{ActionRequest, HostServices, Limits, LoadOrigin, Runtime, RuntimeConfig};

/// (language, cold compiles, cache reloads, calls) with `--bench`.
const SAMPLES: &[(&str, usize, usize, usize)] =
    &[("rust", 10, 50, 2000), ("python", 3, 20, 200), ("js", 3, 20, 200)];

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let executor =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
    println!("| language | bundle | cold compile | reload from cache | instantiate + call |");
    println!("|---|---:|---:|---:|---:|");
    for &(lang, cold_n, reload_n, call_n) in SAMPLES {
        let (cold_n, reload_n, call_n) = if full { (cold_n, reload_n, call_n) } else { (1, 1, 2) };
        let bundle = build(lang);
        let wasm = std::fs::read(&bundle).expect("bundle");
        let pack = format!("bench_{lang}");

        let mut cold = Vec::new();
        for _ in 0..cold_n {
            let cache = tempfile::tempdir().expect("cache");
            let runtime = runtime(cache.path());
            let start = Instant::now();
            let loaded = runtime.load_bytes(&bundle, &wasm, &pack).expect("compile");
            cold.push(start.elapsed());
            assert_eq!(loaded.origin(), LoadOrigin::Compiled);
        }

        let cache = tempfile::tempdir().expect("cache");
        runtime(cache.path()).load_bytes(&bundle, &wasm, &pack).expect("first compile");
        let mut reload = Vec::new();
        let mut loaded = None;
        for _ in 0..reload_n {
            let runtime = runtime(cache.path());
            let start = Instant::now();
            let component = runtime.load_bytes(&bundle, &wasm, &pack).expect("reload");
            reload.push(start.elapsed());
            assert_eq!(component.origin(), LoadOrigin::Cache);
            loaded = Some((runtime, component));
        }

        let (_runtime, component) = loaded.expect("a loaded component");
        let request = ActionRequest {
            action: "hello".into(),
            params: r#"{"name":"bench"}"#.into(),
            execution_id: "bench".into(),
            attempt: 1,
        };
        let limits = Limits { memory_bytes: 128 << 20, ..Limits::default() };
        // Not measured: the first call touches every page once.
        let first = executor.block_on(component.run_action(&request, &limits));
        assert!(first.result.is_ok(), "{lang}: {:?}", first.result);
        let mut calls = Vec::new();
        for _ in 0..call_n {
            let start = Instant::now();
            let invocation = executor.block_on(component.run_action(&request, &limits));
            calls.push(start.elapsed());
            assert!(invocation.result.is_ok());
        }
        println!(
            "| {lang} | {:.1} MiB | {} | {} | {} |",
            wasm.len() as f64 / f64::from(1 << 20),
            median(&mut cold),
            median(&mut reload),
            median(&mut calls)
        );
    }
}

fn runtime(cache: &Path) -> Runtime {
    let config =
        RuntimeConfig { max_concurrent_instances: 4, ..RuntimeConfig::with_cache_dir(cache) };
    Runtime::new(config, HostServices::default()).expect("runtime")
}

fn median(samples: &mut [Duration]) -> String {
    samples.sort();
    let median = samples[samples.len() / 2];
    if median >= Duration::from_secs(1) {
        format!("{:.2} s", median.as_secs_f64())
    } else if median >= Duration::from_millis(1) {
        format!("{:.2} ms", median.as_secs_f64() * 1e3)
    } else {
        format!("{:.1} µs", median.as_secs_f64() * 1e6)
    }
}

/// `squall pack new` + `squall pack build` under `target/polyglot/bench`,
/// where the Rust scaffold keeps its cargo target directory between runs.
fn build(lang: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/polyglot/bench");
    let dir = root.join(lang);
    let fresh = tempfile::tempdir().expect("temp");
    let created = fresh.path().join("pack");
    let name = format!("bench_{lang}");
    cli(&["pack", "new", &name, "--lang", lang, "--dir", path(&created)]);
    copy_tree(&created, &dir);
    let out = dir.join("target").join(format!("{name}.wasm"));
    cli(&["pack", "build", path(&dir), "--out", path(&out)]);
    out
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn cli(args: &[&str]) {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let argv = std::iter::once("squall").chain(args.iter().copied());
    let code = squall::cli::execute(argv, &mut stdout, &mut stderr);
    assert_eq!(code, 0, "squall {args:?}: {}", String::from_utf8_lossy(&stderr));
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}
