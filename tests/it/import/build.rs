//! An imported StackStorm pack built for real (componentize-py, as `squall
//! pack build` runs it; `.ci/run` installs it), signed, and its Python
//! actions run: in the sandbox with `squall run --component`, and on a
//! live server with its grants. Each answers what StackStorm's Python
//! runner records for it — `{stdout, stderr, exit_code, result}` — and
//! `(False, x)` or an exception fails it; its PollingSensor is polled and
//! its rule runs; its shell commands run through the granted `/bin/sh`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use squall::engine::{PackConfigs, PackManager, StoreAudit, StoreKv, StoreSecrets};
use squall::runtime::{HostServices, Runtime, RuntimeConfig};

use super::super::client::Server;

/// The imported, built and signed pack.
pub(super) struct Built {
    pub(super) pack: PathBuf,
    pub(super) cache: PathBuf,
    pub(super) bundle: PathBuf,
    pub(super) public_key: PathBuf,
    _dir: tempfile::TempDir,
}

/// `squall ARGS` in `dir` with the compile cache `cache`: (exit status,
/// stdout, stderr).
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

/// The stdlib fixture imported into a directory of this run's own (other
/// runs of the suite may share the target directory), removed with the
/// `Built`, and built with a fresh signing key.
fn build() -> Built {
    let built = build_fixture("stdlib", "stdlib_demo-1.2.0.wasm");
    // The secrets the counter reads by name are asked for: a local one by
    // StackStorm's full name for it.
    let manifest = std::fs::read_to_string(built.pack.join("pack.toml")).expect("pack.toml");
    assert!(
        manifest.contains("\nsecrets = [\"stdlib_demo.CounterAction:api_key\", \"token\"]\n"),
        "{manifest}"
    );
    built
}

/// The fixture `name` imported and built as [`build`] says; `bundle` is
/// the file `squall pack build` writes.
pub(super) fn build_fixture(name: &str, bundle: &str) -> Built {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    let dir = tempfile::Builder::new()
        .prefix("st2-import-")
        .tempdir_in(&target)
        .expect("the work directory");
    let root = dir.path().to_owned();
    let (pack, cache) = (root.join("pack"), root.join("cache"));
    let (status, report) = super::import(&super::fixtures_dir().join(name), &pack);
    assert_eq!(status, 0, "{report}");
    let key = root.join("author");
    let (code, _, err) = squall(&root, &cache, &["pack", "keygen", "author"]);
    assert_eq!(code, 0, "{err}");
    let secret_key = key.with_extension("key");
    let sign = secret_key.to_str().expect("utf-8");
    let (code, _, err) = squall(&pack, &cache, &["pack", "build", ".", "--sign", sign]);
    assert_eq!(code, 0, "building the imported pack failed (componentize-py?): {err}");
    Built {
        bundle: pack.join("target").join(bundle),
        pack,
        cache,
        public_key: key.with_extension("pub"),
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_stackstorm_pack_builds_and_runs_as_stackstorm_would() {
    let built = tokio::task::spawn_blocking(build).await.expect("the build thread");
    tokio::task::block_in_place(|| in_the_sandbox(&built));
    on_a_live_server(&built).await;
}

/// The JSON a failed run's error line carries after `failed: `.
fn failure(stderr: &str) -> Value {
    let line = stderr.lines().find(|l| l.starts_with("error: ")).unwrap_or_default();
    let (_, json) =
        line.split_once("failed: ").unwrap_or_else(|| panic!("not a failure: {stderr}"));
    serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON ({e}): {json}"))
}

/// The actions with `squall run --component`, which grants `kv` only.
fn in_the_sandbox(built: &Built) {
    let run = |args: &[&str]| {
        let mut argv = vec!["run", "--component", built.bundle.to_str().expect("utf-8")];
        argv.extend_from_slice(args);
        squall(&built.pack, &built.cache, &argv)
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

    // st2common's date helpers (util.isotime, util.date) and the runner
    // logger (runners.utils), which Exchange packs import.
    let (code, out, err) = run(&["stdlib_demo.stamp", "when=2024-05-01T14:30:00+02:00"]);
    assert_eq!(code, 0, "{err}");
    let stamped: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(
        stamped["result"],
        json!({
            "utc": "2024-05-01T12:30:00+00:00",
            "valid": false,
            "epoch": "1970-01-01T00:00:00Z",
            "later": "2024-05-01T12:30:01.500000+00:00",
            "now_is_utc": true,
        })
    );
    assert!(err.contains("[info] stamped 2024-05-01T12:30:00Z"), "{err}");

    // (True, x) succeeds with x; the immutable parameter's default is
    // given, and `password`, without a value, as None (run() requires it).
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

    // The datastore through kv; a secret not granted reads as absent.
    let (code, out, err) = run(&["stdlib_demo.counter"]);
    assert_eq!(code, 0, "{err}");
    let counted: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(
        counted["result"],
        json!({"count": 1, "shared": null, "has_token": false, "has_api_key": false})
    );
}

/// The client tests' server with pack installation, the store behind the
/// host imports, and the pack's signer trusted.
pub(super) async fn start(built: &Built) -> Server {
    let server = Server::start().await;
    let store = server.api.engine.store().clone();
    // As `squall serve` wires it: the configs installs set are what the
    // config import answers.
    let configs = Arc::new(PackConfigs::default());
    let services = HostServices {
        kv: Arc::new(StoreKv::new(store.clone())),
        config: configs.clone(),
        secrets: Arc::new(StoreSecrets::new(store.clone())),
        audit: Arc::new(StoreAudit::new(store)),
    };
    let runtime =
        Runtime::new(RuntimeConfig::with_cache_dir(&built.cache), services).expect("runtime");
    let packs =
        PackManager::new(server.api.engine.clone(), Arc::new(runtime)).with_configs(configs);
    server.api.state.enable_pack_lifecycle(packs);
    let public = built.public_key.to_str().expect("utf-8");
    server.cli(&["trust", "add", "author", public]).await.ok();
    server
}

/// Runs `ACTION PARAMS…` on the server: (exit status, the execution).
pub(super) async fn run(server: &Server, action: &str, params: &[&str]) -> (u8, Value) {
    let mut argv = vec!["run", action];
    argv.extend_from_slice(params);
    argv.push("--json");
    let outcome = server.cli(&argv).await;
    let execution = serde_json::from_str(&outcome.stdout).unwrap_or_else(|e| {
        panic!("{action}: no JSON ({e}): {} {}", outcome.stdout, outcome.stderr)
    });
    (outcome.code, execution)
}

/// The datastore item `key` of the system scope, as `st2 key get KEY -j`
/// asks for it (StackStorm keeps a pack's local keys there).
async fn st2_key_get(server: &Server, key: &str) -> Option<String> {
    let path = format!("/api/v1/keys/{key}?scope=st2kv.system&decrypt=false");
    let (status, body) = server.api.call(Method::GET, &path, None).await;
    if status == StatusCode::NOT_FOUND {
        return None;
    }
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "system", "{body}");
    Some(body["value"].as_str().expect("a value").to_owned())
}

/// The pack installed on a live server with its grants and config.
async fn on_a_live_server(built: &Built) {
    let server = start(built).await;
    let token = json!({"value": "s3cret-token", "secret": true});
    let (status, body) = server.api.call(Method::PUT, "/api/v1/keys/token", Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let local = json!({"value": "s3cret-key", "secret": true});
    let path = "/api/v1/keys/stdlib_demo.CounterAction:api_key";
    let (status, body) = server.api.call(Method::PUT, path, Some(local)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let bundle = built.bundle.to_str().expect("utf-8");
    // The pack's config, checked against the schema made from
    // config.schema.yaml, is what self.config reads.
    let config = built.pack.join("../config.json");
    std::fs::write(&config, r#"{"greeting": "hey"}"#).expect("config.json");
    let config = config.to_str().expect("utf-8");
    let bad = built.pack.join("../bad-config.json");
    std::fs::write(&bad, r#"{"greeting": 5}"#).expect("bad-config.json");
    let bad = bad.to_str().expect("utf-8");
    let refused = server.cli(&["pack", "install", bundle, "--yes", "--config", bad]).await;
    assert_ne!(refused.code, 0, "a config the schema refuses: {}", refused.stdout);
    assert!(refused.stderr.contains("greeting"), "{}", refused.stderr);
    let installed = server
        .cli(&[
            "pack",
            "install",
            bundle,
            "--grant",
            "kv",
            "--grant",
            "secret=token",
            "--grant",
            "secret=stdlib_demo.CounterAction:api_key",
            "--grant",
            "exec=/bin/sh",
            "--config",
            config,
        ])
        .await;
    assert!(installed.ok().starts_with("installed stdlib_demo 1.2.0"), "{}", installed.stdout);

    // action_service keeps the count between runs under StackStorm's
    // name for a local key, and decrypt=True reads the granted secrets, a
    // local one under its full name.
    for count in [1, 2] {
        let (code, execution) = run(&server, "stdlib_demo.counter", &[]).await;
        assert_eq!(code, 0, "{execution}");
        assert_eq!(
            execution["result"]["result"],
            json!({"count": count, "shared": null, "has_token": true, "has_api_key": true})
        );
    }
    let stored = st2_key_get(&server, "stdlib_demo.CounterAction:count").await;
    assert_eq!(stored, Some("2".to_owned()));
    // The operator changes it where StackStorm's would, and the action
    // counts on from there.
    let set = json!({"value": "40", "scope": "st2kv.system"});
    let path = "/api/v1/keys/stdlib_demo.CounterAction:count";
    let (status, body) = server.api.call(Method::PUT, path, Some(set)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (code, execution) = run(&server, "stdlib_demo.counter", &[]).await;
    assert_eq!(code, 0, "{execution}");
    assert_eq!(execution["result"]["result"]["count"], 41, "{execution}");

    // The PollingSensor is polled: its first poll dispatches
    // stdlib_demo.changed, whose rule runs greet.
    let mut greeted = Value::Null;
    for _ in 0..300 {
        let listed =
            server.cli(&["execution", "list", "--action", "stdlib_demo.greet", "--json"]).await;
        let found = listed.json().as_array().and_then(|all| all.first().cloned());
        if let Some(execution) = found.filter(|e| e["status"] == "succeeded") {
            let id = execution["id"].as_str().expect("an id").to_owned();
            greeted = server.cli(&["execution", "get", &id, "--json"]).await.json();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(greeted["result"]["result"], "hey, change!", "{greeted}");

    // StackStorm's webhook rule, carried over unchanged, runs greet too.
    let body = json!({"name": "hook"});
    let (status, accepted) =
        server.api.call(Method::POST, "/api/v1/webhooks/greet", Some(body)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let id = accepted["executions"][0].as_str().expect("an execution id").to_owned();
    let hooked = server.api.finished(&id).await;
    assert_eq!(hooked["result"]["result"], "hey, hook!", "{hooked}");
    let polls = st2_key_get(&server, "stdlib_demo.WatcherSensor:polls").await;
    assert!(
        polls.is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n >= 1)),
        "the sensor's datastore"
    );

    // A secret parameter is masked in what the server keeps and shows.
    let (code, execution) =
        run(&server, "stdlib_demo.check", &["number=4", "password=hunter2"]).await;
    assert_eq!(code, 0, "{execution}");
    assert_eq!(execution["parameters"]["password"], "********", "{execution}");
    let id = execution["id"].as_str().expect("an id").to_owned();
    let shown = server.cli(&["execution", "get", &id, "--json"]).await;
    assert!(!shown.ok().contains("hunter2"), "{}", shown.stdout);

    // A local-shell-cmd action: its parameter rendered into cmd, env
    // exported, StackStorm's result; a non-zero exit fails it, and JSON
    // output is parsed as StackStorm parses it.
    let (code, execution) = run(&server, "stdlib_demo.say", &["message=hi"]).await;
    assert_eq!(code, 0, "{execution}");
    assert_eq!(
        execution["result"],
        json!({"failed": false, "succeeded": true, "return_code": 0, "stdout": "hi from the shell", "stderr": ""})
    );
    // A local-shell-script action: named arguments (`--name=value`, a
    // true boolean bare; by name), then the positional ones in order.
    let (code, execution) = run(&server, "stdlib_demo.report", &["first=a b"]).await;
    assert_eq!(code, 0, "{execution}");
    assert_eq!(
        execution["result"]["stdout"],
        "the script got 4 arguments\n[--label=x y]\n[--verbose]\n[a b]\n[2]",
        "{execution}"
    );
    let (code, execution) = run(&server, "stdlib_demo.fail_loudly", &[]).await;
    assert_ne!(code, 0);
    assert_eq!(execution["status"], "failed", "{execution}");
    let error = execution["result"]["error"].as_str().expect("an error message");
    assert_eq!(
        serde_json::from_str::<Value>(error).expect("JSON"),
        json!({"failed": true, "succeeded": false, "return_code": 3, "stdout": {"ok": false}, "stderr": "oops"})
    );

    // The action-chain, converted to Orquesta: greet, then check, as the
    // chain's on-success says, with the chain's variable and parameter.
    let (code, execution) = run(&server, "stdlib_demo.chain", &["who=chained"]).await;
    assert_eq!(code, 0, "{execution}");
    assert_eq!(execution["status"], "succeeded", "{execution}");
    let children = execution["children"].as_array().map_or(0, Vec::len);
    assert_eq!(children, 2, "{execution}");

    // (False, x) fails the execution; x is in its error, as JSON.
    let (code, execution) = run(&server, "stdlib_demo.check", &["number=3"]).await;
    assert_ne!(code, 0);
    assert_eq!(execution["status"], "failed", "{execution}");
    let error = execution["result"]["error"].as_str().expect("an error message");
    let kept: Value = serde_json::from_str(error).expect("the failed result as JSON");
    assert_eq!(kept["result"], json!({"number": 3, "even": false}));
}
