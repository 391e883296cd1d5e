//! Every API method against the canned test server: the request the client
//! sends (method, path, body, content type) and how it parses the answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::*;
use kes_client::{Cipher, Error, ListCutReason};
use serde_json::json;

fn b64(b: &[u8]) -> String {
    B64.encode(b)
}

/// A server answering every endpoint successfully.
fn happy(r: &Recorded) -> Canned {
    match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/version") => json(
            200,
            json!({"version":"2025-03-12T09-35-18Z","commit":"abc"}),
        ),
        ("GET", "/v1/status") => json(
            200,
            json!({"version":"v1","os":"linux","arch":"amd64","uptime":3600,"num_cpu":16,
                   "num_cpu_used":8,"mem_heap_used":1,"mem_stack_used":2,"keystore_latency":3}),
        ),
        ("GET", "/v1/api") => json(
            200,
            json!([{"method":"PUT","path":"/v1/key/create/","max_body":0,"timeout":15,"verify_auth":true}]),
        ),
        ("GET", "/v1/ready") => ok_empty(),
        ("GET", "/v1/metrics") => Canned {
            status: 200,
            headers: vec![(
                "content-type",
                "text/plain; version=0.0.4; charset=utf-8".into(),
            )],
            chunks: vec![
                b"# TYPE kes_http_request_success counter\nkes_http_request_success 7\n".to_vec(),
            ],
        },
        ("POST", "/v1/key/create/my-key") => ok_empty(),
        ("POST", "/v1/key/import/my-key") => ok_empty(),
        ("GET", "/v1/key/describe/my-key") => json(
            200,
            json!({"name":"my-key","algorithm":"AES256","created_at":"2024-01-12T10:39:20.886816Z","created_by":"3ecf"}),
        ),
        ("DELETE", "/v1/key/delete/my-key") => ok_empty(),
        ("POST", "/v1/key/generate/my-key") => json(
            200,
            json!({"plaintext": b64(&[7u8; 32]), "ciphertext": b64(b"sealed-dek")}),
        ),
        ("POST", "/v1/key/encrypt/my-key") => json(200, json!({"ciphertext": b64(b"sealed")})),
        ("POST", "/v1/key/decrypt/my-key") => json(200, json!({"plaintext": b64(b"secret")})),
        ("PUT", "/v1/key/hmac/my-key") => json(200, json!({"hmac": b64(&[9u8; 32])})),
        ("POST", "/v1/key/generate/rotated") => json(
            200,
            json!({"plaintext": b64(&[7u8; 32]), "ciphertext": b64(b"sealed-dek"), "version": "v2"}),
        ),
        ("POST", "/v1/key/decrypt/rotated") => json(200, json!({"plaintext": b64(b"secret")})),
        ("POST", "/v1/key/rotate/rotated") => json(200, json!({"version": "v3"})),
        ("GET", "/v1/key/versions/rotated") => json(
            200,
            json!({"name":"rotated","latest":"v2","versions":[
                {"version":"v1","removed":true},
                {"version":"v2","algorithm":"AES256","created_at":"2024-01-12T10:39:20Z"}]}),
        ),
        ("DELETE", "/v1/key/version/delete/rotated/v1") => ok_empty(),
        ("GET", "/v1/policy/describe/my-app") => json(
            200,
            json!({"name":"my-app","created_at":"2024-01-12T10:39:20Z","created_by":"admin"}),
        ),
        ("GET", "/v1/policy/read/my-app") => json(
            200,
            json!({"name":"my-app","allow":{"/v1/key/create/my-app*":{}},
                   "deny":{"/v1/key/generate/x*":{}},"created_at":"2024-01-12T10:39:20Z","created_by":"admin"}),
        ),
        ("GET", "/v1/policy/list/my%2A") => {
            json(200, json!({"names":["my-app","my-other"],"continue_at":""}))
        }
        ("GET", "/v1/identity/describe/3ecf") => json(
            200,
            json!({"policy":"my-app","created_at":"2024-01-12T10:39:20Z","created_by":"admin"}),
        ),
        ("GET", "/v1/identity/self/describe") => json(
            200,
            json!({"identity": r.identity, "admin": true, "created_at":"2024-01-12T10:39:20Z"}),
        ),
        ("GET", "/v1/identity/list/%2A") => {
            json(200, json!({"identities":["3ecf","abcd"],"continue_at":""}))
        }
        ("GET", "/v1/key/list") => redirect("/v1/key/list/"),
        ("GET", "/v1/key/list/") => json(200, json!({"names":["a","b"]})),
        ("GET", "/v1/key/list/k%2A") => json(200, json!({"names":null,"continue_at":""})),
        _ => api_error(404, "unexpected request in test"),
    }
}

#[tokio::test]
async fn system_endpoints() {
    let srv = TestServer::start(happy).await;
    let c = srv.client().build().unwrap();

    let v = c.version().await.unwrap();
    assert_eq!(v.version, "2025-03-12T09-35-18Z");
    let s = c.status().await.unwrap();
    assert_eq!(
        (s.uptime, s.num_cpu, s.keystore_latency),
        (3600, 16, Some(3))
    );
    let api = c.api().await.unwrap();
    assert_eq!(api[0].path, "/v1/key/create/");
    assert_eq!(api[0].timeout, 15);
    c.ready().await.unwrap();
    let m = c.metrics().await.unwrap();
    assert!(m.contains("kes_http_request_success 7"));

    let reqs = srv.requests();
    let seen: Vec<(&str, &str)> = reqs
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("GET", "/version"),
            ("GET", "/v1/status"),
            ("GET", "/v1/api"),
            ("GET", "/v1/ready"),
            ("GET", "/v1/metrics"),
        ]
    );
    assert!(
        reqs.iter()
            .all(|r| r.body.is_empty() && r.content_type.is_none())
    );
    assert!(reqs[4].accept.as_deref().unwrap().starts_with("text/plain"));
}

#[tokio::test]
async fn key_endpoints_send_go_client_methods_and_bodies() {
    let srv = TestServer::start(happy).await;
    let c = srv.client().build().unwrap();

    c.create_key("my-key").await.unwrap();
    c.import_key("my-key", &[1u8; 32], Cipher::ChaCha20)
        .await
        .unwrap();
    let d = c.describe_key("my-key").await.unwrap();
    assert_eq!(
        (d.name.as_str(), d.algorithm.as_str()),
        ("my-key", "AES256")
    );
    c.delete_key("my-key").await.unwrap();
    let dek = c.generate_key("my-key", b"ctx").await.unwrap();
    assert_eq!(*dek.plaintext, vec![7u8; 32]);
    assert_eq!(dek.ciphertext, b"sealed-dek");
    let ct = c.encrypt("my-key", b"hello", b"").await.unwrap();
    assert_eq!(ct, b"sealed");
    let pt = c.decrypt("my-key", b"sealed", b"ctx").await.unwrap();
    assert_eq!(pt.as_slice(), b"secret");
    let mac = c.hmac("my-key", b"msg").await.unwrap();
    assert_eq!(mac.as_slice(), [9u8; 32]);

    let reqs = srv.requests();
    let seen: Vec<(&str, &str)> = reqs
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("POST", "/v1/key/create/my-key"),
            ("POST", "/v1/key/import/my-key"),
            ("GET", "/v1/key/describe/my-key"),
            ("DELETE", "/v1/key/delete/my-key"),
            ("POST", "/v1/key/generate/my-key"),
            ("POST", "/v1/key/encrypt/my-key"),
            ("POST", "/v1/key/decrypt/my-key"),
            ("PUT", "/v1/key/hmac/my-key"),
        ]
    );
    assert!(reqs[0].body.is_empty());
    assert_eq!(
        reqs[1].json(),
        json!({"key": b64(&[1u8; 32]), "cipher": "ChaCha20"})
    );
    assert_eq!(reqs[4].json(), json!({"context": b64(b"ctx")}));
    // An empty context is left out, as Go's omitempty does.
    assert_eq!(reqs[5].json(), json!({"plaintext": b64(b"hello")}));
    assert_eq!(
        reqs[6].json(),
        json!({"ciphertext": b64(b"sealed"), "context": b64(b"ctx")})
    );
    assert_eq!(reqs[7].json(), json!({"message": b64(b"msg")}));
    for i in [1, 4, 5, 6, 7] {
        assert_eq!(reqs[i].content_type.as_deref(), Some("application/json"));
    }
}

#[tokio::test]
async fn key_version_endpoints() {
    let srv = TestServer::start(happy).await;
    let c = srv.client().build().unwrap();

    // A server without versions: no `version` in the DEK.
    assert_eq!(c.generate_key("my-key", b"").await.unwrap().version, "");
    let dek = c.generate_key("rotated", b"").await.unwrap();
    assert_eq!(dek.version, "v2");
    let pt = c
        .decrypt_version("rotated", &dek.version, &dek.ciphertext, b"ctx")
        .await
        .unwrap();
    assert_eq!(pt.as_slice(), b"secret");
    assert_eq!(c.rotate_key("rotated").await.unwrap(), "v3");
    let v = c.key_versions("rotated").await.unwrap();
    assert_eq!(v.latest, "v2");
    assert!(v.versions[0].removed);
    assert_eq!(v.versions[1].algorithm, "AES256");
    c.remove_key_version("rotated", "v1").await.unwrap();

    let reqs = srv.requests();
    let seen: Vec<(&str, &str)> = reqs
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("POST", "/v1/key/generate/my-key"),
            ("POST", "/v1/key/generate/rotated"),
            ("POST", "/v1/key/decrypt/rotated"),
            ("POST", "/v1/key/rotate/rotated"),
            ("GET", "/v1/key/versions/rotated"),
            ("DELETE", "/v1/key/version/delete/rotated/v1"),
        ]
    );
    // What kms-go v0.3 `Decrypt(ctx, name, version, ciphertext, context)` sends.
    assert_eq!(
        reqs[2].json(),
        json!({"ciphertext": b64(b"sealed-dek"), "context": b64(b"ctx"), "version": "v2"})
    );
    assert!(reqs[3].body.is_empty());
}

#[tokio::test]
async fn policy_and_identity_endpoints() {
    let srv = TestServer::start(happy).await;
    let c = srv.client().build().unwrap();

    let p = c.describe_policy("my-app").await.unwrap();
    assert_eq!(p.created_by, "admin");
    let p = c.read_policy("my-app").await.unwrap();
    assert!(p.allow.contains_key("/v1/key/create/my-app*"));
    assert!(p.deny.contains_key("/v1/key/generate/x*"));
    assert_eq!(
        c.list_policies("my*").await.unwrap(),
        ["my-app", "my-other"]
    );
    let i = c.describe_identity("3ecf").await.unwrap();
    assert_eq!(i.policy, "my-app");
    let me = c.self_describe().await.unwrap();
    assert!(me.admin);
    assert_eq!(me.identity, ROOT_IDENTITY);
    assert_eq!(c.list_identities("*").await.unwrap(), ["3ecf", "abcd"]);
}

#[tokio::test]
async fn empty_list_pattern_follows_the_redirect() {
    let srv = TestServer::start(happy).await;
    let c = srv.client().build().unwrap();
    assert_eq!(c.list_keys("").await.unwrap(), ["a", "b"]);
    let paths: Vec<String> = srv.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/v1/key/list", "/v1/key/list/"]);
    // `null` names are an empty list.
    assert!(c.list_keys("k*").await.unwrap().is_empty());
}

#[tokio::test]
async fn list_follows_continue_at_with_the_query_parameter() {
    let srv = TestServer::start(|r| match r.path.as_str() {
        "/v1/key/list/%2A" => json(200, json!({"names":["a","b"],"continue_at":"c"})),
        "/v1/key/list/%2A?continue_at=c" => {
            json(200, json!({"names":["c","d"],"continue_at":"e-1"}))
        }
        "/v1/key/list/%2A?continue_at=e-1" => json(200, json!({"names":["e-1"]})),
        _ => api_error(404, "unexpected"),
    })
    .await;
    let c = srv.client().build().unwrap();
    assert_eq!(c.list_keys("*").await.unwrap(), ["a", "b", "c", "d", "e-1"]);
    assert_eq!(srv.count(), 3);
}

#[tokio::test]
async fn empty_pattern_continues_through_the_redirect() {
    let srv = TestServer::start(|r| match r.path.as_str() {
        "/v1/identity/list" | "/v1/identity/list?continue_at=i2" => {
            redirect(&r.path.replacen("/list", "/list/", 1))
        }
        "/v1/identity/list/" => json(200, json!({"identities":["i1"],"continue_at":"i2"})),
        "/v1/identity/list/?continue_at=i2" => json(200, json!({"identities":["i2"]})),
        _ => api_error(404, "unexpected"),
    })
    .await;
    let c = srv.client().build().unwrap();
    assert_eq!(c.list_identities("").await.unwrap(), ["i1", "i2"]);
}

/// Go KES ignores the query string: every continued request gets the first
/// page again. The client must say the listing was cut, with what it got.
#[tokio::test]
async fn a_server_that_cannot_continue_cuts_the_listing() {
    let go_like = |_: &Recorded| json(200, json!({"names":["a","b"],"continue_at":"c"}));
    for srv in [
        TestServer::start(go_like).await,
        TestServer::start_http1(go_like).await,
    ] {
        cut_after_the_first_page(&srv).await;
    }
}

async fn cut_after_the_first_page(srv: &TestServer) {
    let c = srv.client().build().unwrap();
    match c.list_keys("").await {
        Err(e @ Error::ListCut { .. }) => {
            assert_eq!(
                e.to_string(),
                "the listing was cut after 2 names because the server cannot continue a \
                 listing (next name: 'c')"
            );
            let Error::ListCut {
                names,
                continue_at,
                reason,
            } = e
            else {
                unreachable!()
            };
            assert_eq!(names, ["a", "b"]);
            assert_eq!(continue_at, "c");
            assert_eq!(reason, ListCutReason::CannotContinue);
        }
        other => panic!("expected a cut listing, got {other:?}"),
    }
    // The first page (via the redirect) and one continuation only.
    let paths: Vec<String> = srv.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/v1/key/list", "/v1/key/list?continue_at=c"]);
}

#[tokio::test]
async fn a_continue_at_that_does_not_advance_cuts_the_listing() {
    let srv = TestServer::start(|r| match r.path.as_str() {
        "/v1/policy/list/p%2A" => json(200, json!({"names":["p1"],"continue_at":"p2"})),
        _ => json(200, json!({"names":[],"continue_at":"p2"})),
    })
    .await;
    let c = srv.client().build().unwrap();
    let e = c.list_policies("p*").await.unwrap_err();
    assert!(
        matches!(&e, Error::ListCut { names, reason: ListCutReason::CannotContinue, .. } if names == &["p1"]),
        "{e:?}"
    );
    assert_eq!(srv.count(), 2);
}

#[tokio::test]
async fn legacy_ndjson_listing() {
    let srv = TestServer::start(|r| match r.path.as_str() {
        "/v1/key/list/%2A" => Canned {
            status: 200,
            headers: vec![("content-type", "application/x-ndjson".into())],
            chunks: vec![b"{\"name\":\"k1\"}\n{\"name\":\"k2\"}\n".to_vec()],
        },
        _ => Canned {
            status: 200,
            headers: vec![("content-type", "application/x-ndjson".into())],
            chunks: vec![b"{\"identity\":\"i1\"}\n".to_vec()],
        },
    })
    .await;
    let c = srv.client().build().unwrap();
    assert_eq!(c.list_keys("*").await.unwrap(), ["k1", "k2"]);
    assert_eq!(c.list_identities("").await.unwrap(), ["i1"]);
}

#[tokio::test]
async fn names_are_path_escaped() {
    let srv = TestServer::start(|_| api_error(400, "bad name")).await;
    let c = srv.client().build().unwrap();
    let _ = c.create_key("a/../b?x").await;
    let _ = c.describe_key("..").await;
    let paths: Vec<String> = srv.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [
            "/v1/key/create/a%2F%2E%2E%2Fb%3Fx",
            "/v1/key/describe/%2E%2E"
        ]
    );
}

#[tokio::test]
async fn audit_and_error_log_streams() {
    let srv = TestServer::start(|r| match r.path.as_str() {
        "/v1/log/audit" => Canned {
            status: 200,
            headers: vec![("content-type", "application/x-ndjson".into())],
            chunks: vec![
                br#"{"time":"2025-05-01T12:00:00.123456789Z","request":{"ip":"10.1.2.3","path":"/v1/key/create/k1","#.to_vec(),
                br#""identity":"3ecf"},"response":{"code":200,"time":2}}"#.to_vec(),
                b"\n\n{\"time\":\"2025-05-01T12:00:01Z\",\"request\":{\"path\":\"/v1/key/delete/k1\"},\"response\":{\"code\":404,\"time\":5}}\n".to_vec(),
            ],
        },
        _ => Canned {
            status: 200,
            headers: vec![("content-type", "application/x-ndjson".into())],
            chunks: vec![b"{\"message\":\"level=WARN msg=x\"}\n".to_vec(), b"{\"message\":\"last\"}".to_vec()],
        },
    })
    .await;
    let c = srv.client().build().unwrap();

    let mut audit = c.audit_log().await.unwrap();
    let e = audit.next_event().await.unwrap().unwrap();
    assert_eq!(e.request.path, "/v1/key/create/k1");
    assert_eq!(
        (e.request.ip.as_str(), e.request.identity.as_str()),
        ("10.1.2.3", "3ecf")
    );
    assert_eq!((e.response.code, e.response.time), (200, 2));
    let e = audit.next_event().await.unwrap().unwrap();
    assert_eq!((e.request.ip.as_str(), e.response.code), ("", 404));
    assert!(audit.next_event().await.unwrap().is_none());

    let mut errors = c.error_log().await.unwrap();
    assert_eq!(
        errors.next_event().await.unwrap().unwrap().message,
        "level=WARN msg=x"
    );
    // A last line without newline still counts.
    assert_eq!(errors.next_event().await.unwrap().unwrap().message, "last");
    assert!(errors.next_event().await.unwrap().is_none());
}

#[tokio::test]
async fn malformed_responses_are_invalid_response() {
    let srv = TestServer::start(|r| match r.path.as_str() {
        "/v1/key/describe/bad-alg" => json(
            200,
            json!({"name":"bad-alg","algorithm":"","created_at":"2024-01-12T10:39:20Z"}),
        ),
        "/v1/key/describe/bad-time" => json(
            200,
            json!({"name":"bad-time","algorithm":"AES256","created_at":"yesterday"}),
        ),
        "/v1/key/decrypt/k" => json(200, json!({"plaintext":"%%%"})),
        "/v1/log/audit" => Canned {
            status: 200,
            headers: vec![],
            chunks: vec![b"not json\n".to_vec()],
        },
        _ => Canned {
            status: 200,
            headers: vec![("content-type", "application/json".into())],
            chunks: vec![b"{\"version\":".to_vec()],
        },
    })
    .await;
    let c = srv.client().build().unwrap();
    for r in [
        c.describe_key("bad-alg").await.map(drop),
        c.describe_key("bad-time").await.map(drop),
        c.decrypt("k", b"x", b"").await.map(drop),
        c.version().await.map(drop),
    ] {
        let e = r.unwrap_err();
        assert!(matches!(e, Error::InvalidResponse(_)), "{e:?}");
    }
    let err = c.decrypt("k", b"x", b"").await.unwrap_err().to_string();
    assert!(err.contains("plaintext is not base64"), "{err}");
    let mut s = c.audit_log().await.unwrap();
    assert!(matches!(
        s.next_event().await,
        Err(Error::InvalidResponse(_))
    ));
}

#[tokio::test]
async fn redirect_rules() {
    let srv = TestServer::start(|r| match (r.method.as_str(), r.path.as_str()) {
        ("POST", "/v1/key/create/moved") => redirect("/v1/key/create/elsewhere"),
        ("POST", "/v1/key/encrypt/temp") => Canned {
            status: 307,
            headers: vec![("location", "/v1/key/encrypt/real".into())],
            chunks: vec![],
        },
        ("POST", "/v1/key/encrypt/real") => json(200, json!({"ciphertext": b64(b"ct")})),
        ("GET", "/v1/key/describe/loop") => redirect("/v1/key/describe/loop"),
        _ => api_error(404, "unexpected"),
    })
    .await;
    let c = srv.client().build().unwrap();
    // A 301 is followed for GET only.
    assert!(matches!(
        c.create_key("moved").await,
        Err(Error::InvalidResponse(_))
    ));
    // A 307 keeps method and body.
    assert_eq!(c.encrypt("temp", b"pt", b"").await.unwrap(), b"ct");
    let reqs = srv.requests();
    assert_eq!(reqs[2].path, "/v1/key/encrypt/real");
    assert_eq!(reqs[2].json(), json!({"plaintext": b64(b"pt")}));
    // Redirect loops end.
    match c.describe_key("loop").await {
        Err(Error::Transport(t)) => assert_eq!(t.kind, kes_client::TransportKind::TooManyRedirects),
        other => panic!("{other:?}"),
    }
}

#[test]
fn client_and_futures_are_send_and_sync() {
    fn send<T: Send>(_: &T) {}
    fn sync<T: Send + Sync + Clone + 'static>() {}
    sync::<kes_client::Client>();
    let c = kes_client::Client::builder()
        .endpoint("127.0.0.1:1")
        .api_key_str(ROOT_API_KEY)
        .insecure(true)
        .build()
        .unwrap();
    send(&c.version());
    send(&c.generate_key("k", b""));
    send(&c.list_keys(""));
    send(&c.audit_log());
}
