//! The per-invocation store data: WASI context, resource table, limiter,
//! captured logs and the handles the host imports answer from.

use std::sync::{Arc, Mutex, PoisonError};

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::grants::Grants;
use super::host::http::GrantedOutboundHttp;
use super::limits::{Limits, MemoryLimiter};
use super::services::{Capability, Denial, HostServices};

/// Everything one invocation's `Store` owns. Dropped with the store, so no
/// state survives from one invocation to the next.
pub(crate) struct Sandbox {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    http_hooks: GrantedOutboundHttp,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) logs: SharedLogs,
    pub(crate) pack: Arc<str>,
    pub(crate) grants: Arc<Grants>,
    pub(crate) services: HostServices,
}

impl Sandbox {
    pub(crate) fn new(
        pack: Arc<str>,
        grants: Arc<Grants>,
        services: HostServices,
        logs: SharedLogs,
        memory_cap: u64,
    ) -> Self {
        // No preopened directories, no environment, no arguments, no sockets:
        // a pack reaches the world only through the `squall:pack` imports.
        // Clocks and randomness stay available.
        let wasi = WasiCtx::builder()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            http_hooks: GrantedOutboundHttp::new(
                pack.clone(),
                grants.clone(),
                services.audit.clone(),
            ),
            limiter: MemoryLimiter::new(memory_cap),
            logs,
            pack,
            grants,
            services,
        }
    }

    /// Reports to the audit sink that this pack was refused `capability` on
    /// `target`; returns once the sink has it.
    pub(crate) async fn audit_denial(&mut self, capability: Capability, target: &str) {
        let denial = Denial { pack: self.pack.to_string(), capability, target: target.to_owned() };
        self.services.audit.denied(denial).await;
    }
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for Sandbox {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.http_hooks }
    }
}

/// Severity of a captured log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// `trace`
    Trace,
    /// `debug`
    Debug,
    /// `info`
    Info,
    /// `warn`
    Warn,
    /// `error`
    Error,
}

impl std::fmt::Display for LogLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        })
    }
}

/// One line a pack logged.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogRecord {
    /// Severity.
    pub level: LogLevel,
    /// The text.
    pub message: String,
}

/// Log lines captured during one invocation, bounded in count and bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LogBuffer {
    /// Lines kept, in order.
    pub records: Vec<LogRecord>,
    /// Lines dropped because a bound was reached.
    pub dropped: u64,
    #[serde(skip)]
    bytes: usize,
    #[serde(skip)]
    max_lines: usize,
    #[serde(skip)]
    max_bytes: usize,
}

impl LogBuffer {
    pub(crate) fn new(max_lines: usize, max_bytes: usize) -> Self {
        Self { max_lines, max_bytes, ..Self::default() }
    }

    /// Keeps the line unless a bound was reached; returns whether it did.
    pub(crate) fn push(&mut self, level: LogLevel, message: String) -> Option<&LogRecord> {
        if self.records.len() >= self.max_lines || self.bytes + message.len() > self.max_bytes {
            self.dropped += 1;
            return None;
        }
        self.bytes += message.len();
        self.records.push(LogRecord { level, message });
        self.records.last()
    }
}

/// Told of each log line an invocation keeps (within its bounds), as the
/// pack writes it, on the guest thread that runs the sandbox: it must
/// return at once (send on a bounded channel that drops, never wait).
pub type LogTap = Arc<dyn Fn(LogRecord) + Send + Sync>;

/// The log lines of one invocation, shared between its sandbox (which
/// writes them on a guest thread) and its caller, which reads them even
/// when it stopped waiting for the sandbox at the deadline, and may read
/// the lines so far while it runs ([`SharedLogs::lines`]).
#[derive(Clone)]
pub struct SharedLogs {
    buffer: Arc<Mutex<LogBuffer>>,
    tap: Option<LogTap>,
}

impl std::fmt::Debug for SharedLogs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLogs")
            .field("buffer", &self.buffer)
            .field("tap", &self.tap.is_some())
            .finish()
    }
}

impl SharedLogs {
    /// An empty buffer under `limits`' bounds on lines and bytes.
    pub fn new(limits: &Limits) -> Self {
        Self {
            buffer: Arc::new(Mutex::new(LogBuffer::new(
                limits.max_log_lines,
                limits.max_log_bytes,
            ))),
            tap: None,
        }
    }

    /// The same, with `tap` told of every line kept.
    pub fn with_tap(limits: &Limits, tap: LogTap) -> Self {
        Self { tap: Some(tap), ..Self::new(limits) }
    }

    pub(crate) fn push(&self, level: LogLevel, message: String) {
        let kept = {
            let mut buffer = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
            let kept = buffer.push(level, message);
            kept.filter(|_| self.tap.is_some()).cloned()
        };
        if let (Some(tap), Some(record)) = (&self.tap, kept) {
            tap(record);
        }
    }

    /// The lines kept so far, in order.
    pub fn lines(&self) -> Vec<LogRecord> {
        self.buffer.lock().unwrap_or_else(PoisonError::into_inner).records.clone()
    }

    /// The lines so far, leaving the buffer empty.
    pub(crate) fn take(&self) -> LogBuffer {
        std::mem::take(&mut *self.buffer.lock().unwrap_or_else(PoisonError::into_inner))
    }
}
