//! The API's connections: how many at once, and for how long.
//!
//! - At most [`connection_cap`] connections are served at once: [`MAX_CONNECTIONS`], fewer when
//!   the open-file limit leaves less than that beside [`RESERVED_FILES`], the descriptors kept for
//!   the rest of the process (the control port's connections, the UDP sockets, the databases).
//!   A connection beyond the cap is answered 503 with `Retry-After` and closed at once, so that
//!   unauthenticated connections never take the descriptors the control port and the servers
//!   need.
//! - A connection on which nothing moves, in either direction, for [`IDLE_TIMEOUT`] while no
//!   request is being handled is closed: an idle keep-alive connection, a request whose headers
//!   or body stopped coming (a 1 GB `Content-Length` and no body), a client that does not read
//!   its answer. A request being handled is never cut short by it: a change that was written
//!   must also be applied and answered.
//! - A request's headers must all have come within [`HEADER_TIMEOUT`] (hyper's own check), and
//!   its body within [`BODY_TIMEOUT`] of them (a 400 otherwise), so that a client that trickles a
//!   byte at a time is closed as well.

use axum::body::{Body, Bytes};
use axum::Router;
use http_body::Frame;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{sleep, Instant, Sleep};
use tower_service::Service;

/// The most API connections served at once, whatever the open-file limit.
pub const MAX_CONNECTIONS: usize = 256;
/// The fewest, however low the open-file limit.
const MIN_CONNECTIONS: usize = 4;
/// Descriptors left to the rest of the process: the control port admits 80 connections, the
/// servers hold about 50 (sockets, each writer's database), and the rest is room to spare.
pub const RESERVED_FILES: u64 = 256;
/// How long a connection may go without a byte moving either way.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request's headers may take to arrive.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request's body may take to arrive after its headers: the API is on loopback,
/// where the largest body (an 8 MiB package) takes milliseconds.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// What a connection beyond the cap is told before it is closed.
const TOO_MANY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\
Retry-After: 1\r\nConnection: close\r\nContent-Length: 58\r\n\r\n\
{\"error\":\"too many connections to the API: try again soon\"}";

/// The most connections served at once under the process's open-file limit.
pub fn connection_cap() -> usize {
    let limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(u64::MAX, |(soft, _)| soft);
    let room = usize::try_from(limit.saturating_sub(RESERVED_FILES)).unwrap_or(usize::MAX);
    room.clamp(MIN_CONNECTIONS, MAX_CONNECTIONS)
}

/// Serves `router` on `listener` until the future is dropped, each connection in a task of its
/// own, at most [`connection_cap`] at once.
pub async fn serve(listener: TcpListener, router: Router) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(connection_cap()));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, typically: connections end meanwhile.
                tracing::warn!("API: {e}");
                sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            // The answer fits the new socket's send buffer; what does not fit is not waited for.
            let _ = stream.try_write(TOO_MANY);
            continue;
        };
        tokio::spawn(serve_connection(stream, router.clone(), slot));
    }
}

/// Serves one connection until it closes or times out; its slot is given back then.
async fn serve_connection(
    stream: TcpStream,
    router: Router,
    slot: tokio::sync::OwnedSemaphorePermit,
) {
    let handling = Arc::new(AtomicUsize::new(0));
    let io = Idle::new(stream, IDLE_TIMEOUT, Arc::clone(&handling));
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let handled = Handling::start(&handling);
        let request = request.map(|body| Body::new(Deadline::new(Body::new(body), BODY_TIMEOUT)));
        let answer = router.clone().call(request);
        async move {
            let answer = answer.await;
            drop(handled);
            answer
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(io), service);
    if let Err(e) = connection.await {
        tracing::debug!("API connection ended: {e}");
    }
    drop(slot);
}

/// A request being handled on a connection; the count goes down when dropped.
struct Handling(Arc<AtomicUsize>);

impl Handling {
    fn start(count: &Arc<AtomicUsize>) -> Handling {
        count.fetch_add(1, Ordering::Relaxed);
        Handling(Arc::clone(count))
    }
}

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A stream that fails with `TimedOut` once nothing has moved on it for a while and no request
/// is being handled.
struct Idle {
    stream: TcpStream,
    limit: Duration,
    deadline: Pin<Box<Sleep>>,
    handling: Arc<AtomicUsize>,
}

impl Idle {
    fn new(stream: TcpStream, limit: Duration, handling: Arc<AtomicUsize>) -> Idle {
        Idle {
            stream,
            limit,
            deadline: Box::pin(sleep(limit)),
            handling,
        }
    }

    /// Something moved: the deadline starts again.
    fn moved(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.limit);
    }

    /// What a read or write that is not ready comes to: still waiting, or timed out.
    fn waiting<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        ready!(self.deadline.as_mut().poll(cx));
        if self.handling.load(Ordering::Relaxed) > 0 {
            // hyper reads to see whether the client went away while a request is handled.
            self.moved();
            return self.waiting(cx);
        }
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "nothing moved on the connection for too long",
        )))
    }

    /// Passes a ready result through, counting progress as movement.
    fn progress<T>(
        &mut self,
        polled: Poll<io::Result<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<T>> {
        match polled {
            Poll::Ready(result) => {
                self.moved();
                Poll::Ready(result)
            }
            Poll::Pending => self.waiting(cx),
        }
    }
}

impl AsyncRead for Idle {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        this.progress(polled, cx)
    }
}

impl AsyncWrite for Idle {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.progress(polled, cx)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_flush(cx);
        this.progress(polled, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_shutdown(cx);
        this.progress(polled, cx)
    }
}

/// A request body that fails once it has taken too long to arrive.
struct Deadline {
    body: Body,
    deadline: Pin<Box<Sleep>>,
}

impl Deadline {
    fn new(body: Body, limit: Duration) -> Deadline {
        Deadline {
            body,
            deadline: Box::pin(sleep(limit)),
        }
    }
}

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        ready!(this.deadline.as_mut().poll(cx));
        let why = format!(
            "the body did not arrive within {} s",
            BODY_TIMEOUT.as_secs()
        );
        Poll::Ready(Some(Err(axum::Error::new(why))))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
