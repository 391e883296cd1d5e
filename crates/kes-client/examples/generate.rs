//! Creates a key (if missing), generates a data encryption key under it and
//! decrypts the sealed DEK again.
//!
//! ```text
//! KES_SERVER=127.0.0.1:7373 KES_API_KEY=kes:v1:... \
//!     cargo run -p kes-client --example generate -- [--insecure] [key-name]
//! ```
//! Without `--insecure` the server is verified against `KES_CA_FILE` (a PEM
//! file or directory) or the system CA bundle.

use kes_client::{Client, Error};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("Error: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let server = std::env::var("KES_SERVER").unwrap_or_else(|_| "127.0.0.1:7373".into());
    let api_key = std::env::var("KES_API_KEY")
        .map_err(|_| "no API key specified. Consider setting KES_API_KEY")?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let insecure = args.iter().any(|a| a == "--insecure" || a == "-k");
    let name = args
        .iter()
        .find(|a| !a.starts_with('-'))
        .cloned()
        .unwrap_or_else(|| "my-key".into());

    let mut builder = Client::builder()
        .endpoint(server)
        .api_key_str(&api_key)
        .insecure(insecure);
    if let Ok(ca) = std::env::var("KES_CA_FILE") {
        builder = builder.ca(ca);
    }
    let client = builder.build()?;

    match client.create_key(&name).await {
        Ok(()) => println!("created key '{name}'"),
        Err(Error::KeyExists) => println!("key '{name}' exists already"),
        Err(e) => return Err(e.into()),
    }
    let context = b"example context";
    let dek = client.generate_key(&name, context).await?;
    println!(
        "generated a {}-byte DEK, sealed as {} bytes",
        dek.plaintext.len(),
        dek.ciphertext.len()
    );
    let plaintext = client.decrypt(&name, &dek.ciphertext, context).await?;
    if *plaintext != *dek.plaintext {
        return Err("decrypted DEK differs from the generated one".into());
    }
    println!("decrypted the DEK: it matches");
    Ok(())
}
