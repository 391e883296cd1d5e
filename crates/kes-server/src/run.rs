//! `kes server` as a library call: options, start-up (config or `--dev`),
//! memory locking, the banner, signals (SIGHUP reload, SIGINT/SIGTERM drain
//! and exit). The binary only parses flags and calls [`run`]; in-process
//! test servers do not go through it (and so never lock memory).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpSocket};

use crate::accept::{self, DRAIN_TIMEOUT};
use crate::state::{Server, Settings, StateError};

/// How often the TLS certificate is re-read from the config (spec §8.5).
pub const TLS_REREAD: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// The default listen address (spec §1.1).
pub const DEFAULT_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 7373);

/// Options of `kes server`.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// `--config <file>`.
    pub config: Option<PathBuf>,
    /// `--addr <ip:port>` (host part must be an IP literal or empty).
    pub addr: Option<String>,
    /// `--dev`: in-memory store, fresh certificate and admin API key.
    pub dev: bool,
    /// `--auth on|off` (deprecated; honoured as the TLS mode when the config
    /// leaves `tls.auth` at its default).
    pub auth: Option<String>,
    /// `--key` (deprecated, ignored).
    pub key: Option<PathBuf>,
    /// `--cert` (deprecated, ignored).
    pub cert: Option<PathBuf>,
    /// `--mlock`: memory must be locked, start-up fails if it cannot be.
    /// Without it, locking is still tried (as Go KES does) and a failure
    /// is a warning in the error log.
    pub mlock: bool,
    /// `--root <identity>`: overrides `admin.identity` (at start and on
    /// every reload); `_` or `disabled` disable the admin.
    pub root: Option<String>,
}

/// Checks a `--root` value: `_` and `disabled` are the reference's ways to
/// disable the admin (no real identity equals them), anything else must be
/// a valid identity.
fn root_identity(root: &str) -> Result<String, ServerError> {
    let root = root.trim();
    match root {
        "_" | "disabled" => Ok(root.to_owned()),
        _ => kes_types::name::validate_identity(root)
            .map(|()| root.to_owned())
            .map_err(|e| ServerError::Usage(format!("invalid value for '--root': {e}"))),
    }
}

/// Errors of `kes server`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Wrong flags (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// The config file is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Loading the config was interrupted (the blocking task failed).
    #[error("failed to load the config file: {0}")]
    ConfigTask(#[from] tokio::task::JoinError),
    /// The key store could not be connected (the error names the back-end).
    #[error(transparent)]
    KeyStore(kes_keystore::KeyStoreError),
    /// The state (policies, TLS, keys) could not be built.
    #[error(transparent)]
    State(#[from] StateError),
    /// `--mlock` was given and memory could not be locked.
    #[error("failed to lock memory (--mlock): {0}; {MLOCK_HINT}")]
    Mlock(crate::sys::MlockError),
    /// Listening or signal setup failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Dev-mode certificate generation failed.
    #[error("failed to generate the dev certificate: {0}")]
    DevCert(String),
}

impl ServerError {
    /// Whether the error is a usage error (exit code 2).
    pub fn is_usage(&self) -> bool {
        matches!(self, Self::Usage(_))
    }
}

/// Parses a listen address: `ip:port`, `[v6]:port` or `:port`; hostnames are
/// rejected (§8.4).
pub fn parse_addr(s: &str) -> Result<SocketAddr, ServerError> {
    let s = s.trim();
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| ServerError::Usage(format!("invalid address '{s}': missing port")))?;
    let port: u16 = port
        .parse()
        .map_err(|_| ServerError::Usage(format!("invalid address '{s}': invalid port '{port}'")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    let ip: IpAddr = host
        .parse()
        .map_err(|_| ServerError::Usage(format!("'{host}' is not a valid IP address")))?;
    Ok(SocketAddr::new(ip, port))
}

/// How to let the server lock its memory.
const MLOCK_HINT: &str = "grant the CAP_IPC_LOCK capability (e.g. `sudo setcap cap_ipc_lock=+ep $(readlink -f $(which kes))`) or an unlimited locked-memory limit (`ulimit -l unlimited`, systemd `LimitMEMLOCK=infinity`)";

fn warn(msg: &str) {
    eprintln!("WARNING: {msg}");
}

/// Runs `kes server` until SIGINT/SIGTERM.
pub async fn run(opts: ServeOptions) -> Result<(), ServerError> {
    // Key-store events of start-up wait for the server's error log; if
    // start-up fails first, they are printed before the error.
    crate::log::bridge::install();
    let result = serve(opts).await;
    if result.is_err() {
        crate::log::bridge::flush_to_stderr();
    }
    result
}

async fn serve(opts: ServeOptions) -> Result<(), ServerError> {
    if opts.dev && opts.config.is_some() {
        return Err(ServerError::Usage(
            "'--config' cannot be used with '--dev'".into(),
        ));
    }
    if !opts.dev && opts.config.is_none() {
        return Err(ServerError::Usage(
            "no config file specified: use '--config <file>' or '--dev'".into(),
        ));
    }
    for (flag, set) in [("key", opts.key.is_some()), ("cert", opts.cert.is_some())] {
        if set {
            warn(&format!(
                "'--{flag}' flag is deprecated and no longer honored. Specify the {flag} in the config file."
            ));
        }
    }
    let auth_flag = match opts.auth.as_deref().map(str::trim) {
        None => None,
        Some(v) if v.eq_ignore_ascii_case("on") => Some(true),
        Some(v) if v.eq_ignore_ascii_case("off") => Some(false),
        Some(v) => {
            return Err(ServerError::Usage(format!(
                "invalid value '{v}' for '--auth': want 'on' or 'off'"
            )));
        }
    };
    if auth_flag.is_some() {
        warn(
            "'--auth' flag is deprecated; use 'tls.auth' in the config file. It only applies when the config does not set 'tls.auth: on'.",
        );
    }
    let root = opts.root.as_deref().map(root_identity).transpose()?;
    if root.is_some() {
        warn(
            "'--root' flag is deprecated; use 'admin.identity' in the config file. It overrides the config's admin identity.",
        );
        if opts.dev {
            warn("'--root' with '--dev': the API key printed below is not the admin.");
        }
    }
    let mlock = crate::sys::lock_memory();
    if let (true, Err(e)) = (opts.mlock, &mlock) {
        return Err(ServerError::Mlock(e.clone()));
    }

    let (mut settings, addr, extra) = if opts.dev {
        let dev = crate::dev::settings()?;
        let addr = match &opts.addr {
            Some(a) => parse_addr(a)?,
            None => DEFAULT_ADDR,
        };
        (dev.settings, addr, dev.banner)
    } else {
        let path = opts.config.clone().unwrap_or_default();
        let loaded = crate::configure::load(&path, auth_flag).await?;
        for w in &loaded.warnings {
            warn(w);
        }
        let addr = match &opts.addr {
            Some(a) => parse_addr(a)?,
            None => loaded.address.unwrap_or(DEFAULT_ADDR),
        };
        (loaded.settings, addr, Vec::new())
    };

    if let Some(root) = &root {
        settings.admin = root.clone();
    }
    let levels = (settings.error_level, settings.audit_level);
    let server = Server::new(settings).await?;
    if let Err(e) = &mlock {
        server.logger().error(
            crate::level::Level::WARN,
            &format!("memory is not locked, key material may be written to swap: {e}; to lock it, {MLOCK_HINT}"),
            &[],
        );
    }
    let listener = listen(addr).map_err(|source| ServerError::Io {
        context: format!("failed to listen on {addr}"),
        source,
    })?;
    let local = listener.local_addr().unwrap_or(addr);
    // Handlers first: a SIGHUP right after the banner must not kill us.
    let shutdown = signals(server.clone(), opts.config.clone(), auth_flag, root)?;
    print_banner(&server, local, levels, &mlock, &extra);
    accept::serve(server.clone(), listener, shutdown, DRAIN_TIMEOUT).await;
    server.logger().flush();
    println!("\n=> Stopping server... Goodbye.");
    Ok(())
}

/// How many connections may wait in the kernel's accept queue. tokio's
/// `TcpListener::bind` uses 128, which overflows when a few hundred clients
/// (a restarting MinIO cluster) connect at once: dropped SYNs are retried
/// after 1 s. Measured in BENCHMARKS.md (finding 3). The kernel caps it at
/// `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` with [`LISTEN_BACKLOG`] (and `SO_REUSEADDR`, as `bind` does).
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Installs SIGHUP (reload) and returns a future that completes on SIGINT
/// or SIGTERM.
fn signals(
    server: Arc<Server>,
    config: Option<PathBuf>,
    auth_flag: Option<bool>,
    root: Option<String>,
) -> Result<impl std::future::Future<Output = ()>, ServerError> {
    use tokio::signal::unix::{SignalKind, signal};
    let io = |context: &str| {
        let context = context.to_owned();
        move |source| ServerError::Io { context, source }
    };
    let mut hup = signal(SignalKind::hangup()).map_err(io("failed to install SIGHUP handler"))?;
    let hup_server = server.clone();
    let hup_config = config.clone();
    let mut int =
        signal(SignalKind::interrupt()).map_err(io("failed to install SIGINT handler"))?;
    let mut term =
        signal(SignalKind::terminate()).map_err(io("failed to install SIGTERM handler"))?;
    tokio::spawn(async move {
        let (server, config) = (hup_server, hup_config);
        while hup.recv().await.is_some() {
            eprintln!("SIGHUP signal received. Reloading configuration...");
            let Some(path) = &config else {
                eprintln!("Failed to reload server config: no config file (dev mode)");
                continue;
            };
            let result = match crate::configure::load(path, auth_flag).await {
                Ok(mut loaded) => {
                    if let Some(root) = &root {
                        loaded.settings.admin = root.clone();
                    }
                    server
                        .reload(loaded.settings)
                        .await
                        .map_err(ServerError::from)
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => eprintln!("=> Reloading configuration after SIGHUP signal completed."),
                Err(e) => eprintln!("Failed to reload server config: {e}"),
            }
        }
    });
    if let Some(path) = config {
        let server = server.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TLS_REREAD);
            tick.tick().await;
            loop {
                tick.tick().await;
                let result = match crate::configure::load_tls(&path, auth_flag).await {
                    Ok(tls) => server.reload_tls(tls).map_err(ServerError::from),
                    Err(e) => Err(e),
                };
                if let Err(e) = result {
                    eprintln!("Failed to reload TLS configuration: {e}");
                }
            }
        });
    }
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}

fn print_banner(
    server: &Server,
    addr: SocketAddr,
    (error_level, audit_level): (crate::level::Level, crate::level::Level),
    mlock: &Result<(), crate::sys::MlockError>,
    extra: &[(String, String)],
) {
    let state = server.state();
    let admin = state.policies.admin();
    let admin_hex = admin.len() == 64
        && admin
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let mut lines: Vec<(String, String)> = vec![
        (
            "Version".into(),
            format!("{} commit={}", crate::api::VERSION, crate::api::COMMIT),
        ),
        (
            "Runtime".into(),
            format!("rust {}/{}", std::env::consts::OS, crate::api::go_arch()),
        ),
        (String::new(), String::new()),
        ("KMS".into(), state.store_description.clone()),
    ];
    let host = if addr.ip().is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        addr.ip()
    };
    lines.push((
        "API".into(),
        format!("· https://{}", SocketAddr::new(host, addr.port())),
    ));
    lines.push((String::new(), String::new()));
    lines.push((
        "Admin".into(),
        if admin_hex {
            admin.to_owned()
        } else {
            "<disabled>".into()
        },
    ));
    lines.extend(extra.iter().cloned());
    lines.push(("Logs".into(), format!("error=stderr level={error_level}")));
    if audit_level <= crate::level::Level::INFO {
        lines.push((String::new(), format!("audit=stdout level={audit_level}")));
    }
    lines.push((
        "MLock".into(),
        match mlock {
            Ok(()) => "enabled".into(),
            Err(e) => format!("disabled: {e}"),
        },
    ));
    let mut out = String::new();
    for (label, value) in lines {
        if label.is_empty() && value.is_empty() {
            out.push('\n');
        } else {
            out.push_str(&format!("{label:<12}{value}\n"));
        }
    }
    out.push_str("\n=> Server is up and running...\n");
    print!("{out}");
}

/// Settings loaded from a config file, plus what only `run` needs.
#[derive(Debug)]
pub struct Loaded {
    /// The server settings.
    pub settings: Settings,
    /// `address:` from the config.
    pub address: Option<SocketAddr>,
    /// Deprecation and no-effect warnings.
    pub warnings: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            parse_addr("127.0.0.1:7373").unwrap().to_string(),
            "127.0.0.1:7373"
        );
        assert_eq!(parse_addr(":7000").unwrap().to_string(), "0.0.0.0:7000");
        assert_eq!(parse_addr("[::1]:7000").unwrap().to_string(), "[::1]:7000");
        assert_eq!(
            parse_addr("localhost:7373").unwrap_err().to_string(),
            "'localhost' is not a valid IP address"
        );
        assert!(parse_addr("127.0.0.1").is_err());
    }
}
