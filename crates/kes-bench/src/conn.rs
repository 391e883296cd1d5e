//! Opening connections (TCP → TLS → hyper HTTP/1.1 or HTTP/2) and sending one
//! request on them.
//!
//! Owns the transport-level failure taxonomy ([`TransportError::kind`]) that
//! the report counts. It knows nothing about KES paths or bodies.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::tls::ALPN_H2;

/// Opens connections to one server with one TLS configuration.
#[derive(Clone)]
pub struct Connector {
    host: String,
    port: u16,
    server_name: ServerName<'static>,
    tls: TlsConnector,
    http2: bool,
}

impl Connector {
    /// A connector for `host:port`, speaking HTTP/2 when `http2`.
    pub fn new(
        host: String,
        port: u16,
        server_name: ServerName<'static>,
        tls: Arc<rustls::ClientConfig>,
        http2: bool,
    ) -> Self {
        Connector {
            host,
            port,
            server_name,
            tls: TlsConnector::from(tls),
            http2,
        }
    }

    /// `host:port` for messages.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Whether connections speak HTTP/2.
    pub fn is_http2(&self) -> bool {
        self.http2
    }

    /// Opens one connection and spawns its driver task.
    pub async fn connect(&self) -> Result<Sender, TransportError> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(TransportError::Tcp)?;
        // Small request/response pairs: never wait for Nagle.
        tcp.set_nodelay(true).map_err(TransportError::Tcp)?;
        let tls = self
            .tls
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(TransportError::Tls)?;
        if self.http2 {
            if tls.get_ref().1.alpn_protocol() != Some(ALPN_H2) {
                return Err(TransportError::NoH2);
            }
            let (sender, conn) = http2::Builder::new(TokioExecutor::new())
                .handshake(TokioIo::new(tls))
                .await
                .map_err(TransportError::Http)?;
            tokio::spawn(conn);
            Ok(Sender::H2(sender))
        } else {
            let (sender, conn) = http1::handshake(TokioIo::new(tls))
                .await
                .map_err(TransportError::Http)?;
            tokio::spawn(conn);
            Ok(Sender::H1(sender))
        }
    }
}

/// The sending half of one connection. HTTP/2 senders can be cloned to run
/// several streams on the same connection; HTTP/1.1 senders cannot.
pub enum Sender {
    /// HTTP/1.1: one request at a time.
    H1(http1::SendRequest<Full<Bytes>>),
    /// HTTP/2: multiplexed.
    H2(http2::SendRequest<Full<Bytes>>),
}

impl Sender {
    /// Another handle on the same connection (HTTP/2 only).
    pub fn try_clone(&self) -> Option<Sender> {
        match self {
            Sender::H1(_) => None,
            Sender::H2(s) => Some(Sender::H2(s.clone())),
        }
    }

    /// Sends `req` and reads the whole response body.
    pub async fn send(
        &mut self,
        req: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, Bytes), TransportError> {
        let response = match self {
            Sender::H1(s) => {
                s.ready().await.map_err(TransportError::Http)?;
                s.send_request(req).await.map_err(TransportError::Http)?
            }
            Sender::H2(s) => s.send_request(req).await.map_err(TransportError::Http)?,
        };
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(TransportError::Http)?
            .to_bytes();
        Ok((status, body))
    }
}

/// Why a request got no HTTP response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// TCP connect or socket option failed.
    #[error("TCP: {0}")]
    Tcp(#[source] std::io::Error),
    /// TLS handshake failed (includes a rejected client certificate).
    #[error("TLS handshake: {0}")]
    Tls(#[source] std::io::Error),
    /// The server did not select `h2` in ALPN.
    #[error("server did not negotiate HTTP/2 (ALPN h2)")]
    NoH2,
    /// HTTP protocol or I/O error after the handshake.
    #[error("HTTP: {0}")]
    Http(#[source] hyper::Error),
    /// No answer within the per-request timeout.
    #[error("request timed out")]
    Timeout,
}

impl TransportError {
    /// A short stable name for error counts in reports.
    pub fn kind(&self) -> &'static str {
        match self {
            TransportError::Tcp(_) => "tcp",
            TransportError::Tls(_) => "tls",
            TransportError::NoH2 => "no-h2",
            TransportError::Http(e) if e.is_closed() || e.is_incomplete_message() => "closed",
            TransportError::Http(_) => "http",
            TransportError::Timeout => "timeout",
        }
    }
}
