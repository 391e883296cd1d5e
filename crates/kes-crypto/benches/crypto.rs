//! Plain `Instant`-loop benchmark of the hot crypto paths (no criterion):
//! prints ns/op for encrypt/decrypt of 32 bytes, DEK generation, HMAC and
//! stored-key decoding, for both ciphers. Run with `cargo bench -p kes-crypto`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use kes_crypto::{Cipher, KeyVersion};

const ITERS: u32 = 200_000;

fn bench(name: &str, mut f: impl FnMut()) {
    for _ in 0..ITERS / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..ITERS {
        f();
    }
    let ns = start.elapsed().as_nanos() as f64 / f64::from(ITERS);
    println!("{name:<32} {ns:>9.1} ns/op");
}

fn main() {
    let aad = br#"{"mybucket":"mybucket/photos/cat.png"}"#;
    let pt = [7u8; 32];
    for cipher in [Cipher::Aes256, Cipher::ChaCha20] {
        let kv = KeyVersion::generate(cipher, Some("bench".into()));
        let stored = kv.encode().unwrap();
        let ct = kv.encrypt(&pt, aad).unwrap();
        bench(&format!("{cipher} encrypt 32 B"), || {
            black_box(kv.encrypt(black_box(&pt), aad).unwrap());
        });
        bench(&format!("{cipher} decrypt 32 B"), || {
            black_box(kv.decrypt(black_box(&ct), aad).unwrap());
        });
        bench(&format!("{cipher} generate_dek"), || {
            black_box(kv.generate_dek(aad).unwrap());
        });
        bench(&format!("{cipher} hmac 15 B"), || {
            black_box(kv.hmac(black_box(b"root access key")));
        });
        bench(&format!("{cipher} KeyVersion::decode"), || {
            black_box(KeyVersion::decode(black_box(&stored)).unwrap());
        });
    }
}
