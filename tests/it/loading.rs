//! Loading components: what is refused, with which one-line error, and the
//! compile cache.

use std::path::Path;

use squall::runtime::{LoadError, LoadOrigin};
use squall_tests::{CORE_PACK, NO_ACTION_GUEST, TestRuntime, call};

fn load_error(runtime: &TestRuntime, path: &Path) -> String {
    let error = runtime.runtime.load(path, "bad").expect_err("must be refused");
    let message = error.to_string();
    assert!(!message.contains('\n'), "not one line: {message}");
    message.replace(&path.display().to_string(), "FILE")
}

#[test]
fn a_file_that_is_not_wasm_is_refused_with_one_line_naming_the_problem() {
    let runtime = TestRuntime::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let text = dir.path().join("notes.wasm");
    std::fs::write(&text, "#!/bin/sh\necho hello\n").expect("write");
    assert_eq!(
        load_error(&runtime, &text),
        "FILE: not a WebAssembly file (it does not start with the `\\0asm` magic bytes)"
    );

    let empty = dir.path().join("empty.wasm");
    std::fs::write(&empty, "").expect("write");
    assert!(matches!(runtime.runtime.load(&empty, "x"), Err(LoadError::NotWasm { .. })));

    let missing = dir.path().join("missing.wasm");
    assert!(load_error(&runtime, &missing).starts_with("FILE: cannot read: No such file"));
}

#[test]
fn a_core_module_and_a_truncated_component_are_refused_distinctly() {
    let runtime = TestRuntime::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let module = dir.path().join("module.wasm");
    std::fs::write(&module, b"\0asm\x01\0\0\0").expect("write");
    assert_eq!(
        load_error(&runtime, &module),
        "FILE: a core WebAssembly module, not a component; build packs for the `wasm32-wasip2` target"
    );

    let truncated = dir.path().join("truncated.wasm");
    let core = std::fs::read(CORE_PACK).expect("core pack");
    std::fs::write(&truncated, &core[..core.len() / 2]).expect("write");
    let message = load_error(&runtime, &truncated);
    assert!(message.starts_with("FILE: invalid component: "), "{message}");
}

#[tokio::test]
async fn a_component_without_the_action_export_says_so_in_one_line() {
    let runtime = TestRuntime::new();
    let component = runtime.load(NO_ACTION_GUEST, "sensors-only");
    assert!(!component.exports_action());
    assert!(component.exports_sensor());
    let error = call(&component, "echo", "{}").await.result.expect_err("no action export");
    assert_eq!(
        error.to_string(),
        "guest_no_action.wasm: does not export `squall:pack/action@0.1.0`, so it has no actions to run"
    );
}

#[tokio::test]
async fn a_second_load_reuses_the_compile_cache() {
    let runtime = TestRuntime::new();
    let first = runtime.load(CORE_PACK, "core");
    assert_eq!(first.origin(), LoadOrigin::Compiled);
    let cached = runtime.runtime.cache_dir().join(format!("{}.cwasm", first.sha256()));
    assert!(cached.is_file(), "{} was not written", cached.display());
    let modified = std::fs::metadata(&cached).and_then(|m| m.modified()).expect("mtime");

    let second = runtime.load(CORE_PACK, "core");
    assert_eq!(second.origin(), LoadOrigin::Cache);
    assert_eq!(std::fs::metadata(&cached).and_then(|m| m.modified()).expect("mtime"), modified);
    assert_eq!(
        call(&second, "echo", r#"{"message":"cached"}"#).await.result,
        Ok(r#"{"message":"cached"}"#.into())
    );

    // Another runtime with the same engine settings and cache root reuses it
    // too: the key is the engine's compatibility hash, not the process.
    let config = squall::runtime::RuntimeConfig::with_cache_dir(runtime.cache.path());
    let other = squall::runtime::Runtime::new(config, Default::default()).expect("runtime");
    let third = other.load(Path::new(CORE_PACK), "core").expect("load");
    assert_eq!(third.origin(), LoadOrigin::Cache);
}

#[tokio::test]
async fn a_damaged_cache_entry_is_recompiled_not_trusted() {
    let runtime = TestRuntime::new();
    let first = runtime.load(CORE_PACK, "core");
    let cached = runtime.runtime.cache_dir().join(format!("{}.cwasm", first.sha256()));
    std::fs::write(&cached, b"this is not a compiled component").expect("damage");

    let again = runtime.load(CORE_PACK, "core");
    assert_eq!(again.origin(), LoadOrigin::Compiled);
    assert_eq!(call(&again, "noop", "{}").await.result, Ok("null".into()));
    assert_eq!(runtime.load(CORE_PACK, "core").origin(), LoadOrigin::Cache);
}

#[test]
fn the_cache_directory_is_private_to_the_host() {
    use std::os::unix::fs::PermissionsExt;
    let runtime = TestRuntime::new();
    let mode =
        std::fs::metadata(runtime.runtime.cache_dir()).expect("cache dir").permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
}
