//! An in-process TCP fault proxy: put [`FaultProxy`] between a client under
//! test and a real peer, then switch it at run time between forwarding,
//! an outage and a black hole.
//!
//! - [`Mode::Pass`]: forwards bytes both ways.
//! - [`Mode::Outage`]: closes every open connection and stops listening, so
//!   new connections are refused (`ECONNREFUSED`), as when the peer's
//!   process is down.
//! - [`Mode::Blackhole`]: accepts connections and reads from them but never
//!   forwards or answers, new and open connections alike, as with a peer
//!   that hangs or a network that drops packets.
//!
//! Back in [`Mode::Pass`] the proxy listens again on the same port; the
//! connections that were black-holed are closed (their requests were
//! swallowed). The proxy stops, closing everything, when dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward both ways.
    Pass,
    /// Refuse new connections and drop open ones.
    Outage,
    /// Accept and read, never forward or answer.
    Blackhole,
}

/// A running proxy on `127.0.0.1`; see the [module docs](self).
pub struct FaultProxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    accepted: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free `127.0.0.1` port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fault proxy: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("fault proxy: local addr");
        let (mode, rx) = watch::channel(Mode::Pass);
        let accepted = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(accept_loop(
            listener,
            addr,
            upstream,
            rx,
            Arc::clone(&accepted),
        ));
        FaultProxy {
            addr,
            mode,
            accepted,
            task,
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Switches the mode; open connections follow at once.
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    /// How many connections were accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Connection tasks end when the mode sender goes away.
        self.task.abort();
    }
}

/// Accepts while not in an outage; in an outage holds no listener at all.
async fn accept_loop(
    listener: TcpListener,
    addr: SocketAddr,
    upstream: SocketAddr,
    mut mode: watch::Receiver<Mode>,
    accepted: Arc<AtomicU64>,
) {
    let mut listener = Some(listener);
    loop {
        let current = *mode.borrow_and_update();
        if current == Mode::Outage {
            listener = None;
            if mode.changed().await.is_err() {
                return;
            }
            continue;
        }
        let l = match listener.take() {
            Some(l) => l,
            None => rebind(addr).await,
        };
        tokio::select! {
            res = l.accept() => {
                if let Ok((client, _)) = res {
                    accepted.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(connection(client, upstream, mode.clone()));
                }
            }
            changed = mode.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
        listener = Some(l);
    }
}

/// Binds `addr` again after an outage (retrying for a while: the port is
/// ours, but the kernel may need a moment).
async fn rebind(addr: SocketAddr) -> TcpListener {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpListener::bind(addr).await {
            Ok(l) => return l,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("fault proxy: cannot listen on {addr} again: {e}"),
        }
    }
}

/// One client connection: forwards while in `Pass`, swallows while in
/// `Blackhole`, and ends on an outage or when leaving `Blackhole`.
async fn connection(mut client: TcpStream, upstream: SocketAddr, mut mode: watch::Receiver<Mode>) {
    if *mode.borrow_and_update() == Mode::Pass {
        let Ok(mut server) = TcpStream::connect(upstream).await else {
            return; // the client sees the connection closed
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        // One copy future for the whole connection: restarting it could
        // lose bytes it has read but not yet written.
        let copy = tokio::io::copy_bidirectional(&mut client, &mut server);
        tokio::pin!(copy);
        loop {
            tokio::select! {
                _ = &mut copy => return,
                changed = mode.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    if *mode.borrow_and_update() != Mode::Pass {
                        break;
                    }
                }
            }
        }
        // `server` is dropped below: nothing more reaches the peer.
    }
    if *mode.borrow() != Mode::Blackhole {
        return;
    }
    let mut sink = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            n = client.read(&mut sink) => {
                if !matches!(n, Ok(n) if n > 0) {
                    return;
                }
            }
            changed = mode.changed() => {
                if changed.is_err() || *mode.borrow_and_update() != Mode::Blackhole {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// An upstream that echoes every byte back.
    async fn echo_server() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    /// Sends `msg` and reads the echo, within 2 s.
    async fn round_trip(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<Vec<u8>> {
        s.write_all(msg).await?;
        let mut buf = vec![0u8; msg.len()];
        match tokio::time::timeout(Duration::from_secs(2), s.read_exact(&mut buf)).await {
            Ok(r) => r.map(|_| buf),
            Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pass_outage_blackhole_pass() {
        let proxy = FaultProxy::start(echo_server().await).await;
        let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut open, b"one").await.unwrap(), b"one");

        // Outage: the open connection is closed (its task applies the mode
        // asynchronously, so wait for the close), new ones are refused.
        proxy.set(Mode::Outage);
        let mut rest = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(10), open.read_to_end(&mut rest)).await;
        assert!(matches!(n, Ok(Ok(0)) | Ok(Err(_))), "{n:?}");
        wait(|| async {
            matches!(TcpStream::connect(proxy.addr()).await,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused)
        })
        .await;

        // Back: same port.
        proxy.set(Mode::Pass);
        let mut open = connect_retrying(proxy.addr()).await;
        assert_eq!(round_trip(&mut open, b"three").await.unwrap(), b"three");

        // Black hole: open and new connections take bytes, answer nothing.
        // The open connection's task applies the mode asynchronously: an
        // echo may still come back until it has, then nothing does.
        proxy.set(Mode::Blackhole);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match round_trip(&mut open, b"four").await {
                Ok(_) => assert!(Instant::now() < deadline, "still forwarding after 10 s"),
                Err(e) => {
                    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
                    break;
                }
            }
        }
        let mut new = TcpStream::connect(proxy.addr()).await.unwrap();
        let e = round_trip(&mut new, b"five").await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);

        // Pass again: black-holed connections are closed, new ones work.
        proxy.set(Mode::Pass);
        let mut rest = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(2), new.read_to_end(&mut rest)).await;
        assert!(matches!(n, Ok(Ok(0)) | Ok(Err(_))), "{n:?}");
        let mut again = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut again, b"six").await.unwrap(), b"six");
        assert!(proxy.accepted() >= 4);
    }

    async fn wait<F, Fut>(mut f: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !f().await {
            assert!(Instant::now() < deadline, "condition not met within 10 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn connect_retrying(addr: SocketAddr) -> TcpStream {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match TcpStream::connect(addr).await {
                Ok(s) => return s,
                Err(e) => assert!(Instant::now() < deadline, "connect {addr}: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
