//! A loaded component (one `InstancePre`) and running its actions, each in a
//! fresh sandbox.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{Instance, InstancePre};
use wasmtime::{Store, Trap, UpdateDeadline};

use super::LoadOrigin;
use super::bindings::{action, sensor, types};
use super::error::{InvokeError, PackError, PackErrorKind, one_line};
use super::grants::Grants;
use super::guests::GuestThreads;
use super::limits::Limits;
use super::sandbox::{LogBuffer, Sandbox, SharedLogs};
use super::services::BoxFuture;
use super::services::HostServices;

/// A compiled, linked component, ready to be instantiated many times.
/// Cheap to share: instantiation reuses everything prepared here.
pub struct LoadedComponent {
    pub(crate) path: PathBuf,
    pub(crate) pack: Arc<str>,
    pub(crate) grants: Arc<Grants>,
    pub(crate) sha256: String,
    pub(crate) origin: LoadOrigin,
    pub(crate) pre: InstancePre<Sandbox>,
    pub(crate) action: Option<action::GuestIndices>,
    pub(crate) sensor: Option<sensor::GuestIndices>,
    pub(crate) services: HostServices,
    pub(crate) max_memory_bytes: u64,
    /// Where its sandboxes run; shared with the runtime and kept alive as
    /// long as any component is.
    pub(crate) guests: Arc<GuestThreads>,
}

/// One call into a sandbox, as the guest thread runs it: the bindings'
/// result, or the trap that ended it.
pub(crate) type Call<'a, R> = BoxFuture<'a, wasmtime::Result<Result<R, types::Error>>>;

/// Pins down a call's signature, which closure inference cannot work out
/// for a future that borrows the store.
pub(crate) fn guest_call<R, F>(call: F) -> F
where
    F: for<'a> FnOnce(&'a mut Store<Sandbox>, Instance) -> Call<'a, R> + Send + 'static,
{
    call
}

impl std::fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedComponent")
            .field("path", &self.path)
            .field("pack", &self.pack)
            .field("grants", &self.grants)
            .field("sha256", &self.sha256)
            .field("origin", &self.origin)
            .field("exports_action", &self.action.is_some())
            .field("exports_sensor", &self.sensor.is_some())
            .finish_non_exhaustive()
    }
}

/// One action call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRequest {
    /// The action's name within the pack, e.g. `echo`.
    pub action: String,
    /// Parameters as a JSON object.
    pub params: String,
    /// Stable execution id, the pack's idempotency key.
    pub execution_id: String,
    /// Attempt number, starting at 1.
    pub attempt: u32,
}

/// What one invocation produced: its result (for actions, the output JSON)
/// and the logs captured on the way, which are kept whether it succeeded or
/// not.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation<T = String> {
    /// What the pack returned, or why there is nothing.
    pub result: Result<T, InvokeError>,
    /// Log lines the pack wrote.
    pub logs: LogBuffer,
    /// Wall-clock time from sandbox creation to result.
    pub elapsed: Duration,
}

impl LoadedComponent {
    /// The file this component was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Hex sha256 of the `.wasm` bytes.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Whether this load compiled the component or reused the cache.
    pub fn origin(&self) -> LoadOrigin {
        self.origin
    }

    /// The pack name its imports are scoped to.
    pub fn pack(&self) -> &str {
        &self.pack
    }

    /// The capabilities every sandbox of this component is granted.
    pub fn grants(&self) -> &Grants {
        &self.grants
    }

    /// Whether the component exports `squall:pack/action`.
    pub fn exports_action(&self) -> bool {
        self.action.is_some()
    }

    /// Whether the component exports `squall:pack/sensor`.
    pub fn exports_sensor(&self) -> bool {
        self.sensor.is_some()
    }

    /// Runs one action in a fresh sandbox under `limits`.
    pub async fn run_action(&self, request: &ActionRequest, limits: &Limits) -> Invocation {
        self.run_action_logged(request, limits, SharedLogs::new(limits)).await
    }

    /// [`run_action`](Self::run_action), its log lines kept in `logs` as
    /// they are written (readable while it runs, told to its tap); `logs`
    /// should be new, made with `limits`' bounds.
    pub async fn run_action_logged(
        &self,
        request: &ActionRequest,
        limits: &Limits,
        logs: SharedLogs,
    ) -> Invocation {
        let Some(indices) = self.action.clone() else {
            return Invocation::refused(InvokeError::NoActionExport {
                component: self.file_name(),
            });
        };
        let context = types::Context {
            execution_id: request.execution_id.clone(),
            pack: self.pack.to_string(),
            attempt: request.attempt,
        };
        let (action, params) = (request.action.clone(), request.params.clone());
        let call = guest_call(move |store, instance| {
            Box::pin(async move {
                let guest = indices.load(&mut *store, &instance)?;
                guest.call_run(store, &action, &params, &context).await
            })
        });
        let checked = limits.clone();
        self.invoke_logged(limits, logs, call, move |output| check_output(output, &checked)).await
    }

    /// Instantiates a fresh sandbox on a guest thread, makes one `call` into
    /// it under `limits`, and turns every way that can end into an
    /// [`Invocation`]; `accept` checks what the pack returned (there too:
    /// checking a large output is work no caller's thread should do).
    pub(crate) async fn invoke<R, T>(
        &self,
        limits: &Limits,
        call: impl for<'a> FnOnce(&'a mut Store<Sandbox>, Instance) -> Call<'a, R> + Send + 'static,
        accept: impl FnOnce(R) -> Result<T, InvokeError> + Send + 'static,
    ) -> Invocation<T>
    where
        T: Send + 'static,
    {
        self.invoke_logged(limits, SharedLogs::new(limits), call, accept).await
    }

    /// [`invoke`](Self::invoke) with the log lines kept in `logs`.
    async fn invoke_logged<R, T>(
        &self,
        limits: &Limits,
        logs: SharedLogs,
        call: impl for<'a> FnOnce(&'a mut Store<Sandbox>, Instance) -> Call<'a, R> + Send + 'static,
        accept: impl FnOnce(R) -> Result<T, InvokeError> + Send + 'static,
    ) -> Invocation<T>
    where
        T: Send + 'static,
    {
        let started = Instant::now();
        let deadline = started + limits.timeout;
        let mut store = self.new_store(limits, deadline, logs.clone());
        let (pre, limits_in) = (self.pre.clone(), limits.clone());
        let sandboxed = async move {
            let outcome = async {
                let instance = pre.instantiate_async(&mut store).await?;
                call(&mut store, instance).await
            }
            .await;
            match outcome {
                Err(error) => Err(classify(&error, store.data(), &limits_in)),
                Ok(Err(error)) => Err(InvokeError::Pack(pack_error(error))),
                Ok(Ok(returned)) => accept(returned),
            }
        };
        // The deadline is kept here, on the caller's threads, which no guest
        // slows down: a guest that computes is also stopped by the epoch
        // callback, but a guest parked in a host call (a sleep, a slow kv
        // read) or waiting for a busy guest thread is stopped only by this.
        let mut running = self.guests.spawn(sandboxed);
        let result = match tokio::time::timeout_at(deadline.into(), &mut running).await {
            Err(_elapsed) => Err(InvokeError::Timeout { limit: limits.timeout }),
            Ok(Ok(result)) => result,
            Ok(Err(failed)) => Err(InvokeError::Host(failed.to_string())),
        };
        // Stops the sandbox if it is still running.
        drop(running);
        Invocation { result, logs: logs.take(), elapsed: started.elapsed() }
    }

    pub(crate) fn file_name(&self) -> String {
        self.path.file_name().unwrap_or(self.path.as_os_str()).to_string_lossy().into_owned()
    }

    fn new_store(&self, limits: &Limits, deadline: Instant, logs: SharedLogs) -> Store<Sandbox> {
        // The pool cannot grow a memory past its slot size, so a larger cap
        // would turn into a failed `memory.grow` (a crash) instead of a
        // reported memory limit.
        let memory_cap = limits.memory_bytes.min(self.max_memory_bytes);
        let sandbox = Sandbox::new(
            self.pack.clone(),
            self.grants.clone(),
            self.services.clone(),
            logs,
            memory_cap,
        );
        let mut store = Store::new(self.pre.engine(), sandbox);
        store.limiter(|sandbox| &mut sandbox.limiter);
        // At every epoch tick the guest gives its thread back (so a loop
        // holds no thread) unless its deadline has passed, when it traps.
        // The clock is read here rather than ticks counted, because a guest
        // waiting for a thread sees no ticks.
        store.epoch_deadline_callback(move |_| {
            Ok(if Instant::now() >= deadline {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Yield(1)
            })
        });
        // The first slice is at least a whole tick: a short call then ends
        // without ever yielding, instead of waiting behind every loop.
        store.set_epoch_deadline(2);
        store
    }
}

impl<T> Invocation<T> {
    /// An invocation refused before any sandbox was created.
    pub(crate) fn refused(error: InvokeError) -> Self {
        Self { result: Err(error), logs: LogBuffer::default(), elapsed: Duration::ZERO }
    }
}

fn classify(error: &wasmtime::Error, sandbox: &Sandbox, limits: &Limits) -> InvokeError {
    if let Some(requested) = sandbox.limiter.refused {
        return InvokeError::MemoryLimit { limit: sandbox.limiter.limit(), requested };
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => InvokeError::Timeout { limit: limits.timeout },
        Some(Trap::AllocationTooLarge) => {
            InvokeError::MemoryLimit { limit: limits.memory_bytes, requested: limits.memory_bytes }
        }
        Some(_) => InvokeError::Trap(one_line(error)),
        None if error.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() => {
            InvokeError::Instantiate(one_line(error))
        }
        None => InvokeError::Trap(one_line(error)),
    }
}

/// Longest pack error message kept, in bytes; the rest is cut, so a pack
/// cannot flood the execution record through its error.
const MAX_ERROR_MESSAGE_BYTES: usize = 64 << 10;

fn pack_error(error: types::Error) -> PackError {
    let (kind, mut message) = match error {
        types::Error::InvalidInput(m) => (PackErrorKind::InvalidInput, m),
        types::Error::Failed(m) => (PackErrorKind::Failed, m),
        types::Error::Denied(m) => (PackErrorKind::Denied, m),
        types::Error::Timeout(m) => (PackErrorKind::Timeout, m),
    };
    if message.len() > MAX_ERROR_MESSAGE_BYTES {
        let cut =
            (0..=MAX_ERROR_MESSAGE_BYTES).rev().find(|&i| message.is_char_boundary(i)).unwrap_or(0);
        let dropped = message.len() - cut;
        message.truncate(cut);
        message.push_str(&format!("… ({dropped} more bytes cut)"));
    }
    PackError { kind, message }
}

pub(crate) fn check_output(output: String, limits: &Limits) -> Result<String, InvokeError> {
    // The memory cap already bounds what the guest can hand back; this bound
    // keeps what the host stores and forwards small.
    if output.len() > limits.max_output_bytes {
        return Err(InvokeError::OutputTooLarge {
            size: output.len(),
            limit: limits.max_output_bytes,
        });
    }
    serde_json::from_str::<serde::de::IgnoredAny>(&output)
        .map_err(|e| InvokeError::OutputNotJson(e.to_string()))?;
    Ok(output)
}
