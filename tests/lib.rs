//! Shared harness for the integration tests: paths of the guests that
//! `build.rs` compiled, and a runtime set up the way the tests need it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use squall::runtime::{
    ActionRequest, Grants, HostServices, Invocation, Limits, LoadedComponent, Runtime,
    RuntimeConfig,
};

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

pub mod simulated;

/// A runtime with its own compile cache in a temporary directory.
#[derive(Debug)]
pub struct TestRuntime {
    /// The runtime under test.
    pub runtime: Runtime,
    /// Keeps the cache directory alive as long as the runtime.
    pub cache: tempfile::TempDir,
}

impl TestRuntime {
    /// A fresh runtime with default host services and an empty cache.
    pub fn new() -> Self {
        Self::with_services(HostServices::default())
    }

    /// A fresh runtime backed by `services`, with an empty cache.
    pub fn with_services(services: HostServices) -> Self {
        Self::build(services, 16)
    }

    /// A fresh runtime whose pool holds only `instances` sandboxes.
    pub fn with_pool(instances: u32) -> Self {
        Self::build(HostServices::default(), instances)
    }

    fn build(services: HostServices, instances: u32) -> Self {
        let cache = tempfile::tempdir().expect("temporary cache dir");
        let config = RuntimeConfig {
            max_concurrent_instances: instances,
            ..RuntimeConfig::with_cache_dir(cache.path())
        };
        let runtime = Runtime::new(config, services).expect("runtime");
        Self { runtime, cache }
    }

    /// Loads the component at `path` as pack `pack`, granted nothing,
    /// panicking on failure.
    pub fn load(&self, path: &str, pack: &str) -> LoadedComponent {
        self.runtime.load(Path::new(path), pack).unwrap_or_else(|e| panic!("loading {path}: {e}"))
    }

    /// Loads the component at `path` as pack `pack` with `grants`,
    /// panicking on failure.
    pub fn load_granted(&self, path: &str, pack: &str, grants: Grants) -> LoadedComponent {
        let wasm = std::fs::read(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        self.runtime
            .load_bytes_granted(Path::new(path), &wasm, pack, grants)
            .unwrap_or_else(|e| panic!("loading {path}: {e}"))
    }

    /// Loads the component at `path` as pack `pack` granted only its
    /// key-value scope.
    pub fn load_with_kv(&self, path: &str, pack: &str) -> LoadedComponent {
        self.load_granted(path, pack, Grants { kv: true, ..Grants::default() })
    }
}

impl Default for TestRuntime {
    fn default() -> Self {
        Self::new()
    }
}

/// The core pack and the hostile guest, loaded once per test binary into a
/// shared runtime: most tests only call actions.
pub fn shared() -> &'static (TestRuntime, Arc<LoadedComponent>, Arc<LoadedComponent>) {
    static SHARED: OnceLock<(TestRuntime, Arc<LoadedComponent>, Arc<LoadedComponent>)> =
        OnceLock::new();
    SHARED.get_or_init(|| {
        let runtime = TestRuntime::new();
        let core = Arc::new(runtime.load(CORE_PACK, "core"));
        let hostile = Arc::new(runtime.load(HOSTILE_GUEST, "hostile"));
        (runtime, core, hostile)
    })
}

/// A request for `action` with `params` (a JSON object as text).
pub fn request(action: &str, params: &str) -> ActionRequest {
    ActionRequest {
        action: action.to_owned(),
        params: params.to_owned(),
        execution_id: "test-execution".to_owned(),
        attempt: 1,
    }
}

/// Runs `action` on `component` with default limits.
pub async fn call(component: &LoadedComponent, action: &str, params: &str) -> Invocation {
    component.run_action(&request(action, params), &Limits::default()).await
}

/// Runs the CLI in-process with `args` (without the program name) and
/// renders its exit status, stdout and stderr for a snapshot.
pub fn run_cli(args: &[&str]) -> String {
    let argv = std::iter::once("squall").chain(args.iter().copied());
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let code = squall::cli::execute(argv, &mut stdout, &mut stderr);
    format!(
        "exit {code}\nstdout: {}stderr: {}",
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr),
    )
}

/// The core pack's manifest, beside its source.
pub const CORE_MANIFEST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../packs/core/pack.toml");

// ---- OCI registry (pack::registry tests) ----

/// A real OCI registry (`docker-registry`, the CNCF distribution server) on
/// a loopback port with its storage in a temporary directory; killed on
/// drop.
#[derive(Debug)]
pub struct RegistryServer {
    child: std::process::Child,
    port: u16,
    /// Holds the configuration, the storage and the log.
    pub dir: tempfile::TempDir,
}

impl RegistryServer {
    /// Starts a registry on a free loopback port and waits until `GET /v2/`
    /// answers. Panics, saying how to install it, if `docker-registry` is
    /// missing.
    pub fn start() -> Self {
        const BINARY: &str = "docker-registry";
        let mut dir = tempfile::tempdir().expect("registry dir");
        for _attempt in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free loopback port")
                .port();
            let config = format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("storage").display()
            );
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).expect("write registry config");
            let log = std::fs::File::create(dir.path().join("registry.log")).expect("log file");
            let child = std::process::Command::new(BINARY)
                .arg("serve")
                .arg(&config_path)
                .stdin(std::process::Stdio::null())
                .stdout(log.try_clone().expect("log file"))
                .stderr(log)
                .spawn();
            let child = match child {
                Ok(child) => child,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                    "`{BINARY}` is not installed; the registry tests need it: \
                     apt-get install docker-registry"
                ),
                Err(e) => panic!("starting {BINARY}: {e}"),
            };
            let mut server = Self { child, port, dir };
            if server.wait_ready() {
                return server;
            }
            // Most likely another process took the port: try another one.
            let _ = server.child.kill();
            let _ = server.child.wait();
            dir = std::mem::replace(&mut server.dir, tempfile::tempdir().expect("registry dir"));
        }
        let log = std::fs::read_to_string(dir.path().join("registry.log")).unwrap_or_default();
        panic!("{BINARY} did not start after 5 attempts; its log:\n{log}");
    }

    /// Waits until `GET /v2/` answers 200; false if the process exits or
    /// ten seconds pass first.
    fn wait_ready(&mut self) -> bool {
        use std::io::{Read, Write};
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return false;
            }
            if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                let request = format!(
                    "GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
                    self.port
                );
                let mut answer = String::new();
                if stream.write_all(request.as_bytes()).is_ok()
                    && stream.read_to_string(&mut answer).is_ok()
                    && answer.starts_with("HTTP/1.1 200")
                {
                    return true;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        false
    }

    /// `127.0.0.1:<port>`, the registry part of references to it.
    pub fn host_port(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- data-driven fixtures ----

/// The `*.yaml` fixtures in `tests/DIR` (e.g. `it/workflows`), sorted.
pub fn yaml_fixtures(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the fixture directory {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    files
}

/// Compares `actual(fixture)` with the `.expected` file beside each fixture
/// and panics listing every difference; with `UPDATE_EXPECT` set it
/// rewrites the expected files instead.
pub fn check_expected(files: &[PathBuf], mut actual: impl FnMut(&Path) -> String) {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut mismatched = Vec::new();
    for path in files {
        let actual = actual(path);
        let expected_path = path.with_extension("expected");
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if actual == expected {
            continue;
        }
        if update {
            std::fs::write(&expected_path, &actual).expect("writing the expected file");
        } else {
            mismatched.push(format!(
                "{}:\n--- expected\n{expected}--- actual\n{actual}",
                expected_path.display()
            ));
        }
    }
    assert!(
        mismatched.is_empty(),
        "{} fixture(s) differ (UPDATE_EXPECT=1 rewrites them):\n{}",
        mismatched.len(),
        mismatched.join("\n")
    );
}

/// `squall serve` (the binary `squall`, which integration tests name with
/// `env!("CARGO_BIN_EXE_squall-host")`) on a free loopback port with its
/// data under `dir/data`, run in `dir` (with the core pack built into the
/// binary and no other), with the settings a developer's environment may
/// hold cleared. Stdin is
/// closed; the caller sets stdout and stderr.
pub fn serve_in(squall: &str, dir: &Path) -> std::process::Command {
    let mut command = std::process::Command::new(squall);
    command
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--listen", "127.0.0.1:0"])
        .current_dir(dir)
        .env_remove("SQUALL_DATA_DIR")
        .env_remove("SQUALL_LISTEN")
        .stdin(std::process::Stdio::null());
    command
}
