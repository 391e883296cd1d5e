//! The `keystore.kmip` block: the settings of the KMIP store
//! ([`KmipOptions`]) and the decoder that is the only place checking them,
//! with file:line errors.

use std::path::PathBuf;

use kes_config::{ConfigError, Ctx, Fields, index};

/// The KMIP protocol versions this client speaks (1.x: the Template-Attribute
/// message shapes; 2.0: the Attributes ones), newest first; offered in this
/// order when negotiating, so a server offering 2.0 is spoken to in 2.0.
pub(crate) const SUPPORTED_VERSIONS: [(i32, i32); 6] =
    [(2, 0), (1, 4), (1, 3), (1, 2), (1, 1), (1, 0)];

/// Connection settings of a KMIP server (`keystore.kmip`).
#[derive(Debug, Clone, Default)]
pub struct KmipOptions {
    /// `host:port` of each server, tried in order (failover).
    pub endpoints: Vec<String>,
    /// The client private key (PEM) for mutual TLS (`tls.key`).
    pub key: PathBuf,
    /// The client certificate chain (PEM) (`tls.cert`).
    pub cert: PathBuf,
    /// A CA file or directory replacing the system roots (`tls.ca`).
    pub ca: Option<PathBuf>,
    /// The protocol version `(major, minor)`; `None`: negotiated with
    /// Discover Versions at connect.
    pub version: Option<(i32, i32)>,
    /// Prepended to every key name to form the object's Name attribute.
    pub prefix: String,
}

/// The start of every error message about this block.
const E: &str = "invalid kmip keystore";

/// Decodes the `kmip` block `k`: the only validation of its fields.
pub(crate) fn decode(k: &mut Fields<'_>, ctx: &mut Ctx<'_>) -> Result<KmipOptions, ConfigError> {
    k.expect_only(ctx, &["endpoints", "tls", "version", "prefix"])?;
    let mut endpoints = Vec::new();
    if let Some(node) = k.take("endpoints") {
        let field = k.child("endpoints");
        for (i, item) in ctx.list(node, &field)?.iter().enumerate() {
            let item_field = index(&field, i);
            let endpoint = ctx.text(item, &item_field)?;
            check_endpoint(&endpoint)
                .map_err(|m| ctx.invalid(item.line, &item_field, format!("{E}: {m}")))?;
            endpoints.push(endpoint);
        }
    }
    if endpoints.is_empty() {
        return Err(k.missing(ctx, "endpoints", &format!("{E}: no endpoints specified")));
    }
    let Some(mut tls) = k.take_map(ctx, "tls")? else {
        return Err(k.missing(
            ctx,
            "tls",
            &format!("{E}: no tls block (client key and certificate) specified"),
        ));
    };
    tls.expect_only(ctx, &["key", "cert", "ca"])?;
    let key = tls.path_opt(ctx, "key")?;
    let cert = tls.path_opt(ctx, "cert")?;
    let ca = tls.path_opt(ctx, "ca")?;
    let (Some(key), Some(cert)) = (key, cert) else {
        let missing = if tls.has("key") { "cert" } else { "key" };
        return Err(tls.missing(
            ctx,
            missing,
            &format!("{E}: KMIP needs mutual TLS: both tls.key and tls.cert are required"),
        ));
    };
    tls.finish(ctx)?;
    let version = match k.take_entry("version") {
        None => None,
        Some((key_node, node)) => {
            let text = ctx.text(node, &k.child("version"))?;
            if text.trim().is_empty() {
                None
            } else {
                Some(parse_version(&text).map_err(|m| {
                    ctx.invalid(key_node.line, &k.child("version"), format!("{E}: {m}"))
                })?)
            }
        }
    };
    let prefix = k.text(ctx, "prefix")?;
    Ok(KmipOptions {
        endpoints,
        key,
        cert,
        ca,
        version,
        prefix,
    })
}

/// `host:port` with a non-empty host and a port number.
fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let Some((host, port)) = endpoint.rsplit_once(':') else {
        return Err(format!(
            "endpoint {endpoint:?} is not host:port (KMIP's port is usually 5696)"
        ));
    };
    if host.is_empty() || host.contains('/') {
        return Err(format!("endpoint {endpoint:?} has no valid host"));
    }
    port.parse::<u16>()
        .map_err(|_| format!("endpoint {endpoint:?} has an invalid port {port:?}"))?;
    Ok(())
}

/// `"1.2"` → `(1, 2)`, one of [`SUPPORTED_VERSIONS`].
fn parse_version(text: &str) -> Result<(i32, i32), String> {
    let parsed = text
        .trim()
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse::<i32>().ok()?, b.parse::<i32>().ok()?)));
    match parsed {
        Some(v) if SUPPORTED_VERSIONS.contains(&v) => Ok(v),
        _ => Err(format!(
            "unsupported version {text:?} (supported: 1.0 to 1.4 and 2.0; omit it to negotiate)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::KeyStoreConfig;
    use crate::config::tests::{decode_err, decode_ok};

    /// The README's example, verbatim.
    #[test]
    fn full_block_decodes() {
        let c = decode_ok(
            "keystore:\n  kmip:\n    endpoints: [\"kmip.example.net:5696\"]\n    \
             tls: { key: client.key, cert: client.crt, ca: ca.crt }\n    \
             version: \"1.4\"        # optional: 1.0 to 1.4, 2.0\n    \
             prefix: kes-          # optional\n",
        );
        let KeyStoreConfig::Kmip(o) = c else {
            panic!("{c:?}")
        };
        assert_eq!(o.endpoints, ["kmip.example.net:5696"]);
        assert_eq!(o.key.to_str(), Some("client.key"));
        assert_eq!(o.cert.to_str(), Some("client.crt"));
        assert_eq!(o.ca.as_deref().and_then(|p| p.to_str()), Some("ca.crt"));
        assert_eq!(o.version, Some((1, 4)));
        assert_eq!(o.prefix, "kes-");
        let c = decode_ok(
            "keystore:\n  kmip:\n    endpoints: [\"k:5696\"]\n    tls: {key: k, cert: c}\n",
        );
        let KeyStoreConfig::Kmip(o) = c else {
            panic!("{c:?}")
        };
        assert_eq!((o.version, o.prefix.as_str(), o.ca), (None, "", None));
        let c = decode_ok(
            "keystore:\n  kmip:\n    endpoints: [\"k:5696\"]\n    tls: {key: k, cert: c}\n    \
             version: \"2.0\"\n",
        );
        let KeyStoreConfig::Kmip(o) = c else {
            panic!("{c:?}")
        };
        assert_eq!(o.version, Some((2, 0)));
    }

    #[test]
    fn errors_name_the_field() {
        let tls = "    tls: {key: k, cert: c}\n";
        let e = decode_err(&format!("keystore:\n  kmip:\n{tls}"));
        assert_eq!(
            e,
            "c.yml:2: keystore.kmip.endpoints: invalid kmip keystore: no endpoints specified"
        );
        let e = decode_err(&format!(
            "keystore:\n  kmip:\n    endpoints:\n      - k:5696\n      - https://k\n{tls}"
        ));
        assert_eq!(
            e,
            "c.yml:5: keystore.kmip.endpoints[1]: invalid kmip keystore: endpoint \"https://k\" \
             has an invalid port \"//k\""
        );
        let e = decode_err("keystore:\n  kmip:\n    endpoints: [k]\n");
        assert!(
            e.starts_with("c.yml:3: keystore.kmip.endpoints[0]: "),
            "{e}"
        );
        let e = decode_err("keystore:\n  kmip:\n    endpoints: [k:1]\n");
        assert!(
            e.ends_with("no tls block (client key and certificate) specified"),
            "{e}"
        );
        let e = decode_err("keystore:\n  kmip:\n    endpoints: [k:1]\n    tls:\n      key: k\n");
        assert!(e.starts_with("c.yml:4: keystore.kmip.tls.cert: "), "{e}");
        let e = decode_err(&format!(
            "keystore:\n  kmip:\n    endpoints: [k:1]\n{tls}    version: \"2.1\"\n"
        ));
        assert_eq!(
            e,
            "c.yml:5: keystore.kmip.version: invalid kmip keystore: unsupported version \"2.1\" \
             (supported: 1.0 to 1.4 and 2.0; omit it to negotiate)"
        );
        let e = decode_err(&format!(
            "keystore:\n  kmip:\n    endpoints: [k:1]\n{tls}    prefx: a\n"
        ));
        assert!(
            e.starts_with("c.yml:5: keystore.kmip.prefx: unknown field"),
            "{e}"
        );
    }
}
