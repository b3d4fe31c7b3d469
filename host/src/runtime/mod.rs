//! The WebAssembly runtime: one engine, the compile cache, sandbox limits and
//! the host side of the `squall:pack` imports. Only this module knows wasmtime.
//!
//! Every invocation gets a fresh `Store` (state never leaks between
//! executions) with a memory cap and a wall-clock deadline, and runs on the
//! runtime's own guest threads, never its caller's; components are
//! compiled once, cached on disk and pre-instantiated once.

mod bindings;
mod cache;
mod component;
mod error;
mod grants;
mod guests;
mod host;
mod limits;
mod sandbox;
mod sensor;
mod services;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::Linker;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

pub use cache::LoadOrigin;
pub use component::{ActionRequest, Invocation, LoadedComponent};
pub use error::{
    ACTION_INTERFACE, InvokeError, LoadError, PackError, PackErrorKind, RuntimeError,
    SENSOR_INTERFACE,
};
pub use grants::{GrantError, Grants, OutboundHost};
pub use limits::Limits;
pub use sandbox::{LogBuffer, LogLevel, LogRecord, LogTap, SharedLogs};
pub use sensor::{Polled, SensorEvent, WebhookOutcome, WebhookRequest, WebhookResponse};
pub use services::{
    AuditSink, BoxFuture, Capability, ConfigSource, Denial, HostServices, KvBackend, LogAudit,
    MemoryAudit, MemoryKv, SecretSource, StaticConfig, StaticSecrets,
};

use bindings::action;
use sandbox::Sandbox;

/// How the engine is set up. Fixed for the runtime's lifetime.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Root of the compile cache; a subdirectory per engine version.
    pub cache_dir: PathBuf,
    /// Sandboxes that may exist at once (the size of the instance pool).
    pub max_concurrent_instances: u32,
    /// Largest linear memory any sandbox may be given, in bytes; per-call
    /// caps ([`Limits::memory_bytes`]) are at most this.
    pub max_memory_bytes: u64,
    /// How often the epoch advances. A computing guest gives its thread
    /// back at every tick and traps at the first tick past its deadline.
    pub epoch_tick: Duration,
    /// Threads that run sandboxes, and nothing else: guest code never runs
    /// on a caller's threads.
    pub guest_threads: usize,
}

impl RuntimeConfig {
    /// Defaults with the compile cache under `cache_dir`.
    pub fn with_cache_dir(cache_dir: impl Into<PathBuf>) -> Self {
        Self {
            cache_dir: cache_dir.into(),
            max_concurrent_instances: 128,
            max_memory_bytes: 4 << 30,
            epoch_tick: Duration::from_millis(10),
            guest_threads: std::thread::available_parallelism().map_or(2, usize::from),
        }
    }
}

/// The WebAssembly engine, its linker and compile cache, and the threads
/// sandboxes run on (with the epoch thread that makes them yield and stop).
/// Cheap to share behind an `Arc`.
pub struct Runtime {
    engine: Engine,
    linker: Linker<Sandbox>,
    cache: cache::CompileCache,
    config: RuntimeConfig,
    services: HostServices,
    guests: Arc<guests::GuestThreads>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Runtime {
    /// Builds the engine with the pooling allocator and epoch interruption,
    /// links the host interfaces and opens the compile cache.
    pub fn new(config: RuntimeConfig, services: HostServices) -> Result<Self, RuntimeError> {
        let engine = Engine::new(&engine_config(&config))
            .map_err(|e| RuntimeError::Engine(error::one_line(&e)))?;
        let mut linker = Linker::new(&engine);
        host::add_to_linker(&mut linker).map_err(|e| RuntimeError::Link(error::one_line(&e)))?;
        let cache = cache::CompileCache::open(&config.cache_dir, &engine)?;
        let guests = Arc::new(guests::GuestThreads::start(
            config.guest_threads,
            &engine,
            config.epoch_tick,
        )?);
        Ok(Self { engine, linker, cache, config, services, guests })
    }

    /// The directory compiled artefacts for this engine are kept in.
    pub fn cache_dir(&self) -> &Path {
        self.cache.dir()
    }

    /// Reads, checks, compiles (or fetches from the cache) and links the
    /// component at `path`, scoping its imports to `pack`. It is granted
    /// nothing ([`Grants::default`]); see [`Runtime::load_bytes_granted`].
    pub fn load(&self, path: &Path, pack: &str) -> Result<LoadedComponent, LoadError> {
        let wasm = std::fs::read(path)
            .map_err(|source| LoadError::Read { path: path.to_owned(), source })?;
        self.load_bytes(path, &wasm, pack)
    }

    /// Like [`Runtime::load`] for bytes already in memory; `path` only names
    /// them in errors.
    pub fn load_bytes(
        &self,
        path: &Path,
        wasm: &[u8],
        pack: &str,
    ) -> Result<LoadedComponent, LoadError> {
        self.load_bytes_granted(path, wasm, pack, Grants::default())
    }

    /// Like [`Runtime::load_bytes`], with the capabilities the operator
    /// granted `pack`: every sandbox of the component enforces `grants`.
    pub fn load_bytes_granted(
        &self,
        path: &Path,
        wasm: &[u8],
        pack: &str,
        grants: Grants,
    ) -> Result<LoadedComponent, LoadError> {
        check_header(path, wasm)?;
        let (component, origin, sha256) = self.cache.load(&self.engine, path, wasm)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Link { path: path.to_owned(), message: error::one_line(&e) })?;
        let action = action::GuestIndices::new(&pre).ok();
        let sensor = bindings::sensor::GuestIndices::new(&pre).ok();
        if action.is_none() && sensor.is_none() {
            return Err(LoadError::NoEntryPoint { path: path.to_owned() });
        }
        Ok(LoadedComponent {
            path: path.to_owned(),
            pack: Arc::from(pack),
            grants: Arc::new(grants),
            sha256,
            origin,
            pre,
            action,
            sensor,
            services: self.services.clone(),
            max_memory_bytes: self.config.max_memory_bytes,
            guests: self.guests.clone(),
        })
    }
}

/// Bytes of each pooled memory, table and stack reset in place on reuse.
const KEEP_RESIDENT: usize = 1 << 20;

fn engine_config(config: &RuntimeConfig) -> Config {
    let instances = config.max_concurrent_instances.max(1);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(instances)
        .total_core_instances(instances.saturating_mul(16))
        .max_core_instances_per_component(64)
        .total_memories(instances.saturating_mul(2))
        .max_memories_per_component(4)
        .total_tables(instances.saturating_mul(8))
        .max_tables_per_component(16)
        .total_stacks(instances)
        .max_memory_size(usize::try_from(config.max_memory_bytes).unwrap_or(usize::MAX))
        // Reset only the pages a sandbox dirtied (PAGEMAP_SCAN, Linux 6.7+),
        // in place, instead of unmapping the slot: instantiation stays in
        // the tens of microseconds. Falls back to madvise where unsupported.
        .pagemap_scan(wasmtime::Enabled::Auto)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(KEEP_RESIDENT)
        .async_stack_keep_resident(KEEP_RESIDENT);

    let mut wasm = Config::new();
    wasm.wasm_component_model(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    wasm
}

/// Distinguishes "not Wasm" and "a core module" from a broken component
/// before the compiler sees the bytes, so that each gets its own message.
fn check_header(path: &Path, wasm: &[u8]) -> Result<(), LoadError> {
    const MAGIC: &[u8] = b"\0asm";
    const CORE_VERSION: [u8; 4] = [1, 0, 0, 0];
    if !wasm.starts_with(MAGIC) {
        return Err(LoadError::NotWasm { path: path.to_owned() });
    }
    if wasm.get(4..8) == Some(&CORE_VERSION) {
        return Err(LoadError::NotComponent { path: path.to_owned() });
    }
    Ok(())
}
