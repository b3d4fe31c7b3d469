//! The pack lifecycle as an operator runs it: `squall pack build|keygen|
//! push|search|install|upgrade|get|remove` and `squall trust` against a
//! live server and a real OCI registry (`docker-registry` on loopback),
//! with the shipped packs built into signed bundles.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use squall::engine::PackManager;
use squall::runtime::{HostServices, Runtime, RuntimeConfig};
use squall_tests::{GITHUB_PACK, HTTP_PACK, RegistryServer};

use super::client::{Server, execute as local};

/// The client tests' server, with pack installation enabled; the
/// directory holds the compile cache.
async fn start() -> (Server, tempfile::TempDir) {
    let server = Server::start().await;
    let cache = tempfile::tempdir().expect("cache dir");
    let runtime =
        Runtime::new(RuntimeConfig::with_cache_dir(cache.path()), HostServices::default())
            .expect("runtime");
    let packs = PackManager::new(server.api.engine.clone(), Arc::new(runtime));
    server.api.state.enable_pack_lifecycle(packs);
    (server, cache)
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|a| (*a).to_owned()).collect()
}

/// A copy of the pack source at `packs/NAME` with its version set.
fn source(name: &str, version: &str, into: &Path) -> std::path::PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("packs").join(name);
    let dir = into.join(format!("{name}-{version}-src"));
    std::fs::create_dir_all(dir.join("rules")).expect("dir");
    let manifest = std::fs::read_to_string(from.join("pack.toml")).expect("pack.toml");
    let manifest = manifest.replacen("version = \"0.1.0\"", &format!("version = \"{version}\""), 1);
    std::fs::write(dir.join("pack.toml"), manifest).expect("write pack.toml");
    if let Ok(rules) = std::fs::read_dir(from.join("rules")) {
        for rule in rules.flatten() {
            std::fs::copy(rule.path(), dir.join("rules").join(rule.file_name())).expect("rule");
        }
    }
    dir
}

async fn build(dir: &Path, component: &str, key: &Path, out: &Path) {
    let built = local(args(&[
        "pack",
        "build",
        dir.to_str().expect("utf-8"),
        "--component",
        component,
        "--sign",
        key.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
    ]))
    .await;
    assert!(built.ok().contains(", signed"), "{}", built.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_search_install_upgrade_and_remove_through_a_registry() {
    let registry = RegistryServer::start();
    let reg = registry.host_port();
    let (server, _cache) = start().await;
    let work = tempfile::tempdir().expect("work dir");
    let key = work.path().join("publisher");
    local(args(&["pack", "keygen", key.to_str().expect("utf-8")])).await.ok();
    let (secret, public) = (key.with_extension("key"), key.with_extension("pub"));
    server.cli(&["trust", "add", "publisher", public.to_str().expect("utf-8")]).await.ok();

    for version in ["0.1.0", "0.2.0"] {
        let bundle = work.path().join(format!("http-{version}.wasm"));
        build(&source("http", version, work.path()), HTTP_PACK, &secret, &bundle).await;
        let pushed = local(args(&[
            "pack",
            "push",
            bundle.to_str().expect("utf-8"),
            "http",
            "--registry",
            &reg,
        ]))
        .await;
        assert!(pushed.ok().contains(&format!("{reg}/http:{version}")), "{}", pushed.stdout);
    }

    let found = local(args(&["pack", "search", "htt", "--registry", &reg, "--json"])).await.json();
    assert_eq!(found[0]["repository"], format!("{reg}/http"), "{found}");
    assert_eq!(found[0]["tags"], serde_json::json!(["0.2.0", "0.1.0"]), "{found}");
    let none = local(args(&["pack", "search", "nothing-like-it", "--registry", &reg, "--json"]));
    assert_eq!(none.await.json(), serde_json::json!([]));

    // By name and version, then by name alone: the highest version, an
    // upgrade.
    let installed = server
        .cli(&[
            "pack",
            "install",
            "http@0.1.0",
            "--registry",
            &reg,
            "--grant",
            "http=http://127.0.0.1:*",
        ])
        .await;
    let text = installed.ok();
    assert!(text.starts_with("installed http 0.1.0 (signed by publisher"), "{text}");
    // Grants read as `--grant` spells them, not as a JSON block.
    let shown = server.cli(&["pack", "get", "http"]).await;
    let shown = shown.ok();
    let granted = shown.lines().find(|l| l.starts_with("granted")).unwrap_or_default();
    assert!(granted.ends_with(" http=http://127.0.0.1:*"), "{shown}");
    let upgraded = server.cli(&["pack", "install", "http", "--registry", &reg, "--yes"]).await;
    let text = upgraded.ok();
    assert!(
        text.starts_with("upgraded http from 0.1.0 to 0.2.0 (signed by publisher; verified in "),
        "{text}"
    );
    assert!(text.contains(", compiled in ") && !text.contains("µs)"), "{text}");
    let pack = server.cli(&["pack", "get", "http", "--json"]).await.json();
    assert_eq!(
        (&pack["version"], &pack["signer"]),
        (&Value::from("0.2.0"), &Value::from("publisher"))
    );
    assert_eq!(pack["actions"], serde_json::json!(["http.request"]));
    assert!(server.api.engine.ingest().action("http.request").is_some());

    let removed = server.cli(&["pack", "remove", "http"]).await;
    assert!(removed.ok().starts_with("removed http 0.2.0"), "{}", removed.stdout);
    let listed = server.cli(&["pack", "list", "--json"]).await.json();
    let names: Vec<&str> =
        listed.as_array().expect("list").iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names, ["core"]);
    assert!(server.api.engine.ingest().action("http.request").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shipped_pack_with_rules_installs_from_a_file_and_refusals_name_their_cause() {
    let (server, _cache) = start().await;
    let work = tempfile::tempdir().expect("work dir");
    let key = work.path().join("publisher");
    local(args(&["pack", "keygen", key.to_str().expect("utf-8")])).await.ok();
    let (secret, public) = (key.with_extension("key"), key.with_extension("pub"));

    let bundle = work.path().join("github.wasm");
    build(&source("github", "0.1.0", work.path()), GITHUB_PACK, &secret, &bundle).await;
    let path = bundle.to_str().expect("utf-8");
    // Verifies locally with the publisher's key and lists what it asks for.
    let verified = local(args(&["pack", "verify", path, "--key", public.to_str().expect("utf-8")]));
    let verified = verified.await;
    assert!(verified.ok().contains("signature ok"), "{}", verified.stdout);
    assert!(verified.stdout.contains("secret=github_webhook_secret"), "{}", verified.stdout);

    // Not trusted yet: refused, and nothing is installed.
    let refused = server.cli(&["pack", "install", path, "--yes"]).await;
    assert_ne!(refused.code, 0);
    assert!(refused.stderr.contains("not trusted here"), "{}", refused.stderr);
    assert!(server.api.engine.ingest().action("github.webhook").is_none());

    server.cli(&["trust", "add", "publisher", public.to_str().expect("utf-8")]).await.ok();
    let trusted = server.cli(&["trust", "list", "--json"]).await.json();
    assert_eq!(trusted[0]["name"], "publisher");
    // The refusal named the key id the operator now sees in the list.
    let key_id = trusted[0]["key_id"].as_str().expect("a key id");
    assert_eq!(key_id.len(), 24, "{trusted}");
    assert!(refused.stderr.contains(&format!("signed by key id {key_id};")), "{}", refused.stderr);
    // Installed from a URL this time (plain http is accepted on loopback).
    let bytes = std::fs::read(&bundle).expect("bundle");
    let app = axum::Router::new()
        .route("/github.wasm", axum::routing::get(move || std::future::ready(bytes.clone())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("listener");
    let url = format!("http://{}/github.wasm", listener.local_addr().expect("address"));
    tokio::spawn(axum::serve(listener, app).into_future());
    let installed = server.cli(&["pack", "install", &url, "--yes"]).await;
    assert!(installed.ok().starts_with("installed github 0.1.0"), "{}", installed.stdout);
    let rule = server.cli(&["rule", "get", "github.log_push", "--json"]).await.json();
    assert_eq!(rule["ref"], "github.log_push", "{rule}");
    let pack = server.cli(&["pack", "get", "github", "--json"]).await.json();
    assert_eq!(pack["grants"]["secrets"], serde_json::json!(["github_webhook_secret"]), "{pack}");

    // The refusal and the install are in the audit log, with who and what.
    let refusals = server.cli(&["audit", "--action", "pack.refused", "--json"]).await.json();
    assert_eq!(refusals.as_array().map(Vec::len), Some(1), "{refusals}");
    assert_eq!(refusals[0]["actor"], "admin (API key admin)");
    assert!(refusals[0]["detail"]["reason"].as_str().is_some_and(|r| r.contains("not trusted")));
    let installs = server.cli(&["audit", "--action", "pack.install", "--json"]).await.json();
    assert_eq!(installs[0]["subject"], "github", "{installs}");
    assert_eq!(installs[0]["detail"]["signer"], "publisher", "{installs}");

    // A build whose rule names an action the pack does not have fails,
    // naming the file and the field.
    let broken = source("github", "0.1.1", work.path());
    let rule = broken.join("rules").join("log_push.yaml");
    let text = std::fs::read_to_string(&rule).expect("rule").replace("core.echo", "github.nope");
    std::fs::write(&rule, text).expect("write rule");
    let failed = local(args(&[
        "pack",
        "build",
        broken.to_str().expect("utf-8"),
        "--component",
        GITHUB_PACK,
    ]))
    .await;
    assert_ne!(failed.code, 0);
    assert!(
        failed.stderr.contains("log_push.yaml: action.ref: `github.nope`"),
        "{}",
        failed.stderr
    );
}

/// The compiled files in a compile cache: (engine dir/file name, inode).
fn cached(cache: &Path) -> Vec<(String, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    let mut files = Vec::new();
    for engine in std::fs::read_dir(cache).expect("cache dir").flatten() {
        for file in std::fs::read_dir(engine.path()).expect("engine dir").flatten() {
            let name = format!(
                "{}/{}",
                engine.file_name().to_string_lossy(),
                file.file_name().to_string_lossy()
            );
            files.push((name, file.metadata().expect("metadata").ino()));
        }
    }
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_built_bundle_runs_locally_without_being_compiled_again() {
    let work = tempfile::tempdir().expect("work dir");
    let cache = work.path().join("cache");
    let bundle = work.path().join("core.wasm");
    let key = work.path().join("author");
    local(args(&["pack", "keygen", key.to_str().expect("utf-8")])).await.ok();
    let src = source("core", "0.1.0", work.path());
    let built = local(args(&[
        "pack",
        "build",
        src.to_str().expect("utf-8"),
        "--component",
        squall_tests::CORE_PACK,
        "--sign",
        key.with_extension("key").to_str().expect("utf-8"),
        "--out",
        bundle.to_str().expect("utf-8"),
        "--cache-dir",
        cache.to_str().expect("utf-8"),
    ]))
    .await;
    assert!(built.ok().starts_with("built core 0.1.0"), "{}", built.stdout);
    // The signed bundle, as written, is what was compiled.
    let digest = squall::pack::sha256_hex(&std::fs::read(&bundle).expect("bundle"));
    let after_build = cached(&cache);
    assert_eq!(after_build.len(), 1, "{after_build:?}");
    assert!(after_build[0].0.ends_with(&format!("/{digest}.cwasm")), "{after_build:?}");

    // A local run of it loads that file and writes nothing.
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_squall-host"))
        .args(["run", "--component", bundle.to_str().expect("utf-8"), "--cache-dir"])
        .arg(&cache)
        .args(["core.echo", "message=hi"])
        .env("SQUALL_LOG", "squall=debug")
        .env_remove("SQUALL_CACHE_DIR")
        .current_dir(work.path())
        .output()
        .expect("squall run");
    let said = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{said}");
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), r#"{"message":"hi"}"#);
    assert!(said.contains("loaded from the compile cache"), "{said}");
    assert_eq!(cached(&cache), after_build);
}

/// `squall pack dev ARGS` as a child process against `server`, its stdout
/// read line by line on a thread of its own.
fn dev_child(
    server: &Server,
    extra: &[&str],
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_squall-host"))
        .args(["pack", "dev"])
        .args(extra)
        .args(server.credentials())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("squall pack dev");
    let stdout = child.stdout.take().expect("stdout");
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    (child, received)
}

/// The next line `pack dev` prints within `limit`.
fn next_line(lines: &std::sync::mpsc::Receiver<String>, limit: std::time::Duration) -> String {
    lines.recv_timeout(limit).unwrap_or_else(|e| panic!("pack dev printed nothing: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pack_dev_installs_once_and_reinstalls_when_a_source_file_changes() {
    let (server, _cache) = start().await;
    let work = tempfile::tempdir().expect("work dir");
    let key = work.path().join("author");
    local(args(&["pack", "keygen", key.to_str().expect("utf-8")])).await.ok();
    let public = key.with_extension("pub");
    server.cli(&["trust", "add", "author", public.to_str().expect("utf-8")]).await.ok();
    let secret = key.with_extension("key");
    let src = source("http", "0.1.0", work.path());
    let common = [
        src.to_str().expect("utf-8"),
        "--component",
        HTTP_PACK,
        "--sign",
        secret.to_str().expect("utf-8"),
        "--grant",
        "http=http://127.0.0.1:*",
    ];

    // Unsigned, to a server that wants signatures: one line that says so.
    let unsigned =
        server.cli(&["pack", "dev", "--once", common[0], "--component", HTTP_PACK]).await;
    assert_eq!(unsigned.code, 1, "{unsigned:?}");
    assert!(unsigned.stdout.contains("does not accept unsigned bundles"), "{unsigned:?}");
    // --once: built, installed with the grants given, one line.
    let once = server.cli(&[&["pack", "dev", "--once"], &common[..]].concat()).await;
    let line = once.ok().trim();
    assert!(line.contains(" start: installed http 0.1.0 (signed by author; "), "{line}");
    assert_eq!(once.stdout.lines().count(), 1, "{}", once.stdout);
    let pack = server.cli(&["pack", "get", "http", "--json"]).await.json();
    assert_eq!(pack["version"], "0.1.0");
    assert_eq!(pack["grants"]["outbound_hosts"], serde_json::json!(["http://127.0.0.1:*"]));

    // Watching: an edit of pack.toml is a new version on the server; the
    // bundle it writes under target/ does not start another cycle.
    let (mut child, lines) = dev_child(&server, &common);
    let limit = std::time::Duration::from_secs(120);
    let first = next_line(&lines, limit);
    assert!(first.contains(" start: reinstalled http 0.1.0 "), "{first}");
    let manifest = src.join("pack.toml");
    let text = std::fs::read_to_string(&manifest).expect("pack.toml");
    std::fs::write(&manifest, text.replacen("version = \"0.1.0\"", "version = \"0.2.0\"", 1))
        .expect("edit pack.toml");
    let second = next_line(&lines, limit);
    assert!(second.contains(" pack.toml changed: upgraded http from 0.1.0 to 0.2.0 "), "{second}");
    let pack = server.cli(&["pack", "get", "http", "--json"]).await.json();
    assert_eq!(pack["version"], "0.2.0");
    assert!(src.join("target").join("http-0.2.0.wasm").is_file());
    // A broken edit is one failed cycle that names the cause; the server
    // keeps what it had.
    std::fs::write(&manifest, "name = \"http\"\nversion = \"not a version\"\n").expect("break");
    let third = next_line(&lines, limit);
    assert!(third.contains(" pack.toml changed: failed after "), "{third}");
    assert!(third.contains("build failed"), "{third}");
    let quiet = lines.recv_timeout(std::time::Duration::from_secs(2));
    assert!(quiet.is_err(), "a cycle nothing started: {quiet:?}");
    let _ = child.kill();
    let _ = child.wait();
    let pack = server.cli(&["pack", "get", "http", "--json"]).await.json();
    assert_eq!(pack["version"], "0.2.0");
}
