//! The accept loop: TCP accept, TLS handshake under a timeout with the
//! *current* state's TLS config, the peer identity computed once per
//! connection, HTTP/1.1 and HTTP/2 (hyper-util auto) with a 5 s header-read
//! timeout and a 90 s idle timeout, and graceful shutdown with a drain
//! deadline (spec §1.2, §8.6).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::level::Level;
use crate::state::Server;
use crate::tls::PeerIdentity;

/// How long a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the request head may take to arrive (HTTP/1).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a connection may sit idle between requests.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// How long shutdown waits for in-flight requests by default (Go: 1 s).
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

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

/// Tracks in-flight requests and the last time the connection was busy,
/// for the idle timeout.
#[derive(Debug)]
struct Activity {
    opened: Instant,
    active: AtomicUsize,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            active: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.last_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    fn idle_for(&self) -> Option<Duration> {
        if self.active.load(Ordering::Acquire) > 0 {
            return None;
        }
        let last = self.last_ms.load(Ordering::Relaxed);
        Some(Duration::from_millis(self.now_ms().saturating_sub(last)))
    }
}

struct ActiveRequest<'a>(&'a Activity);

impl<'a> ActiveRequest<'a> {
    fn new(a: &'a Activity) -> Self {
        a.active.fetch_add(1, Ordering::AcqRel);
        a.touch();
        Self(a)
    }
}

impl Drop for ActiveRequest<'_> {
    fn drop(&mut self) {
        self.0.touch();
        self.0.active.fetch_sub(1, Ordering::AcqRel);
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
    let mut shutdown = std::pin::pin!(shutdown);
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    conns.spawn(connection(server.clone(), tcp, peer));
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

async fn connection(server: Arc<Server>, tcp: TcpStream, peer: SocketAddr) {
    let _ = tcp.set_nodelay(true);
    let acceptor = TlsAcceptor::from(server.state().tls.clone());
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
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

    let svc = {
        let server = server.clone();
        let info = info.clone();
        service_fn(move |req| {
            let server = server.clone();
            let info = info.clone();
            async move {
                let _active = ActiveRequest::new(&info.activity);
                Ok::<_, Infallible>(crate::api::handle(&server, &info, req).await)
            }
        })
    };

    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let conn = builder.serve_connection(TokioIo::new(tls), svc);
    tokio::pin!(conn);

    let mut shutdown = server.shutdown_signal();
    let mut closing = *shutdown.borrow();
    if closing {
        conn.as_mut().graceful_shutdown();
    }
    let mut tick = tokio::time::interval(IDLE_TIMEOUT / 6);
    loop {
        tokio::select! {
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
            _ = tick.tick(), if !closing => {
                if info.activity.idle_for().is_some_and(|d| d >= IDLE_TIMEOUT) {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}
