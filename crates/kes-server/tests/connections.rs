//! HTTP connection behaviour (issue 13): answers given before the request
//! body is read arrive intact over HTTP/2 and HTTP/1.1 (the server drains
//! the body up to a bound; a larger one is cut off), HEAD answers carry no
//! body, and Go's connection timeouts (first request, request head,
//! keep-alive idle).
//!
//! HTTP/2 is spoken with the `h2` crate directly, so a test sees what curl
//! trips on: an `RST_STREAM` after the answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use http::{Method, Request, StatusCode};
use kes_server::accept::ConnTimeouts;
use kes_server::api::UNREAD_BODY_LIMIT;
use kes_server::state::{Server, Settings};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

// ---------------------------------------------------------------- harness

/// A server with its own connection timeouts.
struct Srv {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

async fn start(settings: Settings, timeouts: ConnTimeouts) -> Srv {
    let server = Server::new(settings).await.expect("server state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(kes_server::accept::serve_with(
        server,
        listener,
        async move {
            let _ = rx.await;
        },
        Duration::from_secs(1),
        timeouts,
    ));
    Srv { addr, stop, task }
}

impl Srv {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap();
    }
}

/// Short timeouts for the timeout tests (generous for a loaded machine).
const SHORT: ConnTimeouts = ConnTimeouts {
    handshake: Duration::from_secs(10),
    first_request: Duration::from_secs(2),
    header_read: Duration::from_secs(2),
    idle: Duration::from_secs(6),
};

/// How late a timeout may fire on a busy 2-core machine.
const SLACK: Duration = Duration::from_secs(15);
/// Timer rounding: a timeout may fire this much early. Tests measure from
/// before the event that starts the server's clock, so any real early
/// close shows.
const EARLY: Duration = Duration::from_millis(50);

async fn tls(addr: SocketAddr, cert: &Cert, h2: bool) -> TlsStream<TcpStream> {
    let config = client_config(&ClientOpts {
        cert: Some(cert.clone()),
        extra_chain: vec![],
        h2,
        tls12_only: false,
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    TlsConnector::from(config)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

/// An HTTP/2 connection through the `h2` crate.
struct H2 {
    send: h2::client::SendRequest<Bytes>,
    conn: tokio::task::JoinHandle<Result<(), h2::Error>>,
}

async fn h2_connect(addr: SocketAddr, cert: &Cert) -> H2 {
    let io = tls(addr, cert, true).await;
    assert_eq!(io.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (send, conn) = h2::client::handshake(io).await.unwrap();
    H2 {
        send,
        conn: tokio::spawn(conn),
    }
}

fn h2_request(method: &Method, path: &str, len: Option<usize>) -> Request<()> {
    let mut b = Request::builder()
        .method(method.clone())
        .uri(format!("https://localhost{path}"));
    if let Some(len) = len {
        b = b.header(http::header::CONTENT_LENGTH, len);
    }
    b.body(()).unwrap()
}

/// An answer as received.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
}

impl Answer {
    fn check(&self, what: &str, status: u16, body: &[u8]) {
        assert_eq!(
            (self.status.as_u16(), self.body.as_slice()),
            (status, body),
            "{what}: {}",
            String::from_utf8_lossy(&self.body)
        );
    }
}

async fn h2_read(resp: h2::client::ResponseFuture, what: &str) -> Answer {
    let resp = resp
        .await
        .unwrap_or_else(|e| panic!("{what}: no answer: {e}"));
    let (parts, mut recv) = resp.into_parts();
    let mut body = Vec::new();
    while let Some(chunk) = recv.data().await {
        let chunk = chunk.unwrap_or_else(|e| panic!("{what}: answer cut: {e}"));
        recv.flow_control().release_capacity(chunk.len()).unwrap();
        body.extend_from_slice(&chunk);
    }
    Answer {
        status: parts.status,
        body,
    }
}

/// Sends a request over HTTP/2 with its body a moment after the headers,
/// so that an answer given before the body is read goes out first, and
/// requires that the answer arrives and the stream is not reset.
async fn h2_call(h2: &H2, method: &Method, path: &str, body: &[u8]) -> Answer {
    let what = format!("{method} {path} ({} bytes)", body.len());
    let mut send = h2.send.clone().ready().await.unwrap();
    let (resp, mut stream) = send
        .send_request(h2_request(method, path, Some(body.len())), body.is_empty())
        .unwrap();
    if !body.is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
        stream
            .send_data(Bytes::copy_from_slice(body), true)
            .unwrap_or_else(|e| panic!("{what}: body not sent, stream reset: {e}"));
    }
    let answer = h2_read(resp, &what).await;
    // A reset sent right after the answer arrives within a few ms.
    let reset = tokio::time::timeout(
        Duration::from_millis(50),
        std::future::poll_fn(|cx| stream.poll_reset(cx)),
    )
    .await;
    assert!(
        reset.is_err(),
        "{what}: stream reset after the answer: {reset:?}"
    );
    answer
}

/// Streams `total` bytes (`None`: without end) in 16 KiB pieces as flow
/// control allows; returns how many went out before the stream was reset
/// or closed.
async fn feed(stream: &mut h2::SendStream<Bytes>, total: Option<usize>) -> usize {
    let piece = Bytes::from(vec![b'A'; 16 * 1024]);
    let mut sent = 0;
    loop {
        let want = total.map_or(piece.len(), |t| piece.len().min(t - sent));
        if want == 0 {
            return sent;
        }
        stream.reserve_capacity(want);
        match std::future::poll_fn(|cx| stream.poll_capacity(cx)).await {
            Some(Ok(0)) => {}
            Some(Ok(n)) => {
                let n = n.min(want);
                if stream.send_data(piece.slice(..n), false).is_err() {
                    return sent;
                }
                sent += n;
            }
            Some(Err(_)) | None => return sent,
        }
    }
}

/// A raw HTTP/1.1 answer: status line, header lines, body.
struct RawAnswer {
    status_line: String,
    head: String,
    body: Vec<u8>,
}

/// Reads one HTTP/1.1 answer (with `Content-Length`) from `r`; `buf` keeps
/// what was read beyond it. `head_only`: the answer to a HEAD request.
async fn read_h1<R: AsyncRead + Unpin>(r: &mut R, buf: &mut Vec<u8>, head_only: bool) -> RawAnswer {
    let end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = r.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "connection closed before an answer: {:?}",
            String::from_utf8_lossy(buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf.drain(..end).collect()).unwrap();
    let status_line = head.lines().next().unwrap().to_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let len = if head_only { 0 } else { len };
    while buf.len() < len {
        let mut chunk = [0u8; 4096];
        let n = r.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed in an answer body");
        buf.extend_from_slice(&chunk[..n]);
    }
    RawAnswer {
        status_line,
        head,
        body: buf.drain(..len).collect(),
    }
}

/// Waits (at most `limit`) for the server to close the connection; anything
/// the server sends meanwhile is an error.
async fn closed_within<R: AsyncRead + Unpin>(r: &mut R, limit: Duration) {
    let mut chunk = [0u8; 1024];
    match tokio::time::timeout(limit, r.read(&mut chunk)).await {
        Ok(Ok(0) | Err(_)) => {}
        Ok(Ok(n)) => panic!(
            "expected the connection to close, got {:?}",
            String::from_utf8_lossy(&chunk[..n])
        ),
        Err(_) => panic!("connection still open after {limit:?}"),
    }
}

fn api_error(status: u16, message: &str) -> Vec<u8> {
    kes_types::api::ApiError::new(status, message).body()
}

const NOT_FOUND: &[u8] = b"404 page not found\n";

// ---------------------------------------------------------------- early answers

/// A request answered without reading its body: (sent by the admin, not the
/// app; method; path; body; status; answer body).
type EarlyCase = (bool, Method, String, Vec<u8>, u16, Vec<u8>);

/// Every kind of answer given without reading the body, with what it must
/// say; `i` makes key names unique.
fn early_cases(i: usize) -> Vec<EarlyCase> {
    let over_limit = vec![b'A'; 1_000_001];
    let denied = api_error(403, "not authorized: insufficient permissions");
    vec![
        // Denied by the policy (the app may not generate with app-secret*).
        (
            false,
            Method::POST,
            format!("/v1/key/generate/app-secret-{i}"),
            b"{}".to_vec(),
            403,
            denied.clone(),
        ),
        (
            false,
            Method::PUT,
            format!("/v1/key/encrypt/app-{i}"),
            vec![b'x'; 64 * 1024],
            403,
            denied,
        ),
        // No route.
        (
            false,
            Method::POST,
            format!("/v1/nothing/{i}"),
            b"{}".to_vec(),
            404,
            NOT_FOUND.to_vec(),
        ),
        (
            true,
            Method::PUT,
            "/v1/key".into(),
            vec![b'y'; 200_000],
            404,
            NOT_FOUND.to_vec(),
        ),
        // Wrong method.
        (
            false,
            Method::POST,
            format!("/v1/key/delete/app-{i}"),
            b"{}".to_vec(),
            405,
            api_error(405, "received method 'POST' expected 'DELETE'"),
        ),
        (
            true,
            Method::GET,
            format!("/v1/key/create/k-{i}"),
            b"{\"a\":1}".to_vec(),
            405,
            api_error(405, "received method 'GET' expected 'PUT'"),
        ),
        // Over the route's body limit (declared length, so rejected unread).
        (
            false,
            Method::POST,
            format!("/v1/key/generate/app-{i}"),
            over_limit,
            400,
            api_error(400, "invalid request body"),
        ),
        // Routes that take no body, answered 200 without reading it.
        (
            true,
            Method::PUT,
            format!("/v1/key/create/k-{i}"),
            b"{}".to_vec(),
            200,
            Vec::new(),
        ),
        (
            true,
            Method::DELETE,
            format!("/v1/key/delete/k-{i}"),
            b"{\"force\":true}".to_vec(),
            200,
            Vec::new(),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_early_answers_arrive_intact() {
    let pki = Pki::new();
    let srv = start(settings(&pki, TestStore::new()), ConnTimeouts::default()).await;
    let app = Arc::new(h2_connect(srv.addr, &pki.app).await);
    let admin = Arc::new(h2_connect(srv.addr, &pki.admin).await);
    // 8 concurrent streams on each connection, 4 rounds of 9 requests
    // each: 288 requests.
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..8 {
        let (app, admin) = (app.clone(), admin.clone());
        tasks.spawn(async move {
            for round in 0..4 {
                let i = t * 100 + round;
                for (as_admin, method, path, body, status, want) in early_cases(i) {
                    let conn = if as_admin { &admin } else { &app };
                    let what = format!("{method} {path}");
                    h2_call(conn, &method, &path, &body)
                        .await
                        .check(&what, status, &want);
                }
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    // Both connections are still up.
    for c in [&app, &admin] {
        h2_call(c, &Method::GET, "/version", b"").await;
        assert!(!c.conn.is_finished());
    }
    srv.stop().await;
}

#[tokio::test]
async fn h1_early_answers_keep_the_connection() {
    let pki = Pki::new();
    let srv = start(settings(&pki, TestStore::new()), ConnTimeouts::default()).await;
    let mut app = Client::new(srv.addr, &pki.app).conn().await.unwrap();
    let mut admin = Client::new(srv.addr, &pki.admin).conn().await.unwrap();
    // Sequential requests on one keep-alive connection each: an unread
    // body that closed the connection would fail the next request.
    for i in 0..3 {
        for (as_admin, method, path, body, status, want) in early_cases(i) {
            let conn = if as_admin { &mut admin } else { &mut app };
            let what = format!("{method} {path}");
            let r = conn
                .request(method, &path, Some(&body))
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(
                (r.status.as_u16(), &r.body[..]),
                (status, &want[..]),
                "{what}"
            );
        }
    }
    srv.stop().await;
}

#[tokio::test]
async fn h1_expect_continue_is_answered_without_the_body() {
    let pki = Pki::new();
    let srv = start(settings(&pki, TestStore::new()), ConnTimeouts::default()).await;
    let io = tls(srv.addr, &pki.app, false).await;
    let (mut r, mut w) = tokio::io::split(io);
    // The client waits for `100 Continue`; the answer comes instead.
    w.write_all(
        b"POST /v1/key/generate/app-secret HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    let a = tokio::time::timeout(Duration::from_secs(30), read_h1(&mut r, &mut buf, false))
        .await
        .expect("an answer without sending the body");
    assert!(a.status_line.starts_with("HTTP/1.1 403 "), "{}", a.head);
    assert_eq!(
        a.body,
        api_error(403, "not authorized: insufficient permissions")
    );
    srv.stop().await;
}

#[tokio::test]
async fn h2_bodies_beyond_the_bound_are_cut_off() {
    let pki = Pki::new();
    let srv = start(settings(&pki, TestStore::new()), ConnTimeouts::default()).await;
    let bound = usize::try_from(UNREAD_BODY_LIMIT).unwrap();
    let h2 = h2_connect(srv.addr, &pki.app).await;
    // Declared beyond the bound, and endless without a declared length.
    for total in [Some(8 * bound), None] {
        let what = format!("denied request with a body of {total:?} bytes");
        let mut send = h2.send.clone().ready().await.unwrap();
        let (resp, mut stream) = send
            .send_request(
                h2_request(&Method::POST, "/v1/key/generate/app-secret", total),
                false,
            )
            .unwrap();
        let (sent, answer) = tokio::time::timeout(Duration::from_secs(60), async {
            tokio::join!(feed(&mut stream, total), async {
                match resp.await {
                    Ok(r) => Some(r.status()),
                    Err(_) => None,
                }
            })
        })
        .await
        .unwrap_or_else(|_| panic!("{what}: still being read after 60 s"));
        // Cut off: the server stopped reading after at most the bound
        // (plus what flow-control windows let through) and reset the stream.
        assert!(sent < 4 * bound, "{what}: {sent} bytes went out");
        let reset = std::future::poll_fn(|cx| stream.poll_reset(cx)).await;
        assert!(reset.is_ok(), "{what}: {reset:?}");
        if let Some(status) = answer {
            assert_eq!(status, StatusCode::FORBIDDEN, "{what}");
        }
    }
    // The connection survives.
    h2_call(&h2, &Method::GET, "/version", b"").await;
    srv.stop().await;
}

#[tokio::test]
async fn h1_endless_body_is_cut_off() {
    let pki = Pki::new();
    let srv = start(settings(&pki, TestStore::new()), ConnTimeouts::default()).await;
    let io = tls(srv.addr, &pki.app, false).await;
    let (mut r, mut w) = tokio::io::split(io);
    w.write_all(
        b"POST /v1/key/generate/app-secret HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
    .await
    .unwrap();
    let writer = tokio::spawn(async move {
        let chunk = format!("4000\r\n{}\r\n", "A".repeat(0x4000));
        let mut sent = 0usize;
        while w.write_all(chunk.as_bytes()).await.is_ok() {
            sent += 0x4000;
        }
        sent
    });
    let answer = tokio::time::timeout(Duration::from_secs(60), async {
        let mut buf = Vec::new();
        let a = read_h1(&mut r, &mut buf, false).await;
        closed_within(&mut r, Duration::from_secs(30)).await;
        a
    })
    .await
    .expect("answer and close within 60 s");
    assert!(
        answer.status_line.starts_with("HTTP/1.1 403"),
        "{}",
        answer.head
    );
    let sent = tokio::time::timeout(Duration::from_secs(30), writer)
        .await
        .expect("writes fail once the server closed")
        .unwrap();
    let bound = usize::try_from(UNREAD_BODY_LIMIT).unwrap();
    assert!(sent < 64 * bound, "{sent} bytes went out");
    srv.stop().await;
}

#[tokio::test]
async fn slow_unread_body_does_not_outlive_the_route_timeout() {
    let pki = Pki::new();
    let mut s = settings(&pki, TestStore::new());
    s.api.insert(
        "/v1/key/generate/".into(),
        kes_server::api::routes::RouteOverride {
            skip_auth: false,
            timeout: Some(Duration::from_secs(1)),
        },
    );
    let srv = start(s, ConnTimeouts::default()).await;
    let h2 = h2_connect(srv.addr, &pki.app).await;
    let mut send = h2.send.clone().ready().await.unwrap();
    let (resp, mut stream) = send
        .send_request(
            h2_request(&Method::POST, "/v1/key/generate/app-secret", Some(100)),
            false,
        )
        .unwrap();
    let started = Instant::now();
    // One byte every 200 ms: 20 s for the whole body. Once the server has
    // answered it resets the stream, and a send fails: from then on only the
    // answer decides (select! polls in random order, so a trickle that
    // returned here would race the answer it follows).
    let trickle = async {
        for _ in 0..100 {
            if stream.send_data(Bytes::from_static(b"A"), false).is_err() {
                return std::future::pending().await;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let answer = tokio::select! {
        a = h2_read(resp, "slow body") => a,
        () = trickle => panic!("the whole slow body was read"),
    };
    answer.check(
        "slow body",
        403,
        &api_error(403, "not authorized: insufficient permissions"),
    );
    assert!(
        started.elapsed() < Duration::from_secs(1) + SLACK,
        "{:?}",
        started.elapsed()
    );
    srv.stop().await;
}

// ---------------------------------------------------------------- HEAD

#[tokio::test]
async fn head_answers_have_no_body() {
    let pki = Pki::new();
    let srv = start(settings(&pki, TestStore::new()), ConnTimeouts::default()).await;
    let version = api_error(405, "received method 'HEAD' expected 'GET'");
    let cases: [(&str, u16, usize); 3] = [
        ("/version", 405, version.len()),
        ("/v1/status", 405, version.len()),
        ("/v1/unknown", 404, NOT_FOUND.len()),
    ];

    // HTTP/2: HEADERS with END_STREAM, no DATA, no reset.
    let h2 = h2_connect(srv.addr, &pki.admin).await;
    for (path, status, len) in cases {
        let mut send = h2.send.clone().ready().await.unwrap();
        let (resp, mut stream) = send
            .send_request(h2_request(&Method::HEAD, path, None), true)
            .unwrap();
        let resp = resp.await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{path}");
        assert_eq!(resp.headers()["content-length"], len.to_string(), "{path}");
        let mut recv = resp.into_body();
        assert!(
            recv.is_end_stream(),
            "HEAD {path}: DATA follows the headers"
        );
        assert!(recv.data().await.is_none(), "HEAD {path}");
        let reset = tokio::time::timeout(
            Duration::from_millis(50),
            std::future::poll_fn(|cx| stream.poll_reset(cx)),
        )
        .await;
        assert!(reset.is_err(), "HEAD {path}: {reset:?}");
    }
    assert!(!h2.conn.is_finished());

    // HTTP/1.1: the same head, no body bytes (the next answer follows at once).
    let io = tls(srv.addr, &pki.admin, false).await;
    let (mut r, mut w) = tokio::io::split(io);
    let mut buf = Vec::new();
    for (path, status, len) in cases {
        w.write_all(format!("HEAD {path} HTTP/1.1\r\nHost: localhost\r\n\r\nGET /version HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let head = read_h1(&mut r, &mut buf, true).await;
        assert!(
            head.status_line.starts_with(&format!("HTTP/1.1 {status} ")),
            "{}",
            head.head
        );
        assert!(
            head.head
                .to_ascii_lowercase()
                .contains(&format!("\r\ncontent-length: {len}\r\n")),
            "{}",
            head.head
        );
        let next = read_h1(&mut r, &mut buf, false).await;
        assert_eq!(next.status_line, "HTTP/1.1 200 OK", "after HEAD {path}");
        assert!(next.body.ends_with(b"}\n"));
    }
    srv.stop().await;
}

// ---------------------------------------------------------------- timeouts

const GET_VERSION: &[u8] = b"GET /version HTTP/1.1\r\nHost: localhost\r\n\r\n";

#[tokio::test]
async fn keep_alive_outlives_the_header_timeout() {
    let pki = Pki::new();
    let srv = start(settings(&pki, TestStore::new()), SHORT).await;
    // HTTP/1.1: a second request after twice the header timeout.
    let io = tls(srv.addr, &pki.admin, false).await;
    let (mut r, mut w) = tokio::io::split(io);
    let mut buf = Vec::new();
    for _ in 0..2 {
        w.write_all(GET_VERSION).await.unwrap();
        let a = read_h1(&mut r, &mut buf, false).await;
        assert_eq!(a.status_line, "HTTP/1.1 200 OK");
        tokio::time::sleep(SHORT.header_read * 2).await;
    }
    // HTTP/2 likewise.
    let h2 = h2_connect(srv.addr, &pki.admin).await;
    for _ in 0..2 {
        h2_call(&h2, &Method::GET, "/version", b"").await.check(
            "version",
            200,
            &h2_version(&h2).await,
        );
        tokio::time::sleep(SHORT.header_read * 2).await;
    }
    srv.stop().await;
}

/// The body of `GET /version` (to compare whole answers).
async fn h2_version(h2: &H2) -> Vec<u8> {
    h2_call(h2, &Method::GET, "/version", b"").await.body
}

#[tokio::test]
async fn silent_connections_are_closed_after_the_first_request_timeout() {
    let pki = Pki::new();
    let srv = start(settings(&pki, TestStore::new()), SHORT).await;
    // HTTP/1.1: nothing after the handshake.
    let started = Instant::now();
    let mut io = tls(srv.addr, &pki.admin, false).await;
    closed_within(&mut io, SHORT.first_request + SLACK).await;
    let took = started.elapsed();
    assert!(took + EARLY >= SHORT.first_request, "closed after {took:?}");
    // HTTP/2: the preface and settings, but no stream.
    let started = Instant::now();
    let h2 = h2_connect(srv.addr, &pki.admin).await;
    tokio::time::timeout(SHORT.first_request + SLACK, h2.conn)
        .await
        .expect("HTTP/2 connection without a stream still open")
        .unwrap()
        .ok();
    let took = started.elapsed();
    assert!(took + EARLY >= SHORT.first_request, "closed after {took:?}");
    srv.stop().await;
}

#[tokio::test]
async fn slow_request_heads_are_cut() {
    let pki = Pki::new();
    let srv = start(settings(&pki, TestStore::new()), SHORT).await;
    let io = tls(srv.addr, &pki.admin, false).await;
    let (mut r, mut w) = tokio::io::split(io);
    let mut buf = Vec::new();
    // A head in pieces within the header timeout is answered.
    for piece in GET_VERSION.chunks(12) {
        w.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        read_h1(&mut r, &mut buf, false).await.status_line,
        "HTTP/1.1 200 OK"
    );
    // A head sent byte by byte (one per 300 ms: 13 s) is cut after the
    // header timeout; the idle time before it does not count.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let writer = tokio::spawn(async move {
        for b in GET_VERSION {
            if w.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    closed_within(&mut r, SHORT.header_read + SLACK).await;
    let took = started.elapsed();
    assert!(took + EARLY >= SHORT.header_read, "cut after {took:?}");
    assert!(
        took < Duration::from_millis(300) * 42,
        "cut after {took:?}: the whole head went out"
    );
    writer.abort();
    srv.stop().await;
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let pki = Pki::new();
    let srv = start(settings(&pki, TestStore::new()), SHORT).await;
    // HTTP/1.1.
    let io = tls(srv.addr, &pki.admin, false).await;
    let (mut r, mut w) = tokio::io::split(io);
    let mut buf = Vec::new();
    // Measured from before the request: its end starts the idle time.
    let started = Instant::now();
    w.write_all(GET_VERSION).await.unwrap();
    assert_eq!(
        read_h1(&mut r, &mut buf, false).await.status_line,
        "HTTP/1.1 200 OK"
    );
    closed_within(&mut r, SHORT.idle + SLACK).await;
    let took = started.elapsed();
    assert!(took + EARLY >= SHORT.idle, "closed after {took:?}");
    // HTTP/2: GOAWAY and close.
    let h2 = h2_connect(srv.addr, &pki.admin).await;
    let started = Instant::now();
    h2_call(&h2, &Method::GET, "/version", b"").await;
    tokio::time::timeout(SHORT.idle + SLACK, h2.conn)
        .await
        .expect("idle HTTP/2 connection still open")
        .unwrap()
        .ok();
    let took = started.elapsed();
    assert!(took + EARLY >= SHORT.idle, "closed after {took:?}");
    srv.stop().await;
}

// ---------------------------------------------------------------- curl

/// Runs curl (blocking, off the runtime) and returns its exit status,
/// stdout and stderr.
async fn curl(args: Vec<String>) -> (std::process::ExitStatus, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new("curl")
            .args(&args)
            .output()
            .unwrap();
        (
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

/// A self-signed P-256 client certificate.
fn p256_client(cn: &str) -> Cert {
    use rcgen::PublicKeyData;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.self_signed(&key).unwrap();
    Cert {
        der: cert.der().clone(),
        key: rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        pem: cert.pem(),
        key_pem: key.serialize_pem(),
        identity: identity_of_spki(&key.subject_public_key_info()),
    }
}

/// curl 7.88 (Debian 12) drops an HTTP/2 answer that an `RST_STREAM`
/// follows and rejects DATA after a HEAD answer: check with the real
/// client when it is installed (skipped otherwise).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_receives_every_early_answer() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("curl is not installed: skipped");
        return;
    }
    // curl's OpenSSL takes P-256 keys (not rcgen's Ed25519 PKCS#8).
    let pki = Pki::new();
    let (app_cert, admin_cert) = (p256_client("app"), p256_client("admin"));
    let mut s = settings(&pki, TestStore::new());
    s.admin = admin_cert.identity.clone();
    s.policies
        .get_mut("app")
        .unwrap()
        .identities
        .push(app_cert.identity.clone());
    let srv = start(s, ConnTimeouts::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let files = |name: &str, cert: &Cert| {
        let (crt, key) = (
            dir.path().join(format!("{name}.crt")),
            dir.path().join(format!("{name}.key")),
        );
        std::fs::write(&crt, &cert.pem).unwrap();
        std::fs::write(&key, &cert.key_pem).unwrap();
        vec![
            "--cert".to_owned(),
            crt.display().to_string(),
            "--key".to_owned(),
            key.display().to_string(),
        ]
    };
    let (app, admin) = (files("app", &app_cert), files("admin", &admin_cert));
    let base = format!("https://127.0.0.1:{}", srv.addr.port());
    // (admin?, method, path prefix, status): 20 requests each, one
    // connection per curl run, body `{}` on every request.
    let cases = [
        (false, "POST", "/v1/key/generate/app-secret-", 403),
        (false, "POST", "/v1/nothing/", 404),
        (false, "POST", "/v1/key/delete/app-", 405),
        (true, "PUT", "/v1/key/create/c", 200),
        (true, "DELETE", "/v1/key/delete/c", 200),
    ];
    for (as_admin, method, prefix, status) in cases {
        let mut args: Vec<String> = [
            "-sS",
            "--http2",
            "-k",
            "-X",
            method,
            "-d",
            "{}",
            "-w",
            "\\n%{http_code}\\n",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(if as_admin { admin.clone() } else { app.clone() });
        args.extend((0..20).map(|i| format!("{base}{prefix}{i}")));
        let (code, out, err) = curl(args).await;
        assert!(
            code.success(),
            "curl {method} {prefix}*: {code}: {err}\n{out}"
        );
        let answered = out.lines().filter(|l| *l == status.to_string()).count();
        assert_eq!(answered, 20, "curl {method} {prefix}*: {out}");
    }
    for path in ["/version", "/v1/status"] {
        let mut args: Vec<String> = ["-sS", "--http2", "-k", "-I"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(admin.clone());
        args.push(format!("{base}{path}"));
        let (code, out, err) = curl(args).await;
        assert!(code.success(), "curl -I {path}: {code}: {err}");
        assert!(out.starts_with("HTTP/2 405"), "curl -I {path}: {out}");
    }
    srv.stop().await;
}
