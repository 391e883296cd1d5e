//! PyKMIP 0.11 (PyPI `pykmip`, a KMIP 1.0–2.0 server) as a real test peer:
//! [`PyKmip::start`] installs it into the shared test-peer venv
//! ([`Venv::ensure`]), mints a throw-away PKI with rcgen (a CA, an EC P-256
//! server certificate for 127.0.0.1 and a client certificate; no openssl),
//! writes a `server.conf` with a sqlite database in its own directory,
//! starts `pykmip-server -f server.conf` on a free port, waits until the
//! port accepts connections, and stops it with SIGINT when dropped
//! (SIGTERM can hang for seconds; SIGKILL after 5 s).
//!
//! PyKMIP's default `auth_suite=TLS1.2` offers only `AES128-SHA256`, which
//! rustls does not speak; the EC certificate and the two ECDHE-ECDSA GCM
//! suites below are a set-up both sides accept (test-peers.md). PyKMIP
//! names the client by its certificate's common name and requires the
//! clientAuth extended key usage.

use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::{PeerProcess, Venv, free_port, peers_dir};

/// The PyPI package, pinned.
const PACKAGE: &str = "pykmip==0.11.0";

/// The `pykmip-server` script from the project-local venv (installed on
/// first use).
pub fn pykmip_server() -> PathBuf {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let venv = Venv::ensure(&[PACKAGE]);
        let exe = venv.bin("pykmip-server");
        assert!(
            exe.is_file(),
            "{PACKAGE} is installed in {} but {} is missing",
            venv.dir.display(),
            exe.display()
        );
        exe
    })
    .clone()
}

/// The client side of the PKI: PEM files a KMIP client is configured with.
#[derive(Debug, Clone)]
pub struct ClientFiles {
    /// The CA that signed the server certificate.
    pub ca: PathBuf,
    /// The client certificate (CN `kes-test-client`, clientAuth).
    pub cert: PathBuf,
    /// The client's private key (PKCS#8).
    pub key: PathBuf,
}

/// A running PyKMIP server; stopped on drop, its directory removed.
pub struct PyKmip {
    process: Option<PeerProcess>,
    port: u16,
    dir: PathBuf,
    client: ClientFiles,
}

impl PyKmip {
    /// Starts PyKMIP on a free port of 127.0.0.1 with a fresh PKI and an
    /// empty database.
    pub fn start() -> Self {
        let exe = pykmip_server();
        let port = free_port();
        let dir = peers_dir().join(format!("pykmip-{port}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("policies"))
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let client = write_pki(&dir);
        let conf = dir.join("server.conf");
        write(
            &conf,
            &format!(
                "[server]\nhostname=127.0.0.1\nport={port}\n\
                 certificate_path={d}/server.pem\nkey_path={d}/server.key\nca_path={d}/ca.pem\n\
                 auth_suite=TLS1.2\npolicy_path={d}/policies\nenable_tls_client_auth=True\n\
                 tls_cipher_suites=\n    TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n    \
                 TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384\n\
                 logging_level=INFO\ndatabase_path={d}/pykmip.db\n",
                d = dir.display()
            ),
        );
        let mut cmd = Command::new(exe);
        cmd.arg("-f")
            .arg(&conf)
            .arg("-l")
            .arg(dir.join("server.log"));
        let mut process = PeerProcess::spawn(&format!("pykmip-{port}"), &mut cmd);
        // Poll until the port accepts (a bound against hangs, not a timing
        // check).
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            process.assert_running();
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "PyKMIP on port {port} did not listen within 60 s (log: {})",
                process.log.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        PyKmip {
            process: Some(process),
            port,
            dir,
            client,
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The client's CA, certificate and key files.
    pub fn client(&self) -> &ClientFiles {
        &self.client
    }

    /// The directory holding the PKI, config, database and server log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops the server: SIGINT, then SIGKILL if it has not exited in 5 s.
    pub fn stop(&mut self) {
        let Some(mut process) = self.process.take() else {
            return;
        };
        if let Some(pid) = process.pid() {
            let _ = Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && process_alive(pid) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        process.kill();
    }
}

/// Whether `pid` still runs (not yet exited or a zombie).
fn process_alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

impl Drop for PyKmip {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// Writes `ca.pem`, `server.pem`/`server.key` and `client.pem`/`client.key`
/// into `dir` (EC P-256 keys throughout).
fn write_pki(dir: &Path) -> ClientFiles {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "KES test PyKMIP CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().expect("CA key");
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);
    write(&dir.join("ca.pem"), &ca_cert.pem());

    let leaf = |sans: Vec<String>, cn: &str, usage: ExtendedKeyUsagePurpose, name: &str| {
        let mut params = CertificateParams::new(sans).expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, cn);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &issuer).expect("leaf certificate");
        write(&dir.join(format!("{name}.pem")), &cert.pem());
        write(&dir.join(format!("{name}.key")), &key.serialize_pem());
    };
    leaf(
        vec!["127.0.0.1".to_owned(), "localhost".to_owned()],
        "127.0.0.1",
        ExtendedKeyUsagePurpose::ServerAuth,
        "server",
    );
    leaf(
        Vec::new(),
        "kes-test-client",
        ExtendedKeyUsagePurpose::ClientAuth,
        "client",
    );
    ClientFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("client.pem"),
        key: dir.join("client.key"),
    }
}
