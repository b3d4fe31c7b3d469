//! Packs in Rust, Python and JavaScript as an author makes them: `squall
//! pack new` per language, built by the real toolchains (cargo,
//! componentize-py, componentize-js — `.ci/run` installs them; without
//! them these tests fail and say what to install), signed, installed on a
//! live server and run through the rule the scaffold ships; and the example
//! packs in `packs/examples`, with their grants and without.
//!
//! Each pack is built once per test run; the Rust scaffold keeps its cargo
//! target directory under `target/polyglot`, so only its first build is
//! slow.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use squall::engine::{PackManager, StoreAudit, StoreKv, StoreSecrets};
use squall::runtime::{HostServices, Runtime, RuntimeConfig, StaticConfig};
use tokio::sync::OnceCell;

use super::client::{Server, execute as local};

/// Where the scaffolds and example copies are built, kept between runs.
fn work_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target").join("polyglot")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|a| (*a).to_owned()).collect()
}

fn utf8(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// One signing key for the run: (secret, public).
async fn key() -> &'static (PathBuf, PathBuf) {
    static KEY: OnceCell<(PathBuf, PathBuf)> = OnceCell::const_new();
    KEY.get_or_init(|| async {
        let dir = work_root().join("keys");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("key dir");
        let base = dir.join("author");
        local(args(&["pack", "keygen", utf8(&base)])).await.ok();
        (base.with_extension("key"), base.with_extension("pub"))
    })
    .await
}

/// Copies `from` into `to` (files overwritten), leaving out build output.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let name = entry.file_name();
        if ["target", "node_modules", "__pycache__"].iter().any(|n| name == *n) {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_tree(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).expect("copy file");
        }
    }
}

/// `squall pack build DIR --sign KEY`; the bundle's path.
async fn build(dir: &Path, name: &str) -> PathBuf {
    let (secret, _) = key().await;
    let out = dir.join("target").join(format!("{name}.wasm"));
    let built =
        local(args(&["pack", "build", utf8(dir), "--sign", utf8(secret), "--out", utf8(&out)]))
            .await;
    assert_eq!(built.code, 0, "building {name} failed: {}", built.stderr);
    assert!(built.stdout.contains(", signed"), "{}", built.stdout);
    out
}

/// The scaffold for `lang` (pack `hello_LANG`), created by `squall pack
/// new`, unit-tested with the language's own runner, built and signed.
async fn scaffold(lang: &'static str) -> PathBuf {
    let fresh = tempfile::tempdir().expect("temp dir");
    let name = format!("hello_{lang}");
    let created = fresh.path().join(&name);
    let new = local(args(&["pack", "new", &name, "--lang", lang, "--dir", utf8(&created)])).await;
    assert!(new.ok().starts_with(&format!("created {lang} pack {name}")), "{}", new.stdout);
    let dir = work_root().join(&name);
    copy_tree(&created, &dir);
    let (program, test_args): (&str, &[&str]) = match lang {
        "rust" => ("cargo", &["test", "--quiet"]),
        "python" => ("python3", &["-m", "unittest"]),
        _ => ("node", &["--test"]),
    };
    let tested = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || {
            Command::new(program)
                .args(test_args)
                .current_dir(dir)
                .env("SQUALL_BIN", env!("CARGO_BIN_EXE_squall-host"))
                .output()
        }
    })
    .await
    .expect("test thread")
    .unwrap_or_else(|e| panic!("cannot run {program} (is it installed?): {e}"));
    assert!(
        tested.status.success(),
        "the {lang} scaffold's own tests failed:\n{}{}",
        String::from_utf8_lossy(&tested.stdout),
        String::from_utf8_lossy(&tested.stderr)
    );
    build(&dir, &name).await
}

async fn scaffold_bundle(lang: &'static str) -> &'static Path {
    static RUST: OnceCell<PathBuf> = OnceCell::const_new();
    static PYTHON: OnceCell<PathBuf> = OnceCell::const_new();
    static JS: OnceCell<PathBuf> = OnceCell::const_new();
    let cell = match lang {
        "rust" => &RUST,
        "python" => &PYTHON,
        _ => &JS,
    };
    cell.get_or_init(|| scaffold(lang)).await
}

/// An example pack from `packs/examples`, copied (so that the repository
/// gets no build output), built and signed.
async fn example_bundle(dir_name: &'static str) -> &'static Path {
    static PY: OnceCell<PathBuf> = OnceCell::const_new();
    static JS: OnceCell<PathBuf> = OnceCell::const_new();
    let cell = if dir_name == "uptime-py" { &PY } else { &JS };
    cell.get_or_init(|| async move {
        let dir = work_root().join("examples").join(dir_name);
        copy_tree(&repo().join("packs").join("examples").join(dir_name), &dir);
        build(&dir, dir_name).await
    })
    .await
}

/// The client tests' server with pack installation, the store's kv and
/// audit log behind the host imports, and the compile cache in `cache`.
async fn start(cache: &Path) -> Server {
    let server = Server::start().await;
    let store = server.api.engine.store().clone();
    let services = HostServices {
        kv: Arc::new(StoreKv::new(store.clone())),
        config: Arc::new(StaticConfig::default()),
        secrets: Arc::new(StoreSecrets::new(store.clone())),
        audit: Arc::new(StoreAudit::new(store)),
    };
    let runtime = Runtime::new(RuntimeConfig::with_cache_dir(cache), services).expect("runtime");
    let packs = PackManager::new(server.api.engine.clone(), Arc::new(runtime));
    server.api.state.enable_pack_lifecycle(packs);
    let (_, public) = key().await;
    server.cli(&["trust", "add", "author", utf8(public)]).await.ok();
    server
}

/// Runs `PACK.ACTION` on the server; (exit status, the execution).
async fn run(server: &Server, action: &str, params: &[&str]) -> (u8, Value) {
    let mut argv = vec!["run", action];
    argv.extend_from_slice(params);
    argv.push("--json");
    let outcome = server.cli(&argv).await;
    let execution = serde_json::from_str(&outcome.stdout).unwrap_or_else(|e| {
        panic!("{action}: no JSON ({e}): {} {}", outcome.stdout, outcome.stderr)
    });
    (outcome.code, execution)
}

async fn scaffold_installs_and_runs_through_its_rule(lang: &'static str) {
    let bundle = scaffold_bundle(lang).await;
    let cache = tempfile::tempdir().expect("cache");
    let server = start(cache.path()).await;
    let name = format!("hello_{lang}");
    let installed = server.cli(&["pack", "install", utf8(bundle), "--yes"]).await;
    assert!(
        installed.ok().starts_with(&format!("installed {name} 0.1.0 (signed by author")),
        "{}",
        installed.stdout
    );
    let rule = server.cli(&["rule", "get", &format!("{name}.hello_webhook"), "--json"]).await;
    assert_eq!(rule.json()["action"]["ref"], format!("{name}.hello"));

    let path = format!("/api/v1/webhooks/{name}");
    let (status, accepted) =
        server.api.call(Method::POST, &path, Some(json!({"name": "ops"}))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let id = accepted["executions"][0].as_str().expect("an execution id").to_owned();
    let execution = server.api.finished(&id).await;
    assert_eq!(execution["status"], "succeeded", "{execution}");
    assert_eq!(execution["action"]["ref"], format!("{name}.hello"), "{execution}");
    assert_eq!(execution["result"], json!({"message": "hello, ops"}), "{execution}");

    // The server refuses a parameter with the words the unit-test helpers
    // get from `squall pack params`.
    let dir = work_root().join(&name);
    let params = local(args(&["pack", "params", utf8(&dir), "hello", r#"{"name":42}"#])).await;
    assert_eq!(params.code, 2, "{}", params.stdout);
    let refusal = params.stderr.trim().trim_start_matches("error: ");
    assert!(refusal.starts_with(&format!("action {name}.hello: parameter `name`: ")), "{refusal}");
    let refused = server.cli(&["run", &format!("{name}.hello"), "name=42"]).await;
    assert_ne!(refused.code, 0);
    assert!(refused.stderr.contains(refusal), "{}", refused.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_scaffold_builds_signs_installs_and_runs_through_its_rule() {
    scaffold_installs_and_runs_through_its_rule("rust").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_scaffold_builds_signs_installs_and_runs_through_its_rule() {
    scaffold_installs_and_runs_through_its_rule("python").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_js_scaffold_builds_signs_installs_and_runs_through_its_rule() {
    scaffold_installs_and_runs_through_its_rule("js").await;
}

/// A URL on loopback that answers 200 until `down` is set, then 503.
async fn flaky_site() -> (String, Arc<AtomicBool>) {
    let down = Arc::new(AtomicBool::new(false));
    let flag = down.clone();
    let app = axum::Router::new().route(
        "/health",
        axum::routing::get(move || {
            let down = flag.load(Ordering::SeqCst);
            std::future::ready(if down {
                (StatusCode::SERVICE_UNAVAILABLE, "down")
            } else {
                (StatusCode::OK, "ok")
            })
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("listener");
    let url = format!("http://{}/health", listener.local_addr().expect("address"));
    tokio::spawn(axum::serve(listener, app).into_future());
    (url, down)
}

/// The example packs, granted `kv` and loopback HTTP, check a site and see
/// it go down; the same packs granted less get `denied`, as a Rust pack
/// does, and each refusal is in the audit log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_packs_check_a_granted_url_and_are_denied_what_was_not_granted() {
    let (py, js) = (example_bundle("uptime-py").await, example_bundle("uptime-js").await);
    let (url, down) = flaky_site().await;
    let param = format!("url={url}");
    // Shared, so that each bundle compiles once for both servers.
    let cache = tempfile::tempdir().expect("cache");

    let granted = start(cache.path()).await;
    for bundle in [py, js] {
        let installed = granted
            .cli(&[
                "pack",
                "install",
                utf8(bundle),
                "--grant",
                "kv",
                "--grant",
                "http=http://127.0.0.1:*",
            ])
            .await;
        assert!(installed.ok().starts_with("installed uptime_"), "{}", installed.stdout);
    }
    for pack in ["uptime_py", "uptime_js"] {
        down.store(false, Ordering::SeqCst);
        let check = format!("{pack}.check");
        let (code, up) = run(&granted, &check, &[&param]).await;
        assert_eq!((code, &up["status"]), (0, &json!("succeeded")), "{up}");
        assert_eq!(up["result"], json!({"url": url, "status": 200, "up": true, "changed": false}));
        down.store(true, Ordering::SeqCst);
        let (_, went_down) = run(&granted, &check, &[&param]).await;
        assert_eq!(
            went_down["result"],
            json!({"url": url, "status": 503, "up": false, "changed": true}),
            "{went_down}"
        );
    }

    // Python without kv, JavaScript without this host.
    let refused = start(cache.path()).await;
    let grants = [(py, "http=http://127.0.0.1:*"), (js, "kv")];
    for (bundle, grant) in grants {
        let installed = refused.cli(&["pack", "install", utf8(bundle), "--grant", grant]).await;
        assert!(installed.ok().starts_with("installed uptime_"), "{}", installed.stdout);
    }
    for (pack, why) in [
        ("uptime_py", "denied: key-value access was not granted to this pack".to_owned()),
        ("uptime_js", format!("denied: outbound HTTP for {url} was not granted to this pack")),
    ] {
        let (code, execution) = run(&refused, &format!("{pack}.check"), &[&param]).await;
        assert_eq!((code, &execution["status"]), (1, &json!("failed")), "{execution}");
        assert_eq!(execution["error"], json!(why), "{pack}: {execution}");
    }
    let audit = refused.cli(&["audit", "--action", "capability.denied", "--json"]).await.json();
    let denials: Vec<Value> = audit
        .as_array()
        .expect("audit list")
        .iter()
        .map(|e| json!([e["actor"], e["detail"]["capability"]]))
        .collect();
    assert!(denials.contains(&json!(["pack:uptime_py", "kv"])), "{audit}");
    assert!(denials.contains(&json!(["pack:uptime_js", "http"])), "{audit}");
}

/// The JavaScript example carries a copy of the helper (componentize-js
/// sees only the pack's directory); it must be the SDK's.
#[test]
fn the_js_example_carries_the_sdks_helper() {
    let sdk = std::fs::read_to_string(repo().join("sdk/js/squall.js")).expect("sdk helper");
    let copy = std::fs::read_to_string(repo().join("packs/examples/uptime-js/squall.js"))
        .expect("example helper");
    assert!(sdk == copy, "packs/examples/uptime-js/squall.js differs from sdk/js/squall.js");
}

/// What an author gets wrong is refused with the file, the field and what
/// was expected, before any toolchain runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaffolding_and_build_errors_name_the_field() {
    let work = tempfile::tempdir().expect("work dir");
    let dir = work.path().join("p");
    let bad_name = local(args(&["pack", "new", "Bad-Name", "--dir", utf8(&dir)])).await;
    assert_eq!(bad_name.code, 2);
    assert!(
        bad_name.stderr.contains("pack.toml:")
            && bad_name.stderr.contains(": name: expected up to 64 lowercase"),
        "{}",
        bad_name.stderr
    );
    assert!(!dir.exists(), "nothing is written for a refused name");
    let bad_lang = local(args(&["pack", "new", "p", "--lang", "ruby", "--dir", utf8(&dir)])).await;
    assert!(
        bad_lang.stderr.contains("expected `rust`, `python` or `js`, got `ruby`"),
        "{}",
        bad_lang.stderr
    );

    local(args(&["pack", "new", "p", "--lang", "python", "--dir", utf8(&dir)])).await.ok();
    let again = local(args(&["pack", "new", "p", "--lang", "python", "--dir", utf8(&dir)])).await;
    assert!(again.stderr.contains("exists and is not empty"), "{}", again.stderr);

    let manifest = dir.join("pack.toml");
    let text = std::fs::read_to_string(&manifest).expect("pack.toml");
    let cases = [
        (
            "language = \"python\"",
            "language = \"ruby\"",
            "build.language: expected `rust`, `python` or `js`, got `ruby`",
        ),
        (
            "entry = \"app.py\"",
            "entry = \"../app.py\"",
            "build.entry: expected a `.py` file inside the pack directory",
        ),
        ("entry = \"app.py\"", "entry = \"main.py\"", "build.entry: `main.py` does not exist"),
    ];
    for (from, to, expected) in cases {
        std::fs::write(&manifest, text.replace(from, to)).expect("write pack.toml");
        let built = local(args(&["pack", "build", utf8(&dir)])).await;
        assert_eq!(built.code, 2, "{to}");
        assert!(
            built.stderr.contains("pack.toml:") && built.stderr.contains(&format!(": {expected}")),
            "{to}: {}",
            built.stderr
        );
    }
}

/// `squall pack new --lang rust` depends on squall-sdk by version, with the
/// copy the binary carries vendored: the pack names no path of this machine
/// and builds wherever it is, here outside the repository.
#[test]
fn a_rust_scaffold_builds_outside_the_repository() {
    let work = tempfile::tempdir().expect("work dir");
    let repository = repo().canonicalize().expect("repository");
    assert!(!work.path().starts_with(&repository), "{}", work.path().display());
    let dir = work.path().join("outside");
    let squall = env!("CARGO_BIN_EXE_squall-host");
    let new = Command::new(squall)
        .args(["pack", "new", "outside", "--lang", "rust", "--dir", utf8(&dir)])
        .output()
        .expect("squall pack new");
    assert!(new.status.success(), "{}", String::from_utf8_lossy(&new.stderr));

    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("Cargo.toml");
    let version = env!("CARGO_PKG_VERSION");
    assert!(manifest.contains(&format!("squall-sdk = \"{version}\"\n")), "{manifest}");
    assert!(manifest.contains("squall-sdk = { path = \"vendor/squall-sdk\" }"), "{manifest}");
    assert!(!manifest.contains("path = \"/"), "an absolute path in:\n{manifest}");
    assert!(!manifest.contains(utf8(&repository)), "the repository's path in:\n{manifest}");
    let vendored = dir.join("vendor/squall-sdk");
    let sdk = std::fs::read_to_string(vendored.join("Cargo.toml")).expect("vendored Cargo.toml");
    assert!(!sdk.contains("workspace"), "{sdk}");
    for file in ["src/lib.rs", "wit/world.wit", "wit/deps/http/http.wit"] {
        let copy = std::fs::read(vendored.join(file)).expect("a vendored file");
        assert_eq!(copy, std::fs::read(repo().join("sdk").join(file)).expect("sdk file"), "{file}");
    }

    // Its own target dir would cost a full build per run; where the
    // artefacts go does not change how the SDK is found.
    let out = dir.join("outside.wasm");
    let built = Command::new(squall)
        .args(["pack", "build", ".", "--out", utf8(&out)])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", work_root().join("outside-target"))
        .output()
        .expect("squall pack build");
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    assert!(String::from_utf8_lossy(&built.stdout).starts_with("built outside 0.1.0"));
    let lock = std::fs::read_to_string(dir.join("Cargo.lock")).expect("Cargo.lock");
    assert!(lock.contains("name = \"squall-sdk\""), "{lock}");
    assert!(out.is_file());
}

/// A command in `dir` with squall-host as the helpers' squall; (exit
/// status, stdout, stderr).
fn helper(dir: &Path, program: &str, argv: &[&str], squall: &str) -> (bool, String, String) {
    let output = Command::new(program)
        .args(argv)
        .current_dir(dir)
        .env("SQUALL_BIN", squall)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (is it installed?): {e}"));
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).trim().to_owned();
    (output.status.success(), text(&output.stdout), text(&output.stderr))
}

/// The Python and JavaScript test helpers give an action what the server
/// would (pack.toml's defaults applied, its schema checked), through
/// `squall pack params`; without squall they say where they looked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_helpers_prepare_parameters_as_the_server_does() {
    let work = tempfile::tempdir().expect("work dir");
    let squall = env!("CARGO_BIN_EXE_squall-host");
    let python = r#"import json, sys, app, squall
try:
    print(json.dumps(squall.parameters("hello", json.loads(sys.argv[1]))))
except squall.InvalidInput as e:
    print("refused:", e)"#;
    let js = r#"import { parameters, InvalidInput } from "./squall.js";
import "./index.js";
try {
  console.log(JSON.stringify(parameters("hello", JSON.parse(process.argv[1]))));
} catch (e) {
  if (!(e instanceof InvalidInput)) throw e;
  console.log(`refused: ${e.message}`);
}"#;
    for lang in ["python", "js"] {
        let dir = work.path().join(lang);
        local(args(&["pack", "new", "helped", "--lang", lang, "--dir", utf8(&dir)])).await.ok();
        let run = |params: &str, squall: &str| match lang {
            "python" => helper(&dir, "python3", &["-c", python, params], squall),
            _ => helper(&dir, "node", &["--input-type=module", "-e", js, params], squall),
        };
        let (ok, defaulted, stderr) = run("{}", squall);
        assert!(ok, "{lang}: {stderr}");
        let defaulted: Value = serde_json::from_str(&defaulted).expect("JSON");
        assert_eq!(defaulted, json!({"name": "world"}), "{lang}");
        let (ok, refused, stderr) = run(r#"{"name": 42}"#, squall);
        assert!(ok, "{lang}: {stderr}");
        let server = local(args(&["pack", "params", utf8(&dir), "hello", r#"{"name":42}"#])).await;
        assert_eq!(server.code, 2);
        let expected = format!("refused: {}", server.stderr.trim().trim_start_matches("error: "));
        assert_eq!(refused, expected, "{lang}");

        let missing = work.path().join("no-squall");
        let (ok, _, stderr) = run("{}", utf8(&missing));
        assert!(!ok, "{lang}: ran without squall");
        assert!(stderr.contains("SQUALL_BIN") && stderr.contains("PATH"), "{lang}: {stderr}");
    }
}

/// `squall pack params`: the parameters prepared as the server prepares
/// them, or its refusal with exit status 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pack_params_prints_what_the_server_would_pass() {
    let work = tempfile::tempdir().expect("work dir");
    let dir = work.path().join("p");
    local(args(&["pack", "new", "p", "--lang", "python", "--dir", utf8(&dir)])).await.ok();
    let manifest = dir.join("pack.toml");
    let cases: [(&[&str], u8, &str); 5] = [
        (&[utf8(&dir), "hello"], 0, r#"{"name":"world"}"#),
        (&[utf8(&manifest), "p.hello", r#"{"name":"ops"}"#], 0, r#"{"name":"ops"}"#),
        (
            &[utf8(&dir), "hello", r#"{"nme":"ops"}"#],
            2,
            "error: action p.hello: parameters: Additional properties are not allowed",
        ),
        (&[utf8(&dir), "helo"], 2, "declares no action `helo`; did you mean `hello`?"),
        (&[utf8(&dir), "hello", "[1]"], 2, "JSON: expected an object of parameters"),
    ];
    for (argv, code, expected) in cases {
        let mut full = vec!["pack", "params"];
        full.extend_from_slice(argv);
        let outcome = local(args(&full)).await;
        assert_eq!(outcome.code, code, "{argv:?}: {}", outcome.stderr);
        let shown = if code == 0 { outcome.stdout.trim() } else { outcome.stderr.trim() };
        assert!(shown.contains(expected), "{argv:?}: {shown}");
    }
}
