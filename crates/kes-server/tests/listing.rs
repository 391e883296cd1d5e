//! Key listings longer than one page (issue 13, defect 5): the server's
//! `?continue_at=<name>` query parameter over HTTP/1.1 and HTTP/2, its
//! validation, that authorization still looks at the path only, and
//! `kes-client` listing every name of a store with more than 2,048 keys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::*;
use kes_client::ApiKey;
use kes_keystore::KeyStore;
use kes_keystore::mem::MemKeyStore;
use kes_types::KeyName;

/// Keys `k-00000` … `k-02599` and `other-0000` … `other-1099`.
const K: usize = 2600;
const OTHER: usize = 1100;

fn k(i: usize) -> String {
    format!("k-{i:05}")
}

fn other(i: usize) -> String {
    format!("other-{i:04}")
}

/// A memory store holding the keys above (listing never reads the values).
async fn big_store() -> Arc<MemKeyStore> {
    let store = Arc::new(MemKeyStore::new());
    for name in (0..K).map(k).chain((0..OTHER).map(other)) {
        store
            .create(&KeyName::new(&name).unwrap(), b"unused")
            .await
            .unwrap();
    }
    store
}

async fn start() -> (Pki, TestServer) {
    let pki = Pki::new();
    let store = big_store().await;
    let srv = TestServer::start(settings(&pki, store)).await;
    (pki, srv)
}

fn names(r: &Resp) -> (Vec<String>, Option<String>) {
    let v = r.json();
    let names = v["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect();
    (names, v["continue_at"].as_str().map(str::to_owned))
}

/// Follows `continue_at` with the query parameter from `path` on; returns
/// every name and the number of pages.
async fn walk(c: &Client, path: &str) -> (Vec<String>, usize) {
    let mut all = Vec::new();
    let mut pages = 0;
    let mut next: Option<String> = None;
    loop {
        let url = match &next {
            None => path.to_owned(),
            Some(n) => format!("{path}?continue_at={n}"),
        };
        let r = c.get(&url).await;
        assert_eq!(r.status, 200, "{url}: {}", r.text());
        let (names, cont) = names(&r);
        pages += 1;
        if let Some(n) = &next {
            assert_eq!(
                names.first(),
                Some(n),
                "{url} resumes at the name asked for"
            );
        }
        all.extend(names);
        match cont {
            Some(c) => next = Some(c),
            None => return (all, pages),
        }
    }
}

#[tokio::test]
async fn continue_at_resumes_a_listing_over_http1_and_http2() {
    let (pki, srv) = start().await;
    for h2 in [false, true] {
        let mut c = Client::new(srv.addr, &pki.admin);
        c.h2 = h2;

        // First page: what Go KES sends too.
        let r = c.get("/v1/key/list/*").await;
        let (first, cont) = names(&r);
        assert_eq!(first.len(), 1024);
        assert_eq!(first[0], k(0));
        assert_eq!(cont.as_deref(), Some(k(1024).as_str()));

        // All of them, in order, each page starting at its continue_at.
        let (all, pages) = walk(&c, "/v1/key/list/*").await;
        let want: Vec<String> = (0..K).map(k).chain((0..OTHER).map(other)).collect();
        assert_eq!(all, want, "h2={h2}");
        assert_eq!(pages, 4);

        // A prefix pattern stays within its prefix across pages.
        let (all, pages) = walk(&c, "/v1/key/list/other*").await;
        assert_eq!(all, (0..OTHER).map(other).collect::<Vec<_>>(), "h2={h2}");
        assert_eq!(pages, 2);
        let (all, _) = walk(&c, "/v1/key/list/k-0").await;
        assert_eq!(all.len(), K);

        // The empty pattern redirects with the query kept.
        let r = c.get("/v1/key/list?continue_at=k-01024").await;
        assert_eq!(r.status, 301);
        assert_eq!(r.headers["location"], "/v1/key/list/?continue_at=k-01024");
        let r = c.get("/v1/key/list/?continue_at=k-01024").await;
        assert_eq!(names(&r).0[0], k(1024));

        // Inclusive of a name that does not exist: the next one after it.
        let r = c.get("/v1/key/list/other*?continue_at=other-0500x").await;
        assert_eq!(names(&r).0[0], other(501));
        // Past the end of the prefix: an empty, complete page.
        let r = c.get("/v1/key/list/k-*?continue_at=k-9").await;
        assert_eq!(names(&r), (vec![], None));

        // Other query parameters are ignored (spec §1.3), as before.
        let r = c.get("/v1/key/list/other*?enclave=x").await;
        assert_eq!(names(&r).0[0], other(0));
    }
}

#[tokio::test]
async fn a_bad_continue_at_is_a_precise_400() {
    let (pki, srv) = start().await;
    for h2 in [false, true] {
        let mut c = Client::new(srv.addr, &pki.admin);
        c.h2 = h2;
        let p = "invalid query parameter 'continue_at': ";
        let cases = [
            (
                "/v1/key/list/*?continue_at=",
                format!("{p}empty; omit it to list from the beginning"),
            ),
            (
                "/v1/key/list/*?continue_at=a&continue_at=b",
                format!("{p}given more than once"),
            ),
            (
                "/v1/key/list/*?continue_at=%FF",
                format!("{p}not UTF-8 after percent-decoding"),
            ),
            (
                "/v1/key/list/*?continue_at=a%00",
                format!("{p}contains a control character"),
            ),
            (
                "/v1/key/list/other*?continue_at=k-01024",
                format!("{p}'k-01024' does not start with the pattern's prefix 'other'"),
            ),
        ];
        for (path, message) in cases {
            c.get(path).await.assert_error(400, &message);
        }
        // The pattern is still checked first.
        c.get("/v1/key/list/a.b?continue_at=a").await.assert_error(
            400,
            "listing pattern 'a.b' is empty, too long or is invalid",
        );
    }
}

/// Policies are evaluated on the path alone: a query can neither grant nor
/// take away access.
#[tokio::test]
async fn the_query_plays_no_part_in_authorization() {
    let pki = Pki::new();
    let mut s = settings(&pki, big_store().await);
    s.policies.insert(
        "app".into(),
        spec(&["/v1/key/list/other*"], &[], &[&pki.app.identity]),
    );
    let srv = TestServer::start(s).await;
    for h2 in [false, true] {
        let mut c = Client::new(srv.addr, &pki.app);
        c.h2 = h2;
        let r = c.get("/v1/key/list/other*?continue_at=other-1024").await;
        assert_eq!(
            names(&r).0,
            vec![other(1024)]
                .into_iter()
                .chain((1025..OTHER).map(other))
                .collect::<Vec<_>>()
        );
        c.get("/v1/key/list/k*?continue_at=/v1/key/list/other")
            .await
            .assert_error(403, "not authorized: insufficient permissions");
        c.get("/v1/key/list/k*?x=/v1/key/list/other*")
            .await
            .assert_error(403, "not authorized: insufficient permissions");
    }
}

#[tokio::test]
async fn kes_client_lists_every_key() {
    let pki = Pki::new();
    let admin = ApiKey::generate().unwrap();
    let mut s = settings(&pki, big_store().await);
    s.admin = admin.identity().to_string();
    let srv = TestServer::start(s).await;
    let c = kes_client::Client::builder()
        .endpoint(format!("https://{}", srv.addr))
        .api_key(admin)
        .insecure(true)
        .build()
        .unwrap();
    let want: Vec<String> = (0..K).map(k).chain((0..OTHER).map(other)).collect();
    assert_eq!(c.list_keys("").await.unwrap(), want);
    assert_eq!(c.list_keys("*").await.unwrap(), want);
    assert_eq!(
        c.list_keys("other*").await.unwrap(),
        (0..OTHER).map(other).collect::<Vec<_>>()
    );
    assert_eq!(c.list_keys("k-0").await.unwrap().len(), K);
    assert_eq!(c.list_keys("k-01*").await.unwrap().len(), 1000);
}
