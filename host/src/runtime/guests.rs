//! The guest threads: every sandbox runs on a tokio runtime of the
//! runtime's own, never on its caller's threads, so guest code cannot hold
//! the API's, the dispatcher's or the timers' threads; and the epoch thread
//! that makes guests yield and stop.
//!
//! Guests give their thread back at every epoch tick (the store's epoch
//! callback yields), so a few threads time-slice any number of sandboxes,
//! and a new call waits at most about a tick for a thread however many
//! guests loop. The caller keeps the deadline on its own threads, which no
//! guest slows down.

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::task::{JoinError, JoinHandle};

use super::error::RuntimeError;

/// Scheduler ticks between looks at the queue of newly started sandboxes.
/// Tokio's default (31) lets a thread run 31 guest time slices (each up to
/// one epoch tick) before it picks up a new call; at 2 a new call starts
/// within about two slices.
const GLOBAL_QUEUE_INTERVAL: u32 = 2;

/// Scheduler ticks between polls of timers and I/O. Tokio's default (61)
/// would let busy guest threads delay a sleeping guest's wake-up, or an
/// HTTP answer, by 61 slices; 4 keeps that within a few ticks for the price
/// of a non-blocking `epoll_wait` every fourth task poll.
const EVENT_INTERVAL: u32 = 4;

/// How long dropping the guest threads waits, off the dropping thread, for
/// sandboxes to stop before it lets the epoch thread go.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A tokio runtime that runs nothing but sandboxes, and the epoch thread.
/// Components hold it, so both live as long as anything can run a guest.
#[derive(Debug)]
pub(crate) struct GuestThreads {
    runtime: Option<tokio::runtime::Runtime>,
    // Dropping the sender stops the epoch thread.
    ticker: Option<mpsc::Sender<()>>,
}

impl GuestThreads {
    /// Starts `threads` guest threads (at least one) and the thread that
    /// advances `engine`'s epoch every `tick`.
    pub(crate) fn start(
        threads: usize,
        engine: &wasmtime::Engine,
        tick: Duration,
    ) -> Result<Self, RuntimeError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("squall-guest")
            .global_queue_interval(GLOBAL_QUEUE_INTERVAL)
            .event_interval(EVENT_INTERVAL)
            // Guests need timers (host calls that wait) and I/O (wasi:http).
            .enable_all()
            .build()
            .map_err(|e| RuntimeError::Threads(e.to_string()))?;
        let ticker = spawn_epoch_ticker(engine.clone(), tick);
        Ok(Self { runtime: Some(runtime), ticker: Some(ticker) })
    }

    /// Runs `task` on a guest thread. Dropping the returned handle stops
    /// it: the sandbox is dropped at its next yield, so a caller that gives
    /// up (a deadline, a client gone) leaves nothing running.
    pub(crate) fn spawn<F>(&self, task: F) -> Running<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let runtime = self.runtime.as_ref().expect("guest threads run until dropped");
        Running(runtime.spawn(task))
    }
}

impl Drop for GuestThreads {
    fn drop(&mut self) {
        // A sandbox still running is dropped at its next yield, which only
        // the epoch ticks bring: keep them going until the guest threads
        // have stopped. Waiting for that happens on a thread of its own,
        // since the last component may be dropped in an async context,
        // where blocking would panic.
        let (runtime, ticker) = (self.runtime.take(), self.ticker.take());
        let spawned =
            std::thread::Builder::new().name("squall-guest-stop".into()).spawn(move || {
                if let Some(runtime) = runtime {
                    runtime.shutdown_timeout(SHUTDOWN_GRACE);
                }
                drop(ticker);
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "cannot wait for the guest threads to stop");
        }
    }
}

/// Advances the engine's epoch every `tick` until the returned sender drops.
fn spawn_epoch_ticker(engine: wasmtime::Engine, tick: Duration) -> mpsc::Sender<()> {
    let (stop, stopped) = mpsc::channel::<()>();
    let spawned = std::thread::Builder::new().name("squall-epoch".into()).spawn(move || {
        while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
            engine.increment_epoch();
        }
    });
    if let Err(error) = spawned {
        // Without the ticker guests neither yield nor trap at their
        // deadline; callers still stop waiting for them at the deadline, so
        // run on but say so loudly.
        tracing::error!(%error, "cannot start the epoch thread; CPU-bound guests will not time out");
    }
    stop
}

/// A sandbox running on a guest thread; aborted when dropped.
#[derive(Debug)]
pub(crate) struct Running<T>(JoinHandle<T>);

impl<T> Future for Running<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for Running<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
