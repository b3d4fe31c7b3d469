//! One client connection of `squall serve`: hyper's HTTP/1 connection with
//! the timeouts hyper does not keep the way an operator expects — how long
//! a client may take to send a request's headers, how long a kept-alive
//! connection may sit between requests, how long a client may leave a
//! response unread — enforced by a watchdog that closes the connection.
//!
//! hyper's own `header_read_timeout` starts as soon as a connection is idle,
//! so it would also be the keep-alive timeout; the phases here tell the two
//! apart: a request's headers are timed from its first byte (or from the
//! accept), and the idle time from the end of the previous response.

use std::convert::Infallible;
use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::http::{Request, Response};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use super::listen::ConnectionLimits;

/// Serves `stream` until the client leaves, a timeout closes it, or
/// `shutdown` turns true: then a connection waiting for a request is closed
/// at once, and one with a request closes after its response.
pub(super) async fn serve(
    stream: TcpStream,
    router: Router,
    limits: ConnectionLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched { stream, activity: activity.clone() });
    let service = Tracked { inner: TowerToHyperService::new(router), activity: activity.clone() };
    // No hyper timer: the watchdog below keeps the timeouts, and hyper's
    // default 30 s header timeout would otherwise apply to idle connections.
    let connection = http1::Builder::new().header_read_timeout(None).serve_connection(io, service);
    tokio::pin!(connection);
    // A receiver cloned before the stop still sees it as a change.
    let mut draining = false;
    loop {
        let wake = match activity.check(&limits, draining, Instant::now()) {
            Check::Close(reason) => {
                tracing::debug!(reason, "closing a connection");
                return;
            }
            Check::Wait(wake) => wake,
        };
        // A phase change can bring the deadline forward; it notifies.
        let changed = activity.changed.notified();
        tokio::select! {
            ended = connection.as_mut() => {
                if let Err(error) = ended {
                    tracing::debug!(%error, "a connection ended with an error");
                }
                return;
            }
            () = changed => {}
            () = tokio::time::sleep_until(wake.unwrap_or_else(far_future)), if wake.is_some() => {}
            _ = shutdown.changed(), if !draining => {
                // A dropped sender means the server is gone: drain too.
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + std::time::Duration::from_secs(86_400)
}

/// Where a connection is between requests.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for a request's headers, since the accept or the request's
    /// first byte.
    Head { since: Instant },
    /// This many requests are being answered (their responses not yet
    /// fully handed to the socket).
    Busy { requests: usize },
    /// Kept alive between requests since the previous response ended.
    Idle { since: Instant },
}

#[derive(Debug)]
struct State {
    phase: Phase,
    /// Since when a write has been waiting for the client to read.
    stalled: Option<Instant>,
}

/// What the watchdog knows of a connection, updated by its IO and its
/// service.
#[derive(Debug)]
struct Activity {
    state: Mutex<State>,
    changed: Notify,
}

enum Check {
    Close(&'static str),
    /// Look again at this instant (or when notified).
    Wait(Option<Instant>),
}

impl Activity {
    fn new() -> Self {
        let phase = Phase::Head { since: Instant::now() };
        Self { state: Mutex::new(State { phase, stalled: None }), changed: Notify::new() }
    }

    fn update<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn check(&self, limits: &ConnectionLimits, draining: bool, now: Instant) -> Check {
        let (phase, stalled) = self.update(|s| (s.phase, s.stalled));
        let mut due: Vec<(Instant, &'static str)> = Vec::with_capacity(2);
        match phase {
            // hyper's graceful shutdown closes an idle connection itself
            // and a busy one after its response, but waits for a request
            // that has not arrived.
            Phase::Head { .. } if draining => return Check::Close("the server is stopping"),
            Phase::Head { since } => {
                due.push((
                    since + limits.header_read_timeout,
                    "no complete request headers in time",
                ));
            }
            Phase::Idle { since } => due.push((since + limits.idle_timeout, "idle too long")),
            Phase::Busy { .. } => {}
        }
        if let Some(since) = stalled {
            due.push((since + limits.idle_timeout, "the client does not read its response"));
        }
        match due.into_iter().min_by_key(|(at, _)| *at) {
            Some((at, reason)) if at <= now => Check::Close(reason),
            next => Check::Wait(next.map(|(at, _)| at)),
        }
    }

    /// Bytes arrived: on an idle connection they start a request.
    fn read(&self) {
        let started = self.update(|s| match s.phase {
            Phase::Idle { .. } => {
                s.phase = Phase::Head { since: Instant::now() };
                true
            }
            _ => false,
        });
        if started {
            self.changed.notify_one();
        }
    }

    fn write_blocked(&self) {
        let first = self.update(|s| {
            let first = s.stalled.is_none();
            if first {
                s.stalled = Some(Instant::now());
            }
            first
        });
        if first {
            self.changed.notify_one();
        }
    }

    fn wrote(&self) {
        self.update(|s| s.stalled = None);
    }

    fn request_started(&self) {
        self.update(|s| {
            s.phase = match s.phase {
                Phase::Busy { requests } => Phase::Busy { requests: requests + 1 },
                Phase::Head { .. } | Phase::Idle { .. } => Phase::Busy { requests: 1 },
            }
        });
    }

    fn request_ended(&self) {
        self.update(|s| {
            if let Phase::Busy { requests } = s.phase {
                s.phase = match requests {
                    0 | 1 => Phase::Idle { since: Instant::now() },
                    more => Phase::Busy { requests: more - 1 },
                };
            }
        });
        self.changed.notify_one();
    }
}

/// The socket, telling [`Activity`] when bytes move.
#[derive(Debug)]
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl Watched {
    fn after_write<T>(&self, poll: Poll<std::io::Result<T>>) -> Poll<std::io::Result<T>> {
        match &poll {
            Poll::Pending => self.activity.write_blocked(),
            Poll::Ready(_) => self.activity.wrote(),
        }
        poll
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.read();
        }
        poll
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.after_write(poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.after_write(poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The router, telling [`Activity`] when a request starts and when its
/// response has been handed over in full (its body dropped).
#[derive(Debug)]
struct Tracked {
    inner: TowerToHyperService<Router>,
    activity: Arc<Activity>,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response<Guarded>, Infallible>> + Send>>;

impl Service<Request<Incoming>> for Tracked {
    type Response = Response<Guarded>;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        self.activity.request_started();
        // The guard travels with the answer, so a request whose answer is
        // dropped (the client left) ends too.
        let guard = RequestGuard(self.activity.clone());
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?;
            Ok(response.map(|body| Guarded { body, _guard: guard }))
        })
    }
}

#[derive(Debug)]
struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.request_ended();
    }
}

/// A response body that ends its request when hyper drops it.
#[derive(Debug)]
pub(super) struct Guarded {
    body: Body,
    _guard: RequestGuard,
}

impl HttpBody for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
