//! Per-invocation limits and the memory limiter that enforces the cap.

use std::time::Duration;

/// What one invocation may use. Every field has a conservative default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock deadline for instantiation plus the call.
    pub timeout: Duration,
    /// Cap on all linear memories of the instance, in bytes.
    pub memory_bytes: u64,
    /// Largest output JSON accepted, in bytes.
    pub max_output_bytes: usize,
    /// Most log lines kept per invocation; later lines are counted only.
    pub max_log_lines: usize,
    /// Most log bytes kept per invocation.
    pub max_log_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            memory_bytes: 64 << 20,
            max_output_bytes: 16 << 20,
            max_log_lines: 1_000,
            max_log_bytes: 1 << 20,
        }
    }
}

/// Enforces [`Limits::memory_bytes`] and remembers a refusal, so the trap it
/// causes is reported as a memory limit rather than as a crash.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    limit: u64,
    pub(crate) refused: Option<u64>,
}

impl MemoryLimiter {
    pub(crate) fn new(limit: u64) -> Self {
        Self { limit, refused: None }
    }

    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }
}

/// Tables are bounded too, so that a guest cannot exhaust host memory through
/// `table.grow` instead of `memory.grow`.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let desired = desired as u64;
        if desired > self.limit || maximum.is_some_and(|max| desired > max as u64) {
            self.refused = Some(desired);
            // A trap, not a failed `memory.grow`: most guest allocators abort
            // on failure anyway, and a trap names the cause.
            wasmtime::bail!("memory limit of {} bytes exceeded", self.limit);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
