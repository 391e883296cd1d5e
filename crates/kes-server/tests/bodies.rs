//! Request bodies skip unknown fields by syntax only, as Go's
//! `encoding/json` does (spec §1.5): a number no float can hold, deep
//! nesting or odd-but-valid JSON in a field the route does not read is
//! accepted on every route that reads a body.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::json;

/// Valid JSON values a route never reads, some of which `serde_json::Value`
/// cannot hold (out-of-range number, nesting past its recursion limit).
fn odd_values() -> Vec<String> {
    vec![
        "1e99999999".into(),
        "-1e-99999999".into(),
        "123456789012345678901234567890123456789012345678901234567890".into(),
        format!("{}0{}", "[".repeat(2000), "]".repeat(2000)),
        format!(
            "{}{}",
            r#"{"a":"#.repeat(500),
            format!("null{}", "}".repeat(500))
        ),
        r#"{"x":[{"\u00e9\ud83d\ude00":"\"}"},null,true,-0.0e+0,""]}"#.into(),
    ]
}

/// `{"x":<odd>,<fields>,"Y":<odd>}` with the route's real fields in between.
fn with_odd(odd: &str, fields: &serde_json::Value) -> String {
    let inner = fields.to_string();
    let inner = inner.trim_start_matches('{').trim_end_matches('}');
    format!(r#"{{"x":{odd},{inner},"Y":{odd}}}"#)
}

#[tokio::test]
async fn every_body_route_ignores_odd_unknown_fields() {
    let pki = Pki::new();
    let srv = TestServer::start(settings(&pki, TestStore::new())).await;
    let c = Client::new(srv.addr, &pki.admin);
    c.post("/v1/key/create/k", "").await.assert_empty_ok();

    // The issue's example, byte for byte.
    let r = c
        .post(
            "/v1/key/encrypt/k",
            r#"{"plaintext":"YWJj","x":1e99999999}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());

    let ctx = b64(b"ctx");
    for (i, odd) in odd_values().iter().enumerate() {
        let r = c
            .post(
                "/v1/key/generate/k",
                &with_odd(odd, &json!({ "context": ctx })),
            )
            .await;
        assert_eq!(r.status, 200, "generate {i}: {}", r.text());
        let dek = r.json();

        let body = with_odd(
            odd,
            &json!({"ciphertext": dek["ciphertext"], "context": ctx}),
        );
        let r = c.post("/v1/key/decrypt/k", &body).await;
        assert_eq!(r.status, 200, "decrypt {i}: {}", r.text());
        assert_eq!(r.json()["plaintext"], dek["plaintext"]);

        let r = c
            .post(
                "/v1/key/bulk/decrypt/k",
                &format!(
                    "[{body},{}]",
                    with_odd(
                        odd,
                        &json!({"ciphertext": dek["ciphertext"], "context": ctx})
                    )
                ),
            )
            .await;
        assert_eq!(r.status, 200, "bulk decrypt {i}: {}", r.text());
        assert_eq!(r.json()[1]["plaintext"], dek["plaintext"]);

        let r = c
            .post(
                "/v1/key/encrypt/k",
                &with_odd(odd, &json!({"plaintext": b64(b"hi"), "context": ctx})),
            )
            .await;
        assert_eq!(r.status, 200, "encrypt {i}: {}", r.text());

        let r = c
            .post(
                "/v1/key/hmac/k",
                &with_odd(odd, &json!({"message": b64(b"m")})),
            )
            .await;
        assert_eq!(r.status, 200, "hmac {i}: {}", r.text());

        let r = c
            .post(
                &format!("/v1/key/import/imported-{i}"),
                &with_odd(odd, &json!({"key": b64(&[7u8; 32]), "cipher": "AES256"})),
            )
            .await;
        assert_eq!(r.status, 200, "import {i}: {}", r.text());

        let r = c
            .post(
                &format!("/v1/policy/write/p-{i}"),
                &with_odd(odd, &json!({"allow": ["/v1/status"], "deny": []})),
            )
            .await;
        assert_eq!(r.status, 200, "policy write {i}: {}", r.text());
        let p = c.get(&format!("/v1/policy/read/p-{i}")).await.json();
        assert_eq!(p["allow"], json!({"/v1/status": {}}), "{p}");
    }
}

#[tokio::test]
async fn known_fields_and_syntax_are_still_checked() {
    let pki = Pki::new();
    let srv = TestServer::start(settings(&pki, TestStore::new())).await;
    let c = Client::new(srv.addr, &pki.admin);
    c.post("/v1/key/create/k", "").await.assert_empty_ok();
    for body in [
        // A known field with a huge number is a type error, as in Go.
        r#"{"plaintext":1e99999999}"#,
        // Broken syntax in an unknown field.
        r#"{"plaintext":"YWJj","x":1e}"#,
        r#"{"plaintext":"YWJj","x":[1,}"#,
        r#"{"plaintext":"YWJj","x":"\q"}"#,
    ] {
        let r = c.post("/v1/key/encrypt/k", body).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text());
    }
}
