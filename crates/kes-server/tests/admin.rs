//! Runtime policy and identity administration (the original API of spec
//! §3.1 that the KES reference describes): write / delete policies, assign
//! / forget identities, how the read endpoints show them, authorization,
//! bad bodies, the legacy `trace` log paths and reload — over HTTP/1.1 and
//! HTTP/2, byte for byte.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use http::Method;
use serde_json::json;

const POLICY_NOT_FOUND: (u16, &str) = (404, "policy does not exist");
const IDENTITY_NOT_FOUND: (u16, &str) = (404, "identity does not exist");
const DENIED: (u16, &str) = (403, "not authorized: insufficient permissions");

fn client(srv: &TestServer, cert: &Cert, h2: bool) -> Client {
    let mut c = Client::new(srv.addr, cert);
    c.h2 = h2;
    c
}

#[tokio::test]
async fn write_assign_use_forget_delete() {
    for h2 in [false, true] {
        let pki = Pki::new();
        let srv = TestServer::start(settings(&pki, TestStore::new())).await;
        let admin = client(&srv, &pki.admin, h2);
        let stranger = client(&srv, &pki.stranger, h2);
        let id = pki.stranger.identity.as_str();

        stranger
            .get("/v1/status")
            .await
            .assert_error(DENIED.0, DENIED.1);

        // Write (the original POST, arrays), read back as objects.
        admin
            .post(
                "/v1/policy/write/ops",
                r#"{"allow":["/v1/status","/v1/key/create/ops-*"],"deny":["/v1/key/create/ops-x*"]}"#,
            )
            .await
            .assert_empty_ok();
        let p = admin.get("/v1/policy/read/ops").await;
        assert_eq!(p.status, 200);
        assert!(p.body.ends_with(b"}\n"));
        let p = p.json();
        assert_eq!(
            p["allow"],
            json!({"/v1/key/create/ops-*":{},"/v1/status":{}})
        );
        assert_eq!(p["deny"], json!({"/v1/key/create/ops-x*":{}}));
        assert_eq!(p["created_by"], pki.admin.identity.as_str());
        let d = admin.get("/v1/policy/describe/ops").await.json();
        assert_eq!(d["name"], "ops");
        assert_eq!(d["created_at"], p["created_at"]);
        assert_ne!(
            d["created_at"],
            admin.get("/v1/policy/describe/app").await.json()["created_at"],
            "a runtime policy shows when it was written, not the server start"
        );
        assert_eq!(
            admin.get("/v1/policy/list/*").await.json(),
            json!({"names":["app","ops"],"continue_at":""})
        );

        // Assign: the stranger can now do what `ops` allows, and only that.
        admin
            .call(Method::POST, &format!("/v1/identity/assign/ops/{id}"), None)
            .await
            .assert_empty_ok();
        assert_eq!(stranger.get("/v1/status").await.status, 200);
        stranger
            .post("/v1/key/create/ops-1", "")
            .await
            .assert_empty_ok();
        stranger
            .post("/v1/key/create/ops-x1", "")
            .await
            .assert_error(DENIED.0, DENIED.1);
        let me = stranger.get("/v1/identity/self/describe").await.json();
        assert_eq!(me["policy"], "ops");
        assert_eq!(me["allow"]["/v1/status"], json!({}));
        assert_eq!(me["created_by"], pki.admin.identity.as_str());
        let d = admin
            .get(&format!("/v1/identity/describe/{id}"))
            .await
            .json();
        assert_eq!(d["policy"], "ops");
        let ids = admin.get("/v1/identity/list/*").await.json();
        assert!(
            ids["identities"].as_array().unwrap().contains(&json!(id)),
            "{ids}"
        );

        // Rewriting the policy keeps the assignment and takes effect at once.
        admin
            .call(
                Method::PUT,
                "/v1/policy/write/ops",
                Some(br#"{"allow":["/v1/api"]}"#),
            )
            .await
            .assert_empty_ok();
        stranger
            .get("/v1/status")
            .await
            .assert_error(DENIED.0, DENIED.1);
        assert_eq!(stranger.get("/v1/api").await.status, 200);

        // Forget, then forgetting again is a 404.
        let forget = format!("/v1/identity/forget/{id}");
        admin
            .call(Method::DELETE, &forget, None)
            .await
            .assert_empty_ok();
        stranger
            .get("/v1/api")
            .await
            .assert_error(DENIED.0, DENIED.1);
        admin
            .call(Method::DELETE, &forget, None)
            .await
            .assert_error(IDENTITY_NOT_FOUND.0, IDENTITY_NOT_FOUND.1);

        // Delete unassigns; deleting again or assigning to it is a 404.
        admin
            .call(Method::POST, &format!("/v1/identity/assign/ops/{id}"), None)
            .await
            .assert_empty_ok();
        admin
            .call(Method::DELETE, "/v1/policy/delete/ops", None)
            .await
            .assert_empty_ok();
        stranger
            .get("/v1/api")
            .await
            .assert_error(DENIED.0, DENIED.1);
        admin
            .get(&format!("/v1/identity/describe/{id}"))
            .await
            .assert_error(IDENTITY_NOT_FOUND.0, IDENTITY_NOT_FOUND.1);
        admin
            .call(Method::DELETE, "/v1/policy/delete/ops", None)
            .await
            .assert_error(POLICY_NOT_FOUND.0, POLICY_NOT_FOUND.1);
        admin
            .call(Method::POST, &format!("/v1/identity/assign/ops/{id}"), None)
            .await
            .assert_error(POLICY_NOT_FOUND.0, POLICY_NOT_FOUND.1);
        admin
            .get("/v1/policy/read/ops")
            .await
            .assert_error(POLICY_NOT_FOUND.0, POLICY_NOT_FOUND.1);
        srv.stop().await;
    }
}

#[tokio::test]
async fn config_policies_can_be_changed_and_deleted() {
    let pki = Pki::new();
    let srv = TestServer::start(settings(&pki, TestStore::new())).await;
    let admin = Client::new(srv.addr, &pki.admin);
    let app = Client::new(srv.addr, &pki.app);
    assert_eq!(app.get("/v1/status").await.status, 200);

    // The oldest body spelling: `paths` is the allow list.
    admin
        .post("/v1/policy/write/app", r#"{"paths":["/v1/api"]}"#)
        .await
        .assert_empty_ok();
    app.get("/v1/status").await.assert_error(DENIED.0, DENIED.1);
    assert_eq!(app.get("/v1/api").await.status, 200);

    // Moving the app identity to another policy.
    admin
        .post("/v1/policy/write/other", r#"{"allow":{"/v1/status":{}}}"#)
        .await
        .assert_empty_ok();
    let assign = format!("/v1/identity/assign/other/{}", pki.app.identity);
    admin.post(&assign, "").await.assert_empty_ok();
    assert_eq!(app.get("/v1/status").await.status, 200);
    app.get("/v1/api").await.assert_error(DENIED.0, DENIED.1);

    // Deleting a config policy.
    admin
        .call(Method::DELETE, "/v1/policy/delete/other", None)
        .await
        .assert_empty_ok();
    admin
        .call(Method::DELETE, "/v1/policy/delete/app", None)
        .await
        .assert_empty_ok();
    assert_eq!(
        admin.get("/v1/policy/list/").await.json(),
        json!({"names":[],"continue_at":""})
    );
    assert_eq!(
        admin.get("/v1/identity/list/*").await.json(),
        json!({"identities":[pki.admin.identity],"continue_at":""})
    );
    srv.stop().await;
}

#[tokio::test]
async fn policies_guard_the_admin_routes() {
    for h2 in [false, true] {
        let pki = Pki::new();
        let mut s = settings(&pki, TestStore::new());
        // `app` may write `app-*` policies and assign to them, nothing else.
        s.policies.insert(
            "app".into(),
            spec(
                &["/v1/policy/write/app-*", "/v1/identity/assign/app-*"],
                &["/v1/policy/write/app-admin*"],
                &[&pki.app.identity],
            ),
        );
        let srv = TestServer::start(s).await;
        let app = client(&srv, &pki.app, h2);
        let stranger = client(&srv, &pki.stranger, h2);
        let sid = pki.stranger.identity.as_str();

        app.post("/v1/policy/write/app-1", r#"{"allow":["/v1/status"]}"#)
            .await
            .assert_empty_ok();
        app.post(&format!("/v1/identity/assign/app-1/{sid}"), "")
            .await
            .assert_empty_ok();
        assert_eq!(stranger.get("/v1/status").await.status, 200);
        for (method, path, body) in [
            (Method::POST, "/v1/policy/write/app-admin", Some(&b"{}"[..])),
            (Method::POST, "/v1/policy/write/other", Some(b"{}")),
            (Method::DELETE, "/v1/policy/delete/app-1", None),
            (Method::DELETE, &format!("/v1/identity/forget/{sid}"), None),
            (
                Method::POST,
                &format!("/v1/identity/assign/other/{sid}"),
                None,
            ),
        ] {
            app.call(method.clone(), path, body)
                .await
                .assert_error(DENIED.0, DENIED.1);
            stranger
                .call(method, path, body)
                .await
                .assert_error(DENIED.0, DENIED.1);
        }
        // The stranger cannot grant itself more.
        stranger
            .post("/v1/policy/write/app-1", r#"{"allow":["/*"]}"#)
            .await
            .assert_error(DENIED.0, DENIED.1);
        srv.stop().await;
    }
}

#[tokio::test]
async fn bad_requests_name_the_problem() {
    for h2 in [false, true] {
        let pki = Pki::new();
        let srv = TestServer::start(settings(&pki, TestStore::new())).await;
        let admin = client(&srv, &pki.admin, h2);
        let write = "/v1/policy/write/p";
        for (body, message) in [
            (
                "",
                "invalid policy: request body is empty: expected {\"allow\":[…],\"deny\":[…]}",
            ),
            (
                "{\"allow\":",
                "invalid policy: invalid JSON: EOF while parsing a value at line 1 column 9",
            ),
            (
                "[\"/v1/status\"]",
                "invalid policy: expected a JSON object, got an array",
            ),
            (
                r#"{"allow":"/v1/status"}"#,
                "invalid policy: field 'allow' must be an array of strings",
            ),
            (
                r#"{"allow":["/v1/status","v1/key/*"]}"#,
                "invalid policy: allow[1]: pattern 'v1/key/*' does not start with '/'",
            ),
            (
                r#"{"deny":["/v1/*/generate"]}"#,
                "invalid policy: deny[0]: pattern '/v1/*/generate' uses glob syntax: only one '*' at the end is supported",
            ),
            (
                r#"{"allow":[""]}"#,
                "invalid policy: allow[0]: pattern is empty",
            ),
        ] {
            admin.post(write, body).await.assert_error(400, message);
        }
        // Nothing was written by the failures.
        admin
            .get("/v1/policy/read/p")
            .await
            .assert_error(POLICY_NOT_FOUND.0, POLICY_NOT_FOUND.1);
        admin.post("/v1/policy/write/a.b", "{}").await.assert_error(
            400,
            "policy name 'a.b' is empty, too long or contains invalid characters",
        );

        // The admin is never assigned nor forgotten.
        let admin_id = pki.admin.identity.as_str();
        admin
            .post(&format!("/v1/identity/assign/app/{admin_id}"), "")
            .await
            .assert_error(
                400,
                "identity is the admin: the admin identity cannot be assigned a policy",
            );
        admin
            .call(
                Method::DELETE,
                &format!("/v1/identity/forget/{admin_id}"),
                None,
            )
            .await
            .assert_error(
                400,
                "identity is the admin: the admin identity cannot be forgotten",
            );
        admin.post("/v1/identity/assign/app", "").await.assert_error(
            400,
            "invalid request path '/v1/identity/assign/app': expected /v1/identity/assign/<policy>/<identity>",
        );
        let r = admin.post("/v1/identity/assign/app/bad.id", "").await;
        assert_eq!(r.status, 400, "{}", r.text());
        // Wrong methods: 405 with the canonical one.
        let r = admin.get("/v1/policy/write/p").await;
        assert_eq!(r.status, 405);
        assert_eq!(r.headers["accept"], "PUT");
        let r = admin.post("/v1/policy/delete/app", "").await;
        assert_eq!(r.status, 405);
        assert_eq!(r.headers["accept"], "DELETE");
        srv.stop().await;
    }
}

#[tokio::test]
async fn changes_are_audited_and_logged() {
    let pki = Pki::new();
    let srv = TestServer::start(settings(&pki, TestStore::new())).await;
    let admin = Client::new(srv.addr, &pki.admin);
    let (_a, mut audit) = open_stream(&admin, "/v1/log/audit").await;
    let (_e, mut errors) = open_stream(&admin, "/v1/log/error").await;
    admin
        .post("/v1/policy/write/ops", r#"{"allow":["/v1/status"]}"#)
        .await
        .assert_empty_ok();
    let line = next_line_where(&mut audit, |v| {
        v["request"]["path"] == "/v1/policy/write/ops"
    })
    .await;
    assert_eq!(line["request"]["identity"], pki.admin.identity.as_str());
    assert_eq!(line["response"]["code"], 200);
    let line = next_line_where(&mut errors, |v| {
        v["message"]
            .as_str()
            .unwrap()
            .contains("policy 'ops' written")
    })
    .await;
    let msg = line["message"].as_str().unwrap();
    assert!(msg.contains("level=INFO"), "{msg}");
    assert!(msg.contains(&pki.admin.identity), "{msg}");
    // A refused change is audited with its status too.
    admin
        .call(Method::DELETE, "/v1/policy/delete/nope", None)
        .await
        .assert_error(POLICY_NOT_FOUND.0, POLICY_NOT_FOUND.1);
    let line = next_line_where(&mut audit, |v| {
        v["request"]["path"] == "/v1/policy/delete/nope"
    })
    .await;
    assert_eq!(line["response"]["code"], 404);
    srv.stop().await;
}

#[tokio::test]
async fn legacy_trace_paths_stream_the_same_events() {
    for h2 in [false, true] {
        let pki = Pki::new();
        let srv = TestServer::start(settings(&pki, TestStore::new())).await;
        let admin = client(&srv, &pki.admin, h2);
        let (_a, mut audit) = open_stream(&admin, "/v1/log/audit/trace").await;
        let (_e, mut error) = open_stream(&admin, "/v1/log/error/trace").await;
        let (_l, mut error2) = open_stream(&admin, "/v1/log/log/error/trace").await;
        admin
            .post("/v1/policy/write/traced", "{}")
            .await
            .assert_empty_ok();
        next_line_where(&mut audit, |v| {
            v["request"]["path"] == "/v1/policy/write/traced"
        })
        .await;
        for stream in [&mut error, &mut error2] {
            next_line_where(stream, |v| {
                v["message"]
                    .as_str()
                    .unwrap()
                    .contains("policy 'traced' written")
            })
            .await;
        }
        // The trace paths are policy-checked like any other.
        Client::new(srv.addr, &pki.app)
            .get("/v1/log/audit/trace")
            .await
            .assert_error(DENIED.0, DENIED.1);
        // Not advertised in /v1/api; the admin routes are.
        let api = admin.get("/v1/api").await.json();
        let paths: Vec<&str> = api
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["path"].as_str().unwrap())
            .collect();
        assert!(!paths.iter().any(|p| p.ends_with("/trace")), "{paths:?}");
        for p in [
            "/v1/policy/write/",
            "/v1/policy/delete/",
            "/v1/identity/assign/",
            "/v1/identity/forget/",
        ] {
            assert!(paths.contains(&p), "{p} in {paths:?}");
        }
        srv.stop().await;
    }
}

#[tokio::test]
async fn reload_keeps_runtime_changes() {
    let pki = Pki::new();
    let srv = TestServer::start(settings(&pki, TestStore::new())).await;
    let admin = Client::new(srv.addr, &pki.admin);
    let stranger = Client::new(srv.addr, &pki.stranger);
    admin
        .post("/v1/policy/write/ops", r#"{"allow":["/v1/status"]}"#)
        .await
        .assert_empty_ok();
    admin
        .post(
            &format!("/v1/identity/assign/ops/{}", pki.stranger.identity),
            "",
        )
        .await
        .assert_empty_ok();
    srv.server
        .reload(settings(&pki, TestStore::new()))
        .await
        .unwrap();
    assert_eq!(stranger.get("/v1/status").await.status, 200);

    // A reload that makes the stranger the admin drops its assignment.
    let mut s = settings(&pki, TestStore::new());
    s.admin = pki.stranger.identity.clone();
    srv.server.reload(s).await.unwrap();
    let me = stranger.get("/v1/identity/self/describe").await.json();
    assert_eq!(me["admin"], true);
    srv.stop().await;
}
