//! Errors of the runtime, split by operation so callers can match on them.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Setting up the engine failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The engine configuration was refused (for example a pool larger than
    /// the address space allows).
    #[error("cannot configure the WebAssembly engine: {0}")]
    Engine(String),
    /// The threads sandboxes run on could not be started.
    #[error("cannot start the guest threads: {0}")]
    Threads(String),
    /// Host interfaces could not be added to the linker.
    #[error("cannot link host interfaces: {0}")]
    Link(String),
    /// The compile cache directory is unusable.
    #[error("compile cache {}: {source}", path.display())]
    CacheDir {
        /// The directory.
        path: PathBuf,
        /// What the filesystem said.
        source: std::io::Error,
    },
}

/// Loading a component (read, check, compile or fetch from cache, link) failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the filesystem said.
        source: std::io::Error,
    },
    /// The bytes are not WebAssembly at all.
    #[error("{}: not a WebAssembly file (it does not start with the `\\0asm` magic bytes)", path.display())]
    NotWasm {
        /// The file.
        path: PathBuf,
    },
    /// The bytes are a core module, not a component.
    #[error(
        "{}: a core WebAssembly module, not a component; build packs for the `wasm32-wasip2` target",
        path.display()
    )]
    NotComponent {
        /// The file.
        path: PathBuf,
    },
    /// Validation or compilation refused the component.
    #[error("{}: invalid component: {message}", path.display())]
    Compile {
        /// The file.
        path: PathBuf,
        /// The compiler's reason, on one line.
        message: String,
    },
    /// The component imports something the host does not provide.
    #[error("{}: cannot link: {message}", path.display())]
    Link {
        /// The file.
        path: PathBuf,
        /// What is missing, on one line.
        message: String,
    },
    /// The component exports neither `action` nor `sensor`.
    #[error("{}: exports neither `{ACTION_INTERFACE}` nor `{SENSOR_INTERFACE}`", path.display())]
    NoEntryPoint {
        /// The file.
        path: PathBuf,
    },
    /// Writing the compiled artefact to the cache failed.
    #[error("compile cache {}: {source}", path.display())]
    Cache {
        /// The cache file.
        path: PathBuf,
        /// What the filesystem said.
        source: std::io::Error,
    },
}

/// The fully qualified name of the action export.
pub const ACTION_INTERFACE: &str = "squall:pack/action@0.1.0";
/// The fully qualified name of the sensor export.
pub const SENSOR_INTERFACE: &str = "squall:pack/sensor@0.1.0";

/// Why an invocation did not produce output.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvokeError {
    /// The pack ran and returned its own error.
    #[error("{0}")]
    Pack(PackError),
    /// The component has no `action` export.
    #[error("{component}: does not export `{ACTION_INTERFACE}`, so it has no actions to run")]
    NoActionExport {
        /// The component's file name.
        component: String,
    },
    /// The component has no `sensor` export.
    #[error("{component}: does not export `{SENSOR_INTERFACE}`, so it has no sensors to call")]
    NoSensorExport {
        /// The component's file name.
        component: String,
    },
    /// The wall-clock deadline passed.
    #[error("timed out after {}", humantime::format_duration(*limit))]
    Timeout {
        /// The deadline.
        limit: Duration,
    },
    /// The guest asked for more linear memory than its cap.
    #[error(
        "memory limit exceeded: the pack asked for {requested} bytes, the cap is {limit} bytes"
    )]
    MemoryLimit {
        /// The cap in bytes.
        limit: u64,
        /// What the guest tried to grow to.
        requested: u64,
    },
    /// The output is larger than allowed.
    #[error("output of {size} bytes is over the limit of {limit} bytes")]
    OutputTooLarge {
        /// Bytes produced.
        size: usize,
        /// Bytes allowed.
        limit: usize,
    },
    /// The output is not valid JSON.
    #[error("output is not valid JSON: {0}")]
    OutputNotJson(String),
    /// A sensor returned something malformed (an event payload that is not
    /// JSON, a status code that is not HTTP).
    #[error("invalid sensor output: {0}")]
    InvalidOutput(String),
    /// The guest trapped (a panic, an out-of-bounds access, `unreachable`).
    #[error("the pack crashed: {0}")]
    Trap(String),
    /// The sandbox could not be created (for example, all instance slots are
    /// in use).
    #[error("cannot start the sandbox: {0}")]
    Instantiate(String),
    /// The host failed while the pack ran (a host import panicked, or the
    /// guest threads were shut down); the pack is not to blame.
    #[error("the host failed while the pack ran: {0}")]
    Host(String),
}

/// The error variant a pack returns, as defined in `squall:pack/types`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackError {
    /// Which case of the WIT `error` variant.
    pub kind: PackErrorKind,
    /// The pack's message.
    pub message: String,
}

/// The cases of the WIT `error` variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PackErrorKind {
    /// `invalid-input`
    InvalidInput,
    /// `failed`
    Failed,
    /// `denied`
    Denied,
    /// `timeout`
    Timeout,
}

impl PackErrorKind {
    /// The WIT name of the case.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidInput => "invalid-input",
            Self::Failed => "failed",
            Self::Denied => "denied",
            Self::Timeout => "timeout",
        }
    }
}

impl fmt::Display for PackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

impl std::error::Error for PackError {}

/// Collapse a multi-line error chain into one line for operators.
pub(crate) fn one_line(error: &wasmtime::Error) -> String {
    let text = format!("{error:#}");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
