//! An imported StackStorm pack built for real (componentize-py, as `squall
//! pack build` runs it; `.ci/run` installs it) and its Python actions run
//! in the sandbox with `squall run --component`: each answers what
//! StackStorm's Python runner records for it — `{stdout, stderr,
//! exit_code, result}` — and `(False, x)` or an exception fails it.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

fn squall(dir: &Path, cache: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_squall-host"))
        .args(args)
        .current_dir(dir)
        .env("SQUALL_CACHE_DIR", cache)
        .env_remove("SQUALL_URL")
        .output()
        .expect("running squall");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The JSON a failed run's error line carries after `failed: `.
fn failure(stderr: &str) -> Value {
    let line = stderr.lines().find(|l| l.starts_with("error: ")).unwrap_or_default();
    let (_, json) =
        line.split_once("failed: ").unwrap_or_else(|| panic!("not a failure: {stderr}"));
    serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON ({e}): {json}"))
}

#[test]
fn imported_python_actions_build_and_answer_as_stackstorms_runner() {
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let (pack, cache) = (scratch.path().join("pack"), scratch.path().join("cache"));
    let fixture = super::fixtures_dir().join("stdlib");
    let (status, _) = super::import(&fixture, &pack);
    assert_eq!(status, 0);
    let (code, _, err) = squall(&pack, &cache, &["pack", "build", "."]);
    assert_eq!(code, 0, "building the imported pack failed (componentize-py installed?): {err}");
    let bundle = "target/stdlib_demo-1.2.0.wasm";
    let run = |args: &[&str]| {
        let mut argv = vec!["run", "--component", bundle];
        argv.extend_from_slice(args);
        squall(&pack, &cache, &argv)
    };

    // A plain return value is the result; print() is the stdout.
    let (code, out, err) = run(&["stdlib_demo.greet", "name=ops"]);
    assert_eq!(code, 0, "{err}");
    let greeted: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(
        greeted,
        json!({"stdout": "greeting ops\n", "stderr": "", "exit_code": 0, "result": "hello, ops!"})
    );
    assert!(err.contains("[info] greeted ops"), "self.logger writes to the log: {err}");

    // (True, x) succeeds with x; the immutable parameter's default is given.
    let (code, out, err) = run(&["stdlib_demo.check", "number=4"]);
    assert_eq!(code, 0, "{err}");
    let checked: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(checked["result"], json!({"number": 4, "even": true, "mode": "strict"}));

    // (False, x) fails, keeping x as the result.
    let (code, _, err) = run(&["stdlib_demo.check", "number=3"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        failure(&err),
        json!({"stdout": "", "stderr": "", "exit_code": 0, "result": {"number": 3, "even": false}})
    );

    // An immutable parameter refuses another value, as StackStorm does.
    let (code, _, err) = run(&["stdlib_demo.check", "number=4", "mode=lenient"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("parameter `mode`"), "{err}");

    // An exception: exit code 1, the traceback on stderr, no result.
    let (code, _, err) = run(&["stdlib_demo.boom"]);
    assert_eq!(code, 1, "{err}");
    let boom = failure(&err);
    assert_eq!(boom["stdout"], "about to fail\n");
    assert_eq!(boom["exit_code"], 1);
    assert_eq!(boom["result"], "None");
    let traceback = boom["stderr"].as_str().unwrap_or_default();
    assert!(traceback.starts_with("Traceback (most recent call last):"), "{traceback}");
    assert!(traceback.ends_with("RuntimeError: it broke\n"), "{traceback}");

    // The datastore through kv; an ungranted secret reads as absent.
    let (code, out, err) = run(&["stdlib_demo.counter"]);
    assert_eq!(code, 0, "{err}");
    let counted: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(counted["result"], json!({"count": 1, "shared": null, "has_token": false}));
}
