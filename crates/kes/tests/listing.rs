//! Long listings through the CLI (issue 13, defect 5): `kes key ls`,
//! `kes ls` (and the policy/identity listings that share the path) print
//! every one of more than 2,048 keys of a real `kes server`; against a
//! server that cannot continue a listing (a small in-test HTTPS server
//! answering like Go KES, over HTTP/1.1 and HTTP/2) they print the names
//! they got, say on stderr that the listing was cut, and exit 1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use common::{Out, Server, api_key_in, identity_in, run, run_env, write_fs_config};
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// Keys `k-00000` … `k-02599` and `other-0000` … `other-1099`.
const K: usize = 2600;
const OTHER: usize = 1100;

fn all_names() -> Vec<String> {
    (0..K)
        .map(|i| format!("k-{i:05}"))
        .chain((0..OTHER).map(|i| format!("other-{i:04}")))
        .collect()
}

/// A `kes server` with an fs key store holding [`all_names`] (copies of one
/// real key, written into the store directory) and the admin's API key.
fn big_server(d: &Path) -> (Server, String) {
    run(d, &["identity", "new", "--ip", "127.0.0.1", "localhost"]).ok();
    let out = run(d, &["identity", "new"]);
    let admin_key = api_key_in(out.ok());
    let admin_id = identity_in(out.ok());
    let port = write_fs_config(d, &admin_id, "private.key", "public.crt");
    let server = Server::start(
        d,
        port,
        &["server", "--config", "config.yml", "--auth", "off"],
    );
    let out = admin(
        d,
        &server.endpoint(),
        &admin_key,
        &["key", "create", "-k", "k-00000"],
    );
    out.ok();
    let seed = d.join("keys").join("k-00000");
    for name in all_names().iter().skip(1) {
        std::fs::copy(&seed, d.join("keys").join(name)).unwrap();
    }
    (server, admin_key)
}

fn admin(d: &Path, endpoint: &str, key: &str, args: &[&str]) -> Out {
    run_env(d, &[("KES_SERVER", endpoint), ("KES_API_KEY", key)], args)
}

fn table(header: &str, names: &[String]) -> String {
    let mut s = format!("{header}\n");
    for n in names {
        s.push_str(n);
        s.push('\n');
    }
    s
}

#[test]
fn every_key_is_listed_by_key_ls_and_ls() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (server, key) = big_server(d);
    let endpoint = server.endpoint();
    let all = all_names();

    let out = admin(d, &endpoint, &key, &["key", "ls", "-k"]);
    assert_eq!(out.ok().lines().count(), 1 + K + OTHER);
    assert_eq!(out.ok(), table("Key", &all));

    let host = endpoint.trim_start_matches("https://");
    let out = run(d, &["ls", "-k", "-s", host, "-a", &key]);
    assert_eq!(out.ok(), table("Key", &all));

    // Prefix patterns continue within their prefix.
    let other: Vec<String> = all[K..].to_vec();
    let out = admin(d, &endpoint, &key, &["key", "ls", "-k", "other*"]);
    assert_eq!(out.ok(), table("Key", &other));
    let out = run(d, &["ls", "-k", "-s", host, "-a", &key, "k-0"]);
    assert_eq!(out.ok().lines().count(), 1 + K);

    // JSON: one array of every name.
    let out = admin(d, &endpoint, &key, &["key", "ls", "-k", "--json"]);
    let v: Vec<String> = serde_json::from_str(out.ok()).unwrap();
    assert_eq!(v, all);

    // Policies and identities share the listing path (one page each).
    let out = admin(d, &endpoint, &key, &["policy", "ls", "-k"]);
    assert_eq!(out.ok(), "Policy\n");
    let out = run(d, &["ls", "-k", "-i", "-s", host, "-a", &key]);
    assert!(out.ok().starts_with("Identity\n"), "{out:?}");
}

/// The first page of Go KES for a store with more than 1024 keys.
fn go_page() -> Vec<String> {
    all_names().into_iter().take(1024).collect()
}

/// An HTTPS server that answers every key, policy and identity listing like
/// Go KES (which ignores query strings): the first page with a
/// `continue_at`, whatever is asked; the slash-less list paths are
/// redirected with the query kept. Runs until the runtime is dropped.
fn go_like_server(rt: &tokio::runtime::Runtime, alpn: &[&[u8]]) -> u16 {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into()),
        )
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    rt.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(|req| async move {
                    Ok::<_, Infallible>(go_answer(&req))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    port
}

fn go_answer<B>(req: &hyper::Request<B>) -> hyper::Response<Full<Bytes>> {
    let path = req.uri().path();
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let resp = hyper::Response::builder();
    if ["/v1/key/list", "/v1/policy/list", "/v1/identity/list"].contains(&path) {
        return resp
            .status(301)
            .header("location", format!("{path}/{query}"))
            .body(Full::default())
            .unwrap();
    }
    let field = if path.starts_with("/v1/identity/list/") {
        "identities"
    } else {
        "names"
    };
    let body = serde_json::json!({ field: go_page(), "continue_at": "k-01024" });
    resp.header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

#[test]
fn a_listing_cut_by_the_server_fails_after_printing_what_it_got() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = api_key_in(run(d, &["identity", "new"]).ok());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let message = "Error: failed to list keys: the listing was cut after 1024 names because \
                   the server cannot continue a listing (next name: 'k-01024')\n";
    for alpn in [&[b"http/1.1".as_slice()][..], &[b"h2".as_slice()][..]] {
        let port = go_like_server(&rt, alpn);
        let endpoint = format!("https://127.0.0.1:{port}");
        let host = endpoint.trim_start_matches("https://");

        let out = admin(d, &endpoint, &key, &["key", "ls", "-k"]);
        assert_eq!(out.stdout, table("Key", &go_page()), "{alpn:?}");
        assert_eq!(out.fails(1), message);

        let out = run(d, &["ls", "-k", "-s", host, "-a", &key]);
        assert_eq!(out.stdout, table("Key", &go_page()));
        assert_eq!(out.fails(1), message);

        // JSON stays one valid array of what was received.
        let out = admin(d, &endpoint, &key, &["key", "ls", "-k", "--json"]);
        let v: Vec<String> = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(v, go_page());
        assert_eq!(out.fails(1), message);

        let out = admin(d, &endpoint, &key, &["policy", "ls", "-k", "k*"]);
        assert_eq!(out.stdout.lines().count(), 1 + 1024);
        assert_eq!(
            out.fails(1),
            message.replace("failed to list keys", "failed to list policies")
        );
        let out = run(d, &["ls", "-k", "-i", "-s", host, "-a", &key]);
        assert_eq!(out.stdout.lines().count(), 1 + 1024);
        assert_eq!(
            out.fails(1),
            message.replace("failed to list keys", "failed to list identities")
        );
    }
}
