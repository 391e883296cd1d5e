//! A throughput measurement, not a test: `cargo test --release -p kes-server
//! --test throughput -- --ignored --nocapture` prints requests per second
//! for cached-key generate and decrypt over HTTP/2 and HTTP/1.1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Instant;

use common::*;
use http::Method;

async fn run(srv: &TestServer, pki: &Pki, h2: bool, path: &str, body: &str) {
    const CONNS: usize = 16;
    const PER_CONN: usize = 1000;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONNS {
        let mut c = Client::new(srv.addr, &pki.admin);
        c.h2 = h2;
        let (path, body) = (path.to_owned(), body.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut conn = c.conn().await.unwrap();
            for _ in 0..PER_CONN {
                let r = conn
                    .request(Method::POST, &path, Some(body.as_bytes()))
                    .await
                    .unwrap();
                assert_eq!(r.status, 200);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let n = CONNS * PER_CONN;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{path} over {}: {n} requests on {CONNS} connections in {secs:.2}s = {:.0} req/s",
        if h2 { "h2" } else { "http/1.1" },
        n as f64 / secs
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, run explicitly"]
async fn generate_and_decrypt_throughput() {
    let pki = Pki::new();
    let mut s = settings(&pki, TestStore::new());
    s.audit_level = kes_server::level::Level::OFF;
    let srv = TestServer::start(s).await;
    let c = Client::new(srv.addr, &pki.admin);
    c.post("/v1/key/create/bench", "").await.assert_empty_ok();
    let dek = c
        .post("/v1/key/generate/bench", r#"{"context":"e30="}"#)
        .await
        .json();
    let decrypt =
        serde_json::json!({"ciphertext": dek["ciphertext"], "context": "e30="}).to_string();
    for h2 in [true, false] {
        run(
            &srv,
            &pki,
            h2,
            "/v1/key/generate/bench",
            r#"{"context":"e30="}"#,
        )
        .await;
        run(&srv, &pki, h2, "/v1/key/decrypt/bench", &decrypt).await;
    }
    srv.stop().await;
}
