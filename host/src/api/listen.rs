//! The accept loop of `squall serve`: every connection is its own task
//! (`connection.rs` keeps its timeouts), at most
//! [`ConnectionLimits::max_connections`] are open at once, and one past the
//! cap is answered `503` at once and closed, so that slow or idle clients
//! cannot keep anyone else waiting in the listen queue.

use std::convert::Infallible;
use std::io::ErrorKind;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;

use super::connection;

/// How long a client may take to send a request's headers, from the
/// accept or from the request's first byte.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may stay open between requests, and how long a
/// response may wait for the client to read it.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The default cap on open connections when the open-file limit allows
/// more: each costs memory, and this many is far past what one host needs.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// File descriptors kept out of the connection cap: the database, the
/// compile cache, packs' outbound connections and programs, logs, and the
/// connections being refused.
pub const RESERVED_FILES: u64 = 256;

/// Connections refused at the same time; past this a connection over the
/// cap is closed without an answer.
const REFUSALS: usize = 64;
/// How long a refused connection may stay open while its client reads the
/// answer.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);
/// What a refused connection's request may send before it is closed.
const REFUSAL_DRAIN: usize = 64 << 10;
/// How long accepting pauses when the process is out of file descriptors
/// (or memory), instead of spinning on the error.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// At most one warning about refused connections this often.
const REFUSAL_WARNING_EVERY: Duration = Duration::from_secs(10);

/// What `squall serve` allows its clients (`--header-read-timeout`,
/// `--idle-timeout`, `--max-connections`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request, and
    /// a response for its client to read it.
    pub idle_timeout: Duration,
    /// Connections open at once; the next is answered 503 and closed.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl ConnectionLimits {
    /// The default connection cap for a process allowed `open_files` file
    /// descriptors: all but [`RESERVED_FILES`] (a quarter of a small
    /// limit), at most [`DEFAULT_MAX_CONNECTIONS`].
    pub fn max_connections_for(open_files: u64) -> usize {
        let reserved = RESERVED_FILES.min(open_files / 4);
        let free = usize::try_from(open_files - reserved).unwrap_or(usize::MAX);
        free.clamp(1, DEFAULT_MAX_CONNECTIONS)
    }

    /// The file descriptors these limits need: the connections and
    /// [`RESERVED_FILES`].
    pub fn open_files_needed(&self) -> u64 {
        u64::try_from(self.max_connections).unwrap_or(u64::MAX).saturating_add(RESERVED_FILES)
    }
}

/// Accepts connections on `listener` and serves `router` on each until
/// `stop` completes; then stops accepting, closes connections without a
/// request in flight and waits for the others to finish their responses.
pub(super) async fn run(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let refusing = Arc::new(Semaphore::new(REFUSALS));
    let mut refused = Refused::default();
    let (shutdown, watching) = watch::channel(false);
    // Each connection task holds a sender; `recv` answers `None` once the
    // last has ended.
    let (alive, mut all_ended) = mpsc::channel::<Infallible>(1);
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut stop => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            // The client gave up before we took it: nothing to do.
            Err(error) if is_client_gone(&error) => continue,
            Err(error) => {
                // EMFILE and the like: connections wait in the listen
                // queue until a descriptor is free again.
                tracing::warn!(%error, "cannot accept connections; trying again in {ACCEPT_PAUSE:?}");
                tokio::select! {
                    () = &mut stop => break,
                    () = tokio::time::sleep(ACCEPT_PAUSE) => continue,
                }
            }
        };
        // Answers are written whole; waiting to coalesce them only adds
        // latency.
        let _ = stream.set_nodelay(true);
        match open.clone().try_acquire_owned() {
            Ok(permit) => {
                let (router, watching, alive) = (router.clone(), watching.clone(), alive.clone());
                tokio::spawn(async move {
                    connection::serve(stream, router, limits, watching).await;
                    drop((permit, alive));
                });
            }
            Err(_) => {
                refused.note(limits.max_connections);
                refuse(stream, &refusing, limits.max_connections);
            }
        }
    }
    drop(listener);
    let _ = shutdown.send(true);
    drop(alive);
    let _ = all_ended.recv().await;
    Ok(())
}

fn is_client_gone(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::ConnectionAborted
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionRefused
            | ErrorKind::Interrupted
    )
}

/// Counts refusals between warnings, so that a flood of them logs one line
/// every [`REFUSAL_WARNING_EVERY`].
#[derive(Debug, Default)]
struct Refused {
    since_warning: u64,
    warned_at: Option<Instant>,
}

impl Refused {
    fn note(&mut self, max: usize) {
        self.since_warning += 1;
        if self.warned_at.is_some_and(|at| at.elapsed() < REFUSAL_WARNING_EVERY) {
            return;
        }
        tracing::warn!(
            refused = self.since_warning,
            "{max} connections are open (--max-connections); refusing new ones with 503"
        );
        self.since_warning = 0;
        self.warned_at = Some(Instant::now());
    }
}

/// Answers a connection over the cap with 503 without reading its request,
/// in a task of its own; past [`REFUSALS`] of them, closes it at once.
fn refuse(stream: TcpStream, refusing: &Arc<Semaphore>, max: usize) {
    let Ok(slot) = refusing.clone().try_acquire_owned() else {
        drop(stream);
        return;
    };
    tokio::spawn(async move {
        let _ = tokio::time::timeout(REFUSAL_LINGER, answer_refused(stream, max)).await;
        drop(slot);
    });
}

async fn answer_refused(mut stream: TcpStream, max: usize) -> std::io::Result<()> {
    let body = serde_json::json!({
        "error": format!(
            "the server has {max} connections open, its limit (--max-connections); try again shortly"
        ),
        "detail": {"max_connections": max},
    })
    .to_string();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(answer.as_bytes()).await?;
    stream.shutdown().await?;
    // Closing with the request unread would reset the connection, and a
    // reset can destroy the answer before the client reads it: read until
    // the client closes (it has the answer then), within the linger time.
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < REFUSAL_DRAIN {
        match stream.read(&mut sink).await? {
            0 => break,
            n => drained += n,
        }
    }
    Ok(())
}
