//! Shared harness for the integration tests: paths of the guests that
//! `build.rs` compiled, and a runtime set up the way the tests need it.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use squall::runtime::{
    ActionRequest, HostServices, Invocation, Limits, LoadedComponent, Runtime, RuntimeConfig,
};

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

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

    /// Loads the component at `path` as pack `pack`, panicking on failure.
    pub fn load(&self, path: &str, pack: &str) -> LoadedComponent {
        self.runtime.load(Path::new(path), pack).unwrap_or_else(|e| panic!("loading {path}: {e}"))
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
