//! Fuzz entry points: one `pub fn <target>(data: &[u8])` per decoder of
//! untrusted input. Each calls the real decoder the server or CLI uses and
//! checks the invariants that are cheap to check: no panic, errors are
//! errors, and what decodes re-encodes to the same meaning.
//!
//! The same functions run under libFuzzer (`fuzz/fuzz_targets/*.rs`, one
//! line each, `cargo +nightly fuzz run <target>`) and on stable
//! (`tests/replay.rs` replays every committed corpus and crash input), so
//! CI checks the regressions without a nightly toolchain.
//!
//! An invariant that does not hold panics (that is how a fuzzer learns of
//! it); nothing here is used outside fuzzing and tests.
#![forbid(unsafe_code)]
#![allow(clippy::panic)]

use std::path::PathBuf;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kes_crypto::{ApiKey, legacy_pem};
use kes_crypto::{Cipher, KeyVersion, SecretKey};
use kes_server::api::body::{
    DecryptRequest, EncryptRequest, Fields, GenerateRequest, HmacRequest, ImportRequest,
    PolicyRequest,
};
use kes_server::api::routes::{
    Lookup, MAX_CONTINUE_AT, RouteTable, decode_continue_at, decode_path,
};
use kes_types::name::{KeyName, ListPattern, PolicyName, validate_identity};
use kes_types::{Glob, Identity, PathPattern, Policy, identity_of_chain};

/// A fuzz entry point.
pub type Target = fn(&[u8]);

/// Every target, by the name of its corpus directory and libFuzzer target.
pub const TARGETS: &[(&str, Target)] = &[
    ("ciphertext", ciphertext),
    ("key_version", key_version),
    ("api_key", api_key),
    ("policy_pattern", policy_pattern),
    ("glob", glob),
    ("name", name),
    ("request_path", request_path),
    ("list_query", list_query),
    ("request_body", request_body),
    ("config", config),
    ("legacy_pem", legacy_pem),
    ("certificate", certificate),
    ("tls_pem", tls_pem),
    ("ttlv", ttlv),
];

/// Splits `data` at its first newline: (before, after). Targets that take
/// two inputs (a pattern and a name, a config and its environment) use it.
fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// The three ciphertext formats of kes-protocol.md §7.5 (legacy JSON,
/// legacy MessagePack, raw), decrypted with the all-zero key of the §7.9
/// vectors as either key type and as an untyped legacy key; and a raw
/// round trip of the input as a plaintext.
pub fn ciphertext(data: &[u8]) {
    for cipher in [Cipher::Aes256, Cipher::ChaCha20] {
        let key = SecretKey::new(cipher, [0u8; 32]);
        let _ = key.decrypt(data, b"");
        let sealed = match key.encrypt(data, b"ctx") {
            Ok(sealed) => sealed,
            Err(e) => panic!("encrypting {} bytes failed: {e}", data.len()),
        };
        match key.decrypt(&sealed, b"ctx") {
            Ok(plain) if plain.as_slice() == data => {}
            other => panic!("round trip failed: {:?}", other.map(|p| p.len())),
        }
    }
    let untyped =
        KeyVersion::decode(br#"{"bytes":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}"#);
    match untyped {
        Ok(kv) => {
            let _ = kv.decrypt(data, b"");
        }
        Err(e) => panic!("the untyped legacy key does not decode: {e}"),
    }
}

/// The stored-key codec (§7.3): base64 protobuf and every legacy JSON form.
/// A value that decodes and has an HMAC key re-encodes, and the re-encoded
/// value decodes to a key that behaves the same.
pub fn key_version(data: &[u8]) {
    let Ok(kv) = KeyVersion::decode(data) else {
        return;
    };
    let _ = kv.created_at_rfc3339();
    let Ok(encoded) = kv.encode() else {
        if kv.hmac.is_some() {
            panic!("a key with an HMAC key did not re-encode");
        }
        return;
    };
    let again = match KeyVersion::decode(&encoded) {
        Ok(again) => again,
        Err(e) => panic!("re-encoded key does not decode: {e}"),
    };
    assert_eq!(kv.key.cipher(), again.key.cipher(), "cipher changed");
    assert_eq!(kv.created_at, again.created_at, "created_at changed");
    assert_eq!(kv.created_by, again.created_by, "created_by changed");
    assert_eq!(kv.hmac(b"m"), again.hmac(b"m"), "HMAC key changed");
    let sealed = match kv.encrypt(b"m", b"") {
        Ok(sealed) => sealed,
        Err(e) => panic!("encrypt failed: {e}"),
    };
    if again.decrypt(&sealed, b"").is_err() {
        panic!("secret key changed");
    }
}

/// API keys (`kes:v1:…`) and PKCS#8 Ed25519 PEM keys: what parses
/// re-encodes to the canonical text and the same identity.
pub fn api_key(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(key) = ApiKey::parse(text) {
        let encoded = key.encode();
        let canonical = text.strip_prefix("kes:v1:").unwrap_or(text);
        assert_eq!(
            encoded.strip_prefix("kes:v1:"),
            Some(canonical),
            "API key did not re-encode to its text"
        );
        match ApiKey::parse(&encoded) {
            Ok(again) => assert_eq!(key.identity(), again.identity(), "identity changed"),
            Err(e) => panic!("encoded API key does not parse: {e}"),
        }
    }
    if let Ok(key) = ApiKey::from_pkcs8_pem(text) {
        match ApiKey::from_pkcs8_pem(&key.to_pkcs8_pem()) {
            Ok(again) => assert_eq!(key.identity(), again.identity(), "identity changed"),
            Err(e) => panic!("written PKCS#8 PEM does not parse: {e}"),
        }
    }
}

/// Policy patterns written through the API (`PathPattern::parse`, §5.3)
/// and policy evaluation. Input: a pattern, a newline, a request path.
pub fn policy_pattern(data: &[u8]) {
    let (pattern, path) = split_line(data);
    let (Ok(pattern), Ok(path)) = (std::str::from_utf8(pattern), std::str::from_utf8(path)) else {
        return;
    };
    let _ = PathPattern::new(pattern).looks_like_glob();
    let Ok(parsed) = PathPattern::parse(pattern) else {
        return;
    };
    assert_eq!(parsed.as_str(), pattern, "parse changed the pattern");
    if !pattern.ends_with('*') {
        assert!(
            parsed.matches(pattern),
            "an exact pattern must match itself"
        );
    }
    let policy = Policy::new([parsed.clone()], []);
    assert_eq!(policy.verify(path), parsed.matches(path), "allow disagrees");
    let denied = Policy::new([PathPattern::new("/*")], [parsed.clone()]);
    if parsed.matches(path) && denied.verify(path) {
        panic!("deny did not win");
    }
}

/// Go `path.Match` globs (`kes migrate`). Input: a glob, a newline, a name.
pub fn glob(data: &[u8]) {
    let (pattern, name) = split_line(data);
    let (Ok(pattern), Ok(name)) = (std::str::from_utf8(pattern), std::str::from_utf8(name)) else {
        return;
    };
    let Ok(glob) = Glob::new(pattern) else {
        return;
    };
    if glob.matches(name) {
        assert!(
            name.starts_with(&glob.literal_prefix()),
            "a match does not start with the literal prefix"
        );
    }
    let _ = glob.to_string();
}

/// Key and policy names, listing patterns and identities as they appear in
/// request paths and config files.
pub fn name(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(key) = KeyName::new(s) {
        assert_eq!(key.as_str(), s);
        assert!(
            !s.contains(['/', '.', '*']),
            "a key name holds '/', '.' or '*'"
        );
    }
    let _ = PolicyName::new(s);
    if let Ok(pattern) = ListPattern::new(s) {
        assert!(s.starts_with(pattern.prefix()), "prefix is not a prefix");
    }
    let _ = validate_identity(s);
    let _ = s.parse::<Identity>();
}

fn route_table() -> &'static RouteTable {
    static TABLE: OnceLock<RouteTable> = OnceLock::new();
    TABLE.get_or_init(|| RouteTable::new([]))
}

/// Request-path cleaning and route matching: a path that decodes is
/// canonical, and a route that matches is a prefix of it whose rest is
/// The `?continue_at=` query of a key listing; input `prefix\nquery`. An
/// accepted value is non-empty (or absent), bounded, free of control
/// characters and within the pattern's prefix.
pub fn list_query(data: &[u8]) {
    let (prefix, query) = split_line(data);
    let (Ok(prefix), Ok(query)) = (std::str::from_utf8(prefix), std::str::from_utf8(query)) else {
        return;
    };
    if let Ok(start) = decode_continue_at(Some(query), prefix) {
        assert!(start.len() <= MAX_CONTINUE_AT, "too long: {start:?}");
        assert!(!start.chars().any(char::is_control), "control: {start:?}");
        assert!(
            start.is_empty() || start.starts_with(prefix),
            "outside prefix: {start:?}"
        );
    }
}

/// the resource argument, which is then validated as the handlers do.
pub fn request_path(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(path) = decode_path(raw) else {
        return;
    };
    let body = path
        .strip_prefix('/')
        .unwrap_or_else(|| panic!("not absolute: {path:?}"));
    let body = body.strip_suffix('/').unwrap_or(body);
    if !body.is_empty()
        && body
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
    {
        panic!("decoded path is not canonical: {path:?}");
    }
    match route_table().lookup(&path) {
        Lookup::Found(route, resource) => {
            if route.is_prefix() {
                assert_eq!(format!("{}{resource}", route.path), *path, "prefix split");
            } else {
                assert_eq!(route.path, path, "exact route");
            }
            let _ = KeyName::new(resource);
            let _ = PolicyName::new(resource);
            let _ = ListPattern::new(resource);
            let _ = validate_identity(resource);
        }
        Lookup::Redirect(route) => {
            assert_eq!(
                route.path.strip_suffix('/'),
                Some(&*path),
                "redirect target"
            );
        }
        Lookup::NotFound => {}
    }
}

/// Every route's request-body decoder (import, generate, encrypt, decrypt,
/// bulk decrypt, hmac, policy write). What decodes re-encodes: the bytes
/// fields of an encrypt body written back as JSON decode to the same bytes.
pub fn request_body(data: &[u8]) {
    let _ = ImportRequest::decode(data);
    let _ = GenerateRequest::decode(data);
    let _ = DecryptRequest::decode(data);
    let _ = HmacRequest::decode(data);
    let _ = PolicyRequest::decode(data);
    if let Ok(items) = Fields::parse_list(data, DecryptRequest::FIELDS) {
        for item in &items {
            let _ = DecryptRequest::from_fields(item);
        }
    }
    if let Ok(request) = EncryptRequest::decode(data) {
        let json = serde_json::json!({
            "plaintext": STANDARD.encode(request.plaintext.as_slice()),
            "context": STANDARD.encode(request.context.as_slice()),
        })
        .to_string();
        match EncryptRequest::decode(json.as_bytes()) {
            Ok(again) => {
                assert_eq!(again.plaintext, request.plaintext, "plaintext changed");
                assert_eq!(again.context, request.context, "context changed");
            }
            Err(e) => panic!("re-encoded body does not decode: {e}"),
        }
    }
}

/// The server config file (§9): YAML, `${VAR}` references (variables whose
/// name has an even length are set), old spellings and validation.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = |name: &str| {
        name.len()
            .is_multiple_of(2)
            .then(|| format!("value-of-{name}"))
    };
    if let Err(e) = kes_server::config::parse(text, "fuzz.yml", &env) {
        let _ = e.to_string();
        let _ = e.line();
    }
}

/// Legacy PEM-encrypted private keys (`Proc-Type: 4,ENCRYPTED`), decrypted
/// with the fixtures' password `secret`; what decrypts re-encrypts (AES-256)
/// and decrypts to the same DER.
pub fn legacy_pem(data: &[u8]) {
    let found = legacy_pem::find_encrypted(data);
    assert_eq!(
        matches!(found, Ok(Some(_))),
        legacy_pem::is_encrypted(data) && matches!(found, Ok(Some(_))),
        "find_encrypted found a key is_encrypted does not see"
    );
    let Ok(key) = legacy_pem::decrypt(data, b"secret") else {
        return;
    };
    let _ = key.format();
    let pem = match legacy_pem::encrypt_aes256(&key.label, &key.der, b"secret") {
        Ok(pem) => pem,
        Err(e) => panic!("re-encryption failed: {e}"),
    };
    match legacy_pem::decrypt(pem.as_bytes(), b"secret") {
        Ok(again) => {
            assert_eq!(again.label, key.label, "label changed");
            assert_eq!(again.der, key.der, "DER changed");
        }
        Err(e) => panic!("re-encrypted key does not decrypt: {e}"),
    }
}

/// DER client certificates: the identity of a certificate (SHA-256 of its
/// SPKI), of a chain, and the server's peer identity of a connection.
pub fn certificate(data: &[u8]) {
    let single = Identity::of_certificate(data);
    let chain = identity_of_chain(&[data]);
    if let Ok(id) = &chain {
        assert_eq!(single.as_ref().ok(), Some(id), "chain and leaf disagree");
        assert!(id.is_hex(), "identity is not hex");
    }
    let der = rustls_pki_types::CertificateDer::from(data);
    let peer = kes_server::tls::PeerIdentity::of_chain(Some(std::slice::from_ref(&der)));
    assert_eq!(
        peer.known(),
        chain.as_ref().ok().map(Identity::as_str),
        "peer identity"
    );
    let _ = identity_of_chain(&[data, data]);
}

/// Where [`tls_pem`] writes its input (the server reads TLS files by path):
/// in `/dev/shm` where there is one (a disk-backed temp directory costs
/// ~2 ms a write), else the temp directory.
fn scratch_file() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("kes-fuzz-tls-pem-{}.pem", std::process::id()))
    })
}

/// The server's TLS file readers: certificate chains and private keys
/// (PKCS#1, SEC1, PKCS#8, legacy-encrypted with password `secret`).
pub fn tls_pem(data: &[u8]) {
    let path = scratch_file();
    if let Err(e) = std::fs::write(path, data) {
        panic!("cannot write {}: {e}", path.display());
    }
    if let Ok(chain) = kes_server::tls::server_config::read_cert_chain(path) {
        assert!(!chain.is_empty(), "empty chain accepted");
    }
    let _ = kes_server::tls::server_config::read_private_key(path, Some("secret"));
    let _ = kes_server::tls::server_config::read_private_key(path, None);
    let _ = std::fs::remove_file(path);
}

/// The KMIP store's TTLV decoder (a KMIP server's answers): what decodes
/// re-encodes to the same bytes (the decoder refuses every non-canonical
/// form: bad lengths, non-zero padding, trailing bytes), and the framing
/// length read from the header is the message's.
pub fn ttlv(data: &[u8]) {
    use kes_keystore::kmip::ttlv;
    let Ok(item) = ttlv::decode(data) else {
        return;
    };
    assert_eq!(
        item.to_bytes(),
        data,
        "TTLV does not re-encode to its input"
    );
    let header: [u8; 8] = match data.get(..8).map(<[u8; 8]>::try_from) {
        Some(Ok(h)) => h,
        _ => panic!("a decoded TTLV item is shorter than its header"),
    };
    assert_eq!(
        ttlv::message_len(&header),
        data.len(),
        "framing length differs"
    );
}
