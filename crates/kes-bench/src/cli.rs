//! Command-line arguments of `kes-bench` (clap) and their validation into a
//! [`BenchConfig`].
//!
//! Raw argv lives in [`Args`]; only the validated [`BenchConfig`] reaches the
//! driver. This module does no I/O except reading the files it is pointed at
//! (client certificate, key, CA).

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::error::BenchError;

/// Closed-loop load generator for a KES server.
///
/// Every connection (or HTTP/2 stream) sends its next request as soon as the
/// previous answer arrived: there is no rate limit. Connections are set up
/// before the clock starts, except in the `handshake` workload (and with
/// `--new-conn`), where every request opens a fresh TCP + TLS connection.
#[derive(Debug, Clone, Parser)]
#[command(name = "kes-bench", version, about, long_about = None)]
pub struct Args {
    /// Server endpoint, `https://host:port`.
    #[arg(
        short = 's',
        long,
        default_value = "https://127.0.0.1:7373",
        env = "KES_SERVER"
    )]
    pub server: String,

    /// What to send.
    #[arg(short = 'w', long, value_enum, default_value_t = Workload::Generate)]
    pub workload: Workload,

    /// Name of the key the workload uses (created at setup unless `--no-create`).
    #[arg(long, default_value = "bench-key")]
    pub key_name: String,

    /// Do not create the key at setup (it must exist).
    #[arg(long)]
    pub no_create: bool,

    /// `generate` only: spread requests over the keys `<key-name>-0` … `<key-name>-<N-1>`
    /// (create them first with `-w create -n N`); they are not created at setup.
    #[arg(long, default_value_t = 1)]
    pub keys: usize,

    /// Number of connections.
    #[arg(short = 'c', long, default_value_t = 16)]
    pub connections: usize,

    /// Use HTTP/2 (ALPN `h2`) instead of HTTP/1.1.
    #[arg(long)]
    pub http2: bool,

    /// Concurrent streams per HTTP/2 connection (requests in flight = connections × streams).
    #[arg(short = 'p', long, default_value_t = 1)]
    pub streams: usize,

    /// Stop after this many requests in total.
    #[arg(short = 'n', long, conflicts_with = "duration")]
    pub requests: Option<u64>,

    /// Stop after this long (`500ms`, `10s`, `2m`). Default: 10s unless `-n` is given.
    #[arg(short = 'z', long, value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Per-request timeout (counted as a `timeout` error).
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub timeout: Duration,

    /// API key (`kes:v1:…`) whose self-signed certificate is presented.
    #[arg(short = 'a', long, env = "KES_API_KEY", hide_env_values = true, conflicts_with_all = ["cert", "key"])]
    pub api_key: Option<String>,

    /// Client certificate (PEM) to present.
    #[arg(long, env = "KES_CLIENT_CERT", requires = "key")]
    pub cert: Option<PathBuf>,

    /// Private key (PEM) of `--cert`.
    #[arg(long, env = "KES_CLIENT_KEY", requires = "cert")]
    pub key: Option<PathBuf>,

    /// CA certificate(s) (PEM) to verify the server with.
    #[arg(long)]
    pub cacert: Option<PathBuf>,

    /// Do not verify the server certificate (handshake signatures are still checked).
    #[arg(short = 'k', long)]
    pub insecure: bool,

    /// TLS server name (SNI and verification); defaults to the endpoint host.
    #[arg(long)]
    pub server_name: Option<String>,

    /// Open a new connection for every request (implied by `-w handshake`).
    #[arg(long)]
    pub new_conn: bool,

    /// With new connections, allow TLS session resumption (default: full handshakes).
    #[arg(long)]
    pub resume: bool,

    /// Offer only this TLS 1.3 cipher suite (e.g. `TLS13_AES_128_GCM_SHA256`), to see
    /// what the server's suite choice costs; default: rustls's list.
    #[arg(long)]
    pub cipher_suite: Option<String>,

    /// Key-exchange group to offer: `X25519` (default), `secp256r1`, `secp384r1` or the
    /// hybrid post-quantum `X25519MLKEM768` (what Go 1.24+ clients offer first).
    #[arg(long, default_value = "X25519")]
    pub kx_group: String,

    /// Context string (e.g. `{}`) sent base64-encoded with generate/encrypt/decrypt.
    #[arg(long)]
    pub context: Option<String>,

    /// Plaintext size in bytes for `encrypt`.
    #[arg(long, default_value_t = 32)]
    pub plaintext_size: usize,

    /// Number of distinct pre-built requests (ciphertexts for `decrypt`, objects for `minio`).
    #[arg(long, default_value_t = 1024)]
    pub pool: usize,

    /// Share of decrypt requests in the `minio` mix (0.0..=1.0; MinIO reads ≈ writes by default).
    #[arg(long, default_value_t = 0.5)]
    pub read_ratio: f64,

    /// Check every response body (decrypt returns the expected plaintext, …); costs client CPU.
    #[arg(long)]
    pub verify: bool,

    /// PID of the server on this machine: report its CPU time per request
    /// (from /proc/<pid>/task/*/schedstat, robust against a busy machine; /proc/<pid>/stat when threads exited during the run) and its RSS.
    #[arg(long)]
    pub server_pid: Option<u32>,

    /// Tokio worker threads (default: number of CPUs).
    #[arg(long)]
    pub threads: Option<NonZeroUsize>,

    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,

    /// Write the API key's client certificate and private key (PEM) as
    /// `client.crt` and `client.key` into this directory and exit, e.g. for oha.
    #[arg(long, requires = "api_key")]
    pub export_cert: Option<PathBuf>,
}

/// What each request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// `POST /v1/key/generate/<key>`.
    Generate,
    /// `POST /v1/key/decrypt/<key>` of pre-generated ciphertexts.
    Decrypt,
    /// `POST /v1/key/encrypt/<key>` of random plaintexts.
    Encrypt,
    /// `POST /v1/key/create/<unique>` then `DELETE /v1/key/delete/<unique>`, alternating.
    CreateDelete,
    /// `POST /v1/key/create/<key-name>-<n>` for n = 0, 1, 2, … (fills a key store).
    Create,
    /// MinIO-like: generate and decrypt with per-object contexts `{"bucket":"bucket/object-<n>"}`.
    Minio,
    /// A new TCP + full TLS handshake per request, then `GET /version`.
    Handshake,
}

impl Workload {
    /// The command-line spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Workload::Generate => "generate",
            Workload::Decrypt => "decrypt",
            Workload::Encrypt => "encrypt",
            Workload::CreateDelete => "create-delete",
            Workload::Create => "create",
            Workload::Minio => "minio",
            Workload::Handshake => "handshake",
        }
    }
}

/// When the run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// After this many requests in total.
    Requests(u64),
    /// After this wall-clock time.
    Duration(Duration),
}

/// Where the client certificate comes from.
#[derive(Clone)]
pub enum ClientIdentity {
    /// An API key; its certificate is generated at start.
    ApiKey(kes_crypto::ApiKey),
    /// PEM files.
    Files {
        /// Certificate chain.
        cert: PathBuf,
        /// Private key.
        key: PathBuf,
    },
    /// No client certificate.
    None,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientIdentity::ApiKey(k) => write!(f, "ApiKey({})", k.identity()),
            ClientIdentity::Files { cert, key } => {
                write!(f, "Files({}, {})", cert.display(), key.display())
            }
            ClientIdentity::None => f.write_str("None"),
        }
    }
}

/// Validated run parameters.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Host as given (name or IP, without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// TLS server name.
    pub server_name: String,
    /// Workload.
    pub workload: Workload,
    /// Key used by the workload.
    pub key_name: String,
    /// Create the key at setup.
    pub create_key: bool,
    /// Number of keys `generate` spreads over (1 = just `key_name`).
    pub keys: usize,
    /// Connections (≥ 1).
    pub connections: usize,
    /// HTTP/2 instead of HTTP/1.1.
    pub http2: bool,
    /// Streams per HTTP/2 connection (≥ 1; 1 for HTTP/1.1).
    pub streams: usize,
    /// End of the run.
    pub stop: Stop,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Client certificate source.
    pub identity: ClientIdentity,
    /// CA file for server verification.
    pub cacert: Option<PathBuf>,
    /// Skip server certificate verification.
    pub insecure: bool,
    /// A fresh connection per request.
    pub new_conn: bool,
    /// Allow TLS resumption on fresh connections.
    pub resume: bool,
    /// The only TLS 1.3 suite to offer, if set.
    pub cipher_suite: Option<String>,
    /// The only key-exchange group to offer.
    pub kx_group: String,
    /// Raw context bytes for generate/encrypt/decrypt (not used by `minio`).
    pub context: Option<String>,
    /// Plaintext size for `encrypt`.
    pub plaintext_size: usize,
    /// Pool size (≥ 1).
    pub pool: usize,
    /// Decrypt share in `minio`.
    pub read_ratio: f64,
    /// Verify response bodies.
    pub verify: bool,
    /// Runtime threads.
    pub threads: Option<NonZeroUsize>,
    /// Server process to observe.
    pub server_pid: Option<u32>,
}

impl TryFrom<Args> for BenchConfig {
    type Error = BenchError;

    fn try_from(args: Args) -> Result<Self, BenchError> {
        let (host, port) = parse_endpoint(&args.server)?;
        if args.connections == 0 {
            return Err(BenchError::Config(
                "--connections must be at least 1".into(),
            ));
        }
        if args.streams == 0 {
            return Err(BenchError::Config("--streams must be at least 1".into()));
        }
        if args.streams > 1 && !args.http2 {
            return Err(BenchError::Config(
                "--streams above 1 needs --http2 (HTTP/1.1 has one request in flight per connection)"
                    .into(),
            ));
        }
        if args.keys == 0 {
            return Err(BenchError::Config("--keys must be at least 1".into()));
        }
        if args.keys > 1 && args.workload != Workload::Generate {
            return Err(BenchError::Config(
                "--keys above 1 only applies to -w generate".into(),
            ));
        }
        if args.pool == 0 {
            return Err(BenchError::Config("--pool must be at least 1".into()));
        }
        if !(0.0..=1.0).contains(&args.read_ratio) {
            return Err(BenchError::Config(format!(
                "--read-ratio must be within 0.0..=1.0, got {}",
                args.read_ratio
            )));
        }
        if args.plaintext_size > 1 << 19 {
            return Err(BenchError::Config(format!(
                "--plaintext-size must be at most 524288 (the base64 body must fit KES's 1 MB limit), got {}",
                args.plaintext_size
            )));
        }
        let stop = match (args.requests, args.duration) {
            (Some(0), _) => return Err(BenchError::Config("--requests must be at least 1".into())),
            (Some(n), _) => Stop::Requests(n),
            (None, Some(d)) if d.is_zero() => {
                return Err(BenchError::Config("--duration must be positive".into()));
            }
            (None, Some(d)) => Stop::Duration(d),
            (None, None) => Stop::Duration(Duration::from_secs(10)),
        };
        let identity = match (args.api_key, args.cert, args.key) {
            (Some(k), _, _) => ClientIdentity::ApiKey(
                kes_crypto::ApiKey::parse(k.trim()).map_err(BenchError::ApiKey)?,
            ),
            (None, Some(cert), Some(key)) => ClientIdentity::Files { cert, key },
            _ => ClientIdentity::None,
        };
        let http2 = args.http2 && args.workload != Workload::Handshake;
        Ok(BenchConfig {
            server_name: args.server_name.unwrap_or_else(|| host.clone()),
            host,
            port,
            workload: args.workload,
            key_name: args.key_name,
            create_key: !args.no_create && args.keys == 1,
            keys: args.keys,
            connections: args.connections,
            http2,
            streams: if http2 { args.streams } else { 1 },
            stop,
            timeout: args.timeout,
            identity,
            cacert: args.cacert,
            insecure: args.insecure,
            new_conn: args.new_conn || args.workload == Workload::Handshake,
            resume: args.resume,
            cipher_suite: args.cipher_suite,
            kx_group: args.kx_group,
            context: args.context,
            plaintext_size: args.plaintext_size,
            pool: args.pool,
            read_ratio: args.read_ratio,
            verify: args.verify,
            threads: args.threads,
            server_pid: args.server_pid,
        })
    }
}

/// Splits `https://host:port[/]` into host and port (443 when the port is
/// missing, like any HTTPS URL).
pub fn parse_endpoint(s: &str) -> Result<(String, u16), BenchError> {
    let bad = |why: &str| BenchError::Config(format!("--server {s:?}: {why}"));
    let rest = s
        .strip_prefix("https://")
        .ok_or_else(|| bad("must start with https://"))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('/') {
        return Err(bad("must not contain a path"));
    }
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("unterminated IPv6 address"))?;
        match after.strip_prefix(':') {
            Some(p) => (host, Some(p)),
            None if after.is_empty() => (host, None),
            None => return Err(bad("junk after the IPv6 address")),
        }
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return Err(bad("missing host"));
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| bad("port must be 0..=65535"))?,
        None => 443,
    };
    Ok((host.to_string(), port))
}

/// Parses `250ms`, `10s`, `2m`, `1h` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: expected a number then ms, s, m or h"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => {
            return Err(format!(
                "invalid duration unit {unit:?} in {s:?}: use ms, s, m or h"
            ));
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            parse_endpoint("https://127.0.0.1:7373").unwrap(),
            ("127.0.0.1".into(), 7373)
        );
        assert_eq!(
            parse_endpoint("https://localhost/").unwrap(),
            ("localhost".into(), 443)
        );
        assert_eq!(
            parse_endpoint("https://[::1]:7373").unwrap(),
            ("::1".into(), 7373)
        );
        for bad in [
            "http://x:1",
            "https://:1",
            "https://x:99999",
            "https://x/v1",
            "https://[::1",
        ] {
            assert!(parse_endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn validation() {
        let args = |extra: &[&str]| {
            let mut v = vec!["kes-bench"];
            v.extend_from_slice(extra);
            BenchConfig::try_from(Args::try_parse_from(v).unwrap())
        };
        let c = args(&["-n", "5"]).unwrap();
        assert_eq!(c.stop, Stop::Requests(5));
        assert_eq!(c.streams, 1);
        assert!(!c.new_conn);
        assert_eq!(
            args(&[]).unwrap().stop,
            Stop::Duration(Duration::from_secs(10))
        );
        assert!(args(&["-c", "0"]).is_err());
        assert!(args(&["-p", "4"]).is_err());
        assert_eq!(args(&["--http2", "-p", "4"]).unwrap().streams, 4);
        assert!(args(&["--read-ratio", "1.5"]).is_err());
        assert!(args(&["-a", "kes:v1:nonsense"]).is_err());
        let h = args(&["-w", "handshake", "--http2"]).unwrap();
        assert!(h.new_conn && !h.http2);
        assert!(Args::try_parse_from(["kes-bench", "-n", "5", "-z", "1s"]).is_err());
    }
}
