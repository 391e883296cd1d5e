//! The accept loop: TCP accept, TLS handshake under a timeout with the
//! *current* state's TLS config, the peer identity computed once per
//! connection, HTTP/1.1 and HTTP/2 (hyper-util auto) under Go's connection
//! timeouts, HTTP/2 streams run in their connection's task unless they must
//! wait (`StreamExecutor`), and graceful shutdown with a drain deadline
//! (spec §1.2, §8.6).
//!
//! Connection timeouts ([`ConnTimeouts`], Go `net/http`'s semantics):
//!
//! * the first request must start within 5 s of the TLS handshake (over
//!   HTTP/2: the first stream);
//! * once the first byte of an HTTP/1.1 request has arrived, the whole
//!   request head must arrive within 5 s, or the connection is closed;
//! * a connection with no request in flight is closed after 90 s idle
//!   (HTTP/2: GOAWAY, then close).
//!
//! hyper's own `header_read_timeout` is not used: it starts when hyper
//! begins to wait for the next request, so it also closes keep-alive
//! connections after 5 s idle. Instead [`Watched`] wraps the connection's
//! IO and notes when the first byte of an HTTP/1.1 request head arrives,
//! each request marks itself in flight in [`Activity`], and the connection
//! task sleeps until the earliest deadline that follows from them.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;

use crate::level::Level;
use crate::state::Server;
use crate::tls::PeerIdentity;

/// How long a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long after the TLS handshake the first request may start (Go:
/// `ReadHeaderTimeout` covers the wait for the first request).
pub const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an HTTP/1.1 request head may take from its first byte.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a connection may sit idle between requests.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// How long shutdown waits for in-flight requests by default (Go: 1 s).
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// The per-connection timeouts; the default is Go KES's (spec §1.2). Tests
/// use shorter ones through [`serve_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnTimeouts {
    /// How long the TLS handshake may take.
    pub handshake: Duration,
    /// How long after the handshake the first request (HTTP/2: stream) may
    /// start.
    pub first_request: Duration,
    /// How long an HTTP/1.1 request head may take from its first byte.
    pub header_read: Duration,
    /// How long a connection with no request in flight stays open.
    pub idle: Duration,
}

impl Default for ConnTimeouts {
    fn default() -> Self {
        Self {
            handshake: HANDSHAKE_TIMEOUT,
            first_request: FIRST_REQUEST_TIMEOUT,
            header_read: HEADER_READ_TIMEOUT,
            idle: IDLE_TIMEOUT,
        }
    }
}

/// What the request pipeline knows about the connection a request came on.
#[derive(Debug)]
pub struct ConnInfo {
    /// The peer's address.
    pub peer: SocketAddr,
    /// The peer's identity, computed once at handshake.
    pub identity: PeerIdentity,
    activity: Activity,
}

impl ConnInfo {
    /// Connection info for a peer (used by the pipeline and tests).
    pub fn new(peer: SocketAddr, identity: PeerIdentity) -> Self {
        Self {
            peer,
            identity,
            activity: Activity::new(),
        }
    }
}

/// "No such time" in [`Activity`]'s millisecond fields.
const NEVER: u64 = u64::MAX;

/// Why a connection timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    /// No request started after the handshake.
    FirstRequest,
    /// A request head started and did not finish.
    Header,
    /// No request in flight for the idle timeout.
    Idle,
}

/// Tracks a connection's requests for its timeouts: how many are in
/// flight, when the last one started or ended, and when the first byte of
/// a pending HTTP/1.1 request head arrived. Times are milliseconds since
/// the handshake.
#[derive(Debug)]
struct Activity {
    opened: Instant,
    active: AtomicUsize,
    /// When a request last started or ended; [`NEVER`] before the first.
    last_ms: AtomicU64,
    /// When the first byte of a pending request head arrived, or [`NEVER`].
    head_ms: AtomicU64,
    /// Whether reads start a request head: HTTP/1.1 only, an HTTP/2
    /// connection reads frames (pings, window updates) at any time.
    track_heads: AtomicBool,
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            active: AtomicUsize::new(0),
            last_ms: AtomicU64::new(NEVER),
            head_ms: AtomicU64::new(NEVER),
            track_heads: AtomicBool::new(true),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(NEVER - 1)
    }

    fn at(&self, ms: u64) -> Instant {
        self.opened + Duration::from_millis(ms)
    }

    /// Called when bytes were read: with no request in flight and no head
    /// pending, they are the first bytes of the next request head.
    fn saw_bytes(&self) {
        if self.track_heads.load(Ordering::Relaxed)
            && self.head_ms.load(Ordering::Relaxed) == NEVER
            && self.active.load(Ordering::Acquire) == 0
        {
            self.head_ms.store(self.now_ms(), Ordering::Relaxed);
        }
    }

    /// When the connection times out if nothing changes, and why; `None`
    /// while a request is in flight (its route timeout applies then).
    fn deadline(&self, t: &ConnTimeouts) -> Option<(Instant, Expiry)> {
        if self.active.load(Ordering::Acquire) > 0 {
            return None;
        }
        let head = self.head_ms.load(Ordering::Relaxed);
        if head != NEVER {
            return Some((self.at(head) + t.header_read, Expiry::Header));
        }
        match self.last_ms.load(Ordering::Relaxed) {
            NEVER => Some((self.opened + t.first_request, Expiry::FirstRequest)),
            last => Some((self.at(last) + t.idle, Expiry::Idle)),
        }
    }
}

/// Marks one request in flight for as long as it lives.
struct ActiveRequest<'a>(&'a Activity);

impl<'a> ActiveRequest<'a> {
    fn new(a: &'a Activity, version: http::Version) -> Self {
        if version == http::Version::HTTP_2 {
            a.track_heads.store(false, Ordering::Relaxed);
        }
        a.active.fetch_add(1, Ordering::AcqRel);
        a.head_ms.store(NEVER, Ordering::Relaxed);
        a.last_ms.store(a.now_ms(), Ordering::Relaxed);
        Self(a)
    }
}

impl Drop for ActiveRequest<'_> {
    fn drop(&mut self) {
        self.0.last_ms.store(self.0.now_ms(), Ordering::Relaxed);
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The connection's IO, noting in [`Activity`] when bytes arrive.
struct Watched<T> {
    io: T,
    info: Arc<ConnInfo>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.info.activity.saw_bytes();
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Sleeps until a connection's earliest deadline. Polled after the
/// connection in the same task, so a request head that started during that
/// poll moves the wake-up earlier without another wake-up; later deadlines
/// are picked up lazily when the sleep ends.
struct Watchdog {
    sleep: Pin<Box<Sleep>>,
}

impl Watchdog {
    fn new(activity: &Activity, t: &ConnTimeouts) -> Self {
        let at = activity
            .deadline(t)
            .map_or_else(|| Instant::now() + t.idle, |(at, _)| at);
        Self {
            sleep: Box::pin(tokio::time::sleep_until(at)),
        }
    }

    fn poll_expired(
        &mut self,
        cx: &mut Context<'_>,
        activity: &Activity,
        t: &ConnTimeouts,
    ) -> Poll<Expiry> {
        loop {
            let want = activity.deadline(t);
            if let Some((at, _)) = want
                && at < self.sleep.deadline()
            {
                self.sleep.as_mut().reset(at);
            }
            ready!(self.sleep.as_mut().poll(cx));
            let now = Instant::now();
            match want {
                Some((at, why)) if at <= now => return Poll::Ready(why),
                Some((at, _)) => self.sleep.as_mut().reset(at),
                // A request is in flight: look again after an idle period.
                None => self.sleep.as_mut().reset(now + t.idle),
            }
        }
    }

    async fn expired(&mut self, activity: &Activity, t: &ConnTimeouts) -> Expiry {
        std::future::poll_fn(|cx| self.poll_expired(cx, activity, t)).await
    }
}

/// Runs hyper's HTTP/2 streams: each stream's future is polled once right
/// where hyper hands it over, inside the connection's task, and spawned as
/// a task of its own only if it is not done after that poll.
///
/// Why: a request on a cached key with its body already received (nearly
/// every MinIO request) finishes in that one poll. Spawning it instead
/// (hyper's default executor) wakes the runtime's other worker to steal the
/// task, and the answer then wakes the connection's worker again: on one
/// connection with 16 streams (kms-go's shape) that was ≈ 0.4 context
/// switches and a contended h2 lock per request, more than the request's
/// own work (BENCHMARKS.md, issue 19). A stream that has to wait (a key
/// store read, a body still arriving) is spawned and runs in parallel as
/// before. The price: the CPU work of finished-on-first-poll requests of
/// one connection stays on that connection's worker, where its TLS and
/// framing work already is.
///
/// The first poll uses a no-op waker: a future that returns `Pending` has
/// registered it somewhere, and the spawned task's first poll registers the
/// real one, so no wake-up is lost. A panic in that poll (there should be
/// none: no unwrap on request paths) drops the stream, as a panicking
/// spawned task would, instead of the connection with all its streams.
#[derive(Debug, Clone, Copy)]
struct StreamExecutor;

impl<F> hyper::rt::Executor<F> for StreamExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        let mut fut = Box::pin(fut);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            fut.as_mut().poll(&mut cx).is_pending()
        }));
        if matches!(first, Ok(true)) {
            tokio::spawn(fut);
        }
    }
}

/// Serves HTTPS on `listener` until `shutdown` completes, then stops
/// accepting, ends log streams, lets in-flight requests finish for up to
/// `drain` and closes what is left.
pub async fn serve(
    server: Arc<Server>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) {
    serve_with(server, listener, shutdown, drain, ConnTimeouts::default()).await;
}

/// [`serve`] with other connection timeouts than Go KES's (tests).
pub async fn serve_with(
    server: Arc<Server>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
    timeouts: ConnTimeouts,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    conns.spawn(connection(server.clone(), tcp, peer, timeouts));
                }
                Err(e) => {
                    server.logger().error(Level::WARN, "failed to accept connection", &[("error", &e.to_string())]);
                    // Out of file descriptors and the like: don't spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    server.begin_shutdown();
    let deadline = tokio::time::sleep(drain);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            () = &mut deadline => {
                conns.abort_all();
                break;
            }
            next = conns.join_next() => if next.is_none() { break },
        }
    }
    while conns.join_next().await.is_some() {}
}

async fn connection(server: Arc<Server>, tcp: TcpStream, peer: SocketAddr, timeouts: ConnTimeouts) {
    let _ = tcp.set_nodelay(true);
    let acceptor = TlsAcceptor::from(server.state().tls.clone());
    let tls = match tokio::time::timeout(timeouts.handshake, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            let ip = peer.ip().to_string();
            server.logger().error(
                Level::INFO,
                "TLS handshake failed",
                &[("req.ip", &ip), ("error", &e.to_string())],
            );
            return;
        }
        Err(_) => {
            let ip = peer.ip().to_string();
            server
                .logger()
                .error(Level::INFO, "TLS handshake timed out", &[("req.ip", &ip)]);
            return;
        }
    };
    let identity = PeerIdentity::of_chain(tls.get_ref().1.peer_certificates());
    let info = Arc::new(ConnInfo::new(peer, identity));
    if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
        info.activity.track_heads.store(false, Ordering::Relaxed);
    }

    let svc = {
        let server = server.clone();
        let info = info.clone();
        service_fn(move |req: http::Request<hyper::body::Incoming>| {
            let server = server.clone();
            let info = info.clone();
            async move {
                let _active = ActiveRequest::new(&info.activity, req.version());
                Ok::<_, Infallible>(crate::api::handle(&server, &info, req).await)
            }
        })
    };

    let mut builder = hyper_util::server::conn::auto::Builder::new(StreamExecutor);
    builder
        .http1()
        .timer(TokioTimer::new())
        // Ours, see the module docs: hyper's also limits keep-alive idle.
        .header_read_timeout(None)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let io = Watched {
        io: tls,
        info: info.clone(),
    };
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);

    let mut shutdown = server.shutdown_signal();
    let mut closing = *shutdown.borrow();
    if closing {
        conn.as_mut().graceful_shutdown();
    }
    let mut watchdog = Watchdog::new(&info.activity, &timeouts);
    loop {
        tokio::select! {
            // The connection first: the watchdog then sees what it read.
            biased;
            result = conn.as_mut() => {
                if let Err(e) = result {
                    let ip = peer.ip().to_string();
                    server.logger().error(Level::DEBUG, "HTTP connection error", &[("req.ip", &ip), ("error", &e.to_string())]);
                }
                break;
            }
            changed = shutdown.changed(), if !closing => {
                if changed.is_err() || *shutdown.borrow() {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
            why = watchdog.expired(&info.activity, &timeouts), if !closing => {
                let ip = peer.ip().to_string();
                match why {
                    Expiry::Header => {
                        server.logger().error(Level::DEBUG, "HTTP request header read timed out", &[("req.ip", &ip)]);
                        break;
                    }
                    Expiry::FirstRequest | Expiry::Idle => {
                        closing = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::rt::Executor as _;

    /// Finished on the first poll: run inline; waiting: spawned and
    /// finished by the runtime; panicking: dropped, the caller unharmed.
    #[tokio::test]
    async fn streams_run_inline_unless_they_wait() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let inline = Arc::new(AtomicBool::new(false));
        let flag = inline.clone();
        StreamExecutor.execute(async move { flag.store(true, Ordering::SeqCst) });
        assert!(inline.load(Ordering::SeqCst), "not run inline");

        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        StreamExecutor.execute(async move {
            wait.await.unwrap();
            tx.send(()).unwrap();
        });
        go.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), rx)
            .await
            .expect("the waiting stream was not spawned")
            .unwrap();

        StreamExecutor.execute(async { panic!("a handler bug") });
    }
}
