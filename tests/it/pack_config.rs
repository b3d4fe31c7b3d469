//! A pack's configuration set after install (`squall pack config`,
//! StackStorm's `/configs` and `/config_schemas`): against a real `squall
//! serve` on loopback and its store, the diskguard pack installs without a
//! config (its action then names the key it misses), takes one from a YAML
//! file, refuses one that does not fit its schema (naming the file and the
//! JSON path, keeping the old one), masks secrets, reaches the next run
//! without a restart and survives a restart; and through the API tests'
//! server, who may read, reveal and set it.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use squall::engine::{InstallRequest, PackConfigs, PackManager};
use squall::runtime::{Grants, HostServices, Runtime, RuntimeConfig};
use squall_tests::DISKGUARD_PACK;

use super::client::Server;

/// What one CLI invocation did.
struct Ran {
    code: u8,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn json(&self) -> Value {
        assert_eq!(self.code, 0, "{}{}", self.stdout, self.stderr);
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

/// `squall ARGS` in this process.
fn squall(args: &[&str]) -> Ran {
    let argv = std::iter::once("squall").chain(args.iter().copied());
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let code = squall::cli::execute(argv, &mut stdout, &mut stderr);
    Ran {
        code,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

fn utf8(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// The diskguard pack, with a secret `api_token` in its config schema,
/// built into an unsigned bundle in `dir`.
fn diskguard_bundle(dir: &Path) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packs/diskguard");
    let src = dir.join("diskguard-src");
    for sub in ["rules", "workflows"] {
        std::fs::create_dir_all(src.join(sub)).expect("dir");
        for file in std::fs::read_dir(from.join(sub)).expect("read").flatten() {
            std::fs::copy(file.path(), src.join(sub).join(file.file_name())).expect("copy");
        }
    }
    let manifest = std::fs::read_to_string(from.join("pack.toml")).expect("pack.toml");
    let manifest = manifest.replacen(
        "[config.properties]\n",
        "[config.properties]\napi_token = { type = \"string\", secret = true }\n",
        1,
    );
    assert!(manifest.contains("api_token"), "diskguard's pack.toml changed shape");
    std::fs::write(src.join("pack.toml"), manifest).expect("pack.toml");
    let bundle = dir.join("diskguard.wasm");
    let built = squall(&[
        "pack",
        "build",
        utf8(&src),
        "--component",
        DISKGUARD_PACK,
        "--out",
        utf8(&bundle),
    ]);
    assert_eq!(built.code, 0, "{}{}", built.stdout, built.stderr);
    bundle
}

/// `squall serve --allow-unsigned` on `dir`'s data directory; killed on
/// drop.
struct Serve {
    child: Child,
    url: String,
    key: String,
}

impl Serve {
    fn start(dir: &Path) -> Self {
        let mut child = squall_tests::serve_in(env!("CARGO_BIN_EXE_squall-host"), dir)
            .arg("--allow-unsigned")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start squall serve");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut url = None;
        for line in lines.by_ref().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on ").nth(1) {
                url = rest.split(' ').next().map(str::to_owned);
                break;
            }
        }
        std::thread::spawn(move || lines.for_each(drop));
        let url = url.expect("squall serve did not start");
        let key = std::fs::read_to_string(dir.join("data/admin-api-key")).expect("admin key");
        Self { child, url, key: key.trim().to_owned() }
    }

    /// `squall ARGS` as the admin of this server.
    fn squall(&self, args: &[&str]) -> Ran {
        let mut all = args.to_vec();
        all.extend(["--url", &self.url, "--api-key", &self.key]);
        squall(&all)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// diskguard's `usage` poll sensor as `squall sensor list` shows it, once
/// `ready` holds (within 20 s).
fn wait_for_sensor(server: &Serve, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let sensors = server.squall(&["sensor", "list", "--json"]).json();
        let usage = sensors
            .as_array()
            .and_then(|all| all.iter().find(|s| s["ref"] == "diskguard.usage"))
            .cloned()
            .unwrap_or(Value::Null);
        if ready(&usage) {
            return usage;
        }
        assert!(std::time::Instant::now() < deadline, "diskguard.usage: {usage}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn a_config_set_after_install_reaches_the_next_run_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = diskguard_bundle(dir.path());
    let watched = dir.path().join("watched");
    let (first, second) = (watched.join("first"), watched.join("second"));
    for d in [&first, &second] {
        std::fs::create_dir_all(d).expect("dir");
    }
    let server = Serve::start(dir.path());
    let installed = server.squall(&[
        "pack",
        "install",
        utf8(&bundle),
        "--allow-unsigned",
        "--grant",
        "exec=/usr/bin/find",
        "--grant",
        "exec=/usr/bin/df",
    ]);
    assert_eq!(installed.code, 0, "installs without a config: {}", installed.stderr);

    let usage = wait_for_sensor(&server, |usage| usage["errors"].as_u64() >= Some(1));
    let missing = usage["last_error"].as_str().is_some_and(|e| e.contains("missing field `path`"));
    assert!(missing, "the sensor names the key it misses: {usage}");

    // No config yet: reading it says how to set one; the action that
    // needs it says which key it misses.
    let unset = server.squall(&["pack", "config", "diskguard"]);
    assert_eq!(unset.code, 2);
    assert!(unset.stderr.contains("has no config set"), "{}", unset.stderr);
    let run = server.squall(&["run", "diskguard.cleanup", "--json"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("`dir` is not given and not configured"), "{}", run.stdout);

    let yaml = dir.path().join("diskguard.yaml");
    let config = |cleanup: &Path| {
        format!(
            "# diskguard\npath: {}\ncleanup_dir: {}\napi_token: s3cret-token\n",
            utf8(&watched),
            utf8(cleanup)
        )
    };
    std::fs::write(&yaml, config(&first)).expect("write");
    let set = server.squall(&["pack", "config", "diskguard", utf8(&yaml)]);
    assert_eq!(set.code, 0, "{}", set.stderr);
    assert!(set.stdout.contains("config of diskguard set"), "{}", set.stdout);

    let shown = server.squall(&["pack", "config", "diskguard", "--json"]).json();
    assert_eq!(shown["pack"], "diskguard");
    assert_eq!(shown["values"]["api_token"], "********");
    assert_eq!(shown["values"]["cleanup_dir"], utf8(&first));
    let revealed = server.squall(&["pack", "config", "diskguard", "--show-secrets", "--json"]);
    assert_eq!(revealed.json()["values"]["api_token"], "s3cret-token");
    let cleaned = server.squall(&["run", "diskguard.cleanup", "--json"]).json();
    assert_eq!(cleaned["result"]["dir"], utf8(&first), "{cleaned}");
    // The poll sensor, which failed without a config, starts over with it.
    let usage = wait_for_sensor(&server, |usage| usage["polls"].as_u64() >= Some(1));
    assert_eq!(usage["errors"], 0, "{usage}");
    assert_eq!(usage["last_error"], Value::Null, "{usage}");

    // A config that does not fit: refused, naming the file and the path;
    // the stored one stays.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"path": 5, "cleanup_dir": "/tmp", "api_token": 12345}"#)
        .expect("write");
    let refused = server.squall(&["pack", "config", "diskguard", utf8(&bad)]);
    assert_eq!(refused.code, 2);
    assert!(refused.stderr.contains("bad.json"), "{}", refused.stderr);
    assert!(refused.stderr.contains("/path: 5 is not of type \"string\""), "{}", refused.stderr);
    assert!(refused.stderr.contains("/api_token"), "{}", refused.stderr);
    assert!(!refused.stderr.contains("12345"), "a secret quoted: {}", refused.stderr);
    let kept = server.squall(&["pack", "config", "diskguard", "--show-secrets", "--json"]);
    assert_eq!(kept.json()["values"]["cleanup_dir"], utf8(&first));

    // A new config reaches the next run without a restart.
    std::fs::write(&yaml, config(&second)).expect("write");
    assert_eq!(server.squall(&["pack", "config", "diskguard", utf8(&yaml)]).code, 0);
    let cleaned = server.squall(&["run", "diskguard.cleanup", "--json"]).json();
    assert_eq!(cleaned["result"]["dir"], utf8(&second), "{cleaned}");

    // Audited with the pack and who, never the values.
    let audit = server.squall(&["audit", "--action", "pack.config", "--json"]).json().to_string();
    assert!(audit.contains("diskguard") && audit.contains("admin"), "{audit}");
    assert!(!audit.contains("s3cret") && !audit.contains(utf8(&second)), "{audit}");

    drop(server);
    let server = Serve::start(dir.path());
    let after = server.squall(&["pack", "config", "diskguard", "--show-secrets", "--json"]);
    let after = after.json();
    assert_eq!(after["values"]["cleanup_dir"], utf8(&second));
    assert_eq!(after["values"]["api_token"], "s3cret-token");
    let cleaned = server.squall(&["run", "diskguard.cleanup", "--json"]).json();
    assert_eq!(cleaned["result"]["dir"], utf8(&second), "{cleaned}");

    // Installing again without --config keeps the config set.
    let again = server.squall(&[
        "pack",
        "install",
        utf8(&bundle),
        "--allow-unsigned",
        "--grant",
        "exec=/usr/bin/find",
        "--grant",
        "exec=/usr/bin/df",
    ]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let kept = server.squall(&["pack", "config", "diskguard", "--json"]).json();
    assert_eq!(kept["values"]["cleanup_dir"], utf8(&second), "{kept}");

    // `-` reads the config from standard input.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_squall-host"))
        .args(["pack", "config", "diskguard", "-", "--url", &server.url, "--api-key", &server.key])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("squall pack config -");
    let stdin = format!(r#"{{"path": "{}", "cleanup_dir": "{}"}}"#, utf8(&watched), utf8(&first));
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), stdin.as_bytes())
        .expect("write stdin");
    let output = child.wait_with_output().expect("wait");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(said.contains("set from standard input (2 keys)"), "{said}");
    let cleaned = server.squall(&["run", "diskguard.cleanup", "--json"]).json();
    assert_eq!(cleaned["result"]["dir"], utf8(&first), "{cleaned}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_may_read_reveal_and_set_a_config() {
    let server = Server::start().await;
    let work = tempfile::tempdir().expect("work dir");
    let bundle = diskguard_bundle(work.path());
    let configs = Arc::new(PackConfigs::default());
    let services = HostServices { config: configs.clone(), ..HostServices::default() };
    let runtime = Runtime::new(RuntimeConfig::with_cache_dir(work.path().join("cache")), services)
        .expect("runtime");
    let packs = PackManager::new(server.api.engine.clone(), Arc::new(runtime))
        .with_configs(configs.clone());
    packs
        .install(InstallRequest {
            bundle: std::fs::read(&bundle).expect("bundle"),
            origin: "diskguard.wasm".into(),
            grants: Grants::default(),
            allow_unsigned: true,
            config: Value::Null,
            actor: "test".into(),
        })
        .await
        .expect("installs without a config");
    server.api.state.enable_pack_lifecycle(packs);
    let api = &server.api;

    let values = json!({"path": "/", "cleanup_dir": "/tmp/x", "api_token": "s3cret"});
    let (status, body) =
        api.call(Method::PUT, "/api/v1/configs/diskguard", Some(values.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"id": "diskguard", "pack": "diskguard", "values": {"path": "/", "cleanup_dir": "/tmp/x", "api_token": "********"}})
    );
    use squall::runtime::ConfigSource as _;
    assert_eq!(configs.config("diskguard").map(|c| c.contains("s3cret")), Some(true));

    // Invalid: 400 naming the path; the stored config stays.
    let (status, body) = api
        .call(
            Method::PUT,
            "/api/v1/configs/diskguard",
            Some(json!({"path": "/", "cleanup_dir": 3})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["detail"]["path"], "/cleanup_dir", "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("/cleanup_dir")), "{body}");
    let (status, body) =
        api.call(Method::GET, "/api/v1/configs/diskguard?show_secrets=true", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["values"], values, "the admin sees secrets when asking");

    let observer = api.key_for("viewer", &["observer"], &[]).await;
    let nobody = api.key_for("nobody", &[], &[]).await;
    let (status, body) =
        api.call_as(&observer, Method::GET, "/api/v1/configs/diskguard", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["values"]["api_token"], "********");
    let (status, body) = api.call_as(&observer, Method::GET, "/api/v1/configs", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body[0]["values"]["api_token"], "********", "{body}");
    let (status, body) = api
        .call_as(&observer, Method::GET, "/api/v1/configs/diskguard?show_secrets=true", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["detail"]["parameter"], "show_secrets", "{body}");
    let (status, body) = api
        .call_as(&observer, Method::PUT, "/api/v1/configs/diskguard", Some(values.clone()))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["detail"]["permission"], "pack_config", "{body}");
    let (status, body) = api.call_as(&nobody, Method::GET, "/api/v1/configs/diskguard", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["detail"]["permission"], "pack_view", "{body}");

    // The schema, in StackStorm's shape and whole.
    let (status, body) =
        api.call_as(&observer, Method::GET, "/api/v1/config_schemas/diskguard", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["attributes"]["api_token"]["secret"], true, "{body}");
    assert_eq!(body["schema"]["required"], json!(["path", "cleanup_dir"]), "{body}");
    let (status, body) = api.call_as(&observer, Method::GET, "/api/v1/config_schemas", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body.as_array().map(Vec::len), Some(1), "only diskguard has one: {body}");
    let (status, _) = api.call(Method::GET, "/api/v1/config_schemas/core", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
